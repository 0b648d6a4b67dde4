package cart_test

import (
	"fmt"
	"time"

	"github.com/cartstream/cartstream/cart"
)

// Decide answers a command with events, Apply folds them into the cart.
func ExampleDecide() {
	catalog := cart.MapCatalog{
		"tea": {SKU: "tea", Name: "Green tea", UnitPrice: cart.Money{Amount: 450, Currency: "EUR"}, Active: true, MaxQuantityPerLine: 5},
	}
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var state cart.CartState

	for _, q := range []int32{2, 4} {
		cmd := cart.AddItem{CartID: "cart-1", RequestID: cart.RequestID(fmt.Sprint("req-", q)), CustomerID: "cust-9", RequestedAt: now, SKU: "tea", Quantity: q}
		d := cart.Decide(state, cmd, catalog, cart.Limits{}, now)
		if !d.Accepted() {
			fmt.Println("rejected:", d.Rejection.Reason, "-", d.Rejection.Message)
			continue
		}
		for _, ev := range d.Events {
			var err error
			if state, err = cart.Apply(state, ev); err != nil {
				fmt.Println("apply:", err)
			}
			fmt.Println(ev.EventType(), "-> version", state.Version)
		}
	}
	fmt.Println(state.Lines[0].Quantity, "x", state.Lines[0].Name, "=", state.Subtotal)
	// Output:
	// AddItemValidatedRequest -> version 1
	// rejected: QUANTITY_OUT_OF_RANGE - sku tea: line would hold 6, at most 5 allowed
	// 2 x Green tea = 900 EUR
}

// A retried request id gets the recorded outcome and no second event; the
// same id reused for another command is rejected.
func ExampleProcess() {
	catalog := cart.MapCatalog{
		"tea": {SKU: "tea", Name: "Green tea", UnitPrice: cart.Money{Amount: 450, Currency: "EUR"}, Active: true},
	}
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	snap := cart.NewSnapshot("cart-1")
	add := cart.AddItem{CartID: "cart-1", RequestID: "req-1", CustomerID: "cust-9", RequestedAt: now, SKU: "tea", Quantity: 1}

	var out cart.Outcome
	snap, out = cart.Process(snap, add, 100, catalog, cart.Limits{}, now)
	fmt.Println(out.Disposition, len(out.Events), "event(s)")

	retry := add
	retry.RequestedAt = now.Add(time.Second)
	snap, out = cart.Process(snap, retry, 101, catalog, cart.Limits{}, now)
	fmt.Println(out.Disposition, len(out.Events), "event(s), original at offset", out.Recorded.Offset)

	reused := add
	reused.Quantity = 3
	snap, out = cart.Process(snap, reused, 102, catalog, cart.Limits{}, now)
	fmt.Println(out.Disposition, out.Invalid.EventType(), out.Invalid.Rejection.Reason)

	o, _ := snap.Lookup("req-1")
	fmt.Println("req-1 accepted:", o.Accepted, "cart version:", snap.Cart.Version, "offset:", snap.RequestOffset)
	// Output:
	// ACCEPTED 1 event(s)
	// DUPLICATE 0 event(s), original at offset 100
	// REJECTED AddItemInvalidRequest DUPLICATE_REQUEST
	// req-1 accepted: true cart version: 1 offset: 102
}

// Replaying cart.validated from the start rebuilds the cart exactly.
func ExampleApply() {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	log := []cart.Event{
		cart.AddItemValidatedRequest{CartID: "cart-1", RequestID: "r1", Version: 1, RequestedAt: now, DecidedAt: now,
			CustomerID: "cust-9", SKU: "tea", Name: "Green tea", UnitPrice: cart.Money{Amount: 450, Currency: "EUR"}, Quantity: 2},
		cart.ChangeQuantityValidatedRequest{CartID: "cart-1", RequestID: "r2", Version: 2, RequestedAt: now, DecidedAt: now,
			SKU: "tea", Name: "Green tea", UnitPrice: cart.Money{Amount: 450, Currency: "EUR"}, Quantity: 3},
		cart.ChangeQuantityValidatedRequest{CartID: "cart-1", RequestID: "r2", Version: 2, RequestedAt: now, DecidedAt: now,
			SKU: "tea", Name: "Green tea", UnitPrice: cart.Money{Amount: 450, Currency: "EUR"}, Quantity: 3},
	}
	var state cart.CartState
	for _, ev := range log {
		next, err := cart.Apply(state, ev)
		if err != nil {
			fmt.Println("skip:", err)
			continue
		}
		state = next
	}
	fmt.Println(state.Version, state.ItemCount, state.Subtotal)
	// Output:
	// skip: cart: apply ChangeQuantityValidatedRequest at version 2: cart: event version out of sequence: event version 2 after version 2
	// 2 3 1350 EUR
}
