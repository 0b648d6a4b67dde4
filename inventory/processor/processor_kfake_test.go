package processor_test

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
	"github.com/cartstream/cartstream/inventory"
	"github.com/cartstream/cartstream/inventory/processor"
)

// The hermetic tier: the inventory processor against kfake (the broker of
// `make run`). The last unit goes to the first reservation; a malformed
// record is skipped; a restarted processor restores the levels from
// inventory.stock and goes on from them. The guarantees under crashes are
// proved against Apache Kafka in integration/.
func TestProcessorOnEmbeddedBroker(t *testing.T) {
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
	at := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	send := func(key string, value []byte) {
		t.Helper()
		done := make(chan kafka.Event, 1)
		if err := prod.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &set.Inventory, Partition: kafka.PartitionAny}, Key: []byte(key), Value: value}, done); err != nil {
			t.Fatal(err)
		}
		if m := (<-done).(*kafka.Message); m.TopicPartition.Error != nil {
			t.Fatal(m.TopicPartition.Error)
		}
	}
	request := func(r inventory.Request) {
		t.Helper()
		v, err := rec.EncodeInventoryRequest(r)
		if err != nil {
			t.Fatal(err)
		}
		send(string(r.SKU), v)
	}
	reservation := func(cartID cart.CartID) cart.Reservation {
		return cart.Reservation{ID: cart.ReservationIDOf(cartID, "co", "SKU-A"), CartID: cartID, CheckoutRequestID: "co", SKU: "SKU-A", Quantity: 1}
	}
	request(inventory.Request{Kind: inventory.KindSet, RequestID: "op", SKU: "SKU-A", RequestedAt: at, Units: 1})
	for _, id := range []cart.CartID{"k1", "k2"} {
		r := reservation(id)
		request(inventory.Request{Kind: inventory.KindReserve, RequestID: cart.RequestID(r.ID), SKU: "SKU-A", RequestedAt: at, Reservation: r})
	}
	send("SKU-A", []byte("garbage"))
	adjust := inventory.Request{Kind: inventory.KindAdjust, RequestID: "op-2", SKU: "SKU-A", RequestedAt: at, Units: 2, AdjustmentID: "restock-1"}
	request(adjust)

	run := func(stopWhen func(*processor.Stats) bool) {
		t.Helper()
		p, err := processor.New(processor.Config{Client: client, Topics: set, InstanceID: "hermetic", Records: rec,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		pctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- p.Run(pctx) }()
		deadline := time.Now().Add(90 * time.Second)
		for !stopWhen(p.Stats()) {
			if time.Now().After(deadline) {
				t.Fatalf("processor on kfake: granted %d refused %d malformed %d", p.Stats().Granted.Load(), p.Stats().Refused.Load(), p.Stats().Malformed.Load())
			}
			time.Sleep(50 * time.Millisecond) // polling the processor's counters with a deadline
		}
		stop()
		if err := <-done; err != nil {
			t.Fatalf("run: %v", err)
		}
	}
	run(func(s *processor.Stats) bool {
		return s.Granted.Load() == 1 && s.Refused.Load() == 1 && s.Malformed.Load() == 1 && s.StockChanges.Load() == 2
	})

	// A new incarnation restores SKU-A (2 available, 1 reserved, the
	// adjustment window) and applies the release on top of it; the
	// adjustment sent again (a client's retry) changes nothing.
	r := reservation("k1")
	request(inventory.Request{Kind: inventory.KindRelease, RequestID: cart.RequestID(r.ID), SKU: "SKU-A", RequestedAt: at, Reservation: r})
	request(adjust)
	run(func(s *processor.Stats) bool { return s.Released.Load() == 1 && s.Repeats.Load() == 1 })

	latest := map[cart.SKU]inventory.Level{}
	answers := 0
	for _, m := range readAll(t, client, []string{set.Stock, set.Requests}) {
		switch *m.TopicPartition.Topic {
		case set.Stock:
			l, err := rec.DecodeStockLevel(m.Value)
			if err != nil {
				t.Fatal(err)
			}
			latest[l.SKU] = l
		default:
			if !rec.IsAnswer(m.Value) {
				t.Fatalf("not an answer on %s", set.Requests)
			}
			answers++
		}
	}
	if l := latest["SKU-A"]; l.Available != 3 || l.Reserved != 0 || l.Version != 4 || len(l.Adjustments) != 1 {
		t.Fatalf("SKU-A after set 1, a grant, a refusal, +2 (twice, one id) and a release: %+v", l)
	}
	if answers != 2 {
		t.Fatalf("%d answers, want 2", answers)
	}
}

// readAll reads topics whole (read_committed).
func readAll(t *testing.T, client kafka.ConfigMap, names []string) []*kafka.Message {
	t.Helper()
	cm := kafka.ConfigMap{"group.id": "reader", "isolation.level": "read_committed", "enable.partition.eof": true, "enable.auto.commit": false}
	for k, v := range client {
		cm[k] = v
	}
	cons, err := kafka.NewConsumer(&cm)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var tps []kafka.TopicPartition
	for i := range names {
		for p := range 2 {
			tps = append(tps, kafka.TopicPartition{Topic: &names[i], Partition: int32(p), Offset: kafka.OffsetBeginning})
		}
	}
	if err := cons.Assign(tps); err != nil {
		t.Fatal(err)
	}
	var out []*kafka.Message
	left := len(tps)
	deadline := time.Now().Add(30 * time.Second)
	for left > 0 && time.Now().Before(deadline) {
		switch e := cons.Poll(100).(type) {
		case *kafka.Message:
			out = append(out, e)
		case kafka.PartitionEOF:
			left--
		}
	}
	if left > 0 {
		t.Fatalf("%d partitions not read to their end", left)
	}
	return out
}
