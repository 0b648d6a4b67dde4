package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/kafkatest"
	"github.com/cartstream/cartstream/internal/records"
	"github.com/cartstream/cartstream/internal/topics"
	"github.com/cartstream/cartstream/internal/verify"
)

// verifyEnv is a deployment's cart topics on the real broker, written to
// directly: requests by a plain producer, outcomes and snapshots by a
// transactional one, as the write side would (the same cart.Process, the
// same codec), so the verifier can be shown a history known to be right
// and then one known to be wrong.
type verifyEnv struct {
	c        *kafkatest.Cluster
	set      topics.Set
	rec      *records.Codec
	requests *kafka.Producer
	txn      *kafka.Producer
	catalog  cart.MapCatalog
	snaps    map[cart.CartID]cart.Snapshot
	clock    time.Time
	// validated remembers what was written to cart.validated.
	validated []writtenRecord
}

type writtenRecord struct {
	partition int32
	key       string
	value     []byte
	requestID cart.RequestID
}

func newVerifyEnv(t *testing.T) *verifyEnv {
	t.Helper()
	c := kafkatest.Get(t)
	set := topics.DefaultSet().WithPrefix(kafkatest.UniqueName(t, ""))
	c.DeleteOnCleanup(t, set.All()...)
	if _, err := topics.Ensure(withTimeout(t, time.Minute), c.Admin(t), set, topics.Config{Partitions: 3}); err != nil {
		t.Fatalf("ensure topics: %v", err)
	}
	rec, err := records.New(records.Config{})
	if err != nil {
		t.Fatalf("records codec: %v", err)
	}
	catalog, err := cart.NewMapCatalog(
		cart.Product{SKU: "apple", Name: "Apple", UnitPrice: cart.Money{Amount: 100, Currency: "EUR"}, Active: true},
		cart.Product{SKU: "pear", Name: "Pear", UnitPrice: cart.Money{Amount: 250, Currency: "EUR"}, Active: true},
		cart.Product{SKU: "plum", Name: "Plum", UnitPrice: cart.Money{Amount: 50, Currency: "EUR"}, Active: false},
	)
	if err != nil {
		t.Fatalf("catalog: %v", err)
	}
	reqs, err := kafka.NewProducer(c.ProducerConfig(kafka.ConfigMap{"enable.idempotence": true, "acks": "all"}))
	if err != nil {
		t.Fatalf("request producer: %v", err)
	}
	t.Cleanup(reqs.Close)
	txn, err := kafka.NewProducer(c.ProducerConfig(kafka.ConfigMap{"transactional.id": kafkatest.UniqueName(t, "txn"), "transaction.timeout.ms": 10000}))
	if err != nil {
		t.Fatalf("transactional producer: %v", err)
	}
	failed, wait := drainEvents(t, txn)
	t.Cleanup(func() {
		txn.Close()
		wait()
		if errs := failed(); len(errs) > 0 {
			t.Errorf("transactional deliveries failed: %v", errs)
		}
	})
	if err := txn.InitTransactions(withTimeout(t, 30*time.Second)); err != nil {
		t.Fatalf("init transactions: %v", err)
	}
	return &verifyEnv{c: c, set: set, rec: rec, requests: reqs, txn: txn, catalog: catalog,
		snaps: map[cart.CartID]cart.Snapshot{}, clock: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
}

// produceRequest writes one record to cart.requests (key partitioning, as
// the gateway does) and returns where it landed.
func (e *verifyEnv) produceRequest(t *testing.T, key string, value []byte) kafka.TopicPartition {
	t.Helper()
	done := make(chan kafka.Event, 1)
	msg := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &e.set.Requests, Partition: kafka.PartitionAny}, Key: []byte(key), Value: value}
	if err := e.requests.Produce(msg, done); err != nil {
		t.Fatalf("produce request: %v", err)
	}
	select {
	case ev := <-done:
		m, ok := ev.(*kafka.Message)
		if !ok || m.TopicPartition.Error != nil {
			t.Fatalf("request not delivered: %v", ev)
		}
		return m.TopicPartition
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery report for a request within 30s")
	}
	return kafka.TopicPartition{}
}

// produceTxn adds a record to the open transaction.
func (e *verifyEnv) produceTxn(t *testing.T, topic string, partition int32, key string, value []byte) {
	t.Helper()
	msg := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: partition}, Key: []byte(key), Value: value}
	if err := e.txn.Produce(msg, nil); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// send writes cmd's request and, inside the open transaction, what the
// write side writes for it.
func (e *verifyEnv) send(t *testing.T, cmd cart.Command) {
	t.Helper()
	value, err := e.rec.EncodeRequest(cmd)
	if err != nil {
		t.Fatalf("encode %T: %v", cmd, err)
	}
	e.process(t, string(cmd.Meta().CartID), value)
}

