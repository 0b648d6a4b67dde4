package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// Producer appends records to Kafka. It is the only capability of a Kafka
// client the Server needs.
//
// Produce is safe for concurrent use. It blocks until the broker has
// acknowledged the record (or refused it) or ctx ends, and returns the
// record's position. A delivery failure is an error matching
// ErrUnavailable; a ctx that ends first returns ctx.Err() wrapped (the
// record may still be appended later: the client retries with the same
// request id and the write side deduplicates). A record refused because
// the client's queue is full is an error matching ErrOverloaded.
type Producer interface {
	Produce(ctx context.Context, rec Record) (Position, error)
}

// Record is one Kafka record to append.
type Record struct {
	Topic   string
	Key     []byte
	Value   []byte
	Headers []Header
}

// Header is one record header.
type Header struct {
	Key   string
	Value []byte
}

// Position is where a record was appended: the consistency token.
type Position struct {
	Partition int32
	Offset    int64
}

// KafkaConfig configures the gateway's producer.
type KafkaConfig struct {
	// Brokers is the bootstrap list, comma-separated. Required.
	Brokers string
	// ClientID names the producer in broker logs; default "cart-gateway".
	ClientID string
	// Linger is how long librdkafka waits to batch records (linger.ms);
	// default 0: a command goes out at once, and librdkafka still batches
	// whatever queues up while a produce request is in flight (measured
	// in docs/benchmarks.md: 2 ms cost every command about 1 ms of ack).
	Linger time.Duration
	// DeliveryTimeout bounds how long librdkafka retries one record
	// (delivery.timeout.ms) before it reports a failure; default 30s.
	DeliveryTimeout time.Duration
	// Extra holds further librdkafka properties (security, for example). It
	// may not override the properties the gateway relies on.
	Extra kafka.ConfigMap
	// Logger receives the client's errors; default: discard.
	Logger *slog.Logger
	// Stats, if set, receives librdkafka's statistics (its JSON) every
	// StatsInterval (default DefaultStatsInterval), from the producer's
	// event goroutine; it must not block.
	Stats         func(json string)
	StatsInterval time.Duration
}

// DefaultStatsInterval is modest: librdkafka builds the whole statistics
// document each time.
const DefaultStatsInterval = 15 * time.Second

// fixedProducerProps are what the gateway's guarantees rest on: no
// duplicates or reordering on retry, a record acknowledged by every in-sync
// replica before the client hears OK, and the Java client's partitioner so
// every tool agrees on a cart's partition.
var fixedProducerProps = map[string]kafka.ConfigValue{
	"enable.idempotence": true,
	"acks":               "all",
	"partitioner":        "murmur2_random",
}

