package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/kafkatest"
	"github.com/cartstream/cartstream/internal/records"
	"github.com/cartstream/cartstream/internal/topics"
	"github.com/cartstream/cartstream/validation"
)

// cartEnv is one test's cartstream deployment: its own five topics on the
// real broker, the records codec, and helpers to drive the write side.
type cartEnv struct {
	c          *kafkatest.Cluster
	set        topics.Set
	rec        *records.Codec
	partitions int
	group      string
	clock      atomic.Int64 // fake request clock, ms

	prodOnce sync.Once
	prod     *kafka.Producer
	prodErr  error

	// clientOf, if set, is the client configuration a service connects
	// with (secure_test.go: each service's own principal); nil: plaintext.
	clientOf func(service string) kafka.ConfigMap
}

// client is the configuration service ("gateway", "manager",
// "projection") connects with.
func (e *cartEnv) client(service string) kafka.ConfigMap {
	if e.clientOf != nil {
		return e.clientOf(service)
	}
	return kafka.ConfigMap{"bootstrap.servers": e.c.Brokers()}
}

func newCartEnv(t *testing.T, partitions int) *cartEnv {
	t.Helper()
	return newCartEnvOn(t, kafkatest.Get(t), partitions)
}

// newCartEnvOn is newCartEnv on a cluster of the test's own.
func newCartEnvOn(t *testing.T, c *kafkatest.Cluster, partitions int) *cartEnv {
	t.Helper()
	set := topics.DefaultSet().WithPrefix(kafkatest.UniqueName(t, ""))
	c.DeleteOnCleanup(t, set.All()...)
	if _, err := topics.Ensure(withTimeout(t, time.Minute), c.Admin(t), set, topics.Config{Partitions: partitions}); err != nil {
		t.Fatalf("ensure topics: %v", err)
	}
	rec, err := records.New(records.Config{})
	if err != nil {
		t.Fatalf("records codec: %v", err)
	}
	e := &cartEnv{c: c, set: set, rec: rec, partitions: partitions, group: kafkatest.UniqueName(t, "manager")}
	e.clock.Store(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).UnixMilli())
	return e
}

func (e *cartEnv) now() time.Time { return time.UnixMilli(e.clock.Add(1)).UTC() }

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("test", t.Name())
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// managerConfig is the manager's configuration for this env; tests adjust it.
func (e *cartEnv) managerConfig(t *testing.T, instance string) validation.Config {
	return validation.Config{
		Client:             e.client("manager"),
		Topics:             e.set,
		GroupID:            e.group,
		InstanceID:         instance,
		Records:            e.rec,
		Logger:             testLogger(t),
		SessionTimeout:     6 * time.Second,
		TransactionTimeout: 10 * time.Second,
	}
}

// startManager runs a manager in this process until the test ends (or stop
// is called) and waits until it is ready.
func (e *cartEnv) startManager(t *testing.T, cfg validation.Config) (m *validation.Manager, stop func()) {
	t.Helper()
	m, err := validation.New(cfg)
	if err != nil {
		t.Fatalf("new manager: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("manager %s: %v", cfg.InstanceID, err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("manager %s did not stop within 60s (stacks in %s)", cfg.InstanceID, dumpGoroutines(t, "manager did not stop"))
		}
	}
	t.Cleanup(stop)
	select {
	case <-m.Ready():
	case err := <-done:
		t.Fatalf("manager %s ended before ready: %v", cfg.InstanceID, err)
	case <-time.After(60 * time.Second):
		t.Fatalf("manager %s not ready within 60s", cfg.InstanceID)
	}
	return m, stop
}

func (e *cartEnv) seedCatalog(t *testing.T, products ...cart.Product) {
	t.Helper()
	recs := make([]rawRecord, len(products))
	for i, p := range products {
		v, err := e.rec.EncodeProduct(p)
		if err != nil {
			t.Fatalf("encode product %s: %v", p.SKU, err)
		}
		recs[i] = rawRecord{key: []byte(p.SKU), value: v}
	}
	e.produce(t, e.set.Catalog, recs...)
}

type rawRecord struct {
	key, value []byte
	headers    []kafka.Header
}

