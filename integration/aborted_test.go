package integration

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cartstream/cartstream/internal/kafkatest"
)

// producerEpoch names one incarnation of a transactional producer: the
// epoch grows each time InitTransactions fences the previous one.
type producerEpoch struct {
	id    int64
	epoch int16
}

// abortedWrites are the records of one producer incarnation that sit in
// aborted transactions, and when the last of them was written.
type abortedWrites struct {
	records int
	last    time.Time
}

// abortedTransactions finds the records of the given topics that sit in
// aborted transactions (visible read_uncommitted, not read_committed) and
// groups them by the producer incarnation that wrote them. librdkafka does
// not show a record's producer id; franz-go does, so it reads the batches.
// A producer holds one transaction at a time, so each incarnation with
// aborted records had a transaction open when it died.
func abortedTransactions(tb testing.TB, c *kafkatest.Cluster, partitions int, topics ...string) map[producerEpoch]abortedWrites {
	tb.Helper()
	type at struct {
		topic     string
		partition int32
		offset    int64
	}
	aborted := map[at]bool{}
	want := map[string]map[int32]kgo.Offset{}
	last := map[string]map[int32]int64{}
	for _, topic := range topics {
		committed := map[at]bool{}
		for _, m := range readToEnd(tb, c, topic, partitions, "read_committed") {
			committed[at{topic, m.TopicPartition.Partition, int64(m.TopicPartition.Offset)}] = true
		}
		want[topic], last[topic] = map[int32]kgo.Offset{}, map[int32]int64{}
		for _, m := range readToEnd(tb, c, topic, partitions, "read_uncommitted") {
			k := at{topic, m.TopicPartition.Partition, int64(m.TopicPartition.Offset)}
			if !committed[k] {
				aborted[k] = true
			}
			last[topic][k.partition] = max(last[topic][k.partition], k.offset)
			want[topic][k.partition] = kgo.NewOffset().AtStart()
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers()), kgo.ConsumePartitions(want),
		kgo.FetchIsolationLevel(kgo.ReadUncommitted()))
	if err != nil {
		tb.Fatalf("franz-go client: %v", err)
	}
	defer cl.Close()
	out := map[producerEpoch]abortedWrites{}
	remaining := 0
	for _, ps := range last {
		remaining += len(ps)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for remaining > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			tb.Fatalf("read aborted records: %d partitions unfinished after a minute", remaining)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if aborted[at{r.Topic, r.Partition, r.Offset}] {
				k := producerEpoch{r.ProducerID, r.ProducerEpoch}
				w := out[k]
				w.records++
				if r.Timestamp.After(w.last) {
					w.last = r.Timestamp
				}
				out[k] = w
			}
			if end, ok := last[r.Topic][r.Partition]; ok && r.Offset >= end {
				delete(last[r.Topic], r.Partition)
				remaining--
			}
		})
	}
	return out
}
