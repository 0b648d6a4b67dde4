package cart

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"time"
)

// The cart lifecycle (docs/decisions/0013-cart-lifecycle.md): a customer
// clears a cart or merges a guest cart into their own; the manager expires
// carts left untouched. ExpireCart and MergeInto are internal commands: the
// manager writes them to cart.requests, never a client.

// ClearCart removes every line; the cart stays open and its customer's.
type ClearCart struct {
	CartID      CartID
	RequestID   RequestID
	CustomerID  CustomerID
	RequestedAt time.Time
}

// ExpireCart ends a cart untouched for TTL. The manager asks for it when
// its scan finds the cart idle since IdleSince; the decision re-checks the
// idle time against the time it is decided at, so a request that touched
// the cart in between wins.
type ExpireCart struct {
	CartID      CartID
	RequestID   RequestID
	RequestedAt time.Time
	IdleSince   time.Time
	TTL         time.Duration
}

// MergeCarts closes the cart CartID (a guest cart) and hands its lines to
// TargetCartID, the signed-in CustomerID's cart. The source's half is
// decided in the source's partition; the target's half follows as a
// MergeInto in the target's.
type MergeCarts struct {
	CartID       CartID
	RequestID    RequestID
	CustomerID   CustomerID
	RequestedAt  time.Time
	TargetCartID CartID
}

// MergeInto is the target's half of a merge: the lines of SourceCartID,
// combined into CartID under the usual caps. Its RequestID is
// MergeIntoRequestID of the CartMerged decision that hands it on: one per
// decision, so the target's window takes a second decision under the same
// MergeCarts request id (retried after the source expired and was
// refilled) for the new request it is.
type MergeInto struct {
	CartID       CartID
	RequestID    RequestID
	CustomerID   CustomerID
	RequestedAt  time.Time
	SourceCartID CartID
	Lines        []Line
}

// MergeReturned hands the lines of a MergeInto its target refused (the
// target was closed meanwhile, or another customer's) back to the merged
// cart CartID, which reopens with them: a merge either lands in the target
// or returns, never vanishes. Its RequestID is MergeReturnedRequestID of
// the refused MergeInto.
type MergeReturned struct {
	CartID       CartID
	RequestID    RequestID
	RequestedAt  time.Time
	TargetCartID CartID
	Lines        []Line
	// Reason is why the target refused.
	Reason Reason
}

func (MergeReturned) Kind() Kind           { return KindMergeReturned }
func (MergeReturned) EventType() EventType { return EventTypeMergeReturnedRequest }
func (c MergeReturned) Meta() RequestMeta {
	return RequestMeta{CartID: c.CartID, RequestID: c.RequestID, RequestedAt: c.RequestedAt}
}
func (MergeReturned) isCommand() {}

// Validate reports every syntactic problem of c.
func (c MergeReturned) Validate() error {
	var v violations
	v.checkMeta(c.Meta(), false)
	v.checkID(FieldTargetCartID, string(c.TargetCartID))
	checkLines(&v, c.Lines)
	return v.err()
}

// MergeReturnedRequestID is the request id of the MergeReturned a refused
// MergeInto (request into on cart target) hands back.
func MergeReturnedRequestID(target CartID, into RequestID) RequestID {
	h := sha256.New()
	h.Write([]byte(target))
	h.Write([]byte{0})
	h.Write([]byte(into))
	return RequestID("return-" + hex.EncodeToString(h.Sum(nil)[:16]))
}

// MergeReturnedOf is the request that hands a refused MergeInto's lines
// back to its source.
func MergeReturnedOf(into MergeInto, rej Rejection, at time.Time) MergeReturned {
	return MergeReturned{CartID: into.SourceCartID, RequestID: MergeReturnedRequestID(into.CartID, into.RequestID),
		RequestedAt: wall(at), TargetCartID: into.CartID, Lines: slices.Clone(into.Lines), Reason: rej.Reason}
}

// CartMergeReturned is an accepted MergeReturned: the merged cart is open
// again with the lines it had.
type CartMergeReturned struct {
	CartID       CartID
	RequestID    RequestID
	Version      int64
	RequestedAt  time.Time
	DecidedAt    time.Time
	TargetCartID CartID
	Lines        []Line
	Reason       Reason
}

