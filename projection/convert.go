package projection

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/catalog"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

func moneyPB(m cart.Money) *cartv1.Money {
	return &cartv1.Money{AmountMinor: m.Amount, CurrencyCode: string(m.Currency)}
}

func statusPB(s cart.Status) cartv1.CartStatus {
	switch s {
	case cart.StatusOpen:
		return cartv1.CartStatus_CART_STATUS_OPEN
	case cart.StatusCheckedOut:
		return cartv1.CartStatus_CART_STATUS_CHECKED_OUT
	case cart.StatusMerged:
		return cartv1.CartStatus_CART_STATUS_MERGED
	default:
		return cartv1.CartStatus_CART_STATUS_UNSPECIFIED
	}
}

// reasonPB maps a domain reason to the API's code by name (the two sets
// share their names; contract tests pin that). An unknown reason is
// UNSPECIFIED, which clients treat as a generic rejection.
func reasonPB(r cart.Reason) cartv1.ReasonCode {
	if r == cart.ReasonNone {
		return cartv1.ReasonCode_REASON_CODE_UNSPECIFIED
	}
	if v, ok := cartv1.ReasonCode_value["REASON_CODE_"+r.String()]; ok {
		return cartv1.ReasonCode(v)
	}
	return cartv1.ReasonCode_REASON_CODE_UNSPECIFIED
}

func rejectionPB(r cart.Rejection) *cartv1.Rejection {
	return &cartv1.Rejection{Reason: reasonPB(r.Reason), Message: r.Message}
}

// cartPB is the API's view of a cart state.
func cartPB(s *cart.CartState) *cartv1.Cart {
	c := &cartv1.Cart{
		CartId:     string(s.CartID),
		Status:     statusPB(s.Status),
		Subtotal:   moneyPB(s.Subtotal),
		ItemCount:  int32(min(s.ItemCount, int64(1<<31-1))),
		Version:    s.Version,
		CustomerId: string(s.CustomerID),
		MergedInto: string(s.MergedInto),
		UpdatedAt:  timestampPB(s.UpdatedAt),
	}
	c.Lines = linesPB(s.Lines)
	return c
}

// linesPB is the API's view of cart lines; nil for none.
func linesPB(lines []cart.Line) []*cartv1.CartLine {
	var out []*cartv1.CartLine
	if len(lines) > 0 {
		out = make([]*cartv1.CartLine, len(lines))
		for i, l := range lines {
			total, err := l.Total()
			if err != nil {
				// A decoded snapshot is validated, so its totals fit.
				total = cart.Money{Currency: l.UnitPrice.Currency}
			}
			out[i] = &cartv1.CartLine{
				Sku: string(l.SKU), Name: l.Name, UnitPrice: moneyPB(l.UnitPrice),
				Quantity: l.Quantity, LineTotal: moneyPB(total),
			}
		}
	}
	return out
}

// requestOutcomePB is a window entry as GetCart returns it.
func requestOutcomePB(o cart.RequestOutcome) *cartv1.RequestOutcome {
	out := &cartv1.RequestOutcome{RequestId: string(o.RequestID), Accepted: o.Accepted}
	if !o.Accepted {
		out.Rejection = rejectionPB(o.Rejection())
	}
	return out
}

// commandOutcomePB is a window entry as a command's wait_for_outcome
// returns it, with the cart as held when the outcome was known.
func commandOutcomePB(o cart.RequestOutcome, s *cart.CartState) *cartv1.CommandOutcome {
	out := &cartv1.CommandOutcome{Accepted: o.Accepted, Cart: cartPB(s)}
	if !o.Accepted {
		out.Rejection = rejectionPB(o.Rejection())
	}
	if o.Accepted && o.Kind == cart.KindCheckout && s != nil {
		// The order id is derived, so the read side names it without
		// reading the orders topic.
		out.OrderId = string(cart.OrderIDOf(s.CartID, o.RequestID))
	}
	return out
}

func productPB(p cart.Product, defaultMaxQty int32) *cartv1.Product {
	maxQty := p.MaxQuantityPerLine
	if maxQty == 0 {
		maxQty = defaultMaxQty
	}
	pb := catalog.ToPB(p)
	pb.MaxQuantityPerLine = maxQty
	return pb
}

// timestampPB is nil for a zero time.
func timestampPB(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
