package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/internal/records"
	"github.com/cartstream/cartstream/internal/topics"
)

// env is what every scenario shares: the broker, the codec, the run's
// identity and the progress log.
type env struct {
	cfg       Config
	brokers   string
	runID     string
	rec       *records.Codec
	admin     *kafka.AdminClient
	brokerPID int
	logDir    string
	readersMu sync.Mutex
	readers   map[string]*kafka.Consumer
	fixture   *readFixture // rebuild's loaded projection, for getcart
	logf      func(format string, args ...any)
}

// client is the configuration of the bench's own clients (loaders,
// watchers): the broker plus extra.
func (e *env) client(extra kafka.ConfigMap) *kafka.ConfigMap {
	cm := kafka.ConfigMap{"bootstrap.servers": e.brokers}
	for k, v := range e.cfg.Kafka {
		cm[k] = v
	}
	for k, v := range extra {
		cm[k] = v
	}
	return &cm
}

// sut is the configuration of a client of the system under test: base plus
// extra.
func (e *env) sut(extra kafka.ConfigMap) *kafka.ConfigMap {
	cm := e.base()
	for k, v := range extra {
		cm[k] = v
	}
	return &cm
}

// base is the configuration every client of the system under test starts
// from: the broker and Config.ClientProps.
func (e *env) base() kafka.ConfigMap {
	cm := kafka.ConfigMap{"bootstrap.servers": e.brokers}
	for k, v := range e.cfg.Kafka {
		cm[k] = v
	}
	for k, v := range e.cfg.ClientProps {
		cm[k] = v
	}
	return cm
}

// topicSet creates the scenario's own topic set and returns it with a
// cleanup that deletes it.
func (e *env) topicSet(ctx context.Context, scenario string) (topics.Set, func(), error) {
	set := topics.DefaultSet().WithPrefix(fmt.Sprintf("bench-%s-%s.", e.runID, scenario))
	cleanup := func() { e.deleteTopics(set.All()...) }
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := topics.Ensure(cctx, e.admin, set, topics.Config{Partitions: e.cfg.Partitions}); err != nil {
		cleanup()
		return topics.Set{}, nil, fmt.Errorf("ensure topics: %w", err)
	}
	return set, cleanup, nil
}

func (e *env) deleteTopics(names ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := e.admin.DeleteTopics(ctx, names); err != nil {
		e.logf("bench: delete topics %v: %v", names, err)
	}
}

// producer is a plain idempotent producer (acks=all, murmur2_random) that
// counts delivery reports, for loading topics.
type producer struct {
	p         *kafka.Producer
	delivered atomic.Int64
	failed    atomic.Int64
	firstErr  atomic.Pointer[error]
	onDeliver func(*kafka.Message) // optional, from the events goroutine
	done      chan struct{}
}

func (e *env) newProducer(linger time.Duration, onDeliver func(*kafka.Message)) (*producer, error) {
	p, err := kafka.NewProducer(e.client(kafka.ConfigMap{
		"enable.idempotence": true, "acks": "all", "partitioner": "murmur2_random",
		"linger.ms": int(linger.Milliseconds()), "batch.size": 1 << 20,
		"queue.buffering.max.messages": 500_000,
	}))
	if err != nil {
		return nil, fmt.Errorf("new producer: %w", err)
	}
	pr := &producer{p: p, onDeliver: onDeliver, done: make(chan struct{})}
	go pr.serve()
	return pr, nil
}

func (pr *producer) serve() {
	defer close(pr.done)
	for ev := range pr.p.Events() {
		switch e := ev.(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				pr.failed.Add(1)
				err := e.TopicPartition.Error
				pr.firstErr.CompareAndSwap(nil, &err)
				continue
			}
			pr.delivered.Add(1)
			if pr.onDeliver != nil {
				pr.onDeliver(e)
			}
		case kafka.Error:
			if e.IsFatal() {
				err := error(e)
				pr.firstErr.CompareAndSwap(nil, &err)
			}
		}
	}
}

// produce enqueues msg to topic (any partition: the key decides), waiting
// while the local queue is full.
func (pr *producer) produce(ctx context.Context, topic string, msg kafka.Message) error {
	msg.TopicPartition = kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny}
	for {
		err := pr.p.Produce(&msg, nil)
		if err == nil {
			return nil
		}
		var ke kafka.Error
		if !errors.As(err, &ke) || ke.Code() != kafka.ErrQueueFull {
			return fmt.Errorf("produce to %s: %w", topic, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		pr.p.Flush(50)
	}
}

// flush waits until every record is acknowledged and returns the first
// delivery error.
func (pr *producer) flush(ctx context.Context) error {
	for pr.p.Len() > 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		pr.p.Flush(100)
	}
	if err := pr.firstErr.Load(); err != nil {
		return *err
	}
	return nil
}

