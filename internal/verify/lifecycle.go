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
//     comes from one.

// findExpiries marks the ExpireCart requests whose CartExpired event is on
// cart.validated: each such event goes to the first ExpireCart request
// with its id after the previous one's.
func (c *checker) findExpiries(cd *cartData) {
	last := -1
	for _, i := range cd.validated {
		ev, ok := c.validated[i].Event.(cart.CartExpired)
		if !ok {
			continue
		}
		for _, s := range cd.byID[ev.RequestID] {
			if s.idx > last && s.kind == cart.KindExpireCart {
				if cd.expiries == nil {
					cd.expiries = map[int]bool{}
				}
				cd.expiries[s.idx], last = true, s.idx
				break
			}
		}
	}
}

// checkMerges matches accepted merges with the MergeInto requests.
func (c *checker) checkMerges() {
	type target struct {
		key cartKey
		rid cart.RequestID
	}
	want := map[target]Violation{}
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
			want[target{cartKey{p, ev.TargetCartID}, cart.MergeIntoRequestID(ev.CartID, ev.RequestID)}] = Violation{
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
}
