package cart

import (
	"errors"
	"fmt"
	"time"
)

// Decision is the result of Decide: either the events to append (exactly
// one today) or a rejection.
type Decision struct {
	Events    []Event
	Rejection Rejection
}

// Accepted reports whether the decision carries events.
func (d Decision) Accepted() bool { return d.Rejection.Reason == ReasonNone && len(d.Events) > 0 }

func rejected(r Reason, format string, args ...any) Decision {
	return Decision{Rejection: Rejection{Reason: r, Message: fmt.Sprintf(format, args...)}}
}

// Decide validates cmd against state and catalog under limits and returns
// the events to append or a rejection. decidedAt is stamped on the events.
// Decide is total: every input, however malformed, yields a Decision, and
// Apply(state, e) succeeds for every event e it returns.
//
// Rules are checked in this order, the first failure wins: command syntax
// (MALFORMED, or QUANTITY_OUT_OF_RANGE for the quantity alone), state
// integrity (INVALID_STATE), cart identity (WRONG_CART), checkout
// (CART_CHECKED_OUT), then the command's own rules.
func Decide(state CartState, cmd Command, catalog Catalog, limits Limits, decidedAt time.Time) Decision {
	d, _ := decide(state, cmd, catalog, limits, decidedAt)
	return d
}

// decide is Decide that also returns the state its trial fold reached
// (state itself when rejected), so that Process need not fold again.
func decide(state CartState, cmd Command, catalog Catalog, limits Limits, decidedAt time.Time) (Decision, CartState) {
	c, ok := Concrete(cmd)
	if !ok {
		return rejected(ReasonMalformed, "command is missing or not a cart command"), state
	}
	if err := c.Validate(); err != nil {
		return syntaxRejection(err), state
	}
	if err := state.Validate(); err != nil {
		return rejected(ReasonInvalidState, "stored cart is inconsistent: %v", err), state
	}
	m := c.Meta()
	if state.CartID != "" && state.CartID != m.CartID {
		return rejected(ReasonWrongCart, "command is for another cart than the state given"), state
	}
	switch c.(type) {
	case ExpireCart, MergeReturned: // a closed cart still expires, a merged one gets its lines back
	default:
		if rej, closed := closedRejection(state.Status); closed {
			return rej, state
		}
	}
	d := decider{
		state:   state,
		catalog: catalog,
		limits:  limits.WithDefaults(),
		meta: EventMeta{
			CartID:      m.CartID,
			RequestID:   m.RequestID,
			Version:     state.Version + 1,
			RequestedAt: wall(m.RequestedAt),
			DecidedAt:   wall(decidedAt),
		},
	}
	var ev Event
	var rej Decision
	switch c := c.(type) {
	case AddItem:
		ev, rej = d.addItem(c)
	case RemoveItem:
		ev, rej = d.removeItem(c)
	case ChangeQuantity:
		ev, rej = d.changeQuantity(c)
	case Checkout:
		ev, rej = d.checkout(c)
	case ClearCart:
		ev, rej = d.clearCart(c)
	case ExpireCart:
		ev, rej = d.expireCart(c)
	case MergeCarts:
		ev, rej = d.mergeCarts(c)
	case MergeInto:
		ev, rej = d.mergeInto(c)
	case MergeReturned:
		ev, rej = d.mergeReturned(c)
	}
	if ev == nil {
		return rej, state
	}
	// The trial fold is the one definition of the structural rules (totals
	// that fit, one currency); running it here is what guarantees that
	// Apply never fails on a decided event. state was validated above.
	folded, err := applyValid(state, ev)
	if err != nil {
		if errors.Is(err, ErrAmountOverflow) {
			return rejected(ReasonAmountOverflow, "cart total would exceed the largest representable amount"), state
		}
		return rejected(ReasonInvalidState, "decided event does not fit the cart: %v", err), state
	}
	return Decision{Events: []Event{ev}}, folded
}

// syntaxRejection maps a ValidationError: a quantity out of 1..MaxQuantity
// alone is a business answer the UI can show; anything else is MALFORMED.
func syntaxRejection(err error) Decision {
	vs := FieldViolations(err)
	onlyQuantity := len(vs) > 0
	fields := ""
	for i, v := range vs {
		if v.Field != FieldQuantity {
			onlyQuantity = false
		}
		if i > 0 {
			fields += ", "
		}
		fields += v.Field
	}
	if onlyQuantity {
		return rejected(ReasonQuantityOutOfRange, "quantity must be between 1 and %d", MaxQuantity)
	}
	return rejected(ReasonMalformed, "invalid fields: %s", fields)
}

type decider struct {
	state   CartState
	catalog Catalog
	limits  Limits
	meta    EventMeta
}

// product returns the sellable product of sku or the rejection that says
// why it is not one.
func (d decider) product(sku SKU) (Product, Decision, bool) {
	var p Product
	found := false
	if d.catalog != nil {
		p, found = d.catalog.Product(sku)
	}
	switch {
	case !found:
		return Product{}, rejected(ReasonUnknownSKU, "sku %s is not in the catalog", sku), false
	case p.SKU != sku || p.Validate() != nil:
		return Product{}, rejected(ReasonInvalidProduct, "catalog entry of sku %s is unusable", sku), false
	case !p.Active:
		return Product{}, rejected(ReasonInactiveSKU, "sku %s is not for sale", sku), false
	}
	return p, Decision{}, true
}

