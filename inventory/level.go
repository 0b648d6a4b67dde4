package inventory

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cartstream/cartstream/cart"
)

// MaxUnits bounds a stock level and an adjustment: far beyond any shop,
// small enough that no sum of two overflows int64.
const MaxUnits = 1 << 40

// Level is the stock of one SKU, the record of inventory.stock (compacted,
// keyed by SKU).
type Level struct {
	SKU cart.SKU
	// Available is what may still be reserved.
	Available int64
	// Reserved is what granted reservations hold: checkouts in progress and
	// sold units (a successful checkout keeps its reservation).
	Reserved int64
	// Version counts the requests that changed the level.
	Version   int64
	UpdatedAt time.Time
	// Adjustments are the most recent adjustments that carried an id,
	// oldest first, at most AdjustmentWindow: what makes AdjustStock safe
	// to retry. They live in the level record, so the window survives a
	// restart of the processor with the level it explains.
	Adjustments []Adjustment
}

// AdjustmentWindow bounds Level.Adjustments. An adjustment repeated after
// AdjustmentWindow later adjustments of its SKU is no longer recognized:
// far beyond any client's retries, while a level record stays a few
// kilobytes at most.
const AdjustmentWindow = 64

// AdjustmentID is a client's id for one stock adjustment: the same id
// sent again (a retry) is applied once. Same syntax as a request id.
type AdjustmentID string

// Validate reports whether id is 1 to 64 characters of A-Z a-z 0-9 . _ -.
func (id AdjustmentID) Validate() error {
	if err := cart.RequestID(id).Validate(); err != nil {
		return fmt.Errorf("adjustment id: %w", err)
	}
	return nil
}

// Adjustment is what one identified adjustment produced, the answer its
// repeats get.
type Adjustment struct {
	ID    AdjustmentID
	Delta int64
	// Applied: the adjustment changed Available; false when it was
	// refused (it would have left fewer than zero).
	Applied bool
	// Available is the SKU's Available right after it.
	Available int64
}

// Lookup returns the recorded adjustment id, if the window holds it.
func (l Level) Lookup(id AdjustmentID) (Adjustment, bool) {
	for i := len(l.Adjustments) - 1; i >= 0; i-- {
		if l.Adjustments[i].ID == id {
			return l.Adjustments[i], true
		}
	}
	return Adjustment{}, false
}

// Equal reports whether l and o are the same level, window included.
func (l Level) Equal(o Level) bool {
	return l.SKU == o.SKU && l.Available == o.Available && l.Reserved == o.Reserved && l.Version == o.Version &&
		l.UpdatedAt.Equal(o.UpdatedAt) && slices.Equal(l.Adjustments, o.Adjustments)
}

// withAdjustment returns l with a appended to a new window (the old one
// is shared with the caller's copy and never written), the oldest entries
// dropped beyond AdjustmentWindow.
func (l Level) withAdjustment(a Adjustment) Level {
	keep := l.Adjustments
	if len(keep) >= AdjustmentWindow {
		keep = keep[len(keep)-AdjustmentWindow+1:]
	}
	w := make([]Adjustment, 0, len(keep)+1)
	l.Adjustments = append(append(w, keep...), a)
	return l
}

// Tracked reports whether the SKU's stock is counted: it has been set or
// adjusted at least once.
func (l Level) Tracked() bool { return l.Version > 0 }

// Validate reports what l breaks.
func (l Level) Validate() error {
	var errs []error
	if err := l.SKU.Validate(); err != nil {
		errs = append(errs, err)
	}
	if l.Available < 0 || l.Available > MaxUnits || l.Reserved < 0 || l.Reserved > MaxUnits || l.Version < 0 {
		errs = append(errs, fmt.Errorf("%w: sku %s: available %d, reserved %d, version %d", ErrInvalidLevel, l.SKU, l.Available, l.Reserved, l.Version))
	}
	if len(l.Adjustments) > AdjustmentWindow {
		errs = append(errs, fmt.Errorf("%w: sku %s: %d adjustments in the window, at most %d", ErrInvalidLevel, l.SKU, len(l.Adjustments), AdjustmentWindow))
	}
	for _, a := range l.Adjustments {
		if a.ID.Validate() != nil || a.Delta < -MaxUnits || a.Delta > MaxUnits || a.Available < 0 || a.Available > MaxUnits {
			errs = append(errs, fmt.Errorf("%w: sku %s: malformed adjustment %q in the window", ErrInvalidLevel, l.SKU, a.ID))
			break
		}
	}
	return errors.Join(errs...)
}

