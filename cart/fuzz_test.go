package cart_test

import (
	"errors"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/cartstream/cartstream/cart"
)

// fuzzLimits are small so that the line limit and default cap are reached
// within a few commands.
var fuzzLimits = cart.Limits{MaxLines: 3, MaxQuantityPerLine: 5}

// fuzzMaxSteps bounds one input: enough requests to push the window past
// RequestWindowSize, few enough to keep executions fast.
const fuzzMaxSteps = 160

// fuzzSKUs index the fuzz catalogs; "kiwi" is in neither.
var fuzzSKUs = []cart.SKU{"apple", "pear", "plum", "bagel", "gold", "yen", "kiwi"}

// fuzzCatalogs are two versions of one catalog: the second reprices,
// deactivates and moves a product to another currency, as a catalog update
// between two requests would. Caps are equal in both, so the cap invariant
// can be checked against either.
func fuzzCatalogs(tb testing.TB) [2]cart.MapCatalog {
	tb.Helper()
	a, err := cart.NewMapCatalog(
		cart.Product{SKU: "apple", Name: "Apple", UnitPrice: eur(100), Active: true, MaxQuantityPerLine: 3},
		cart.Product{SKU: "pear", Name: "Pear", UnitPrice: eur(250), Active: true},
		cart.Product{SKU: "plum", Name: "Plum", UnitPrice: eur(50), Active: false},
		cart.Product{SKU: "bagel", Name: "Bagel", UnitPrice: usd(300), Active: true, MaxQuantityPerLine: 2},
		cart.Product{SKU: "gold", Name: "Gold", UnitPrice: eur(1 << 61), Active: true},
		cart.Product{SKU: "yen", Name: "Yen thing", UnitPrice: cart.Money{Amount: 1, Currency: "JPY"}, Active: true, MaxQuantityPerLine: 1},
	)
	if err != nil {
		tb.Fatal(err)
	}
	b := with(a, cart.Product{SKU: "apple", Name: "Apple v2", UnitPrice: eur(120), Active: true, MaxQuantityPerLine: 3})
	b["pear"] = cart.Product{SKU: "pear", Name: "Pear", UnitPrice: eur(250), Active: false}
	b["bagel"] = cart.Product{SKU: "bagel", Name: "Bagel", UnitPrice: usd(310), Active: true, MaxQuantityPerLine: 2}
	b["yen"] = cart.Product{SKU: "yen", Name: "Yen thing", UnitPrice: eur(7), Active: true, MaxQuantityPerLine: 1}
	return [2]cart.MapCatalog{a, b}
}

// decodeStep turns four fuzz bytes into a command, the catalog to decide
// against and the offset delta. history lets a step repeat an earlier
// command verbatim, which is how retries are produced.
func decodeStep(b []byte, history []cart.Command, at time.Time) (cmd cart.Command, catalog int, delta int64) {
	op, skuB, qtyB, idB := b[0], b[1], b[2], b[3]
	catalog = int(op>>3) & 1
	switch (op >> 4) & 3 {
	case 0, 1:
		delta = 1
	case 2:
		delta = 3
	case 3:
		delta = -int64(skuB % 3) // at or before the last offset: stale
	}
	if idB&0x80 != 0 && len(history) > 0 {
		return history[int(idB&0x7f)%len(history)], catalog, delta
	}
	sku := fuzzSKUs[int(skuB)%len(fuzzSKUs)]
	q := int32(int8(qtyB))
	// Most ids come from a small pool so that reuse is frequent; the rest
	// are fresh so that the window fills past its bound.
	id := cart.RequestID("r" + strconv.Itoa(int(idB%12)))
	if idB&0x40 != 0 {
		id = cart.RequestID("u" + strconv.Itoa(len(history)))
	}
	switch op & 7 {
	case 0, 1:
		cmd = cart.AddItem{CartID: "c1", RequestID: id, CustomerID: "u1", RequestedAt: at, SKU: sku, Quantity: q}
	case 2:
		cmd = cart.RemoveItem{CartID: "c1", RequestID: id, RequestedAt: at, SKU: sku}
	case 3:
		cmd = cart.ChangeQuantity{CartID: "c1", RequestID: id, RequestedAt: at, SKU: sku, Quantity: q}
	case 4:
		cmd = cart.Checkout{CartID: "c1", RequestID: id, CustomerID: "u1", RequestedAt: at}
	case 5:
		cmd = cart.AddItem{CartID: "c1", RequestID: id, CustomerID: "u2", RequestedAt: at, SKU: sku, Quantity: q}
	case 6:
		if qtyB&1 == 0 {
			cmd = nil
		} else {
			cmd = cart.Checkout{CartID: "c1", RequestID: "bad id", CustomerID: "u1", RequestedAt: at}
		}
	case 7:
		cmd = &cart.AddItem{CartID: "c2", RequestID: id, CustomerID: "u1", RequestedAt: at, SKU: sku, Quantity: q}
	}
	return cmd, catalog, delta
}

