package records

import (
	"fmt"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/codec"
)

// Events on cart.validated have one schema per event type rather than one
// envelope with a union of them. The writer fingerprint already names the
// type, so decoding by type is one switch on the writer's name with no
// union to unwrap; each type evolves on its own (a field added to
// CartCheckedOut changes no other type's fingerprint); and a new event type
// is a new schema that old readers reject as unknown, exactly as they would
// reject an unknown union branch. Every event schema starts with the same
// meta fields (cart_id, request_id, version, requested_at, decided_at);
// a test keeps them identical.

// eventValue returns ev as one of the four event value types,
// dereferencing pointers; ok is false for nil and foreign types.
func eventValue(ev cart.Event) (cart.Event, bool) {
	switch e := ev.(type) {
	case cart.AddItemValidatedRequest, cart.RemoveItemValidatedRequest, cart.ChangeQuantityValidatedRequest, cart.CartCheckedOut,
		cart.CartCleared, cart.CartExpired, cart.CartMerged, cart.CartMergedInto:
		return e, true
	case *cart.CartCleared:
		if e != nil {
			return *e, true
		}
	case *cart.CartExpired:
		if e != nil {
			return *e, true
		}
	case *cart.CartMerged:
		if e != nil {
			return *e, true
		}
	case *cart.CartMergedInto:
		if e != nil {
			return *e, true
		}
	case cart.CartMergeReturned:
		return e, true
	case *cart.CartMergeReturned:
		if e != nil {
			return *e, true
		}
	case *cart.AddItemValidatedRequest:
		if e != nil {
			return *e, true
		}
	case *cart.RemoveItemValidatedRequest:
		if e != nil {
			return *e, true
		}
	case *cart.ChangeQuantityValidatedRequest:
		if e != nil {
			return *e, true
		}
	case *cart.CartCheckedOut:
		if e != nil {
			return *e, true
		}
	}
	return nil, false
}

// EncodeValidated encodes an event for cart.validated with its type's
// schema. It checks only that the event fits the schema (a nil event, or a
// zero or out-of-range time, is an error wrapping ErrInvalid); whether it
// fits a cart is cart.Apply's business.
func (c *Codec) EncodeValidated(ev cart.Event) ([]byte, error) {
	v, ok := eventValue(ev)
	if !ok {
		return nil, fmt.Errorf("records: encode event: %w: %T is not a cart event", ErrInvalid, ev)
	}
	if s, fast := c.fastEvent(v); fast {
		if n, ok := eventSize(v); ok {
			b, err := c.format.EncodeFunc(s, n, func(dst []byte) []byte { return appendEvent(dst, v) })
			if err != nil {
				return nil, fmt.Errorf("records: encode %s: %w", v.EventType(), err)
			}
			return b, nil
		}
	}
	return c.encodeValidatedReference(v)
}

// fastEvent returns the schema of ev's type and whether it is encoded by
// hand.
func (c *Codec) fastEvent(ev cart.Event) (*codec.Schema, bool) {
	switch ev.(type) {
	case cart.AddItemValidatedRequest:
		return c.addItem, c.fast.addItem
	case cart.RemoveItemValidatedRequest:
		return c.removeItem, c.fast.removeItem
	case cart.ChangeQuantityValidatedRequest:
		return c.changeQuantity, c.fast.changeQuantity
	case cart.CartCheckedOut:
		return c.checkedOut, c.fast.checkedOut
	}
	return nil, false
}

