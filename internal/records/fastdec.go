package records

import (
	"errors"
	"fmt"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/codec"
)

// Hand-written decoders for records written with the pinned schema
// versions (fastenc.go). A record written with any other version, an older
// one that needs resolution included, takes the goavro path. Equivalence
// with that path, for every input, is what the FuzzDecode*Equivalent
// targets (request, snapshot, validated events, invalid request, product)
// and TestFastDecodeMutations check:
//
//   - The body is read in full first (codec.BodyReader accepts exactly what
//     goavro does), so a corrupt body is ErrBody even where a field before
//     the corruption would also have been refused by the domain.
//   - Then the domain mapping, reporting the first problem in the order the
//     reference reports it, then the domain's Validate.
//   - The body is converted to a string once; every string of the decoded
//     value is a substring of it (one allocation for all of them, no alias
//     of the caller's buffer).

// errNotFast sends a record the hand-written decoder does not cover to
// the reference decoder.
var errNotFast = errors.New("records: not on the fast path")

// Decode tables built with the reference's own functions.
var (
	// statusFromSymbol: CartStatus symbol index to cart.Status, or the
	// error cart.ParseStatus gives the symbol.
	statusFromSymbol [len(cartStatusSymbols)]struct {
		status cart.Status
		err    error
	}
	// kindFromSymbol: RequestKind symbol index to cart.Kind, as dec.kind
	// maps it.
	kindFromSymbol [len(requestKindSymbols)]struct {
		kind cart.Kind
		err  error
	}
	// reasonFromWire: every string cart.ParseReason accepts.
	reasonFromWire = map[string]cart.Reason{}
)

func init() {
	for i, sym := range cartStatusSymbols {
		statusFromSymbol[i].status, statusFromSymbol[i].err = cart.ParseStatus(sym)
	}
	for i, sym := range requestKindSymbols {
		var d dec
		kindFromSymbol[i].kind = d.kind(map[string]any{"kind": sym}, "kind")
		kindFromSymbol[i].err = d.err
	}
	for i := range 256 {
		r := cart.Reason(i)
		for _, name := range []string{"", r.String(), reasonNames[r]} {
			if got, err := cart.ParseReason(name); err == nil && got == r {
				reasonFromWire[name] = r
			}
		}
	}
}

// parseReason is cart.ParseReason without an allocation for known names.
func parseReason(s string) (cart.Reason, error) {
	if r, ok := reasonFromWire[s]; ok {
		return r, nil
	}
	return cart.ParseReason(s)
}

// decodeRequestBody decodes a CartRequest body written with the pinned
// schema: requestFrom's result, from the bytes.
func decodeRequestBody(w *codec.Schema, body []byte) (cart.Command, error) {
	r := codec.NewBodyReader(w, string(body))
	requestID := cart.RequestID(r.String())
	cartID := cart.CartID(r.String())
	var customerID cart.CustomerID
	if r.Index(2) == 1 {
		customerID = cart.CustomerID(r.String())
	}
	at := fromNanos(r.Long())
	branch := r.Index(9)
	if branch >= 4 {
		return nil, errNotFast // the lifecycle's branches: the reference decodes them
	}
	var sku cart.SKU
	var quantity int32
	switch branch {
	case 0, 2: // AddItemRequest, ChangeQuantityRequest
		sku, quantity = cart.SKU(r.String()), r.Int()
	case 1: // RemoveItemRequest
		sku = cart.SKU(r.String())
	}
	if err := r.Finish(); err != nil {
		return nil, err
	}
	var cmd cart.Command
	switch branch {
	case 0:
		cmd = cart.AddItem{CartID: cartID, RequestID: requestID, CustomerID: customerID, RequestedAt: at, SKU: sku, Quantity: quantity}
	case 1:
		// customer_id, if a producer set it, is not part of the command.
		cmd = cart.RemoveItem{CartID: cartID, RequestID: requestID, RequestedAt: at, SKU: sku}
	case 2:
		cmd = cart.ChangeQuantity{CartID: cartID, RequestID: requestID, RequestedAt: at, SKU: sku, Quantity: quantity}
	default:
		cmd = cart.Checkout{CartID: cartID, RequestID: requestID, CustomerID: customerID, RequestedAt: at}
	}
	if err := cart.ValidateCommand(cmd); err != nil {
		return nil, errInvalidCommand(cmd, err)
	}
	return cmd, nil
}

// Smallest encodings of one array item, to cap preallocation.
const (
	minLineBytes    = 5  // sku, name, amount, currency, quantity
	minOutcomeBytes = 15 // 7 one-byte fields and the 8-byte fingerprint
)

