package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/validation"
)

// copyLoop is the drain scenario's baseline: the manager's exactly-once
// skeleton without its logic. It consumes the input in a group
// (read_committed, static membership, cooperative-sticky, no auto-commit),
// and for every batch re-produces the same bytes (key, value, headers) to
// the same partition of the output topic in one transaction with the
// consumed offsets (SendOffsetsToTransaction, KIP-447). Its batching policy
// and client settings are the manager's (validation.Config defaults and
// validation's session loop): poll what has arrived, waiting 100 ms only
// for the first record, capped by count and bytes.
type copyLoop struct {
	e                      *env
	input, output          string
	group, instance        string
	maxRecords, maxBytes   int
	transactionTimeout     time.Duration
	sessionTimeout         time.Duration
	batches, records       atomic.Int64
	fillNanos, prodNanos   atomic.Int64
	offsetNanos, commNanos atomic.Int64
}

func newCopyLoop(e *env, input, output, group string) *copyLoop {
	maxRecords := validation.DefaultMaxBatchRecords
	if e.cfg.ManagerBatch > 0 { // the manager's cap, whatever it is
		maxRecords = e.cfg.ManagerBatch
	}
	return &copyLoop{
		e: e, input: input, output: output, group: group, instance: "bench-copy-1",
		maxRecords: maxRecords, maxBytes: validation.DefaultMaxBatchBytes,
		transactionTimeout: 10 * time.Second, sessionTimeout: 6 * time.Second,
	}
}

