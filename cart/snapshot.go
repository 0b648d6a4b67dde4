package cart

import (
	"errors"
	"fmt"
	"time"
)

// RequestWindowSize bounds Snapshot.Window. A retry older than the last
// RequestWindowSize requests of its cart is no longer recognized as one; 64
// covers any client retry policy while keeping a snapshot record small.
const RequestWindowSize = 64

// RequestOutcome is what became of one request: the window entry the read
// side answers "what happened to request X" with, and the write side
// deduplicates retries with.
type RequestOutcome struct {
	RequestID RequestID
	// Offset is the request's offset in its cart.requests partition.
	Offset int64
	Kind   Kind
	// Accepted is true when the request produced events; Reason and
	// Message are then empty.
	Accepted bool
	Reason   Reason
	Message  string
	// Fingerprint identifies the command's content, so a reused request id
	// is told apart from a retry.
	Fingerprint Fingerprint
	// CartVersion is the cart's version right after the request.
	CartVersion int64
}

// Rejection returns the outcome's rejection; zero when it was accepted.
func (o RequestOutcome) Rejection() Rejection {
	return Rejection{Reason: o.Reason, Message: o.Message}
}

// Snapshot is the write side's durable per-cart record (compacted topic
// cart.state, key = cart id): the cart, the last request offset it covers,
// and the outcomes of the cart's recent requests, oldest first.
//
// The zero Snapshot claims to have processed offset 0; start from
// NewSnapshot instead.
type Snapshot struct {
	Cart CartState
	// RequestOffset is the offset of the last request processed in the
	// cart's cart.requests partition; -1 when none.
	RequestOffset int64
	// Window holds at most RequestWindowSize outcomes, oldest first.
	Window []RequestOutcome
	// Pending is the checkout waiting for its reservations; nil when none
	// (always nil unless the write side runs ProcessReserving).
	Pending *PendingCheckout
}

// NewSnapshot returns the snapshot of a cart that has seen no request.
func NewSnapshot(id CartID) Snapshot {
	return Snapshot{Cart: CartState{CartID: id}, RequestOffset: -1}
}

// Clone returns a copy of s that shares no memory with it.
func (s Snapshot) Clone() Snapshot {
	s.Cart = s.Cart.Clone()
	s.Window = append([]RequestOutcome(nil), s.Window...)
	if s.Pending != nil {
		p := s.Pending.clone()
		s.Pending = &p
	}
	return s
}

// Lookup returns the outcome recorded for id, the newest if a malformed
// window holds several.
func (s Snapshot) Lookup(id RequestID) (RequestOutcome, bool) {
	if id == "" {
		return RequestOutcome{}, false // never recorded (a window holds valid ids)
	}
	last := id[len(id)-1]
	for i := len(s.Window) - 1; i >= 0; i-- {
		// The last byte first: ids that count up (client sequences) share
		// long prefixes, and a full comparison against every entry of the
		// window was 3% of the manager's drain.
		w := s.Window[i].RequestID
		if len(w) == len(id) && w[len(w)-1] == last && w == id {
			return s.Window[i], true
		}
	}
	return RequestOutcome{}, false
}

// Covers reports whether the snapshot has passed offset, i.e. whether a
// read waiting on that consistency token may answer.
func (s Snapshot) Covers(offset int64) bool { return offset <= s.RequestOffset }

