package cart

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestOrderIDIsDerivedAndUnambiguous(t *testing.T) {
	a := OrderIDOf("cart-1", "req-1")
	if a != OrderIDOf("cart-1", "req-1") {
		t.Fatal("the same checkout named two orders")
	}
	if !strings.HasPrefix(string(a), "ord-") || len(a) != 4+32 {
		t.Fatalf("order id %q", a)
	}
	// The separator keeps ("ab","c") and ("a","bc") apart.
	if OrderIDOf("ab", "c") == OrderIDOf("a", "bc") || OrderIDOf("cart-1", "req-2") == a {
		t.Fatal("two checkouts named one order")
	}
}

func TestOrderOfCopiesTheCheckout(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	ev := CartCheckedOut{
		CartID: "c", RequestID: "r", Version: 4, RequestedAt: now, DecidedAt: now.Add(time.Millisecond), CustomerID: "u",
		Lines:    []Line{{SKU: "A", Name: "Cup", UnitPrice: Money{Amount: 500, Currency: "EUR"}, Quantity: 2}},
		Subtotal: Money{Amount: 1000, Currency: "EUR"}, ItemCount: 2,
	}
	o := OrderOf(ev)
	want := OrderPlaced{
		OrderID: OrderIDOf("c", "r"), CartID: "c", CustomerID: "u", CheckoutRequestID: "r", CartVersion: 4,
		Lines: ev.Lines, Subtotal: ev.Subtotal, ItemCount: 2, RequestedAt: now, PlacedAt: now.Add(time.Millisecond),
	}
	if !reflect.DeepEqual(o, want) {
		t.Fatalf("order %+v", o)
	}
	o.Lines[0].Quantity = 9
	if ev.Lines[0].Quantity != 2 {
		t.Fatal("the order shares its lines with the event")
	}
}
