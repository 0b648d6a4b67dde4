package cart

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"
)

// Command is one of AddItem, RemoveItem, ChangeQuantity and Checkout; the set
// is closed (the unexported method), so a switch over it is exhaustive.
// Commands are values; a nil pointer to one is treated as a malformed
// command, never dereferenced.
type Command interface {
	// Kind is the command's kind.
	Kind() Kind
	// EventType is the name of the command as a record on cart.requests.
	EventType() EventType
	// Meta returns the fields every command shares.
	Meta() RequestMeta
	// Validate reports every syntactic problem as a *ValidationError.
	Validate() error
	isCommand()
}

// RequestMeta is what every command carries besides its own fields.
type RequestMeta struct {
	CartID    CartID
	RequestID RequestID
	// CustomerID is empty for RemoveItem and ChangeQuantity.
	CustomerID CustomerID
	// RequestedAt is when the gateway accepted the request; it comes from
	// the caller, the domain has no clock.
	RequestedAt time.Time
}

// AddItem adds Quantity units of SKU to the cart, creating the line or
// growing it. Its record on cart.requests is an AddItemRequest.
type AddItem struct {
	CartID      CartID
	RequestID   RequestID
	CustomerID  CustomerID
	RequestedAt time.Time
	SKU         SKU
	Quantity    int32
}

// RemoveItem removes the whole line of SKU. Its record is a RemoveItemRequest.
type RemoveItem struct {
	CartID      CartID
	RequestID   RequestID
	RequestedAt time.Time
	SKU         SKU
}

// ChangeQuantity sets the line of SKU to Quantity units (at least 1; use
// RemoveItem to drop a line). Its record is a ChangeQuantityRequest.
type ChangeQuantity struct {
	CartID      CartID
	RequestID   RequestID
	RequestedAt time.Time
	SKU         SKU
	Quantity    int32
}

// Checkout closes the cart for its customer. Its record is a CheckoutRequest.
type Checkout struct {
	CartID      CartID
	RequestID   RequestID
	CustomerID  CustomerID
	RequestedAt time.Time
}

func (AddItem) Kind() Kind        { return KindAddItem }
func (RemoveItem) Kind() Kind     { return KindRemoveItem }
func (ChangeQuantity) Kind() Kind { return KindChangeQuantity }
func (Checkout) Kind() Kind       { return KindCheckout }

func (AddItem) EventType() EventType        { return EventTypeAddItemRequest }
func (RemoveItem) EventType() EventType     { return EventTypeRemoveItemRequest }
func (ChangeQuantity) EventType() EventType { return EventTypeChangeQuantityRequest }
func (Checkout) EventType() EventType       { return EventTypeCheckoutRequest }

func (c AddItem) Meta() RequestMeta {
	return RequestMeta{CartID: c.CartID, RequestID: c.RequestID, CustomerID: c.CustomerID, RequestedAt: c.RequestedAt}
}

func (c RemoveItem) Meta() RequestMeta {
	return RequestMeta{CartID: c.CartID, RequestID: c.RequestID, RequestedAt: c.RequestedAt}
}

func (c ChangeQuantity) Meta() RequestMeta {
	return RequestMeta{CartID: c.CartID, RequestID: c.RequestID, RequestedAt: c.RequestedAt}
}

func (c Checkout) Meta() RequestMeta {
	return RequestMeta{CartID: c.CartID, RequestID: c.RequestID, CustomerID: c.CustomerID, RequestedAt: c.RequestedAt}
}

func (AddItem) isCommand()        {}
func (RemoveItem) isCommand()     {}
func (ChangeQuantity) isCommand() {}
func (Checkout) isCommand()       {}

// Field names used in violations; they are the proto field names, so the
// gateway can pass them through to google.rpc.BadRequest unchanged.
const (
	FieldCartID      = "cart_id"
	FieldRequestID   = "request_id"
	FieldCustomerID  = "customer_id"
	FieldRequestedAt = "requested_at"
	FieldSKU         = "sku"
	FieldQuantity    = "quantity"
)

func (v *violations) checkMeta(m RequestMeta, withCustomer bool) {
	v.checkID(FieldCartID, string(m.CartID))
	v.checkID(FieldRequestID, string(m.RequestID))
	if withCustomer {
		v.checkID(FieldCustomerID, string(m.CustomerID))
	}
	if m.RequestedAt.IsZero() {
		v.add(FieldRequestedAt, "must be set")
	}
}

