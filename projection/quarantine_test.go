package projection

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Issue 11: a snapshot that did not decode was skipped, so the replica kept
// serving the cart's older snapshot as if it were current.
func TestShardQuarantinesAnUnreadableCart(t *testing.T) {
	sh := newShard(2)
	sh.apply(snapAt("c1", 3, 1))
	sh.apply(snapAt("c2", 4, 1))
	sh.quarantine("c1", &unreadable{stateOffset: 9})
	if _, _, err := sh.get("c1"); !errors.Is(err, ErrUnreadable) {
		t.Fatalf("get of a quarantined cart: %v, want ErrUnreadable", err)
	}
	if st, _ := status.FromError(statusOf(func() error { _, _, err := sh.get("c1"); return err }())); st.Code() != codes.FailedPrecondition {
		t.Fatalf("code %s, want FAILED_PRECONDITION", st.Code())
	}
	if _, ok, err := sh.get("c2"); !ok || err != nil {
		t.Fatalf("the partition's other cart: %v %v", ok, err)
	}
	if sh.snapshots != 1 {
		t.Fatalf("snapshots %d, want 1", sh.snapshots)
	}
	// A waiter on the quarantined cart ends at once with the reason.
	_, err := sh.await(context.Background(), nil, "c1", func(v view) (bool, error) {
		if v.bad != nil {
			return false, v.bad.err("c1", 2)
		}
		return v.has, nil
	})
	if !errors.Is(err, ErrUnreadable) {
		t.Fatalf("await: %v", err)
	}
	// The repair (any decodable snapshot, even of an older offset: the
	// latest record is the truth) ends the quarantine.
	if stored, _ := sh.apply(snapAt("c1", 2, 1)); !stored {
		t.Fatal("the repaired snapshot was not stored")
	}
	if s, ok, err := sh.get("c1"); !ok || err != nil || s.RequestOffset != 2 {
		t.Fatalf("after repair: %v %v %v", s.RequestOffset, ok, err)
	}
	// A tombstone ends a quarantine too.
	sh.quarantine("c2", &unreadable{stateOffset: 10})
	sh.remove("c2")
	if _, ok, err := sh.get("c2"); ok || err != nil {
		t.Fatalf("after tombstone: %v %v", ok, err)
	}
	if _, gone := sh.carts["c2"]; gone {
		t.Fatal("an idle entry was left behind")
	}
}

// Issue 11: cartctl replay --rewrite keeps a snapshot's request offset and
// replaces its cart; a live replica dropped the repair as "not newer".
func TestShardTakesARewriteOfTheSameOffset(t *testing.T) {
	sh := newShard(0)
	sh.apply(snapAt("c1", 5, 3))
	if stored, _ := sh.apply(snapAt("c1", 5, 3)); stored {
		t.Fatal("a redelivery of the same snapshot was stored again")
	}
	fixed := snapAt("c1", 5, 3)
	fixed.Cart.CustomerID = "repaired"
	if stored, _ := sh.apply(fixed); !stored {
		t.Fatal("the rewritten snapshot was dropped")
	}
	if s, _, _ := sh.get("c1"); s.Cart.CustomerID != "repaired" {
		t.Fatalf("served %+v", s.Cart)
	}
}