// process writes a raw request and its outcome, deciding as
// validation/session.go does: decode, check the key, cart.Process.
func (e *verifyEnv) process(t *testing.T, key string, value []byte) {
	t.Helper()
	tp := e.produceRequest(t, key, value)
	p := tp.Partition
	e.clock = e.clock.Add(time.Millisecond)
	cmd, err := e.rec.DecodeRequest(value)
	if err == nil && string(cmd.Meta().CartID) != key {
		err = fmt.Errorf("record key does not match cart id %q", cmd.Meta().CartID)
	}
	if err != nil {
		inv := cart.InvalidRequest{DecidedAt: e.clock, Rejection: cart.Rejection{Reason: cart.ReasonMalformed, Message: err.Error()}, Raw: value}
		if id := cart.CartID(key); id.Validate() == nil {
			inv.CartID = id
		}
		e.produceTxn(t, e.set.Invalid, p, key, e.encodeInvalid(t, inv))
		return
	}
	id := cmd.Meta().CartID
	snap, ok := e.snaps[id]
	if !ok {
		snap = cart.NewSnapshot(id)
	}
	next, out := cart.Process(snap, cmd, int64(tp.Offset), e.catalog, cart.Limits{}, e.clock)
	switch out.Disposition {
	case cart.DispositionAccepted:
		for _, ev := range out.Events {
			v, err := e.rec.EncodeValidated(ev)
			if err != nil {
				t.Fatalf("encode %s: %v", ev.EventType(), err)
			}
			e.produceTxn(t, e.set.Validated, p, key, v)
			e.validated = append(e.validated, writtenRecord{partition: p, key: key, value: v, requestID: ev.Meta().RequestID})
			if co, ok := ev.(cart.CartCheckedOut); ok {
				o := cart.OrderOf(co)
				ov, err := e.rec.EncodeOrder(o)
				if err != nil {
					t.Fatalf("encode order: %v", err)
				}
				e.produceTxn(t, e.set.Orders, 0, string(o.OrderID), ov)
			}
		}
	case cart.DispositionRejected:
		e.produceTxn(t, e.set.Invalid, p, key, e.encodeInvalid(t, *out.Invalid))
	case cart.DispositionDuplicate:
	default:
		t.Fatalf("unexpected disposition %v", out.Disposition)
	}
	e.snaps[id] = next
	sv, err := e.rec.EncodeSnapshot(next)
	if err != nil {
		t.Fatalf("encode snapshot: %v", err)
	}
	e.produceTxn(t, e.set.State, p, key, sv)
}

func (e *verifyEnv) encodeInvalid(t *testing.T, inv cart.InvalidRequest) []byte {
	t.Helper()
	v, err := e.rec.EncodeInvalid(inv)
	if err != nil {
		t.Fatalf("encode invalid: %v", err)
	}
	return v
}

func (e *verifyEnv) verify(t *testing.T) verify.Report {
	t.Helper()
	return verifyHistory(t, e.c, e.set, e.rec)
}

// verifyHistory runs the exactly-once verifier over set's cart topics (read
// to the end offsets at the call) and returns its report; it fails the test
// only when the read itself fails or reports no complete progress. Tests
// that drive the real manager call it after their load.
func verifyHistory(t *testing.T, c *kafkatest.Cluster, set topics.Set, rec *records.Codec) verify.Report {
	t.Helper()
	var last verify.Progress
	progressed := 0
	in, err := verify.Read(withTimeout(t, 2*time.Minute), verify.Config{
		Client:      kafka.ConfigMap{"bootstrap.servers": c.Brokers()},
		Topics:      set,
		Decoder:     rec,
		IdleTimeout: time.Minute,
		Logger:      testLogger(t),
		Progress: func(p verify.Progress) {
			progressed++
			last = p
		},
	})
	if err != nil {
		t.Fatalf("verify.Read: %v", err)
	}
	t.Logf("read: %s", last)
	if progressed == 0 || !last.Done || len(last.Topics) != 7 || !in.OrdersRead || !in.InventoryRead {
		t.Errorf("final progress %+v after %d reports, want done over 7 topics (orders and the stock side included)", last, progressed)
	}
	for _, tp := range last.Topics {
		if !tp.Done || tp.Offsets != tp.Total {
			t.Errorf("topic %s: progress %+v, want done with every offset passed", tp.Topic, tp)
		}
	}
	return verify.Check(in)
}