// FuzzProcess drives random request sequences through Process and checks
// the domain's invariants after every step, the replay guarantee included.
func FuzzProcess(f *testing.F) {
	f.Add([]byte{0, 0, 2, 1, 0, 1, 1, 2, 4, 0, 0, 3})                // add, add, checkout
	f.Add([]byte{0, 0, 2, 1, 0, 0, 2, 0x80, 0, 0, 3, 1})             // add, exact retry, reused id
	f.Add([]byte{0, 4, 3, 1, 0, 4, 2, 2, 0, 1, 1, 3, 8, 0, 1, 4})    // overflow, then catalog v2
	f.Add([]byte{0, 0, 1, 1, 0, 1, 1, 2, 0, 5, 1, 3, 0, 3, 1, 4})    // line limit, currency
	f.Add([]byte{0x30, 0, 1, 1, 6, 0, 0, 2, 7, 0, 1, 3, 5, 1, 1, 4}) // stale, nil, other cart, other customer
	f.Add([]byte{0, 0, 1, 1, 3, 0, 3, 2, 3, 0, 0, 3, 2, 0, 0, 4, 2, 0, 0, 5})
	fill := make([]byte, 0, 4*(cart.RequestWindowSize+20))
	for i := range cart.RequestWindowSize + 20 {
		fill = append(fill, byte(2*(i%2)), 1, 1, 0x40) // add or remove pear, fresh id
	}
	f.Add(fill)
	f.Fuzz(checkProcessSequence)
}