func (CartMergeReturned) EventType() EventType { return EventTypeCartMergeReturned }
func (e CartMergeReturned) Meta() EventMeta {
	return EventMeta{CartID: e.CartID, RequestID: e.RequestID, Version: e.Version, RequestedAt: e.RequestedAt, DecidedAt: e.DecidedAt}
}
func (CartMergeReturned) isEvent() {}

// mergeReturned reopens the merged cart, if it is the one merged into the
// target named.
func (d decider) mergeReturned(c MergeReturned) (Event, Decision) {
	if d.state.Status != StatusMerged || d.state.MergedInto != c.TargetCartID {
		return nil, rejected(ReasonWrongCart, "cart is not merged into the cart that returned the lines")
	}
	m := d.meta
	return CartMergeReturned{CartID: m.CartID, RequestID: m.RequestID, Version: m.Version, RequestedAt: m.RequestedAt,
		DecidedAt: m.DecidedAt, TargetCartID: c.TargetCartID, Lines: slices.Clone(c.Lines), Reason: c.Reason}, Decision{}
}

func (ClearCart) Kind() Kind  { return KindClearCart }
func (ExpireCart) Kind() Kind { return KindExpireCart }
func (MergeCarts) Kind() Kind { return KindMergeCarts }
func (MergeInto) Kind() Kind  { return KindMergeInto }

func (ClearCart) EventType() EventType  { return EventTypeClearCartRequest }
func (ExpireCart) EventType() EventType { return EventTypeExpireCartRequest }
func (MergeCarts) EventType() EventType { return EventTypeMergeCartsRequest }
func (MergeInto) EventType() EventType  { return EventTypeMergeIntoRequest }

func (c ClearCart) Meta() RequestMeta {
	return RequestMeta{CartID: c.CartID, RequestID: c.RequestID, CustomerID: c.CustomerID, RequestedAt: c.RequestedAt}
}

func (c ExpireCart) Meta() RequestMeta {
	return RequestMeta{CartID: c.CartID, RequestID: c.RequestID, RequestedAt: c.RequestedAt}
}

func (c MergeCarts) Meta() RequestMeta {
	return RequestMeta{CartID: c.CartID, RequestID: c.RequestID, CustomerID: c.CustomerID, RequestedAt: c.RequestedAt}
}

func (c MergeInto) Meta() RequestMeta {
	return RequestMeta{CartID: c.CartID, RequestID: c.RequestID, CustomerID: c.CustomerID, RequestedAt: c.RequestedAt}
}

func (ClearCart) isCommand()  {}
func (ExpireCart) isCommand() {}
func (MergeCarts) isCommand() {}
func (MergeInto) isCommand()  {}

// Field names of the lifecycle commands (proto field names).
const (
	FieldTargetCartID = "target_cart_id"
	FieldSourceCartID = "source_cart_id"
	FieldIdleSince    = "idle_since"
	FieldTTL          = "ttl"
	FieldLines        = "lines"
)

// Validate reports every syntactic problem of c.
func (c ClearCart) Validate() error {
	var v violations
	v.checkMeta(c.Meta(), true)
	return v.err()
}

// Validate reports every syntactic problem of c.
func (c ExpireCart) Validate() error {
	var v violations
	v.checkMeta(c.Meta(), false)
	if c.IdleSince.IsZero() {
		v.add(FieldIdleSince, "must be set")
	}
	if c.TTL <= 0 {
		v.add(FieldTTL, "must be positive")
	}
	return v.err()
}

// Validate reports every syntactic problem of c.
func (c MergeCarts) Validate() error {
	var v violations
	v.checkMeta(c.Meta(), true)
	v.checkID(FieldTargetCartID, string(c.TargetCartID))
	if c.TargetCartID == c.CartID {
		v.add(FieldTargetCartID, "must differ from cart_id")
	}
	return v.err()
}

