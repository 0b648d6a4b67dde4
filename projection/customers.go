package projection

import (
	"slices"
	"strings"

	"github.com/cartstream/cartstream/cart"
)

// MaxListedCarts bounds a ListCarts answer: a customer with more open
// carts sees the most recently updated ones.
const MaxListedCarts = 100

// customerIndex maps a customer to the carts of a shard whose snapshot
// names them. It is maintained from cart.state alone (a tombstone drops a
// cart), so it is rebuilt with the shard and costs nothing to persist. It
// also holds the one copy of each customer id that the customer's carts
// share. Guarded by the shard's mu.
type customerIndex map[cart.CustomerID]*customerCarts

type customerCarts struct {
	id    cart.CustomerID
	carts map[cart.CartID]struct{}
}

// add indexes cart id under customer c and returns c as the index holds
// it (a copy sharing no memory with the argument), for the cart to share.
func (ix *customerIndex) add(c cart.CustomerID, id cart.CartID) cart.CustomerID {
	if c == "" {
		return ""
	}
	if *ix == nil {
		*ix = customerIndex{}
	}
	cc := (*ix)[c]
	if cc == nil {
		cc = &customerCarts{id: cart.CustomerID(strings.Clone(string(c))), carts: map[cart.CartID]struct{}{}}
		(*ix)[cc.id] = cc
	}
	cc.carts[id] = struct{}{}
	return cc.id
}

func (ix customerIndex) drop(c cart.CustomerID, id cart.CartID) {
	if cc := ix[c]; cc != nil {
		delete(cc.carts, id)
		if len(cc.carts) == 0 {
			delete(ix, c)
		}
	}
}

// openCarts appends the customer's open carts of the shard to out.
func (sh *shard) openCarts(c cart.CustomerID, out []cart.CartState) []cart.CartState {
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	cc := sh.byCustomer[c]
	if cc == nil {
		return out
	}
	for id := range cc.carts {
		if e := sh.carts[id]; e != nil && e.has && e.snap.Cart.Status == cart.StatusOpen {
			out = append(out, e.snap.Cart)
		}
	}
	return out
}

// ListCarts returns the customer's open carts over the owned partitions,
// the most recently updated first, at most MaxListedCarts. A customer's
// carts spread over every partition, so a replica that owns only some
// answers for those only.
func (p *Projection) ListCarts(c cart.CustomerID) ([]cart.CartState, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if !isReady(p.ready) {
		return nil, ErrNotReady
	}
	lay := p.layout.Load()
	if lay == nil {
		return nil, ErrNotReady
	}
	var out []cart.CartState
	for _, sh := range lay.shards {
		if sh != nil {
			out = sh.openCarts(c, out)
		}
	}
	return newestFirst(out), nil
}

// newestFirst sorts carts by their last update, newest first (then by
// id), and keeps at most MaxListedCarts.
func newestFirst(out []cart.CartState) []cart.CartState {
	slices.SortFunc(out, func(a, b cart.CartState) int {
		if n := b.UpdatedAt.Compare(a.UpdatedAt); n != 0 {
			return n
		}
		return strings.Compare(string(a.CartID), string(b.CartID))
	})
	return out[:min(len(out), MaxListedCarts)]
}