// checkProcessSequence is FuzzProcess's body; a regression test can call it
// with a corpus entry.
func checkProcessSequence(t *testing.T, data []byte) {
	{
		cats := fuzzCatalogs(t)
		snap := cart.NewSnapshot("c1")
		var replay cart.CartState
		var applied int64
		var history []cart.Command
		offset := int64(-1)
		for i := 0; i+4 <= len(data) && i < 4*fuzzMaxSteps; i += 4 {
			at := t0.Add(time.Duration(i) * time.Second)
			cmd, ci, delta := decodeStep(data[i:i+4], history, at)
			history = append(history, cmd)
			offset += delta
			prev := snap.Clone()
			next, out := cart.Process(snap, cmd, offset, cats[ci], fuzzLimits, at)
			if !sameSnapshot(snap, prev) {
				t.Fatalf("step %d: Process modified its input", i/4)
			}
			if err := next.Validate(); err != nil {
				t.Fatalf("step %d: invalid snapshot: %v", i/4, err)
			}
			if len(next.Window) > cart.RequestWindowSize {
				t.Fatalf("step %d: window %d > %d", i/4, len(next.Window), cart.RequestWindowSize)
			}
			if !sameCart(out.Cart, next.Cart) {
				t.Fatalf("step %d: outcome cart differs from snapshot cart", i/4)
			}
			switch out.Disposition {
			case cart.DispositionStale:
				if !sameSnapshot(next, prev) || len(out.Events) != 0 || out.Invalid != nil {
					t.Fatalf("step %d: stale request changed something", i/4)
				}
				offset = prev.RequestOffset
				continue
			case cart.DispositionDuplicate:
				if len(out.Events) != 0 || out.Invalid != nil {
					t.Fatalf("step %d: duplicate produced records", i/4)
				}
				if !sameCart(next.Cart, prev.Cart) || !slices.Equal(next.Window, prev.Window) {
					t.Fatalf("step %d: duplicate changed the cart or window", i/4)
				}
			case cart.DispositionRejected:
				if len(out.Events) != 0 || out.Invalid == nil || out.Invalid.Rejection.Reason == cart.ReasonNone || out.Invalid.Rejection.Message == "" {
					t.Fatalf("step %d: bad rejection %+v", i/4, out)
				}
				if !sameCart(next.Cart, prev.Cart) {
					t.Fatalf("step %d: rejection changed the cart", i/4)
				}
			case cart.DispositionAccepted:
				if len(out.Events) != 1 || out.Invalid != nil {
					t.Fatalf("step %d: bad acceptance %+v", i/4, out)
				}
				if prev.Cart.Status == cart.StatusCheckedOut {
					t.Fatalf("step %d: checked-out cart accepted %T", i/4, cmd)
				}
				for _, ev := range out.Events {
					var err error
					if replay, err = cart.Apply(replay, ev); err != nil {
						t.Fatalf("step %d: Apply of a decided event: %v", i/4, err)
					}
					applied++
				}
			default:
				t.Fatalf("step %d: disposition %v", i/4, out.Disposition)
			}
			if next.RequestOffset != offset {
				t.Fatalf("step %d: request offset %d, want %d", i/4, next.RequestOffset, offset)
			}
			if prev.Cart.Status == cart.StatusCheckedOut && !sameCart(next.Cart, prev.Cart) {
				t.Fatalf("step %d: checked-out cart changed", i/4)
			}
			if next.Cart.Version != applied {
				t.Fatalf("step %d: version %d after %d events", i/4, next.Cart.Version, applied)
			}
			// The replay guarantee: the accepted events alone, folded from the
			// zero CartState, rebuild the cart. Before its first event a
			// snapshot's cart knows only its id (NewSnapshot).
			want := replay
			if want.Version == 0 {
				want.CartID = "c1"
			}
			if !sameCart(want, next.Cart) {
				t.Fatalf("step %d: replay differs\nreplay %+v\n  live %+v", i/4, replay, next.Cart)
			}
			if len(next.Cart.Lines) > fuzzLimits.MaxLines {
				t.Fatalf("step %d: %d lines", i/4, len(next.Cart.Lines))
			}
			for _, l := range next.Cart.Lines {
				p := cats[0][l.SKU]
				if l.Quantity < 1 || l.Quantity > fuzzLimits.QuantityCap(p) {
					t.Fatalf("step %d: line %s holds %d, cap %d", i/4, l.SKU, l.Quantity, fuzzLimits.QuantityCap(p))
				}
			}
			if c, ok := cmd.(interface{ Meta() cart.RequestMeta }); ok && cart.ValidateCommand(cmd) == nil {
				if _, found := next.Lookup(c.Meta().RequestID); !found {
					t.Fatalf("step %d: request %s left no trace", i/4, c.Meta().RequestID)
				}
			}
			snap = next
		}
	}
}

// sameCart is reflect.DeepEqual for carts without reflection, which would
// dominate the fuzz target's cost. Times compare with ==, as DeepEqual does.
func sameCart(a, b cart.CartState) bool {
	return a.CartID == b.CartID && a.CustomerID == b.CustomerID && a.Status == b.Status &&
		a.Currency == b.Currency && slices.Equal(a.Lines, b.Lines) && a.Subtotal == b.Subtotal &&
		a.ItemCount == b.ItemCount && a.Version == b.Version &&
		a.UpdatedAt == b.UpdatedAt && a.CheckedOutAt == b.CheckedOutAt && a.MergedInto == b.MergedInto
}

func sameSnapshot(a, b cart.Snapshot) bool {
	return sameCart(a.Cart, b.Cart) && a.RequestOffset == b.RequestOffset && slices.Equal(a.Window, b.Window)
}

