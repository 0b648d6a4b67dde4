package integration

import (
	"reflect"
	"testing"
	"time"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/gateway"
)

// Issue 14, item 3: an accepted checkout hands on exactly one OrderPlaced,
// keyed by its derived order id and equal to the checkout's lines and
// totals; a retried checkout places no second order and a rejected one
// none; wait_for_outcome names the order.
func TestCheckoutPlacesExactlyOneOrder(t *testing.T) {
	e := newCartEnv(t, 3)
	e.seedCatalog(t, demoProducts()...)
	m, _ := e.startManager(t, e.managerConfig(t, "m1"))
	read := e.runProjection(t, e.rec, "projection")
	pos := e.send(t,
		e.add("cart-o1", "o1-a", "SKU-A", 2),
		e.add("cart-o1", "o1-b", "SKU-B", 1),
		e.checkout("cart-o1", "o1-co", "cust-1"),
		e.checkout("cart-o1", "o1-co", "cust-1"),   // a retry: no second order
		e.checkout("cart-empty", "e-co", "cust-2"), // rejected: EMPTY_CART
	)
	e.waitDrained(t, time.Minute)

	recs := readToEnd(t, e.c, e.set.Orders, e.partitions, "read_committed")
	if len(recs) != 1 {
		t.Fatalf("%d orders, want 1", len(recs))
	}
	got, err := e.rec.DecodeOrder(recs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	validated, _ := e.outcomes(t)
	var co *cart.CartCheckedOut
	for _, v := range validated {
		if ev, ok := v.event.(cart.CartCheckedOut); ok {
			co = &ev
		}
	}
	if co == nil {
		t.Fatal("no CartCheckedOut")
	}
	if want := cart.OrderOf(*co); !reflect.DeepEqual(got, want) || string(recs[0].Key) != string(want.OrderID) {
		t.Fatalf("order %+v (key %s), want %+v", got, recs[0].Key, want)
	}
	if got.OrderID != cart.OrderIDOf("cart-o1", "o1-co") || got.Subtotal.Amount != 2*1999+500 || got.ItemCount != 3 {
		t.Fatalf("order %+v", got)
	}
	if h := headerMap(recs[0]); h["event-type"] != "OrderPlaced" || h["request-id"] != "o1-co" {
		t.Errorf("order headers %v", h)
	}
	if n := m.Stats().Snapshot().Orders; n != 1 {
		t.Errorf("Stats.Orders %d, want 1", n)
	}
	out, err := read.AwaitOutcome(withTimeout(t, 30*time.Second), gateway.OutcomeQuery{
		CartID: "cart-o1", RequestID: "o1-co", Position: gateway.Position{Partition: pos[3].Partition, Offset: int64(pos[3].Offset)},
	})
	if err != nil || !out.GetAccepted() || out.GetOrderId() != string(got.OrderID) {
		t.Fatalf("wait_for_outcome of the retried checkout: %v, %v; want order %s", out, err, got.OrderID)
	}
	if rep := verifyHistory(t, e.c, e.set, e.rec); !rep.Clean() || rep.Summary.Orders != 1 {
		t.Fatalf("verifier: %d orders, %+v", rep.Summary.Orders, rep.Violations)
	}
}
