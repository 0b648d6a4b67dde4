package projection

import (
	"context"
	"fmt"

	"github.com/cartstream/cartstream/cart"
)

// awaitCheckoutDecided waits, bounded by ctx, while checkout req of cart
// id waits for its stock reservations (cart.Snapshot.Pending): the
// snapshot already covers the checkout's offset then, but its outcome is
// only known once the inventory has answered every line, and a client
// waiting for the outcome must get the decision, not "pending".
func (p *Projection) awaitCheckoutDecided(ctx context.Context, id cart.CartID, req cart.RequestID) (cart.Snapshot, error) {
	ctx, cancel := p.boundWait(ctx)
	defer cancel()
	_, _, sh, err := p.shardOf(id)
	if err != nil {
		return cart.Snapshot{}, err
	}
	return sh.await(ctx, p.closed, id, func(v view) (bool, error) {
		switch {
		case v.bad != nil:
			return false, v.bad.err(id, sh.partition)
		case !v.has:
			return false, fmt.Errorf("%w: cart %s", ErrNotFound, id)
		}
		return v.snap.Pending == nil || v.snap.Pending.RequestID != req, nil
	})
}
