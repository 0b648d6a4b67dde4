package records

import (
	"encoding/binary"
	"time"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/codec"
)

// Hand-written Avro encoders of the records the manager writes for every
// request (the snapshot, the validated events, the rejection) and a
// hand-written decoder of what it reads (fastdec.go). The goavro path,
// which builds map[string]any values, stays as the reference: it encodes
// every value the fast path does not take, and the tests compare the two
// byte for byte (fast_test.go).
//
// Each fast path is written for one schema version, pinned below by
// fingerprint. A Codec takes a fast path only while its current schema
// for the record type has that fingerprint, so another version (a v2
// pinned by a test, an edited .avsc) silently takes the goavro path, and
// TestFastSchemasPinned fails until the fast code is updated to match.
//
// An encoder runs twice over the value: a size pass that also checks that
// everything is representable (a known status, kind and reason, times in
// range), then the append pass into a slice of exactly that size. A value
// the size pass refuses goes to the reference encoder, so errors are the
// reference's, word for word.

// Fingerprints of the schema versions the fast paths are written for.
const (
	fastRequestFP        uint64 = 0x6537d1ed0d5391c8 // cart_request.v2
	fastAddItemFP        uint64 = 0x378dc517f1210ba7 // add_item_validated_request.v1
	fastRemoveItemFP     uint64 = 0xf9836e95de31bcd9 // remove_item_validated_request.v1
	fastChangeQuantityFP uint64 = 0x9a8842709e838d48 // change_quantity_validated_request.v1
	fastCheckedOutFP     uint64 = 0x1246e4f20453bf7c // cart_checked_out.v1
	fastInvalidFP        uint64 = 0x968f964ee18a3214 // invalid_request.v2
	fastSnapshotFP       uint64 = 0x55fb562830e2e789 // cart_snapshot.v2
	fastProductFP        uint64 = 0x17031b8839c69b21 // product.v1 (decoded by hand only)
)

// fastPaths says which record types a Codec encodes and decodes by hand
// (the product is only decoded by hand: it is written once per catalog
// change, read by every consumer of catalog.products).
type fastPaths struct {
	request, addItem, removeItem, changeQuantity, checkedOut, invalid, snapshot, product bool
}

func newFastPaths(c *Codec) fastPaths {
	return fastPaths{
		request:        c.request.Fingerprint() == fastRequestFP,
		addItem:        c.addItem.Fingerprint() == fastAddItemFP,
		removeItem:     c.removeItem.Fingerprint() == fastRemoveItemFP,
		changeQuantity: c.changeQuantity.Fingerprint() == fastChangeQuantityFP,
		checkedOut:     c.checkedOut.Fingerprint() == fastCheckedOutFP,
		invalid:        c.invalid.Fingerprint() == fastInvalidFP,
		snapshot:       c.snapshot.Fingerprint() == fastSnapshotFP,
		product:        c.product.Fingerprint() == fastProductFP,
	}
}

// Enum symbols of the pinned schemas, in schema order.
var (
	cartStatusSymbols  = [...]string{"OPEN", "CHECKED_OUT", "MERGED"}
	requestKindSymbols = [...]string{"UNKNOWN", "ADD_ITEM", "REMOVE_ITEM", "CHANGE_QUANTITY", "CHECKOUT",
		"CLEAR_CART", "EXPIRE_CART", "MERGE_CARTS", "MERGE_INTO", "MERGE_RETURNED"}
)

// Lookup tables from the domain's closed sets to what the reference
// encoder writes, built with the reference's own functions so the two
// cannot disagree. -1 (or !ok) sends the value to the reference encoder.
var (
	statusIndex [256]int8 // CartStatus symbol index of Status.MarshalText
	kindIndex   [256]int8 // RequestKind symbol index of enc.kindSymbol
	reasonWire  [256]struct {
		name string
		ok   bool
	}
)

func init() {
	for i := range 256 {
		statusIndex[i], kindIndex[i] = -1, -1
		if name, err := cart.Status(i).MarshalText(); err == nil {
			statusIndex[i] = symbolIndex(cartStatusSymbols[:], string(name))
		}
		var e enc
		if sym := e.kindSymbol("", cart.Kind(i)); e.err == nil {
			kindIndex[i] = symbolIndex(requestKindSymbols[:], sym)
		}
		name, ok := reasonNames[cart.Reason(i)]
		reasonWire[i].name, reasonWire[i].ok = name, ok
	}
}

func symbolIndex(symbols []string, s string) int8 {
	for i, sym := range symbols {
		if sym == s {
			return int8(i)
		}
	}
	return -1
}

// --- sizes and checks -------------------------------------------------

func strSize(s string) int { return codec.StringSize(len(s)) }

// optStrSize: ["null", "string"], null when empty.
func optStrSize(s string) int {
	if s == "" {
		return 1
	}
	return 1 + strSize(s)
}

