package validation

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.opentelemetry.io/otel/trace"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/topics"
	"github.com/cartstream/cartstream/inventory"
)

// Records encodes and decodes what the manager reads and writes. The
// implementation (internal/records) is safe for concurrent use.
type Records interface {
	// DecodeRequest decodes a cart.requests value; any error makes the
	// record MALFORMED.
	DecodeRequest(value []byte) (cart.Command, error)
	EncodeValidated(ev cart.Event) ([]byte, error)
	EncodeInvalid(inv cart.InvalidRequest) ([]byte, error)
	EncodeSnapshot(s cart.Snapshot) ([]byte, error)
	// EncodeOrder encodes the OrderPlaced of an accepted checkout.
	EncodeOrder(o cart.OrderPlaced) ([]byte, error)
	DecodeSnapshot(value []byte) (cart.Snapshot, error)
	DecodeProduct(value []byte) (cart.Product, error)
	// EncodeRequest encodes the requests the manager writes itself to
	// cart.requests (MergeInto, ExpireCart).
	EncodeRequest(cmd cart.Command) ([]byte, error)
	// IsAnswer tells the inventory's reservation answers on cart.requests
	// from the gateway's requests; DecodeAnswer decodes one.
	IsAnswer(value []byte) bool
	DecodeAnswer(value []byte) (cart.ReservationAnswer, error)
	// EncodeInventoryRequest encodes a reservation or release for the
	// inventory's topic.
	EncodeInventoryRequest(r inventory.Request) ([]byte, error)
	// DecodeStockLevel decodes an inventory.stock value (the soft check).
	DecodeStockLevel(value []byte) (inventory.Level, error)
}

// Defaults of Config.
const (
	DefaultGroupID            = "cartstream-additem-manager"
	DefaultMaxBatchRecords    = 5000
	DefaultMaxBatchBytes      = 4 << 20
	DefaultProducers          = 4
	DefaultTransactionTimeout = 10 * time.Second
	DefaultSessionTimeout     = 6 * time.Second
	DefaultCommitTimeout      = 30 * time.Second
	DefaultStatsInterval      = 10 * time.Second
	// DefaultKafkaStatsInterval is modest: librdkafka builds the whole
	// statistics document (every broker, topic and partition) each time.
	DefaultKafkaStatsInterval = 15 * time.Second
	DefaultUnhealthyAfter     = 3
)

// Config configures a Manager. Zero fields take the defaults above.
type Config struct {
	// Client is the base librdkafka configuration shared by every client:
	// bootstrap.servers and any security settings.
	Client kafka.ConfigMap
	Topics topics.Set
	// GroupID is the consumer group of all manager replicas.
	GroupID string
	// InstanceID names this replica, stable across its restarts and unique
	// among live replicas. It is the static group member id
	// (group.instance.id), so a restarted replica gets its partitions back
	// without a rebalance, and the suffix of the transactional.id, so the
	// restarted replica fences its previous incarnation and aborts the
	// transaction it left open at once instead of after its timeout.
	InstanceID string
	// MaxBatchRecords and MaxBatchBytes cap one transaction. A batch is
	// whatever arrived while the previous commit was in flight, up to these
	// caps: one request alone is never held back to fill a batch. The caps
	// matter only under a backlog, where a larger batch coalesces more of
	// a cart's requests into one snapshot and pays fewer transactions.
	MaxBatchRecords int
	MaxBatchBytes   int
	// Producers is how many transactions may be open at once, each on its
	// own transactional producer over partitions no other one holds
	// (docs/decisions/0005-producer-pool.md). More than one lets a
	// partition's next transaction start while the coordinator still
	// writes the previous one's markers, and lets deciding overlap
	// committing.
	Producers int
	// TransactionTimeout is the producer's transaction.timeout.ms: how long
	// the broker waits before aborting a transaction whose producer vanished.
	TransactionTimeout time.Duration
	// SessionTimeout is the consumer group session timeout: how long a
	// replica that vanished keeps its partitions.
	SessionTimeout time.Duration
	// CommitTimeout bounds the retries of one transactional call; an
	// outcome still unknown then is treated as fatal.
	CommitTimeout time.Duration
	Limits        cart.Limits
	Records       Records
	// Now is the clock for DecidedAt; default time.Now.
	Now           func() time.Time
	Logger        *slog.Logger
	StatsInterval time.Duration
	// Observer, if set, hears each transaction's timeline (and each
	// restore, if it is also a RestoreObserver).
	Observer Observer
	// TracerProvider records a span per request and per commit; nil: the
	// global provider (internal/tracing.Setup installs it).
	TracerProvider trace.TracerProvider
	// KafkaStats, if set, receives librdkafka's statistics (its JSON) of
	// the manager's consumer ("consumer") and transactional producers
	// ("producer-0", ...) every KafkaStatsInterval. It is called from the
	// clients' event goroutines and must not block.
	KafkaStats func(client, json string)
	// KafkaStatsInterval is statistics.interval.ms; default
	// DefaultKafkaStatsInterval when KafkaStats is set.
	KafkaStatsInterval time.Duration
	// UnhealthyAfter is how many transactions in a row may fail to commit
	// (aborted or fatal) before Health says NOT serving.
	UnhealthyAfter int
	// Faults, if set, injects failures into the write path (fault tests
	// only; nil in production).
	Faults FaultInjector
	// CartTTL is how long a cart may stay untouched before the manager
	// expires it (expiry.go); default DefaultCartTTL.
	CartTTL time.Duration
	// ExpiryScan is how often the manager looks for idle carts; default
	// CartTTL/4, between 100ms and a minute.
	ExpiryScan time.Duration
	// Reservations makes a checkout reserve its lines' stock before it
	// closes the cart (cart.ProcessReserving; decision 12): an inventory
	// processor must then run on Topics.Inventory, or checkouts wait for
	// ever. Off, a checkout closes the cart at once, as before.
	Reservations bool
}