// decodeSnapshotBody decodes a CartSnapshot body written with the pinned
// schema: snapshotFrom's result, from the bytes.
func decodeSnapshotBody(w *codec.Schema, body []byte) (cart.Snapshot, error) {
	r := codec.NewBodyReader(w, string(body))
	var d dec
	var s cart.Snapshot
	st := &s.Cart
	st.CartID = cart.CartID(r.String())
	if r.Index(2) == 1 {
		st.CustomerID = cart.CustomerID(r.String())
	}
	status := statusFromSymbol[r.Index(len(cartStatusSymbols))]
	if status.err != nil {
		d.failErr("cart.status", status.err)
	}
	st.Status = status.status
	if r.Index(2) == 1 {
		st.Currency = cart.Currency(r.String())
	}
	st.Lines = readLines(&r)
	st.Subtotal = readMoney(&r)
	st.ItemCount = r.Long()
	st.Version = r.Long()
	if r.Index(2) == 1 {
		st.UpdatedAt = fromNanos(r.Long())
	}
	if r.Index(2) == 1 {
		st.CheckedOutAt = fromNanos(r.Long())
	}
	if r.Index(2) == 1 {
		st.MergedInto = cart.CartID(r.String())
	}
	s.RequestOffset = r.Long()
	for n := r.ArrayBlock(); n > 0; n = r.ArrayBlock() {
		if s.Window == nil {
			s.Window = make([]cart.RequestOutcome, 0, min(n, r.Remaining()/minOutcomeBytes+1))
		}
		for i := 0; i < n && r.Err() == nil; i++ {
			o := cart.RequestOutcome{
				RequestID: cart.RequestID(r.String()),
				Offset:    r.Long(),
			}
			kind := kindFromSymbol[r.Index(len(requestKindSymbols))]
			if kind.err != nil && d.err == nil {
				d.err = kind.err
			}
			o.Kind = kind.kind
			o.Accepted = r.Boolean()
			reason, err := parseReason(r.String())
			if err != nil {
				d.failErr("reason", err)
			}
			o.Reason = reason
			o.Message = r.String()
			fp := r.Fixed(fingerprintSize)
			if len(fp) == fingerprintSize {
				o.Fingerprint = cart.Fingerprint(bigEndian64(fp))
			}
			o.CartVersion = r.Long()
			s.Window = append(s.Window, o)
		}
	}
	if err := r.Finish(); err != nil {
		return cart.Snapshot{}, err
	}
	if d.err != nil {
		return cart.Snapshot{}, d.err
	}
	if err := s.Validate(); err != nil {
		return cart.Snapshot{}, errInvalidSnapshot(err)
	}
	return s, nil
}

// readLines reads an array of Line as dec.lines maps it: nil when empty.
// Preallocation is capped by the bytes left (a line takes at least
// minLineBytes), so a hostile block count cannot make it allocate more
// than a small multiple of the body.
func readLines(r *codec.BodyReader) []cart.Line {
	var ls []cart.Line
	for n := r.ArrayBlock(); n > 0; n = r.ArrayBlock() {
		if ls == nil {
			ls = make([]cart.Line, 0, min(n, r.Remaining()/minLineBytes+1))
		}
		for i := 0; i < n && r.Err() == nil; i++ {
			ls = append(ls, cart.Line{
				SKU:       cart.SKU(r.String()),
				Name:      r.String(),
				UnitPrice: readMoney(r),
				Quantity:  r.Int(),
			})
		}
	}
	return ls
}

func readMoney(r *codec.BodyReader) cart.Money {
	amount := r.Long()
	return cart.Money{Amount: amount, Currency: cart.Currency(r.String())}
}

func bigEndian64(s string) uint64 {
	_ = s[7]
	return uint64(s[7]) | uint64(s[6])<<8 | uint64(s[5])<<16 | uint64(s[4])<<24 |
		uint64(s[3])<<32 | uint64(s[2])<<40 | uint64(s[1])<<48 | uint64(s[0])<<56
}

// --- validated events -------------------------------------------------

