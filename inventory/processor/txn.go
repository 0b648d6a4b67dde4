package processor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	keyhash "github.com/cartstream/cartstream/internal/partition"
	"github.com/cartstream/cartstream/inventory"
)

// Event types of the records the processor writes (header event-type).
const (
	EventTypeReservationAnswer = "ReservationAnswer"
	EventTypeStockLevel        = "StockLevel"
)

// txn is one batch's transaction in the making.
type txn struct {
	overlay map[int32]map[cart.SKU]inventory.Level
	out     []*kafka.Message
	tally   tally
}

type tally struct {
	granted, refused, released, changes, refusals, malformed, repeats int64
	decided                                                           [KindCount][ResultCount]int64
}

// transact decides batch in one transaction with its offsets. Committed,
// the new levels join the session's; aborted, the consumer is rewound to
// the batch's first offsets and the levels stay as committed; anything
// else is fatal to the session.
func (s *session) transact(batch []*kafka.Message) error {
	t := &txn{overlay: map[int32]map[cart.SKU]inventory.Level{}}
	if err := s.prod.BeginTransaction(); err != nil {
		return fmt.Errorf("%w: begin transaction: %w", errFatal, err)
	}
	now := s.p.cfg.Now()
	for _, m := range batch {
		if err := s.decide(t, m, now); err != nil {
			return s.fail(batch, err)
		}
	}
	s.stage(t)
	for _, m := range t.out {
		if err := s.produce(m); err != nil {
			return s.fail(batch, err)
		}
	}
	meta, err := s.cons.GetConsumerGroupMetadata()
	if err != nil {
		return fmt.Errorf("%w: group metadata: %w", errFatal, err)
	}
	offsets := nextOffsets(batch)
	if err := s.retrying(func(ctx context.Context) error { return s.prod.SendOffsetsToTransaction(ctx, offsets, meta) }); err != nil {
		return s.fail(batch, err)
	}
	if f := s.p.cfg.BeforeCommit; f != nil {
		f(len(batch))
	}
	if err := s.retrying(s.prod.CommitTransaction); err != nil {
		return s.fail(batch, err)
	}
	s.committed(t)
	return nil
}

// decide runs one request through inventory.Step against the batch's
// levels and adds the answer, if any, to the batch.
func (s *session) decide(t *txn, m *kafka.Message, now time.Time) error {
	p := m.TopicPartition.Partition
	req, err := s.p.cfg.Records.DecodeInventoryRequest(m.Value)
	switch {
	case err != nil:
	case string(m.Key) != string(req.SKU):
		err = fmt.Errorf("key %q is not the request's sku %s", m.Key, req.SKU)
	case keyhash.For(m.Key, s.parts) != p:
		err = fmt.Errorf("sku %s hashes to partition %d of %d, where its level lives, not %d", req.SKU, keyhash.For(m.Key, s.parts), s.parts, p)
	}
	if err != nil {
		// Nothing can be decided for it, and nothing waits on it that
		// could be told: skip it, loudly.
		t.tally.malformed++
		s.p.log.Error("skipping malformed inventory request", "partition", p, "offset", m.TopicPartition.Offset, "err", err)
		return nil
	}
	if t.overlay[p] == nil {
		t.overlay[p] = map[cart.SKU]inventory.Level{}
	}
	cur, ok := t.overlay[p][req.SKU]
	if !ok {
		cur = s.levels[p][req.SKU]
	}
	res := inventory.Step(cur, req, now)
	if k := int(req.Kind); k < KindCount {
		t.tally.decided[k][result(res)]++
	}
	switch {
	case res.Repeat != nil:
		// A client's retry of an adjustment already decided: the first
		// result stands, nothing changes.
		t.tally.repeats++
		s.p.log.Info("adjustment repeated; the first result stands", "sku", req.SKU, "adjustment_id", req.AdjustmentID,
			"request_id", req.RequestID, "applied", res.Repeat.Applied, "available_after", res.Repeat.Available, "err", res.Err)
	case res.Err != nil:
		t.tally.refusals++
		s.p.log.Warn("inventory request refused", "sku", req.SKU, "kind", req.Kind, "request_id", req.RequestID, "adjustment_id", req.AdjustmentID, "err", res.Err)
	}
	if res.Changed {
		// A refused identified adjustment changes only the level's window
		// (so its retry is refused alike): written, not counted a change.
		t.overlay[p][req.SKU] = res.Level
		switch {
		case res.Err != nil:
		case req.Kind == inventory.KindRelease:
			t.tally.released++
		case req.Kind == inventory.KindSet || req.Kind == inventory.KindAdjust:
			t.tally.changes++
		}
	}
	return s.answer(t, res)
}

// answer adds the reply to a reservation, if res has one, to the batch.
func (s *session) answer(t *txn, res inventory.Result) error {
	if a := res.Answer; a != nil {
		value, err := s.p.cfg.Records.EncodeAnswer(*a)
		if err != nil {
			return fmt.Errorf("%w: encode answer: %w", errFatal, err)
		}
		requests := s.p.cfg.Topics.Requests
		t.out = append(t.out, &kafka.Message{
			TopicPartition: kafka.TopicPartition{Topic: &requests, Partition: kafka.PartitionAny},
			Key:            []byte(a.CartID), Value: value,
			Headers: []kafka.Header{{Key: "request-id", Value: []byte(a.ID)}, {Key: "event-type", Value: []byte(EventTypeReservationAnswer)}},
		})
		if a.Granted {
			t.tally.granted++
		} else {
			t.tally.refused++
		}
	}
	return nil
}

