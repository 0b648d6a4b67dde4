package validation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/txnhealth"
)

// Manager is the AddItemManager. Create it with New and run it with Run.
type Manager struct {
	cfg     Config
	log     *slog.Logger
	catalog *catalogStore
	// stock is the catalog with the latest stock levels (reserve.go).
	stock  stockCatalog
	stats  Stats
	health *txnhealth.State
	ready  chan struct{}
	// oversized: requests whose outcome was refused as too large.
	oversized oversized
	// consumerFenced: the current session's consumer was fenced
	// (noteConsumerFatal), whatever error then ended the session.
	consumerFenced atomic.Bool
}

// New validates cfg and returns a Manager.
func New(cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	log := cfg.Logger.With("component", "additem-manager", "instance", cfg.InstanceID)
	m := &Manager{
		cfg:     cfg,
		log:     log,
		catalog: newCatalogStore(cfg.Records.DecodeProduct, log, cfg.Faults),
		health:  txnhealth.New(log, cfg.UnhealthyAfter),
		ready:   make(chan struct{}),
	}
	m.stock = stockCatalog{products: m.catalog, stock: &stockStore{levels: map[cart.SKU]int64{}, decode: cfg.Records.DecodeStockLevel, log: log}}
	return m, nil
}

// Stats returns the manager's counters.
func (m *Manager) Stats() *Stats { return &m.stats }

// Ready is closed once the catalog is loaded and the first session has
// joined the group: the point from which the manager processes requests.
func (m *Manager) Ready() <-chan struct{} { return m.ready }

// Health is the manager's ability to commit now, and a channel closed at
// its next change: watch it with a loop that takes both again each time.
// It is not serving until the first session has its assignment, while a
// session is rebuilt, after Config.UnhealthyAfter transactions in a row
// failed to commit (until one commits), and while a dead catalog follower
// is restarted.
func (m *Manager) Health() (Health, <-chan struct{}) { return m.health.Get() }

// Health says whether the manager can commit (internal/txnhealth).
type Health = txnhealth.Health

// Run validates requests until ctx ends, then finishes the open transaction
// and leaves. A fatal transactional error rebuilds the session (new
// producer, new consumer, state restored from cart.state) rather than ending
// Run, and a catalog follower that dies is restarted; Run returns an error
// only for what a restart cannot fix.
func (m *Manager) Run(ctx context.Context) error {
	cctx, stopCatalog := context.WithCancel(ctx)
	loaded := make(chan error, 1)
	following := make(chan struct{})
	go func() { defer close(following); m.followCatalog(cctx, loaded) }()
	followingStock := make(chan struct{})
	go func() { defer close(followingStock); m.followStock(cctx) }()
	defer func() { stopCatalog(); <-following; <-followingStock }()

	select {
	case err := <-loaded:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return nil
	}
	return m.runSessions(ctx)
}

// runSessions runs one session after the other until ctx ends: a session
// that ends on a fatal error is rebuilt after a backoff that grows while
// the sessions fail without committing anything.
func (m *Manager) runSessions(ctx context.Context) error {
	for attempt := 0; ; {
		commits := m.stats.Commits.Load()
		err := m.session(ctx)
		if ctx.Err() != nil {
			if err != nil && !errors.Is(err, context.Canceled) {
				m.log.Warn("stopped with error", "err", err)
			}
			m.logStats("final")
			return nil
		}
		if !errors.Is(err, errSessionFatal) {
			return err
		}
		m.stats.Restarts.Add(1)
		if m.stats.Commits.Load() > commits {
			attempt = 0 // the session worked for a while: a new failure
		}
		attempt++
		d := rebuildBackoff.delay(attempt)
		m.log.Warn("rebuilding the transactional session", "err", err, "attempt", attempt, "after", d)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			m.logStats("final")
			return nil
		}
	}
}

func (m *Manager) logStats(msg string) {
	s := m.stats.Snapshot()
	m.log.Info(msg+" stats",
		"processed", s.Processed, "accepted", s.Accepted, "rejected", s.Rejected,
		"duplicates", s.Duplicates, "stale", s.Stale, "malformed", s.Malformed,
		"commits", s.Commits, "aborts", s.Aborts, "restarts", s.Restarts, "catalog_restarts", s.CatalogRestarts,
		"commit_mean", s.MeanCommit, "commit_max", s.MaxCommit, "restored", s.Restored)
}

// session is one consumer's lifetime with its pool of transactional
// producers: a fatal error anywhere ends it, and the next one starts from
// what Kafka has committed.
func (m *Manager) session(ctx context.Context) (err error) {
	// Not serving from the session's end until the next one is assigned.
	defer m.health.Left()
	defer m.stats.OwnedPartitions.Store(0)
	defer m.stats.Carts.Store(0)
	workers, closeProducers, err := m.startProducers(ctx)
	if err != nil {
		return err
	}
	defer closeProducers()
	cons, err := kafka.NewConsumer(m.cfg.consumerConfig())
	if err != nil {
		return fmt.Errorf("new consumer: %w", err)
	}
	for _, w := range workers {
		w.cons = cons
	}
	s := newSession(m, cons, workers)
	m.consumerFenced.Store(false)
	defer func() { m.closeConsumer(cons, fenced(err) || m.consumerFenced.Load()) }()
	if err := cons.Subscribe(m.cfg.Topics.Requests, s.rebalance); err != nil {
		return fmt.Errorf("subscribe %s: %w", m.cfg.Topics.Requests, err)
	}
	select {
	case <-m.ready:
	default:
		close(m.ready)
	}
	return s.run(ctx)
}