// Sentinels.
var (
	// ErrInvalidLevel is a level that breaks an invariant.
	ErrInvalidLevel = errors.New("inventory: invalid stock level")
	// ErrInvalidRequest is a request that cannot be applied: malformed, or
	// an adjustment that would make the stock negative.
	ErrInvalidRequest = errors.New("inventory: invalid request")
)

// Kind is the kind of an inventory request.
type Kind uint8

// The request kinds.
const (
	KindUnspecified Kind = iota
	KindReserve          // hold units for a checkout line; answered to the cart
	KindRelease          // give a granted reservation back
	KindSet              // set Available (a stock count)
	KindAdjust           // add to Available (a restock, or a negative correction)
)

var kindNames = []string{"UNSPECIFIED", "RESERVE", "RELEASE", "SET", "ADJUST"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Request is one record of inventory.requests, keyed by SKU.
type Request struct {
	Kind Kind
	// RequestID is the writer's id: the cart manager's is the reservation
	// id, an operator's is the admin call's request id.
	RequestID   cart.RequestID
	SKU         cart.SKU
	RequestedAt time.Time
	// Reservation: KindReserve and KindRelease.
	Reservation cart.Reservation
	// Units: the new Available for KindSet, the delta for KindAdjust.
	Units int64
	// AdjustmentID: KindAdjust only, optional. An adjustment with an id
	// the SKU's window holds is a repeat: it changes nothing and answers
	// what the first one did. Without an id, every request applies.
	AdjustmentID AdjustmentID
}

// Validate reports what makes r unusable.
func (r Request) Validate() error {
	var errs []error
	if err := r.SKU.Validate(); err != nil {
		errs = append(errs, err)
	}
	switch r.Kind {
	case KindReserve, KindRelease:
		res := r.Reservation
		if res.SKU != r.SKU || res.Quantity < 1 || res.Quantity > cart.MaxQuantity || res.ID == "" ||
			res.CartID.Validate() != nil || res.CheckoutRequestID.Validate() != nil {
			errs = append(errs, fmt.Errorf("%w: malformed reservation", ErrInvalidRequest))
		}
	case KindSet:
		if r.Units < 0 || r.Units > MaxUnits {
			errs = append(errs, fmt.Errorf("%w: stock %d outside 0..%d", ErrInvalidRequest, r.Units, int64(MaxUnits)))
		}
	case KindAdjust:
		if r.Units < -MaxUnits || r.Units > MaxUnits {
			errs = append(errs, fmt.Errorf("%w: adjustment %d outside ±%d", ErrInvalidRequest, r.Units, int64(MaxUnits)))
		}
		if r.AdjustmentID != "" {
			if err := r.AdjustmentID.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("%w: %w", ErrInvalidRequest, err))
			}
		}
	default:
		errs = append(errs, fmt.Errorf("%w: kind %v", ErrInvalidRequest, r.Kind))
	}
	if r.Kind != KindAdjust && r.AdjustmentID != "" {
		errs = append(errs, fmt.Errorf("%w: an adjustment id on a %v request", ErrInvalidRequest, r.Kind))
	}
	return errors.Join(errs...)
}

// Result is what Step decided.
type Result struct {
	// Level is the SKU's level after the request. On Err its stock is
	// unchanged; only a refused identified adjustment adds itself to the
	// window (Changed is then true, so its repeats are refused alike).
	Level Level
	// Changed: Level must be written to inventory.stock.
	Changed bool
	// Repeat is the first result of an adjustment whose id the window
	// holds: the request changed nothing. Err is set when that first one
	// was refused, or when the repeat asks for another delta (a reused id).
	Repeat *Adjustment
	// Answer is the reply to a KindReserve, for the cart's partition.
	Answer *cart.ReservationAnswer
	// Err: the request was refused (set or adjust out of range,
	// malformed). Never set for a well-formed reserve or release.
	Err error
}

