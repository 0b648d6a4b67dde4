package cart

import (
	"slices"
	"time"
)

// Event is a fold input: one of the records on cart.validated. The set is
// closed: AddItemValidatedRequest, RemoveItemValidatedRequest,
// ChangeQuantityValidatedRequest and CartCheckedOut. Rejections
// (InvalidRequest) are not events of the cart: they never change it.
type Event interface {
	EventType() EventType
	Meta() EventMeta
	isEvent()
}

// EventMeta is what every event carries besides its own fields.
type EventMeta struct {
	CartID    CartID
	RequestID RequestID
	// Version is the cart version this event produces: the previous
	// version plus one. Apply checks it, so a replay detects a gap or a
	// repeated record instead of folding it.
	Version int64
	// RequestedAt is the request's time as accepted by the gateway.
	RequestedAt time.Time
	// DecidedAt is when the write side decided, as the caller passed it.
	DecidedAt time.Time
}

// AddItemValidatedRequest is an accepted AddItem, enriched from the catalog
// at decision time: the line takes Name and UnitPrice (see the repricing
// policy in docs/domain.md) and grows by Quantity.
type AddItemValidatedRequest struct {
	CartID      CartID
	RequestID   RequestID
	Version     int64
	RequestedAt time.Time
	DecidedAt   time.Time
	CustomerID  CustomerID
	SKU         SKU
	Name        string
	UnitPrice   Money
	// Quantity is the number of units added, not the line's new quantity.
	Quantity int32
}

// RemoveItemValidatedRequest is an accepted RemoveItem: the line is gone.
type RemoveItemValidatedRequest struct {
	CartID      CartID
	RequestID   RequestID
	Version     int64
	RequestedAt time.Time
	DecidedAt   time.Time
	SKU         SKU
}

// ChangeQuantityValidatedRequest is an accepted ChangeQuantity: the line now
// holds Quantity units at UnitPrice (the catalog price when the quantity did
// not go down, the line's previous price when it did).
type ChangeQuantityValidatedRequest struct {
	CartID      CartID
	RequestID   RequestID
	Version     int64
	RequestedAt time.Time
	DecidedAt   time.Time
	SKU         SKU
	Name        string
	UnitPrice   Money
	Quantity    int32
}

// CartCheckedOut is an accepted Checkout. It carries the lines and totals it
// closed, so an order service can act on it without folding the cart.
type CartCheckedOut struct {
	CartID      CartID
	RequestID   RequestID
	Version     int64
	RequestedAt time.Time
	DecidedAt   time.Time
	CustomerID  CustomerID
	Lines       []Line
	Subtotal    Money
	ItemCount   int64
}

func (AddItemValidatedRequest) EventType() EventType { return EventTypeAddItemValidatedRequest }
func (RemoveItemValidatedRequest) EventType() EventType {
	return EventTypeRemoveItemValidatedRequest
}
func (ChangeQuantityValidatedRequest) EventType() EventType {
	return EventTypeChangeQuantityValidatedRequest
}
func (CartCheckedOut) EventType() EventType { return EventTypeCartCheckedOut }

func (e AddItemValidatedRequest) Meta() EventMeta {
	return EventMeta{CartID: e.CartID, RequestID: e.RequestID, Version: e.Version, RequestedAt: e.RequestedAt, DecidedAt: e.DecidedAt}
}

func (e RemoveItemValidatedRequest) Meta() EventMeta {
	return EventMeta{CartID: e.CartID, RequestID: e.RequestID, Version: e.Version, RequestedAt: e.RequestedAt, DecidedAt: e.DecidedAt}
}

func (e ChangeQuantityValidatedRequest) Meta() EventMeta {
	return EventMeta{CartID: e.CartID, RequestID: e.RequestID, Version: e.Version, RequestedAt: e.RequestedAt, DecidedAt: e.DecidedAt}
}

func (e CartCheckedOut) Meta() EventMeta {
	return EventMeta{CartID: e.CartID, RequestID: e.RequestID, Version: e.Version, RequestedAt: e.RequestedAt, DecidedAt: e.DecidedAt}
}

func (AddItemValidatedRequest) isEvent()        {}
func (RemoveItemValidatedRequest) isEvent()     {}
func (ChangeQuantityValidatedRequest) isEvent() {}
func (CartCheckedOut) isEvent()                 {}

// concreteEvent is concrete for events; it also copies CartCheckedOut.Lines
// so nothing the fold keeps aliases the caller's slice.
func concreteEvent(ev Event) (Event, bool) {
	switch e := ev.(type) {
	case AddItemValidatedRequest, RemoveItemValidatedRequest, ChangeQuantityValidatedRequest:
		return e, true
	case CartCheckedOut:
		e.Lines = slices.Clone(e.Lines)
		return e, true
	case *AddItemValidatedRequest:
		if e != nil {
			return *e, true
		}
	case *RemoveItemValidatedRequest:
		if e != nil {
			return *e, true
		}
	case *ChangeQuantityValidatedRequest:
		if e != nil {
			return *e, true
		}
	case *CartCheckedOut:
		if e != nil {
			c := *e
			c.Lines = slices.Clone(c.Lines)
			return c, true
		}
	}
	return concreteLifecycleEvent(ev)
}

// Rejection says why a request was not accepted. Message is for humans and
// never holds personal data (SKUs and numbers only, no customer ids).
type Rejection struct {
	Reason  Reason
	Message string
}

// Error lets a Rejection travel as an error, e.g. out of a use case to the
// gRPC layer that maps the reason to a status.
func (r Rejection) Error() string { return "cart: rejected: " + r.Reason.String() + ": " + r.Message }

// InvalidRequest is a rejection as recorded on cart.invalid. Its EventType
// is the Kind's *InvalidRequest name.
type InvalidRequest struct {
	CartID      CartID
	RequestID   RequestID
	Kind        Kind
	RequestedAt time.Time
	DecidedAt   time.Time
	Rejection   Rejection
	// Raw holds the undecodable record for a MALFORMED rejection raised by
	// an adapter; the domain itself never sets it.
	Raw []byte
}

// EventType returns the *InvalidRequest type of r.Kind, or
// EventTypeUnspecified when the kind is unknown (undecodable bytes).
func (r InvalidRequest) EventType() EventType {
	if !r.Kind.Valid() {
		return EventTypeUnspecified
	}
	return kindTypes[r.Kind].invalid
}

// NewInvalidRequest records the rejection of cmd decided at decidedAt. A nil
// command yields an InvalidRequest with only the rejection and the time.
func NewInvalidRequest(cmd Command, rej Rejection, decidedAt time.Time) InvalidRequest {
	r := InvalidRequest{DecidedAt: wall(decidedAt), Rejection: rej}
	if c, ok := Concrete(cmd); ok {
		m := c.Meta()
		r.CartID, r.RequestID, r.Kind, r.RequestedAt = m.CartID, m.RequestID, c.Kind(), wall(m.RequestedAt)
	}
	return r
}

// wall strips the monotonic clock reading and normalizes to UTC, so a time
// survives an encode/decode round trip unchanged and replayed carts compare
// equal to live ones.
func wall(t time.Time) time.Time { return t.Round(0).UTC() }