// startProducers creates the session's transactional producers and
// initialises them at once. InitTransactions fences any older producer with
// the same transactional.id (our previous incarnation) and aborts the
// transaction it left open.
func (m *Manager) startProducers(ctx context.Context) ([]*worker, func(), error) {
	var workers []*worker
	var stops []func()
	closeAll := func() {
		for _, stop := range stops {
			stop()
		}
	}
	for k := range m.cfg.Producers {
		prod, err := kafka.NewProducer(m.cfg.producerConfig(k))
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("new producer %d: %w", k, err)
		}
		events, logs := make(chan struct{}), make(chan struct{})
		w := &worker{id: k, m: m, prod: prod, jobs: make(chan *job, 1), concurrent: &atomic.Int64{}}
		go serveProducerEvents(prod, m.log, &m.oversized, m.producerStats(w), events)
		go serveProducerLogs(prod.Logs(), m.log, logs, w.concurrent, &m.stats.ConcurrentRetries)
		stops = append(stops, func() { m.closeProducer(w, events, logs) })
		workers = append(workers, w)
	}
	initCtx, cancel := context.WithTimeout(ctx, m.cfg.CommitTimeout+m.cfg.TransactionTimeout)
	defer cancel()
	errs := make([]error, len(workers))
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.prod.InitTransactions(initCtx); err != nil {
				errs[i] = fmt.Errorf("init transactions of %s: %w", m.cfg.TransactionalIDOf(i), err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		closeAll()
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		if slices.ContainsFunc(errs, notAuthorized) {
			return nil, nil, fmt.Errorf("%w: the principal may not use transactional.id %s (grant TransactionalId Write on the prefix %s-): %w",
				ErrNotAuthorized, m.cfg.TransactionalID(), m.cfg.GroupID, err)
		}
		return nil, nil, fmt.Errorf("%w: %w", errSessionFatal, err)
	}
	return workers, closeAll, nil
}

// serveProducerEvents drains the producer's event channel until Close
// closes it: librdkafka needs it served for delivery reports, and
// CommitTransaction's flush waits on them. A delivery failure fails the
// commit of its transaction and the loop aborts it; one that refused an
// outcome as too large is remembered, so that the request's next attempt
// writes a minimal MALFORMED instead of failing the same way for ever.
func serveProducerEvents(p *kafka.Producer, log *slog.Logger, big *oversized, stats func(string), done chan<- struct{}) {
	defer close(done)
	for ev := range p.Events() {
		switch e := ev.(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				log.Warn("delivery failed", "topic", *e.TopicPartition.Topic, "partition", e.TopicPartition.Partition, "err", e.TopicPartition.Error)
				big.noteDelivery(e)
			}
		case kafka.Error:
			log.Warn("producer error", "err", e, "fatal", e.IsFatal())
		case *kafka.Stats:
			if stats != nil {
				stats(e.String())
			}
		}
	}
}

// producerStats routes w's producer's librdkafka statistics to
// Config.KafkaStats until the producer is abandoned (the next session's
// producer of the same number reports under the same name); nil when
// nobody listens.
func (m *Manager) producerStats(w *worker) func(string) {
	f := m.cfg.KafkaStats
	if f == nil {
		return nil
	}
	name := "producer-" + strconv.Itoa(w.id)
	return func(json string) {
		if !w.stuck.Load() {
			f(name, json)
		}
	}
}

// closeProducer closes producer k and waits for its event and log
// loops, at most consumerCloseTimeout: rd_kafka_destroy waits for its
// broker threads, which a dead transaction coordinator can hold. An
// abandoned producer is already fenced by the next session's
// InitTransactions.
//
// A producer with a call that never returned (worker.stuck) is not closed
// at all: rd_kafka_destroy under a blocked API call is unsafe. Its
// threads and memory are leaked, once per such incident, and counted.
func (m *Manager) closeProducer(w *worker, events, logs <-chan struct{}) {
	if w.stuck.Load() {
		m.stats.AbandonedProducers.Add(1)
		m.log.Error("abandoning a producer stuck in a transactional call (not closed; the next session's producers fence it)", "producer", w.id)
		return
	}
	if !within(consumerCloseTimeout, func() { w.prod.Close(); <-events; <-logs }) {
		m.log.Error("producer close did not finish; abandoning it (the next session's producers fence it)", "producer", w.id, "after", consumerCloseTimeout)
	}
}

