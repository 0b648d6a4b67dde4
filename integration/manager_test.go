package integration

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/validation"
)

func eur(minor int64) cart.Money { return cart.Money{Amount: minor, Currency: "EUR"} }

func demoProducts() []cart.Product {
	return []cart.Product{
		{SKU: "SKU-A", Name: "Espresso cup", UnitPrice: eur(1999), Active: true, MaxQuantityPerLine: 10},
		{SKU: "SKU-B", Name: "Saucer", UnitPrice: eur(500), Active: true},
		{SKU: "SKU-C", Name: "Teapot", UnitPrice: eur(3500), Active: true},
		{SKU: "SKU-D", Name: "Milk jug", UnitPrice: eur(1200), Active: true},
		{SKU: "SKU-OFF", Name: "Discontinued mug", UnitPrice: eur(900), Active: false},
		{SKU: "SKU-USD", Name: "Imported kettle", UnitPrice: cart.Money{Amount: 4500, Currency: "USD"}, Active: true},
		{SKU: "SKU-HUGE", Name: "Gold-plated tray", UnitPrice: eur(math.MaxInt64 / 2), Active: true},
	}
}

func (e *cartEnv) add(cartID, reqID, sku string, qty int32) cart.AddItem {
	return cart.AddItem{CartID: cart.CartID(cartID), RequestID: cart.RequestID(reqID), CustomerID: "cust-1", RequestedAt: e.now(), SKU: cart.SKU(sku), Quantity: qty}
}

func (e *cartEnv) remove(cartID, reqID, sku string) cart.RemoveItem {
	return cart.RemoveItem{CartID: cart.CartID(cartID), RequestID: cart.RequestID(reqID), RequestedAt: e.now(), SKU: cart.SKU(sku)}
}

func (e *cartEnv) change(cartID, reqID, sku string, qty int32) cart.ChangeQuantity {
	return cart.ChangeQuantity{CartID: cart.CartID(cartID), RequestID: cart.RequestID(reqID), RequestedAt: e.now(), SKU: cart.SKU(sku), Quantity: qty}
}

func (e *cartEnv) checkout(cartID, reqID, customer string) cart.Checkout {
	return cart.Checkout{CartID: cart.CartID(cartID), RequestID: cart.RequestID(reqID), CustomerID: cart.CustomerID(customer), RequestedAt: e.now()}
}

func TestManagerHappyPathForEveryCommand(t *testing.T) {
	e := newCartEnv(t, 3)
	e.seedCatalog(t, demoProducts()...)
	e.startManager(t, e.managerConfig(t, "m1"))

	pos := e.send(t,
		e.add("cart-1", "r1", "SKU-A", 2),
		e.add("cart-1", "r2", "SKU-B", 1),
		e.change("cart-1", "r3", "SKU-A", 5),
		e.remove("cart-1", "r4", "SKU-B"),
		e.checkout("cart-1", "r5", "cust-1"),
	)
	e.waitDrained(t, time.Minute)
	validated, invalid := e.outcomes(t)
	if len(invalid) != 0 {
		t.Fatalf("%d rejections, want none: %+v", len(invalid), invalid[0].invalid)
	}
	wantTypes := []cart.EventType{
		cart.EventTypeAddItemValidatedRequest, cart.EventTypeAddItemValidatedRequest,
		cart.EventTypeChangeQuantityValidatedRequest, cart.EventTypeRemoveItemValidatedRequest,
		cart.EventTypeCartCheckedOut,
	}
	if len(validated) != len(wantTypes) {
		t.Fatalf("%d validated events, want %d", len(validated), len(wantTypes))
	}
	for i, v := range validated {
		if v.event.EventType() != wantTypes[i] || v.requestID() != cart.RequestID(fmt.Sprintf("r%d", i+1)) || v.event.Meta().Version != int64(i+1) {
			t.Errorf("event %d = %s %s v%d, want %s r%d v%d", i, v.event.EventType(), v.requestID(), v.event.Meta().Version, wantTypes[i], i+1, i+1)
		}
		if v.partition != pos[i].Partition {
			t.Errorf("event %d in partition %d, its request in %d", i, v.partition, pos[i].Partition)
		}
		if v.headers["request-id"] != string(v.requestID()) || v.headers["event-type"] != wantTypes[i].String() {
			t.Errorf("event %d headers %v", i, v.headers)
		}
	}
	snap, ok := e.snapshots(t)["cart-1"]
	if !ok {
		t.Fatal("no snapshot for cart-1")
	}
	c := snap.Cart
	if c.Status != cart.StatusCheckedOut || c.Version != 5 || len(c.Lines) != 1 || c.Lines[0].SKU != "SKU-A" || c.Lines[0].Quantity != 5 || c.Subtotal != eur(5*1999) {
		t.Fatalf("final cart %+v", c)
	}
	if snap.RequestOffset != int64(pos[4].Offset) || len(snap.Window) != 5 {
		t.Fatalf("snapshot covers offset %d with %d window entries; want %d and 5", snap.RequestOffset, len(snap.Window), pos[4].Offset)
	}
}

