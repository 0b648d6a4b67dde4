package inventory

import (
	"errors"
	"fmt"
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
	default:
		errs = append(errs, fmt.Errorf("%w: kind %v", ErrInvalidRequest, r.Kind))
	}
	return errors.Join(errs...)
}

// Result is what Step decided.
type Result struct {
	// Level is the SKU's level after the request (unchanged on Err).
	Level Level
	// Changed: Level must be written to inventory.stock.
	Changed bool
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
			return Result{Level: l, Err: fmt.Errorf("%w: sku %s: adjusting %d by %d leaves %d", ErrInvalidRequest, l.SKU, l.Available, r.Units, n)}
		}
		next.Available = n
	}
	return Result{Level: next, Changed: true}
}
