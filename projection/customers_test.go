package projection

import (
	"slices"
	"testing"

	"github.com/cartstream/cartstream/cart"
)

func ownedSnap(id cart.CartID, customer cart.CustomerID, offset int64, status cart.Status) cart.Snapshot {
	s := cart.NewSnapshot(id)
	s.RequestOffset = offset
	s.Cart.CustomerID, s.Cart.Version, s.Cart.Status = customer, offset+1, status
	if status == cart.StatusMerged {
		s.Cart.MergedInto = "elsewhere"
	}
	return s
}

func openIDs(sh *shard, c cart.CustomerID) []cart.CartID {
	var ids []cart.CartID
	for _, s := range sh.openCarts(c, nil) {
		ids = append(ids, s.CartID)
	}
	slices.Sort(ids)
	return ids
}

// Issue 14 item 4: the customer index follows cart.state: a snapshot adds
// its cart, a tombstone (expiry) or a quarantine drops it, and only open
// carts are listed.
func TestCustomerIndexFollowsState(t *testing.T) {
	sh := newShard(0)
	sh.apply(ownedSnap("c1", "alice", 0, cart.StatusOpen))
	sh.apply(ownedSnap("c2", "alice", 1, cart.StatusOpen))
	sh.apply(ownedSnap("c3", "alice", 2, cart.StatusCheckedOut))
	sh.apply(ownedSnap("c4", "bob", 3, cart.StatusOpen))
	if got := openIDs(sh, "alice"); !slices.Equal(got, []cart.CartID{"c1", "c2"}) {
		t.Fatalf("alice's open carts %v", got)
	}
	sh.apply(ownedSnap("c2", "alice", 5, cart.StatusMerged))
	sh.remove("c1")
	if got := openIDs(sh, "alice"); len(got) != 0 {
		t.Fatalf("after merge and expiry: %v", got)
	}
	sh.quarantine("c4", &unreadable{stateOffset: 9})
	if got := openIDs(sh, "bob"); len(got) != 0 || sh.byCustomer["bob"] != nil {
		t.Fatalf("quarantined cart still indexed: %v", got)
	}
	sh.remove("c2")
	sh.remove("c3")
	if len(sh.byCustomer) != 0 {
		t.Fatalf("index not empty after every cart went: %v", sh.byCustomer)
	}
}