// Validate reports every syntactic problem of c.
func (c MergeInto) Validate() error {
	var v violations
	v.checkMeta(c.Meta(), true)
	v.checkID(FieldSourceCartID, string(c.SourceCartID))
	checkLines(&v, c.Lines)
	return v.err()
}

// checkLines is the syntax of the lines a merge carries.
func checkLines(v *violations, lines []Line) {
	if len(lines) > MaxLinesCeiling {
		v.add(FieldLines, fmt.Sprintf("at most %d lines", MaxLinesCeiling))
	}
	seen := make(map[SKU]bool, len(lines))
	for _, l := range lines {
		if !validID(string(l.SKU)) || seen[l.SKU] || l.Quantity < 1 || l.Quantity > MaxQuantity {
			v.add(FieldLines, "each line needs a distinct valid sku and a quantity in range")
			return
		}
		seen[l.SKU] = true
	}
}

// MergeIntoRequestID is the request id of the MergeInto that the merge of
// cart source under request req, decided at decided, hands on. It is
// derived from the decision, not only from the request id: a MergeCarts
// retried with its old request id after the source expired and was
// refilled is decided anew, and its MergeInto must not look to the target
// like a duplicate of the first one's (FuzzLifecycle found the lines lost
// so). Anyone holding the CartMerged event (the verifier) derives the same
// id: decided_at is recorded to the nanosecond.
func MergeIntoRequestID(source CartID, req RequestID, decided time.Time) RequestID {
	h := sha256.New()
	h.Write([]byte(source))
	h.Write([]byte{0})
	h.Write([]byte(req))
	h.Write([]byte{0})
	var ns [8]byte
	binary.BigEndian.PutUint64(ns[:], uint64(decided.UnixNano()))
	h.Write(ns[:])
	return RequestID("merge-" + hex.EncodeToString(h.Sum(nil)[:16]))
}

// LegacyMergeIntoRequestID is the id MergeInto requests carried before
// MergeIntoRequestID took the decision's time in: the verifier accepts it
// for history written then.
func LegacyMergeIntoRequestID(source CartID, req RequestID) RequestID {
	h := sha256.New()
	h.Write([]byte(source))
	h.Write([]byte{0})
	h.Write([]byte(req))
	return RequestID("merge-" + hex.EncodeToString(h.Sum(nil)[:16]))
}

// ExpireRequestID is the request id of the expiry of a cart at version v:
// a cart touched since (a new version) gets a new one, a repeated scan of
// the same version the same one.
func ExpireRequestID(v int64) RequestID { return RequestID(fmt.Sprintf("expire-v%d", v)) }

// ExpireUntouchedRequestID is the request id of the expiry of a cart that
// has no events (every request it saw was rejected) and whose last request
// is at offset in its cart.requests partition. Such a cart's version never
// moves, so the offset is what tells a later request apart: Process
// refuses the expiry of a version-0 cart under any other id (a request
// reached the cart after the expiry was asked), and a refused expiry,
// itself a request, gives the next ask a new id.
func ExpireUntouchedRequestID(offset int64) RequestID {
	return RequestID(fmt.Sprintf("expire-v0-o%d", offset))
}

// MergeIntoOf is the request a CartMerged event hands to its target.
func MergeIntoOf(ev CartMerged) MergeInto {
	return MergeInto{
		CartID: ev.TargetCartID, RequestID: MergeIntoRequestID(ev.CartID, ev.RequestID, ev.DecidedAt),
		CustomerID: ev.CustomerID, RequestedAt: ev.DecidedAt, SourceCartID: ev.CartID,
		Lines: slices.Clone(ev.Lines),
	}
}

func concreteLifecycle(cmd Command) (Command, bool) {
	switch c := cmd.(type) {
	case ClearCart, ExpireCart, MergeCarts:
		return c, true
	case MergeInto:
		c.Lines = slices.Clone(c.Lines)
		return c, true
	case MergeReturned:
		c.Lines = slices.Clone(c.Lines)
		return c, true
	case *MergeReturned:
		if c != nil {
			return concreteLifecycle(*c)
		}
	case *ClearCart:
		if c != nil {
			return *c, true
		}
	case *ExpireCart:
		if c != nil {
			return *c, true
		}
	case *MergeCarts:
		if c != nil {
			return *c, true
		}
	case *MergeInto:
		if c != nil {
			v := *c
			v.Lines = slices.Clone(v.Lines)
			return v, true
		}
	}
	return nil, false
}