// consumerCloseTimeout bounds how long a session waits for its consumer
// (and each producer) to close.
const consumerCloseTimeout = 10 * time.Second

// closeConsumer closes c, waiting at most consumerCloseTimeout.
// Consumer.Close polls until librdkafka reports the consumer closed, and
// after a broker of the group coordinator's was killed that took minutes
// in TestChaos on three nodes (the close waits on requests to the dead
// coordinator): a session rebuild or a stop must not wait on it. An
// abandoned consumer goes on closing in the background (counted in
// Stats.AbandonedConsumers); its producers were already fenced by the new
// ones' InitTransactions.
//
// A fenced consumer is not waited for at all: confluent-kafka-go 2.11.1
// never finishes closing a consumer with a fatal error, and
// FENCED_INSTANCE_ID is one (librdkafka refuses to start the close and the
// Go wrapper polls for its end for ever; confluent-kafka-go #1588, not in
// a release we can use). Waiting would only hold the rebuild back by
// consumerCloseTimeout each time
// (TestFaultLateJoinOfTheSameInstanceFencesTheConsumer). The fence is known
// from the session's error, from the poller (noteConsumerFatal), or from
// the events still queued (fenceQueued). Close still runs in the
// background: its polling drains what the consumer goes on queueing.
//
// The next session keeps the same group.instance.id even after an
// abandoned close: an abandoned consumer that still holds the instance is
// replaced at once (it is fenced on its next request), where a fresh id
// would leave its partitions to it until its session expired, or for as
// long as it heartbeats (TestFaultAbandonedConsumerCloseHandsOver).
func (m *Manager) closeConsumer(c *kafka.Consumer, isFenced bool) {
	timer := time.NewTimer(consumerCloseTimeout)
	defer timer.Stop()
	checked := make(chan bool, 1)
	closed := make(chan error, 1)
	go func() {
		f := isFenced || fenceQueued(c, fenceDrainLimit)
		checked <- f
		_ = inject(m.cfg.Faults, FaultSite{Point: FaultConsumerClose, Lane: -1})
		closed <- c.Close()
	}()
	select {
	case f := <-checked:
		if f {
			m.stats.AbandonedConsumers.Add(1)
			m.log.Error("consumer fenced by another member with its group.instance.id; abandoning it without waiting for its close (it never finishes)")
			return
		}
	case <-timer.C:
		m.abandonConsumer()
		return
	}
	select {
	case err := <-closed:
		if err != nil {
			m.log.Warn("close consumer", "err", err)
		}
	case <-timer.C:
		m.abandonConsumer()
	}
}

func (m *Manager) abandonConsumer() {
	m.stats.AbandonedConsumers.Add(1)
	m.log.Error("consumer close did not finish; abandoning it", "after", consumerCloseTimeout)
}

// fenceDrainLimit bounds fenceQueued: the queue holds at most what the
// consumer fetched ahead (queued.max.messages.kbytes), which a Poll(0)
// each takes in microseconds.
const fenceDrainLimit = time.Second

// fenceQueued polls what the ended session's consumer still has queued,
// for at most d, and says whether it holds the fatal error of a fence. Its
// poller has stopped, and Close would poll the same events (rebalances
// included, which the callback answers without restoring once the session
// is closing); records polled here are dropped, as Close drops them: the
// next session starts from the committed offsets. A poller blocked on a
// busy scheduler never sees the fence; TestClusterBrokerCrashUnderLoad saw
// one while a worker was stuck in a transactional call.
func fenceQueued(c *kafka.Consumer, d time.Duration) bool {
	deadline := time.Now().Add(d)
	// Poll also answers nil for an event it served itself (a rebalance), so
	// only a run of nils means the queue is empty.
	for empty := 0; empty < 10 && time.Now().Before(deadline); {
		switch ev := c.Poll(0).(type) {
		case nil:
			empty++
			continue
		case kafka.Error:
			if fenced(ev) {
				return true
			}
		}
		empty = 0
	}
	return false
}

// noteConsumerFatal records a fatal error the session's consumer reported
// (the poller calls it). A fence is noted even when another error ends the
// session first: the three-node crash test saw a consumer fenced while a
// worker was stuck in a transactional call, whose limit then ended the
// session, and the close of the fenced consumer was waited for in vain.
func (m *Manager) noteConsumerFatal(err error) {
	if fenced(err) {
		m.consumerFenced.Store(true)
	}
}

// fenced says whether err ended a session because the group fenced its
// consumer: another member joined with the same group.instance.id (a
// consumer of ours abandoned earlier, or the consumer's own join retried
// after its session timed out; librdkafka #3437). librdkafka makes it
// fatal for the consumer and reports the broker's code.
func fenced(err error) bool {
	var ke kafka.Error
	return errors.As(err, &ke) && ke.Code() == kafka.ErrFencedInstanceID
}

// within runs f and waits at most d for it; false means f is still
// running (and keeps running: librdkafka calls cannot be interrupted).
func within(d time.Duration, f func()) bool {
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}
