package projection

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.opentelemetry.io/otel/trace"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/topics"
)

// Decoder is what the projection needs of the records codec
// (internal/records.Codec implements it). It must be safe for concurrent
// use.
type Decoder interface {
	DecodeSnapshot(value []byte) (cart.Snapshot, error)
	DecodeValidated(value []byte) (cart.Event, error)
	DecodeInvalid(value []byte) (cart.InvalidRequest, error)
	DecodeProduct(value []byte) (cart.Product, error)
}

// Defaults of Config.
const (
	DefaultProgressInterval = time.Second
	// DefaultOffsetProbeInterval: staleness and hanging transactions are
	// alerted on over minutes; a query every few seconds is plenty.
	DefaultOffsetProbeInterval = 5 * time.Second
	// DefaultKafkaStatsInterval is modest: librdkafka builds the whole
	// statistics document each time.
	DefaultKafkaStatsInterval = 15 * time.Second
	DefaultStartTimeout       = time.Minute
	// DefaultMaxInterned bounds the table that shares product names and
	// rejection messages between carts.
	DefaultMaxInterned = 1 << 16
	// DefaultMaxHistoryPerCart bounds each cart's history index: 1024
	// references of 40 bytes, 40 KiB for a cart that reaches it. A shopper's
	// cart sees tens of commands; a cart with thousands is a script or an
	// attack, and must not grow the read side without bound.
	DefaultMaxHistoryPerCart = 1024
	// DefaultWaitTimeout bounds a wait for a consistency token (GetCart
	// with a token, wait_for_outcome) in a call without a deadline. A
	// command is applied in milliseconds when the write side is healthy;
	// a wait this long means it is not, and the client is better told.
	DefaultWaitTimeout = 10 * time.Second
	// DefaultMaxWatch is how long one WatchCart stream lasts at most; then
	// it ends OK and the client calls again (its first message brings it up
	// to date). It bounds what a forgotten watcher holds.
	DefaultMaxWatch = 30 * time.Minute
	// DefaultWatchSendTimeout is how long a WatchCart subscriber may leave
	// a message unread (the stream's flow-control window full) before the
	// stream is ended RESOURCE_EXHAUSTED.
	DefaultWatchSendTimeout = 30 * time.Second
	// DefaultCheckpointInterval spaces checkpoint batches: a crash costs
	// at most this much of cart.state to read again.
	DefaultCheckpointInterval = 30 * time.Second
	// DefaultCheckpointMaxBatchBytes writes a batch early when its keys
	// and values reach it, bounding what a cold rebuild holds for its
	// first checkpoint.
	DefaultCheckpointMaxBatchBytes = 64 << 20
	// DefaultCheckpointMaxAge is half of Kafka's default
	// delete.retention.ms (24 h): a checkpoint older than the topic's
	// delete.retention.ms may have missed a tombstone the cleaner removed.
	DefaultCheckpointMaxAge = 12 * time.Hour
)

