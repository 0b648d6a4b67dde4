package records

import (
	"fmt"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/inventory"
)

// Branch names of InventoryRequest.command.
const (
	branchReserve = "cartstream.v1.ReserveStock"
	branchRelease = "cartstream.v1.ReleaseStock"
	branchSet     = "cartstream.v1.SetStock"
	branchAdjust  = "cartstream.v1.AdjustStock"
)

// EncodeInventoryRequest encodes r for inventory.requests; a request
// Validate refuses is an error wrapping ErrInvalid.
func (c *Codec) EncodeInventoryRequest(r inventory.Request) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("records: encode inventory request: %w: %w", ErrInvalid, err)
	}
	var e enc
	var branch string
	var body map[string]any
	res := r.Reservation
	line := map[string]any{"reservation_id": string(res.ID), "cart_id": string(res.CartID), "checkout_request_id": string(res.CheckoutRequestID), "quantity": res.Quantity}
	switch r.Kind {
	case inventory.KindReserve:
		branch, body = branchReserve, line
	case inventory.KindRelease:
		branch, body = branchRelease, line
	case inventory.KindSet:
		branch, body = branchSet, map[string]any{"units": r.Units}
	case inventory.KindAdjust:
		branch, body = branchAdjust, map[string]any{"delta": r.Units, "adjustment_id": string(r.AdjustmentID)}
	}
	native := map[string]any{
		"request_id":   string(r.RequestID),
		"sku":          string(r.SKU),
		"requested_at": e.ts("requested_at", r.RequestedAt),
		"command":      map[string]any{branch: body},
	}
	if e.err != nil {
		return nil, fmt.Errorf("records: encode inventory request: %w", e.err)
	}
	return c.encode("inventory request", c.inventory, native)
}

// DecodeInventoryRequest decodes an inventory.requests value and validates
// it; every error satisfies IsMalformed.
func (c *Codec) DecodeInventoryRequest(value []byte) (inventory.Request, error) {
	r, err := c.decodeInventoryRequest(value)
	if err != nil {
		return inventory.Request{}, fmt.Errorf("records: decode inventory request: %w", err)
	}
	return r, nil
}