// FuzzApply feeds arbitrary events and commands to Apply, Decide and Process
// over valid and corrupt states: nothing panics, a failed Apply changes
// nothing, a successful one yields a valid state, and Decide's events apply.
func FuzzApply(f *testing.F) {
	f.Add(uint8(0), uint8(0), "apple", int64(100), "EUR", int32(1), int64(1), "c1", "u1")
	f.Add(uint8(1), uint8(1), "apple", int64(0), "EUR", int32(0), int64(2), "c1", "u1")
	f.Add(uint8(2), uint8(1), "b", int64(-1), "eur", int32(3), int64(3), "c1", "u1")
	f.Add(uint8(3), uint8(2), "", int64(math.MaxInt64), "", int32(-1), int64(2), "", "")
	f.Add(uint8(4), uint8(3), "apple", int64(1<<62), "USD", int32(9999), int64(math.MaxInt64), "c2", "u2")
	f.Fuzz(func(t *testing.T, kind, base uint8, sku string, amount int64, cur string, qty int32, version int64, cartID, customer string) {
		price := cart.Money{Amount: amount, Currency: cart.Currency(cur)}
		one := cart.CartState{CartID: "c1", CustomerID: "u1", Currency: "EUR", Version: 1, UpdatedAt: t0,
			Lines: []cart.Line{{SKU: "apple", Name: "Apple", UnitPrice: eur(100), Quantity: 2}}, Subtotal: eur(200), ItemCount: 2}
		states := []cart.CartState{
			{},
			one,
			func() cart.CartState { s := one.Clone(); s.Status = cart.StatusCheckedOut; s.Version = 2; return s }(),
			func() cart.CartState {
				s := one.Clone()
				s.Status, s.MergedInto, s.Lines, s.Currency, s.Subtotal, s.ItemCount, s.Version = cart.StatusMerged, "c9", nil, "", cart.Money{}, 0, 2
				return s
			}(),
			// Corrupt: the fuzz values land in the stored state itself.
			{CartID: cart.CartID(cartID), CustomerID: cart.CustomerID(customer), Currency: price.Currency, Version: version,
				Lines: []cart.Line{{SKU: cart.SKU(sku), UnitPrice: price, Quantity: qty}}, Subtotal: price, ItemCount: int64(qty)},
		}
		state := states[int(base)%len(states)]
		keep := state.Clone()
		id := cart.CartID(cartID)
		var ev cart.Event
		lines := []cart.Line{{SKU: cart.SKU(sku), Name: "N", UnitPrice: price, Quantity: qty}}
		switch kind % 10 {
		case 0:
			ev = cart.AddItemValidatedRequest{CartID: id, RequestID: "r", Version: version, CustomerID: cart.CustomerID(customer), SKU: cart.SKU(sku), UnitPrice: price, Quantity: qty}
		case 1:
			ev = cart.RemoveItemValidatedRequest{CartID: id, RequestID: "r", Version: version, SKU: cart.SKU(sku)}
		case 2:
			ev = &cart.ChangeQuantityValidatedRequest{CartID: id, RequestID: "r", Version: version, SKU: cart.SKU(sku), UnitPrice: price, Quantity: qty}
		case 3:
			ev = cart.CartCheckedOut{CartID: id, RequestID: "r", Version: version, CustomerID: cart.CustomerID(customer),
				Lines: state.Clone().Lines, Subtotal: price, ItemCount: int64(qty)}
		case 4:
			ev = nil
		case 5:
			ev = cart.CartCleared{CartID: id, RequestID: "r", Version: version, CustomerID: cart.CustomerID(customer)}
		case 6:
			ev = cart.CartExpired{CartID: id, RequestID: "r", Version: version, IdleSince: state.UpdatedAt}
		case 7:
			ev = cart.CartMerged{CartID: id, RequestID: "r", Version: version, CustomerID: cart.CustomerID(customer), TargetCartID: "c9", Lines: state.Clone().Lines}
		case 8:
			ev = &cart.CartMergedInto{CartID: id, RequestID: "r", Version: version, CustomerID: cart.CustomerID(customer), SourceCartID: "g1", Lines: lines}
		case 9:
			ev = cart.CartMergeReturned{CartID: id, RequestID: "r", Version: version, TargetCartID: "c9", Lines: lines}
		}
		next, err := cart.Apply(state, ev)
		if !reflect.DeepEqual(state, keep) {
			t.Fatal("Apply modified its input")
		}
		if err != nil {
			if !cart.IsApplyError(err) || !reflect.DeepEqual(next, keep) {
				t.Fatalf("failed Apply: %v, state changed: %t", err, !reflect.DeepEqual(next, keep))
			}
		} else {
			if verr := next.Validate(); verr != nil {
				t.Fatalf("Apply produced an invalid state: %v", verr)
			}
			_, expired := ev.(cart.CartExpired)
			switch {
			case expired && !reflect.DeepEqual(next, cart.CartState{}):
				t.Fatalf("expiry left %+v, want the zero cart", next)
			case !expired && next.Version != state.Version+1:
				t.Fatalf("version %d after %d", next.Version, state.Version)
			}
		}

		catalog := cart.MapCatalog{cart.SKU(sku): {SKU: cart.SKU(sku), Name: "N", UnitPrice: price, Active: kind&8 == 0, MaxQuantityPerLine: qty}}
		cmds := []cart.Command{
			cart.AddItem{CartID: id, RequestID: "r1", CustomerID: cart.CustomerID(customer), RequestedAt: t0, SKU: cart.SKU(sku), Quantity: qty},
			cart.RemoveItem{CartID: id, RequestID: "r2", RequestedAt: t0, SKU: cart.SKU(sku)},
			cart.ChangeQuantity{CartID: id, RequestID: "r3", RequestedAt: t0, SKU: cart.SKU(sku), Quantity: qty},
			cart.Checkout{CartID: id, RequestID: "r4", CustomerID: cart.CustomerID(customer), RequestedAt: t0},
			cart.ClearCart{CartID: id, RequestID: "r5", CustomerID: cart.CustomerID(customer), RequestedAt: t0},
			cart.ExpireCart{CartID: id, RequestID: "r6", RequestedAt: t0, IdleSince: t0, TTL: time.Duration(amount)},
			cart.MergeCarts{CartID: id, RequestID: "r7", CustomerID: cart.CustomerID(customer), RequestedAt: t0, TargetCartID: "c9"},
			cart.MergeInto{CartID: id, RequestID: "r8", CustomerID: cart.CustomerID(customer), RequestedAt: t0, SourceCartID: "g1", Lines: lines},
			cart.MergeReturned{CartID: id, RequestID: "r9", RequestedAt: t0, TargetCartID: "c9", Lines: lines},
		}
		limits := cart.Limits{MaxLines: int(qty), MaxQuantityPerLine: int32(amount)}
		for _, c := range cmds {
			d := cart.Decide(state, c, catalog, limits, t0)
			if d.Accepted() == (d.Rejection.Reason != cart.ReasonNone) {
				t.Fatalf("decision both or neither accepted and rejected: %+v", d)
			}
			for _, e := range d.Events {
				if _, err := cart.Apply(state, e); err != nil {
					t.Fatalf("Apply of decided %v: %v", e.EventType(), err)
				}
			}
			snap := cart.Snapshot{Cart: state, RequestOffset: version}
			next, out := cart.Process(snap, c, version+1, catalog, limits, t0)
			_, expiring := c.(cart.ExpireCart)
			switch {
			case out.Disposition != cart.DispositionAccepted:
			case expiring && !reflect.DeepEqual(next.Cart, cart.CartState{}):
				t.Fatalf("accepted expiry left %+v", next.Cart)
			case !expiring && next.Cart.Version != state.Version+1:
				t.Fatalf("accepted without a version step")
			}
		}
		if !reflect.DeepEqual(state, keep) {
			t.Fatal("Decide or Process modified the state")
		}
	})
}

