package cart

import (
	"errors"
	"fmt"
)

// Sentinels for the concepts this package owns. Callers classify with
// errors.Is or with the predicates below, never by comparing messages.
var (
	// ErrInvalidArgument marks syntactic problems in a command or value; a
	// *ValidationError matches it.
	ErrInvalidArgument = errors.New("cart: invalid argument")
	// ErrInvalidCurrency is a currency code that is not three upper-case
	// ASCII letters.
	ErrInvalidCurrency = errors.New("cart: invalid currency code")
	// ErrCurrencyMismatch is arithmetic or a fold step over two currencies.
	ErrCurrencyMismatch = errors.New("cart: currency mismatch")
	// ErrAmountOverflow is an amount that does not fit in int64 minor units.
	ErrAmountOverflow = errors.New("cart: amount overflow")
	// ErrInvalidLimits is a Limits value outside its documented range.
	ErrInvalidLimits = errors.New("cart: invalid limits")
	// ErrInvalidProduct is a catalog entry the domain cannot sell from.
	ErrInvalidProduct = errors.New("cart: invalid product")
	// ErrUnknownName is a name that Parse* does not know.
	ErrUnknownName = errors.New("cart: unknown name")

	// ErrInvalidState is a CartState or Snapshot that breaks an invariant,
	// typically a corrupt or hand-edited record.
	ErrInvalidState = errors.New("cart: invalid state")
	// ErrInvalidEvent is an event with missing or malformed fields.
	ErrInvalidEvent = errors.New("cart: invalid event")
	// ErrWrongCart is an event for another cart than the state.
	ErrWrongCart = errors.New("cart: event for another cart")
	// ErrVersionMismatch is an event out of sequence: a gap or a repeat in
	// the log.
	ErrVersionMismatch = errors.New("cart: event version out of sequence")
	// ErrCartCheckedOut is an event after the checkout.
	ErrCartCheckedOut = errors.New("cart: cart is checked out")
	// ErrCartMerged is an event after the cart was merged into another.
	ErrCartMerged = errors.New("cart: cart is merged")
	// ErrLineNotFound is an event about a line the cart does not hold.
	ErrLineNotFound = errors.New("cart: line not found")
	// ErrQuantityOutOfRange is a line quantity outside 1..MaxQuantity.
	ErrQuantityOutOfRange = errors.New("cart: quantity out of range")
	// ErrEmptyCart is a checkout event for a cart without lines.
	ErrEmptyCart = errors.New("cart: cart is empty")
	// ErrCheckoutMismatch is a checkout event whose lines or totals differ
	// from the cart it closes.
	ErrCheckoutMismatch = errors.New("cart: checkout does not match the cart")
	// ErrCustomerMismatch is an event by another customer than the cart's.
	ErrCustomerMismatch = errors.New("cart: event for another customer")
)

// ApplyError is returned by Apply for an event that does not fit the state.
// It wraps one of the sentinels above, so errors.Is works through it.
type ApplyError struct {
	// Type is the event's type; zero when the event was nil.
	Type EventType
	// Version is the state's version the event was applied to.
	Version int64
	Err     error
}

func (e *ApplyError) Error() string {
	return fmt.Sprintf("cart: apply %s at version %d: %v", e.Type, e.Version, e.Err)
}

func (e *ApplyError) Unwrap() error { return e.Err }

// FieldViolation names one field of a request and what is wrong with it. It
// maps one to one onto google.rpc.BadRequest.FieldViolation. Descriptions
// never echo the offending value, so they are safe to log and to return.
type FieldViolation struct {
	Field       string
	Description string
}

// ValidationError lists every field violation of a request, not only the
// first, so a client can fix them all in one round trip.
type ValidationError struct {
	Violations []FieldViolation
}

func (e *ValidationError) Error() string {
	s := "cart: invalid argument"
	for i, v := range e.Violations {
		if i == 0 {
			s += ": "
		} else {
			s += "; "
		}
		s += v.Field + " " + v.Description
	}
	return s
}

// Is makes errors.Is(err, ErrInvalidArgument) true for every ValidationError.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidArgument }

// IsInvalidArgument reports whether err is a syntactic problem the caller
// should answer with INVALID_ARGUMENT.
func IsInvalidArgument(err error) bool { return errors.Is(err, ErrInvalidArgument) }

// FieldViolations returns the violations carried by err, or nil.
func FieldViolations(err error) []FieldViolation {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Violations
	}
	return nil
}

// IsOverflow reports whether err comes from an amount that does not fit.
func IsOverflow(err error) bool { return errors.Is(err, ErrAmountOverflow) }

// IsApplyError reports whether err is an event that did not fit its state,
// which in a replay means the log and the fold disagree.
func IsApplyError(err error) bool {
	var ae *ApplyError
	return errors.As(err, &ae)
}

// violations collects field problems in the order they are found.
type violations []FieldViolation

func (v *violations) add(field, description string) {
	*v = append(*v, FieldViolation{Field: field, Description: description})
}

func (v violations) err() error {
	if len(v) == 0 {
		return nil
	}
	return &ValidationError{Violations: v}
}
