package records

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/inventory"
)

var tStock = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func pendingSnapshot(tb testing.TB) cart.Snapshot {
	tb.Helper()
	cat := cart.MapCatalog{"sku1": {SKU: "sku1", Name: "One", UnitPrice: cart.Money{Amount: 100, Currency: "EUR"}, Active: true}}
	s := cart.NewSnapshot("c1")
	s, _ = cart.ProcessReserving(s, cart.AddItem{CartID: "c1", RequestID: "r1", CustomerID: "u1", RequestedAt: tStock, SKU: "sku1", Quantity: 2}, 0, cat, cart.Limits{}, tStock)
	s, out := cart.ProcessReserving(s, cart.Checkout{CartID: "c1", RequestID: "r2", CustomerID: "u1", RequestedAt: tStock}, 1, cat, cart.Limits{}, tStock)
	if s.Pending == nil || out.Disposition != cart.DispositionPending {
		tb.Fatalf("no pending checkout: %v", out.Disposition)
	}
	s.Pending.Lines[0].Answer, s.Pending.Lines[0].Available = cart.AnswerRefused, 1
	return s
}

// TestEvolutionSnapshotPending: the snapshot of a cart waiting for its
// reservations is written as v2 and reads back whole; every other snapshot
// stays v1 (readers that do not know v2 keep reading them), and a v2
// record resolves to v1 for code that predates the field.
func TestEvolutionSnapshotPending(t *testing.T) {
	c := newTestCodec(t)
	s := pendingSnapshot(t)
	b, err := c.EncodeSnapshot(s)
	if err != nil {
		t.Fatal(err)
	}
	if writerFP(b) != c.snapshotPending.Fingerprint() {
		t.Fatal("a pending snapshot was not written as v2")
	}
	got, err := c.DecodeSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got.Pending, s.Pending)
	}
	// Old code (reads as v1, knows the v2 schema): the field is dropped.
	w, native, err := c.read(b)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := c.as(w, native, c.snapshot); err != nil || r["pending_checkout"] != nil {
		t.Fatalf("v2 as v1: %v %v", err, r["pending_checkout"])
	}
	// No pending checkout: v1, and v1 decodes with Pending nil.
	s.Pending = nil
	b1, err := c.EncodeSnapshot(s)
	if err != nil {
		t.Fatal(err)
	}
	if writerFP(b1) != c.snapshot.Fingerprint() {
		t.Fatal("a snapshot without a pending checkout left v1")
	}
	if got, err := c.DecodeSnapshot(b1); err != nil || got.Pending != nil {
		t.Fatalf("v1: %v %+v", err, got.Pending)
	}
}

func TestInventoryRecordsRoundTrip(t *testing.T) {
	c := newTestCodec(t)
	res := cart.Reservation{ID: cart.ReservationIDOf("c1", "r2", "sku1"), CartID: "c1", CheckoutRequestID: "r2", SKU: "sku1", Quantity: 3}
	for _, r := range []inventory.Request{
		{Kind: inventory.KindReserve, RequestID: cart.RequestID(res.ID), SKU: "sku1", RequestedAt: tStock, Reservation: res},
		{Kind: inventory.KindRelease, RequestID: cart.RequestID(res.ID), SKU: "sku1", RequestedAt: tStock, Reservation: res},
		{Kind: inventory.KindSet, RequestID: "op-1", SKU: "sku1", RequestedAt: tStock, Units: 7},
		{Kind: inventory.KindAdjust, RequestID: "op-2", SKU: "sku1", RequestedAt: tStock, Units: -2},
	} {
		b, err := c.EncodeInventoryRequest(r)
		if err != nil {
			t.Fatalf("%v: %v", r.Kind, err)
		}
		got, err := c.DecodeInventoryRequest(b)
		if err != nil || !reflect.DeepEqual(got, r) {
			t.Fatalf("%v: %v\n got %+v\nwant %+v", r.Kind, err, got, r)
		}
	}
	l := inventory.Level{SKU: "sku1", Available: 4, Reserved: 3, Version: 9, UpdatedAt: tStock}
	b, err := c.EncodeStockLevel(l)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.DecodeStockLevel(b); err != nil || !got.Equal(l) {
		t.Fatalf("level: %v %+v", err, got)
	}
	a := cart.ReservationAnswer{Reservation: res, Granted: true, Available: 4, DecidedAt: tStock}
	if b, err = c.EncodeAnswer(a); err != nil {
		t.Fatal(err)
	}
	if !c.IsAnswer(b) {
		t.Fatal("IsAnswer")
	}
	if got, err := c.DecodeAnswer(b); err != nil || !reflect.DeepEqual(got, a) {
		t.Fatalf("answer: %v %+v", err, got)
	}
	// An answer is not a request, and the manager's decoder says so.
	if _, err := c.DecodeRequest(b); !IsMalformed(err) || !errors.Is(err, ErrWrongType) {
		t.Fatalf("answer as request: %v", err)
	}
	if _, err := c.EncodeStockLevel(inventory.Level{SKU: "sku1", Available: -1}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("negative level: %v", err)
	}
}

