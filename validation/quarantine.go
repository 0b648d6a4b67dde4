package validation

import (
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
)

// quarantine is a cart whose latest record in cart.state this manager
// cannot decode: corrupt bytes, or a snapshot written with a newer schema
// version (a rolling upgrade) that was not shipped to this manager.
//
// Such a cart is neither restarted empty nor continued from an older
// snapshot of it that compaction has not removed yet: either would write a
// snapshot over the one it cannot read and lose the cart for good. Its
// requests are rejected with INVALID_STATE instead, and no snapshot of it
// is written, until its record in cart.state changes under this manager's
// restore: an operator rewrote it (cartctl replay --rewrite), or the
// partition moved to a manager that reads it. The partition's other carts
// keep flowing.
type quarantine struct {
	// stateOffset is the offset of the unreadable record in cart.state.
	stateOffset int64
	// cause is why it did not decode (bounded), for logs.
	cause string
}

// quarantineMessage is the rejection a quarantined cart's requests get.
// It names the record, not the decode error: the error is for operators,
// and the log and the restore report carry it.
func quarantineMessage(partition int32, q quarantine) string {
	return fmt.Sprintf("the cart's stored state (cart.state partition %d, offset %d) cannot be read by this manager; "+
		"its requests are rejected until an operator repairs it (cartctl replay --verify, then --rewrite)", partition, q.stateOffset)
}

// restoreRecord folds one cart.state record into ps: the latest record of
// a cart decides whether it is a snapshot, gone (a tombstone), or
// quarantined. It reports whether the record was unreadable.
func (ps *partitionState) restoreRecord(id cart.CartID, offset int64, value []byte, decode func([]byte) (cart.Snapshot, error)) (bad bool, err error) {
	delete(ps.quarantined, id)
	if value == nil {
		delete(ps.carts, id)
		return false, nil
	}
	snap, err := decode(value)
	if err == nil && snap.Cart.CartID != id {
		err = fmt.Errorf("snapshot of cart %q under key %q", snap.Cart.CartID, id)
	}
	if err != nil {
		delete(ps.carts, id)
		if ps.quarantined == nil {
			ps.quarantined = map[cart.CartID]quarantine{}
		}
		ps.quarantined[id] = quarantine{stateOffset: offset, cause: boundText(err.Error(), MaxMalformedMessage)}
		return true, err
	}
	ps.carts[id] = snap
	return false, nil
}

// rejectQuarantined answers a request of a quarantined cart with
// INVALID_STATE. Nothing else about the cart is written: its snapshot
// stays the record this manager cannot read.
func (w *worker) rejectQuarantined(b *batchTxn, msg *kafka.Message, cmd cart.Command, q quarantine, now time.Time) error {
	tp := msg.TopicPartition
	meta := cmd.Meta()
	inv := cart.NewInvalidRequest(cmd, cart.Rejection{Reason: cart.ReasonInvalidState, Message: quarantineMessage(tp.Partition, q)}, now)
	value, err := w.m.cfg.Records.EncodeInvalid(inv)
	if err != nil {
		return fmt.Errorf("%w: encode rejection of quarantined cart %s: %w", errSessionFatal, meta.CartID, err)
	}
	b.tally.reject(cart.ReasonInvalidState)
	b.tally.quarantined++
	w.m.log.Warn("request of a quarantined cart rejected", "cart_id", meta.CartID, "request_id", meta.RequestID,
		"partition", tp.Partition, "offset", tp.Offset, "state_offset", q.stateOffset, "cause", q.cause)
	hdrs := outcomeHeaders(string(meta.RequestID), inv.EventType().String(), b.spans.cur, tp.Offset)
	b.add(w.m.cfg.Topics.Invalid, tp.Partition, msg.Key, value, hdrs)
	return nil
}

// reportQuarantine logs every cart a restore left quarantined (the latest
// record of each, after later records superseded earlier bad ones) and
// counts them.
func (s *session) reportQuarantine(restored map[int32]*partitionState) {
	for p, ps := range restored {
		for id, q := range ps.quarantined {
			s.m.stats.Quarantined.Add(1)
			s.m.log.Error("cart quarantined: its snapshot in cart.state does not decode; its requests are rejected (INVALID_STATE) until it is repaired",
				"cart_id", id, "partition", p, "state_offset", q.stateOffset, "cause", q.cause,
				"repair", "cartctl replay --verify, then cartctl replay --rewrite with the managers stopped")
		}
	}
}
