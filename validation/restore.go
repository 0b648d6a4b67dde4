package validation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/kafkaoffsets"
)

// assign restores the carts of newly assigned partitions from cart.state.
//
// Order matters. First the committed offsets are fetched: the consumer is
// read_committed, so librdkafka asks for stable offsets and waits while a
// previous owner's transaction that covers these partitions is still
// pending. Only then is cart.state read, up to its last stable offset, so the
// snapshots restored and the offsets the consumer resumes from come from the
// same set of committed transactions.
func (s *session) assign(ctx context.Context, parts []kafka.TopicPartition) (*assignment, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	start := time.Now()
	timeout := s.m.cfg.TransactionTimeout + s.m.cfg.CommitTimeout
	count, err := s.partitionCount(timeout)
	if err != nil {
		return nil, err
	}
	committed, err := committedOffsets(ctx, s.cons, parts, timeout)
	if err != nil {
		return nil, err
	}
	restored, err := s.restore(ctx, parts, timeout)
	if err != nil {
		return nil, err
	}
	out := make([]*partition, 0, len(committed))
	total := 0
	for _, tp := range committed {
		ps := restored[tp.Partition]
		if tp.Offset >= 0 {
			for id, snap := range ps.carts {
				if snap.RequestOffset >= int64(tp.Offset) {
					s.m.log.Error("snapshot is ahead of the committed offset; its requests will be skipped as stale",
						"partition", tp.Partition, "cart", id, "snapshot_offset", snap.RequestOffset, "committed", tp.Offset)
				}
			}
		}
		out = append(out, &partition{id: tp.Partition, state: ps})
		total += len(ps.carts)
	}
	s.m.stats.Restored.Add(int64(total))
	if ro, ok := s.m.cfg.Observer.(RestoreObserver); ok {
		ro.PartitionsRestored(RestoreTrace{Partitions: len(parts), Carts: total, Took: time.Since(start)})
	}
	s.m.log.Info("partitions assigned", "partitions", partitionIDs(parts), "of", count, "carts", total, "took", time.Since(start).Round(time.Millisecond))
	return &assignment{parts: out, count: count}, nil
}

// committedOffsets asks for the group's committed offsets of parts in
// short rounds until timeout, so that a stop (ctx) is not held for the
// whole timeout while the group coordinator is away (a broker failover).
func committedOffsets(ctx context.Context, cons *kafka.Consumer, parts []kafka.TopicPartition, timeout time.Duration) ([]kafka.TopicPartition, error) {
	const round = 2 * time.Second
	deadline := time.Now().Add(timeout)
	for {
		out, err := cons.Committed(parts, int(round.Milliseconds()))
		var kerr kafka.Error
		timedOut := errors.As(err, &kerr) && kerr.Code() == kafka.ErrTimedOut
		switch {
		case err == nil:
			return out, nil
		case !timedOut || time.Now().After(deadline):
			return nil, fmt.Errorf("committed offsets: %w", err)
		case ctx.Err() != nil:
			return nil, fmt.Errorf("committed offsets: %w", ctx.Err())
		}
	}
}

// partitionCount is how many partitions cart.requests has: a request must
// sit in the partition its key hashes to among them, where its cart's state
// lives (worker.handle checks it).
func (s *session) partitionCount(timeout time.Duration) (int, error) {
	topic := s.m.cfg.Topics.Requests
	md, err := s.cons.GetMetadata(&topic, false, int(timeout.Milliseconds()))
	if err != nil {
		return 0, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	tm, ok := md.Topics[topic]
	switch {
	case !ok:
		return 0, fmt.Errorf("metadata of %s: topic missing", topic)
	case tm.Error.Code() != kafka.ErrNoError:
		return 0, fmt.Errorf("metadata of %s: %w", topic, tm.Error)
	case len(tm.Partitions) == 0:
		return 0, fmt.Errorf("metadata of %s: no partitions", topic)
	}
	return len(tm.Partitions), nil
}

// restore reads the given partitions of cart.state from the beginning to
// their end (the last stable offset, as a read_committed consumer sees it).
func (s *session) restore(ctx context.Context, parts []kafka.TopicPartition, timeout time.Duration) (map[int32]*partitionState, error) {
	out := make(map[int32]*partitionState, len(parts))
	for _, tp := range parts {
		out[tp.Partition] = &partitionState{carts: map[cart.CartID]cart.Snapshot{}}
	}
	cons, err := kafka.NewConsumer(s.m.cfg.clientConfig(kafka.ConfigMap{
		"group.id":                 s.m.cfg.GroupID + "-restore-" + s.m.cfg.InstanceID, // never joined or committed
		"isolation.level":          "read_committed",
		"enable.auto.commit":       false,
		"enable.auto.offset.store": false,
		"enable.partition.eof":     true,
		// It starts at the first offset it was told; should the log start
		// move past it meanwhile, start at the new one, never at the end.
		"auto.offset.reset": "earliest",
	}))
	if err != nil {
		return nil, fmt.Errorf("restore consumer: %w", err)
	}
	defer cons.Close()
	state := s.m.cfg.Topics.State
	pending := map[int32]bool{}
	ids := make([]int32, 0, len(parts))
	for _, tp := range parts {
		pending[tp.Partition] = true
		ids = append(ids, tp.Partition)
	}
	// The ends first, before any fetch is in flight (the broker answers
	// nothing else on the connection meanwhile): an empty partition is
	// restored at once, another once the position reaches its end. Left to
	// end-of-partition alone, each waited for the broker's answer to a
	// fetch that finds nothing, a whole fetch.wait.max.ms (a new
	// deployment's every start, and every test's, paid it).
	ends := kafkaoffsets.Ends(cons, state, ids, min(timeout, 5*time.Second))
	assign := kafkaoffsets.FromStart(state, ids, ends, pending)
	if len(pending) == 0 {
		s.reportQuarantine(out)
		return out, nil
	}
	if err := cons.Assign(assign); err != nil {
		return nil, fmt.Errorf("assign %s: %w", state, err)
	}
	records := 0
	deadline := time.Now().Add(timeout)
	for len(pending) > 0 {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("restore %s: %w", state, ctx.Err())
		}
		ev := cons.Poll(100)
		switch e := ev.(type) {
		case nil:
			for _, p := range kafkaoffsets.Reached(cons, state, pending, ends) {
				delete(pending, p)
			}
		case *kafka.Message:
			deadline = time.Now().Add(timeout) // progress
			if e.TopicPartition.Error != nil {
				return nil, fmt.Errorf("restore partition %d: %w", e.TopicPartition.Partition, e.TopicPartition.Error)
			}
			ps := out[e.TopicPartition.Partition]
			if ps == nil {
				continue
			}
			records++
			id := cart.CartID(e.Key)
			if unreadable, err := ps.restoreRecord(id, int64(e.TopicPartition.Offset), e.Value, s.m.cfg.Records.DecodeSnapshot); unreadable {
				s.m.log.Debug("undecodable snapshot", "partition", e.TopicPartition.Partition, "offset", e.TopicPartition.Offset, "err", err)
			}
		case kafka.PartitionEOF:
			delete(pending, e.Partition)
		case kafka.Error:
			if e.IsFatal() {
				return nil, fmt.Errorf("restore: %w", e)
			}
			s.m.log.Warn("restore consumer error", "err", e)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("restore %s: no progress for %s with %d partitions unfinished", state, timeout, len(pending))
		}
	}
	s.reportQuarantine(out)
	s.m.log.Debug("restored", "records", records)
	return out, nil
}
