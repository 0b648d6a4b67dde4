package verify

import (
	"fmt"
	"slices"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/inventory"
)

// checkReservations holds the stock side to its promises (decision 12):
//   - no level on inventory.stock is negative;
//   - replaying inventory.requests, partition by partition in offset
//     order, through inventory.Step gives each SKU's latest level
//     (available, reserved, version) and each reservation's answer: the
//     processor decided every request exactly once;
//   - every reservation has exactly one answer on cart.requests, and no
//     answer lacks its reservation;
//   - every checkout that reserved is decided (its CartCheckedOut or its
//     rejection exists); a successful one releases nothing, a failed one
//     releases each of its granted reservations exactly once; nothing
//     else is released.
func (c *checker) checkReservations(in Input) {
	inv := sortedByPosition(in.Inventory, func(r *InventoryRecord) Position { return r.Position })
	stock := sortedByPosition(in.Stock, func(r *StockRecord) Position { return r.Position })
	bad := func(k Kind, topic string, p Position, format string, args ...any) {
		c.add(Violation{Kind: k, Partition: p.Partition, RequestOffset: -1, Topic: topic, Offsets: []int64{p.Offset}, Detail: fmt.Sprintf(format, args...)})
	}
	latest := map[cart.SKU]StockRecord{}
	for _, s := range stock {
		if s.DecodeErr != nil {
			bad(KindUndecodable, c.names.Stock, s.Position, "stock level does not decode: %v", s.DecodeErr)
			continue
		}
		if s.Level.Available < 0 || s.Level.Reserved < 0 {
			bad(KindNegativeStock, c.names.Stock, s.Position, "sku %s: available %d, reserved %d", s.Level.SKU, s.Level.Available, s.Level.Reserved)
		}
		latest[s.Level.SKU] = s
	}

	// The replay.
	levels := map[cart.SKU]inventory.Level{}
	granted := map[cart.ReservationID]bool{}
	reserved := map[cart.ReservationID]InventoryRecord{}
	released := map[cart.ReservationID]int{}
	for _, r := range inv {
		if r.DecodeErr != nil || string(r.Request.SKU) != r.Key {
			continue // skipped by the processor as well
		}
		req := r.Request
		res := inventory.Step(levels[req.SKU], req, req.RequestedAt)
		if res.Changed {
			levels[req.SKU] = res.Level
		}
		switch req.Kind {
		case inventory.KindReserve:
			if _, dup := reserved[req.Reservation.ID]; dup {
				bad(KindReservationAnswer, c.names.Inventory, r.Position, "reservation %s requested twice", req.Reservation.ID)
			}
			reserved[req.Reservation.ID] = r
			granted[req.Reservation.ID] = res.Answer != nil && res.Answer.Granted
		case inventory.KindRelease:
			released[req.Reservation.ID]++
		case inventory.KindSet, inventory.KindAdjust, inventory.KindUnspecified:
		}
	}
	for sku, l := range levels {
		s, ok := latest[sku]
		switch {
		case !ok && l.Tracked():
			c.add(Violation{Kind: KindStockMismatch, RequestOffset: -1, Topic: c.names.Stock, Detail: fmt.Sprintf("sku %s has no level; the replay gives %d available, %d reserved", sku, l.Available, l.Reserved)})
		case ok && (s.Level.Available != l.Available || s.Level.Reserved != l.Reserved || s.Level.Version != l.Version):
			bad(KindStockMismatch, c.names.Stock, s.Position, "sku %s: %d available, %d reserved, version %d; the replay gives %d, %d, %d",
				sku, s.Level.Available, s.Level.Reserved, s.Level.Version, l.Available, l.Reserved, l.Version)
		}
	}

	// Answers.
	answered := map[cart.ReservationID]int{}
	for _, a := range in.Answers {
		if a.DecodeErr != nil {
			bad(KindUndecodable, c.names.Requests, a.Position, "reservation answer does not decode: %v", a.DecodeErr)
			continue
		}
		id := a.Answer.ID
		answered[id]++
		r, ok := reserved[id]
		switch {
		case !ok:
			bad(KindReservationAnswer, c.names.Requests, a.Position, "answer to reservation %s, which was never requested", id)
		case answered[id] > 1:
			bad(KindReservationAnswer, c.names.Requests, a.Position, "reservation %s answered %d times", id, answered[id])
		case a.Answer.Granted != granted[id]:
			bad(KindReservationAnswer, c.names.Requests, a.Position, "reservation %s (at %s %d/%d) answered granted=%t; the replay gives %t",
				id, c.names.Inventory, r.Partition, r.Offset, a.Answer.Granted, granted[id])
		}
	}
	for id, r := range reserved {
		if answered[id] == 0 {
			bad(KindReservationAnswer, c.names.Inventory, r.Position, "reservation %s of cart %s has no answer", id, r.Request.Reservation.CartID)
		}
	}
	c.checkCheckoutsDecided(reserved, granted, released)
	c.report.Summary.Reservations = len(reserved)
}

