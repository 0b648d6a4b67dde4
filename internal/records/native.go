package records

import (
	"fmt"
	"math"
	"time"

	"github.com/cartstream/cartstream/cart"
)

// This file converts between Go values and goavro's native form: records
// are map[string]any, a non-null union value is map[string]any{branch: v},
// long is int64, int int32, enum string, fixed and bytes []byte.

// Union branch names of the schemas.
const (
	branchString = "string"
	branchLong   = "long"
	branchBytes  = "bytes"
)

// --- encoding ---------------------------------------------------------

// enc collects the first problem while a native record is built, so the
// builders stay straight-line code.
type enc struct{ err error }

func (e *enc) fail(field, format string, args ...any) {
	if e.err == nil {
		e.err = fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
	}
}

// The instants a timestamp-nanos long can hold (years 1677 to 2262).
var (
	minNanoTime = time.Unix(0, math.MinInt64)
	maxNanoTime = time.Unix(0, math.MaxInt64)
)

func nanosFits(t time.Time) bool { return !t.Before(minNanoTime) && !t.After(maxNanoTime) }

// ts encodes a required time.
func (e *enc) ts(field string, t time.Time) int64 {
	if t.IsZero() || !nanosFits(t) {
		e.fail(field, "time %s is zero or outside the nanosecond range (1677..2262)", t.UTC().Format(time.RFC3339))
		return 0
	}
	return t.UnixNano()
}

// optTS encodes a time that is null when zero.
func (e *enc) optTS(field string, t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return map[string]any{branchLong: e.ts(field, t)}
}

// optString encodes a string that is null when empty.
func optString(s string) any {
	if s == "" {
		return nil
	}
	return map[string]any{branchString: s}
}

func optBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return map[string]any{branchBytes: b}
}

func money(m cart.Money) map[string]any {
	return map[string]any{"amount_minor": m.Amount, "currency": string(m.Currency)}
}

func lines(ls []cart.Line) []any {
	out := make([]any, len(ls))
	for i, l := range ls {
		out[i] = map[string]any{
			"sku":        string(l.SKU),
			"name":       l.Name,
			"unit_price": money(l.UnitPrice),
			"quantity":   l.Quantity,
		}
	}
	return out
}

// kindSymbol is the RequestKind symbol of k.
func (e *enc) kindSymbol(field string, k cart.Kind) string {
	switch k {
	case cart.KindUnspecified:
		return "UNKNOWN"
	case cart.KindAddItem:
		return "ADD_ITEM"
	case cart.KindRemoveItem:
		return "REMOVE_ITEM"
	case cart.KindChangeQuantity:
		return "CHANGE_QUANTITY"
	case cart.KindCheckout:
		return "CHECKOUT"
	case cart.KindClearCart:
		return "CLEAR_CART"
	case cart.KindExpireCart:
		return "EXPIRE_CART"
	case cart.KindMergeCarts:
		return "MERGE_CARTS"
	case cart.KindMergeInto:
		return "MERGE_INTO"
	case cart.KindMergeReturned:
		return "MERGE_RETURNED"
	}
	e.fail(field, "unknown kind %d", uint8(k))
	return ""
}

// reasonNames holds every reason's wire name, built once so encoding a
// reason allocates nothing; ReasonNone is the empty string.
var reasonNames = func() map[cart.Reason]string {
	m := map[cart.Reason]string{cart.ReasonNone: ""}
	for _, r := range cart.Reasons() {
		m[r] = r.String()
	}
	return m
}()

// reason encodes a reason code by name.
func (e *enc) reason(field string, r cart.Reason) string {
	if name, ok := reasonNames[r]; ok {
		return name
	}
	// Not a known reason: MarshalText says why.
	_, err := r.MarshalText()
	if err == nil {
		err = fmt.Errorf("reason %d has no wire name", uint8(r))
	}
	if e.err == nil {
		e.err = fmt.Errorf("%w: %s: %w", ErrInvalid, field, err)
	}
	return ""
}

// --- decoding ---------------------------------------------------------

// dec reads fields of native records, collecting the first problem. A
// problem here means the record does not have the shape of the reader
// schema, which a decode with that schema rules out; it is reported, not
// trusted away.
type dec struct{ err error }

func (d *dec) fail(field, format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
	}
}

func (d *dec) failErr(field string, err error) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s: %w", ErrInvalid, field, err)
	}
}

func (d *dec) shape(field string, v any, want string) {
	d.fail(field, "want %s, have Go type %T", want, v)
}

func (d *dec) record(v any, field string) map[string]any {
	m, ok := v.(map[string]any)
	if !ok {
		d.shape(field, v, "record")
	}
	return m
}

