package replay

import (
	"time"

	"github.com/cartstream/cartstream/cart"
)

// MoneyView is cart.Money for JSON output.
type MoneyView struct {
	AmountMinor int64  `json:"amount_minor"`
	Currency    string `json:"currency,omitempty"`
}

// LineView is cart.Line for JSON output.
type LineView struct {
	SKU       string    `json:"sku"`
	Name      string    `json:"name"`
	UnitPrice MoneyView `json:"unit_price"`
	Quantity  int32     `json:"quantity"`
}

// CartView is one replayed cart for JSON output: the cart's fields in
// snake_case, plus where its events are.
type CartView struct {
	CartID       string     `json:"cart_id"`
	CustomerID   string     `json:"customer_id,omitempty"`
	Status       string     `json:"status"`
	Currency     string     `json:"currency,omitempty"`
	Lines        []LineView `json:"lines"`
	Subtotal     MoneyView  `json:"subtotal"`
	ItemCount    int64      `json:"item_count"`
	Version      int64      `json:"version"`
	UpdatedAt    *time.Time `json:"updated_at,omitempty"`
	CheckedOutAt *time.Time `json:"checked_out_at,omitempty"`
	Partition    int32      `json:"partition"`
	// LastEventOffset is the offset in cart.validated of the last event
	// folded, -1 when none.
	LastEventOffset int64 `json:"last_event_offset"`
	Events          int64 `json:"events"`
	Broken          bool  `json:"broken,omitempty"`
}

// ViewOf returns f's view.
func ViewOf(f *Folded) CartView {
	s := f.State
	v := CartView{
		CartID: string(s.CartID), CustomerID: string(s.CustomerID), Status: s.Status.String(), Currency: string(s.Currency),
		Lines:    make([]LineView, len(s.Lines)),
		Subtotal: moneyView(s.Subtotal), ItemCount: s.ItemCount, Version: s.Version,
		UpdatedAt: optTime(s.UpdatedAt), CheckedOutAt: optTime(s.CheckedOutAt),
		Partition: f.Partition, LastEventOffset: f.LastOffset, Events: f.Events, Broken: f.Broken,
	}
	for i, l := range s.Lines {
		v.Lines[i] = LineView{SKU: string(l.SKU), Name: l.Name, UnitPrice: moneyView(l.UnitPrice), Quantity: l.Quantity}
	}
	return v
}

func moneyView(m cart.Money) MoneyView {
	return MoneyView{AmountMinor: m.Amount, Currency: string(m.Currency)}
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
