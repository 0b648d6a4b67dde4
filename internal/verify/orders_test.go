package verify

import (
	"errors"
	"testing"
	"time"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/topics"
)

// Issue 14: one OrderPlaced per accepted checkout, equal to the order it
// places, and none without one.
func TestCheckOrders(t *testing.T) {
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	checkout := func(id cart.CartID, req cart.RequestID) cart.CartCheckedOut {
		return cart.CartCheckedOut{CartID: id, RequestID: req, Version: 2, RequestedAt: at, DecidedAt: at, CustomerID: "u",
			Lines:    []cart.Line{{SKU: "A", Name: "Cup", UnitPrice: cart.Money{Amount: 100, Currency: "EUR"}, Quantity: 1}},
			Subtotal: cart.Money{Amount: 100, Currency: "EUR"}, ItemCount: 1}
	}
	orderOf := func(ev cart.CartCheckedOut, offset int64) Order {
		o := cart.OrderOf(ev)
		return Order{Position: Position{Partition: 3, Offset: offset}, Key: string(o.OrderID), Order: o}
	}
	a, b := checkout("cart-a", "co-1"), checkout("cart-b", "co-2")
	validated := []Validated{{Position: Position{Offset: 5}, Key: "cart-a", Event: a}, {Position: Position{Offset: 6}, Key: "cart-b", Event: b}}
	stray := orderOf(checkout("cart-c", "co-3"), 9)
	changed := orderOf(b, 8)
	changed.Order.Subtotal.Amount++
	for _, c := range []struct {
		name   string
		orders []Order
		want   map[Kind]int
	}{
		{"one each", []Order{orderOf(a, 1), orderOf(b, 2)}, nil},
		{"missing", []Order{orderOf(a, 1)}, map[Kind]int{KindMissingOrder: 1}},
		{"duplicate", []Order{orderOf(a, 1), orderOf(a, 2), orderOf(b, 3)}, map[Kind]int{KindDuplicateOrder: 1}},
		{"orphan", []Order{orderOf(a, 1), orderOf(b, 2), stray}, map[Kind]int{KindOrphanOrder: 1}},
		{"mismatch", []Order{orderOf(a, 1), changed}, map[Kind]int{KindOrderMismatch: 1}},
		{"undecodable", []Order{orderOf(a, 1), orderOf(b, 2), {DecodeErr: errors.New("bad bytes")}}, map[Kind]int{KindUndecodable: 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ch := &checker{names: topics.DefaultSet(), validated: validated}
			ch.checkOrders(c.orders)
			got := map[Kind]int{}
			for _, v := range ch.report.Violations {
				got[v.Kind]++
			}
			if len(got) != len(c.want) {
				t.Fatalf("violations %v, want %v", ch.report.Violations, c.want)
			}
			for k, n := range c.want {
				if got[k] != n {
					t.Fatalf("violations %v, want %v", ch.report.Violations, c.want)
				}
			}
		})
	}
}