// lifecycleFingerprint is the canonical form of the lifecycle commands'
// own fields, appended to the common one.
func lifecycleFingerprint(c Command) []byte {
	var b []byte
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	switch c := c.(type) {
	case ExpireCart:
		b = binary.BigEndian.AppendUint64(b, uint64(c.IdleSince.UnixNano()))
		b = binary.BigEndian.AppendUint64(b, uint64(c.TTL))
	case MergeCarts:
		str(string(c.TargetCartID))
	case MergeInto:
		str(string(c.SourceCartID))
		for _, l := range c.Lines {
			str(string(l.SKU))
			b = binary.BigEndian.AppendUint32(b, uint32(l.Quantity))
		}
	case MergeReturned:
		str(string(c.TargetCartID))
		for _, l := range c.Lines {
			str(string(l.SKU))
			b = binary.BigEndian.AppendUint32(b, uint32(l.Quantity))
		}
	}
	return b
}

// CartCleared is an accepted ClearCart: the cart has no lines.
type CartCleared struct {
	CartID      CartID
	RequestID   RequestID
	Version     int64
	RequestedAt time.Time
	DecidedAt   time.Time
	CustomerID  CustomerID
}

// CartExpired is an accepted ExpireCart: the cart is gone, its id starts
// over as a new cart (the fold returns the zero CartState), and cart.state
// holds a tombstone for it.
type CartExpired struct {
	CartID      CartID
	RequestID   RequestID
	Version     int64
	RequestedAt time.Time
	DecidedAt   time.Time
	// IdleSince is the cart's UpdatedAt when it expired.
	IdleSince time.Time
}

// CartMerged is the source's half of an accepted MergeCarts: the cart is
// MERGED into TargetCartID and its Lines, as they were, move there.
type CartMerged struct {
	CartID       CartID
	RequestID    RequestID
	Version      int64
	RequestedAt  time.Time
	DecidedAt    time.Time
	CustomerID   CustomerID
	TargetCartID CartID
	Lines        []Line
}

// CartMergedInto is the target's half: Lines are the target's lines the
// merge created or grew, as they now are; Dropped are the source's SKUs
// that did not fit (not for sale, another currency, the line limit).
type CartMergedInto struct {
	CartID       CartID
	RequestID    RequestID
	Version      int64
	RequestedAt  time.Time
	DecidedAt    time.Time
	CustomerID   CustomerID
	SourceCartID CartID
	Lines        []Line
	Dropped      []SKU
}

func (CartCleared) EventType() EventType    { return EventTypeCartCleared }
func (CartExpired) EventType() EventType    { return EventTypeCartExpired }
func (CartMerged) EventType() EventType     { return EventTypeCartMerged }
func (CartMergedInto) EventType() EventType { return EventTypeCartMergedInto }

func (e CartCleared) Meta() EventMeta {
	return EventMeta{CartID: e.CartID, RequestID: e.RequestID, Version: e.Version, RequestedAt: e.RequestedAt, DecidedAt: e.DecidedAt}
}

func (e CartExpired) Meta() EventMeta {
	return EventMeta{CartID: e.CartID, RequestID: e.RequestID, Version: e.Version, RequestedAt: e.RequestedAt, DecidedAt: e.DecidedAt}
}

func (e CartMerged) Meta() EventMeta {
	return EventMeta{CartID: e.CartID, RequestID: e.RequestID, Version: e.Version, RequestedAt: e.RequestedAt, DecidedAt: e.DecidedAt}
}

func (e CartMergedInto) Meta() EventMeta {
	return EventMeta{CartID: e.CartID, RequestID: e.RequestID, Version: e.Version, RequestedAt: e.RequestedAt, DecidedAt: e.DecidedAt}
}

func (CartCleared) isEvent()    {}
func (CartExpired) isEvent()    {}
func (CartMerged) isEvent()     {}
func (CartMergedInto) isEvent() {}

