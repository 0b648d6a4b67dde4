package cart

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// ReservationID names the reservation of one line of one checkout. It is
// derived, never drawn: the same checkout reserves under the same ids on
// every replica and retry, so the inventory and the verifier can match a
// grant with its release.
type ReservationID string

// ReservationIDOf is "rsv-" and the first 128 bits of SHA-256 over the
// cart, the checkout's request id and the SKU, in hex.
func ReservationIDOf(id CartID, checkout RequestID, sku SKU) ReservationID {
	h := sha256.New()
	for _, s := range []string{string(id), string(checkout), string(sku)} {
		h.Write([]byte(s))
		h.Write([]byte{0}) // ids cannot contain NUL: the triple is unambiguous
	}
	return ReservationID("rsv-" + hex.EncodeToString(h.Sum(nil)[:16]))
}

// Reservation asks the inventory to hold Quantity units of SKU for the
// checkout CheckoutRequestID of CartID (or, released, to give them back).
type Reservation struct {
	ID                ReservationID
	CartID            CartID
	CheckoutRequestID RequestID
	SKU               SKU
	Quantity          int32
}

// ReservationAnswer is the inventory's decision on a Reservation, sent
// back to the cart's partition of cart.requests.
type ReservationAnswer struct {
	Reservation
	Granted bool
	// Available is what the SKU had left after a grant, or had when the
	// request was refused.
	Available int64
	DecidedAt time.Time
}

// AnswerState is where one line of a pending checkout stands.
type AnswerState uint8

// The answer states.
const (
	AnswerWaiting AnswerState = iota
	AnswerGranted
	AnswerRefused
)

var answerNames = []string{"WAITING", "GRANTED", "REFUSED"}

func (a AnswerState) String() string { return nameOf(answerNames, a, "AnswerState") }

// Valid reports whether a is a known state.
func (a AnswerState) Valid() bool { return int(a) < len(answerNames) }

// ParseAnswerState is the inverse of String.
func ParseAnswerState(s string) (AnswerState, error) {
	return parseName[AnswerState](answerNames, s, "answer state")
}

// PendingLine is one line of a pending checkout and its answer.
type PendingLine struct {
	SKU      SKU
	Quantity int32
	Answer   AnswerState
	// Available is the inventory's count with the answer (see
	// ReservationAnswer.Available); 0 while waiting.
	Available int64
}

// PendingCheckout is a checkout decided for the cart and waiting for the
// inventory to reserve its lines. The cart does not change while it waits
// (other commands are rejected with CHECKOUT_IN_PROGRESS), so the
// CartCheckedOut it ends with is the one decided at the start.
type PendingCheckout struct {
	RequestID   RequestID
	Offset      int64 // the checkout's offset in cart.requests
	Fingerprint Fingerprint
	CustomerID  CustomerID
	RequestedAt time.Time
	Lines       []PendingLine
}

func (p PendingCheckout) clone() PendingCheckout {
	p.Lines = append([]PendingLine(nil), p.Lines...)
	return p
}

func (p PendingCheckout) validate(s Snapshot) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: pending checkout: "+format, append([]any{ErrInvalidState}, args...)...)
	}
	switch {
	case !validID(string(p.RequestID)):
		return bad("request id %s", idRule)
	case p.Offset < 0 || p.Offset > s.RequestOffset:
		return bad("offset %d beyond %d", p.Offset, s.RequestOffset)
	case s.Cart.Status != StatusOpen:
		return bad("cart is not open")
	case len(p.Lines) != len(s.Cart.Lines):
		return bad("%d lines, the cart has %d", len(p.Lines), len(s.Cart.Lines))
	}
	for i, l := range p.Lines {
		cl := s.Cart.Lines[i]
		if l.SKU != cl.SKU || l.Quantity != cl.Quantity || !l.Answer.Valid() || l.Available < 0 {
			return bad("line %d does not match the cart's", i)
		}
	}
	return nil
}

