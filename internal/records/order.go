package records

import (
	"fmt"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/codec"
)

// EncodeOrder encodes an OrderPlaced for the orders topic. An order
// without an id, cart or customer, or with a zero time, is an error
// wrapping ErrInvalid.
func (c *Codec) EncodeOrder(o cart.OrderPlaced) ([]byte, error) {
	if err := validOrder(o); err != nil {
		return nil, fmt.Errorf("records: encode order: %w: %w", ErrInvalid, err)
	}
	var e enc
	native := map[string]any{
		"order_id":            string(o.OrderID),
		"cart_id":             string(o.CartID),
		"customer_id":         string(o.CustomerID),
		"checkout_request_id": string(o.CheckoutRequestID),
		"cart_version":        o.CartVersion,
		"lines":               lines(o.Lines),
		"subtotal":            money(o.Subtotal),
		"item_count":          o.ItemCount,
		"requested_at":        e.ts("requested_at", o.RequestedAt),
		"placed_at":           e.ts("placed_at", o.PlacedAt),
	}
	if e.err != nil {
		return nil, fmt.Errorf("records: encode order: %w", e.err)
	}
	return c.encode("order", c.order, native)
}

// DecodeOrder decodes an orders topic value.
func (c *Codec) DecodeOrder(value []byte) (cart.OrderPlaced, error) {
	w, native, err := c.read(value)
	if err == nil {
		var o cart.OrderPlaced
		if o, err = c.orderFrom(w, native); err == nil {
			return o, nil
		}
	}
	return cart.OrderPlaced{}, fmt.Errorf("records: decode order: %w", err)
}

func (c *Codec) orderFrom(w *codec.Schema, native any) (cart.OrderPlaced, error) {
	if w.FullName() != nameOrder {
		return cart.OrderPlaced{}, fmt.Errorf("%w: %s is not an order", ErrWrongType, w.FullName())
	}
	r, err := c.as(w, native, c.order)
	if err != nil {
		return cart.OrderPlaced{}, err
	}
	var d dec
	o := cart.OrderPlaced{
		OrderID:           cart.OrderID(d.str(r, "order_id")),
		CartID:            cart.CartID(d.str(r, "cart_id")),
		CustomerID:        cart.CustomerID(d.str(r, "customer_id")),
		CheckoutRequestID: cart.RequestID(d.str(r, "checkout_request_id")),
		CartVersion:       d.long(r, "cart_version"),
		Lines:             d.lines(r, "lines"),
		Subtotal:          d.money(r, "subtotal"),
		ItemCount:         d.long(r, "item_count"),
		RequestedAt:       d.ts(r, "requested_at"),
		PlacedAt:          d.ts(r, "placed_at"),
	}
	if d.err != nil {
		return cart.OrderPlaced{}, d.err
	}
	if err := validOrder(o); err != nil {
		return cart.OrderPlaced{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return o, nil
}

func validOrder(o cart.OrderPlaced) error {
	switch {
	case o.OrderID == "":
		return fmt.Errorf("order id: empty")
	case o.CartID.Validate() != nil:
		return o.CartID.Validate()
	case o.CustomerID.Validate() != nil:
		return o.CustomerID.Validate()
	case o.CheckoutRequestID.Validate() != nil:
		return o.CheckoutRequestID.Validate()
	case o.OrderID != cart.OrderIDOf(o.CartID, o.CheckoutRequestID):
		return fmt.Errorf("order id %s is not the one its cart and checkout request derive", o.OrderID)
	}
	return nil
}