func concreteLifecycleEvent(ev Event) (Event, bool) {
	switch e := ev.(type) {
	case CartCleared, CartExpired:
		return e, true
	case CartMerged:
		e.Lines = slices.Clone(e.Lines)
		return e, true
	case CartMergedInto:
		e.Lines, e.Dropped = slices.Clone(e.Lines), slices.Clone(e.Dropped)
		return e, true
	case CartMergeReturned:
		e.Lines = slices.Clone(e.Lines)
		return e, true
	case *CartMergeReturned:
		if e != nil {
			return concreteLifecycleEvent(*e)
		}
	case *CartCleared:
		if e != nil {
			return *e, true
		}
	case *CartExpired:
		if e != nil {
			return *e, true
		}
	case *CartMerged:
		if e != nil {
			return concreteLifecycleEvent(*e)
		}
	case *CartMergedInto:
		if e != nil {
			return concreteLifecycleEvent(*e)
		}
	}
	return nil, false
}

// closedRejection is the rejection of a command on a cart that nothing
// changes any more.
func closedRejection(s Status) (Decision, bool) {
	switch s {
	case StatusCheckedOut:
		return rejected(ReasonCartCheckedOut, "cart is checked out"), true
	case StatusMerged:
		return rejected(ReasonCartMerged, "cart was merged into another"), true
	case StatusOpen:
	}
	return Decision{}, false
}

func (d decider) clearCart(c ClearCart) (Event, Decision) {
	if len(d.state.Lines) == 0 {
		return nil, rejected(ReasonEmptyCart, "cart is empty")
	}
	if !d.owner(c.CustomerID) {
		return nil, rejected(ReasonCustomerMismatch, "cart belongs to another customer")
	}
	m := d.meta
	return CartCleared{CartID: m.CartID, RequestID: m.RequestID, Version: m.Version, RequestedAt: m.RequestedAt,
		DecidedAt: m.DecidedAt, CustomerID: d.state.CustomerID}, Decision{}
}

// expireCart accepts only when the cart has events and has not changed for
// the TTL as of the decision's time: the clock is the manager's, passed in.
func (d decider) expireCart(c ExpireCart) (Event, Decision) {
	s := d.state
	// A cart without events (only rejections, which leave a snapshot with
	// their window) has no time of its own: it is idle since what the
	// manager saw, and Process checks that no request came in between.
	since := s.UpdatedAt
	if s.Version == 0 {
		since = c.IdleSince
	}
	if idle := d.meta.DecidedAt.Sub(since); idle < c.TTL {
		return nil, rejected(ReasonNotExpired, "cart was touched %s ago, within its time to live of %s", idle.Round(time.Millisecond), c.TTL)
	}
	m := d.meta
	return CartExpired{CartID: m.CartID, RequestID: m.RequestID, Version: m.Version, RequestedAt: m.RequestedAt,
		DecidedAt: m.DecidedAt, IdleSince: since}, Decision{}
}

// mergeCarts closes the source. Who may merge a guest cart is the
// gateway's rule (the guest is another customer id), so the domain checks
// no owner here; the target's half checks the target's.
func (d decider) mergeCarts(c MergeCarts) (Event, Decision) {
	if len(d.state.Lines) == 0 {
		return nil, rejected(ReasonEmptyCart, "cart is empty: nothing to merge")
	}
	m := d.meta
	return CartMerged{CartID: m.CartID, RequestID: m.RequestID, Version: m.Version, RequestedAt: m.RequestedAt,
		DecidedAt: m.DecidedAt, CustomerID: c.CustomerID, TargetCartID: c.TargetCartID,
		Lines: d.state.Clone().Lines}, Decision{}
}

