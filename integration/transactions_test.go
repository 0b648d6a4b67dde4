package integration

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/internal/kafkatest"
)

// The exactly-once pattern the AddItemManager is built on, proved against
// the real broker: consume read_committed in a group, produce to two topics
// and send the consumed offsets in one transaction per batch, commit.
func TestTransactionalReadProcessWrite(t *testing.T) {
	c := kafkatest.Get(t)
	const partitions, n, batch = 3, 300, 40
	topics := c.Topics(t, kafkatest.TopicSpec{Partitions: partitions}, "in", "upper", "length")
	in, upper, length := topics[0], topics[1], topics[2]

	recs := make([]kv, n)
	for i := range recs {
		recs[i] = kv{fmt.Sprintf("cart-%d", i%17), fmt.Sprintf("item-%03d", i)}
	}
	produceAll(t, c, in, recs)

	group := kafkatest.UniqueName(t, "group")
	cons, err := kafka.NewConsumer(c.Config(kafka.ConfigMap{
		"group.id":           group,
		"isolation.level":    "read_committed",
		"enable.auto.commit": false,
		"auto.offset.reset":  "earliest",
	}))
	if err != nil {
		t.Fatalf("new consumer: %v", err)
	}
	defer cons.Close()
	if err := cons.Subscribe(in, nil); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	prod, err := kafka.NewProducer(c.ProducerConfig(kafka.ConfigMap{
		"transactional.id":       kafkatest.UniqueName(t, "txn"),
		"transaction.timeout.ms": 30000,
	}))
	if err != nil {
		t.Fatalf("new transactional producer: %v", err)
	}
	failed, wait := drainEvents(t, prod)
	defer func() { prod.Close(); wait() }()
	ctx := withTimeout(t, 2*time.Minute)
	if err := prod.InitTransactions(ctx); err != nil {
		t.Fatalf("init transactions: %v", err)
	}

	processed, commits := 0, 0
	deadline := time.Now().Add(90 * time.Second)
	for processed < n {
		if time.Now().After(deadline) {
			t.Fatalf("processed %d of %d records before the deadline", processed, n)
		}
		var msgs []*kafka.Message
		for len(msgs) < batch {
			ev := cons.Poll(100)
			if ev == nil {
				break
			}
			switch e := ev.(type) {
			case *kafka.Message:
				msgs = append(msgs, e)
			case kafka.Error:
				t.Fatalf("consume: %v", e)
			}
		}
		if len(msgs) == 0 {
			continue
		}
		if err := prod.BeginTransaction(); err != nil {
			t.Fatalf("begin: %v", err)
		}
		next := map[int32]kafka.Offset{}
		for _, m := range msgs {
			v := string(m.Value)
			for _, out := range []kafka.Message{
				{TopicPartition: kafka.TopicPartition{Topic: &upper, Partition: kafka.PartitionAny}, Key: m.Key, Value: []byte(strings.ToUpper(v))},
				{TopicPartition: kafka.TopicPartition{Topic: &length, Partition: kafka.PartitionAny}, Key: m.Key, Value: fmt.Appendf(nil, "%s=%d", v, len(v))},
			} {
				if err := prod.Produce(&out, nil); err != nil {
					t.Fatalf("produce: %v", err)
				}
			}
			next[m.TopicPartition.Partition] = m.TopicPartition.Offset + 1
		}
		offsets := make([]kafka.TopicPartition, 0, len(next))
		for p, o := range next {
			offsets = append(offsets, kafka.TopicPartition{Topic: &in, Partition: p, Offset: o})
		}
		meta, err := cons.GetConsumerGroupMetadata()
		if err != nil {
			t.Fatalf("group metadata: %v", err)
		}
		if err := prod.SendOffsetsToTransaction(ctx, offsets, meta); err != nil {
			t.Fatalf("send offsets: %v", err)
		}
		if err := prod.CommitTransaction(ctx); err != nil {
			t.Fatalf("commit: %v", err)
		}
		processed += len(msgs)
		commits++
	}
	if errs := failed(); len(errs) > 0 {
		t.Fatalf("delivery failures: %v", errs)
	}
	if processed != n {
		t.Fatalf("processed %d records, want %d", processed, n)
	}
	t.Logf("%d records in %d transactions", n, commits)

	// Every input appears exactly once in each output, as read_committed sees it.
	for _, check := range []struct {
		topic string
		want  func(string) string
	}{
		{upper, strings.ToUpper},
		{length, func(v string) string { return fmt.Sprintf("%s=%d", v, len(v)) }},
	} {
		got := readToEnd(t, c, check.topic, partitions, "read_committed")
		var vals, want []string
		for _, m := range got {
			vals = append(vals, string(m.Value))
		}
		for _, r := range recs {
			want = append(want, check.want(r.v))
		}
		slices.Sort(vals)
		slices.Sort(want)
		if !slices.Equal(vals, want) {
			t.Fatalf("%s holds %d records, want exactly %d, one per input", check.topic, len(vals), len(want))
		}
	}

	// The group's committed offsets cover the whole input: the offsets were
	// committed by the transactions, not by the consumer.
	assigned := make([]kafka.TopicPartition, partitions)
	for i := range assigned {
		assigned[i] = kafka.TopicPartition{Topic: &in, Partition: int32(i)}
	}
	committed, err := cons.Committed(assigned, 10000)
	if err != nil {
		t.Fatalf("committed offsets: %v", err)
	}
	var total int64
	for _, tp := range committed {
		_, high, err := cons.QueryWatermarkOffsets(in, tp.Partition, 10000)
		if err != nil {
			t.Fatalf("watermarks: %v", err)
		}
		if int64(tp.Offset) != high {
			t.Errorf("partition %d: committed offset %v, want the end %d", tp.Partition, tp.Offset, high)
		}
		total += high
	}
	if total != n {
		t.Fatalf("input partitions hold %d records, want %d", total, n)
	}
}