func (pr *producer) close() {
	pr.p.Close()
	<-pr.done
}

// progress prints "what: n/total (rate/s)" on stderr every few seconds
// while a long phase runs.
type progress struct {
	e     *env
	what  string
	total int64
	count func() int64
	stop  chan struct{}
	wg    sync.WaitGroup
}

func (e *env) progress(what string, total int64, count func() int64) *progress {
	p := &progress{e: e, what: what, total: total, count: count, stop: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		start, last, lastN := time.Now(), time.Now(), int64(0)
		t := time.NewTicker(3 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				n := p.count()
				e.logf("%s: %d/%d in %s (%.0f/s)", what, n, total, time.Since(start).Round(time.Millisecond), float64(n)/time.Since(start).Seconds())
				return
			case now := <-t.C:
				n := p.count()
				e.logf("%s: %d/%d (%.0f/s)", what, n, total, float64(n-lastN)/now.Sub(last).Seconds())
				last, lastN = now, n
			}
		}
	}()
	return p
}

func (p *progress) done() { close(p.stop); p.wg.Wait() }

// endOffsets returns the end offset of every partition of topic (the last
// stable offset for read_committed).
func (e *env) endOffsets(ctx context.Context, topic string, isolation kafka.IsolationLevel) (map[int32]int64, error) {
	return e.listOffsets(ctx, topic, kafka.LatestOffsetSpec, isolation)
}

// startOffsets returns each partition's log start offset of topic.
func (e *env) startOffsets(ctx context.Context, topic string) (map[int32]int64, error) {
	return e.listOffsets(ctx, topic, kafka.EarliestOffsetSpec, kafka.IsolationLevelReadCommitted)
}

func (e *env) listOffsets(ctx context.Context, topic string, spec kafka.OffsetSpec, isolation kafka.IsolationLevel) (map[int32]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req := map[kafka.TopicPartition]kafka.OffsetSpec{}
	for i := range e.cfg.Partitions {
		req[kafka.TopicPartition{Topic: &topic, Partition: int32(i)}] = spec
	}
	res, err := e.admin.ListOffsets(ctx, req, kafka.SetAdminIsolationLevel(isolation))
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	out := map[int32]int64{}
	for tp, info := range res.ResultInfos {
		if info.Error.Code() != kafka.ErrNoError {
			return nil, fmt.Errorf("list offsets %v: %w", tp, info.Error)
		}
		out[tp.Partition] = int64(info.Offset)
	}
	return out, nil
}