// currencyFits reports whether a line of sku priced in cur may sit beside
// the cart's other lines.
func (d decider) currencyFits(sku SKU, cur Currency) bool {
	for _, l := range d.state.Lines {
		if l.SKU != sku && l.UnitPrice.Currency != cur {
			return false
		}
	}
	return true
}

func (d decider) owner(id CustomerID) bool {
	return d.state.CustomerID == "" || d.state.CustomerID == id
}

func (d decider) addItem(c AddItem) (Event, Decision) {
	if !d.owner(c.CustomerID) {
		return nil, rejected(ReasonCustomerMismatch, "cart belongs to another customer")
	}
	p, rej, ok := d.product(c.SKU)
	if !ok {
		return nil, rej
	}
	if !d.currencyFits(c.SKU, p.UnitPrice.Currency) {
		return nil, rejected(ReasonCurrencyMismatch, "sku %s is priced in %s, the cart in %s", c.SKU, p.UnitPrice.Currency, d.state.Currency)
	}
	line, exists := d.state.Line(c.SKU)
	limit := d.limits.QuantityCap(p)
	if n := int64(line.Quantity) + int64(c.Quantity); n > int64(limit) {
		return nil, rejected(ReasonQuantityOutOfRange, "sku %s: line would hold %d, at most %d allowed", c.SKU, n, limit)
	}
	if rej, ok := d.inStock(c.SKU, int64(line.Quantity)+int64(c.Quantity)); !ok {
		return nil, rej
	}
	if !exists && len(d.state.Lines) >= d.limits.MaxLines {
		return nil, rejected(ReasonLineLimit, "cart already holds %d lines, the most allowed", len(d.state.Lines))
	}
	m := d.meta
	return AddItemValidatedRequest{
		CartID: m.CartID, RequestID: m.RequestID, Version: m.Version, RequestedAt: m.RequestedAt, DecidedAt: m.DecidedAt,
		CustomerID: c.CustomerID, SKU: c.SKU, Name: p.Name, UnitPrice: p.UnitPrice, Quantity: c.Quantity,
	}, Decision{}
}

func (d decider) removeItem(c RemoveItem) (Event, Decision) {
	if _, ok := d.state.Line(c.SKU); !ok {
		return nil, rejected(ReasonItemNotInCart, "sku %s is not in the cart", c.SKU)
	}
	m := d.meta
	return RemoveItemValidatedRequest{
		CartID: m.CartID, RequestID: m.RequestID, Version: m.Version, RequestedAt: m.RequestedAt, DecidedAt: m.DecidedAt,
		SKU: c.SKU,
	}, Decision{}
}

// changeQuantity lowers a line without asking the catalog (a customer can
// always buy less, even of a product withdrawn since), but raising it or
// keeping it is buying at today's terms: the product must be for sale, the
// cap applies, and the line is repriced.
func (d decider) changeQuantity(c ChangeQuantity) (Event, Decision) {
	line, ok := d.state.Line(c.SKU)
	if !ok {
		return nil, rejected(ReasonItemNotInCart, "sku %s is not in the cart", c.SKU)
	}
	name, price := line.Name, line.UnitPrice
	if c.Quantity >= line.Quantity {
		p, rej, ok := d.product(c.SKU)
		if !ok {
			return nil, rej
		}
		if !d.currencyFits(c.SKU, p.UnitPrice.Currency) {
			return nil, rejected(ReasonCurrencyMismatch, "sku %s is priced in %s, the cart in %s", c.SKU, p.UnitPrice.Currency, d.state.Currency)
		}
		if limit := d.limits.QuantityCap(p); c.Quantity > limit {
			return nil, rejected(ReasonQuantityOutOfRange, "sku %s: at most %d allowed", c.SKU, limit)
		}
		if c.Quantity > line.Quantity {
			if rej, ok := d.inStock(c.SKU, int64(c.Quantity)); !ok {
				return nil, rej
			}
		}
		name, price = p.Name, p.UnitPrice
	}
	m := d.meta
	return ChangeQuantityValidatedRequest{
		CartID: m.CartID, RequestID: m.RequestID, Version: m.Version, RequestedAt: m.RequestedAt, DecidedAt: m.DecidedAt,
		SKU: c.SKU, Name: name, UnitPrice: price, Quantity: c.Quantity,
	}, Decision{}
}

// checkout sells at the prices the cart shows only if the catalog still
// offers them: a product withdrawn or repriced since the line last grew
// stops the checkout, so the customer confirms (ChangeQuantity to the same
// quantity reprices a line) instead of the shop honoring stale prices.
func (d decider) checkout(c Checkout) (Event, Decision) {
	s := d.state
	if len(s.Lines) == 0 {
		return nil, rejected(ReasonEmptyCart, "cart is empty")
	}
	if !d.owner(c.CustomerID) {
		return nil, rejected(ReasonCustomerMismatch, "cart belongs to another customer")
	}
	for _, l := range s.Lines {
		p, rej, ok := d.product(l.SKU)
		if !ok {
			return nil, rej
		}
		if p.UnitPrice != l.UnitPrice {
			return nil, rejected(ReasonPriceChanged, "sku %s now costs %v, the cart shows %v", l.SKU, p.UnitPrice, l.UnitPrice)
		}
	}
	m := d.meta
	return CartCheckedOut{
		CartID: m.CartID, RequestID: m.RequestID, Version: m.Version, RequestedAt: m.RequestedAt, DecidedAt: m.DecidedAt,
		CustomerID: c.CustomerID, Lines: s.Clone().Lines, Subtotal: s.Subtotal, ItemCount: s.ItemCount,
	}, Decision{}
}