// An aborted transaction's records are on the log but a read_committed
// consumer never sees them; a read_uncommitted one does.
func TestAbortedTransactionIsInvisibleToReadCommitted(t *testing.T) {
	c := kafkatest.Get(t)
	topic := c.Topics(t, kafkatest.TopicSpec{Partitions: 2}, "txn")[0]
	prod, err := kafka.NewProducer(c.ProducerConfig(kafka.ConfigMap{"transactional.id": kafkatest.UniqueName(t, "txn")}))
	if err != nil {
		t.Fatalf("new transactional producer: %v", err)
	}
	failed, wait := drainEvents(t, prod)
	defer func() { prod.Close(); wait() }()
	ctx := withTimeout(t, time.Minute)
	if err := prod.InitTransactions(ctx); err != nil {
		t.Fatalf("init transactions: %v", err)
	}
	send := func(prefix string, count int) {
		for i := range count {
			m := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny}, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "%s-%d", prefix, i)}
			if err := prod.Produce(m, nil); err != nil {
				t.Fatalf("produce: %v", err)
			}
		}
	}

	if err := prod.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	send("aborted", 10)
	// Flush so the aborted records reach the log: otherwise abort could
	// purge them client-side and the test would prove nothing.
	if left := prod.Flush(10000); left != 0 {
		t.Fatalf("%d records not flushed", left)
	}
	if err := prod.AbortTransaction(ctx); err != nil {
		t.Fatalf("abort: %v", err)
	}
	if err := prod.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	send("committed", 5)
	if err := prod.CommitTransaction(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	if errs := failed(); len(errs) > 0 {
		t.Fatalf("delivery failures: %v", errs)
	}

	count := func(msgs []*kafka.Message) (aborted, committed int) {
		for _, m := range msgs {
			switch {
			case strings.HasPrefix(string(m.Value), "aborted-"):
				aborted++
			case strings.HasPrefix(string(m.Value), "committed-"):
				committed++
			default:
				t.Fatalf("unexpected record %q", m.Value)
			}
		}
		return aborted, committed
	}
	if a, cm := count(readToEnd(t, c, topic, 2, "read_committed")); a != 0 || cm != 5 {
		t.Fatalf("read_committed saw %d aborted and %d committed records, want 0 and 5", a, cm)
	}
	if a, cm := count(readToEnd(t, c, topic, 2, "read_uncommitted")); a != 10 || cm != 5 {
		t.Fatalf("read_uncommitted saw %d aborted and %d committed records, want 10 and 5", a, cm)
	}
}