// checkCheckoutsDecided checks each checkout that reserved: decided, and
// its grants released exactly when it failed.
func (c *checker) checkCheckoutsDecided(reserved map[cart.ReservationID]InventoryRecord, granted map[cart.ReservationID]bool, released map[cart.ReservationID]int) {
	type checkoutKey struct {
		cart cart.CartID
		req  cart.RequestID
	}
	succeeded, failed := map[checkoutKey]bool{}, map[checkoutKey]bool{}
	for i := range c.validated {
		if ev, ok := c.validated[i].Event.(cart.CartCheckedOut); ok {
			succeeded[checkoutKey{ev.CartID, ev.RequestID}] = true
		}
	}
	for i := range c.invalid {
		if inv := c.invalid[i].Invalid; c.invalid[i].DecodeErr == nil && inv.Kind == cart.KindCheckout {
			failed[checkoutKey{inv.CartID, inv.RequestID}] = true
		}
	}
	ids := make([]cart.ReservationID, 0, len(reserved))
	for id := range reserved {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		r := reserved[id].Request.Reservation
		k := checkoutKey{r.CartID, r.CheckoutRequestID}
		v := Violation{CartID: r.CartID, RequestID: r.CheckoutRequestID, RequestOffset: -1, Partition: reserved[id].Partition, Topic: c.names.Inventory, Offsets: []int64{reserved[id].Offset}}
		switch {
		case !succeeded[k] && !failed[k]:
			v.Kind, v.Detail = KindUndecidedCheckout, fmt.Sprintf("checkout reserved %s (%s) and has no outcome", id, r.SKU)
		case succeeded[k] && released[id] > 0:
			v.Kind, v.Detail = KindReservationRelease, fmt.Sprintf("checkout succeeded, yet reservation %s (%s) was released %d times", id, r.SKU, released[id])
		case failed[k] && granted[id] && released[id] != 1:
			v.Kind, v.Detail = KindReservationRelease, fmt.Sprintf("checkout failed; its grant %s (%s) was released %d times, want once", id, r.SKU, released[id])
		case failed[k] && !granted[id] && released[id] > 0:
			v.Kind, v.Detail = KindReservationRelease, fmt.Sprintf("reservation %s (%s) was refused, yet released", id, r.SKU)
		default:
			continue
		}
		if v.Kind == KindUndecidedCheckout {
			c.report.Summary.Undecided++
		}
		c.add(v)
	}
	for id, n := range released {
		if _, ok := reserved[id]; !ok && n > 0 {
			c.add(Violation{Kind: KindReservationRelease, RequestOffset: -1, Topic: c.names.Inventory, Detail: fmt.Sprintf("release of %s, never reserved", id)})
		}
	}
}

// answerOffsets is, per cart (partition and id) and checkout request id,
// the offset of the checkout's last answer on cart.requests: where the
// write side decided it, and so where its window entry and the cart's
// snapshot offset sit.
func answerOffsets(answers []Answer) map[cartKey]map[cart.RequestID]int64 {
	out := map[cartKey]map[cart.RequestID]int64{}
	for _, a := range answers {
		if a.DecodeErr != nil {
			continue
		}
		k := cartKey{a.Partition, a.Answer.CartID}
		if out[k] == nil {
			out[k] = map[cart.RequestID]int64{}
		}
		out[k][a.Answer.CheckoutRequestID] = max(out[k][a.Answer.CheckoutRequestID], a.Offset)
	}
	return out
}