// DefaultCartTTL is the default Config.CartTTL: 30 days.
const DefaultCartTTL = 30 * 24 * time.Hour

func (c Config) withDefaults() Config {
	if c.GroupID == "" {
		c.GroupID = DefaultGroupID
	}
	if c.MaxBatchRecords == 0 {
		c.MaxBatchRecords = DefaultMaxBatchRecords
	}
	if c.MaxBatchBytes == 0 {
		c.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if c.Producers == 0 {
		c.Producers = DefaultProducers
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
	if c.StatsInterval == 0 {
		c.StatsInterval = DefaultStatsInterval
	}
	if c.KafkaStats != nil && c.KafkaStatsInterval == 0 {
		c.KafkaStatsInterval = DefaultKafkaStatsInterval
	}
	if c.UnhealthyAfter == 0 {
		c.UnhealthyAfter = DefaultUnhealthyAfter
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.CartTTL == 0 {
		c.CartTTL = DefaultCartTTL
	}
	if c.ExpiryScan == 0 {
		c.ExpiryScan = min(max(c.CartTTL/4, 100*time.Millisecond), time.Minute)
	}
	return c
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.CartTTL < 0 || c.ExpiryScan < 0 {
		errs = append(errs, errors.New("cart ttl and expiry scan must not be negative"))
	}
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
	if c.MaxBatchRecords < 0 || c.MaxBatchBytes < 0 {
		errs = append(errs, errors.New("batch caps must not be negative"))
	}
	if c.UnhealthyAfter < 0 {
		errs = append(errs, errors.New("unhealthy-after must not be negative"))
	}
	if c.Producers < 0 || c.Producers > MaxProducers {
		errs = append(errs, fmt.Errorf("producers %d: want 1 to %d", c.Producers, MaxProducers))
	}
	if c.TransactionTimeout < 0 || c.SessionTimeout < 0 || c.CommitTimeout < 0 || c.StatsInterval < 0 || c.KafkaStatsInterval < 0 {
		errs = append(errs, errors.New("timeouts must not be negative"))
	}
	if err := c.Limits.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("additem manager config: %w", err)
	}
	return nil
}

// MaxProducers caps Config.Producers.
const MaxProducers = 32

// TransactionalID is this replica's transactional.id, and the prefix of
// every one of its producers' ids (the prefix the ACLs grant).
func (c Config) TransactionalID() string { return c.GroupID + "-" + c.InstanceID }

// TransactionalIDOf is producer k's transactional.id. Producer 0 keeps the
// replica's own id, so a replica that ran with one producer is fenced by
// its successor whatever the pool size.
func (c Config) TransactionalIDOf(k int) string {
	if k == 0 {
		return c.TransactionalID()
	}
	return fmt.Sprintf("%s-p%d", c.TransactionalID(), k)
}

func (c Config) clientConfig(extra kafka.ConfigMap) *kafka.ConfigMap {
	cm := maps.Clone(c.Client)
	if cm == nil {
		cm = kafka.ConfigMap{}
	}
	maps.Copy(cm, extra)
	return &cm
}

// withStats turns librdkafka's statistics on in cm when someone listens.
// Only the clients whose events the manager serves get it (consumer and
// producers), not the restore or catalog readers.
func (c Config) withStats(cm *kafka.ConfigMap) *kafka.ConfigMap {
	if c.KafkaStats != nil {
		(*cm)["statistics.interval.ms"] = int(c.KafkaStatsInterval.Milliseconds())
	}
	return cm
}

// ProducerDefaults are the transactional producers' settings an operator
// may change in the client configuration (-kafka-config), unlike the ones
// producerConfig sets over it.
//
// lz4: a transaction carries each request's outcome and its cart's
// snapshot, whose window of recent request ids (cart.RequestWindowSize)
// compresses well. In the drain of make bench (200,000 commands) the
// manager's output on the broker's disk went from 155 to 60 MB and the
// broker's CPU for it from 15.0 to 11.2 CPU-s (docs/benchmarks.md);
// librdkafka's lz4 costs the manager little, and every reader decodes it.
var ProducerDefaults = kafka.ConfigMap{"compression.type": "lz4"}

func (c Config) producerConfig(k int) *kafka.ConfigMap {
	cm := c.clientConfig(producerLogProps)
	for key, v := range ProducerDefaults {
		if _, set := c.Client[key]; !set {
			(*cm)[key] = v
		}
	}
	maps.Copy(*cm, kafka.ConfigMap{
		"transactional.id":       c.TransactionalIDOf(k),
		"transaction.timeout.ms": int(c.TransactionTimeout.Milliseconds()),
		"enable.idempotence":     true,
		"acks":                   "all",
		// The commit flushes the batch anyway; lingering would only delay it.
		"linger.ms":   0,
		"partitioner": "murmur2_random",
		// The broker answers CONCURRENT_TRANSACTIONS to the next
		// transaction's first request while it still writes the previous
		// one's markers (a few ms); librdkafka's default 100 ms backoff
		// made every transaction wait 100 ms (bench/results, e2e latency),
		// and its exponential backoff must not climb far past the marker
		// write either.
		"retry.backoff.ms":     5,
		"retry.backoff.max.ms": 20,
		// confluent-kafka-go allocates both channels up front, a million
		// entries each by default: 24 MiB of Go heap per producer, which
		// the garbage collector scans on every cycle. Delivery reports are
		// drained as they come (serveProducerEvents) and the produce
		// channel is never used.
		"go.events.channel.size":  10000,
		"go.produce.channel.size": 1,
		// A delivery report is read for its error and Opaque only; the
		// client's default copies every record's key and value back into
		// Go for it (a third of the producer's CPU in the drain profile).
		"go.delivery.report.fields": "none",
		// Explicit, because the bounds on what an outcome copies from its
		// input are proved against it (bound.go).
		"message.max.bytes": MaxOutcomeBytes,
	})
	if d, ok := c.Client["debug"].(string); ok && d != "" {
		(*cm)["debug"] = d + ",eos" // keep what the operator asked for
	}
	return c.withStats(cm)
}

func (c Config) consumerConfig() *kafka.ConfigMap {
	return c.withStats(c.clientConfig(kafka.ConfigMap{
		"group.id":                      c.GroupID,
		"group.instance.id":             c.InstanceID,
		"isolation.level":               "read_committed",
		"enable.auto.commit":            false,
		"enable.auto.offset.store":      false,
		"auto.offset.reset":             "earliest",
		"partition.assignment.strategy": "cooperative-sticky",
		"session.timeout.ms":            int(c.SessionTimeout.Milliseconds()),
		"heartbeat.interval.ms":         int(max(c.SessionTimeout/6, 100*time.Millisecond).Milliseconds()),
		// The broker answers a parked fetch as soon as a record is appended
		// (fetch.min.bytes=1), so a long wait costs no latency and spares
		// the broker an empty fetch every few ms (docs/benchmarks.md).
		"fetch.wait.max.ms": 500,
	}))
}