// Config configures a Projection. Client and Records are required; the
// rest has defaults.
type Config struct {
	// Client is the base librdkafka configuration: bootstrap.servers and
	// any security settings. The projection adds its own consumer settings
	// (read_committed, no group offsets).
	Client kafka.ConfigMap
	// Topics are the deployment's topic names; default topics.DefaultSet().
	Topics topics.Set
	// TopicConfig says how absent topics are created at start.
	TopicConfig topics.Config
	// Partitions are the partitions of the cart topics this replica owns;
	// nil or empty means all of them. Queries for a cart of another
	// partition answer UNAVAILABLE (ErrNotOwned).
	Partitions []int32
	// Records decodes the topics' values. Required.
	Records Decoder
	// DefaultMaxQuantityPerLine is what CatalogService reports for a
	// product without its own cap; it must match the managers'
	// cart.Limits. Default cart.DefaultMaxQuantityPerLine.
	DefaultMaxQuantityPerLine int32
	// ProgressInterval spaces the rebuild's progress logs; default
	// DefaultProgressInterval.
	ProgressInterval time.Duration
	// StartTimeout bounds the topic checks and offset queries at start.
	StartTimeout time.Duration
	// MaxInterned bounds the string-sharing table; default
	// DefaultMaxInterned. Negative disables it.
	MaxInterned int
	// MaxHistoryPerCart bounds the history index of each cart: beyond it
	// the oldest entries are evicted and GetCartHistory marks its pages
	// truncated. Default DefaultMaxHistoryPerCart; must be >= 1.
	MaxHistoryPerCart int
	// WaitTimeout bounds a wait for a consistency token in a call without
	// a deadline; default DefaultWaitTimeout.
	WaitTimeout time.Duration
	// MaxWatch bounds one WatchCart stream (the client's deadline, if
	// sooner, ends it first); default DefaultMaxWatch.
	MaxWatch time.Duration
	// WatchSendTimeout: see DefaultWatchSendTimeout.
	WatchSendTimeout time.Duration
	// OffsetProbeInterval spaces the queries of cart.state's high
	// watermark and last stable offset behind Stats' staleness and open
	// transaction figures; default DefaultOffsetProbeInterval. Negative:
	// never.
	OffsetProbeInterval time.Duration
	// KafkaStats, if set, receives librdkafka's statistics (its JSON) of
	// the state ("state") and history ("history") consumers every
	// KafkaStatsInterval, from their poll loops; it must not block.
	KafkaStats func(client, json string)
	// KafkaStatsInterval is statistics.interval.ms; default
	// DefaultKafkaStatsInterval when KafkaStats is set.
	KafkaStatsInterval time.Duration
	// TokenWaited, if set, hears how long each AwaitToken took and how it
	// ended (nil: the snapshot covered the token). It must not block.
	TokenWaited func(d time.Duration, err error)
	// TracerProvider records when a traced request's snapshot becomes
	// visible; nil: the global provider (internal/tracing.Setup).
	TracerProvider trace.TracerProvider
	// CheckpointDir, when set, holds this replica's checkpoint of
	// cart.state (a cache, docs/read-path.md "Warm restart"); empty: none,
	// every start rebuilds from the topic. One replica per directory.
	CheckpointDir string
	// CheckpointInterval: see DefaultCheckpointInterval.
	CheckpointInterval time.Duration
	// CheckpointMaxBatchBytes: see DefaultCheckpointMaxBatchBytes.
	CheckpointMaxBatchBytes int
	// CheckpointMaxAge: a checkpoint older than this, with records after
	// it, is discarded; keep it below cart.state's delete.retention.ms.
	// Default DefaultCheckpointMaxAge.
	CheckpointMaxAge time.Duration
	// Tables, when set, are the catalog and stock tables this Projection
	// answers the catalog from, built and run by its owner (a Replica, for
	// all its partitions): the Projection then reads neither topic itself
	// and is ready only once they are loaded. Nil: it reads its own.
	Tables *SharedTables
	// Logger; default: discard.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.OffsetProbeInterval == 0 {
		c.OffsetProbeInterval = DefaultOffsetProbeInterval
	}
	if c.KafkaStats != nil && c.KafkaStatsInterval == 0 {
		c.KafkaStatsInterval = DefaultKafkaStatsInterval
	}
	if c.Topics == (topics.Set{}) {
		c.Topics = topics.DefaultSet()
	}
	if c.DefaultMaxQuantityPerLine == 0 {
		c.DefaultMaxQuantityPerLine = cart.DefaultMaxQuantityPerLine
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = DefaultProgressInterval
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.MaxInterned == 0 {
		c.MaxInterned = DefaultMaxInterned
	}
	if c.MaxHistoryPerCart == 0 {
		c.MaxHistoryPerCart = DefaultMaxHistoryPerCart
	}
	if c.WaitTimeout == 0 {
		c.WaitTimeout = DefaultWaitTimeout
	}
	if c.MaxWatch == 0 {
		c.MaxWatch = DefaultMaxWatch
	}
	if c.WatchSendTimeout == 0 {
		c.WatchSendTimeout = DefaultWatchSendTimeout
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = DefaultCheckpointInterval
	}
	if c.CheckpointMaxBatchBytes == 0 {
		c.CheckpointMaxBatchBytes = DefaultCheckpointMaxBatchBytes
	}
	if c.CheckpointMaxAge == 0 {
		c.CheckpointMaxAge = DefaultCheckpointMaxAge
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every problem at once (after defaults are applied).
func (c Config) Validate() error {
	c = c.withDefaults()
	errs := []error{c.Topics.Validate(), c.TopicConfig.Validate()}
	if c.Client["bootstrap.servers"] == nil {
		errs = append(errs, errors.New("client: bootstrap.servers is not set"))
	}
	if c.Records == nil {
		errs = append(errs, errors.New("records: nil"))
	}
	for _, p := range c.Partitions {
		if p < 0 {
			errs = append(errs, fmt.Errorf("partitions: %d is negative", p))
		}
	}
	if len(slices.Compact(slices.Sorted(slices.Values(c.Partitions)))) != len(c.Partitions) {
		errs = append(errs, errors.New("partitions: listed twice"))
	}
	if c.DefaultMaxQuantityPerLine < 1 || c.DefaultMaxQuantityPerLine > cart.MaxQuantity {
		errs = append(errs, fmt.Errorf("default max quantity per line %d: must be 1..%d", c.DefaultMaxQuantityPerLine, cart.MaxQuantity))
	}
	if c.ProgressInterval < 0 || c.StartTimeout < 0 {
		errs = append(errs, errors.New("progress interval and start timeout must not be negative"))
	}
	if c.MaxHistoryPerCart < 1 {
		errs = append(errs, fmt.Errorf("max history per cart %d: must be >= 1", c.MaxHistoryPerCart))
	}
	if c.KafkaStatsInterval < 0 {
		errs = append(errs, errors.New("kafka statistics interval must not be negative"))
	}
	if c.WaitTimeout < 0 || c.MaxWatch < 0 || c.WatchSendTimeout < 0 {
		errs = append(errs, errors.New("wait timeout, max watch and watch send timeout must not be negative"))
	}
	if c.CheckpointInterval < 0 || c.CheckpointMaxBatchBytes < 0 || c.CheckpointMaxAge < 0 {
		errs = append(errs, errors.New("checkpoint interval, max batch bytes and max age must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("projection: %w", err)
	}
	return nil
}

// consumerConfig is the base configuration plus a follower's settings: an
// assigned (never subscribed) read_committed consumer that commits nothing.
func (c Config) consumerConfig(groupSuffix string) *kafka.ConfigMap {
	cm := maps.Clone(c.Client)
	if cm == nil {
		cm = kafka.ConfigMap{}
	}
	cm["group.id"] = "cartstream-projection-" + groupSuffix // never joined
	cm["enable.auto.commit"] = false
	cm["enable.auto.offset.store"] = false
	cm["isolation.level"] = "read_committed"
	cm["enable.partition.eof"] = true
	// Readers start at offsets they name (Projection.start); should the
	// log start move past one meanwhile, read on from the new start,
	// never from the end.
	cm["auto.offset.reset"] = "earliest"
	return &cm
}
