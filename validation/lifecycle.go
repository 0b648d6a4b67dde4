package validation

import (
	"fmt"

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
