package projection

import (
	"context"
	"fmt"

	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"

	"github.com/cartstream/cartstream/cart"
)

// awaitRecordedOutcome answers wait_for_outcome from the outcome topics
// when the cart's snapshot cannot: the cart is quarantined (its snapshot
// does not decode, here or at the manager, which then rejects its requests
// with INVALID_STATE and writes no snapshot of it). The outcome record of
// the command's position is found in the history index (its request-offset
// header) and read back from Kafka. It waits, bounded by ctx, for the
// history follower to index it.
func (p *Projection) awaitRecordedOutcome(ctx context.Context, id cart.CartID, req cart.RequestID, tok Token) (*cartv1.CommandOutcome, error) {
	_, _, sh, err := p.shardOf(id)
	if err != nil {
		return nil, err
	}
	var ref histRef
	snap, err := sh.await(ctx, p.closed, id, func(v view) (bool, error) {
		if v.e == nil {
			return false, nil
		}
		var found bool
		ref, found = v.e.hist.find(tok.Offset)
		return found, nil
	})
	if err != nil {
		return nil, err
	}
	topic := p.cfg.Topics.Validated
	if ref.rejected() {
		topic = p.cfg.Topics.Invalid
	}
	pos := fetchPos{topic: topic, partition: sh.partition, offset: ref.offset}
	msgs, err := p.fetch.fetch(ctx, []fetchPos{pos})
	if err != nil {
		return nil, err
	}
	m := msgs[pos]
	if m == nil {
		return nil, fmt.Errorf("%w: %s/%d@%d not found", ErrFetch, pos.topic, pos.partition, pos.offset)
	}
	out := &cartv1.CommandOutcome{Accepted: !ref.rejected()}
	if snap.Cart.CartID != "" {
		out.Cart = cartPB(&snap.Cart)
	}
	if ref.rejected() {
		inv, err := p.cfg.Records.DecodeInvalid(m.Value)
		if err != nil {
			return nil, fmt.Errorf("%w: %s/%d@%d: %w", ErrFetch, pos.topic, pos.partition, pos.offset, err)
		}
		if inv.RequestID != req {
			return nil, nil // another request at that position: not this command's outcome
		}
		out.Rejection = rejectionPB(inv.Rejection)
	}
	return out, nil
}
