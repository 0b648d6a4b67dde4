package integration

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/partition"
	"github.com/cartstream/cartstream/validation"
)

// Bounds an outcome must keep whatever its input (issue 11). They are the
// test's own, so it also runs against a manager that does not export them.
const (
	maxOutcomeMessage = 2 << 10   // MALFORMED error text, with its notes
	maxOutcomeRecord  = 1_000_000 // librdkafka's default message.max.bytes
	traceparentLen    = 55
	// recordOverhead is what the broker counts besides key, value and
	// headers: the batch header (61 bytes) and one record's framing.
	recordOverhead = 512
	// headerOverhead is a header's framing (two varints), generously.
	headerOverhead = 8
)

// hostileShape is one kind of record the broker accepts into cart.requests.
type hostileShape struct {
	name string
	// record builds it for partition p; budget is how many bytes of key,
	// value and headers the broker still accepts in one record.
	record func(t *testing.T, p int32, budget int) rawRecord
	// accepted: the record is a valid request whose outcome is an event in
	// cart.validated; otherwise it is MALFORMED in cart.invalid.
	accepted bool
	// traceparent the outcome must carry ("" for none).
	traceparent string
}

// Issue 11: one record near the broker's size limit, with a key larger than
// the producer's message.max.bytes, made its MALFORMED outcome unproducible
// and stopped the manager on every partition for good.
func TestHostileRecordsKeepEveryPartitionFlowing(t *testing.T) {
	const partitions = 3
	e := newCartEnv(t, partitions)
	e.seedCatalog(t, demoProducts()...)
	limit := recordLimit(t, e)
	m, _ := e.startManager(t, e.managerConfig(t, "m1"))
	prod := hostileProducer(t, e, limit)

	shapes := hostileShapes(e, partitions)
	type sent struct {
		shape         hostileShape
		hostile, next kafka.TopicPartition
	}
	var all []sent
	for i, s := range shapes {
		p := int32(i % partitions)
		r := s.record(t, p, limit-recordOverhead)
		hostile := produceTo(t, prod, e.set.Requests, p, r)
		next := e.validIn(t, p, fmt.Sprintf("after-%d", i))
		nextPos := produceTo(t, prod, e.set.Requests, p, next)
		all = append(all, sent{shape: s, hostile: hostile, next: nextPos})
	}
	e.waitDrained(t, 2*time.Minute)

	outcomes := e.outcomesByRequest(t)
	for _, s := range all {
		t.Run(s.shape.name, func(t *testing.T) {
			got := outcomes[requestKey{s.hostile.Partition, int64(s.hostile.Offset)}]
			checkHostileOutcome(t, s.shape, got)
			after := outcomes[requestKey{s.next.Partition, int64(s.next.Offset)}]
			if len(after) != 1 || after[0].topic != e.set.Validated {
				t.Errorf("the valid request after it: %d outcomes (%v), want one event in %s", len(after), topicsOf(after), e.set.Validated)
			}
		})
	}
	st := m.Stats().Snapshot()
	if st.Restarts != 0 {
		t.Errorf("the manager rebuilt its session %d times, want 0", st.Restarts)
	}
	malformed := 0
	for _, s := range shapes {
		if !s.accepted {
			malformed++
		}
	}
	if st.Malformed != int64(malformed) {
		t.Errorf("stats: %d malformed, want %d", st.Malformed, malformed)
	}
}

// checkHostileOutcome asserts one outcome of the expected kind, with every
// field copied from the input bounded.
func checkHostileOutcome(t *testing.T, s hostileShape, got []hostileOutcome) {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("%d outcomes (%v), want exactly one", len(got), topicsOf(got))
	}
	o := got[0]
	if len(o.msg.Key) > 0 && cart.CartID(o.msg.Key).Validate() != nil {
		t.Errorf("outcome key of %d bytes is not a cart id: %.40q", len(o.msg.Key), o.msg.Key)
	}
	if size := recordSize(o.msg); size > maxOutcomeRecord {
		t.Errorf("outcome of %d bytes", size)
	}
	checkOutcomeHeaders(t, o.msg, s.traceparent)
	if s.accepted {
		if o.event == nil {
			t.Fatalf("outcome in %s, want an accepted event", o.topic)
		}
		return
	}
	if o.invalid == nil || o.invalid.Rejection.Reason != cart.ReasonMalformed {
		t.Fatalf("outcome in %s (%+v), want MALFORMED", o.topic, o.invalid)
	}
	if n := len(o.invalid.Raw); n > validation.MaxMalformedRaw {
		t.Errorf("%d raw bytes, cap %d", n, validation.MaxMalformedRaw)
	}
	if n := len(o.invalid.Rejection.Message); n > maxOutcomeMessage || n == 0 {
		t.Errorf("message of %d bytes: %.200q", n, o.invalid.Rejection.Message)
	}
	if id := o.invalid.CartID; id != "" && string(id) != string(o.msg.Key) {
		t.Errorf("MALFORMED names cart %q under key %q", id, o.msg.Key)
	}
}

