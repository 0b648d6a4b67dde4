package projection

import (
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// fakePoller hands out its events in order, then nil.
type fakePoller struct{ evs []kafka.Event }

func (f *fakePoller) Poll(int) kafka.Event {
	if len(f.evs) == 0 {
		return nil
	}
	ev := f.evs[0]
	f.evs = f.evs[1:]
	return ev
}

func msgAt(offset int) *kafka.Message {
	topic := "t"
	return &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Offset: kafka.Offset(offset)}}
}

func TestPrepareBatchStopsAtTheFirstEventThatIsNotARecord(t *testing.T) {
	eof := kafka.PartitionEOF{Partition: 3}
	c := &fakePoller{evs: []kafka.Event{msgAt(1), msgAt(2), eof, msgAt(3)}}
	var b prepareBatch
	ev := b.fill(c, msgAt(0))
	if len(b.msgs) != 3 || ev != kafka.Event(eof) {
		t.Fatalf("batch of %d records ended by %v; want 3 ended by the EOF", len(b.msgs), ev)
	}
	if left := len(c.evs); left != 1 {
		t.Fatalf("%d events left unpolled, want the record after the EOF", left)
	}
	ev = b.fill(c, msgAt(4))
	if ev != nil || len(b.msgs) != 2 || b.msgs[1].TopicPartition.Offset != 3 {
		t.Fatalf("second batch %v ended by %v; want records 4 and 3 ended by nothing", b.msgs, ev)
	}
}

func TestPrepareBatchIsBounded(t *testing.T) {
	c := &fakePoller{}
	for i := range 2 * maxPrepareBatch {
		c.evs = append(c.evs, msgAt(i+1))
	}
	var b prepareBatch
	if ev := b.fill(c, msgAt(0)); ev != nil || len(b.msgs) != maxPrepareBatch {
		t.Fatalf("batch of %d ended by %v; want %d, nothing", len(b.msgs), ev, maxPrepareBatch)
	}
}

func TestPrepareBatchPreparesEveryRecordInItsSlot(t *testing.T) {
	for _, n := range []int{1, minParallelPrepare - 1, minParallelPrepare * 2, maxPrepareBatch, 7} {
		c := &fakePoller{}
		for i := 1; i < n; i++ {
			c.evs = append(c.evs, msgAt(i))
		}
		var b prepareBatch
		b.fill(c, msgAt(0))
		b.prepare(func(m *kafka.Message) any { return int(m.TopicPartition.Offset) * 10 })
		if len(b.prepared) != n {
			t.Fatalf("n=%d: %d prepared", n, len(b.prepared))
		}
		for i, v := range b.prepared {
			if v != i*10 {
				t.Fatalf("n=%d: slot %d holds %v, want %d", n, i, v, i*10)
			}
		}
	}
}
