package cart

import (
	"fmt"
	"slices"
)

// Apply folds ev into state and returns the new state; it never modifies
// state or ev. It checks only what keeps the state structurally sound
// (identity, sequence, lines, currency, totals) and nothing that depends on
// the catalog or on Limits, so a log written under older rules always
// replays. An event that does not fit returns an *ApplyError wrapping one of
// ErrInvalidState, ErrInvalidEvent, ErrWrongCart, ErrVersionMismatch,
// ErrCartCheckedOut, ErrLineNotFound, ErrQuantityOutOfRange,
// ErrCurrencyMismatch, ErrAmountOverflow, ErrEmptyCart, ErrCheckoutMismatch
// or ErrCustomerMismatch, and state unchanged.
func Apply(state CartState, ev Event) (CartState, error) {
	e, ok := concreteEvent(ev)
	if !ok {
		return state, &ApplyError{Version: state.Version, Err: fmt.Errorf("%w: nil or foreign event", ErrInvalidEvent)}
	}
	next, err := apply(state, e)
	if err != nil {
		return state, &ApplyError{Type: e.EventType(), Version: state.Version, Err: err}
	}
	return next, nil
}

func apply(state CartState, e Event) (CartState, error) {
	if err := state.Validate(); err != nil {
		return state, err
	}
	return applyValid(state, e)
}

// applyValid is apply on a state the caller has just validated: Decide's
// trial fold, which would otherwise validate the same state twice.
func applyValid(state CartState, e Event) (CartState, error) {
	m := e.Meta()
	if !validID(string(m.CartID)) {
		return state, fmt.Errorf("%w: cart id %s", ErrInvalidEvent, idRule)
	}
	if state.CartID != "" && state.CartID != m.CartID {
		return state, ErrWrongCart
	}
	if m.Version != state.Version+1 {
		return state, fmt.Errorf("%w: event version %d after version %d", ErrVersionMismatch, m.Version, state.Version)
	}
	switch e := e.(type) {
	case CartExpired:
		// Expiry ends the cart whatever its status: the id starts over.
		return expire(state, e)
	case CartMergeReturned:
		return returnMerge(state, e)
	}
	switch state.Status {
	case StatusCheckedOut:
		return state, ErrCartCheckedOut
	case StatusMerged:
		return state, ErrCartMerged
	case StatusOpen:
	}
	next := state
	if len(state.Lines) > 0 { // an empty cart keeps nil lines, as a clone does
		// One spare slot: an added line then needs no second allocation.
		next.Lines = make([]Line, len(state.Lines), len(state.Lines)+1)
		copy(next.Lines, state.Lines)
	}
	next.CartID = m.CartID
	switch e := e.(type) {
	case AddItemValidatedRequest:
		if err := checkLineEvent(e.SKU, e.UnitPrice, e.Quantity); err != nil {
			return state, err
		}
		if !validID(string(e.CustomerID)) {
			return state, fmt.Errorf("%w: customer id %s", ErrInvalidEvent, idRule)
		}
		if next.CustomerID != "" && next.CustomerID != e.CustomerID {
			return state, ErrCustomerMismatch
		}
		next.CustomerID = e.CustomerID
		if i := next.lineIndex(e.SKU); i >= 0 {
			l := &next.Lines[i]
			q := int64(l.Quantity) + int64(e.Quantity)
			if q > int64(MaxQuantity) {
				return state, fmt.Errorf("%w: sku %s would hold %d", ErrQuantityOutOfRange, e.SKU, q)
			}
			l.Quantity, l.Name, l.UnitPrice = int32(q), e.Name, e.UnitPrice
		} else {
			next.Lines = append(next.Lines, Line{SKU: e.SKU, Name: e.Name, UnitPrice: e.UnitPrice, Quantity: e.Quantity})
		}
	case RemoveItemValidatedRequest:
		i := next.lineIndex(e.SKU)
		if i < 0 {
			return state, fmt.Errorf("%w: sku %s", ErrLineNotFound, e.SKU)
		}
		next.Lines = slices.Delete(next.Lines, i, i+1)
	case ChangeQuantityValidatedRequest:
		if err := checkLineEvent(e.SKU, e.UnitPrice, e.Quantity); err != nil {
			return state, err
		}
		i := next.lineIndex(e.SKU)
		if i < 0 {
			return state, fmt.Errorf("%w: sku %s", ErrLineNotFound, e.SKU)
		}
		l := &next.Lines[i]
		l.Quantity, l.Name, l.UnitPrice = e.Quantity, e.Name, e.UnitPrice
	case CartCheckedOut:
		if len(next.Lines) == 0 {
			return state, ErrEmptyCart
		}
		if e.CustomerID != next.CustomerID {
			return state, ErrCustomerMismatch
		}
		if !slices.Equal(e.Lines, next.Lines) || e.Subtotal != next.Subtotal || e.ItemCount != next.ItemCount {
			return state, ErrCheckoutMismatch
		}
		next.Status = StatusCheckedOut
		next.CheckedOutAt = m.DecidedAt
	case CartCleared, CartMerged, CartMergedInto:
		if err := applyLifecycle(&next, e); err != nil {
			return state, err
		}
	}
	if err := next.recompute(); err != nil {
		return state, err
	}
	next.Version = m.Version
	next.UpdatedAt = m.DecidedAt
	return next, nil
}

func checkLineEvent(sku SKU, price Money, q int32) error {
	if !validID(string(sku)) {
		return fmt.Errorf("%w: sku %s", ErrInvalidEvent, idRule)
	}
	if err := price.Currency.Validate(); err != nil {
		return fmt.Errorf("%w: unit price: %w", ErrInvalidEvent, err)
	}
	if price.Amount < 0 {
		return fmt.Errorf("%w: negative unit price", ErrInvalidEvent)
	}
	if q < 1 || q > MaxQuantity {
		return fmt.Errorf("%w: %d", ErrQuantityOutOfRange, q)
	}
	return nil
}
