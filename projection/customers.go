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
// cart), so it is rebuilt with the shard and costs nothing to persist.
// Guarded by the shard's mu.
type customerIndex map[cart.CustomerID]map[cart.CartID]struct{}

func (ix *customerIndex) add(c cart.CustomerID, id cart.CartID) {
	if c == "" {
		return
	}
	if *ix == nil {
		*ix = customerIndex{}
	}
	m := (*ix)[c]
	if m == nil {
		m = map[cart.CartID]struct{}{}
		(*ix)[c] = m
	}
	m[id] = struct{}{}
}

func (ix customerIndex) drop(c cart.CustomerID, id cart.CartID) {
	if m := ix[c]; m != nil {
		delete(m, id)
		if len(m) == 0 {
			delete(ix, c)
		}
	}
}

// openCarts appends the customer's open carts of the shard to out.
func (sh *shard) openCarts(c cart.CustomerID, out []cart.CartState) []cart.CartState {
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	for id := range sh.byCustomer[c] {
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
