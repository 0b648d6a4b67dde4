package records

import (
	"fmt"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/codec"
)

// EncodeInvalid encodes a rejection for cart.invalid. It is as total as the
// schema allows, because the manager cannot skip a rejection: empty ids
// and a zero RequestedAt (an undecodable request) are null, Raw is kept as
// is. Only a zero or out-of-range DecidedAt, or a Kind or Reason outside
// the domain's sets, is an error wrapping ErrInvalid.
func (c *Codec) EncodeInvalid(inv cart.InvalidRequest) ([]byte, error) {
	if c.fast.invalid {
		if n, ok := invalidSize(&inv); ok {
			b, err := c.format.EncodeFunc(c.invalid, n, func(dst []byte) []byte { return appendInvalid(dst, &inv) })
			if err != nil {
				return nil, fmt.Errorf("records: encode invalid request: %w", err)
			}
			return b, nil
		}
	}
	return c.encodeInvalidReference(inv)
}

// encodeInvalidReference is EncodeInvalid through goavro's native form:
// the reference the fast path is tested against, and the path of values
// the fast path does not take.
func (c *Codec) encodeInvalidReference(inv cart.InvalidRequest) ([]byte, error) {
	var e enc
	native := map[string]any{
		"cart_id":      optString(string(inv.CartID)),
		"request_id":   optString(string(inv.RequestID)),
		"kind":         e.kindSymbol("kind", inv.Kind),
		"reason":       e.reason("reason", inv.Rejection.Reason),
		"message":      inv.Rejection.Message,
		"requested_at": e.optTS("requested_at", inv.RequestedAt),
		"decided_at":   e.ts("decided_at", inv.DecidedAt),
		"raw":          optBytes(inv.Raw),
	}
	if e.err != nil {
		return nil, fmt.Errorf("records: encode invalid request: %w", e.err)
	}
	return c.encode("invalid request", c.invalid, native)
}

// DecodeInvalid decodes a cart.invalid value. A reason code this reader's
// domain does not know is an error wrapping ErrInvalid and
// cart.ErrUnknownName.
func (c *Codec) DecodeInvalid(value []byte) (cart.InvalidRequest, error) {
	if c.fast.invalid {
		w, body, err := c.format.DecodeHeader(value)
		if err != nil {
			return cart.InvalidRequest{}, fmt.Errorf("records: decode invalid request: %w", err)
		}
		if w.Fingerprint() == fastInvalidFP {
			inv, err := decodeInvalidBody(w, body)
			if err != nil {
				return cart.InvalidRequest{}, fmt.Errorf("records: decode invalid request: %w", err)
			}
			return inv, nil
		}
	}
	return c.decodeInvalidReference(value)
}

// decodeInvalidReference is DecodeInvalid through goavro's native form and
// schema resolution: the reference the fast path is tested against, and
// the path of every writer schema but the pinned one.
func (c *Codec) decodeInvalidReference(value []byte) (cart.InvalidRequest, error) {
	w, native, err := c.read(value)
	if err == nil {
		var inv cart.InvalidRequest
		if inv, err = c.invalidFrom(w, native); err == nil {
			return inv, nil
		}
	}
	return cart.InvalidRequest{}, fmt.Errorf("records: decode invalid request: %w", err)
}

func (c *Codec) invalidFrom(w *codec.Schema, native any) (cart.InvalidRequest, error) {
	r, err := c.as(w, native, c.invalid)
	if err != nil {
		return cart.InvalidRequest{}, err
	}
	var d dec
	inv := cart.InvalidRequest{
		CartID:      cart.CartID(d.optStr(r, "cart_id")),
		RequestID:   cart.RequestID(d.optStr(r, "request_id")),
		Kind:        d.kind(r, "kind"),
		RequestedAt: d.optTS(r, "requested_at"),
		DecidedAt:   d.ts(r, "decided_at"),
		Rejection: cart.Rejection{
			Reason:  d.reason(r, "reason"),
			Message: d.str(r, "message"),
		},
		Raw: d.optBytes(r, "raw"),
	}
	if d.err != nil {
		return cart.InvalidRequest{}, d.err
	}
	return inv, nil
}