// encodeValidatedReference is EncodeValidated through goavro's native
// form, for v one of the four event value types: the reference the fast
// path is tested against, and the path of values it does not take.
func (c *Codec) encodeValidatedReference(v cart.Event) ([]byte, error) {
	var e enc
	m := v.Meta()
	native := make(map[string]any, 10)
	native["cart_id"] = string(m.CartID)
	native["request_id"] = string(m.RequestID)
	native["version"] = m.Version
	native["requested_at"] = e.ts("requested_at", m.RequestedAt)
	native["decided_at"] = e.ts("decided_at", m.DecidedAt)
	var s *codec.Schema
	switch v := v.(type) {
	case cart.AddItemValidatedRequest:
		s = c.addItem
		native["customer_id"] = string(v.CustomerID)
		native["sku"] = string(v.SKU)
		native["name"] = v.Name
		native["unit_price"] = money(v.UnitPrice)
		native["quantity"] = v.Quantity
	case cart.RemoveItemValidatedRequest:
		s = c.removeItem
		native["sku"] = string(v.SKU)
	case cart.ChangeQuantityValidatedRequest:
		s = c.changeQuantity
		native["sku"] = string(v.SKU)
		native["name"] = v.Name
		native["unit_price"] = money(v.UnitPrice)
		native["quantity"] = v.Quantity
	case cart.CartCheckedOut:
		s = c.checkedOut
		native["customer_id"] = string(v.CustomerID)
		native["lines"] = lines(v.Lines)
		native["subtotal"] = money(v.Subtotal)
		native["item_count"] = v.ItemCount
	case cart.CartCleared:
		s = c.cleared
		native["customer_id"] = string(v.CustomerID)
	case cart.CartExpired:
		s = c.expired
		native["idle_since"] = e.ts("idle_since", v.IdleSince)
	case cart.CartMerged:
		s = c.merged
		native["customer_id"] = string(v.CustomerID)
		native["target_cart_id"] = string(v.TargetCartID)
		native["lines"] = lines(v.Lines)
	case cart.CartMergedInto:
		s = c.mergedInto
		native["customer_id"] = string(v.CustomerID)
		native["source_cart_id"] = string(v.SourceCartID)
		native["lines"] = lines(v.Lines)
		dropped := make([]any, len(v.Dropped))
		for i, sku := range v.Dropped {
			dropped[i] = string(sku)
		}
		native["dropped"] = dropped
	case cart.CartMergeReturned:
		s = c.mergeReturned
		native["target_cart_id"] = string(v.TargetCartID)
		native["lines"] = lines(v.Lines)
		native["reason"] = v.Reason.String()
	}
	if e.err != nil {
		return nil, fmt.Errorf("records: encode %s: %w", v.EventType(), e.err)
	}
	return c.encode(v.EventType().String(), s, native)
}

// DecodeValidated decodes a cart.validated value into its event, whichever
// of the four types it is. Events have no Validate of their own: what does
// not fit the cart is refused by cart.Apply.
func (c *Codec) DecodeValidated(value []byte) (cart.Event, error) {
	if c.fast.addItem || c.fast.removeItem || c.fast.changeQuantity || c.fast.checkedOut {
		w, body, err := c.format.DecodeHeader(value)
		if err != nil {
			return nil, fmt.Errorf("records: decode event: %w", err)
		}
		if c.fastEventFP(w.Fingerprint()) {
			ev, err := decodeEventBody(w, body)
			if err != nil {
				return nil, fmt.Errorf("records: decode event: %w", err)
			}
			return ev, nil
		}
	}
	return c.decodeValidatedReference(value)
}

// fastEventFP reports whether an event written with fingerprint fp is
// decoded by hand: fp is the pinned version of an event type and the
// current schema of that type is the same version (so nothing resolves).
func (c *Codec) fastEventFP(fp uint64) bool {
	switch fp {
	case fastAddItemFP:
		return c.fast.addItem
	case fastRemoveItemFP:
		return c.fast.removeItem
	case fastChangeQuantityFP:
		return c.fast.changeQuantity
	case fastCheckedOutFP:
		return c.fast.checkedOut
	}
	return false
}

// decodeValidatedReference is DecodeValidated through goavro's native form
// and schema resolution: the reference the fast path is tested against,
// and the path of every writer schema but the pinned ones.
func (c *Codec) decodeValidatedReference(value []byte) (cart.Event, error) {
	w, native, err := c.read(value)
	if err == nil {
		var ev cart.Event
		if ev, err = c.eventFrom(w, native); err == nil {
			return ev, nil
		}
	}
	return nil, fmt.Errorf("records: decode event: %w", err)
}