func (c KafkaConfig) withDefaults() KafkaConfig {
	if c.ClientID == "" {
		c.ClientID = "cart-gateway"
	}
	if c.DeliveryTimeout == 0 {
		c.DeliveryTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Stats != nil && c.StatsInterval == 0 {
		c.StatsInterval = DefaultStatsInterval
	}
	return c
}

// Validate reports every problem at once.
func (c KafkaConfig) Validate() error {
	var errs []error
	if c.Brokers == "" {
		errs = append(errs, errors.New("kafka: brokers: empty"))
	}
	if c.Linger < 0 {
		errs = append(errs, fmt.Errorf("kafka: linger %v: must not be negative", c.Linger))
	}
	if c.StatsInterval < 0 {
		errs = append(errs, fmt.Errorf("kafka: statistics interval %v: must not be negative", c.StatsInterval))
	}
	if c.DeliveryTimeout < 0 {
		errs = append(errs, fmt.Errorf("kafka: delivery timeout %v: must not be negative", c.DeliveryTimeout))
	}
	for k := range c.Extra {
		if _, fixed := fixedProducerProps[k]; fixed || k == "bootstrap.servers" || k == "transactional.id" {
			errs = append(errs, fmt.Errorf("kafka: extra property %q: set by the gateway, cannot be overridden", k))
		}
	}
	return errors.Join(errs...)
}

// configMap is the librdkafka configuration of the producer.
func (c KafkaConfig) configMap() *kafka.ConfigMap {
	cm := kafka.ConfigMap{}
	for k, v := range c.Extra {
		cm[k] = v
	}
	for k, v := range fixedProducerProps {
		cm[k] = v
	}
	cm["bootstrap.servers"] = c.Brokers
	cm["client.id"] = c.ClientID
	cm["linger.ms"] = int(c.Linger.Milliseconds())
	cm["delivery.timeout.ms"] = int(c.DeliveryTimeout.Milliseconds())
	// librdkafka's own log lines go to the process's slog, not to stderr.
	cm["go.logs.channel.enable"] = true
	// confluent-kafka-go allocates a million-entry events channel and
	// produce channel up front (24 MiB of heap the GC scans); the gateway
	// uses a delivery channel per call and never the produce channel.
	cm["go.events.channel.size"] = 10000
	cm["go.produce.channel.size"] = 1
	// A delivery report is read for its partition, offset and error only;
	// the client's default copies the key and value back into Go.
	cm["go.delivery.report.fields"] = "none"
	if c.Stats != nil {
		cm["statistics.interval.ms"] = int(c.StatsInterval.Milliseconds())
	}
	return &cm
}

// KafkaProducer is the process's one idempotent producer. It implements
// Producer with a delivery channel per call, and serves the client's
// Events channel (errors, and the fatal error an idempotent producer may
// raise) in a goroutine it owns until Close.
type KafkaProducer struct {
	p     *kafka.Producer
	log   *slog.Logger
	stats func(string) // Config.Stats

	mu     sync.RWMutex // held for reading while enqueuing; for writing by Close
	closed bool

	fatalOnce sync.Once
	fatal     chan struct{} // closed on a fatal client error
	fatalErr  error         // set before fatal is closed

	eventsDone chan struct{}
	logsDone   chan struct{}
}

// NewKafkaProducer creates the producer. It does not wait for a broker:
// call Ping for that.
func NewKafkaProducer(cfg KafkaConfig) (*KafkaProducer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	p, err := kafka.NewProducer(cfg.configMap())
	if err != nil {
		return nil, fmt.Errorf("gateway: new producer: %w", err)
	}
	kp := &KafkaProducer{p: p, log: cfg.Logger, stats: cfg.Stats, fatal: make(chan struct{}), eventsDone: make(chan struct{}), logsDone: make(chan struct{})}
	go kp.serveEvents()
	go kp.serveLogs()
	return kp, nil
}

// serveLogs forwards librdkafka's log lines to slog until Close closes the
// channel. Syslog levels: 0..3 error, 4 warning, 5..6 info, 7 debug.
func (kp *KafkaProducer) serveLogs() {
	defer close(kp.logsDone)
	for l := range kp.p.Logs() {
		msg, args := "librdkafka: "+l.Message, []any{"client", l.Name, "tag", l.Tag}
		switch {
		case l.Level <= 3:
			kp.log.Error(msg, args...)
		case l.Level == 4:
			kp.log.Warn(msg, args...)
		case l.Level <= 6:
			kp.log.Info(msg, args...)
		default:
			kp.log.Debug(msg, args...)
		}
	}
}

// serveEvents reads the client's Events channel until Close closes it.
// Delivery reports go to each call's own channel, so only client-level
// events arrive here.
func (kp *KafkaProducer) serveEvents() {
	defer close(kp.eventsDone)
	for ev := range kp.p.Events() {
		switch e := ev.(type) {
		case kafka.Error:
			if e.IsFatal() {
				kp.fatalOnce.Do(func() {
					kp.fatalErr = e
					close(kp.fatal)
				})
				kp.log.Error("kafka producer: fatal error; the producer must be recreated", "error", e)
				continue
			}
			kp.log.Warn("kafka producer: error", "error", e, "code", e.Code().String())
		case *kafka.Message:
			// Every Produce passes its own delivery channel; a report here
			// would be a bug, never a lost answer.
			kp.log.Error("kafka producer: delivery report without a waiting call", "topic_partition", e.TopicPartition.String())
		case *kafka.Stats:
			if kp.stats != nil {
				kp.stats(e.String())
			}
		default:
			kp.log.Debug("kafka producer: event", "event", ev.String())
		}
	}
}

// Fatal is closed when the client reported a fatal error (an idempotent
// producer that lost its guarantees). Every later Produce fails; the
// process should stop and be restarted.
func (kp *KafkaProducer) Fatal() <-chan struct{} { return kp.fatal }

// FatalErr returns the fatal error once Fatal is closed, else nil.
func (kp *KafkaProducer) FatalErr() error {
	select {
	case <-kp.fatal:
		return kp.fatalErr
	default:
		return nil
	}
}

// Produce implements Producer.
func (kp *KafkaProducer) Produce(ctx context.Context, rec Record) (Position, error) {
	if err := ctx.Err(); err != nil {
		return Position{}, fmt.Errorf("gateway: produce: %w", err)
	}
	if err := kp.FatalErr(); err != nil {
		return Position{}, &DeliveryError{Topic: rec.Topic, Err: err}
	}
	msg := &kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: &rec.Topic, Partition: kafka.PartitionAny},
		Key:            rec.Key,
		Value:          rec.Value,
	}
	if len(rec.Headers) > 0 {
		msg.Headers = make([]kafka.Header, len(rec.Headers))
		for i, h := range rec.Headers {
			msg.Headers[i] = kafka.Header{Key: h.Key, Value: h.Value}
		}
	}
	// Buffered: the client's poller never blocks on a call that gave up.
	done := make(chan kafka.Event, 1)
	if err := kp.enqueue(msg, done); err != nil {
		return Position{}, err
	}
	select {
	case ev := <-done:
		m, ok := ev.(*kafka.Message)
		if !ok {
			return Position{}, &DeliveryError{Topic: rec.Topic, Err: fmt.Errorf("unexpected delivery event %T: %v", ev, ev)}
		}
		if m.TopicPartition.Error != nil {
			return Position{}, &DeliveryError{Topic: rec.Topic, Err: m.TopicPartition.Error}
		}
		return Position{Partition: m.TopicPartition.Partition, Offset: int64(m.TopicPartition.Offset)}, nil
	case <-ctx.Done():
		return Position{}, fmt.Errorf("gateway: await delivery report: %w", ctx.Err())
	}
}

