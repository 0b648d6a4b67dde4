package cart_test

import (
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/cartstream/cartstream/cart"
)

// t0 is the fixed time of the tests; the domain never reads a clock.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func eur(a int64) cart.Money { return cart.Money{Amount: a, Currency: "EUR"} }
func usd(a int64) cart.Money { return cart.Money{Amount: a, Currency: "USD"} }

// testCatalog is small on purpose: every rule has a product that trips it.
func testCatalog(tb testing.TB) cart.MapCatalog {
	tb.Helper()
	c, err := cart.NewMapCatalog(
		cart.Product{SKU: "apple", Name: "Apple", UnitPrice: eur(100), Active: true, MaxQuantityPerLine: 10},
		cart.Product{SKU: "pear", Name: "Pear", UnitPrice: eur(250), Active: true},
		cart.Product{SKU: "plum", Name: "Plum", UnitPrice: eur(50), Active: false},
		cart.Product{SKU: "bagel", Name: "Bagel", UnitPrice: usd(300), Active: true},
		cart.Product{SKU: "gold", Name: "Gold bar", UnitPrice: eur(1 << 61), Active: true},
		cart.Product{SKU: "single", Name: "Single", UnitPrice: eur(999), Active: true, MaxQuantityPerLine: 1},
	)
	if err != nil {
		tb.Fatalf("NewMapCatalog: %v", err)
	}
	return c
}

// with returns a copy of c with p replacing or adding its SKU, bypassing
// validation so tests can plant broken entries.
func with(c cart.MapCatalog, p cart.Product) cart.MapCatalog {
	n := make(cart.MapCatalog, len(c)+1)
	for k, v := range c {
		n[k] = v
	}
	n[p.SKU] = p
	return n
}

func without(c cart.MapCatalog, sku cart.SKU) cart.MapCatalog {
	n := with(c, cart.Product{SKU: sku})
	delete(n, sku)
	return n
}

var reqSeq int

func nextReq() cart.RequestID {
	reqSeq++
	return cart.RequestID("r-" + strconv.Itoa(reqSeq))
}

func add(sku cart.SKU, q int32) cart.AddItem {
	return cart.AddItem{CartID: "c1", RequestID: nextReq(), CustomerID: "u1", RequestedAt: t0, SKU: sku, Quantity: q}
}

func remove(sku cart.SKU) cart.RemoveItem {
	return cart.RemoveItem{CartID: "c1", RequestID: nextReq(), RequestedAt: t0, SKU: sku}
}

func change(sku cart.SKU, q int32) cart.ChangeQuantity {
	return cart.ChangeQuantity{CartID: "c1", RequestID: nextReq(), RequestedAt: t0, SKU: sku, Quantity: q}
}

func checkout() cart.Checkout {
	return cart.Checkout{CartID: "c1", RequestID: nextReq(), CustomerID: "u1", RequestedAt: t0}
}

// run decides and applies cmds in order on the zero cart and fails the test
// on the first rejection.
func run(tb testing.TB, cat cart.Catalog, cmds ...cart.Command) cart.CartState {
	tb.Helper()
	return runFrom(tb, cart.CartState{}, cat, cmds...)
}

func runFrom(tb testing.TB, s cart.CartState, cat cart.Catalog, cmds ...cart.Command) cart.CartState {
	tb.Helper()
	for i, c := range cmds {
		d := cart.Decide(s, c, cat, cart.Limits{}, t0.Add(time.Duration(i)*time.Second))
		if !d.Accepted() {
			tb.Fatalf("command %d (%T) rejected: %v", i, c, d.Rejection)
		}
		for _, ev := range d.Events {
			var err error
			if s, err = cart.Apply(s, ev); err != nil {
				tb.Fatalf("command %d: Apply: %v", i, err)
			}
		}
	}
	return s
}

func mustEqual[T any](tb testing.TB, what string, got, want T) {
	tb.Helper()
	if !reflect.DeepEqual(got, want) {
		tb.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}
