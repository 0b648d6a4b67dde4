package cart_test

import (
	"errors"
	"math"
	"testing"

	"github.com/cartstream/cartstream/cart"
)

func addEv(v int64, sku cart.SKU, price cart.Money, q int32) cart.AddItemValidatedRequest {
	return cart.AddItemValidatedRequest{CartID: "c1", RequestID: "r", Version: v, RequestedAt: t0, DecidedAt: t0,
		CustomerID: "u1", SKU: sku, Name: string(sku), UnitPrice: price, Quantity: q}
}

func removeEv(v int64, sku cart.SKU) cart.RemoveItemValidatedRequest {
	return cart.RemoveItemValidatedRequest{CartID: "c1", RequestID: "r", Version: v, RequestedAt: t0, DecidedAt: t0, SKU: sku}
}

func changeEv(v int64, sku cart.SKU, price cart.Money, q int32) cart.ChangeQuantityValidatedRequest {
	return cart.ChangeQuantityValidatedRequest{CartID: "c1", RequestID: "r", Version: v, RequestedAt: t0, DecidedAt: t0,
		SKU: sku, Name: string(sku), UnitPrice: price, Quantity: q}
}

func checkoutEv(s cart.CartState) cart.CartCheckedOut {
	return cart.CartCheckedOut{CartID: "c1", RequestID: "r", Version: s.Version + 1, RequestedAt: t0, DecidedAt: t0,
		CustomerID: s.CustomerID, Lines: s.Clone().Lines, Subtotal: s.Subtotal, ItemCount: s.ItemCount}
}

func foldEvents(tb testing.TB, evs ...cart.Event) cart.CartState {
	tb.Helper()
	var s cart.CartState
	for i, ev := range evs {
		var err error
		if s, err = cart.Apply(s, ev); err != nil {
			tb.Fatalf("event %d: %v", i, err)
		}
	}
	return s
}

func TestApplyEveryEventType(t *testing.T) {
	s := foldEvents(t,
		addEv(1, "a", eur(100), 2),
		addEv(2, "b", eur(50), 1),
		addEv(3, "a", eur(110), 1),   // grows and reprices
		changeEv(4, "b", eur(40), 5), // sets quantity and price
		removeEv(5, "a"),             // keeps the order of the rest
		addEv(6, "c", eur(1), 1),     // appended after b
		&cart.RemoveItemValidatedRequest{CartID: "c1", RequestID: "r", Version: 7, SKU: "c"}, // pointers are fine
	)
	mustEqual(t, "lines", s.Lines, []cart.Line{{SKU: "b", Name: "b", UnitPrice: eur(40), Quantity: 5}})
	mustEqual(t, "subtotal", s.Subtotal, eur(200))
	mustEqual(t, "items", s.ItemCount, int64(5))
	mustEqual(t, "version", s.Version, int64(7))

	out, err := cart.Apply(s, checkoutEv(s))
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "status", out.Status, cart.StatusCheckedOut)
	mustEqual(t, "version", out.Version, int64(8))
	mustEqual(t, "checked out at", out.CheckedOutAt, t0)

	seen := map[cart.EventType]bool{}
	for _, ev := range []cart.Event{addEv(1, "a", eur(1), 1), removeEv(1, "a"), changeEv(1, "a", eur(1), 1), checkoutEv(s)} {
		seen[ev.EventType()] = true
	}
	for et := cart.EventTypeUnspecified; et <= cart.EventTypeCheckoutInvalidRequest; et++ {
		if et.IsValidated() && !seen[et] {
			t.Errorf("no Apply test for %v", et)
		}
	}
}