// mergeInto combines the source's lines into the target the way AddItem
// would, but a line that does not fit is clamped to its cap or dropped
// instead of failing the merge: the source is already closed, so the
// merge keeps what it can and says what it dropped.
func (d decider) mergeInto(c MergeInto) (Event, Decision) {
	if !d.owner(c.CustomerID) {
		return nil, rejected(ReasonCustomerMismatch, "cart belongs to another customer")
	}
	work := d.state.Clone()
	var touched []Line
	var dropped []SKU
	for _, src := range c.Lines {
		p, _, ok := d.product(src.SKU)
		if !ok || !(decider{state: work}).currencyFits(src.SKU, p.UnitPrice.Currency) {
			dropped = append(dropped, src.SKU)
			continue
		}
		i := work.lineIndex(src.SKU)
		if i < 0 && len(work.Lines) >= d.limits.MaxLines {
			dropped = append(dropped, src.SKU)
			continue
		}
		limit := d.limits.QuantityCap(p)
		cur := int32(0)
		if i >= 0 {
			cur = work.Lines[i].Quantity
		}
		q := int32(min(int64(cur)+int64(src.Quantity), int64(limit)))
		if q <= cur {
			continue // already at its cap
		}
		l := Line{SKU: src.SKU, Name: p.Name, UnitPrice: p.UnitPrice, Quantity: q}
		if i >= 0 {
			work.Lines[i] = l
		} else {
			work.Lines = append(work.Lines, l)
		}
		touched = append(touched, l)
	}
	m := d.meta
	return CartMergedInto{CartID: m.CartID, RequestID: m.RequestID, Version: m.Version, RequestedAt: m.RequestedAt,
		DecidedAt: m.DecidedAt, CustomerID: c.CustomerID, SourceCartID: c.SourceCartID,
		Lines: touched, Dropped: dropped}, Decision{}
}

// expire folds a CartExpired: the cart starts over.
func expire(state CartState, e CartExpired) (CartState, error) {
	if state.Version > 0 && !e.IdleSince.Equal(state.UpdatedAt) { // a cart without events has no time to match
		return state, fmt.Errorf("%w: expiry idle since %v, the cart was updated at %v", ErrInvalidEvent, e.IdleSince, state.UpdatedAt)
	}
	return CartState{}, nil
}

// returnMerge folds a CartMergeReturned: the merged cart reopens.
func returnMerge(state CartState, e CartMergeReturned) (CartState, error) {
	if state.Status != StatusMerged || state.MergedInto != e.TargetCartID {
		return state, fmt.Errorf("%w: lines returned by %s to a cart not merged into it", ErrInvalidEvent, e.TargetCartID)
	}
	next := state.Clone()
	next.Status, next.MergedInto, next.Lines = StatusOpen, "", slices.Clone(e.Lines)
	for _, l := range next.Lines {
		if err := checkLineEvent(l.SKU, l.UnitPrice, l.Quantity); err != nil {
			return state, err
		}
	}
	if err := next.recompute(); err != nil {
		return state, err
	}
	next.Version, next.UpdatedAt = e.Version, e.DecidedAt
	return next, nil
}

// applyLifecycle folds the lifecycle events that keep the cart into next.
func applyLifecycle(next *CartState, ev Event) error {
	switch e := ev.(type) {
	case CartCleared:
		if e.CustomerID != next.CustomerID {
			return ErrCustomerMismatch
		}
		next.Lines = nil
	case CartMerged:
		if !validID(string(e.TargetCartID)) || e.TargetCartID == next.CartID {
			return fmt.Errorf("%w: merge target %s", ErrInvalidEvent, idRule)
		}
		if len(next.Lines) == 0 || !slices.Equal(e.Lines, next.Lines) {
			return ErrCheckoutMismatch
		}
		next.Lines, next.Status, next.MergedInto = nil, StatusMerged, e.TargetCartID
	case CartMergedInto:
		if !validID(string(e.CustomerID)) {
			return fmt.Errorf("%w: customer id %s", ErrInvalidEvent, idRule)
		}
		if next.CustomerID != "" && next.CustomerID != e.CustomerID {
			return ErrCustomerMismatch
		}
		next.CustomerID = e.CustomerID
		for _, l := range e.Lines {
			if err := checkLineEvent(l.SKU, l.UnitPrice, l.Quantity); err != nil {
				return err
			}
			if i := next.lineIndex(l.SKU); i >= 0 {
				next.Lines[i] = l
			} else {
				next.Lines = append(next.Lines, l)
			}
		}
	}
	return nil
}
