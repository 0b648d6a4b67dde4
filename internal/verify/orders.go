package verify

import (
	"fmt"
	"reflect"

	"github.com/cartstream/cartstream/cart"
)

// checkOrders holds the orders topic to the checkouts: every accepted
// checkout (a decodable CartCheckedOut on cart.validated) has exactly one
// OrderPlaced, equal to cart.OrderOf of it and keyed by its order id; no
// other OrderPlaced exists. Orders are matched by their derived id, so
// their partitions and order do not matter.
func (c *checker) checkOrders(orders []Order) {
	byID := map[cart.OrderID][]*Order{}
	for i := range orders {
		o := &orders[i]
		if o.DecodeErr != nil {
			c.add(Violation{Kind: KindUndecodable, Partition: o.Partition, RequestOffset: -1, Topic: c.names.Orders,
				Offsets: []int64{o.Offset}, Detail: fmt.Sprintf("order record does not decode: %v", o.DecodeErr)})
			continue
		}
		byID[o.Order.OrderID] = append(byID[o.Order.OrderID], o)
	}
	for i := range c.validated {
		v := &c.validated[i]
		ev, ok := v.Event.(cart.CartCheckedOut)
		if v.DecodeErr != nil || !ok {
			continue
		}
		want := cart.OrderOf(ev)
		got := byID[want.OrderID]
		delete(byID, want.OrderID)
		c.checkOrder(v, want, got)
	}
	for id, os := range byID {
		for _, o := range os {
			c.add(Violation{Kind: KindOrphanOrder, CartID: o.Order.CartID, RequestID: o.Order.CheckoutRequestID, Partition: o.Partition,
				RequestOffset: -1, Topic: c.names.Orders, Offsets: []int64{o.Offset},
				Detail: fmt.Sprintf("order %s has no accepted checkout on %s", id, c.names.Validated)})
		}
	}
}

func (c *checker) checkOrder(v *Validated, want cart.OrderPlaced, got []*Order) {
	base := Violation{CartID: want.CartID, RequestID: want.CheckoutRequestID, Partition: v.Partition, RequestOffset: -1, Topic: c.names.Orders}
	switch {
	case len(got) == 0:
		base.Kind, base.Topic = KindMissingOrder, c.names.Validated
		base.Offsets = []int64{v.Offset}
		base.Detail = fmt.Sprintf("checkout at %s offset %d placed no order %s", c.names.Validated, v.Offset, want.OrderID)
		c.add(base)
		return
	case len(got) > 1:
		base.Kind = KindDuplicateOrder
		for _, o := range got {
			base.Offsets = append(base.Offsets, o.Offset)
		}
		base.Detail = fmt.Sprintf("order %s placed %d times", want.OrderID, len(got))
		c.add(base)
	}
	o := got[0]
	if !reflect.DeepEqual(o.Order, want) || o.Key != string(want.OrderID) {
		base.Kind, base.Offsets = KindOrderMismatch, []int64{o.Offset}
		base.Detail = fmt.Sprintf("order %s (key %q) differs from the checkout at %s offset %d", want.OrderID, o.Key, c.names.Validated, v.Offset)
		c.add(base)
	}
}