// Reservations are the requests the pending checkout sends.
func (p PendingCheckout) reservations(id CartID) []Reservation {
	out := make([]Reservation, len(p.Lines))
	for i, l := range p.Lines {
		out[i] = Reservation{ID: ReservationIDOf(id, p.RequestID, l.SKU), CartID: id, CheckoutRequestID: p.RequestID, SKU: l.SKU, Quantity: l.Quantity}
	}
	return out
}

// ProcessReserving is Process for a write side whose checkouts reserve
// stock. A Checkout that Decide accepts does not close the cart yet: the
// snapshot records it as Pending, and the outcome (DispositionPending)
// carries one Reservation per line for the inventory. The checkout's
// outcome enters the window only when Answer decides it, so a reader
// waiting for it sees the final decision. While a checkout is pending, a
// retry of it is a duplicate and every other new command is rejected with
// CHECKOUT_IN_PROGRESS; retries of older requests still get their recorded
// outcomes.
func ProcessReserving(snap Snapshot, cmd Command, offset int64, catalog Catalog, limits Limits, decidedAt time.Time) (Snapshot, Outcome) {
	c, ok := Concrete(cmd)
	if p := snap.Pending; p != nil && ok && c.Validate() == nil && offset > snap.RequestOffset {
		if _, recorded := snap.Lookup(c.Meta().RequestID); !recorded {
			return whilePending(snap, c, offset, decidedAt)
		}
	}
	next, out := Process(snap, cmd, offset, catalog, limits, decidedAt)
	if out.Disposition != DispositionAccepted || c.Kind() != KindCheckout {
		return next, out
	}
	// Undo the close: the cart stays as it was, the window without the
	// checkout's entry, until every line has its answer.
	next.Cart, next.Window = snap.Cart.Clone(), newWindow(snap.Window, nil)
	m := c.Meta()
	p := PendingCheckout{RequestID: m.RequestID, Offset: offset, Fingerprint: FingerprintOf(c), CustomerID: m.CustomerID, RequestedAt: wall(m.RequestedAt)}
	for _, l := range snap.Cart.Lines {
		p.Lines = append(p.Lines, PendingLine{SKU: l.SKU, Quantity: l.Quantity})
	}
	next.Pending = &p
	return next, Outcome{Disposition: DispositionPending, Reserve: p.reservations(snap.Cart.CartID), Cart: next.Cart.Clone()}
}

// whilePending answers a new command on a cart whose checkout waits.
func whilePending(snap Snapshot, c Command, offset int64, decidedAt time.Time) (Snapshot, Outcome) {
	next := snap.Clone()
	next.RequestOffset = offset
	m, p := c.Meta(), snap.Pending
	rec := RequestOutcome{RequestID: m.RequestID, Offset: offset, Kind: c.Kind(), Fingerprint: FingerprintOf(c), CartVersion: snap.Cart.Version}
	if m.RequestID == p.RequestID && rec.Fingerprint == p.Fingerprint {
		// A retry of the pending checkout: its outcome comes with the answers.
		rec.Offset = p.Offset
		return next, Outcome{Disposition: DispositionDuplicate, Recorded: rec, Cart: next.Cart.Clone()}
	}
	rej := Rejection{Reason: ReasonCheckoutInProgress, Message: "the cart's checkout is waiting for its reservations"}
	if m.RequestID == p.RequestID {
		rej = Rejection{Reason: ReasonDuplicateRequest, Message: "request id was already used for a different command"}
	}
	rec.Reason, rec.Message = rej.Reason, rej.Message
	inv := NewInvalidRequest(c, rej, decidedAt)
	if validID(string(m.RequestID)) {
		next.Window = newWindow(snap.Window, &rec)
	}
	return next, Outcome{Disposition: DispositionRejected, Invalid: &inv, Recorded: rec, Cart: next.Cart.Clone()}
}

