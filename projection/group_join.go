package projection

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// The group's word on ownership: one consumer in the group over
// cart.state that reads nothing.

// joinGroup subscribes to cart.state in the group and polls it for
// rebalances only: the assigned partitions are paused at once, since each
// partition's Projection reads them with its own assigned consumers.
func (r *Replica) joinGroup(ctx context.Context) error {
	cm := maps.Clone(r.cfg.Projection.Client)
	cm["group.id"] = r.cfg.GroupID
	cm["partition.assignment.strategy"] = "cooperative-sticky"
	cm["session.timeout.ms"] = int(r.cfg.SessionTimeout.Milliseconds())
	cm["heartbeat.interval.ms"] = int(max(r.cfg.SessionTimeout/6, 100*time.Millisecond).Milliseconds())
	cm["enable.auto.commit"] = false
	cm["enable.auto.offset.store"] = false
	cm["auto.offset.reset"] = "latest"
	if r.cfg.Static {
		cm["group.instance.id"] = r.cfg.ID
	}
	cons, err := kafka.NewConsumer(&cm)
	if err != nil {
		return fmt.Errorf("projection replica: group consumer: %w", err)
	}
	defer func() { _ = cons.Close() }() // leaves the group: the others take over now
	if err := cons.SubscribeTopics([]string{r.cfg.Projection.Topics.State}, r.rebalance); err != nil {
		return fmt.Errorf("projection replica: subscribe: %w", err)
	}
	for ctx.Err() == nil {
		switch e := cons.Poll(100).(type) {
		case kafka.Error:
			if e.IsFatal() {
				return fmt.Errorf("projection replica: group consumer: %w", e)
			}
			r.log.Debug("projection replica: group consumer", "err", e)
		case *kafka.Message:
			// Not expected (partitions are paused); nothing to do with it.
		}
	}
	return nil
}

// rebalance runs inside Poll: it takes the group's word on ownership and
// starts or demotes the partitions' Projections without waiting for them.
func (r *Replica) rebalance(c *kafka.Consumer, ev kafka.Event) error {
	switch e := ev.(type) {
	case kafka.AssignedPartitions:
		if err := c.IncrementalAssign(e.Partitions); err != nil {
			return err
		}
		if err := c.Pause(e.Partitions); err != nil {
			r.log.Warn("projection replica: pause", "err", err)
		}
		r.mu.Lock()
		for _, tp := range e.Partitions {
			r.owned[tp.Partition] = true
		}
		r.assigned = true
		r.mu.Unlock()
		r.log.Info("projection replica: partitions assigned", "partitions", partitionsOf(e.Partitions))
	case kafka.RevokedPartitions:
		r.mu.Lock()
		for _, tp := range e.Partitions {
			delete(r.owned, tp.Partition)
		}
		r.mu.Unlock()
		r.log.Info("projection replica: partitions revoked", "partitions", partitionsOf(e.Partitions), "lost", c.AssignmentLost())
		if err := c.IncrementalUnassign(e.Partitions); err != nil {
			return err
		}
	}
	r.reconcile()
	return nil
}

func partitionsOf(tps []kafka.TopicPartition) []int32 {
	out := make([]int32, 0, len(tps))
	for _, tp := range tps {
		out = append(out, tp.Partition)
	}
	return out
}
