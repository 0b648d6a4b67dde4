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
	firstCtx, cancelFirst := context.WithCancel(t.Context())
	first := make(chan error, 1)
	go func() {
		_, err := kp.Produce(firstCtx, Record{Topic: "cart.requests", Key: []byte("c1"), Value: []byte("v")})
		first <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for kp.p.Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the first record never queued")
		}
		time.Sleep(5 * time.Millisecond) // polling the queue length with a deadline
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

	cancelFirst()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("first record: %v, want its caller's cancellation", err)
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer ccancel()
	_ = kp.Close(cctx) // reports the purged record; that is expected here
}