// send produces commands to cart.requests as the gateway does and returns
// their positions.
func (e *cartEnv) send(t *testing.T, cmds ...cart.Command) []kafka.TopicPartition {
	t.Helper()
	recs, err := e.requestRecords(cmds)
	if err != nil {
		t.Fatal(err)
	}
	return e.produce(t, e.set.Requests, recs...)
}

// requestRecords encodes commands as the gateway writes them.
func (e *cartEnv) requestRecords(cmds []cart.Command) ([]rawRecord, error) {
	recs := make([]rawRecord, len(cmds))
	for i, c := range cmds {
		v, err := e.rec.EncodeRequest(c)
		if err != nil {
			return nil, fmt.Errorf("encode %T: %w", c, err)
		}
		recs[i] = rawRecord{key: []byte(c.Meta().CartID), value: v, headers: []kafka.Header{
			{Key: records.HeaderRequestID, Value: []byte(c.Meta().RequestID)},
			{Key: records.HeaderEventType, Value: []byte(c.EventType().String())},
		}}
	}
	return recs, nil
}

func (e *cartEnv) produce(t *testing.T, topic string, recs ...rawRecord) []kafka.TopicPartition {
	t.Helper()
	out, err := e.tryProduce(t, topic, recs...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tryProduce writes records with the env's producer (one per env, closed
// when the test ends) and waits for every delivery report. It never calls
// t.Fatal, so load generators may call it from their own goroutines.
func (e *cartEnv) tryProduce(t *testing.T, topic string, recs ...rawRecord) ([]kafka.TopicPartition, error) {
	e.prodOnce.Do(func() {
		e.prod, e.prodErr = kafka.NewProducer(e.c.ProducerConfig(kafka.ConfigMap{"enable.idempotence": true, "acks": "all", "linger.ms": 2}))
		if e.prodErr == nil {
			t.Cleanup(e.prod.Close)
		}
	})
	if e.prodErr != nil {
		return nil, fmt.Errorf("new producer: %w", e.prodErr)
	}
	done := make(chan kafka.Event, len(recs))
	for i, r := range recs {
		msg := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny}, Key: r.key, Value: r.value, Headers: r.headers, Opaque: i}
		if err := e.prod.Produce(msg, done); err != nil {
			return nil, fmt.Errorf("produce: %w", err)
		}
	}
	out := make([]kafka.TopicPartition, len(recs))
	for range recs {
		select {
		case ev := <-done:
			m, ok := ev.(*kafka.Message)
			if !ok {
				return nil, fmt.Errorf("delivery failed: %v", ev)
			}
			if m.TopicPartition.Error != nil {
				return nil, fmt.Errorf("delivery failed: %w", m.TopicPartition.Error)
			}
			out[m.Opaque.(int)] = m.TopicPartition
		case <-time.After(30 * time.Second):
			return nil, errors.New("no delivery report within 30s")
		}
	}
	return out, nil
}

// trySend is send without t.Fatal, for load generators' goroutines.
func (e *cartEnv) trySend(t *testing.T, cmds ...cart.Command) ([]kafka.TopicPartition, error) {
	recs, err := e.requestRecords(cmds)
	if err != nil {
		return nil, err
	}
	return e.tryProduce(t, e.set.Requests, recs...)
}

// waitDrained waits until the manager group's committed offsets reach the
// end of every cart.requests partition: from then on everything it wrote is
// committed and visible to read_committed readers.
func (e *cartEnv) waitDrained(t *testing.T, timeout time.Duration) {
	t.Helper()
	admin := e.c.Admin(t)
	deadline := time.Now().Add(timeout)
	for {
		behind, err := e.lag(admin)
		if err == nil && behind == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("manager group %s still %d records behind after %s (last error: %v; stacks in %s)", e.group, behind, timeout, err, dumpGoroutines(t, "manager group behind"))
		}
		time.Sleep(100 * time.Millisecond) // polling the group's offsets with a deadline
	}
}