// Answer records the inventory's answer a, read at offset in the cart's
// cart.requests partition. When it is the pending checkout's last answer
// the checkout is decided: every line granted closes the cart
// (DispositionAccepted with the CartCheckedOut, stamped decidedAt); any
// line refused rejects the checkout with OUT_OF_STOCK naming those lines
// and releases every line granted (DispositionRejected, Outcome.Release).
// Either way the outcome enters the window under the checkout's request
// id, at offset. Before the last answer: DispositionAnswered. An answer
// for no pending line (a bug or a foreign record) changes nothing but the
// offset; if it granted units they are released, so stock never leaks.
func Answer(snap Snapshot, a ReservationAnswer, offset int64, decidedAt time.Time) (Snapshot, Outcome) {
	if offset < 0 || offset <= snap.RequestOffset {
		return snap.Clone(), Outcome{Disposition: DispositionStale, Cart: snap.Cart.Clone()}
	}
	next := snap.Clone()
	next.RequestOffset = offset
	out := Outcome{Disposition: DispositionAnswered, Cart: next.Cart.Clone()}
	p := next.Pending
	i := -1
	if p != nil && a.CartID == snap.Cart.CartID && a.CheckoutRequestID == p.RequestID {
		for j, l := range p.Lines {
			if l.SKU == a.SKU && l.Quantity == a.Quantity && l.Answer == AnswerWaiting {
				i = j
			}
		}
	}
	if i < 0 {
		if a.Granted {
			out.Release = []Reservation{a.Reservation}
		}
		return next, out
	}
	p.Lines[i].Answer, p.Lines[i].Available = AnswerRefused, max(a.Available, 0)
	if a.Granted {
		p.Lines[i].Answer = AnswerGranted
	}
	for _, l := range p.Lines {
		if l.Answer == AnswerWaiting {
			return next, out
		}
	}
	return decidePending(snap, next, offset, decidedAt)
}

// decidePending ends the pending checkout of next, whose lines all have
// their answers.
func decidePending(snap, next Snapshot, offset int64, decidedAt time.Time) (Snapshot, Outcome) {
	p := *next.Pending
	next.Pending = nil
	st := snap.Cart
	rec := RequestOutcome{RequestID: p.RequestID, Offset: offset, Kind: KindCheckout, Fingerprint: p.Fingerprint, CartVersion: st.Version}
	var refused []string
	var granted []Reservation
	all := p.reservations(st.CartID)
	for i, l := range p.Lines {
		switch l.Answer {
		case AnswerGranted:
			granted = append(granted, all[i])
		case AnswerRefused, AnswerWaiting:
			refused = append(refused, fmt.Sprintf("sku %s (%d wanted, %d available)", l.SKU, l.Quantity, l.Available))
		}
	}
	if len(refused) == 0 {
		ev := CartCheckedOut{
			CartID: st.CartID, RequestID: p.RequestID, Version: st.Version + 1, RequestedAt: p.RequestedAt, DecidedAt: wall(decidedAt),
			CustomerID: p.CustomerID, Lines: st.Clone().Lines, Subtotal: st.Subtotal, ItemCount: st.ItemCount,
		}
		folded, err := Apply(st, ev)
		if err == nil {
			next.Cart = folded
			rec.Accepted, rec.CartVersion = true, folded.Version
			next.Window = newWindow(snap.Window, &rec)
			return next, Outcome{Disposition: DispositionAccepted, Events: []Event{ev}, Recorded: rec, Cart: folded.Clone()}
		}
		// Unreachable while the cart cannot change under a pending
		// checkout; should it happen, the checkout fails and gives back.
		refused = append(refused, fmt.Sprintf("the cart no longer fits its checkout: %v", err))
	}
	rej := Rejection{Reason: ReasonOutOfStock, Message: "out of stock: " + strings.Join(refused, ", ")}
	rec.Reason, rec.Message = rej.Reason, rej.Message
	next.Window = newWindow(snap.Window, &rec)
	inv := InvalidRequest{CartID: st.CartID, RequestID: p.RequestID, Kind: KindCheckout, RequestedAt: p.RequestedAt, DecidedAt: wall(decidedAt), Rejection: rej}
	return next, Outcome{Disposition: DispositionRejected, Invalid: &inv, Recorded: rec, Release: granted, Cart: next.Cart.Clone()}
}