// FuzzMoney checks the arithmetic against math/big: an exact result or
// ErrAmountOverflow, never a wrapped value.
func FuzzMoney(f *testing.F) {
	f.Add(int64(1), int64(2))
	f.Add(int64(math.MaxInt64), int64(1))
	f.Add(int64(math.MinInt64), int64(-1))
	f.Add(int64(-1), int64(math.MinInt64))
	f.Add(int64(3037000500), int64(3037000500))
	f.Fuzz(func(t *testing.T, a, b int64) {
		ops := []struct {
			name string
			got  func() (cart.Money, error)
			want func(x, y *big.Int) *big.Int
		}{
			{"add", func() (cart.Money, error) { return eur(a).Add(eur(b)) }, new(big.Int).Add},
			{"sub", func() (cart.Money, error) { return eur(a).Sub(eur(b)) }, new(big.Int).Sub},
			{"mul", func() (cart.Money, error) { return eur(a).Mul(b) }, new(big.Int).Mul},
		}
		for _, op := range ops {
			m, err := op.got()
			exact := op.want(big.NewInt(a), big.NewInt(b))
			if exact.IsInt64() {
				if err != nil || m != eur(exact.Int64()) {
					t.Fatalf("%s(%d, %d) = %v, %v; want %v", op.name, a, b, m, err, exact)
				}
			} else if !errors.Is(err, cart.ErrAmountOverflow) {
				t.Fatalf("%s(%d, %d) = %v, %v; want overflow", op.name, a, b, m, err)
			}
		}
	})
}

// sameCart must compare every field; a field added to CartState fails here
// until sameCart learns it.
func TestSameCartCoversEveryField(t *testing.T) {
	if n := reflect.TypeFor[cart.CartState]().NumField(); n != 11 {
		t.Fatalf("CartState has %d fields, sameCart compares 11", n)
	}
}