// checkOutcomeHeaders asserts each header once, and only valid copies of
// the request's request id and traceparent.
func checkOutcomeHeaders(t *testing.T, msg *kafka.Message, traceparent string) {
	t.Helper()
	seen := map[string]int{}
	for _, h := range msg.Headers {
		seen[h.Key]++
		switch h.Key {
		case validation.HeaderRequestID:
			if cart.RequestID(h.Value).Validate() != nil {
				t.Errorf("request-id header of %d bytes is not a request id", len(h.Value))
			}
		case validation.HeaderTraceparent:
			if len(h.Value) != traceparentLen {
				t.Errorf("traceparent header of %d bytes", len(h.Value))
			}
		}
	}
	for k, n := range seen {
		if n > 1 {
			t.Errorf("header %s %d times", k, n)
		}
	}
	if got := headerMap(msg)[validation.HeaderTraceparent]; got != traceparent {
		t.Errorf("traceparent %.60q, want %q", got, traceparent)
	}
}

// hostileShapes are the records the test feeds the manager, each at the
// broker's limit where size is the point.
func hostileShapes(e *cartEnv, partitions int) []hostileShape {
	tp := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	garbage := []byte("this is not avro")
	return []hostileShape{
		{name: "key at the limit", record: func(t *testing.T, p int32, budget int) rawRecord {
			return rawRecord{key: bytes.Repeat([]byte("k"), budget-len(garbage)), value: garbage}
		}},
		{name: "key at the limit with a valid request", record: func(t *testing.T, p int32, budget int) rawRecord {
			r := e.validIn(t, p, "big-key")
			r.key = bytes.Repeat([]byte("k"), budget-len(r.value)-headersSize(r.headers))
			return r
		}},
		{name: "empty key", record: func(t *testing.T, p int32, _ int) rawRecord {
			r := e.validIn(t, p, "empty-key")
			r.key = []byte{}
			return r
		}},
		{name: "nil key", record: func(t *testing.T, p int32, _ int) rawRecord {
			r := e.validIn(t, p, "nil-key")
			r.key = nil
			return r
		}},
		{name: "key not a cart id", record: func(t *testing.T, p int32, _ int) rawRecord {
			r := e.validIn(t, p, "bad-key")
			r.key = []byte("not a cart id! \xff\xfe")
			return r
		}},
		{name: "key one byte over the id limit", record: func(t *testing.T, p int32, _ int) rawRecord {
			return rawRecord{key: bytes.Repeat([]byte("a"), cart.MaxIDLength+1), value: garbage}
		}},
		{name: "value at the limit", record: func(t *testing.T, p int32, budget int) rawRecord {
			key := []byte(cartIn(p, partitions, "value-limit"))
			value := append([]byte{0xC3, 0x01}, bytes.Repeat([]byte{0xFF}, budget-len(key)-2)...)
			return rawRecord{key: key, value: value}
		}},
		{name: "garbage value", record: func(t *testing.T, p int32, _ int) rawRecord {
			return rawRecord{key: []byte(cartIn(p, partitions, "garbage")), value: garbage}
		}},
		{name: "empty value", record: func(t *testing.T, p int32, _ int) rawRecord {
			return rawRecord{key: []byte(cartIn(p, partitions, "empty-value")), value: nil}
		}},
		{name: "valid request of a cart of another partition", record: func(t *testing.T, p int32, _ int) rawRecord {
			return e.validIn(t, (p+1)%int32(partitions), "misplaced")
		}},
		{name: "huge header values on a valid request", accepted: true, record: func(t *testing.T, p int32, budget int) rawRecord {
			r := e.validIn(t, p, "huge-headers")
			half := (budget - len(r.key) - len(r.value) - 4*headerOverhead) / 2
			r.headers = []kafka.Header{
				{Key: validation.HeaderRequestID, Value: bytes.Repeat([]byte("r"), half-len(validation.HeaderRequestID))},
				{Key: validation.HeaderTraceparent, Value: bytes.Repeat([]byte("0"), half-len(validation.HeaderTraceparent))},
			}
			return r
		}},
		{name: "huge header values on garbage", record: func(t *testing.T, p int32, budget int) rawRecord {
			half := (budget - len(garbage) - 4*headerOverhead) / 2
			return rawRecord{key: nil, value: garbage, headers: []kafka.Header{
				{Key: validation.HeaderRequestID, Value: bytes.Repeat([]byte("r"), half-len(validation.HeaderRequestID))},
				{Key: validation.HeaderTraceparent, Value: bytes.Repeat([]byte("0"), half-len(validation.HeaderTraceparent))},
			}}
		}},
		{name: "many duplicated headers", accepted: true, traceparent: tp, record: func(t *testing.T, p int32, budget int) rawRecord {
			r := e.validIn(t, p, "many-headers")
			r.headers = manyHeaders(tp, budget-len(r.key)-len(r.value))
			return r
		}},
		{name: "many duplicated headers on garbage", traceparent: tp, record: func(t *testing.T, p int32, budget int) rawRecord {
			key := []byte(cartIn(p, partitions, "many-headers-garbage"))
			return rawRecord{key: key, value: garbage, headers: manyHeaders(tp, budget-len(key)-len(garbage))}
		}},
	}
}

