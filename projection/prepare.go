package projection

import (
	"runtime"
	"sync"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// maxPrepareBatch bounds the records a follower prepares together: enough
// to spread decoding over the CPUs during a rebuild, small enough that a
// record waits for few others once the follower is caught up (it then
// rarely finds more than one record fetched at a time).
const maxPrepareBatch = 512

// minParallelPrepare is the smallest batch worth a second goroutine.
const minParallelPrepare = 32

// prepareBatch is a follower's batch of polled records and what
// follower.prepare made of each; it is reused from batch to batch.
type prepareBatch struct {
	msgs     []*kafka.Message
	prepared []any
}

// poller is what fill needs of a Kafka consumer.
type poller interface {
	Poll(timeoutMs int) kafka.Event
}

// fill starts the batch with first and adds the records already fetched,
// without waiting for more. It returns the event that ended the batch, if
// it was not a record (the caller handles it after the batch, keeping the
// consumer's order), or nil.
func (b *prepareBatch) fill(c poller, first *kafka.Message) kafka.Event {
	clear(b.msgs) // let the previous batch's records go
	b.msgs = append(b.msgs[:0], first)
	for len(b.msgs) < maxPrepareBatch {
		ev := c.Poll(0)
		m, ok := ev.(*kafka.Message)
		if !ok {
			return ev
		}
		b.msgs = append(b.msgs, m)
	}
	return nil
}

// prepare runs prepare on every record of the batch, over up to
// GOMAXPROCS goroutines, each on a contiguous share.
func (b *prepareBatch) prepare(prepare func(*kafka.Message) any) {
	n := len(b.msgs)
	clear(b.prepared)
	if cap(b.prepared) < n {
		b.prepared = make([]any, n)
	}
	b.prepared = b.prepared[:n]
	workers := min(runtime.GOMAXPROCS(0), n/minParallelPrepare)
	if workers <= 1 {
		for i, m := range b.msgs {
			b.prepared[i] = prepare(m)
		}
		return
	}
	share := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		lo, hi := w*share, min((w+1)*share, n)
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				b.prepared[i] = prepare(b.msgs[i])
			}
		})
	}
	for i := range min(share, n) {
		b.prepared[i] = prepare(b.msgs[i])
	}
	wg.Wait()
}
