package globaltable

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kfake"
)

// slowFetch makes the broker hold a fetch that finds nothing for 10 s: a
// table that waited for such an answer on an empty partition would not be
// ready within the tests' 5 s.
const slowFetch = 10000

func cluster(t *testing.T, topic string, partitions int32) kafka.ConfigMap {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return kafka.ConfigMap{"bootstrap.servers": c.ListenAddrs()[0]}
}

func run(t *testing.T, client kafka.ConfigMap, topic string, applied *atomic.Int64) *Table {
	t.Helper()
	cfg := client
	cfg["fetch.wait.max.ms"] = slowFetch
	tab, err := New(Config{Client: cfg, Topic: topic, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Apply: func(Record) error { applied.Add(1); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- tab.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return tab
}

// A table whose topic holds nothing is ready at once, not after the
// broker's answer to a fetch that finds nothing.
func TestEmptyTableIsReadyWithoutWaitingForAFetch(t *testing.T) {
	var applied atomic.Int64
	tab := run(t, cluster(t, "stock", 4), "stock", &applied)
	select {
	case <-tab.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("an empty table not ready within 5 s")
	}
}

// With records in some partitions the table is ready only once they are
// applied (the empty partitions wait for nothing; how soon the others
// come depends on which partitions librdkafka's first fetch carries, so
// the bound here is the slow fetch's, and the test is of the order).
func TestTableIsReadyOnceItsRecordsAreApplied(t *testing.T) {
	client := cluster(t, "catalog", 4)
	prod, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": client["bootstrap.servers"]})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	topic := "catalog"
	for i, key := range []string{"a", "b", "c"} {
		done := make(chan kafka.Event, 1)
		if err := prod.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: int32(i % 2)}, Key: []byte(key), Value: []byte("v")}, done); err != nil {
			t.Fatal(err)
		}
		if m := (<-done).(*kafka.Message); m.TopicPartition.Error != nil {
			t.Fatal(m.TopicPartition.Error)
		}
	}
	var applied atomic.Int64
	tab := run(t, client, topic, &applied)
	select {
	case <-tab.Ready():
	case <-time.After(3 * slowFetch * time.Millisecond):
		t.Fatal("a table of three records not ready within three slow fetches")
	}
	if n := applied.Load(); n != 3 {
		t.Fatalf("ready with %d records applied, want 3", n)
	}
}
