package processor

import (
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/kafkaoffsets"
	"github.com/cartstream/cartstream/inventory"
)

// assign restores the levels of newly assigned partitions. As in the cart
// manager, the committed offsets come first: the consumer is
// read_committed, so the fetch waits while a previous owner's transaction
// on these partitions is pending; only then is inventory.stock read to its
// last stable offset, so levels and offsets come from the same commits.
func (s *session) assign(parts []kafka.TopicPartition) error {
	timeout := s.p.cfg.TransactionTimeout + s.p.cfg.CommitTimeout
	topic := s.p.cfg.Topics.Inventory
	md, err := s.cons.GetMetadata(&topic, false, int(timeout.Milliseconds()))
	if err != nil {
		return fmt.Errorf("metadata of %s: %w", topic, err)
	}
	tm, ok := md.Topics[topic]
	if !ok || len(tm.Partitions) == 0 {
		return fmt.Errorf("metadata of %s: no partitions", topic)
	}
	s.parts = len(tm.Partitions)
	if _, err := s.cons.Committed(parts, int(timeout.Milliseconds())); err != nil {
		return fmt.Errorf("committed offsets: %w", err)
	}
	began := time.Now()
	levels, err := s.restore(parts, timeout)
	if err != nil {
		return err
	}
	if f := s.p.cfg.Restored; f != nil {
		f(len(parts), time.Since(began))
	}
	n := 0
	for p, l := range levels {
		s.levels[p] = l
		n += len(l)
	}
	s.p.log.Info("partitions assigned", "partitions", len(parts), "of", s.parts, "skus", n)
	return nil
}

// restore reads the given partitions of inventory.stock whole: the latest
// level of each SKU.
func (s *session) restore(parts []kafka.TopicPartition, timeout time.Duration) (map[int32]map[cart.SKU]inventory.Level, error) {
	cfg := s.p.cfg
	out := map[int32]map[cart.SKU]inventory.Level{}
	cons, err := kafka.NewConsumer(cfg.client(kafka.ConfigMap{
		"group.id":                 cfg.GroupID + "-restore-" + cfg.InstanceID, // never joined or committed
		"isolation.level":          "read_committed",
		"enable.auto.commit":       false,
		"enable.auto.offset.store": false,
		"enable.partition.eof":     true,
		// Partitions start at the first offset listed below; should the
		// log start move past it meanwhile, start at the new one.
		"auto.offset.reset": "earliest",
	}))
	if err != nil {
		return nil, fmt.Errorf("restore consumer: %w", err)
	}
	defer cons.Close()
	stock := cfg.Topics.Stock
	pending := map[int32]bool{}
	ids := make([]int32, len(parts))
	for i, tp := range parts {
		ids[i] = tp.Partition
		out[tp.Partition] = map[cart.SKU]inventory.Level{}
		pending[tp.Partition] = true
	}
	// The watermarks first (as the cart manager's restore does): a
	// partition starts at its first offset, named, because "the
	// beginning" costs a fresh consumer an offset lookup that librdkafka
	// retries only after 500 ms; an empty partition is restored at once,
	// another once the position reaches its end, without waiting for an
	// end-of-partition the broker holds for fetch.wait.max.ms.
	ends := kafkaoffsets.Ends(cons, stock, ids, min(timeout, 5*time.Second))
	tps := kafkaoffsets.FromStart(stock, ids, ends, pending)
	if len(pending) == 0 {
		return out, nil
	}
	if err := cons.Assign(tps); err != nil {
		return nil, fmt.Errorf("assign %s: %w", stock, err)
	}
	deadline := time.Now().Add(timeout)
	for len(pending) > 0 {
		switch e := cons.Poll(100).(type) {
		case nil:
			for _, p := range kafkaoffsets.Reached(cons, stock, pending, ends) {
				delete(pending, p)
			}
		case *kafka.Message:
			deadline = time.Now().Add(timeout)
			if e.TopicPartition.Error != nil {
				return nil, fmt.Errorf("restore %s: %w", stock, e.TopicPartition.Error)
			}
			m := out[e.TopicPartition.Partition]
			if m == nil {
				continue
			}
			if e.Value == nil {
				delete(m, cart.SKU(e.Key))
				continue
			}
			l, err := cfg.Records.DecodeStockLevel(e.Value)
			if err != nil {
				// A level this reader cannot decode: the SKU restarts from
				// nothing, which can refuse but never oversell.
				s.p.log.Error("undecodable stock level; the sku restarts empty", "partition", e.TopicPartition.Partition, "offset", e.TopicPartition.Offset, "err", err)
				delete(m, cart.SKU(e.Key))
				continue
			}
			m[l.SKU] = l
		case kafka.PartitionEOF:
			delete(pending, e.Partition)
		case kafka.Error:
			if e.IsFatal() {
				return nil, fmt.Errorf("restore: %w", e)
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("restore %s: no progress for %s", stock, timeout)
		}
	}
	return out, nil
}
