package records

import (
	"fmt"
	"testing"
	"time"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/codec"
)

// t0 has nanoseconds on purpose: round trips must keep them.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func eur(a int64) cart.Money { return cart.Money{Amount: a, Currency: "EUR"} }

func newTestCodec(tb testing.TB) *Codec {
	tb.Helper()
	c, err := New(Config{})
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return c
}

// currentSchemas returns the pinned schemas, parsed on their own.
func currentSchemas(tb testing.TB) []*codec.Schema {
	tb.Helper()
	out := make([]*codec.Schema, 0, len(current))
	for _, name := range current {
		out = append(out, parseFile(tb, embedded.ReadFile, name))
	}
	return out
}

func embeddedSchemas(tb testing.TB) []*codec.Schema {
	tb.Helper()
	all, err := codec.LoadFS(embedded, "schemas/*.avsc")
	if err != nil {
		tb.Fatalf("LoadFS: %v", err)
	}
	return all
}

func parseFile(tb testing.TB, read func(string) ([]byte, error), name string) *codec.Schema {
	tb.Helper()
	b, err := read(name)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := codec.ParseSchema(string(b))
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return s
}

// testCatalog has n active EUR products p0..p(n-1) and one USD product.
func testCatalog(tb testing.TB, n int) cart.MapCatalog {
	tb.Helper()
	ps := make([]cart.Product, 0, n+1)
	for i := range n {
		ps = append(ps, cart.Product{
			SKU: cart.SKU(fmt.Sprintf("p%d", i)), Name: fmt.Sprintf("Product «%d»", i),
			UnitPrice: eur(int64(100 + i)), Active: true, MaxQuantityPerLine: 50,
		})
	}
	ps = append(ps, cart.Product{SKU: "bagel", Name: "Bagel", UnitPrice: cart.Money{Amount: 300, Currency: "USD"}, Active: true})
	c, err := cart.NewMapCatalog(ps...)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// buildSnapshot folds requests through cart.Process into a real snapshot:
// nLines lines, then rejected and accepted requests until nRequests were
// processed, so the window holds min(nRequests, RequestWindowSize) outcomes
// of every kind, accepted and rejected. checkout closes the cart at the end.
func buildSnapshot(tb testing.TB, nLines, nRequests int, checkout bool) cart.Snapshot {
	tb.Helper()
	cat := testCatalog(tb, nLines)
	snap := cart.NewSnapshot("cart-1")
	offset := int64(100)
	n := 0
	step := func(cmd cart.Command) {
		tb.Helper()
		var out cart.Outcome
		snap, out = cart.Process(snap, cmd, offset, cat, cart.Limits{MaxLines: 500}, at(time.Duration(offset)*time.Millisecond+7))
		if out.Disposition != cart.DispositionAccepted && out.Disposition != cart.DispositionRejected {
			tb.Fatalf("request %d: disposition %v", n, out.Disposition)
		}
		offset += 3
		n++
	}
	req := func() (cart.RequestID, time.Time) {
		return cart.RequestID(fmt.Sprintf("req-%04d", n)), at(time.Duration(n)*time.Second + 11)
	}
	for i := range nLines {
		id, t := req()
		step(cart.AddItem{CartID: "cart-1", RequestID: id, CustomerID: "cust-9", RequestedAt: t, SKU: cart.SKU(fmt.Sprintf("p%d", i)), Quantity: 2})
	}
	for n < nRequests-1 || (n < nRequests && !checkout) {
		id, t := req()
		switch n % 4 {
		case 0: // rejected: UNKNOWN_SKU
			step(cart.AddItem{CartID: "cart-1", RequestID: id, CustomerID: "cust-9", RequestedAt: t, SKU: "nope", Quantity: 1})
		case 1: // rejected: CURRENCY_MISMATCH (or accepted on an empty cart)
			step(cart.AddItem{CartID: "cart-1", RequestID: id, CustomerID: "cust-9", RequestedAt: t, SKU: "bagel", Quantity: 1})
		case 2: // accepted when the line exists
			step(cart.ChangeQuantity{CartID: "cart-1", RequestID: id, RequestedAt: t, SKU: "p0", Quantity: int32(1 + n%7)})
		case 3: // rejected: ITEM_NOT_IN_CART
			step(cart.RemoveItem{CartID: "cart-1", RequestID: id, RequestedAt: t, SKU: "p999"})
		}
	}
	if checkout {
		id, t := req()
		step(cart.Checkout{CartID: "cart-1", RequestID: id, CustomerID: "cust-9", RequestedAt: t})
	}
	if err := snap.Validate(); err != nil {
		tb.Fatalf("fixture snapshot invalid: %v", err)
	}
	return snap
}

func testCommands() []cart.Command {
	return []cart.Command{
		cart.AddItem{CartID: "cart-1", RequestID: "r-1", CustomerID: "cust-9", RequestedAt: t0, SKU: "p0", Quantity: 3},
		cart.RemoveItem{CartID: "cart-1", RequestID: "r-2", RequestedAt: at(time.Nanosecond), SKU: "p0"},
		cart.ChangeQuantity{CartID: "cart-1", RequestID: "r-3", RequestedAt: at(time.Hour), SKU: "p0", Quantity: cart.MaxQuantity},
		cart.Checkout{CartID: "cart-1", RequestID: "r-4", CustomerID: "cust-9", RequestedAt: at(-time.Hour)},
	}
}

func testEvents() []cart.Event {
	lines := []cart.Line{
		{SKU: "p0", Name: "Apple", UnitPrice: eur(100), Quantity: 2},
		{SKU: "p1", Name: "Pear – ripe", UnitPrice: eur(250), Quantity: 1},
	}
	return []cart.Event{
		cart.AddItemValidatedRequest{CartID: "cart-1", RequestID: "r-1", Version: 1, RequestedAt: t0, DecidedAt: at(1),
			CustomerID: "cust-9", SKU: "p0", Name: "Apple", UnitPrice: eur(100), Quantity: 2},
		cart.RemoveItemValidatedRequest{CartID: "cart-1", RequestID: "r-2", Version: 2, RequestedAt: at(2), DecidedAt: at(3), SKU: "p0"},
		cart.ChangeQuantityValidatedRequest{CartID: "cart-1", RequestID: "r-3", Version: 3, RequestedAt: at(4), DecidedAt: at(5),
			SKU: "p1", Name: "Pear", UnitPrice: eur(1 << 40), Quantity: 9999},
		cart.CartCheckedOut{CartID: "cart-1", RequestID: "r-4", Version: 4, RequestedAt: at(6), DecidedAt: at(7),
			CustomerID: "cust-9", Lines: lines, Subtotal: eur(450), ItemCount: 3},
	}
}

func testProduct() cart.Product {
	return cart.Product{SKU: "p0", Name: "Äpfel, 1 kg", UnitPrice: cart.Money{Amount: 1999, Currency: "EUR"}, Active: true, MaxQuantityPerLine: 12}
}