func moneySize(m cart.Money) int {
	return codec.LongSize(m.Amount) + strSize(string(m.Currency))
}

// tsOK reports whether the reference encodes t as a required time.
func tsOK(t time.Time) bool { return !t.IsZero() && nanosFits(t) }

func tsSize(t time.Time) int { return codec.LongSize(t.UnixNano()) }

// optTSSize: ["null", timestamp-nanos], null when zero.
func optTSSize(t time.Time) (int, bool) {
	if t.IsZero() {
		return 1, true
	}
	if !nanosFits(t) {
		return 0, false
	}
	return 1 + tsSize(t), true
}

func linesSize(ls []cart.Line) int {
	n := codec.ArrayHeadersSize(len(ls))
	for i := range ls {
		l := &ls[i]
		n += strSize(string(l.SKU)) + strSize(l.Name) + moneySize(l.UnitPrice) + codec.LongSize(int64(l.Quantity))
	}
	return n
}

// --- appending --------------------------------------------------------

func appendOptStr(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, 0) // branch 0: null
	}
	return codec.AppendString(append(dst, 2), s) // branch 1 (zigzag 2): string
}

func appendMoney(dst []byte, m cart.Money) []byte {
	return codec.AppendString(codec.AppendLong(dst, m.Amount), string(m.Currency))
}

func appendOptTS(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, 0)
	}
	return codec.AppendLong(append(dst, 2), t.UnixNano())
}

func appendLines(dst []byte, ls []cart.Line) []byte {
	for i := range ls {
		l := &ls[i]
		dst = codec.AppendArrayBlock(dst, i, len(ls))
		dst = codec.AppendString(dst, string(l.SKU))
		dst = codec.AppendString(dst, l.Name)
		dst = appendMoney(dst, l.UnitPrice)
		dst = codec.AppendInt(dst, l.Quantity)
	}
	return append(dst, 0)
}

// --- CartSnapshot -----------------------------------------------------

// snapshotSize is the body size of s, or false if the reference encoder
// must handle s (it does not fit the schema).
func snapshotSize(s *cart.Snapshot) (int, bool) {
	st := &s.Cart
	if statusIndex[st.Status] < 0 {
		return 0, false
	}
	updated, ok1 := optTSSize(st.UpdatedAt)
	checkedOut, ok2 := optTSSize(st.CheckedOutAt)
	if !ok1 || !ok2 {
		return 0, false
	}
	n := strSize(string(st.CartID)) + optStrSize(string(st.CustomerID)) +
		codec.LongSize(int64(statusIndex[st.Status])) + optStrSize(string(st.Currency)) +
		linesSize(st.Lines) + moneySize(st.Subtotal) +
		codec.LongSize(st.ItemCount) + codec.LongSize(st.Version) + updated + checkedOut +
		optStrSize(string(st.MergedInto))
	n += codec.LongSize(s.RequestOffset) + codec.ArrayHeadersSize(len(s.Window))
	for i := range s.Window {
		o := &s.Window[i]
		k, r := kindIndex[o.Kind], &reasonWire[o.Reason]
		if k < 0 || !r.ok {
			return 0, false
		}
		n += strSize(string(o.RequestID)) + codec.LongSize(o.Offset) + codec.LongSize(int64(k)) + 1 +
			strSize(r.name) + strSize(o.Message) + fingerprintSize + codec.LongSize(o.CartVersion)
	}
	return n, true
}

// appendSnapshot appends the body of s, which snapshotSize accepted.
func appendSnapshot(dst []byte, s *cart.Snapshot) []byte {
	st := &s.Cart
	dst = codec.AppendString(dst, string(st.CartID))
	dst = appendOptStr(dst, string(st.CustomerID))
	dst = codec.AppendLong(dst, int64(statusIndex[st.Status]))
	dst = appendOptStr(dst, string(st.Currency))
	dst = appendLines(dst, st.Lines)
	dst = appendMoney(dst, st.Subtotal)
	dst = codec.AppendLong(dst, st.ItemCount)
	dst = codec.AppendLong(dst, st.Version)
	dst = appendOptTS(dst, st.UpdatedAt)
	dst = appendOptTS(dst, st.CheckedOutAt)
	dst = appendOptStr(dst, string(st.MergedInto))
	dst = codec.AppendLong(dst, s.RequestOffset)
	for i := range s.Window {
		o := &s.Window[i]
		dst = codec.AppendArrayBlock(dst, i, len(s.Window))
		dst = codec.AppendString(dst, string(o.RequestID))
		dst = codec.AppendLong(dst, o.Offset)
		dst = codec.AppendLong(dst, int64(kindIndex[o.Kind]))
		dst = codec.AppendBoolean(dst, o.Accepted)
		dst = codec.AppendString(dst, reasonWire[o.Reason].name)
		dst = codec.AppendString(dst, o.Message)
		dst = binary.BigEndian.AppendUint64(dst, uint64(o.Fingerprint))
		dst = codec.AppendLong(dst, o.CartVersion)
	}
	return append(dst, 0)
}