func TestVerifyRealBroker(t *testing.T) {
	e := newVerifyEnv(t)
	ctx := withTimeout(t, time.Minute)

	// One committed transaction with the outcomes of a small history that
	// hits every rule of the window and every kind of outcome.
	if err := e.txn.BeginTransaction(); err != nil {
		t.Fatalf("begin: %v", err)
	}
	at := time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC)
	for _, cmd := range []cart.Command{
		cart.AddItem{CartID: "cart-a", RequestID: "a1", CustomerID: "u-a", RequestedAt: at, SKU: "apple", Quantity: 2},
		cart.AddItem{CartID: "cart-a", RequestID: "a2", CustomerID: "u-a", RequestedAt: at, SKU: "pear", Quantity: 1},
		cart.AddItem{CartID: "cart-a", RequestID: "a1", CustomerID: "u-a", RequestedAt: at, SKU: "apple", Quantity: 2}, // retry
		cart.AddItem{CartID: "cart-a", RequestID: "a2", CustomerID: "u-a", RequestedAt: at, SKU: "apple", Quantity: 9}, // reused id
		cart.AddItem{CartID: "cart-a", RequestID: "a3", CustomerID: "u-a", RequestedAt: at, SKU: "plum", Quantity: 1},  // inactive
		cart.ChangeQuantity{CartID: "cart-a", RequestID: "a4", RequestedAt: at, SKU: "apple", Quantity: 3},
		cart.Checkout{CartID: "cart-a", RequestID: "a5", CustomerID: "u-a", RequestedAt: at},
		cart.AddItem{CartID: "cart-b", RequestID: "b1", CustomerID: "u-b", RequestedAt: at, SKU: "pear", Quantity: 1},
		cart.RemoveItem{CartID: "cart-b", RequestID: "b2", RequestedAt: at, SKU: "pear"},
		cart.RemoveItem{CartID: "cart-b", RequestID: "b3", RequestedAt: at, SKU: "pear"}, // no such line
		cart.AddItem{CartID: "cart-c", RequestID: "c1", CustomerID: "u-c", RequestedAt: at, SKU: "apple", Quantity: 1},
		cart.AddItem{CartID: "cart-d", RequestID: "d1", CustomerID: "u-d", RequestedAt: at, SKU: "apple", Quantity: 1},
	} {
		e.send(t, cmd)
	}
	e.process(t, "cart-b", []byte("not an avro record"))
	mismatched, err := e.rec.EncodeRequest(cart.Checkout{CartID: "cart-z", RequestID: "z1", CustomerID: "u-z", RequestedAt: at})
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	e.process(t, "cart-c", mismatched) // key is not the command's cart: MALFORMED
	if err := e.txn.CommitTransaction(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}

	// An aborted transaction holding a doubled event: read_committed must
	// not see it.
	if err := e.txn.BeginTransaction(); err != nil {
		t.Fatalf("begin: %v", err)
	}
	first := e.validated[0]
	e.produceTxn(t, e.set.Validated, first.partition, first.key, first.value)
	if left := e.txn.Flush(30_000); left != 0 { // on the broker's log, not just purged
		t.Fatalf("%d records not flushed before abort", left)
	}
	if err := e.txn.AbortTransaction(ctx); err != nil {
		t.Fatalf("abort: %v", err)
	}

	r := e.verify(t)
	if !r.Clean() {
		t.Fatalf("consistent history reported dirty:\n%s", reportText(r))
	}
	s := r.Summary
	if s.Requests != 14 || s.Carts != 4 || s.Validated != 8 || s.Invalid != 5 || s.Malformed != 2 || s.Retries != 1 || s.Reused != 1 || s.Snapshots != 4 {
		t.Errorf("summary %+v, want 14 requests, 4 carts, 8 validated, 5 invalid, 2 malformed, 1 retry, 1 reused, 4 snapshots", s)
	}

	// A zombie writes an event again, committed this time.
	dup := e.validated[len(e.validated)-1]
	if err := e.txn.BeginTransaction(); err != nil {
		t.Fatalf("begin: %v", err)
	}
	e.produceTxn(t, e.set.Validated, dup.partition, dup.key, dup.value)
	if err := e.txn.CommitTransaction(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	r = e.verify(t)
	if got := r.Count(verify.KindDuplicateOutcome); got != 1 || r.Count(verify.KindVersionRepeat) != 1 || len(r.Violations) != 2 {
		t.Fatalf("after a doubled event: want one DuplicateOutcome and one VersionRepeat, got\n%s", reportText(r))
	}
	for _, v := range r.Violations {
		if v.CartID != cart.CartID(dup.key) || v.RequestID != dup.requestID || v.Partition != dup.partition || v.Topic != e.set.Validated {
			t.Errorf("violation not located at %s/%s partition %d: %v", dup.key, dup.requestID, dup.partition, v)
		}
	}
}

func reportText(r verify.Report) string {
	var b strings.Builder
	_ = r.WriteText(&b, 0)
	return b.String()
}
