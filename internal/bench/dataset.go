package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/partition"
	"github.com/cartstream/cartstream/internal/records"
)

// carts generates the write side's records without running it: n carts,
// each put through perCart commands of the workload with cart.Process (the
// manager's own step), with request offsets numbered per cart.requests
// partition as a real drain would have them. It is how the read-path
// scenarios fill cart.state and cart.validated quickly: writing snapshots
// and events directly is an order of magnitude cheaper than draining the
// commands through the manager, and yields the same records.
type carts struct {
	prefix     string
	n, perCart int
	products   []cart.Product
	partitions int
}

// generated is one cart's history: its final snapshot and every event its
// accepted commands produced, in order.
type generated struct {
	snap   cart.Snapshot
	events []cart.Event
}

// each calls fn with every cart in order; fn's error stops the walk.
func (c carts) each(seed uint64, fn func(i int, g generated) error) error {
	catalog, err := cart.NewMapCatalog(c.products...)
	if err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	limits := cart.Limits{}.WithDefaults()
	w := newWorkload(seed, c.prefix, skusOf(c.products))
	next := make([]int64, c.partitions)
	now := time.Now().UTC().Round(time.Millisecond)
	for i := range c.n {
		id := cartName(c.prefix, i)
		part := partition.For([]byte(id), c.partitions)
		g := generated{snap: cart.NewSnapshot(id)}
		for range c.perCart {
			var out cart.Outcome
			g.snap, out = cart.Process(g.snap, w.next(i, now), next[part], catalog, limits, now)
			next[part]++
			g.events = append(g.events, out.Events...)
		}
		if err := fn(i, g); err != nil {
			return err
		}
	}
	return nil
}

// loadSnapshots writes the final snapshot of every cart of c to topic with
// a plain idempotent producer, and returns the bytes written (keys and
// values).
func (e *env) loadSnapshots(ctx context.Context, topic string, c carts) (int64, error) {
	pr, err := e.newProducer(10*time.Millisecond, nil)
	if err != nil {
		return 0, err
	}
	defer pr.close()
	p := e.progress("rebuild: load cart.state", int64(c.n), pr.delivered.Load)
	defer p.done()
	var size int64
	err = c.each(11, func(i int, g generated) error {
		v, err := e.rec.EncodeSnapshot(g.snap)
		if err != nil {
			return fmt.Errorf("encode snapshot of %s: %w", g.snap.Cart.CartID, err)
		}
		key := []byte(g.snap.Cart.CartID)
		size += int64(len(key) + len(v))
		return pr.produce(ctx, topic, kafka.Message{Key: key, Value: v})
	})
	if err != nil {
		return 0, err
	}
	return size, pr.flush(ctx)
}

// errEnoughEvents ends loadEvents' walk over the carts.
var errEnoughEvents = errors.New("bench: enough events")

// loadEvents writes the events of carts until at least minEvents are
// written to topic, as the manager writes them (key = cart id, request-id
// and event-type headers), and returns the events and carts written.
func (e *env) loadEvents(ctx context.Context, topic string, c carts, minEvents int) (int64, int, error) {
	pr, err := e.newProducer(10*time.Millisecond, nil)
	if err != nil {
		return 0, 0, err
	}
	defer pr.close()
	p := e.progress("replay: load cart.validated", int64(minEvents), pr.delivered.Load)
	defer p.done()
	var events int64
	cartsWritten := 0
	err = c.each(12, func(i int, g generated) error {
		if events >= int64(minEvents) {
			return errEnoughEvents
		}
		cartsWritten++
		for _, ev := range g.events {
			v, err := e.rec.EncodeValidated(ev)
			if err != nil {
				return fmt.Errorf("encode event of %s: %w", ev.Meta().CartID, err)
			}
			m := ev.Meta()
			msg := kafka.Message{Key: []byte(m.CartID), Value: v, Headers: []kafka.Header{
				{Key: records.HeaderRequestID, Value: []byte(m.RequestID)},
				{Key: records.HeaderEventType, Value: []byte(ev.EventType().String())},
			}}
			if err := pr.produce(ctx, topic, msg); err != nil {
				return err
			}
			events++
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnoughEvents) {
		return 0, 0, err
	}
	if events < int64(minEvents) {
		return events, cartsWritten, fmt.Errorf("generated %d events, fewer than the %d asked for: raise the carts", events, minEvents)
	}
	return events, cartsWritten, pr.flush(ctx)
}
