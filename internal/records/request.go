package records

import (
	"errors"
	"fmt"
	"time"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/codec"
)

// Branch names of CartRequest.command: the seed's request types.
const (
	branchAddItem        = "cartstream.v1.AddItemRequest"
	branchRemoveItem     = "cartstream.v1.RemoveItemRequest"
	branchChangeQuantity = "cartstream.v1.ChangeQuantityRequest"
	branchCheckout       = "cartstream.v1.CheckoutRequest"
	// v2: the cart lifecycle's.
	branchClearCart  = "cartstream.v1.ClearCartRequest"
	branchExpireCart = "cartstream.v1.ExpireCartRequest"
	branchMergeCarts = "cartstream.v1.MergeCartsRequest"
	branchMergeInto  = "cartstream.v1.MergeIntoRequest"
	branchReturned   = "cartstream.v1.MergeReturnedRequest"
)

// EncodeRequest encodes cmd as a CartRequest for cart.requests. The command
// is validated first (cart.ValidateCommand), so nothing DecodeRequest would
// refuse is written; a nil or invalid command is an error wrapping
// ErrInvalid (and, when invalid, cart.ErrInvalidArgument with the field
// violations).
func (c *Codec) EncodeRequest(cmd cart.Command) ([]byte, error) {
	v, ok := cart.Concrete(cmd)
	if !ok {
		return nil, fmt.Errorf("records: encode request: %w: %T is not a cart command", ErrInvalid, cmd)
	}
	if err := cart.ValidateCommand(v); err != nil {
		return nil, fmt.Errorf("records: encode %s: %w: %w", v.EventType(), ErrInvalid, err)
	}
	var e enc
	m := v.Meta()
	var body map[string]any
	var branch string
	switch v := v.(type) {
	case cart.AddItem:
		branch, body = branchAddItem, map[string]any{"sku": string(v.SKU), "quantity": v.Quantity}
	case cart.RemoveItem:
		branch, body = branchRemoveItem, map[string]any{"sku": string(v.SKU)}
	case cart.ChangeQuantity:
		branch, body = branchChangeQuantity, map[string]any{"sku": string(v.SKU), "quantity": v.Quantity}
	case cart.Checkout:
		branch, body = branchCheckout, map[string]any{}
	case cart.ClearCart:
		branch, body = branchClearCart, map[string]any{}
	case cart.ExpireCart:
		branch, body = branchExpireCart, map[string]any{"idle_since": e.ts("idle_since", v.IdleSince), "ttl_nanos": int64(v.TTL)}
	case cart.MergeCarts:
		branch, body = branchMergeCarts, map[string]any{"target_cart_id": string(v.TargetCartID)}
	case cart.MergeInto:
		branch, body = branchMergeInto, map[string]any{"source_cart_id": string(v.SourceCartID), "lines": lines(v.Lines)}
	case cart.MergeReturned:
		branch, body = branchReturned, map[string]any{"target_cart_id": string(v.TargetCartID), "lines": lines(v.Lines), "reason": v.Reason.String()}
	}
	native := map[string]any{
		"request_id":   string(m.RequestID),
		"cart_id":      string(m.CartID),
		"customer_id":  optString(string(m.CustomerID)),
		"requested_at": e.ts("requested_at", m.RequestedAt),
		"command":      map[string]any{branch: body},
	}
	if e.err != nil {
		return nil, fmt.Errorf("records: encode %s: %w", v.EventType(), e.err)
	}
	return c.encode(v.EventType().String(), c.request, native)
}

// DecodeRequest decodes a cart.requests value into the command it carries
// and validates it (cart.ValidateCommand). Every error satisfies
// IsMalformed: the manager records the value as MALFORMED.
func (c *Codec) DecodeRequest(value []byte) (cart.Command, error) {
	if c.fast.request {
		w, body, err := c.format.DecodeHeader(value)
		if err != nil {
			return nil, fmt.Errorf("records: decode request: %w", err)
		}
		if w.Fingerprint() == fastRequestFP {
			cmd, err := decodeRequestBody(w, body)
			if errors.Is(err, errNotFast) {
				return c.decodeRequestReference(value)
			}
			if err != nil {
				return nil, fmt.Errorf("records: decode request: %w", err)
			}
			return cmd, nil
		}
	}
	return c.decodeRequestReference(value)
}