func sum(m map[int32]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// committed returns the group's committed offsets of topic (a partition
// without a commit counts 0). requireStable waits out pending transactional
// commits.
//
// It asks through a consumer of the group that never joins it
// (Consumer.Committed), not AdminClient.ListConsumerGroupOffsets: in
// librdkafka 2.11.1 the admin call crashes the process (SIGSEGV in
// rd_kafka_cgrp_op from rd_kafka_handle_OffsetFetch) when the group
// coordinator answers with a retriable error such as
// COORDINATOR_LOAD_IN_PROGRESS, because an admin client has no cgrp.
func (e *env) committed(ctx context.Context, group, topic string, requireStable bool) (map[int32]int64, error) {
	cons, err := e.offsetReader(group, requireStable)
	if err != nil {
		return nil, err
	}
	timeout := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if timeout <= 0 {
		return nil, ctx.Err()
	}
	tps := make([]kafka.TopicPartition, e.cfg.Partitions)
	for i := range tps {
		tps[i] = kafka.TopicPartition{Topic: &topic, Partition: int32(i)}
	}
	res, err := cons.Committed(tps, int(timeout.Milliseconds()))
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for _, tp := range res {
		if tp.Error != nil {
			return nil, tp.Error
		}
		out[tp.Partition] = max(int64(tp.Offset), 0)
	}
	return out, nil
}

// offsetReader returns the (cached) consumer that reads group's committed
// offsets; read_committed makes librdkafka ask for stable offsets.
func (e *env) offsetReader(group string, stable bool) (*kafka.Consumer, error) {
	e.readersMu.Lock()
	defer e.readersMu.Unlock()
	key := fmt.Sprintf("%s/%t", group, stable)
	if c, ok := e.readers[key]; ok {
		return c, nil
	}
	iso := "read_uncommitted"
	if stable {
		iso = "read_committed"
	}
	c, err := kafka.NewConsumer(e.client(kafka.ConfigMap{
		"group.id": group, "isolation.level": iso, "enable.auto.commit": false,
	}))
	if err != nil {
		return nil, fmt.Errorf("offset reader: %w", err)
	}
	if e.readers == nil {
		e.readers = map[string]*kafka.Consumer{}
	}
	e.readers[key] = c
	return c, nil
}

// closeReaders closes the offset readers of finished scenarios.
func (e *env) closeReaders() {
	e.readersMu.Lock()
	defer e.readersMu.Unlock()
	for k, c := range e.readers {
		_ = c.Close()
		delete(e.readers, k)
	}
}

// drained is the outcome of waitDrained.
type drained struct {
	at            time.Time // first poll that found the group at the end
	firstProgress time.Time // first poll that found any committed offset
	firstCount    int64     // records committed at firstProgress
	polls         int
}

// covers reports whether committed reaches ends on every partition.
func covers(committed map[int32]int64, ends map[int32]int64) bool {
	for part, end := range ends {
		if committed[part] < end {
			return false
		}
	}
	return true
}

// waitDrained polls the group's committed offsets every interval until they
// reach ends on every partition. Progress is read without require-stable: a
// manager with several producers almost always has a transaction with
// offsets pending, which a require-stable read refuses (so the first
// commit, and the steady rate, would go unseen); the end is confirmed with
// a require-stable read.
func (e *env) waitDrained(ctx context.Context, group, topic string, ends map[int32]int64, interval time.Duration) (drained, error) {
	var d drained
	total := sum(ends)
	var last int64
	p := e.progress("  committed", total, func() int64 { return atomic.LoadInt64(&last) })
	defer p.done()
	for {
		d.polls++
		c, err := e.committed(ctx, group, topic, false)
		if err == nil {
			n, behind := int64(0), int64(0)
			for part, end := range ends {
				n += min(c[part], end)
				behind += max(end-c[part], 0)
			}
			atomic.StoreInt64(&last, n)
			if n > 0 && d.firstProgress.IsZero() {
				d.firstProgress, d.firstCount = time.Now(), n
			}
			if behind == 0 {
				d.at = time.Now()
				if stable, serr := e.committed(ctx, group, topic, true); serr == nil && covers(stable, ends) {
					return d, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return d, fmt.Errorf("group %s: not drained (%d of %d committed): %w", group, atomic.LoadInt64(&last), total, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// watcher follows cart.validated and cart.invalid as a read_committed
// consumer and records when each request id's outcome became visible.
type watcher struct {
	cons   *kafka.Consumer
	cancel context.CancelFunc
	mu     sync.Mutex
	seen   map[string]time.Time
	n      atomic.Int64
	done   chan struct{}
	err    error
}

func (e *env) watch(ctx context.Context, topicNames ...string) (*watcher, error) {
	cons, err := kafka.NewConsumer(e.client(kafka.ConfigMap{
		"group.id":           "bench-" + e.runID + "-watcher", // assigned, never joined
		"isolation.level":    "read_committed",
		"enable.auto.commit": false,
		// As the projection: librdkafka's default. The marker that commits
		// an outcome wakes the parked fetch (the "visible" stage shows it),
		// so a short wait only adds broker load to what is measured.
		"fetch.wait.max.ms": 500,
	}))
	if err != nil {
		return nil, fmt.Errorf("watcher consumer: %w", err)
	}
	var tps []kafka.TopicPartition
	for _, t := range topicNames {
		for i := range e.cfg.Partitions {
			tps = append(tps, kafka.TopicPartition{Topic: &t, Partition: int32(i), Offset: kafka.OffsetBeginning})
		}
	}
	if err := cons.Assign(tps); err != nil {
		cons.Close()
		return nil, fmt.Errorf("watcher assign: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &watcher{cons: cons, cancel: cancel, seen: map[string]time.Time{}, done: make(chan struct{})}
	go w.run(ctx)
	return w, nil
}

func (w *watcher) run(ctx context.Context) {
	defer close(w.done)
	for ctx.Err() == nil {
		switch ev := w.cons.Poll(20).(type) {
		case *kafka.Message:
			now := time.Now()
			for _, h := range ev.Headers {
				if h.Key == records.HeaderRequestID {
					w.mu.Lock()
					if _, dup := w.seen[string(h.Value)]; !dup {
						w.seen[string(h.Value)] = now
					}
					w.mu.Unlock()
					w.n.Add(1)
					break
				}
			}
		case kafka.Error:
			if ev.IsFatal() {
				w.err = ev
				return
			}
		}
	}
}

// seenAt returns when id's outcome became visible.
func (w *watcher) seenAt(id string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.seen[id]
	return t, ok
}

// waitAll waits until every id has an outcome or ctx ends, and returns how
// many are still missing.
func (w *watcher) waitAll(ctx context.Context, ids []string) int {
	for {
		missing := 0
		w.mu.Lock()
		for _, id := range ids {
			if _, ok := w.seen[id]; !ok {
				missing++
			}
		}
		w.mu.Unlock()
		if missing == 0 || ctx.Err() != nil {
			return missing
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop ends the watcher.
func (w *watcher) stop() {
	w.cancel()
	<-w.done
	w.cons.Close()
}