func (d *dec) str(m map[string]any, field string) string {
	s, ok := m[field].(string)
	if !ok {
		d.shape(field, m[field], "string")
	}
	return s
}

func (d *dec) long(m map[string]any, field string) int64 {
	n, ok := m[field].(int64)
	if !ok {
		d.shape(field, m[field], "long")
	}
	return n
}

func (d *dec) int(m map[string]any, field string) int32 {
	n, ok := m[field].(int32)
	if !ok {
		d.shape(field, m[field], "int")
	}
	return n
}

func (d *dec) boolean(m map[string]any, field string) bool {
	b, ok := m[field].(bool)
	if !ok {
		d.shape(field, m[field], "boolean")
	}
	return b
}

func (d *dec) array(m map[string]any, field string) []any {
	a, ok := m[field].([]any)
	if !ok {
		d.shape(field, m[field], "array")
	}
	return a
}

// branch returns the value of a ["null", T] union field, nil for null.
func (d *dec) branch(m map[string]any, field, name string) any {
	v := m[field]
	if v == nil {
		return nil
	}
	u, ok := v.(map[string]any)
	if !ok || len(u) != 1 {
		d.shape(field, v, "union")
		return nil
	}
	x, ok := u[name]
	if !ok {
		d.shape(field, v, "union branch "+name)
	}
	return x
}

func (d *dec) optStr(m map[string]any, field string) string {
	v := d.branch(m, field, branchString)
	if v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		d.shape(field, v, "string")
	}
	return s
}

func (d *dec) optBytes(m map[string]any, field string) []byte {
	v := d.branch(m, field, branchBytes)
	if v == nil {
		return nil
	}
	b, ok := v.([]byte)
	if !ok {
		d.shape(field, v, "bytes")
	}
	if len(b) == 0 {
		return nil
	}
	return b
}

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

func (d *dec) ts(m map[string]any, field string) time.Time {
	return fromNanos(d.long(m, field))
}

func (d *dec) optTS(m map[string]any, field string) time.Time {
	v := d.branch(m, field, branchLong)
	if v == nil {
		return time.Time{}
	}
	n, ok := v.(int64)
	if !ok {
		d.shape(field, v, "long")
	}
	return fromNanos(n)
}

func (d *dec) money(m map[string]any, field string) cart.Money {
	r := d.record(m[field], field)
	return cart.Money{Amount: d.long(r, "amount_minor"), Currency: cart.Currency(d.str(r, "currency"))}
}

func (d *dec) lines(m map[string]any, field string) []cart.Line {
	a := d.array(m, field)
	if len(a) == 0 {
		return nil
	}
	out := make([]cart.Line, len(a))
	for i, v := range a {
		r := d.record(v, field)
		out[i] = cart.Line{
			SKU:       cart.SKU(d.str(r, "sku")),
			Name:      d.str(r, "name"),
			UnitPrice: d.money(r, "unit_price"),
			Quantity:  d.int(r, "quantity"),
		}
	}
	return out
}

// skus decodes an array of SKU strings.
func (d *dec) skus(m map[string]any, field string) []cart.SKU {
	a := d.array(m, field)
	if len(a) == 0 {
		return nil
	}
	out := make([]cart.SKU, len(a))
	for i, v := range a {
		s, ok := v.(string)
		if !ok {
			d.shape(field, v, "string")
		}
		out[i] = cart.SKU(s)
	}
	return out
}

func (d *dec) kind(m map[string]any, field string) cart.Kind {
	s, ok := m[field].(string)
	if !ok {
		d.shape(field, m[field], "enum")
		return cart.KindUnspecified
	}
	switch s {
	case "UNKNOWN":
		return cart.KindUnspecified
	case "ADD_ITEM":
		return cart.KindAddItem
	case "REMOVE_ITEM":
		return cart.KindRemoveItem
	case "CHANGE_QUANTITY":
		return cart.KindChangeQuantity
	case "CHECKOUT":
		return cart.KindCheckout
	case "CLEAR_CART":
		return cart.KindClearCart
	case "EXPIRE_CART":
		return cart.KindExpireCart
	case "MERGE_CARTS":
		return cart.KindMergeCarts
	case "MERGE_INTO":
		return cart.KindMergeInto
	case "MERGE_RETURNED":
		return cart.KindMergeReturned
	}
	d.fail(field, "unknown kind symbol %q", s)
	return cart.KindUnspecified
}

func (d *dec) reason(m map[string]any, field string) cart.Reason {
	r, err := cart.ParseReason(d.str(m, field))
	if err != nil {
		// A reason code newer than this reader's domain: the schema
		// resolved, the domain cannot hold it.
		d.failErr(field, err)
	}
	return r
}
