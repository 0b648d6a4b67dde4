package cart_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/cartstream/cartstream/cart"
)

// BenchmarkProcess is the manager's hot step on a cart as the drain bench
// meets it: seven lines, twenty outcomes in its window, an AddItem of a
// line it holds.
func BenchmarkProcess(b *testing.B) {
	var ps []cart.Product
	for i := range 50 {
		ps = append(ps, cart.Product{SKU: cart.SKU("sku-" + strconv.Itoa(i)), Name: "Product " + strconv.Itoa(i), UnitPrice: eur(int64(100 + i)), Active: true})
	}
	cat, err := cart.NewMapCatalog(ps...)
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	s := cart.NewSnapshot("bench-cart-1")
	for i := range 20 {
		cmd := cart.AddItem{CartID: "bench-cart-1", RequestID: cart.RequestID("bench-req-" + strconv.Itoa(i)), CustomerID: "u1", RequestedAt: at, SKU: ps[i%7].SKU, Quantity: 1}
		s, _ = cart.Process(s, cmd, int64(i), cat, cart.Limits{}, at)
	}
	if len(s.Cart.Lines) != 7 || len(s.Window) != 20 {
		b.Fatalf("set-up: %d lines, window %d", len(s.Cart.Lines), len(s.Window))
	}
	cmd := cart.AddItem{CartID: "bench-cart-1", RequestID: "bench-req-next", CustomerID: "u1", RequestedAt: at, SKU: ps[3].SKU, Quantity: 1}
	b.ReportAllocs()
	for b.Loop() {
		next, out := cart.Process(s, cmd, 20, cat, cart.Limits{}, at)
		if out.Disposition != cart.DispositionAccepted || next.Cart.Version != s.Cart.Version+1 {
			b.Fatalf("not accepted: %+v", out)
		}
	}
}