// lag reads the group's committed offsets through a consumer of the group
// that never joins it (Consumer.Committed; read_committed asks for stable
// offsets). AdminClient.ListConsumerGroupOffsets is avoided: librdkafka
// 2.11.1 can crash in it while the group coordinator is still loading
// (bench/results notes a core dump).
func (e *cartEnv) lag(admin *kafka.AdminClient) (int64, error) {
	committed, err := e.committed()
	if err != nil {
		return -1, err
	}
	ends, err := e.ends(admin, e.set.Requests)
	if err != nil {
		return -1, err
	}
	var behind int64
	for p, c := range committed {
		behind += ends[p] - c
	}
	return behind, nil
}

// committed returns the manager group's committed offset of every
// cart.requests partition (0 where none), read through a consumer of the
// group that never joins it (Consumer.Committed; read_committed asks for
// stable offsets).
func (e *cartEnv) committed() (map[int32]int64, error) {
	cons, err := kafka.NewConsumer(e.c.Config(kafka.ConfigMap{
		"group.id":           e.group,
		"isolation.level":    "read_committed",
		"enable.auto.commit": false,
	}))
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	tps := make([]kafka.TopicPartition, e.partitions)
	for i := range tps {
		tps[i] = kafka.TopicPartition{Topic: &e.set.Requests, Partition: int32(i)}
	}
	res, err := cons.Committed(tps, 10000)
	if err != nil {
		return nil, err
	}
	out := make(map[int32]int64, len(res))
	for _, tp := range res {
		if tp.Error != nil {
			return nil, tp.Error
		}
		out[tp.Partition] = max(int64(tp.Offset), 0)
	}
	return out, nil
}

func (e *cartEnv) ends(admin *kafka.AdminClient, topic string) (map[int32]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := map[kafka.TopicPartition]kafka.OffsetSpec{}
	for i := range e.partitions {
		req[kafka.TopicPartition{Topic: &topic, Partition: int32(i)}] = kafka.LatestOffsetSpec
	}
	res, err := admin.ListOffsets(ctx, req, kafka.SetAdminIsolationLevel(kafka.IsolationLevelReadCommitted))
	if err != nil {
		return nil, err
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

// outcomeRecord is one decoded record of cart.validated or cart.invalid.
type outcomeRecord struct {
	partition int32
	offset    int64
	event     cart.Event           // set for cart.validated
	invalid   *cart.InvalidRequest // set for cart.invalid
	headers   map[string]string
}

func (o outcomeRecord) requestID() cart.RequestID {
	if o.event != nil {
		return o.event.Meta().RequestID
	}
	return o.invalid.RequestID
}

// outcomes reads both outcome topics to their end (read_committed).
func (e *cartEnv) outcomes(t *testing.T) (validated, invalid []outcomeRecord) {
	t.Helper()
	for _, m := range readToEnd(t, e.c, e.set.Validated, e.partitions, "read_committed") {
		ev, err := e.rec.DecodeValidated(m.Value)
		if err != nil {
			t.Fatalf("decode validated at %v: %v", m.TopicPartition, err)
		}
		validated = append(validated, outcomeRecord{partition: m.TopicPartition.Partition, offset: int64(m.TopicPartition.Offset), event: ev, headers: headerMap(m)})
	}
	for _, m := range readToEnd(t, e.c, e.set.Invalid, e.partitions, "read_committed") {
		inv, err := e.rec.DecodeInvalid(m.Value)
		if err != nil {
			t.Fatalf("decode invalid at %v: %v", m.TopicPartition, err)
		}
		invalid = append(invalid, outcomeRecord{partition: m.TopicPartition.Partition, offset: int64(m.TopicPartition.Offset), invalid: &inv, headers: headerMap(m)})
	}
	return validated, invalid
}

// snapshots reads cart.state to its end and returns the latest per cart.
func (e *cartEnv) snapshots(t *testing.T) map[cart.CartID]cart.Snapshot {
	t.Helper()
	out := map[cart.CartID]cart.Snapshot{}
	for _, m := range readToEnd(t, e.c, e.set.State, e.partitions, "read_committed") {
		s, err := e.rec.DecodeSnapshot(m.Value)
		if err != nil {
			t.Fatalf("decode snapshot at %v: %v", m.TopicPartition, err)
		}
		out[s.Cart.CartID] = s
	}
	return out
}

func headerMap(m *kafka.Message) map[string]string {
	h := map[string]string{}
	for _, x := range m.Headers {
		h[x.Key] = string(x.Value)
	}
	return h
}
