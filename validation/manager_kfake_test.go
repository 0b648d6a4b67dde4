package validation_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/records"
	"github.com/cartstream/cartstream/internal/topics"
	"github.com/cartstream/cartstream/validation"
)

// The hermetic tier: the manager against kfake, the in-memory Kafka that
// `make run` uses. It proves the development broker speaks everything the
// manager needs (transactions, KIP-447 offsets, static membership,
// read_committed); the guarantees themselves are proved against Apache
// Kafka in integration/.
func TestManagerOnEmbeddedBroker(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	client := kafka.ConfigMap{"bootstrap.servers": cluster.ListenAddrs()[0]}
	set := topics.DefaultSet()
	admin, err := kafka.NewAdminClient(&client)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if _, err := topics.Ensure(ctx, admin, set, topics.Config{Partitions: 2}); err != nil {
		t.Fatalf("ensure topics: %v", err)
	}
	rec, err := records.New(records.Config{})
	if err != nil {
		t.Fatal(err)
	}
	prod, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": cluster.ListenAddrs()[0], "partitioner": "murmur2_random"})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	produce := func(topic string, key, value []byte) {
		t.Helper()
		done := make(chan kafka.Event, 1)
		if err := prod.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny}, Key: key, Value: value}, done); err != nil {
			t.Fatal(err)
		}
		if m := (<-done).(*kafka.Message); m.TopicPartition.Error != nil {
			t.Fatal(m.TopicPartition.Error)
		}
	}
	p, _ := rec.EncodeProduct(cart.Product{SKU: "SKU-A", Name: "Cup", UnitPrice: cart.Money{Amount: 1000, Currency: "EUR"}, Active: true})
	produce(set.Catalog, []byte("SKU-A"), p)

	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, c := range []cart.Command{
		cart.AddItem{CartID: "k1", RequestID: "r1", CustomerID: "c", RequestedAt: at, SKU: "SKU-A", Quantity: 2},
		cart.ChangeQuantity{CartID: "k1", RequestID: "r2", RequestedAt: at, SKU: "SKU-A", Quantity: 3},
		cart.AddItem{CartID: "k1", RequestID: "r3", CustomerID: "c", RequestedAt: at, SKU: "SKU-NOPE", Quantity: 1},
		cart.Checkout{CartID: "k1", RequestID: "r4", CustomerID: "c", RequestedAt: at},
	} {
		v, err := rec.EncodeRequest(c)
		if err != nil {
			t.Fatal(err)
		}
		produce(set.Requests, []byte(c.Meta().CartID), v)
	}
	produce(set.Requests, []byte("k1"), []byte("garbage"))

	m, err := validation.New(validation.Config{
		Client: client, Topics: set, InstanceID: "hermetic", Records: rec,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	deadline := time.Now().Add(90 * time.Second)
	for {
		s := m.Stats().Snapshot()
		if s.Accepted == 3 && s.Rejected == 1 && s.Malformed == 1 && s.Commits > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("manager on kfake: stats %+v after 90s", s)
		}
		time.Sleep(50 * time.Millisecond) // polling the manager's counters with a deadline
	}
	// The metrics' committed rejections by reason, and the partitions held.
	if n := m.Stats().RejectedBy(cart.ReasonUnknownSKU); n != 1 {
		t.Errorf("rejections UNKNOWN_SKU = %d, want 1", n)
	}
	if n := m.Stats().OwnedPartitions.Load(); n != 2 {
		t.Errorf("owned partitions = %d, want 2", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}
