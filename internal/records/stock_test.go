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
	if got, err := c.DecodeStockLevel(b); err != nil || got != l {
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