func (c *Codec) decodeInventoryRequest(value []byte) (inventory.Request, error) {
	m, err := c.decode(value, c.inventory)
	if err != nil {
		return inventory.Request{}, err
	}
	var d dec
	r := inventory.Request{RequestID: cart.RequestID(d.str(m, "request_id")), SKU: cart.SKU(d.str(m, "sku")), RequestedAt: d.ts(m, "requested_at")}
	u, ok := m["command"].(map[string]any)
	if !ok || len(u) != 1 {
		d.shape("command", m["command"], "union of the inventory request types")
	}
	for branch, v := range u {
		b := d.record(v, "command")
		switch branch {
		case branchReserve, branchRelease:
			r.Kind = inventory.KindReserve
			if branch == branchRelease {
				r.Kind = inventory.KindRelease
			}
			r.Reservation = cart.Reservation{
				ID: cart.ReservationID(d.str(b, "reservation_id")), CartID: cart.CartID(d.str(b, "cart_id")),
				CheckoutRequestID: cart.RequestID(d.str(b, "checkout_request_id")), SKU: r.SKU, Quantity: d.int(b, "quantity"),
			}
		case branchSet:
			r.Kind, r.Units = inventory.KindSet, d.long(b, "units")
		case branchAdjust:
			r.Kind, r.Units = inventory.KindAdjust, d.long(b, "delta")
			r.AdjustmentID = inventory.AdjustmentID(d.str(b, "adjustment_id")) // "" in v1 records (the default)
		default:
			d.fail("command", "unknown inventory request type %q", branch)
		}
	}
	if d.err != nil {
		return inventory.Request{}, d.err
	}
	if err := r.Validate(); err != nil {
		return inventory.Request{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return r, nil
}

// EncodeStockLevel encodes l for inventory.stock; an invalid level is an
// error wrapping ErrInvalid.
func (c *Codec) EncodeStockLevel(l inventory.Level) ([]byte, error) {
	if err := l.Validate(); err != nil {
		return nil, fmt.Errorf("records: encode stock level: %w: %w", ErrInvalid, err)
	}
	var e enc
	adjs := make([]any, len(l.Adjustments))
	for i, a := range l.Adjustments {
		adjs[i] = map[string]any{"adjustment_id": string(a.ID), "delta": a.Delta, "applied": a.Applied, "available": a.Available}
	}
	native := map[string]any{
		"sku": string(l.SKU), "available": l.Available, "reserved": l.Reserved, "version": l.Version,
		"updated_at": e.optTS("updated_at", l.UpdatedAt), "adjustments": adjs,
	}
	if e.err != nil {
		return nil, fmt.Errorf("records: encode stock level: %w", e.err)
	}
	return c.encode("stock level", c.stockLevel, native)
}

// DecodeStockLevel decodes and validates an inventory.stock value.
func (c *Codec) DecodeStockLevel(value []byte) (inventory.Level, error) {
	m, err := c.decode(value, c.stockLevel)
	if err != nil {
		return inventory.Level{}, fmt.Errorf("records: decode stock level: %w", err)
	}
	var d dec
	l := inventory.Level{SKU: cart.SKU(d.str(m, "sku")), Available: d.long(m, "available"), Reserved: d.long(m, "reserved"),
		Version: d.long(m, "version"), UpdatedAt: d.optTS(m, "updated_at")}
	// A v1 record resolves with the default: an empty window.
	for _, v := range d.array(m, "adjustments") {
		a := d.record(v, "adjustments")
		l.Adjustments = append(l.Adjustments, inventory.Adjustment{ID: inventory.AdjustmentID(d.str(a, "adjustment_id")),
			Delta: d.long(a, "delta"), Applied: d.boolean(a, "applied"), Available: d.long(a, "available")})
	}
	if d.err == nil {
		d.err = l.Validate()
		if d.err != nil {
			d.err = fmt.Errorf("%w: %w", ErrInvalid, d.err)
		}
	}
	if d.err != nil {
		return inventory.Level{}, fmt.Errorf("records: decode stock level: %w", d.err)
	}
	return l, nil
}

// EncodeAnswer encodes a reservation answer for cart.requests.
func (c *Codec) EncodeAnswer(a cart.ReservationAnswer) ([]byte, error) {
	if err := validAnswer(a); err != nil {
		return nil, fmt.Errorf("records: encode reservation answer: %w: %w", ErrInvalid, err)
	}
	var e enc
	native := map[string]any{
		"reservation_id": string(a.ID), "cart_id": string(a.CartID), "checkout_request_id": string(a.CheckoutRequestID),
		"sku": string(a.SKU), "quantity": a.Quantity, "granted": a.Granted, "available": a.Available,
		"decided_at": e.ts("decided_at", a.DecidedAt),
	}
	if e.err != nil {
		return nil, fmt.Errorf("records: encode reservation answer: %w", e.err)
	}
	return c.encode("reservation answer", c.answer, native)
}

// IsAnswer reports whether value was written with a ReservationAnswer
// schema: the cart manager tells the inventory's answers on cart.requests
// from the gateway's requests by it.
func (c *Codec) IsAnswer(value []byte) bool {
	w, _, err := c.format.DecodeHeader(value)
	return err == nil && w.FullName() == nameAnswer
}

// DecodeAnswer decodes and validates a reservation answer; every error
// satisfies IsMalformed.
func (c *Codec) DecodeAnswer(value []byte) (cart.ReservationAnswer, error) {
	m, err := c.decode(value, c.answer)
	if err != nil {
		return cart.ReservationAnswer{}, fmt.Errorf("records: decode reservation answer: %w", err)
	}
	var d dec
	a := cart.ReservationAnswer{
		Reservation: cart.Reservation{ID: cart.ReservationID(d.str(m, "reservation_id")), CartID: cart.CartID(d.str(m, "cart_id")),
			CheckoutRequestID: cart.RequestID(d.str(m, "checkout_request_id")), SKU: cart.SKU(d.str(m, "sku")), Quantity: d.int(m, "quantity")},
		Granted: d.boolean(m, "granted"), Available: d.long(m, "available"), DecidedAt: d.ts(m, "decided_at"),
	}
	if d.err == nil {
		if err := validAnswer(a); err != nil {
			d.err = fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	if d.err != nil {
		return cart.ReservationAnswer{}, fmt.Errorf("records: decode reservation answer: %w", d.err)
	}
	return a, nil
}

func validAnswer(a cart.ReservationAnswer) error {
	return inventory.Request{Kind: inventory.KindReserve, SKU: a.SKU, Reservation: a.Reservation}.Validate()
}

// pendingNative is the snapshot v3 field of a pending checkout.
func pendingNative(e *enc, p *cart.PendingCheckout) any {
	if p == nil {
		return nil
	}
	fp := make([]byte, fingerprintSize)
	putFingerprint(fp, p.Fingerprint)
	ls := make([]any, len(p.Lines))
	for i, l := range p.Lines {
		ls[i] = map[string]any{"sku": string(l.SKU), "quantity": l.Quantity, "answer": l.Answer.String(), "available": l.Available}
	}
	return map[string]any{"cartstream.v1.PendingCheckout": map[string]any{
		"request_id": string(p.RequestID), "offset": p.Offset, "fingerprint": fp, "customer_id": string(p.CustomerID),
		"requested_at": e.ts("pending_checkout.requested_at", p.RequestedAt), "lines": ls,
	}}
}

// pendingFrom reads the pending checkout of a snapshot written with v3 or
// later; nil when the writer had none (or no such field).
func pendingFrom(d *dec, native any) *cart.PendingCheckout {
	raw, ok := native.(map[string]any)
	if !ok || raw["pending_checkout"] == nil {
		return nil
	}
	u, ok := raw["pending_checkout"].(map[string]any)
	if !ok || len(u) != 1 {
		d.shape("pending_checkout", raw["pending_checkout"], "union of null and PendingCheckout")
		return nil
	}
	var p cart.PendingCheckout
	for _, v := range u {
		r := d.record(v, "pending_checkout")
		fp, ok := r["fingerprint"].([]byte)
		if !ok || len(fp) != fingerprintSize {
			d.shape("pending_checkout.fingerprint", r["fingerprint"], "fixed(8)")
			return nil
		}
		p = cart.PendingCheckout{RequestID: cart.RequestID(d.str(r, "request_id")), Offset: d.long(r, "offset"),
			Fingerprint: getFingerprint(fp), CustomerID: cart.CustomerID(d.str(r, "customer_id")), RequestedAt: d.ts(r, "requested_at")}
		for _, lv := range d.array(r, "lines") {
			l := d.record(lv, "pending_checkout.lines")
			st, err := cart.ParseAnswerState(d.str(l, "answer"))
			if err != nil {
				d.failErr("pending_checkout.lines.answer", err)
			}
			p.Lines = append(p.Lines, cart.PendingLine{SKU: cart.SKU(d.str(l, "sku")), Quantity: d.int(l, "quantity"), Answer: st, Available: d.long(l, "available")})
		}
	}
	return &p
}