// Step applies r to l (the zero Level of r.SKU when the SKU has none yet)
// at decidedAt. It is pure and total.
//
// A SKU whose level was never set (Version 0) is not tracked: the shop
// does not count it (a digital good, or a product nobody stocked yet), so
// its reservations are granted without changing anything, and releases do
// nothing. The first Set or Adjust starts tracking it. (The soft check of
// the cart manager agrees: a SKU without a level is not limited.)
//
//   - Reserve: granted when Available covers the quantity whole, which
//     moves the units from Available to Reserved; refused otherwise. Either
//     way the answer goes back to the cart.
//   - Release: moves the units back from Reserved to Available (at most
//     what Reserved holds, so a release that was never granted cannot
//     create stock).
//   - Set and Adjust: change Available; an adjustment below zero is
//     refused, never clamped.
//   - An Adjust with an AdjustmentID is applied once: its outcome (applied
//     or refused, and Available after it) joins the level's window, and a
//     request with an id the window holds changes nothing and gets that
//     outcome again (Result.Repeat). A refusal joins the window only on a
//     tracked SKU: an untracked one has no level to keep it in, and a
//     retry finds it as untracked as before.
func Step(l Level, r Request, decidedAt time.Time) Result {
	if l.SKU == "" {
		l.SKU = r.SKU
	}
	if err := r.Validate(); err != nil {
		return Result{Level: l, Err: err}
	}
	if l.SKU != r.SKU {
		return Result{Level: l, Err: fmt.Errorf("%w: request for sku %s applied to %s", ErrInvalidRequest, r.SKU, l.SKU)}
	}
	if r.Kind == KindAdjust && r.AdjustmentID != "" {
		if a, ok := l.Lookup(r.AdjustmentID); ok {
			return repeat(l, r, a)
		}
	}
	next := l
	next.Version++
	next.UpdatedAt = decidedAt.Round(0).UTC()
	if !l.Tracked() {
		switch r.Kind {
		case KindReserve:
			return Result{Level: l, Answer: &cart.ReservationAnswer{Reservation: r.Reservation, Granted: true, DecidedAt: next.UpdatedAt}}
		case KindRelease:
			return Result{Level: l}
		case KindSet, KindAdjust, KindUnspecified:
		}
	}
	switch r.Kind {
	case KindReserve:
		q := int64(r.Reservation.Quantity)
		granted := q <= l.Available
		if granted {
			next.Available -= q
			next.Reserved += q
		}
		ans := &cart.ReservationAnswer{Reservation: r.Reservation, Granted: granted, Available: next.Available, DecidedAt: next.UpdatedAt}
		if !granted {
			return Result{Level: l, Answer: ans}
		}
		return Result{Level: next, Changed: true, Answer: ans}
	case KindRelease:
		q := min(int64(r.Reservation.Quantity), l.Reserved)
		next.Available += q
		next.Reserved -= q
	case KindSet:
		next.Available = r.Units
	case KindAdjust:
		n := l.Available + r.Units
		if n < 0 || n > MaxUnits {
			err := fmt.Errorf("%w: sku %s: adjusting %d by %d leaves %d", ErrInvalidRequest, l.SKU, l.Available, r.Units, n)
			if r.AdjustmentID == "" || !l.Tracked() {
				return Result{Level: l, Err: err}
			}
			// The stock stays; the refusal is remembered, so a retry is
			// refused too even if a restock came in between.
			return Result{Level: l.withAdjustment(Adjustment{ID: r.AdjustmentID, Delta: r.Units, Available: l.Available}), Changed: true, Err: err}
		}
		next.Available = n
		if r.AdjustmentID != "" {
			next = next.withAdjustment(Adjustment{ID: r.AdjustmentID, Delta: r.Units, Applied: true, Available: n})
		}
	}
	return Result{Level: next, Changed: true}
}

// repeat answers an adjustment whose id the window holds with what the
// first one produced, changing nothing.
func repeat(l Level, r Request, a Adjustment) Result {
	res := Result{Level: l, Repeat: &a}
	switch {
	case a.Delta != r.Units:
		res.Err = fmt.Errorf("%w: sku %s: adjustment id %s was used for a delta of %d, now %d; the first one stands", ErrInvalidRequest, l.SKU, r.AdjustmentID, a.Delta, r.Units)
	case !a.Applied:
		res.Err = fmt.Errorf("%w: sku %s: adjustment %s (%+d) was refused the first time", ErrInvalidRequest, l.SKU, r.AdjustmentID, a.Delta)
	}
	return res
}