func TestManagerRejectsWithEveryReachableReason(t *testing.T) {
	e := newCartEnv(t, 3)
	e.seedCatalog(t, demoProducts()...)
	cfg := e.managerConfig(t, "m1")
	cfg.Limits = cart.Limits{MaxLines: 3}
	e.startManager(t, cfg)

	type rejCase struct {
		reason cart.Reason
		setup  []cart.Command
		last   cart.Command
	}
	cases := []rejCase{
		{cart.ReasonUnknownSKU, nil, e.add("c-unknown", "x", "SKU-NOPE", 1)},
		{cart.ReasonInactiveSKU, nil, e.add("c-inactive", "x", "SKU-OFF", 1)},
		{cart.ReasonQuantityOutOfRange, []cart.Command{e.add("c-qty", "s1", "SKU-A", 8)}, e.add("c-qty", "x", "SKU-A", 3)},
		{cart.ReasonLineLimit, []cart.Command{e.add("c-lines", "s1", "SKU-A", 1), e.add("c-lines", "s2", "SKU-B", 1), e.add("c-lines", "s3", "SKU-C", 1)}, e.add("c-lines", "x", "SKU-D", 1)},
		{cart.ReasonCartCheckedOut, []cart.Command{e.add("c-done", "s1", "SKU-A", 1), e.checkout("c-done", "s2", "cust-1")}, e.add("c-done", "x", "SKU-B", 1)},
		{cart.ReasonEmptyCart, nil, e.checkout("c-empty", "x", "cust-1")},
		{cart.ReasonItemNotInCart, []cart.Command{e.add("c-missing", "s1", "SKU-A", 1)}, e.remove("c-missing", "x", "SKU-B")},
		{cart.ReasonCurrencyMismatch, []cart.Command{e.add("c-cur", "s1", "SKU-A", 1)}, e.add("c-cur", "x", "SKU-USD", 1)},
		{cart.ReasonDuplicateRequest, []cart.Command{e.add("c-dup", "x", "SKU-A", 1)}, e.add("c-dup", "x", "SKU-B", 1)},
		{cart.ReasonAmountOverflow, nil, e.add("c-overflow", "x", "SKU-HUGE", 3)},
		{cart.ReasonCustomerMismatch, []cart.Command{e.add("c-owner", "s1", "SKU-A", 1)}, e.checkout("c-owner", "x", "cust-other")},
	}
	var cmds []cart.Command
	for _, c := range cases {
		cmds = append(cmds, c.setup...)
		cmds = append(cmds, c.last)
	}
	e.send(t, cmds...)
	// MALFORMED: bytes that are no request at all, under a cart's key.
	e.produce(t, e.set.Requests, rawRecord{key: []byte("c-garbage"), value: []byte("this is not avro")})
	e.waitDrained(t, time.Minute)

	validated, invalid := e.outcomes(t)
	got := map[cart.CartID][]cart.InvalidRequest{}
	for _, o := range invalid {
		got[o.invalid.CartID] = append(got[o.invalid.CartID], *o.invalid)
	}
	for _, c := range cases {
		id := c.last.Meta().CartID
		rs := got[id]
		if len(rs) != 1 || rs[0].Rejection.Reason != c.reason || rs[0].RequestID != "x" || rs[0].Rejection.Message == "" {
			t.Errorf("%s: cart %s rejections %+v, want exactly one %s for request x", c.reason, id, rs, c.reason)
		}
	}
	garbage := got["c-garbage"]
	if len(garbage) != 1 || garbage[0].Rejection.Reason != cart.ReasonMalformed || !bytes.Equal(garbage[0].Raw, []byte("this is not avro")) {
		t.Errorf("garbage record: rejections %+v, want one MALFORMED carrying the raw bytes", garbage)
	}
	setups := 0
	for _, c := range cases {
		setups += len(c.setup)
	}
	if len(validated) != setups {
		t.Errorf("%d validated events, want %d (every setup command)", len(validated), setups)
	}
}

