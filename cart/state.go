package cart

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Line is one SKU in a cart.
type Line struct {
	SKU  SKU
	Name string
	// UnitPrice is the price the customer was shown when the line last grew.
	UnitPrice Money
	Quantity  int32
}

// Total is UnitPrice times Quantity.
func (l Line) Total() (Money, error) { return l.UnitPrice.Mul(int64(l.Quantity)) }

// CartState is the aggregate: the cart as folded from its events. The zero
// value is the empty open cart before its first event.
type CartState struct {
	CartID CartID
	// CustomerID owns the cart from its first AddItem on.
	CustomerID CustomerID
	Status     Status
	// Currency is the currency of every line; empty while the cart has no
	// lines, so an emptied cart may start over in another currency.
	Currency Currency
	// Lines are in the order their SKUs were first added.
	Lines []Line
	// Subtotal and ItemCount are kept (the projection serves them as is)
	// and checked by Validate against the lines.
	Subtotal  Money
	ItemCount int64
	// Version is the number of events applied.
	Version int64
	// UpdatedAt is the DecidedAt of the last event; CheckedOutAt that of
	// the checkout.
	UpdatedAt    time.Time
	CheckedOutAt time.Time
	// MergedInto is the cart a MergeCarts moved the lines to; set only
	// with StatusMerged.
	MergedInto CartID
}

// Clone returns a copy of s that shares no memory with it.
func (s CartState) Clone() CartState {
	s.Lines = slices.Clone(s.Lines)
	return s
}

// Line returns the line of sku.
func (s CartState) Line(sku SKU) (Line, bool) {
	if i := s.lineIndex(sku); i >= 0 {
		return s.Lines[i], true
	}
	return Line{}, false
}

func (s CartState) lineIndex(sku SKU) int {
	return slices.IndexFunc(s.Lines, func(l Line) bool { return l.SKU == sku })
}

// totals sums the lines, reporting a currency mismatch or an overflow.
func totals(lines []Line) (cur Currency, sub Money, items int64, err error) {
	if len(lines) == 0 {
		return "", Money{}, 0, nil
	}
	cur = lines[0].UnitPrice.Currency
	sub = Money{Currency: cur}
	for _, l := range lines {
		t, err := l.Total()
		if err != nil {
			return "", Money{}, 0, fmt.Errorf("line %s: %w", l.SKU, err)
		}
		if sub, err = sub.Add(t); err != nil {
			return "", Money{}, 0, fmt.Errorf("line %s: %w", l.SKU, err)
		}
		items += int64(l.Quantity)
	}
	return cur, sub, items, nil
}

// recompute derives Currency, Subtotal and ItemCount from the lines.
func (s *CartState) recompute() error {
	cur, sub, items, err := totals(s.Lines)
	if err != nil {
		return err
	}
	s.Currency, s.Subtotal, s.ItemCount = cur, sub, items
	return nil
}

// Validate reports every invariant s breaks; each error wraps
// ErrInvalidState. Decide and Apply refuse to work on an invalid state, so a
// corrupt snapshot surfaces as INVALID_STATE instead of spreading.
func (s CartState) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidState}, args...)...))
	}
	if s.CartID == "" {
		if s.Version != 0 {
			bad("a cart with events has no id")
		}
	} else if !validID(string(s.CartID)) {
		bad("cart id %s", idRule)
	}
	if s.CustomerID != "" && !validID(string(s.CustomerID)) {
		bad("customer id %s", idRule)
	}
	if !s.Status.Valid() {
		bad("unknown status %d", uint8(s.Status))
	}
	if s.Version < 0 || s.Version == math.MaxInt64 {
		bad("version %d out of range", s.Version)
	}
	if s.Version == 0 && (len(s.Lines) > 0 || s.Status != StatusOpen || s.CustomerID != "") {
		bad("a cart without events must be empty and open")
	}
	if s.Status == StatusCheckedOut && len(s.Lines) == 0 {
		bad("a checked-out cart has no lines")
	}
	if (s.Status == StatusMerged) != (s.MergedInto != "") {
		bad("status %v with merged-into %q", s.Status, s.MergedInto)
	}
	if s.Status == StatusMerged && (len(s.Lines) > 0 || !validID(string(s.MergedInto))) {
		bad("a merged cart keeps no lines and names a valid target")
	}
	if len(s.Lines) > 0 && s.CustomerID == "" {
		bad("a cart with lines has no customer")
	}
	dup := s.duplicateSKUs()
	for i, l := range s.Lines {
		if !validID(string(l.SKU)) {
			bad("line %d: sku %s", i, idRule)
		} else if dup(i) {
			bad("line %d: duplicate sku %s", i, l.SKU)
		}
		if l.Quantity < 1 || l.Quantity > MaxQuantity {
			bad("line %s: quantity %d outside 1..%d", l.SKU, l.Quantity, MaxQuantity)
		}
		if l.UnitPrice.Amount < 0 {
			bad("line %s: negative unit price", l.SKU)
		}
		if err := l.UnitPrice.Currency.Validate(); err != nil {
			bad("line %s: %v", l.SKU, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	cur, sub, items, err := totals(s.Lines)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidState, err)
	}
	if cur != s.Currency || sub != s.Subtotal || items != s.ItemCount {
		return fmt.Errorf("%w: currency %q, subtotal %v, item count %d do not match the lines (%q, %v, %d)",
			ErrInvalidState, s.Currency, s.Subtotal, s.ItemCount, cur, sub, items)
	}
	return nil
}

// duplicateSKUs returns whether line i repeats the SKU of an earlier line.
// Validate runs on every decided command and a map per call was a tenth of
// the manager's CPU, so the few lines of a real cart are scanned; a state
// from outside with many lines gets a set, so that it costs linear time.
func (s CartState) duplicateSKUs() func(i int) bool {
	if len(s.Lines) <= 32 {
		return func(i int) bool {
			for _, l := range s.Lines[:i] {
				if l.SKU == s.Lines[i].SKU {
					return true
				}
			}
			return false
		}
	}
	seen := make(map[SKU]bool, len(s.Lines))
	return func(i int) bool {
		dup := seen[s.Lines[i].SKU]
		seen[s.Lines[i].SKU] = true
		return dup
	}
}