// stockV1Era is the Codec of the code before adjustment ids: it writes
// inventory_request and stock_level v1.
func stockV1Era(t *testing.T) *Codec {
	t.Helper()
	cur := currentSchemas(t)
	for i, s := range cur {
		switch s.FullName() {
		case nameInventory:
			cur[i] = parseFile(t, embedded.ReadFile, "schemas/inventory_request.v1.avsc")
		case nameStockLevel:
			cur[i] = parseFile(t, embedded.ReadFile, "schemas/stock_level.v1.avsc")
		}
	}
	c, err := newCodec(Config{}, embeddedSchemas(t), cur)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Issue 14: inventory_request v2 carries AdjustStock's adjustment id and
// stock_level v2 the window of recent adjustments. v1 records (already on
// the topics) read with an empty id and an empty window; v2 round-trips.
func TestEvolutionAdjustmentWindow(t *testing.T) {
	old, cur := stockV1Era(t), newTestCodec(t)
	adj := inventory.Request{Kind: inventory.KindAdjust, RequestID: "op-2", SKU: "sku1", RequestedAt: tStock, Units: 4}
	b1, err := old.EncodeInventoryRequest(adj)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := cur.DecodeInventoryRequest(b1); err != nil || !reflect.DeepEqual(got, adj) {
		t.Fatalf("v1 adjust read by v2 code: %+v, %v", got, err)
	}
	adj.AdjustmentID = "cartctl-abc"
	b2, err := cur.EncodeInventoryRequest(adj)
	if err != nil {
		t.Fatal(err)
	}
	if writerFP(b2) == writerFP(b1) {
		t.Fatal("v2 code wrote v1")
	}
	if got, err := cur.DecodeInventoryRequest(b2); err != nil || !reflect.DeepEqual(got, adj) {
		t.Fatalf("v2 adjust round trip: %+v, %v", got, err)
	}
	// Old code that was shipped the v2 schema resolves it to v1: the id
	// is dropped.
	w, native, err := old.read(b2)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := old.as(w, native, old.inventory); err != nil || r["command"].(map[string]any)[branchAdjust].(map[string]any)["adjustment_id"] != nil {
		t.Fatalf("v2 adjust as v1: %v %v", err, r)
	}

	l := inventory.Level{SKU: "sku1", Available: 4, Reserved: 3, Version: 9, UpdatedAt: tStock}
	b1, err = old.EncodeStockLevel(l)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := cur.DecodeStockLevel(b1); err != nil || !got.Equal(l) || len(got.Adjustments) != 0 {
		t.Fatalf("v1 level read by v2 code: %+v, %v", got, err)
	}
	l.Adjustments = []inventory.Adjustment{{ID: "a1", Delta: 5, Applied: true, Available: 9}, {ID: "a2", Delta: -20, Available: 9}}
	b2, err = cur.EncodeStockLevel(l)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := cur.DecodeStockLevel(b2); err != nil || !got.Equal(l) {
		t.Fatalf("v2 level round trip: %+v, %v", got, err)
	}
	if w, native, err = old.read(b2); err != nil {
		t.Fatal(err)
	}
	if r, err := old.as(w, native, old.stockLevel); err != nil || r["adjustments"] != nil || r["available"] != int64(4) {
		t.Fatalf("v2 level as v1: %v %v", err, r)
	}
	// A window beyond its bound is an impossible level.
	for len(l.Adjustments) <= inventory.AdjustmentWindow {
		l.Adjustments = append(l.Adjustments, inventory.Adjustment{ID: "a3", Delta: 1, Applied: true, Available: 1})
	}
	if _, err := cur.EncodeStockLevel(l); !errors.Is(err, ErrInvalid) {
		t.Fatalf("oversized window: %v", err)
	}
}
