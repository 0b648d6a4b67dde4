package projection

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// The Kafka fetcher: reads the records of a history page back from
// cart.validated and cart.invalid.

// fetchPos is one record to read back.
type fetchPos struct {
	topic     string
	partition int32
	offset    int64
}

// fetcher reads given records back from Kafka with one read_committed
// consumer, created on first use and shared by calls one at a time.
type fetcher struct {
	conf *kafka.ConfigMap
	log  *slog.Logger

	mu     sync.Mutex
	cons   *kafka.Consumer
	closed bool
}

// maxSkip is how far ahead of the consumer's position a wanted record may
// be before the fetcher seeks instead of reading through.
const maxSkip = 256

func (f *fetcher) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	if f.cons != nil {
		_ = f.cons.Close()
		f.cons = nil
	}
}

// fetch returns the records at wants (a missing one is absent from the
// map). It honours ctx.
func (f *fetcher) fetch(ctx context.Context, wants []fetchPos) (map[fetchPos]*kafka.Message, error) {
	out := make(map[fetchPos]*kafka.Message, len(wants))
	if len(wants) == 0 {
		return out, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, ErrClosed
	}
	if f.cons == nil {
		c, err := kafka.NewConsumer(f.conf)
		if err != nil {
			return nil, fmt.Errorf("%w: consumer: %w", ErrFetch, err)
		}
		f.cons = c
	}
	type group struct {
		topic   string
		offsets []int64
		next    int
	}
	groups := map[tpKey]*group{}
	for _, w := range wants {
		k := tpKey{w.topic, w.partition}
		g := groups[k]
		if g == nil {
			g = &group{topic: w.topic}
			groups[k] = g
		}
		g.offsets = append(g.offsets, w.offset)
	}
	var assign []kafka.TopicPartition
	for k, g := range groups {
		slices.Sort(g.offsets)
		g.offsets = slices.Compact(g.offsets)
		assign = append(assign, kafka.TopicPartition{Topic: &g.topic, Partition: k.partition, Offset: kafka.Offset(g.offsets[0])})
	}
	if err := f.cons.Assign(assign); err != nil {
		return nil, fmt.Errorf("%w: assign: %w", ErrFetch, err)
	}
	defer func() { _ = f.cons.Unassign() }()
	remaining := len(groups)
	for remaining > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		switch ev := f.cons.Poll(50).(type) {
		case *kafka.Message:
			tp := ev.TopicPartition
			if tp.Error != nil {
				return nil, fmt.Errorf("%w: %w", ErrFetch, tp.Error)
			}
			g := groups[tpKey{*tp.Topic, tp.Partition}]
			if g == nil || g.next >= len(g.offsets) {
				continue
			}
			off := int64(tp.Offset)
			for g.next < len(g.offsets) && g.offsets[g.next] < off {
				g.next++ // not there (it cannot be, for an indexed record)
			}
			if g.next < len(g.offsets) && g.offsets[g.next] == off {
				out[fetchPos{g.topic, tp.Partition, off}] = ev
				g.next++
			}
			if g.next >= len(g.offsets) {
				remaining--
				continue
			}
			if want := g.offsets[g.next]; want > off+maxSkip {
				if err := f.cons.Seek(kafka.TopicPartition{Topic: &g.topic, Partition: tp.Partition, Offset: kafka.Offset(want)}, 0); err != nil {
					return nil, fmt.Errorf("%w: seek: %w", ErrFetch, err)
				}
			}
		case kafka.PartitionEOF:
			g := groups[tpKey{*ev.Topic, ev.Partition}]
			if g != nil && g.next < len(g.offsets) {
				g.next = len(g.offsets) // the rest is not there
				remaining--
			}
		case kafka.Error:
			if ev.IsFatal() {
				return nil, fmt.Errorf("%w: %w", ErrFetch, ev)
			}
			f.log.Warn("projection: history fetch consumer error", "err", ev)
		}
	}
	return out, nil
}
