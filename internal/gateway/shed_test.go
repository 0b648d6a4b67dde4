package gateway

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// Load shedding with the real client: a producer whose queue holds one
// record (queue.buffering.max.messages=1) and whose broker is not there
// refuses the second record at once with ErrOverloaded, instead of
// queueing its caller behind a backlog.
func TestKafkaProducerShedsWhenItsQueueIsFull(t *testing.T) {
	kp, err := NewKafkaProducer(KafkaConfig{
		Brokers: "127.0.0.1:1", // nothing listens: the first record stays queued
		Extra:   kafka.ConfigMap{"queue.buffering.max.messages": 1, "enable.metrics.push": false},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The first record is enqueued synchronously (Produce would block on
	// its delivery report, and Len also counts the client's error events).
	topic := "cart.requests"
	first := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny}, Key: []byte("c1"), Value: []byte("v")}
	if err := kp.enqueue(first, make(chan kafka.Event, 1)); err != nil {
		t.Fatalf("first record: %v", err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	began := time.Now()
	_, err = kp.Produce(ctx, Record{Topic: "cart.requests", Key: []byte("c2"), Value: []byte("v")})
	if !errors.Is(err, ErrOverloaded) || IsUnavailable(err) {
		t.Fatalf("second record: %v, want ErrOverloaded (and not a delivery failure)", err)
	}
	if waited := time.Since(began); waited > time.Second {
		t.Fatalf("shedding took %v: it must refuse at once", waited)
	}

	cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer ccancel()
	_ = kp.Close(cctx) // reports the purged record; that is expected here
}
