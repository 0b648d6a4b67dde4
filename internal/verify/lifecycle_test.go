package verify_test

import (
	"slices"
	"testing"
	"time"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/verify"
)

func expire(id cart.CartID, snapVersion int64, idleSince time.Time) cart.ExpireCart {
	return cart.ExpireCart{CartID: id, RequestID: cart.ExpireRequestID(snapVersion), RequestedAt: t0, IdleSince: idleSince, TTL: time.Nanosecond}
}

// lifecycleHistory: a cart expires and starts over (request ids reused
// across generations), expiries of carts the manager does not hold are
// skipped, a cart is cleared, a guest cart is merged.
func lifecycleHistory(s *sim) {
	s.send(expire("e1", 1, t0)) // never existed: skipped
	s.send(add("e1", "r1", "apple", 2))
	s.send(expire("e1", 1, s.snaps["e1"].Cart.UpdatedAt))
	s.send(expire("e1", 1, t0))         // asked twice: skipped
	s.send(add("e1", "r1", "pear", 1))  // the id starts over, r1 is new again
	s.send(remove("e1", "r9", "apple")) // rejected: a new generation's window
	s.send(add("g1", "r1", "apple", 3))
	s.send(cart.MergeCarts{CartID: "g1", RequestID: "m1", CustomerID: "u1", RequestedAt: t0, TargetCartID: "t1"})
	s.send(add("t1", "r1", "pear", 1))
	s.send(cart.ClearCart{CartID: "t1", RequestID: "r2", CustomerID: "u1", RequestedAt: t0})
	s.send(add("x1", "r1", "apple", 1))
	s.send(expire("x1", 1, s.snaps["x1"].Cart.UpdatedAt)) // ends expired
	// A merge into a checked-out cart comes back.
	s.send(add("t2", "r1", "apple", 1))
	s.send(checkout("t2", "r2"))
	s.send(add("g2", "r1", "pear", 2))
	s.send(cart.MergeCarts{CartID: "g2", RequestID: "m1", CustomerID: "u1", RequestedAt: t0, TargetCartID: "t2"})
	if g := s.snaps["g2"].Cart; g.Status != cart.StatusOpen || len(g.Lines) != 1 {
		s.tb.Fatalf("refused merge did not come back: %+v", g)
	}
}

func TestCheckLifecycleClean(t *testing.T) {
	s := newSim(t)
	lifecycleHistory(s)
	if r := verify.Check(s.in); !r.Clean() {
		t.Fatalf("consistent lifecycle history reported dirty:\n%s", dump(r))
	}
}

// A merge whose MergeInto never reached the target, and an expired cart
// whose snapshot survived, are violations.
func TestCheckLifecycleViolations(t *testing.T) {
	s := newSim(t)
	lifecycleHistory(s)
	s.in.Requests = slices.DeleteFunc(s.in.Requests, func(r verify.Request) bool {
		into, ok := r.Command.(cart.MergeInto)
		return ok && into.CartID == "t1" // t2's refusal stays paired
	})
	// Drop the target half's outcome too, so only the merge is at fault.
	s.in.Validated = slices.DeleteFunc(s.in.Validated, func(v verify.Validated) bool {
		_, into := v.Event.(cart.CartMergedInto)
		return into
	})
	last := len(s.in.State) - 1
	for i := range s.in.State {
		if s.in.State[i].Key == "x1" && !s.in.State[i].Tombstone {
			last = i
		}
	}
	s.in.State = append(s.in.State, s.in.State[last]) // x1's snapshot again, after its tombstone
	s.in.State[len(s.in.State)-1].Offset += 1000
	got := violationKinds(verify.Check(s.in))
	if got[verify.KindMergeMismatch] != 1 || got[verify.KindSnapshotMismatch] != 1 {
		t.Fatalf("violations %v, want one MergeMismatch and one SnapshotMismatch", got)
	}
}

// A refused merge whose lines never went back is a violation.
func TestCheckLostMergeReturn(t *testing.T) {
	s := newSim(t)
	lifecycleHistory(s)
	s.in.Requests = slices.DeleteFunc(s.in.Requests, func(r verify.Request) bool {
		_, back := r.Command.(cart.MergeReturned)
		return back
	})
	s.in.Validated = slices.DeleteFunc(s.in.Validated, func(v verify.Validated) bool {
		_, back := v.Event.(cart.CartMergeReturned)
		return back
	})
	got := violationKinds(verify.Check(s.in))
	if got[verify.KindMergeMismatch] != 1 {
		t.Fatalf("violations %v, want one MergeMismatch", got)
	}
}
