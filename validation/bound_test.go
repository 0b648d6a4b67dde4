package validation

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	keyhash "github.com/cartstream/cartstream/internal/partition"
	"github.com/cartstream/cartstream/internal/records"
	"github.com/cartstream/cartstream/internal/topics"
)

const validTP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// keyIn returns a cart id that hashes to partition p of n.
func keyIn(tb testing.TB, p int32, n int) []byte {
	tb.Helper()
	for i := range 1000 {
		if k := []byte(fmt.Sprintf("cart-%d", i)); keyhash.For(k, n) == p {
			return k
		}
	}
	tb.Fatalf("no cart id for partition %d of %d", p, n)
	return nil
}

func msgIn(p int32, key, value []byte, hdrs ...kafka.Header) *kafka.Message {
	topic := "cart.requests"
	return &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: p, Offset: 42}, Key: key, Value: value, Headers: hdrs}
}

func TestOutcomeKey(t *testing.T) {
	const n = 3
	home := keyIn(t, 1, n)
	away := keyIn(t, 2, n)
	for _, c := range []struct {
		name string
		key  []byte
		n    int
		want []byte
	}{
		{"cart id in its partition", home, n, home},
		{"cart id of another partition", away, n, nil},
		{"partition count unknown", away, 0, away},
		{"nil key", nil, n, nil},
		{"empty key", []byte{}, n, nil},
		{"not a cart id", []byte("no spaces allowed"), n, nil},
		{"one byte too long", bytes.Repeat([]byte("a"), cart.MaxIDLength+1), 0, nil},
		{"a megabyte", bytes.Repeat([]byte("a"), 1<<20), 0, nil},
	} {
		if got := outcomeKey(c.key, 1, c.n); !bytes.Equal(got, c.want) || (c.want == nil) != (got == nil) {
			t.Errorf("%s: outcomeKey = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestCopiedHeaders(t *testing.T) {
	h := func(k, v string) kafka.Header { return kafka.Header{Key: k, Value: []byte(v)} }
	huge := strings.Repeat("a", 1<<20)
	for _, c := range []struct {
		name          string
		hdrs          []kafka.Header
		wantID, wantT string
	}{
		{"valid", []kafka.Header{h(HeaderRequestID, "r-1"), h(HeaderTraceparent, validTP)}, "r-1", validTP},
		{"absent", nil, "", ""},
		{"huge", []kafka.Header{h(HeaderRequestID, huge), h(HeaderTraceparent, huge)}, "", ""},
		{"invalid id", []kafka.Header{h(HeaderRequestID, "r 1")}, "", ""},
		{"first of duplicates", []kafka.Header{h(HeaderRequestID, "r-1"), h(HeaderRequestID, "r-2"), h(HeaderTraceparent, validTP), h(HeaderTraceparent, "00-"+strings.Repeat("1", 32)+"-"+strings.Repeat("1", 16)+"-00")}, "r-1", validTP},
		{"first of duplicates is bad", []kafka.Header{h(HeaderRequestID, huge), h(HeaderRequestID, "r-2")}, "", ""},
		{"traceparent upper case", []kafka.Header{h(HeaderTraceparent, strings.ToUpper(validTP))}, "", ""},
		{"traceparent zero trace id", []kafka.Header{h(HeaderTraceparent, "00-"+strings.Repeat("0", 32)+"-00f067aa0ba902b7-01")}, "", ""},
		{"traceparent zero parent id", []kafka.Header{h(HeaderTraceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-"+strings.Repeat("0", 16)+"-01")}, "", ""},
		{"traceparent version ff", []kafka.Header{h(HeaderTraceparent, "ff"+validTP[2:])}, "", ""},
		{"traceparent too long", []kafka.Header{h(HeaderTraceparent, validTP+"-x")}, "", ""},
	} {
		m := msgIn(0, nil, nil, c.hdrs...)
		if got := requestIDHeader(m); got != c.wantID {
			t.Errorf("%s: request id %.80q, want %q", c.name, got, c.wantID)
		}
		if got := traceparentHeader(m); got != c.wantT {
			t.Errorf("%s: traceparent %.80q, want %q", c.name, got, c.wantT)
		}
	}
}

func TestBoundText(t *testing.T) {
	for _, c := range []struct {
		name, in string
		n        int
	}{
		{"short", "decode failed", 100},
		{"long", strings.Repeat("x", 5000), MaxMalformedMessage},
		{"invalid utf-8", "bad \xff\xfe bytes", 100},
		{"cut inside a rune", strings.Repeat("é", 1000), 101},
	} {
		got := boundText(c.in, c.n)
		if len(got) > c.n || !utf8.ValidString(got) {
			t.Errorf("%s: %d bytes (cap %d), valid UTF-8 %t", c.name, len(got), c.n, utf8.ValidString(got))
		}
		if len(c.in) > c.n && !strings.HasSuffix(got, "(truncated)") {
			t.Errorf("%s: a cut text is not marked: %.40q", c.name, got)
		}
	}
	if got := boundText("decode failed", 100); got != "decode failed" {
		t.Errorf("a short valid text changed: %q", got)
	}
}

// testWorker is a worker whose manager never connects: enough to decide
// records and build outcomes.
func testWorker(t *testing.T) (*worker, *records.Codec) {
	t.Helper()
	rec, err := records.New(records.Config{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{
		Client: kafka.ConfigMap{"bootstrap.servers": "127.0.0.1:1"}, Topics: topics.DefaultSet(), InstanceID: "t",
		Records: rec, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &worker{m: m}, rec
}

func testJob(p int32, n int) *job {
	return &job{partitions: n, parts: map[int32]*partition{p: {id: p, state: &partitionState{carts: map[cart.CartID]cart.Snapshot{}}}}}
}

func outcomeSize(m *kafka.Message) int {
	n := len(m.Key) + len(m.Value)
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// Issue 11: a MALFORMED outcome copied the input's key (and headers) whole,
// so a record near the broker's limit made an outcome the producer refused.
func TestMalformedOutcomeFits(t *testing.T) {
	w, rec := testWorker(t)
	huge := bytes.Repeat([]byte{0xC3}, 1<<20)
	msg := msgIn(1, huge, huge,
		kafka.Header{Key: HeaderRequestID, Value: huge}, kafka.Header{Key: HeaderTraceparent, Value: huge})
	b, j := &batchTxn{}, testJob(1, 3)
	if err := w.malformed(b, j, msg, errors.New(string(huge)), time.Now()); err != nil {
		t.Fatal(err)
	}
	if len(b.out) != 1 {
		t.Fatalf("%d outcomes, want 1", len(b.out))
	}
	out := &b.out[0]
	// The bound: the raw prefix plus a few KiB, far below the producers'
	// message.max.bytes.
	if size := outcomeSize(out); size > MaxMalformedRaw+4<<10 || size > MaxOutcomeBytes {
		t.Fatalf("outcome of %d bytes", size)
	}
	if out.Key != nil {
		t.Errorf("outcome key %.40q, want none", out.Key)
	}
	inv, err := rec.DecodeInvalid(out.Value)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Rejection.Reason != cart.ReasonMalformed || len(inv.Raw) != MaxMalformedRaw || len(inv.Rejection.Message) > MaxMalformedMessage+100 {
		t.Errorf("outcome: reason %s, %d raw bytes, %d message bytes", inv.Rejection.Reason, len(inv.Raw), len(inv.Rejection.Message))
	}
	for _, h := range out.Headers {
		if h.Key == HeaderRequestID || h.Key == HeaderTraceparent {
			t.Errorf("header %s copied (%d bytes)", h.Key, len(h.Value))
		}
	}
}

// Issue 11: a request whose cart hashes to another partition was decided
// against a state that is not its cart's.
func TestMisplacedRequestIsMalformed(t *testing.T) {
	w, rec := testWorker(t)
	const n = 3
	key := keyIn(t, 2, n)
	value, err := rec.EncodeRequest(cart.AddItem{
		CartID: cart.CartID(key), RequestID: "r-1", CustomerID: "c", RequestedAt: time.Now(), SKU: "SKU-A", Quantity: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	b, j := &batchTxn{overlay: map[cart.CartID]*pending{}}, testJob(0, n)
	id, snap, err := w.handle(j, b, msgIn(0, key, value, kafka.Header{Key: HeaderRequestID, Value: []byte("r-1")}), time.Now())
	if err != nil || id != "" || snap != nil {
		t.Fatalf("handle = %q, %v, %v; want a MALFORMED that touches no cart", id, snap, err)
	}
	if len(b.out) != 1 || *b.out[0].TopicPartition.Topic != w.m.cfg.Topics.Invalid || b.out[0].Key != nil || b.out[0].TopicPartition.Partition != 0 {
		t.Fatalf("outcomes %+v, want one unkeyed MALFORMED in partition 0", b.out)
	}
	inv, err := rec.DecodeInvalid(b.out[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Rejection.Reason != cart.ReasonMalformed || !strings.Contains(inv.Rejection.Message, "hashes to partition 2 of 3") || inv.CartID != "" {
		t.Fatalf("outcome %+v", inv)
	}
}

// A valid request copies only a valid traceparent into its outcome.
func TestOutcomeDropsHugeTraceparent(t *testing.T) {
	w, rec := testWorker(t)
	key := keyIn(t, 0, 1)
	value, err := rec.EncodeRequest(cart.AddItem{
		CartID: cart.CartID(key), RequestID: "r-1", CustomerID: "c", RequestedAt: time.Now(), SKU: "SKU-A", Quantity: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	b, j := &batchTxn{overlay: map[cart.CartID]*pending{}}, testJob(0, 1)
	msg := msgIn(0, key, value, kafka.Header{Key: HeaderTraceparent, Value: bytes.Repeat([]byte("0"), 900_000)})
	if _, _, err := w.handle(j, b, msg, time.Now()); err != nil {
		t.Fatal(err)
	}
	if len(b.out) != 1 || outcomeSize(&b.out[0]) > 4<<10 { // UNKNOWN_SKU: the catalog is empty
		t.Fatalf("outcomes %d, first of %d bytes", len(b.out), outcomeSize(&b.out[0]))
	}
}

// Defence in depth: an outcome refused as too large aborts its
// transaction (not the session), and the request's next attempt gets a
// minimal MALFORMED.
func TestOutcomeTooLargeIsNotFatal(t *testing.T) {
	w, rec := testWorker(t)
	prod, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": "127.0.0.1:1", "message.max.bytes": 1000, "batch.size": 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	go func() {
		for range prod.Events() {
		}
	}()
	w.prod = prod
	b := &batchTxn{}
	b.add(w.m.cfg.Topics.Invalid, 1, nil, make([]byte, 2000), outcomeHeaders("", "MalformedRequest", "", 7))
	err = w.produce(&b.out[0])
	if err == nil || errors.Is(err, errSessionFatal) || !isTooLarge(err) {
		t.Fatalf("produce of an oversized outcome: %v; want a size error that is not fatal", err)
	}
	b.add(w.m.cfg.Topics.State, 1, []byte("c"), make([]byte, 2000), nil) // a snapshot: our own bug
	if err := w.produce(&b.out[1]); !errors.Is(err, errSessionFatal) {
		t.Fatalf("produce of an oversized snapshot: %v; want fatal", err)
	}

	b2, j := &batchTxn{overlay: map[cart.CartID]*pending{}}, testJob(1, 3)
	msg := msgIn(1, nil, []byte("anything"))
	msg.TopicPartition.Offset = 7
	if _, _, err := w.handle(j, b2, msg, time.Now()); err != nil {
		t.Fatal(err)
	}
	inv, err := rec.DecodeInvalid(b2.out[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Rejection.Message != malformedTooLarge || len(inv.Raw) != 0 {
		t.Fatalf("second attempt: %+v, want the minimal MALFORMED", inv)
	}
	if w.m.oversized.take(1, 7) {
		t.Fatal("the request is still marked after its minimal outcome")
	}
}

// A delivery report refusing an outcome as too large marks its request;
// any other failure, or a record that answers no request, does not.
func TestOversizedDeliveryReports(t *testing.T) {
	topic := "cart.invalid"
	report := func(code kafka.ErrorCode, opaque any) *kafka.Message {
		err := kafka.NewError(code, "delivery failed", false)
		return &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 2, Error: err}, Opaque: opaque}
	}
	var o oversized
	o.noteDelivery(report(kafka.ErrMsgSizeTooLarge, requestPos{2, 9}))
	o.noteDelivery(report(kafka.ErrRecordListTooLarge, requestPos{2, 10}))
	o.noteDelivery(report(kafka.ErrNotLeaderForPartition, requestPos{2, 11}))
	o.noteDelivery(report(kafka.ErrMsgSizeTooLarge, nil)) // a snapshot, or an event
	if !o.take(2, 9) || !o.take(2, 10) || o.take(2, 11) {
		t.Fatal("marks differ from the size refusals")
	}
	if o.take(2, 9) {
		t.Fatal("a mark is taken once")
	}
}
