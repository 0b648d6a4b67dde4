package cart

import "fmt"

// MaxIDLength bounds every identifier and SKU. Ids travel in every record,
// header, log line and window entry, so a client must not be able to make
// them large.
const MaxIDLength = 64

// Identifiers are opaque strings of 1..MaxIDLength characters drawn from
// [A-Za-z0-9._-]: wide enough for UUIDs, ULIDs and prefixed keys, narrow
// enough to be safe in logs, headers and URLs without escaping.
type (
	// CartID names a cart; it is the Kafka key of every cart topic.
	CartID string
	// RequestID is the client's idempotency key for one command.
	RequestID string
	// CustomerID names the customer owning a cart. It is an opaque
	// reference, never an e-mail address or a name.
	CustomerID string
	// SKU names a product in the catalog.
	SKU string
)

const idRule = "must be 1 to 64 characters of A-Z a-z 0-9 . _ -"

// validID is the single definition of the identifier grammar.
func validID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// checkID adds a violation for field when s is not a valid identifier.
func (v *violations) checkID(field, s string) {
	if !validID(s) {
		v.add(field, idRule)
	}
}

func validateID(field, s string) error {
	var v violations
	v.checkID(field, s)
	return v.err()
}

// Validate returns a *ValidationError for field "cart_id" when id is malformed.
func (id CartID) Validate() error { return validateID("cart_id", string(id)) }

// Validate returns a *ValidationError for field "request_id" when id is malformed.
func (id RequestID) Validate() error { return validateID("request_id", string(id)) }

// Validate returns a *ValidationError for field "customer_id" when id is malformed.
func (id CustomerID) Validate() error { return validateID("customer_id", string(id)) }

// Validate returns a *ValidationError for field "sku" when s is malformed.
func (s SKU) Validate() error { return validateID("sku", string(s)) }

// MaxQuantity is the hard ceiling of a line's quantity, whatever the catalog
// or the limits say. It keeps every total far from int64 overflow for sane
// prices and bounds what one request can ask for.
const MaxQuantity int32 = 9999

var quantityRule = fmt.Sprintf("must be between 1 and %d", MaxQuantity)

func (v *violations) checkQuantity(field string, q int32) {
	if q < 1 || q > MaxQuantity {
		v.add(field, quantityRule)
	}
}

// ValidateQuantity returns a *ValidationError for field "quantity" when q is
// outside 1..MaxQuantity. A product's own cap is a business rule Decide
// checks, not a syntax rule.
func ValidateQuantity(q int32) error {
	var v violations
	v.checkQuantity("quantity", q)
	return v.err()
}