func TestManagerRetriedRequestGivesOneEventAcrossRestarts(t *testing.T) {
	e := newCartEnv(t, 2)
	e.seedCatalog(t, demoProducts()...)
	_, stop := e.startManager(t, e.managerConfig(t, "m1"))

	first := e.add("cart-r", "req-1", "SKU-A", 1)
	e.send(t, first, first) // a client retry after a lost answer
	e.waitDrained(t, time.Minute)
	stop()

	// The window lives in the snapshot: a new incarnation restored from
	// cart.state still knows req-1.
	m, _ := e.startManager(t, e.managerConfig(t, "m1"))
	e.send(t, first, e.add("cart-r", "req-2", "SKU-B", 1))
	e.waitDrained(t, time.Minute)

	validated, invalid := e.outcomes(t)
	if len(invalid) != 0 {
		t.Fatalf("rejections: %+v", invalid[0].invalid)
	}
	var ids []cart.RequestID
	for _, v := range validated {
		ids = append(ids, v.requestID())
	}
	if !slices.Equal(ids, []cart.RequestID{"req-1", "req-2"}) {
		t.Fatalf("validated events for requests %v, want [req-1 req-2]", ids)
	}
	if s := m.Stats().Snapshot(); s.Duplicates != 1 || s.Restored != 1 {
		t.Fatalf("second incarnation: %d duplicates, %d restored carts; want 1 and 1", s.Duplicates, s.Restored)
	}
	snap := e.snapshots(t)["cart-r"]
	if snap.Cart.Version != 2 || len(snap.Window) != 2 {
		t.Fatalf("snapshot version %d window %d, want 2 and 2", snap.Cart.Version, len(snap.Window))
	}
}

func TestManagerMalformedRecordsDoNotStopThePartition(t *testing.T) {
	e := newCartEnv(t, 1)
	e.seedCatalog(t, demoProducts()...)
	m, _ := e.startManager(t, e.managerConfig(t, "m1"))

	huge := bytes.Repeat([]byte{0xC3, 0x01, 0xFF}, 100_000) // 300 KB, magic-led garbage
	e.produce(t, e.set.Requests,
		rawRecord{key: []byte("cart-m"), value: []byte{0xC3, 0x01, 1, 2, 3}}, // truncated fingerprint
		rawRecord{key: []byte("cart-m"), value: nil},
		rawRecord{key: []byte("cart-m"), value: huge},
	)
	// A request whose key is not its cart: it would land in the wrong
	// partition's state, so it is malformed too.
	wrongKey, err := e.rec.EncodeRequest(e.add("cart-other", "w", "SKU-A", 1))
	if err != nil {
		t.Fatal(err)
	}
	e.produce(t, e.set.Requests, rawRecord{key: []byte("cart-m"), value: wrongKey})
	e.send(t, e.add("cart-m", "ok-1", "SKU-A", 1), e.add("cart-m", "ok-2", "SKU-B", 2))
	e.waitDrained(t, time.Minute)

	validated, invalid := e.outcomes(t)
	if len(validated) != 2 {
		t.Fatalf("%d validated events after the garbage, want 2", len(validated))
	}
	if len(invalid) != 4 {
		t.Fatalf("%d invalid records, want 4 MALFORMED", len(invalid))
	}
	for i, o := range invalid {
		if o.invalid.Rejection.Reason != cart.ReasonMalformed {
			t.Errorf("invalid %d: reason %s", i, o.invalid.Rejection.Reason)
		}
		if len(o.invalid.Raw) > validation.MaxMalformedRaw {
			t.Errorf("invalid %d carries %d raw bytes, cap %d", i, len(o.invalid.Raw), validation.MaxMalformedRaw)
		}
	}
	if !bytes.Equal(invalid[2].invalid.Raw, huge[:validation.MaxMalformedRaw]) {
		t.Error("the oversize record's raw bytes are not its truncated prefix")
	}
	if s := m.Stats().Snapshot(); s.Malformed != 4 || s.Accepted != 2 {
		t.Fatalf("stats %+v", s)
	}
}
