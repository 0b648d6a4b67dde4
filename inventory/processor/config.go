// Package processor is the inventory processor: the stock side of the
// checkout saga (docs/decisions/0012-stock-reservations.md). It owns the
// partitions of inventory.requests its consumer group gives it, holds the
// stock levels of their SKUs in memory (restored from the compacted
// inventory.stock), and decides every request with inventory.Step in one
// Kafka transaction with the consumed offsets: the new levels go to
// inventory.stock, the answers to reservations to the carts' partitions of
// cart.requests. A crash anywhere is resumed from the last commit, so each
// reservation is decided exactly once and a level never goes negative.
package processor

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/topics"
	"github.com/cartstream/cartstream/inventory"
)

// Records encodes and decodes what the processor reads and writes
// (internal/records implements it).
type Records interface {
	DecodeInventoryRequest(value []byte) (inventory.Request, error)
	EncodeStockLevel(l inventory.Level) ([]byte, error)
	DecodeStockLevel(value []byte) (inventory.Level, error)
	EncodeAnswer(a cart.ReservationAnswer) ([]byte, error)
}

// Defaults of Config.
const (
	DefaultGroupID            = "cartstream-inventory"
	DefaultMaxBatch           = 500
	DefaultTransactionTimeout = 10 * time.Second
	DefaultSessionTimeout     = 6 * time.Second
	DefaultCommitTimeout      = 30 * time.Second
)

// DefaultFailedCommits is how many transactions in a row may fail to
// commit before the processor says it is not serving: one abort is a
// rebalance or a transient broker error; several in a row are not.
const DefaultFailedCommits = 3

// Config configures a Processor; zero fields take the defaults.
type Config struct {
	// Client is the base librdkafka configuration (bootstrap.servers,
	// security).
	Client kafka.ConfigMap
	Topics topics.Set
	// GroupID is the consumer group of every processor replica.
	GroupID string
	// InstanceID names this replica, stable across restarts: its static
	// group membership and the suffix of its transactional.id, so a
	// restarted replica fences its previous incarnation at once.
	InstanceID         string
	MaxBatch           int
	TransactionTimeout time.Duration
	SessionTimeout     time.Duration
	CommitTimeout      time.Duration
	Records            Records
	Now                func() time.Time
	Logger             *slog.Logger
	// BeforeCommit, if set, is called with each transaction's batch size
	// just before it commits (fault tests: a kill there leaves an open
	// transaction). Nil in production.
	BeforeCommit func(records int)
	// FailedCommits is how many transactions in a row may fail before
	// Health says not serving; default DefaultFailedCommits.
	FailedCommits int
	// Restored, if set, is called after each assignment is restored with
	// its partitions and how long the restore took (metrics).
	Restored func(partitions int, took time.Duration)
	// KafkaStats, if set, receives librdkafka's statistics (JSON) of the
	// session's "consumer" and "producer" every KafkaStatsInterval.
	KafkaStats         func(client, json string)
	KafkaStatsInterval time.Duration
}

// DefaultKafkaStatsInterval is statistics.interval.ms when KafkaStats is
// set and KafkaStatsInterval is not.
const DefaultKafkaStatsInterval = 15 * time.Second

func (c Config) withDefaults() Config {
	if c.GroupID == "" {
		c.GroupID = DefaultGroupID
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.TransactionTimeout == 0 {
		c.TransactionTimeout = DefaultTransactionTimeout
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.CommitTimeout == 0 {
		c.CommitTimeout = DefaultCommitTimeout
	}
	if c.FailedCommits == 0 {
		c.FailedCommits = DefaultFailedCommits
	}
	if c.KafkaStats != nil && c.KafkaStatsInterval == 0 {
		c.KafkaStatsInterval = DefaultKafkaStatsInterval
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Client["bootstrap.servers"] == nil {
		errs = append(errs, errors.New("bootstrap.servers is not set"))
	}
	if err := c.Topics.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.InstanceID == "" {
		errs = append(errs, errors.New("instance id is empty: give each replica a stable, unique name"))
	}
	if c.Records == nil {
		errs = append(errs, errors.New("records codec is nil"))
	}
	if c.MaxBatch < 0 || c.FailedCommits < 0 || c.KafkaStatsInterval < 0 || c.TransactionTimeout < 0 || c.SessionTimeout < 0 || c.CommitTimeout < 0 {
		errs = append(errs, errors.New("batch size and timeouts must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("inventory processor config: %w", err)
	}
	return nil
}

// TransactionalID is this replica's transactional.id.
func (c Config) TransactionalID() string { return c.GroupID + "-" + c.InstanceID }

func (c Config) client(extra kafka.ConfigMap) *kafka.ConfigMap {
	cm := maps.Clone(c.Client)
	if cm == nil {
		cm = kafka.ConfigMap{}
	}
	maps.Copy(cm, extra)
	return &cm
}

// session is the config of the session's own clients: with statistics
// when asked for (the restore consumer has none).
func (c Config) session(extra kafka.ConfigMap) *kafka.ConfigMap {
	cm := c.client(extra)
	if c.KafkaStats != nil {
		(*cm)["statistics.interval.ms"] = int(c.KafkaStatsInterval.Milliseconds())
	}
	return cm
}

func (c Config) producerConfig() *kafka.ConfigMap {
	return c.session(kafka.ConfigMap{
		"transactional.id":       c.TransactionalID(),
		"transaction.timeout.ms": int(c.TransactionTimeout.Milliseconds()),
		"enable.idempotence":     true,
		"acks":                   "all",
		"linger.ms":              0,
		// Answers are keyed by cart id and must land where the cart's
		// requests do: the Java client's partitioner, like every producer.
		"partitioner":               "murmur2_random",
		"retry.backoff.ms":          5,
		"retry.backoff.max.ms":      20,
		"go.events.channel.size":    10000,
		"go.produce.channel.size":   1,
		"go.delivery.report.fields": "none", // errors and Opaque only, as the manager's
	})
}

func (c Config) consumerConfig() *kafka.ConfigMap {
	return c.session(kafka.ConfigMap{
		"group.id":                 c.GroupID,
		"group.instance.id":        c.InstanceID,
		"isolation.level":          "read_committed",
		"enable.auto.commit":       false,
		"enable.auto.offset.store": false,
		"auto.offset.reset":        "earliest",
		"session.timeout.ms":       int(c.SessionTimeout.Milliseconds()),
		"heartbeat.interval.ms":    int(max(c.SessionTimeout/6, 100*time.Millisecond).Milliseconds()),
		"fetch.wait.max.ms":        100,
	})
}
