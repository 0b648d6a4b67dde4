package kafkaoffsets

import (
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// WatermarkQuerier is what Ends needs of a Kafka consumer
// (*kafka.Consumer implements it).
type WatermarkQuerier interface {
	QueryWatermarkOffsets(topic string, partition int32, timeoutMs int) (low, high int64, err error)
}

// Watermarks are a partition's first offset and its end, as its reader
// sees them.
type Watermarks struct{ Low, High int64 }

// Empty says the partition holds nothing to read.
func (w Watermarks) Empty() bool { return w.Low == w.High }

// Ends asks for the watermarks of topic's partitions, one after the
// other within timeout (a round trip each). A
// reader that reads partitions to their end (a restore, a global table's
// first load) can then count an empty partition as read at once, and
// another as read once its position reaches the end (Reached). Without
// them it waits for an end-of-partition, which librdkafka signals only on
// a fetch answer that finds nothing, and the broker holds such a fetch for
// the reader's whole fetch.wait.max.ms (500 ms by default). A partition
// whose watermarks cannot be read within timeout is left out: the reader
// waits for its end-of-partition as before.
func Ends(q WatermarkQuerier, topic string, partitions []int32, timeout time.Duration) map[int32]Watermarks {
	out := make(map[int32]Watermarks, len(partitions))
	deadline := time.Now().Add(timeout)
	for _, p := range partitions {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		low, high, err := q.QueryWatermarkOffsets(topic, p, int(left.Milliseconds()))
		if err == nil && low >= 0 && high >= low {
			out[p] = Watermarks{Low: low, High: high}
		}
	}
	return out
}

// Positioner is what Reached needs of a Kafka consumer.
type Positioner interface {
	Position(partitions []kafka.TopicPartition) ([]kafka.TopicPartition, error)
}

// Reached returns the pending partitions whose consumer position has
// reached the end Ends found. The position, unlike the last record's
// offset, also steps over transaction markers, which end most of a
// transactionally written topic's partitions.
func Reached(c Positioner, topic string, pending map[int32]bool, ends map[int32]Watermarks) []int32 {
	var tps []kafka.TopicPartition
	for p := range pending {
		if _, ok := ends[p]; ok {
			tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: p})
		}
	}
	if len(tps) == 0 {
		return nil
	}
	pos, err := c.Position(tps)
	if err != nil {
		return nil
	}
	var out []int32
	for _, tp := range pos {
		if tp.Offset >= 0 && int64(tp.Offset) >= ends[tp.Partition].High {
			out = append(out, tp.Partition)
		}
	}
	return out
}

// FromStart is the assignment that reads topic's partitions from their
// first offsets: the Low watermark Ends found, named, for each partition
// it found (a consumer a few milliseconds old that is given the logical
// "beginning" sends its offset lookup before it knows the leader, and
// librdkafka retries it only after 500 ms: docs/decisions/0017), the
// logical beginning for the others. A partition Ends found empty is read
// already: it leaves pending.
func FromStart(topic string, partitions []int32, ends map[int32]Watermarks, pending map[int32]bool) []kafka.TopicPartition {
	out := make([]kafka.TopicPartition, len(partitions))
	for i, p := range partitions {
		out[i] = kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.OffsetBeginning}
		if w, ok := ends[p]; ok {
			out[i].Offset = kafka.Offset(w.Low)
			if w.Empty() {
				delete(pending, p)
			}
		}
	}
	return out
}