// manyHeaders fills size bytes with 4,000 headers: request-id and
// traceparent again and again (the first of each valid), and others.
func manyHeaders(tp string, size int) []kafka.Header {
	const n = 4000
	per := size/n - headerOverhead
	hs := []kafka.Header{
		{Key: validation.HeaderRequestID, Value: []byte("first-id")},
		{Key: validation.HeaderTraceparent, Value: []byte(tp)},
	}
	for i := len(hs); i < n; i++ {
		key := []string{validation.HeaderRequestID, validation.HeaderTraceparent, "x-junk"}[i%3]
		hs = append(hs, kafka.Header{Key: key, Value: bytes.Repeat([]byte{byte('a' + i%26)}, max(per-len(key), 0))})
	}
	return hs
}

func headersSize(hs []kafka.Header) int {
	n := 0
	for _, h := range hs {
		n += len(h.Key) + len(h.Value) + headerOverhead
	}
	return n
}

func recordSize(m *kafka.Message) int {
	return len(m.Key) + len(m.Value) + headersSize(m.Headers)
}

// cartIn returns a cart id that hashes to partition p of n.
func cartIn(p int32, n int, prefix string) string {
	for i := 0; ; i++ {
		if id := fmt.Sprintf("%s-%d", prefix, i); partition.For([]byte(id), n) == p {
			return id
		}
	}
}

// validIn is a valid AddItem of a fresh cart of partition p, as the gateway
// writes it.
func (e *cartEnv) validIn(t *testing.T, p int32, prefix string) rawRecord {
	t.Helper()
	id := cartIn(p, e.partitions, prefix)
	recs, err := e.requestRecords([]cart.Command{e.add(id, "req-"+prefix, "SKU-A", 1)})
	if err != nil {
		t.Fatal(err)
	}
	return recs[0]
}