// run copies until ctx ends.
func (c *copyLoop) run(ctx context.Context) error {
	prod, err := kafka.NewProducer(c.e.sut(c.producerConfig()))
	if err != nil {
		return fmt.Errorf("copy loop producer: %w", err)
	}
	events := make(chan struct{})
	go func() {
		defer close(events)
		for range prod.Events() { // delivery reports; failures fail the commit
		}
	}()
	defer func() { prod.Close(); <-events }()
	if err := prod.InitTransactions(ctx); err != nil {
		return fmt.Errorf("copy loop init transactions: %w", err)
	}
	cons, err := kafka.NewConsumer(c.e.sut(kafka.ConfigMap{
		"group.id":                      c.group,
		"group.instance.id":             c.instance,
		"isolation.level":               "read_committed",
		"enable.auto.commit":            false,
		"enable.auto.offset.store":      false,
		"auto.offset.reset":             "earliest",
		"partition.assignment.strategy": "cooperative-sticky",
		"session.timeout.ms":            int(c.sessionTimeout.Milliseconds()),
		"heartbeat.interval.ms":         int(max(c.sessionTimeout/6, 100*time.Millisecond).Milliseconds()),
		"fetch.wait.max.ms":             500, // the manager's setting
	}))
	if err != nil {
		return fmt.Errorf("copy loop consumer: %w", err)
	}
	defer cons.Close()
	owned := map[int32]bool{}
	err = cons.Subscribe(c.input, func(k *kafka.Consumer, ev kafka.Event) error {
		switch e := ev.(type) {
		case kafka.AssignedPartitions:
			for _, tp := range e.Partitions {
				owned[tp.Partition] = true
			}
			return k.IncrementalAssign(e.Partitions)
		case kafka.RevokedPartitions:
			for _, tp := range e.Partitions {
				delete(owned, tp.Partition)
			}
			return k.IncrementalUnassign(e.Partitions)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("copy loop subscribe: %w", err)
	}
	for ctx.Err() == nil {
		t0 := time.Now()
		batch, err := c.fill(cons, owned)
		c.fillNanos.Add(int64(time.Since(t0)))
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			continue
		}
		if err := c.commit(ctx, prod, cons, batch); err != nil {
			return err
		}
	}
	return nil
}

// producerConfig is the manager's transactional producer configuration
// (validation.Config.producerConfig, unexported there), property for
// property, with the copy loop's transactional.id. Keep the two in step:
// a baseline with other client settings measures the settings, not the
// logic (the retry backoff alone moved the copy loop from 17.8k to 30.3k
// records/s in bench/results/experiments).
func (c *copyLoop) producerConfig() kafka.ConfigMap {
	cm := kafka.ConfigMap{
		"transactional.id":       c.group + "-" + c.instance,
		"transaction.timeout.ms": int(c.transactionTimeout.Milliseconds()),
		"enable.idempotence":     true,
		"acks":                   "all",
		"linger.ms":              0,
		"partitioner":            "murmur2_random",
		"retry.backoff.ms":       5,
		"retry.backoff.max.ms":   20,
		// The manager's channel sizes (validation/config.go).
		"go.events.channel.size":    10000,
		"go.produce.channel.size":   1,
		"go.delivery.report.fields": "none", // as the manager's
	}
	// The manager's defaults (compression) unless -client-prop sets them,
	// as an operator's file would for the manager.
	base := c.e.base()
	for k, v := range validation.ProducerDefaults {
		if _, set := base[k]; !set {
			cm[k] = v
		}
	}
	return cm
}

// fill is the manager's batching policy (validation session.fill).
func (c *copyLoop) fill(cons *kafka.Consumer, owned map[int32]bool) ([]*kafka.Message, error) {
	var out []*kafka.Message
	size, timeout := 0, 100
	for len(out) < c.maxRecords && size < c.maxBytes {
		ev := cons.Poll(timeout)
		if ev == nil {
			break
		}
		switch e := ev.(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil || !owned[e.TopicPartition.Partition] {
				continue
			}
			out = append(out, e)
			size += len(e.Key) + len(e.Value)
			timeout = 0
		case kafka.Error:
			if e.IsFatal() {
				return nil, fmt.Errorf("copy loop consumer: %w", e)
			}
		}
	}
	return out, nil
}

func (c *copyLoop) commit(ctx context.Context, prod *kafka.Producer, cons *kafka.Consumer, batch []*kafka.Message) error {
	t0 := time.Now()
	if err := prod.BeginTransaction(); err != nil {
		return fmt.Errorf("copy loop begin: %w", err)
	}
	next := map[int32]kafka.Offset{}
	for _, m := range batch {
		out := &kafka.Message{
			TopicPartition: kafka.TopicPartition{Topic: &c.output, Partition: m.TopicPartition.Partition},
			Key:            m.Key, Value: m.Value, Headers: m.Headers,
		}
		for {
			err := prod.Produce(out, nil)
			if err == nil {
				break
			}
			var ke kafka.Error
			if !errors.As(err, &ke) || ke.Code() != kafka.ErrQueueFull {
				return fmt.Errorf("copy loop produce: %w", err)
			}
			prod.Flush(100)
		}
		next[m.TopicPartition.Partition] = m.TopicPartition.Offset + 1
	}
	offsets := make([]kafka.TopicPartition, 0, len(next))
	for p, o := range next {
		offsets = append(offsets, kafka.TopicPartition{Topic: &c.input, Partition: p, Offset: o})
	}
	slices.SortFunc(offsets, func(a, b kafka.TopicPartition) int { return int(a.Partition - b.Partition) })
	meta, err := cons.GetConsumerGroupMetadata()
	if err != nil {
		return fmt.Errorf("copy loop group metadata: %w", err)
	}
	t1 := time.Now()
	if err := retry(ctx, func(ctx context.Context) error { return prod.SendOffsetsToTransaction(ctx, offsets, meta) }); err != nil {
		return fmt.Errorf("copy loop send offsets: %w", err)
	}
	t2 := time.Now()
	if err := retry(ctx, prod.CommitTransaction); err != nil {
		return fmt.Errorf("copy loop commit: %w", err)
	}
	t3 := time.Now()
	c.prodNanos.Add(int64(t1.Sub(t0)))
	c.offsetNanos.Add(int64(t2.Sub(t1)))
	c.commNanos.Add(int64(t3.Sub(t2)))
	c.batches.Add(1)
	c.records.Add(int64(len(batch)))
	return nil
}

// retry repeats a transactional call while librdkafka calls its error
// retriable, for up to 30 s.
func retry(ctx context.Context, call func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		err := call(ctx)
		var ke kafka.Error
		if err == nil || !errors.As(err, &ke) || !ke.IsRetriable() || ctx.Err() != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// compression is the compression.type of the manager's transactional
// producers in this run: -client-prop's, else the manager's default. The
// copy loop and the peer use the same, so all three write alike.
func (e *env) compression() string {
	if v, ok := e.base()["compression.type"]; ok {
		return fmt.Sprint(v)
	}
	return fmt.Sprint(validation.ProducerDefaults["compression.type"])
}