func (c *Codec) eventFrom(w *codec.Schema, native any) (cart.Event, error) {
	var reader *codec.Schema
	switch w.FullName() {
	case nameAddItem:
		reader = c.addItem
	case nameRemoveItem:
		reader = c.removeItem
	case nameChangeQuantity:
		reader = c.changeQuantity
	case nameCheckedOut:
		reader = c.checkedOut
	case nameCleared:
		reader = c.cleared
	case nameExpired:
		reader = c.expired
	case nameMerged:
		reader = c.merged
	case nameMergedInto:
		reader = c.mergedInto
	case nameMergeReturned:
		reader = c.mergeReturned
	default:
		return nil, fmt.Errorf("%w: %s is not an event of cart.validated", ErrWrongType, w.FullName())
	}
	r, err := c.as(w, native, reader)
	if err != nil {
		return nil, err
	}
	var d dec
	cartID := cart.CartID(d.str(r, "cart_id"))
	requestID := cart.RequestID(d.str(r, "request_id"))
	version := d.long(r, "version")
	requestedAt := d.ts(r, "requested_at")
	decidedAt := d.ts(r, "decided_at")
	var ev cart.Event
	switch reader {
	case c.addItem:
		ev = cart.AddItemValidatedRequest{
			CartID: cartID, RequestID: requestID, Version: version, RequestedAt: requestedAt, DecidedAt: decidedAt,
			CustomerID: cart.CustomerID(d.str(r, "customer_id")),
			SKU:        cart.SKU(d.str(r, "sku")),
			Name:       d.str(r, "name"),
			UnitPrice:  d.money(r, "unit_price"),
			Quantity:   d.int(r, "quantity"),
		}
	case c.removeItem:
		ev = cart.RemoveItemValidatedRequest{
			CartID: cartID, RequestID: requestID, Version: version, RequestedAt: requestedAt, DecidedAt: decidedAt,
			SKU: cart.SKU(d.str(r, "sku")),
		}
	case c.changeQuantity:
		ev = cart.ChangeQuantityValidatedRequest{
			CartID: cartID, RequestID: requestID, Version: version, RequestedAt: requestedAt, DecidedAt: decidedAt,
			SKU:       cart.SKU(d.str(r, "sku")),
			Name:      d.str(r, "name"),
			UnitPrice: d.money(r, "unit_price"),
			Quantity:  d.int(r, "quantity"),
		}
	case c.checkedOut:
		ev = cart.CartCheckedOut{
			CartID: cartID, RequestID: requestID, Version: version, RequestedAt: requestedAt, DecidedAt: decidedAt,
			CustomerID: cart.CustomerID(d.str(r, "customer_id")),
			Lines:      d.lines(r, "lines"),
			Subtotal:   d.money(r, "subtotal"),
			ItemCount:  d.long(r, "item_count"),
		}
	case c.cleared:
		ev = cart.CartCleared{CartID: cartID, RequestID: requestID, Version: version, RequestedAt: requestedAt, DecidedAt: decidedAt,
			CustomerID: cart.CustomerID(d.str(r, "customer_id"))}
	case c.expired:
		ev = cart.CartExpired{CartID: cartID, RequestID: requestID, Version: version, RequestedAt: requestedAt, DecidedAt: decidedAt,
			IdleSince: d.ts(r, "idle_since")}
	case c.merged:
		ev = cart.CartMerged{CartID: cartID, RequestID: requestID, Version: version, RequestedAt: requestedAt, DecidedAt: decidedAt,
			CustomerID: cart.CustomerID(d.str(r, "customer_id")), TargetCartID: cart.CartID(d.str(r, "target_cart_id")),
			Lines: d.lines(r, "lines")}
	case c.mergedInto:
		ev = cart.CartMergedInto{CartID: cartID, RequestID: requestID, Version: version, RequestedAt: requestedAt, DecidedAt: decidedAt,
			CustomerID: cart.CustomerID(d.str(r, "customer_id")), SourceCartID: cart.CartID(d.str(r, "source_cart_id")),
			Lines: d.lines(r, "lines"), Dropped: d.skus(r, "dropped")}
	case c.mergeReturned:
		ev = cart.CartMergeReturned{CartID: cartID, RequestID: requestID, Version: version, RequestedAt: requestedAt, DecidedAt: decidedAt,
			TargetCartID: cart.CartID(d.str(r, "target_cart_id")), Lines: d.lines(r, "lines"), Reason: d.reason(r, "reason")}
	}
	if d.err != nil {
		return nil, d.err
	}
	return ev, nil
}