func (kp *KafkaProducer) enqueue(msg *kafka.Message, done chan kafka.Event) error {
	kp.mu.RLock()
	defer kp.mu.RUnlock()
	if kp.closed {
		return ErrClosed
	}
	if err := kp.p.Produce(msg, done); err != nil {
		var ke kafka.Error
		if errors.As(err, &ke) && ke.Code() == kafka.ErrQueueFull {
			// Load shedding: the client holds queue.buffering.max.messages
			// records already; refusing at once beats queueing callers
			// behind a backlog the broker is not draining.
			return fmt.Errorf("%w: %w", ErrOverloaded, err)
		}
		// A fatal state, an unknown topic: "not recorded, retry later".
		return &DeliveryError{Topic: *msg.TopicPartition.Topic, Err: err}
	}
	return nil
}

// Ping checks that the producer reaches the cluster and that topic exists
// with a leader for every partition, bounded by ctx (default 10s).
func (kp *KafkaProducer) Ping(ctx context.Context, topic string) error {
	timeout := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if timeout <= 0 {
		return fmt.Errorf("gateway: ping: %w", context.DeadlineExceeded)
	}
	md, err := kp.p.GetMetadata(&topic, false, int(timeout.Milliseconds()))
	if err != nil {
		return fmt.Errorf("%w: metadata of %s: %w", ErrUnavailable, topic, err)
	}
	tm, ok := md.Topics[topic]
	if !ok {
		return fmt.Errorf("%w: metadata of %s: topic absent", ErrUnavailable, topic)
	}
	if tm.Error.Code() != kafka.ErrNoError {
		return fmt.Errorf("%w: metadata of %s: %w", ErrUnavailable, topic, tm.Error)
	}
	for _, p := range tm.Partitions {
		if p.Leader < 0 || p.Error.Code() != kafka.ErrNoError {
			return fmt.Errorf("%w: %s partition %d has no leader", ErrUnavailable, topic, p.ID)
		}
	}
	return nil
}

// Close stops accepting records, waits until the records in flight are
// delivered (or ctx ends), then fails what is left (their callers get
// ErrUnavailable: not known to be recorded, retry with the same request id)
// and closes the client. It returns an error if records were left.
// Close is idempotent; only the first call flushes.
func (kp *KafkaProducer) Close(ctx context.Context) error {
	kp.mu.Lock()
	if kp.closed {
		kp.mu.Unlock()
		<-kp.eventsDone
		<-kp.logsDone
		return nil
	}
	kp.closed = true
	kp.mu.Unlock()

	var err error
	for kp.p.Len() > 0 && ctx.Err() == nil {
		kp.p.Flush(100)
	}
	if left := kp.p.Len(); left > 0 {
		err = fmt.Errorf("gateway: close producer: %d records or events not flushed: %w", left, ctx.Err())
		// Fail the rest so every waiting call gets an answer, then serve
		// those reports.
		if perr := kp.p.Purge(kafka.PurgeQueue | kafka.PurgeInFlight); perr != nil {
			err = errors.Join(err, fmt.Errorf("gateway: purge: %w", perr))
		}
		kp.p.Flush(1000)
	}
	kp.p.Close()
	<-kp.eventsDone
	<-kp.logsDone
	return err
}

var _ Producer = (*KafkaProducer)(nil)