// --- validated events -------------------------------------------------

// eventMetaSize is the size of the five meta fields every event schema
// starts with, or false if a time does not fit.
func eventMetaSize(m cart.EventMeta) (int, bool) {
	if !tsOK(m.RequestedAt) || !tsOK(m.DecidedAt) {
		return 0, false
	}
	return strSize(string(m.CartID)) + strSize(string(m.RequestID)) + codec.LongSize(m.Version) +
		tsSize(m.RequestedAt) + tsSize(m.DecidedAt), true
}

func appendEventMeta(dst []byte, m cart.EventMeta) []byte {
	dst = codec.AppendString(dst, string(m.CartID))
	dst = codec.AppendString(dst, string(m.RequestID))
	dst = codec.AppendLong(dst, m.Version)
	dst = codec.AppendLong(dst, m.RequestedAt.UnixNano())
	return codec.AppendLong(dst, m.DecidedAt.UnixNano())
}

// eventSize is the body size of ev (one of the four value types) with
// its type's schema, or false for the reference encoder.
func eventSize(ev cart.Event) (int, bool) {
	n, ok := eventMetaSize(ev.Meta())
	if !ok {
		return 0, false
	}
	switch v := ev.(type) {
	case cart.AddItemValidatedRequest:
		n += strSize(string(v.CustomerID)) + strSize(string(v.SKU)) + strSize(v.Name) +
			moneySize(v.UnitPrice) + codec.LongSize(int64(v.Quantity))
	case cart.RemoveItemValidatedRequest:
		n += strSize(string(v.SKU))
	case cart.ChangeQuantityValidatedRequest:
		n += strSize(string(v.SKU)) + strSize(v.Name) + moneySize(v.UnitPrice) + codec.LongSize(int64(v.Quantity))
	case cart.CartCheckedOut:
		n += strSize(string(v.CustomerID)) + linesSize(v.Lines) + moneySize(v.Subtotal) + codec.LongSize(v.ItemCount)
	default:
		return 0, false
	}
	return n, true
}

func appendEvent(dst []byte, ev cart.Event) []byte {
	dst = appendEventMeta(dst, ev.Meta())
	switch v := ev.(type) {
	case cart.AddItemValidatedRequest:
		dst = codec.AppendString(dst, string(v.CustomerID))
		dst = codec.AppendString(dst, string(v.SKU))
		dst = codec.AppendString(dst, v.Name)
		dst = appendMoney(dst, v.UnitPrice)
		dst = codec.AppendInt(dst, v.Quantity)
	case cart.RemoveItemValidatedRequest:
		dst = codec.AppendString(dst, string(v.SKU))
	case cart.ChangeQuantityValidatedRequest:
		dst = codec.AppendString(dst, string(v.SKU))
		dst = codec.AppendString(dst, v.Name)
		dst = appendMoney(dst, v.UnitPrice)
		dst = codec.AppendInt(dst, v.Quantity)
	case cart.CartCheckedOut:
		dst = codec.AppendString(dst, string(v.CustomerID))
		dst = appendLines(dst, v.Lines)
		dst = appendMoney(dst, v.Subtotal)
		dst = codec.AppendLong(dst, v.ItemCount)
	}
	return dst
}

// --- InvalidRequest ---------------------------------------------------

func invalidSize(inv *cart.InvalidRequest) (int, bool) {
	k, r := kindIndex[inv.Kind], &reasonWire[inv.Rejection.Reason]
	requested, ok := optTSSize(inv.RequestedAt)
	if k < 0 || !r.ok || !ok || !tsOK(inv.DecidedAt) {
		return 0, false
	}
	raw := 1
	if len(inv.Raw) > 0 {
		raw += codec.StringSize(len(inv.Raw))
	}
	return optStrSize(string(inv.CartID)) + optStrSize(string(inv.RequestID)) + codec.LongSize(int64(k)) +
		strSize(r.name) + strSize(inv.Rejection.Message) + requested + tsSize(inv.DecidedAt) + raw, true
}

func appendInvalid(dst []byte, inv *cart.InvalidRequest) []byte {
	dst = appendOptStr(dst, string(inv.CartID))
	dst = appendOptStr(dst, string(inv.RequestID))
	dst = codec.AppendLong(dst, int64(kindIndex[inv.Kind]))
	dst = codec.AppendString(dst, reasonWire[inv.Rejection.Reason].name)
	dst = codec.AppendString(dst, inv.Rejection.Message)
	dst = appendOptTS(dst, inv.RequestedAt)
	dst = codec.AppendLong(dst, inv.DecidedAt.UnixNano())
	if len(inv.Raw) == 0 {
		return append(dst, 0)
	}
	return codec.AppendBytes(append(dst, 2), inv.Raw)
}