// decodeEventBody decodes the body of a cart.validated event written with
// w, the pinned schema of one of the four event types (fastEventFP):
// eventFrom's result, from the bytes. Events have no domain check, so the
// only errors are the body's.
func decodeEventBody(w *codec.Schema, body []byte) (cart.Event, error) {
	r := codec.NewBodyReader(w, string(body))
	// The five meta fields every event schema starts with.
	cartID := cart.CartID(r.String())
	requestID := cart.RequestID(r.String())
	version := r.Long()
	requestedAt := fromNanos(r.Long())
	decidedAt := fromNanos(r.Long())
	var ev cart.Event
	switch w.Fingerprint() {
	case fastAddItemFP:
		v := cart.AddItemValidatedRequest{
			CartID: cartID, RequestID: requestID, Version: version, RequestedAt: requestedAt, DecidedAt: decidedAt,
			CustomerID: cart.CustomerID(r.String()),
			SKU:        cart.SKU(r.String()),
			Name:       r.String(),
			UnitPrice:  readMoney(&r),
			Quantity:   r.Int(),
		}
		if err := r.Finish(); err != nil {
			return nil, err
		}
		ev = v
	case fastRemoveItemFP:
		v := cart.RemoveItemValidatedRequest{
			CartID: cartID, RequestID: requestID, Version: version, RequestedAt: requestedAt, DecidedAt: decidedAt,
			SKU: cart.SKU(r.String()),
		}
		if err := r.Finish(); err != nil {
			return nil, err
		}
		ev = v
	case fastChangeQuantityFP:
		v := cart.ChangeQuantityValidatedRequest{
			CartID: cartID, RequestID: requestID, Version: version, RequestedAt: requestedAt, DecidedAt: decidedAt,
			SKU:       cart.SKU(r.String()),
			Name:      r.String(),
			UnitPrice: readMoney(&r),
			Quantity:  r.Int(),
		}
		if err := r.Finish(); err != nil {
			return nil, err
		}
		ev = v
	case fastCheckedOutFP:
		v := cart.CartCheckedOut{
			CartID: cartID, RequestID: requestID, Version: version, RequestedAt: requestedAt, DecidedAt: decidedAt,
			CustomerID: cart.CustomerID(r.String()),
			Lines:      readLines(&r),
			Subtotal:   readMoney(&r),
			ItemCount:  r.Long(),
		}
		if err := r.Finish(); err != nil {
			return nil, err
		}
		ev = v
	default:
		// Unreachable: DecodeValidated takes this path only for the four
		// pinned fingerprints.
		return nil, fmt.Errorf("%w: %s is not an event of cart.validated", ErrWrongType, w.FullName())
	}
	return ev, nil
}

// --- InvalidRequest ---------------------------------------------------

// decodeInvalidBody decodes an InvalidRequest body written with the pinned
// schema: invalidFrom's result, from the bytes. raw, the one bytes field,
// is copied out of the body string on its own (only MALFORMED records
// carry it).
func decodeInvalidBody(w *codec.Schema, body []byte) (cart.InvalidRequest, error) {
	r := codec.NewBodyReader(w, string(body))
	var d dec
	var inv cart.InvalidRequest
	if r.Index(2) == 1 {
		inv.CartID = cart.CartID(r.String())
	}
	if r.Index(2) == 1 {
		inv.RequestID = cart.RequestID(r.String())
	}
	kind := kindFromSymbol[r.Index(len(requestKindSymbols))]
	if kind.err != nil {
		d.err = kind.err
	}
	inv.Kind = kind.kind
	reason, err := parseReason(r.String())
	if err != nil {
		d.failErr("reason", err)
	}
	inv.Rejection.Reason = reason
	inv.Rejection.Message = r.String()
	if r.Index(2) == 1 {
		inv.RequestedAt = fromNanos(r.Long())
	}
	inv.DecidedAt = fromNanos(r.Long())
	var raw string
	if r.Index(2) == 1 {
		raw = r.String()
	}
	if err := r.Finish(); err != nil {
		return cart.InvalidRequest{}, err
	}
	if d.err != nil {
		return cart.InvalidRequest{}, d.err
	}
	if raw != "" { // as dec.optBytes: empty bytes are nil
		inv.Raw = []byte(raw)
	}
	return inv, nil
}

// --- Product ----------------------------------------------------------

// decodeProductBody decodes a Product body written with the pinned
// schema: productFrom's result, from the bytes.
func decodeProductBody(w *codec.Schema, body []byte) (cart.Product, error) {
	r := codec.NewBodyReader(w, string(body))
	p := cart.Product{
		SKU:                cart.SKU(r.String()),
		Name:               r.String(),
		UnitPrice:          readMoney(&r),
		Active:             r.Boolean(),
		MaxQuantityPerLine: r.Int(),
	}
	if err := r.Finish(); err != nil {
		return cart.Product{}, err
	}
	if err := p.Validate(); err != nil {
		return cart.Product{}, errInvalidProduct(err)
	}
	return p, nil
}
