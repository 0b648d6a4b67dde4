package validation

import (
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	keyhash "github.com/cartstream/cartstream/internal/partition"
)

// lifecycleEffects writes what an accepted lifecycle event hands on, in
// the transaction of the request that produced it
// (docs/decisions/0013-cart-lifecycle.md):
//
//   - CartMerged: the target's half, a MergeInto request on cart.requests
//     in the target cart's partition. It commits with the source's
//     outcome and offsets or not at all, so the target gets it exactly
//     once per accepted merge; its derived request id makes a redelivery
//     a duplicate in the target's window.
//   - CartExpired: counted here; decide writes the tombstone.
func (w *worker) lifecycleEffects(j *job, b *batchTxn, ev cart.Event, trace string, requestOffset kafka.Offset) error {
	switch e := ev.(type) {
	case cart.CartMerged:
		into := cart.MergeIntoOf(e)
		value, err := w.m.cfg.Records.EncodeRequest(into)
		if err != nil {
			return fmt.Errorf("%w: encode the merge of cart %s into %s: %w", errSessionFatal, e.CartID, e.TargetCartID, err)
		}
		if j.partitions <= 0 {
			return fmt.Errorf("%w: merge of cart %s: the partition count of %s is unknown", errSessionFatal, e.CartID, w.m.cfg.Topics.Requests)
		}
		key := []byte(into.CartID)
		hdrs := outcomeHeaders(string(into.RequestID), into.EventType().String(), trace, requestOffset)
		b.add(w.m.cfg.Topics.Requests, keyhash.For(key, j.partitions), key, value, hdrs)
	case cart.CartExpired:
		b.tally.expired++
	}
	return nil
}

// internalOnGone says whether cmd is one of the manager's own requests
// that is skipped, without an outcome, when its cart is gone.
func internalOnGone(cmd cart.Command) bool {
	switch cmd.(type) {
	case cart.ExpireCart, cart.MergeReturned:
		return true
	}
	return false
}

// returnMerge hands the lines of a MergeInto its target refused back to
// the merged cart, as a MergeReturned request in the source's partition,
// in the transaction of the refusal: a merge lands in the target or
// returns, exactly once either way. A DUPLICATE_REQUEST refusal is not a
// refusal of the merge (the id was taken by another command; the
// manager's ids cannot collide with a client's: the gateway reserves
// them), so nothing returns then.
func (w *worker) returnMerge(j *job, b *batchTxn, cmd cart.Command, rej cart.Rejection, trace string, requestOffset kafka.Offset, now time.Time) error {
	into, ok := cmd.(cart.MergeInto)
	if !ok || rej.Reason == cart.ReasonDuplicateRequest {
		return nil
	}
	back := cart.MergeReturnedOf(into, rej, now)
	value, err := w.m.cfg.Records.EncodeRequest(back)
	if err != nil {
		return fmt.Errorf("%w: encode the return of a merge to %s: %w", errSessionFatal, back.CartID, err)
	}
	if j.partitions <= 0 {
		return fmt.Errorf("%w: return of a merge to %s: the partition count of %s is unknown", errSessionFatal, back.CartID, w.m.cfg.Topics.Requests)
	}
	key := []byte(back.CartID)
	hdrs := outcomeHeaders(string(back.RequestID), back.EventType().String(), trace, requestOffset)
	b.add(w.m.cfg.Topics.Requests, keyhash.For(key, j.partitions), key, value, hdrs)
	return nil
}
