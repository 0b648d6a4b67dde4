package verify

import (
	"fmt"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/partition"
)

// The cart lifecycle (docs/decisions/0013-cart-lifecycle.md) in the
// verifier's model:
//
//   - An accepted ExpireCart ends a generation of the cart: its window and
//     snapshot go (cart.state holds a tombstone), versions start over, and
//     an ExpireCart that finds no cart is skipped without any outcome.
//   - An accepted MergeCarts (CartMerged) hands its target exactly one
//     MergeInto request, written in the same transaction; every MergeInto
//     comes from one. A MergeInto the target refused hands exactly one
//     MergeReturned back to the source; every MergeReturned comes from one.

// expiryQueue is a cart's CartExpired events, in cart.validated order.
type expiryQueue []cart.CartExpired

func (c *checker) expiriesOf(cd *cartData) *expiryQueue {
	var q expiryQueue
	for _, i := range cd.validated {
		if ev, ok := c.validated[i].Event.(cart.CartExpired); ok {
			q = append(q, ev)
		}
	}
	return &q
}

// ends reports whether s, a request of a cart the manager holds, is the
// accepted expiry next in line: an ExpireCart with the event's id that saw
// the cart idle since the event says. It consumes that event.
func (q *expiryQueue) ends(s *slot) bool {
	if len(*q) == 0 || s.kind != cart.KindExpireCart || s.rid != (*q)[0].RequestID {
		return false
	}
	if ex, ok := s.req.Command.(cart.ExpireCart); !ok || !ex.IdleSince.Equal((*q)[0].IdleSince) {
		return false
	}
	*q = (*q)[1:]
	return true
}

// checkMerges matches accepted merges with the MergeInto requests.
func (c *checker) checkMerges() {
	type target struct {
		key cartKey
		rid cart.RequestID
	}
	want := map[target]Violation{}
	legacy := map[target]target{} // the id history written before MergeIntoRequestID took the decision's time carries
	for _, k := range c.order {
		for _, i := range c.carts[k].validated {
			v := &c.validated[i]
			ev, ok := v.Event.(cart.CartMerged)
			if !ok {
				continue
			}
			p := int32(-1)
			if c.partitions > 0 {
				p = partition.For([]byte(ev.TargetCartID), c.partitions)
			}
			t := target{cartKey{p, ev.TargetCartID}, cart.MergeIntoRequestID(ev.CartID, ev.RequestID, ev.DecidedAt)}
			legacy[target{t.key, cart.LegacyMergeIntoRequestID(ev.CartID, ev.RequestID)}] = t
			want[t] = Violation{
				Kind: KindMergeMismatch, CartID: ev.CartID, RequestID: ev.RequestID, Partition: v.Partition, RequestOffset: -1,
				Topic: c.names.Validated, Offsets: []int64{v.Offset},
			}
		}
	}
	got := map[target]int{}
	for _, k := range c.order {
		for _, s := range c.carts[k].slots {
			if s.kind != cart.KindMergeInto {
				continue
			}
			t := target{k, s.rid}
			if c.partitions <= 0 {
				t.key.partition = -1
			}
			if cur, ok := legacy[t]; ok {
				t = cur
			}
			got[t]++
			if _, ok := want[t]; !ok && got[t] == 1 {
				c.add(Violation{Kind: KindMergeMismatch, CartID: k.id, RequestID: s.rid, Partition: k.partition, RequestOffset: s.req.Offset,
					Topic: c.names.Requests, Offsets: []int64{s.req.Offset}, Detail: "MergeInto request without the accepted MergeCarts that hands it on"})
			}
		}
	}
	for t, v := range want {
		if n := got[t]; n != 1 {
			v.Detail = fmt.Sprintf("accepted merge into %s has %d MergeInto requests in its partition, want 1", t.key.id, n)
			c.add(v)
		}
	}
	c.checkReturns()
}

// checkReturns matches the refused MergeInto requests with the
// MergeReturned requests.
func (c *checker) checkReturns() {
	type source struct {
		key cartKey
		rid cart.RequestID
	}
	part := func(id cart.CartID) int32 {
		if c.partitions <= 0 {
			return -1
		}
		return partition.For([]byte(id), c.partitions)
	}
	want := map[source]Violation{}
	for _, k := range c.order {
		for _, s := range c.carts[k].slots {
			into, ok := s.req.Command.(cart.MergeInto)
			if !ok || len(s.invalid) != 1 || c.invalid[s.invalid[0]].Invalid.Rejection.Reason == cart.ReasonDuplicateRequest {
				continue
			}
			want[source{cartKey{part(into.SourceCartID), into.SourceCartID}, cart.MergeReturnedRequestID(into.CartID, into.RequestID)}] = Violation{
				Kind: KindMergeMismatch, CartID: k.id, RequestID: s.rid, Partition: k.partition, RequestOffset: s.req.Offset,
				Topic: c.names.Invalid, Offsets: []int64{c.invalid[s.invalid[0]].Offset},
			}
		}
	}
	got := map[source]int{}
	for _, k := range c.order {
		for _, s := range c.carts[k].slots {
			if s.kind != cart.KindMergeReturned {
				continue
			}
			src := source{cartKey{part(k.id), k.id}, s.rid}
			got[src]++
			if _, ok := want[src]; !ok && got[src] == 1 {
				c.add(Violation{Kind: KindMergeMismatch, CartID: k.id, RequestID: s.rid, Partition: k.partition, RequestOffset: s.req.Offset,
					Topic: c.names.Requests, Offsets: []int64{s.req.Offset}, Detail: "MergeReturned request without a refused MergeInto that hands it back"})
			}
		}
	}
	for src, v := range want {
		if n := got[src]; n != 1 {
			v.Detail = fmt.Sprintf("refused merge has %d MergeReturned requests to %s, want 1", n, src.key.id)
			c.add(v)
		}
	}
}