// decodeRequestReference is DecodeRequest through goavro's native form and
// schema resolution: the reference the fast path is tested against, and
// the path of every writer schema but the pinned one.
func (c *Codec) decodeRequestReference(value []byte) (cart.Command, error) {
	w, native, err := c.read(value)
	if err == nil {
		var cmd cart.Command
		if cmd, err = c.requestFrom(w, native); err == nil {
			return cmd, nil
		}
	}
	return nil, fmt.Errorf("records: decode request: %w", err)
}

func (c *Codec) requestFrom(w *codec.Schema, native any) (cart.Command, error) {
	r, err := c.as(w, native, c.request)
	if err != nil {
		return nil, err
	}
	var d dec
	cartID := cart.CartID(d.str(r, "cart_id"))
	requestID := cart.RequestID(d.str(r, "request_id"))
	customerID := cart.CustomerID(d.optStr(r, "customer_id"))
	at := d.ts(r, "requested_at")
	u, ok := r["command"].(map[string]any)
	if !ok || len(u) != 1 {
		d.shape("command", r["command"], "union of the request types")
	}
	var cmd cart.Command
	for branch, v := range u {
		b := d.record(v, "command")
		switch branch {
		case branchAddItem:
			cmd = cart.AddItem{CartID: cartID, RequestID: requestID, CustomerID: customerID, RequestedAt: at,
				SKU: cart.SKU(d.str(b, "sku")), Quantity: d.int(b, "quantity")}
		case branchRemoveItem:
			// customer_id, if a producer set it, is not part of the
			// command and is ignored.
			cmd = cart.RemoveItem{CartID: cartID, RequestID: requestID, RequestedAt: at,
				SKU: cart.SKU(d.str(b, "sku"))}
		case branchChangeQuantity:
			cmd = cart.ChangeQuantity{CartID: cartID, RequestID: requestID, RequestedAt: at,
				SKU: cart.SKU(d.str(b, "sku")), Quantity: d.int(b, "quantity")}
		case branchCheckout:
			cmd = cart.Checkout{CartID: cartID, RequestID: requestID, CustomerID: customerID, RequestedAt: at}
		case branchClearCart:
			cmd = cart.ClearCart{CartID: cartID, RequestID: requestID, CustomerID: customerID, RequestedAt: at}
		case branchExpireCart:
			cmd = cart.ExpireCart{CartID: cartID, RequestID: requestID, RequestedAt: at,
				IdleSince: d.ts(b, "idle_since"), TTL: time.Duration(d.long(b, "ttl_nanos"))}
		case branchMergeCarts:
			cmd = cart.MergeCarts{CartID: cartID, RequestID: requestID, CustomerID: customerID, RequestedAt: at,
				TargetCartID: cart.CartID(d.str(b, "target_cart_id"))}
		case branchMergeInto:
			cmd = cart.MergeInto{CartID: cartID, RequestID: requestID, CustomerID: customerID, RequestedAt: at,
				SourceCartID: cart.CartID(d.str(b, "source_cart_id")), Lines: d.lines(b, "lines")}
		case branchReturned:
			cmd = cart.MergeReturned{CartID: cartID, RequestID: requestID, RequestedAt: at,
				TargetCartID: cart.CartID(d.str(b, "target_cart_id")), Lines: d.lines(b, "lines"), Reason: d.reason(b, "reason")}
		default:
			d.fail("command", "unknown request type %q", branch)
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if err := cart.ValidateCommand(cmd); err != nil {
		return nil, errInvalidCommand(cmd, err)
	}
	return cmd, nil
}

// errInvalidCommand is the error of a decoded command the domain refuses.
func errInvalidCommand(cmd cart.Command, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrInvalid, cmd.EventType(), err)
}
