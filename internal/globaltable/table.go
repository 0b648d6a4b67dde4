// Package globaltable follows every partition of one topic from its
// beginning, like a Kafka Streams GlobalKTable: each process that needs a
// whole table (the catalog) reads all of it, whatever partitions it owns
// otherwise. It hands each record to the caller and says when the records
// that existed at start have all been read.
package globaltable

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/internal/kafkaoffsets"
)

// Record is one record of the table's topic; Value is nil for a tombstone.
type Record struct {
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
}

// Config configures a Table.
type Config struct {
	// Client is the base librdkafka configuration: bootstrap.servers and
	// any security settings.
	Client kafka.ConfigMap
	Topic  string
	// Apply receives every record in partition order. It is called from
	// Run's goroutine only. An error stops Run: Apply should handle a record
	// it cannot decode itself (log and skip) if that must not stop the table.
	Apply  func(Record) error
	Logger *slog.Logger
	// Stats, if set, receives librdkafka's statistics (its JSON) of the
	// table's consumer every StatsInterval, from Run's goroutine; it must
	// not block.
	Stats         func(json string)
	StatsInterval time.Duration
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Client["bootstrap.servers"] == nil {
		errs = append(errs, errors.New("bootstrap.servers is not set"))
	}
	if c.Topic == "" {
		errs = append(errs, errors.New("topic is empty"))
	}
	if c.Apply == nil {
		errs = append(errs, errors.New("apply is nil"))
	}
	if c.Stats != nil && c.StatsInterval <= 0 {
		errs = append(errs, errors.New("stats interval must be positive when stats is set"))
	}
	return errors.Join(errs...)
}

// Table reads a topic whole and follows it.
type Table struct {
	cfg       Config
	ready     chan struct{}
	readyOnce sync.Once
}

// New validates cfg and returns a Table; Run does the reading.
func New(cfg Config) (*Table, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("global table: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Table{cfg: cfg, ready: make(chan struct{})}, nil
}

// Ready is closed once every partition has been read up to its end as of
// Run's start (for read_committed, its last stable offset).
func (t *Table) Ready() <-chan struct{} { return t.ready }

// Run reads the topic from the beginning and follows it until ctx ends.
func (t *Table) Run(ctx context.Context) error {
	conf := maps.Clone(t.cfg.Client)
	// Assigned, never subscribed: the group id is never used for offsets
	// (librdkafka wants one all the same).
	conf["group.id"] = "cartstream-globaltable-" + t.cfg.Topic
	conf["enable.auto.commit"] = false
	conf["enable.auto.offset.store"] = false
	conf["isolation.level"] = "read_committed"
	conf["enable.partition.eof"] = true
	// Partitions start at the first offset Run found; should the log start
	// move past it meanwhile, start at the new one, never at the end.
	conf["auto.offset.reset"] = "earliest"
	if t.cfg.Stats != nil {
		conf["statistics.interval.ms"] = int(t.cfg.StatsInterval.Milliseconds())
	}
	cons, err := kafka.NewConsumer(&conf)
	if err != nil {
		return fmt.Errorf("global table %s: consumer: %w", t.cfg.Topic, err)
	}
	defer cons.Close()
	md, err := cons.GetMetadata(&t.cfg.Topic, false, 10000)
	if err != nil {
		return fmt.Errorf("global table %s: metadata: %w", t.cfg.Topic, err)
	}
	tm, ok := md.Topics[t.cfg.Topic]
	if !ok || tm.Error.Code() != kafka.ErrNoError || len(tm.Partitions) == 0 {
		return fmt.Errorf("global table %s: topic not found (%v)", t.cfg.Topic, tm.Error)
	}
	tps := make([]kafka.TopicPartition, len(tm.Partitions))
	pending := map[int32]bool{}
	for i, p := range tm.Partitions {
		tps[i] = kafka.TopicPartition{Topic: &t.cfg.Topic, Partition: p.ID, Offset: kafka.OffsetBeginning}
		pending[p.ID] = true
	}
	var records int64
	// An empty partition has nothing to wait for: its end-of-partition
	// would come only with the broker's answer to a fetch that finds
	// nothing, after a whole fetch.wait.max.ms (an empty stock table made
	// every start half a second longer).
	ids := make([]int32, len(tm.Partitions))
	for i, p := range tm.Partitions {
		ids[i] = p.ID
	}
	// Asked before the assignment: once a fetch is in flight, the broker
	// answers nothing else on the connection until the fetch returns.
	// Each partition known starts at its first offset: without an offset
	// lookup first, all are fetched together, and an empty one's fetch,
	// which the broker holds, does not hold the others back.
	ends := kafkaoffsets.Ends(cons, t.cfg.Topic, ids, watermarkTimeout)
	for i := range tps {
		if w, ok := ends[tps[i].Partition]; ok {
			tps[i].Offset = kafka.Offset(w.Low)
		}
	}
	if err := cons.Assign(tps); err != nil {
		return fmt.Errorf("global table %s: assign: %w", t.cfg.Topic, err)
	}
	for p, w := range ends {
		if w.Empty() {
			delete(pending, p)
		}
	}
	if len(pending) == 0 {
		t.markReady(records)
	}
	// The other partitions are read once their position reaches the end
	// (checked while polls come back idle), or at their end-of-partition.
	done := func(parts ...int32) {
		for _, p := range parts {
			delete(pending, p)
		}
		if len(pending) == 0 {
			t.markReady(records)
		}
	}
	for ctx.Err() == nil {
		switch ev := cons.Poll(100).(type) {
		case nil:
			if len(pending) > 0 {
				done(kafkaoffsets.Reached(cons, t.cfg.Topic, pending, ends)...)
			}
		case *kafka.Message:
			if ev.TopicPartition.Error != nil {
				return fmt.Errorf("global table %s: %w", t.cfg.Topic, ev.TopicPartition.Error)
			}
			records++
			rec := Record{Partition: ev.TopicPartition.Partition, Offset: int64(ev.TopicPartition.Offset), Key: ev.Key, Value: ev.Value}
			if err := t.cfg.Apply(rec); err != nil {
				return fmt.Errorf("global table %s: apply partition %d offset %d: %w", t.cfg.Topic, rec.Partition, rec.Offset, err)
			}
		case kafka.PartitionEOF:
			if pending[ev.Partition] {
				done(ev.Partition)
			}
		case kafka.Error:
			if ev.IsFatal() {
				return fmt.Errorf("global table %s: %w", t.cfg.Topic, ev)
			}
			t.cfg.Logger.Warn("global table consumer error", "topic", t.cfg.Topic, "err", ev)
		case *kafka.Stats:
			if t.cfg.Stats != nil {
				t.cfg.Stats(ev.String())
			}
		}
	}
	return nil
}

// watermarkTimeout bounds the start's question for empty partitions; a
// partition not answered in time is read to its end as any other.
const watermarkTimeout = 5 * time.Second

func (t *Table) markReady(records int64) {
	t.readyOnce.Do(func() {
		t.cfg.Logger.Info("global table loaded", "topic", t.cfg.Topic, "records", records)
		close(t.ready)
	})
}
