package validation

import (
	"context"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// pollEvent is what the poller hands the scheduler: records, partitions
// assigned (with their restored state), a revocation to wait for, or an
// error that ends the session. Exactly one field is set.
type pollEvent struct {
	records  []polled
	assigned *assignment
	revoked  *revocation
	err      error
}

// assignment is partitions newly assigned, restored, and how many
// partitions cart.requests has now.
type assignment struct {
	parts []*partition
	count int
}

// revocation is a rebalance callback waiting for the scheduler: done is
// closed once no job holds any of the partitions.
type revocation struct {
	parts []int32
	lost  bool
	done  chan struct{}
}

// poll is the poller goroutine: the only caller of Poll, and so the
// goroutine that runs the rebalance callback. It returns when ctx ends or
// after handing over an error.
func (s *session) poll(ctx context.Context) {
	for ctx.Err() == nil {
		records, err := s.pollRecords()
		if err != nil {
			s.send(ctx, pollEvent{err: err})
			return
		}
		if len(records) > 0 && !s.send(ctx, pollEvent{records: records}) {
			return
		}
	}
}

// pollRecords waits briefly for a first record, then takes whatever else
// has already arrived, up to one batch.
func (s *session) pollRecords() ([]polled, error) {
	var out []polled
	timeout := 100
	for len(out) < s.m.cfg.MaxBatchRecords {
		if err := inject(s.m.cfg.Faults, FaultSite{Point: FaultPoll, Lane: -1}); err != nil {
			return nil, fmt.Errorf("%w: consumer: %w", errSessionFatal, err)
		}
		ev := s.cons.Poll(timeout)
		if s.pollErr != nil {
			return nil, s.pollErr
		}
		if ev == nil {
			break
		}
		switch e := ev.(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				s.m.log.Warn("consume error", "partition", e.TopicPartition.Partition, "err", e.TopicPartition.Error)
				continue
			}
			out = append(out, polled{msg: e, at: time.Now()})
			timeout = 0
		case kafka.Error:
			if notAuthorized(e) {
				return nil, fmt.Errorf("%w: consumer of %s in group %s: %w", ErrNotAuthorized, s.m.cfg.Topics.Requests, s.m.cfg.GroupID, e)
			}
			if e.IsFatal() {
				s.m.noteConsumerFatal(e)
				return nil, fmt.Errorf("%w: consumer: %w", errSessionFatal, e)
			}
			s.m.log.Warn("consumer error", "err", e)
		case *kafka.Stats:
			if f := s.m.cfg.KafkaStats; f != nil {
				f("consumer", e.String())
			}
		}
	}
	return out, nil
}

// send hands an event to the scheduler; false when the session is closing.
func (s *session) send(ctx context.Context, ev pollEvent) bool {
	select {
	case s.events <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// rebalance runs inside Poll (or Close) on the poller goroutine. An
// assignment is restored from cart.state before it is handed over; a
// revocation returns only once the scheduler says that no transaction
// holds the partitions any more.
func (s *session) rebalance(c *kafka.Consumer, ev kafka.Event) error {
	cooperative := s.cooperative
	ctx := s.pollCtx
	switch e := ev.(type) {
	case kafka.AssignedPartitions:
		if ctx == nil || ctx.Err() != nil {
			// The session is closing (Consumer.Close delivers the last
			// rebalances): restoring partitions nobody will process would
			// only block Close on Committed and cart.state reads (TestChaos
			// saw a stop hang there after broker restarts).
			if cooperative {
				return c.IncrementalAssign(e.Partitions)
			}
			return c.Assign(e.Partitions)
		}
		a, err := s.assign(ctx, e.Partitions)
		if err != nil {
			s.pollErr = fmt.Errorf("%w: restore assigned partitions: %w", errSessionFatal, err)
			s.m.log.Error("restore failed", "err", err)
		} else if ctx != nil {
			s.send(ctx, pollEvent{assigned: a})
		}
		if cooperative {
			return c.IncrementalAssign(e.Partitions)
		}
		return c.Assign(e.Partitions)
	case kafka.RevokedPartitions:
		rv := &revocation{parts: partitionIDs(e.Partitions), lost: c.AssignmentLost(), done: make(chan struct{})}
		s.m.log.Info("partitions revoked", "partitions", rv.parts, "lost", rv.lost)
		if ctx != nil && s.send(ctx, pollEvent{revoked: rv}) {
			select {
			case <-rv.done:
			case <-ctx.Done():
			}
		}
		if cooperative {
			return c.IncrementalUnassign(e.Partitions)
		}
		return c.Unassign()
	}
	return nil
}