// recordLimit is the largest record the broker accepts into cart.requests:
// the topic's max.message.bytes (which defaults to the broker's
// message.max.bytes), read from the broker rather than assumed.
func recordLimit(t *testing.T, e *cartEnv) int {
	t.Helper()
	admin := e.c.Admin(t)
	md, err := admin.GetMetadata(nil, false, 10_000)
	if err != nil || len(md.Brokers) == 0 {
		t.Fatalf("metadata: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := admin.DescribeConfigs(ctx, []kafka.ConfigResource{
		{Type: kafka.ResourceBroker, Name: strconv.Itoa(int(md.Brokers[0].ID))},
		{Type: kafka.ResourceTopic, Name: e.set.Requests},
	})
	if err != nil {
		t.Fatalf("describe configs: %v", err)
	}
	values := map[kafka.ResourceType]int{}
	for _, r := range res {
		if r.Error.Code() != kafka.ErrNoError {
			t.Fatalf("describe %s %s: %v", r.Type, r.Name, r.Error)
		}
		name := map[kafka.ResourceType]string{kafka.ResourceBroker: "message.max.bytes", kafka.ResourceTopic: "max.message.bytes"}[r.Type]
		if v, err := strconv.Atoi(r.Config[name].Value); err == nil {
			values[r.Type] = v
		}
	}
	broker, ok := values[kafka.ResourceBroker]
	if !ok {
		t.Fatalf("the broker reports no message.max.bytes: %v", res)
	}
	limit := broker
	if v, ok := values[kafka.ResourceTopic]; ok {
		limit = v
	}
	t.Logf("broker message.max.bytes %d, %s max.message.bytes %d", broker, e.set.Requests, values[kafka.ResourceTopic])
	return limit
}

// hostileProducer writes what the broker accepts: its own message.max.bytes
// is raised so that the client does not refuse first.
func hostileProducer(t *testing.T, e *cartEnv, limit int) *kafka.Producer {
	t.Helper()
	p, err := kafka.NewProducer(e.c.ProducerConfig(kafka.ConfigMap{
		"acks": "all", "enable.idempotence": true, "linger.ms": 0, "message.max.bytes": 2 * limit,
	}))
	if err != nil {
		t.Fatalf("hostile producer: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// produceTo writes one record to an explicit partition and waits for the
// broker's acknowledgement.
func produceTo(t *testing.T, p *kafka.Producer, topic string, part int32, r rawRecord) kafka.TopicPartition {
	t.Helper()
	done := make(chan kafka.Event, 1)
	msg := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: part}, Key: r.key, Value: r.value, Headers: r.headers}
	if err := p.Produce(msg, done); err != nil {
		t.Fatalf("produce %d bytes: %v", recordSize(msg), err)
	}
	select {
	case ev := <-done:
		m, ok := ev.(*kafka.Message)
		if !ok || m.TopicPartition.Error != nil {
			t.Fatalf("the broker refused a record of %d bytes: %v", recordSize(msg), ev)
		}
		return m.TopicPartition
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery report within 30s")
	}
	return kafka.TopicPartition{}
}

type requestKey struct {
	partition int32
	offset    int64
}

// hostileOutcome is one record of cart.validated or cart.invalid, raw and
// decoded.
type hostileOutcome struct {
	topic   string
	msg     *kafka.Message
	event   cart.Event
	invalid *cart.InvalidRequest
}

func topicsOf(outs []hostileOutcome) []string {
	out := make([]string, len(outs))
	for i, o := range outs {
		out[i] = o.topic
	}
	return out
}

// outcomesByRequest reads both outcome topics (read_committed) and groups
// their records by the request they answer: partition and request-offset
// header.
func (e *cartEnv) outcomesByRequest(t *testing.T) map[requestKey][]hostileOutcome {
	t.Helper()
	out := map[requestKey][]hostileOutcome{}
	for _, topic := range []string{e.set.Validated, e.set.Invalid} {
		for _, m := range readToEnd(t, e.c, topic, e.partitions, "read_committed") {
			o := hostileOutcome{topic: topic, msg: m}
			var err error
			if topic == e.set.Validated {
				o.event, err = e.rec.DecodeValidated(m.Value)
			} else {
				var inv cart.InvalidRequest
				inv, err = e.rec.DecodeInvalid(m.Value)
				o.invalid = &inv
			}
			if err != nil {
				t.Fatalf("decode %s at %v: %v", topic, m.TopicPartition, err)
			}
			off, err := strconv.ParseInt(headerMap(m)[validation.HeaderRequestOffset], 10, 64)
			if err != nil {
				t.Fatalf("%s at %v: request-offset header: %v", topic, m.TopicPartition, err)
			}
			k := requestKey{m.TopicPartition.Partition, off}
			out[k] = append(out[k], o)
		}
	}
	return out
}