// stage adds the batch's changed levels, one record per SKU, to the
// partition of inventory.stock numbered like the request's.
func (s *session) stage(t *txn) {
	stock := s.p.cfg.Topics.Stock
	for p, m := range t.overlay {
		for sku, l := range m {
			value, err := s.p.cfg.Records.EncodeStockLevel(l)
			if err != nil {
				// Step keeps levels valid; a level that does not encode is
				// a bug, and writing nothing keeps the last good one.
				s.p.log.Error("stock level does not encode", "sku", sku, "err", err)
				continue
			}
			t.out = append(t.out, &kafka.Message{
				TopicPartition: kafka.TopicPartition{Topic: &stock, Partition: p},
				Key:            []byte(sku), Value: value,
				Headers: []kafka.Header{{Key: "event-type", Value: []byte(EventTypeStockLevel)}},
			})
		}
	}
}

func (s *session) committed(t *txn) {
	for p, m := range t.overlay {
		if s.levels[p] == nil {
			continue // revoked meanwhile: the next owner restores it
		}
		for sku, l := range m {
			s.levels[p][sku] = l
		}
	}
	st := &s.p.stats
	st.Commits.Add(1)
	st.Granted.Add(t.tally.granted)
	st.Refused.Add(t.tally.refused)
	st.Released.Add(t.tally.released)
	st.StockChanges.Add(t.tally.changes)
	st.Refusals.Add(t.tally.refusals)
	st.Malformed.Add(t.tally.malformed)
	st.Repeats.Add(t.tally.repeats)
	for k := range t.tally.decided {
		for r, n := range t.tally.decided[k] {
			if n != 0 {
				st.Decided[k][r].Add(n)
			}
		}
	}
	s.p.health.Committed()
}

// result classifies a decision for Stats.Decided.
func result(res inventory.Result) int {
	switch {
	case res.Repeat != nil:
		return ResultRepeat
	case res.Err != nil:
		return ResultInvalid
	case res.Answer != nil && res.Answer.Granted:
		return ResultGranted
	case res.Answer != nil:
		return ResultRefused
	default:
		return ResultApplied
	}
}

func (s *session) produce(m *kafka.Message) error {
	for {
		err := s.prod.Produce(m, nil)
		var ke kafka.Error
		if errors.As(err, &ke) && ke.Code() == kafka.ErrQueueFull {
			s.prod.Flush(100)
			continue
		}
		if err != nil {
			return fmt.Errorf("%w: produce to %s: %w", errFatal, *m.TopicPartition.Topic, err)
		}
		return nil
	}
}

// nextOffsets is last processed + 1 of each partition of batch.
func nextOffsets(batch []*kafka.Message) []kafka.TopicPartition {
	next := map[int32]kafka.TopicPartition{}
	for _, m := range batch {
		tp := m.TopicPartition
		tp.Offset++
		next[tp.Partition] = tp
	}
	out := make([]kafka.TopicPartition, 0, len(next))
	for _, tp := range next {
		out = append(out, tp)
	}
	return out
}

// retrying repeats a transactional call while librdkafka calls its error
// retriable, until CommitTimeout; an outcome still unknown then is fatal.
func (s *session) retrying(call func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.p.cfg.CommitTimeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		err := call(ctx)
		var ke kafka.Error
		if err == nil || !errors.As(err, &ke) || !ke.IsRetriable() || ke.TxnRequiresAbort() || ke.IsFatal() {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: outcome unknown after %s: %w", errFatal, s.p.cfg.CommitTimeout, err)
		case <-time.After(min(time.Duration(attempt)*10*time.Millisecond, time.Second)):
		}
	}
}

// fail ends a transaction that could not commit: an abortable error aborts
// it and rewinds the consumer to the batch's first offsets (the levels
// were never changed); anything else is fatal to the session.
func (s *session) fail(batch []*kafka.Message, err error) error {
	var ke kafka.Error
	s.p.health.FailedCommit()
	if errors.Is(err, errFatal) || !errors.As(err, &ke) || !ke.TxnRequiresAbort() {
		if !errors.Is(err, errFatal) {
			err = fmt.Errorf("%w: %w", errFatal, err)
		}
		return err
	}
	s.p.log.Warn("aborting transaction", "err", err)
	if aerr := s.retrying(s.prod.AbortTransaction); aerr != nil {
		return fmt.Errorf("%w: abort after %w: %w", errFatal, err, aerr)
	}
	s.p.stats.Aborts.Add(1)
	first := map[int32]kafka.TopicPartition{}
	for _, m := range batch {
		if _, ok := first[m.TopicPartition.Partition]; !ok {
			first[m.TopicPartition.Partition] = m.TopicPartition
		}
	}
	for _, tp := range first {
		if err := s.cons.Seek(tp, 0); err != nil {
			return fmt.Errorf("%w: rewind partition %d: %w", errFatal, tp.Partition, err)
		}
	}
	return nil
}
