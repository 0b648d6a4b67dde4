package integration

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/internal/kafkatest"
)

// produceAll writes records with an idempotent producer and fails the test
// unless every one is acknowledged.
func produceAll(tb testing.TB, c *kafkatest.Cluster, topic string, recs []kv) {
	tb.Helper()
	p, err := kafka.NewProducer(c.ProducerConfig(kafka.ConfigMap{"enable.idempotence": true, "acks": "all", "linger.ms": 5}))
	if err != nil {
		tb.Fatalf("new producer: %v", err)
	}
	defer p.Close()
	done := make(chan kafka.Event, len(recs))
	for _, r := range recs {
		msg := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny}, Key: []byte(r.k), Value: []byte(r.v)}
		if err := p.Produce(msg, done); err != nil {
			tb.Fatalf("produce: %v", err)
		}
	}
	for range recs {
		select {
		case ev := <-done:
			if m, ok := ev.(*kafka.Message); !ok || m.TopicPartition.Error != nil {
				tb.Fatalf("delivery failed: %v", ev)
			}
		case <-time.After(30 * time.Second):
			tb.Fatal("no delivery report within 30s")
		}
	}
}

type kv struct{ k, v string }

// readToEnd assigns every partition of topic from the beginning and returns
// what the isolation level lets through, up to the end of each partition
// (the last stable offset for read_committed), as reported by partition EOF.
func readToEnd(tb testing.TB, c *kafkatest.Cluster, topic string, partitions int, isolation string) []*kafka.Message {
	tb.Helper()
	cons, err := kafka.NewConsumer(c.Config(kafka.ConfigMap{
		"group.id":             kafkatest.UniqueName(tb, "reader"),
		"isolation.level":      isolation,
		"enable.auto.commit":   false,
		"enable.partition.eof": true,
	}))
	if err != nil {
		tb.Fatalf("new consumer: %v", err)
	}
	defer cons.Close()
	tps := make([]kafka.TopicPartition, partitions)
	for i := range tps {
		tps[i] = kafka.TopicPartition{Topic: &topic, Partition: int32(i), Offset: kafka.OffsetBeginning}
	}
	if err := cons.Assign(tps); err != nil {
		tb.Fatalf("assign: %v", err)
	}
	var out []*kafka.Message
	eof := map[int32]bool{}
	deadline := time.Now().Add(60 * time.Second)
	for len(eof) < partitions {
		if time.Now().After(deadline) {
			tb.Fatalf("read %s (%s): only %d of %d partitions reached their end within 60s", topic, isolation, len(eof), partitions)
		}
		switch ev := cons.Poll(100).(type) {
		case *kafka.Message:
			out = append(out, ev)
			delete(eof, ev.TopicPartition.Partition)
		case kafka.PartitionEOF:
			eof[ev.Partition] = true
		case kafka.Error:
			tb.Fatalf("read %s: %v", topic, ev)
		}
	}
	return out
}

// drainEvents serves a producer's Events channel until it is closed; librdkafka
// needs it served for delivery reports and CommitTransaction's flush.
func drainEvents(tb testing.TB, p *kafka.Producer) (failed func() []error, wait func()) {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ev := range p.Events() {
			if m, ok := ev.(*kafka.Message); ok && m.TopicPartition.Error != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("deliver to %v: %w", m.TopicPartition, m.TopicPartition.Error))
				mu.Unlock()
			}
		}
	}()
	return func() []error { mu.Lock(); defer mu.Unlock(); return append([]error(nil), errs...) }, wg.Wait
}

func withTimeout(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// dumpGoroutines writes every goroutine's stack of this test process to a
// file in the system's temporary directory and returns its path: a stalled
// in-process service (a manager that stops committing or does not stop)
// leaves the evidence of where it waits.
func dumpGoroutines(t testing.TB, why string) string {
	t.Helper()
	f, err := os.CreateTemp("", "cartstream-stacks-*.txt")
	if err != nil {
		return "(no dump: " + err.Error() + ")"
	}
	defer f.Close()
	fmt.Fprintf(f, "%s: %s at %s\n\n", t.Name(), why, time.Now().Format(time.RFC3339Nano))
	_ = pprof.Lookup("goroutine").WriteTo(f, 2)
	return f.Name()
}

// waitBound marks a test that spends most of its time waiting on Kafka
// (session timeouts, rebalances, transaction timeouts, a broker of its
// own starting) and shares nothing but the shared broker with the others:
// it runs beside the other such tests once the sequential ones are done,
// so make test stays within its time (the Makefile's -parallel bounds how
// many at once). A test that kills the shared broker, measures timing or
// reads process-wide state must not call it.
func waitBound(t *testing.T) { t.Parallel() }