func TestApplyRejectsEventsThatDoNotFit(t *testing.T) {
	one := foldEvents(t, addEv(1, "a", eur(100), 2))
	done := foldEvents(t, addEv(1, "a", eur(100), 2), checkoutEv(one))
	corrupt := one.Clone()
	corrupt.Subtotal = eur(1)
	otherCustomer := addEv(2, "b", eur(1), 1)
	otherCustomer.CustomerID = "u2"
	badCheckout := checkoutEv(one)
	badCheckout.Subtotal = eur(199)
	badCheckoutLines := checkoutEv(one)
	badCheckoutLines.Lines[0].Quantity = 1
	otherCheckout := checkoutEv(one)
	otherCheckout.CustomerID = "u2"
	emptied := foldEvents(t, addEv(1, "a", eur(1), 1), removeEv(2, "a"))
	emptyCheckout := checkoutEv(emptied)
	otherCart := addEv(2, "b", eur(1), 1)
	otherCart.CartID = "c2"
	var nilEv *cart.CartCheckedOut

	cases := []struct {
		name  string
		state cart.CartState
		ev    cart.Event
		want  error
	}{
		{"nil event", one, nil, cart.ErrInvalidEvent},
		{"nil pointer event", one, nilEv, cart.ErrInvalidEvent},
		{"corrupt state", corrupt, addEv(2, "b", eur(1), 1), cart.ErrInvalidState},
		{"malformed cart id", cart.CartState{}, cart.AddItemValidatedRequest{Version: 1, CustomerID: "u1", SKU: "a", UnitPrice: eur(1), Quantity: 1}, cart.ErrInvalidEvent},
		{"malformed sku", one, addEv(2, "a b", eur(1), 1), cart.ErrInvalidEvent},
		{"malformed customer", one, func() cart.Event { e := addEv(2, "b", eur(1), 1); e.CustomerID = ""; return e }(), cart.ErrInvalidEvent},
		{"bad currency", one, addEv(2, "b", cart.Money{Amount: 1, Currency: "X"}, 1), cart.ErrInvalidEvent},
		{"negative price", one, changeEv(2, "a", eur(-5), 1), cart.ErrInvalidEvent},
		{"wrong cart", one, otherCart, cart.ErrWrongCart},
		{"version gap", one, addEv(3, "b", eur(1), 1), cart.ErrVersionMismatch},
		{"version repeat", one, addEv(1, "b", eur(1), 1), cart.ErrVersionMismatch},
		{"after checkout", done, addEv(3, "b", eur(1), 1), cart.ErrCartCheckedOut},
		{"remove missing line", one, removeEv(2, "b"), cart.ErrLineNotFound},
		{"change missing line", one, changeEv(2, "b", eur(1), 1), cart.ErrLineNotFound},
		{"zero quantity", one, addEv(2, "b", eur(1), 0), cart.ErrQuantityOutOfRange},
		{"change to zero", one, changeEv(2, "a", eur(1), 0), cart.ErrQuantityOutOfRange},
		{"grow past ceiling", one, addEv(2, "a", eur(1), cart.MaxQuantity-1), cart.ErrQuantityOutOfRange},
		{"second currency", one, addEv(2, "b", usd(1), 1), cart.ErrCurrencyMismatch},
		{"overflow", one, addEv(2, "b", eur(math.MaxInt64/2), 3), cart.ErrAmountOverflow},
		{"checkout of empty cart", emptied, emptyCheckout, cart.ErrEmptyCart},
		{"checkout totals differ", one, badCheckout, cart.ErrCheckoutMismatch},
		{"checkout lines differ", one, badCheckoutLines, cart.ErrCheckoutMismatch},
		{"add by another customer", one, otherCustomer, cart.ErrCustomerMismatch},
		{"checkout by another customer", one, otherCheckout, cart.ErrCustomerMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.state.Clone()
			got, err := cart.Apply(tc.state, tc.ev)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			var ae *cart.ApplyError
			if !errors.As(err, &ae) || !cart.IsApplyError(err) {
				t.Fatalf("err %T is not an *ApplyError", err)
			}
			mustEqual(t, "state returned unchanged", got, before)
			mustEqual(t, "input unchanged", tc.state, before)
		})
	}
}

// Apply must not write through the input's slices: the write side keeps
// the previous state to roll back to after an aborted transaction.
func TestApplyDoesNotMutateInput(t *testing.T) {
	s := foldEvents(t, addEv(1, "a", eur(100), 2), addEv(2, "b", eur(5), 1), addEv(3, "c", eur(7), 1))
	keep := s.Clone()
	for _, ev := range []cart.Event{addEv(4, "a", eur(9), 1), changeEv(4, "b", eur(5), 3), removeEv(4, "a"), checkoutEv(s)} {
		if _, err := cart.Apply(s, ev); err != nil {
			t.Fatalf("%T: %v", ev, err)
		}
		mustEqual(t, "input after "+ev.EventType().String(), s, keep)
	}
	co := checkoutEv(s)
	out, err := cart.Apply(s, co)
	if err != nil {
		t.Fatal(err)
	}
	co.Lines[0].Quantity = 99
	mustEqual(t, "state does not alias the event's lines", out.Lines, keep.Lines)
}