// Validate reports every invariant s breaks; each error wraps
// ErrInvalidState. Use it on snapshots read back from Kafka.
func (s Snapshot) Validate() error {
	var errs []error
	if err := s.Cart.Validate(); err != nil {
		errs = append(errs, err)
	}
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidState}, args...)...))
	}
	if s.RequestOffset < -1 {
		bad("request offset %d", s.RequestOffset)
	}
	if len(s.Window) > RequestWindowSize {
		bad("window holds %d outcomes, more than %d", len(s.Window), RequestWindowSize)
	}
	seen := make(map[RequestID]bool, len(s.Window))
	prev := int64(-1)
	for i, o := range s.Window {
		switch {
		case !validID(string(o.RequestID)):
			bad("window %d: request id %s", i, idRule)
		case seen[o.RequestID]:
			bad("window %d: duplicate request id %s", i, o.RequestID)
		}
		seen[o.RequestID] = true
		if o.Offset <= prev || o.Offset > s.RequestOffset {
			bad("window %d: offset %d out of order or beyond %d", i, o.Offset, s.RequestOffset)
		}
		prev = o.Offset
		if !o.Kind.Valid() {
			bad("window %d: unknown kind", i)
		}
		if o.Accepted != (o.Reason == ReasonNone) || !o.Reason.Valid() {
			bad("window %d: accepted %t with reason %v", i, o.Accepted, o.Reason)
		}
		if o.CartVersion < 0 || o.CartVersion > s.Cart.Version {
			bad("window %d: cart version %d beyond %d", i, o.CartVersion, s.Cart.Version)
		}
	}
	if s.Pending != nil {
		if err := s.Pending.validate(s); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Disposition says what the caller of Process must write.
type Disposition uint8

// The dispositions.
const (
	// DispositionAccepted: write Outcome.Events to cart.validated and the
	// new snapshot.
	DispositionAccepted Disposition = iota + 1
	// DispositionRejected: write Outcome.Invalid to cart.invalid and the
	// new snapshot.
	DispositionRejected
	// DispositionDuplicate: a retry of a recorded request; write only the
	// new snapshot (its RequestOffset moved), no event of any kind.
	// Outcome.Recorded is the original outcome to answer with.
	DispositionDuplicate
	// DispositionStale: the offset is not after the snapshot's
	// RequestOffset, so the snapshot already covers it (a redelivery
	// after a rewind). Write nothing.
	DispositionStale
	// DispositionPending: a checkout waits for its reservations (see
	// ProcessReserving); write Outcome.Reserve to the inventory's requests
	// and the new snapshot, nothing to the cart's event topics yet.
	DispositionPending
	// DispositionAnswered: a reservation answer was recorded and the
	// checkout still waits for others (or the answer was stray); write the
	// new snapshot and Outcome.Release, if any.
	DispositionAnswered
)

var dispositionNames = []string{"", "ACCEPTED", "REJECTED", "DUPLICATE", "STALE", "PENDING", "ANSWERED"}

func (d Disposition) String() string { return nameOf(dispositionNames, d, "Disposition") }

// Outcome is the result of Process.
type Outcome struct {
	Disposition Disposition
	// Events are the events to append; only for DispositionAccepted.
	Events []Event
	// Invalid is the rejection record; only for DispositionRejected.
	Invalid *InvalidRequest
	// Recorded is the request's outcome: the new window entry, or for a
	// duplicate the original one. Zero for DispositionStale.
	Recorded RequestOutcome
	// Cart is the cart after the step. It may share memory with the
	// returned snapshot's cart: read it, never modify it.
	Cart CartState
	// Reserve are the reservation requests a checkout sends to the
	// inventory (DispositionPending only).
	Reserve []Reservation
	// Release are granted reservations to give back: a checkout that
	// failed for stock, or a stray grant (DispositionRejected,
	// DispositionAnswered).
	Release []Reservation
}

// Process is the write side's whole step for one request read at offset in
// its cart.requests partition: deduplicate, Decide, Apply, record. It is
// pure and total; it returns the next snapshot and never modifies snap.
//
//   - offset <= snap.RequestOffset (or negative): DispositionStale, snap
//     returned as is.
//   - cmd's request id is in the window with the same fingerprint: the
//     recorded outcome, DispositionDuplicate, no events, only
//     RequestOffset advances.
//   - the id is in the window with another fingerprint: rejected with
//     DUPLICATE_REQUEST; the window keeps the original entry so retries of
//     the original still deduplicate.
//   - an ExpireCart of a cart without events (version 0) whose id is not
//     ExpireUntouchedRequestID(snap.RequestOffset): rejected NOT_EXPIRED,
//     since a request reached the cart after the expiry was asked.
//   - otherwise Decide and Apply; the outcome, accepted or rejected, is
//     appended to the window (oldest dropped beyond RequestWindowSize)
//     unless the request id is malformed, and RequestOffset advances.
func Process(snap Snapshot, cmd Command, offset int64, catalog Catalog, limits Limits, decidedAt time.Time) (Snapshot, Outcome) {
	if offset < 0 || offset <= snap.RequestOffset {
		return snap.Clone(), Outcome{Disposition: DispositionStale, Cart: snap.Cart.Clone()}
	}
	// next shares nothing with snap: its window is built fresh below (one
	// copy, where cloning and then appending would copy it twice), and its
	// cart is either the fold's new state or a clone.
	next := snap
	next.RequestOffset = offset
	if snap.Pending != nil {
		p := snap.Pending.clone()
		next.Pending = &p
	}

	c, ok := Concrete(cmd)
	rec := RequestOutcome{Offset: offset, CartVersion: snap.Cart.Version}
	recordable := false
	if ok {
		rec.RequestID, rec.Kind, rec.Fingerprint = c.Meta().RequestID, c.Kind(), FingerprintOf(c)
		recordable = validID(string(rec.RequestID))
	}
	if recordable {
		if prev, found := snap.Lookup(rec.RequestID); found {
			next.Cart, next.Window = snap.Cart.Clone(), newWindow(snap.Window, nil)
			if prev.Fingerprint == rec.Fingerprint {
				return next, Outcome{Disposition: DispositionDuplicate, Recorded: prev, Cart: next.Cart.Clone()}
			}
			rej := Rejection{Reason: ReasonDuplicateRequest, Message: "request id was already used for a different command"}
			rec.Reason, rec.Message = rej.Reason, rej.Message
			inv := NewInvalidRequest(c, rej, decidedAt)
			return next, Outcome{Disposition: DispositionRejected, Invalid: &inv, Recorded: rec, Cart: next.Cart.Clone()}
		}
	}

	var d Decision
	var folded CartState
	if ex, isExpiry := c.(ExpireCart); isExpiry && snap.Cart.Version == 0 && ex.RequestID != ExpireUntouchedRequestID(snap.RequestOffset) {
		// A cart without events has no version to tell a touch by: the
		// expiry names the last request the manager saw, and another
		// request since (or a zombie's stale ask) keeps the cart.
		d = rejected(ReasonNotExpired, "cart without events was touched after its expiry was asked")
	} else {
		// decide's trial fold is the new state (one event per decision):
		// folding again would clone and validate the cart a second time.
		d, folded = decide(snap.Cart, cmd, catalog, limits, decidedAt)
	}
	out := Outcome{}
	if d.Accepted() {
		next.Cart = folded
		out.Disposition, out.Events = DispositionAccepted, d.Events
		rec.Accepted, rec.CartVersion = true, folded.Version
	}
	if !d.Accepted() {
		next.Cart = snap.Cart.Clone()
		rec.Reason, rec.Message = d.Rejection.Reason, d.Rejection.Message
		inv := NewInvalidRequest(cmd, d.Rejection, decidedAt)
		out.Disposition, out.Invalid = DispositionRejected, &inv
	}
	if recordable {
		next.Window = newWindow(snap.Window, &rec)
	} else {
		next.Window = newWindow(snap.Window, nil)
	}
	// out.Cart shares next.Cart's lines: a second copy per request was a
	// tenth of Process's allocations, and neither is modified in place.
	out.Recorded, out.Cart = rec, next.Cart
	return next, out
}

// newWindow is a fresh copy of the newest entries of w, with rec appended
// when given, RequestWindowSize entries at most: one allocation, one copy.
func newWindow(w []RequestOutcome, rec *RequestOutcome) []RequestOutcome {
	keep := RequestWindowSize
	if rec != nil {
		keep--
	}
	if len(w) > keep {
		w = w[len(w)-keep:]
	}
	if len(w) == 0 && rec == nil {
		return nil // as a clone of an empty window is
	}
	out := make([]RequestOutcome, len(w), len(w)+1)
	copy(out, w)
	if rec != nil {
		out = append(out, *rec)
	}
	return out
}
