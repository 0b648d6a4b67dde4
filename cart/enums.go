package cart

import "fmt"

// The closed sets of the domain are small integer types with a name table.
// Encode them by name (String, MarshalText), never by number: the numbers
// are an implementation detail and may be renumbered.

func nameOf[T ~uint8](names []string, v T, typ string) string {
	if int(v) < len(names) && names[v] != "" {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", typ, uint8(v))
}

func parseName[T ~uint8](names []string, s, typ string) (T, error) {
	for i, n := range names {
		if n != "" && n == s {
			return T(i), nil
		}
	}
	return 0, fmt.Errorf("%w: %s %q", ErrUnknownName, typ, s)
}

// Kind is the kind of a command.
type Kind uint8

// The command kinds. KindUnspecified is the zero value and never valid in a
// command; it appears on an InvalidRequest whose bytes could not be decoded.
const (
	KindUnspecified Kind = iota
	KindAddItem
	KindRemoveItem
	KindChangeQuantity
	KindCheckout
	// The cart lifecycle's kinds (docs/decisions/0013-cart-lifecycle.md).
	// ExpireCart and MergeInto are internal: only the manager writes them.
	KindClearCart
	KindExpireCart
	KindMergeCarts
	KindMergeInto
	// KindMergeReturned: a target that refused a MergeInto hands the
	// lines back to the merged cart (internal).
	KindMergeReturned
)

var kindNames = []string{"Unspecified", "AddItem", "RemoveItem", "ChangeQuantity", "Checkout",
	"ClearCart", "ExpireCart", "MergeCarts", "MergeInto", "MergeReturned"}

func (k Kind) String() string { return nameOf(kindNames, k, "Kind") }

// Valid reports whether k is one of the command kinds.
func (k Kind) Valid() bool { return k >= KindAddItem && k <= KindMergeReturned }

// ParseKind is the inverse of String.
func ParseKind(s string) (Kind, error) { return parseName[Kind](kindNames, s, "kind") }

// MarshalText encodes k by name.
func (k Kind) MarshalText() ([]byte, error) { return marshalName(kindNames, k, "kind") }

// UnmarshalText decodes a name produced by MarshalText.
func (k *Kind) UnmarshalText(b []byte) error { return unmarshalName(kindNames, k, b, "kind") }

// EventType names every record the cart topics carry. The names are part of
// the wire contract (record header "event-type"): they never change.
type EventType uint8

// The event types. The *Request types are the commands as accepted by the
// gateway on cart.requests (AddItem.EventType() is EventTypeAddItemRequest);
// the *ValidatedRequest types and CartCheckedOut are the events on
// cart.validated; the *InvalidRequest types are rejections on cart.invalid.
const (
	EventTypeUnspecified EventType = iota
	EventTypeAddItemRequest
	EventTypeRemoveItemRequest
	EventTypeChangeQuantityRequest
	EventTypeCheckoutRequest
	EventTypeAddItemValidatedRequest
	EventTypeRemoveItemValidatedRequest
	EventTypeChangeQuantityValidatedRequest
	EventTypeCartCheckedOut
	EventTypeAddItemInvalidRequest
	EventTypeRemoveItemInvalidRequest
	EventTypeChangeQuantityInvalidRequest
	EventTypeCheckoutInvalidRequest
	// The cart lifecycle's records, appended so the numbers above keep
	// their meaning; kindTypes maps every kind to its three.
	EventTypeClearCartRequest
	EventTypeExpireCartRequest
	EventTypeMergeCartsRequest
	EventTypeMergeIntoRequest
	EventTypeCartCleared
	EventTypeCartExpired
	EventTypeCartMerged
	EventTypeCartMergedInto
	EventTypeClearCartInvalidRequest
	EventTypeExpireCartInvalidRequest
	EventTypeMergeCartsInvalidRequest
	EventTypeMergeIntoInvalidRequest
	EventTypeMergeReturnedRequest
	EventTypeCartMergeReturned
	EventTypeMergeReturnedInvalidRequest
)

// kindTypes are each kind's request, event and rejection types, indexed
// by Kind.
var kindTypes = [...]struct{ request, validated, invalid EventType }{
	KindAddItem:        {EventTypeAddItemRequest, EventTypeAddItemValidatedRequest, EventTypeAddItemInvalidRequest},
	KindRemoveItem:     {EventTypeRemoveItemRequest, EventTypeRemoveItemValidatedRequest, EventTypeRemoveItemInvalidRequest},
	KindChangeQuantity: {EventTypeChangeQuantityRequest, EventTypeChangeQuantityValidatedRequest, EventTypeChangeQuantityInvalidRequest},
	KindCheckout:       {EventTypeCheckoutRequest, EventTypeCartCheckedOut, EventTypeCheckoutInvalidRequest},
	KindClearCart:      {EventTypeClearCartRequest, EventTypeCartCleared, EventTypeClearCartInvalidRequest},
	KindExpireCart:     {EventTypeExpireCartRequest, EventTypeCartExpired, EventTypeExpireCartInvalidRequest},
	KindMergeCarts:     {EventTypeMergeCartsRequest, EventTypeCartMerged, EventTypeMergeCartsInvalidRequest},
	KindMergeInto:      {EventTypeMergeIntoRequest, EventTypeCartMergedInto, EventTypeMergeIntoInvalidRequest},
	KindMergeReturned:  {EventTypeMergeReturnedRequest, EventTypeCartMergeReturned, EventTypeMergeReturnedInvalidRequest},
}

var eventTypeNames = []string{
	"Unspecified",
	"AddItemRequest",
	"RemoveItemRequest",
	"ChangeQuantityRequest",
	"CheckoutRequest",
	"AddItemValidatedRequest",
	"RemoveItemValidatedRequest",
	"ChangeQuantityValidatedRequest",
	"CartCheckedOut",
	"AddItemInvalidRequest",
	"RemoveItemInvalidRequest",
	"ChangeQuantityInvalidRequest",
	"CheckoutInvalidRequest",
	"ClearCartRequest",
	"ExpireCartRequest",
	"MergeCartsRequest",
	"MergeIntoRequest",
	"CartCleared",
	"CartExpired",
	"CartMerged",
	"CartMergedInto",
	"ClearCartInvalidRequest",
	"ExpireCartInvalidRequest",
	"MergeCartsInvalidRequest",
	"MergeIntoInvalidRequest",
	"MergeReturnedRequest",
	"CartMergeReturned",
	"MergeReturnedInvalidRequest",
}

func (t EventType) String() string { return nameOf(eventTypeNames, t, "EventType") }

// ParseEventType is the inverse of String.
func ParseEventType(s string) (EventType, error) {
	return parseName[EventType](eventTypeNames, s, "event type")
}

// MarshalText encodes t by name.
func (t EventType) MarshalText() ([]byte, error) { return marshalName(eventTypeNames, t, "event type") }

// UnmarshalText decodes a name produced by MarshalText.
func (t *EventType) UnmarshalText(b []byte) error {
	return unmarshalName(eventTypeNames, t, b, "event type")
}

// IsRequest reports whether t is a command as accepted (cart.requests).
func (t EventType) IsRequest() bool {
	return t.Kind() != KindUnspecified && kindTypes[t.Kind()].request == t
}

// IsValidated reports whether t is a fold input (cart.validated).
func (t EventType) IsValidated() bool {
	return t.Kind() != KindUnspecified && kindTypes[t.Kind()].validated == t
}

// IsInvalid reports whether t is a rejection (cart.invalid).
func (t EventType) IsInvalid() bool {
	return t.Kind() != KindUnspecified && kindTypes[t.Kind()].invalid == t
}

// Kind returns the command kind t belongs to, or KindUnspecified.
func (t EventType) Kind() Kind {
	for k := KindAddItem; k <= KindMergeReturned; k++ {
		if ts := kindTypes[k]; ts.request == t || ts.validated == t || ts.invalid == t {
			return k
		}
	}
	return KindUnspecified
}

// Reason says why a request was rejected. ReasonNone is the zero value and
// means "not rejected".
type Reason uint8

// The reason codes; each is documented in docs/domain.md with the rule that
// produces it.
const (
	ReasonNone               Reason = iota
	ReasonMalformed                 // syntax: missing or malformed fields, undecodable bytes
	ReasonUnknownSKU                // the catalog does not know the SKU
	ReasonInactiveSKU               // the product is not for sale
	ReasonInvalidProduct            // the catalog entry is unusable (price, currency, cap)
	ReasonQuantityOutOfRange        // quantity outside 1..cap, or a line would exceed its cap
	ReasonLineLimit                 // the cart already holds Limits.MaxLines distinct lines
	ReasonCartCheckedOut            // the cart is checked out; nothing changes it any more
	ReasonEmptyCart                 // checkout of a cart without lines
	ReasonItemNotInCart             // remove or change of a SKU the cart does not hold
	ReasonCurrencyMismatch          // the product's currency differs from the cart's
	ReasonDuplicateRequest          // the request id was used for a different command
	ReasonAmountOverflow            // a total would not fit in int64 minor units
	ReasonWrongCart                 // the command names another cart than the state given
	ReasonCustomerMismatch          // the cart belongs to another customer
	ReasonPriceChanged              // checkout while a line's price differs from the catalog
	ReasonInvalidState              // the stored cart breaks an invariant; an operator must look
	ReasonNotExpired                // an ExpireCart found the cart touched within its time to live
	ReasonCartMerged                // the cart was merged into another; nothing changes it any more
	ReasonOutOfStock                // fewer units are available than the line asks for
	ReasonCheckoutInProgress        // the cart waits for its checkout's reservations
)

var reasonNames = []string{
	"NONE",
	"MALFORMED",
	"UNKNOWN_SKU",
	"INACTIVE_SKU",
	"INVALID_PRODUCT",
	"QUANTITY_OUT_OF_RANGE",
	"LINE_LIMIT",
	"CART_CHECKED_OUT",
	"EMPTY_CART",
	"ITEM_NOT_IN_CART",
	"CURRENCY_MISMATCH",
	"DUPLICATE_REQUEST",
	"AMOUNT_OVERFLOW",
	"WRONG_CART",
	"CUSTOMER_MISMATCH",
	"PRICE_CHANGED",
	"INVALID_STATE",
	"NOT_EXPIRED",
	"CART_MERGED",
	"OUT_OF_STOCK",
	"CHECKOUT_IN_PROGRESS",
}

func (r Reason) String() string { return nameOf(reasonNames, r, "Reason") }

// Valid reports whether r is a known reason (ReasonNone included).
func (r Reason) Valid() bool { return int(r) < len(reasonNames) }

// Reasons returns every rejection reason, ReasonNone excluded.
func Reasons() []Reason {
	rs := make([]Reason, 0, len(reasonNames)-1)
	for i := 1; i < len(reasonNames); i++ {
		rs = append(rs, Reason(i))
	}
	return rs
}

// ParseReason is the inverse of String. The empty string parses as
// ReasonNone, because encoders often leave the field of an accepted request
// empty.
func ParseReason(s string) (Reason, error) {
	if s == "" {
		return ReasonNone, nil
	}
	return parseName[Reason](reasonNames, s, "reason")
}

// MarshalText encodes r by name.
func (r Reason) MarshalText() ([]byte, error) { return marshalName(reasonNames, r, "reason") }

// UnmarshalText decodes a name produced by MarshalText.
func (r *Reason) UnmarshalText(b []byte) error {
	v, err := ParseReason(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Status is the life-cycle state of a cart. The zero value is StatusOpen, so
// the zero CartState is an empty open cart.
type Status uint8

// The cart statuses.
const (
	StatusOpen Status = iota
	StatusCheckedOut
	// StatusMerged: a MergeCarts moved the lines into another cart.
	StatusMerged
)

var statusNames = []string{"OPEN", "CHECKED_OUT", "MERGED"}

func (s Status) String() string { return nameOf(statusNames, s, "Status") }

// Valid reports whether s is a known status.
func (s Status) Valid() bool { return int(s) < len(statusNames) }

// ParseStatus is the inverse of String.
func ParseStatus(s string) (Status, error) { return parseName[Status](statusNames, s, "status") }

// MarshalText encodes s by name.
func (s Status) MarshalText() ([]byte, error) { return marshalName(statusNames, s, "status") }

// UnmarshalText decodes a name produced by MarshalText.
func (s *Status) UnmarshalText(b []byte) error { return unmarshalName(statusNames, s, b, "status") }

func marshalName[T ~uint8](names []string, v T, typ string) ([]byte, error) {
	if int(v) >= len(names) || names[v] == "" {
		return nil, fmt.Errorf("%w: %s %d", ErrUnknownName, typ, uint8(v))
	}
	return []byte(names[v]), nil
}

func unmarshalName[T ~uint8](names []string, v *T, b []byte, typ string) error {
	p, err := parseName[T](names, string(b), typ)
	if err != nil {
		return err
	}
	*v = p
	return nil
}