// Validate reports every syntactic problem of c.
func (c AddItem) Validate() error {
	var v violations
	v.checkMeta(c.Meta(), true)
	v.checkID(FieldSKU, string(c.SKU))
	v.checkQuantity(FieldQuantity, c.Quantity)
	return v.err()
}

// Validate reports every syntactic problem of c.
func (c RemoveItem) Validate() error {
	var v violations
	v.checkMeta(c.Meta(), false)
	v.checkID(FieldSKU, string(c.SKU))
	return v.err()
}

// Validate reports every syntactic problem of c.
func (c ChangeQuantity) Validate() error {
	var v violations
	v.checkMeta(c.Meta(), false)
	v.checkID(FieldSKU, string(c.SKU))
	v.checkQuantity(FieldQuantity, c.Quantity)
	return v.err()
}

// Validate reports every syntactic problem of c.
func (c Checkout) Validate() error {
	var v violations
	v.checkMeta(c.Meta(), true)
	return v.err()
}

// ValidateCommand validates any command, a nil one included; it is what the
// gateway calls before it writes anything to Kafka.
func ValidateCommand(cmd Command) error {
	c, ok := Concrete(cmd)
	if !ok {
		return &ValidationError{Violations: []FieldViolation{{Field: "command", Description: "must be one of AddItem, RemoveItem, ChangeQuantity, Checkout, ClearCart, ExpireCart, MergeCarts, MergeInto"}}}
	}
	return c.Validate()
}

// Concrete returns cmd as one of the four value types, dereferencing
// pointers; ok is false for nil and for types outside the set (a struct
// embedding a command satisfies the interface but is not one of ours).
func Concrete(cmd Command) (Command, bool) {
	switch c := cmd.(type) {
	case AddItem, RemoveItem, ChangeQuantity, Checkout:
		return c, true
	case *AddItem:
		if c != nil {
			return *c, true
		}
	case *RemoveItem:
		if c != nil {
			return *c, true
		}
	case *ChangeQuantity:
		if c != nil {
			return *c, true
		}
	case *Checkout:
		if c != nil {
			return *c, true
		}
	}
	return concreteLifecycle(cmd)
}

// Fingerprint is a compact digest of a command's content: kind, cart,
// customer, SKU and quantity, but not the request id (the window's key) nor
// the timestamp (a retry is stamped anew). Two commands with the same
// fingerprint ask for the same thing.
type Fingerprint uint64

func (f Fingerprint) String() string { return fmt.Sprintf("%016x", uint64(f)) }

// fingerprintVersion is hashed first so that a future change of the
// canonical form cannot collide with today's fingerprints.
const fingerprintVersion = "cartstream/cart.command.v1"

// FingerprintOf returns the fingerprint of cmd, 0 for a nil command. It is
// the first 8 bytes of SHA-256 over a length-prefixed canonical encoding, so
// no two different field splits encode the same bytes.
func FingerprintOf(cmd Command) Fingerprint {
	c, ok := Concrete(cmd)
	if !ok {
		return 0
	}
	var sku SKU
	var qty int32
	switch c := c.(type) {
	case AddItem:
		sku, qty = c.SKU, c.Quantity
	case RemoveItem:
		sku = c.SKU
	case ChangeQuantity:
		sku, qty = c.SKU, c.Quantity
	case Checkout:
	}
	extra := lifecycleFingerprint(c)
	m := c.Meta()
	b := make([]byte, 0, 64+len(m.CartID)+len(m.CustomerID)+len(sku))
	b = binary.AppendUvarint(b, uint64(len(fingerprintVersion)))
	b = append(b, fingerprintVersion...)
	b = append(b, byte(c.Kind()))
	for _, s := range []string{string(m.CartID), string(m.CustomerID), string(sku)} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(qty))
	// The lifecycle commands' own fields follow; the four original kinds
	// add nothing, so their fingerprints are unchanged.
	b = append(b, extra...)
	sum := sha256.Sum256(b)
	return Fingerprint(binary.BigEndian.Uint64(sum[:8]))
}
