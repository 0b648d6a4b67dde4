package records

import (
	"encoding/binary"
	"fmt"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/codec"
)

// fingerprintSize is the size of the CommandFingerprint fixed type.
const fingerprintSize = 8

// EncodeSnapshot encodes a CartSnapshot for cart.state. It does not run
// Snapshot.Validate (DecodeSnapshot does); it fails, wrapping ErrInvalid,
// only on what the schema cannot hold: an unknown status or kind or reason,
// an out-of-range time.
func (c *Codec) EncodeSnapshot(s cart.Snapshot) ([]byte, error) {
	if s.Pending != nil {
		return c.encodeSnapshotReference(s)
	}
	if c.fast.snapshot {
		if n, ok := snapshotSize(&s); ok {
			b, err := c.format.EncodeFunc(c.snapshot, n, func(dst []byte) []byte { return appendSnapshot(dst, &s) })
			if err != nil {
				return nil, fmt.Errorf("records: encode snapshot: %w", err)
			}
			return b, nil
		}
	}
	return c.encodeSnapshotReference(s)
}

// encodeSnapshotReference is EncodeSnapshot through goavro's native form:
// the reference the fast path is tested against, and the path of values
// the fast path does not take.
func (c *Codec) encodeSnapshotReference(s cart.Snapshot) ([]byte, error) {
	var e enc
	st := s.Cart
	status, err := st.Status.MarshalText()
	if err != nil {
		e.err = fmt.Errorf("%w: status: %w", ErrInvalid, err)
	}
	crt := map[string]any{
		"cart_id":        string(st.CartID),
		"customer_id":    optString(string(st.CustomerID)),
		"status":         string(status),
		"currency":       optString(string(st.Currency)),
		"lines":          lines(st.Lines),
		"subtotal":       money(st.Subtotal),
		"item_count":     st.ItemCount,
		"version":        st.Version,
		"updated_at":     e.optTS("updated_at", st.UpdatedAt),
		"checked_out_at": e.optTS("checked_out_at", st.CheckedOutAt),
		"merged_into":    optString(string(st.MergedInto)),
	}
	// One buffer holds every fingerprint: one allocation, not one per entry.
	fps := make([]byte, fingerprintSize*len(s.Window))
	window := make([]any, len(s.Window))
	for i, o := range s.Window {
		fp := fps[i*fingerprintSize : (i+1)*fingerprintSize : (i+1)*fingerprintSize]
		binary.BigEndian.PutUint64(fp, uint64(o.Fingerprint))
		window[i] = map[string]any{
			"request_id":   string(o.RequestID),
			"offset":       o.Offset,
			"kind":         e.kindSymbol("window.kind", o.Kind),
			"accepted":     o.Accepted,
			"reason":       e.reason("window.reason", o.Reason),
			"message":      o.Message,
			"fingerprint":  fp,
			"cart_version": o.CartVersion,
		}
	}
	native := map[string]any{
		"cart":           crt,
		"request_offset": s.RequestOffset,
		"window":         window,
	}
	schema := c.snapshot
	if s.Pending != nil {
		schema = c.snapshotPending
		native["pending_checkout"] = pendingNative(&e, s.Pending)
	}
	if e.err != nil {
		return nil, fmt.Errorf("records: encode snapshot: %w", e.err)
	}
	return c.encode("snapshot", schema, native)
}

// DecodeSnapshot decodes a cart.state value and validates it
// (Snapshot.Validate): a snapshot that breaks an invariant is an error
// wrapping ErrInvalid and cart.ErrInvalidState.
func (c *Codec) DecodeSnapshot(value []byte) (cart.Snapshot, error) {
	if c.fast.snapshot {
		w, body, err := c.format.DecodeHeader(value)
		if err != nil {
			return cart.Snapshot{}, fmt.Errorf("records: decode snapshot: %w", err)
		}
		if w.Fingerprint() == fastSnapshotFP {
			s, err := decodeSnapshotBody(w, body)
			if err != nil {
				return cart.Snapshot{}, fmt.Errorf("records: decode snapshot: %w", err)
			}
			return s, nil
		}
	}
	return c.decodeSnapshotReference(value)
}

// decodeSnapshotReference is DecodeSnapshot through goavro's native form
// and schema resolution: the reference the fast path is tested against,
// and the path of every writer schema but the pinned one.
func (c *Codec) decodeSnapshotReference(value []byte) (cart.Snapshot, error) {
	w, native, err := c.read(value)
	if err == nil {
		var s cart.Snapshot
		if s, err = c.snapshotFrom(w, native); err == nil {
			return s, nil
		}
	}
	return cart.Snapshot{}, fmt.Errorf("records: decode snapshot: %w", err)
}

func (c *Codec) snapshotFrom(w *codec.Schema, native any) (cart.Snapshot, error) {
	r, err := c.as(w, native, c.snapshot)
	if err != nil {
		return cart.Snapshot{}, err
	}
	var d dec
	cr := d.record(r["cart"], "cart")
	status, err := cart.ParseStatus(d.str(cr, "status"))
	if err != nil {
		d.failErr("cart.status", err)
	}
	s := cart.Snapshot{
		Cart: cart.CartState{
			CartID:       cart.CartID(d.str(cr, "cart_id")),
			CustomerID:   cart.CustomerID(d.optStr(cr, "customer_id")),
			Status:       status,
			Currency:     cart.Currency(d.optStr(cr, "currency")),
			Lines:        d.lines(cr, "lines"),
			Subtotal:     d.money(cr, "subtotal"),
			ItemCount:    d.long(cr, "item_count"),
			Version:      d.long(cr, "version"),
			UpdatedAt:    d.optTS(cr, "updated_at"),
			CheckedOutAt: d.optTS(cr, "checked_out_at"),
			MergedInto:   cart.CartID(d.optStr(cr, "merged_into")),
		},
		RequestOffset: d.long(r, "request_offset"),
		Pending:       pendingFrom(&d, native),
	}
	if win := d.array(r, "window"); len(win) > 0 {
		s.Window = make([]cart.RequestOutcome, len(win))
		for i, v := range win {
			o := d.record(v, "window")
			fp, ok := o["fingerprint"].([]byte)
			if !ok || len(fp) != fingerprintSize {
				d.shape("window.fingerprint", o["fingerprint"], "fixed(8)")
				fp = make([]byte, fingerprintSize)
			}
			s.Window[i] = cart.RequestOutcome{
				RequestID:   cart.RequestID(d.str(o, "request_id")),
				Offset:      d.long(o, "offset"),
				Kind:        d.kind(o, "kind"),
				Accepted:    d.boolean(o, "accepted"),
				Reason:      d.reason(o, "reason"),
				Message:     d.str(o, "message"),
				Fingerprint: cart.Fingerprint(binary.BigEndian.Uint64(fp)),
				CartVersion: d.long(o, "cart_version"),
			}
		}
	}
	if d.err != nil {
		return cart.Snapshot{}, d.err
	}
	if err := s.Validate(); err != nil {
		return cart.Snapshot{}, errInvalidSnapshot(err)
	}
	return s, nil
}

// errInvalidSnapshot is the error of a decoded snapshot the domain refuses.
func errInvalidSnapshot(err error) error { return fmt.Errorf("%w: %w", ErrInvalid, err) }

func putFingerprint(dst []byte, f cart.Fingerprint) { binary.BigEndian.PutUint64(dst, uint64(f)) }

func getFingerprint(b []byte) cart.Fingerprint { return cart.Fingerprint(binary.BigEndian.Uint64(b)) }
