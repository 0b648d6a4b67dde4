package kafkaoffsets

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

type watermarks map[int32][3]int64 // partition -> low, high, failed (1)

func (w watermarks) QueryWatermarkOffsets(_ string, p int32, _ int) (int64, int64, error) {
	m := w[p]
	if m[2] == 1 {
		return 0, 0, errors.New("timed out")
	}
	return m[0], m[1], nil
}

// Partitions whose watermarks cannot be read are left out; the rest say
// whether they are empty.
func TestEndsLeavesOutWhatItCannotRead(t *testing.T) {
	w := watermarks{0: {0, 0, 0}, 1: {0, 7, 0}, 2: {12, 12, 0}, 3: {0, 0, 1}}
	got := Ends(w, "t", []int32{0, 1, 2, 3}, time.Second)
	want := map[int32]Watermarks{0: {0, 0}, 1: {0, 7}, 2: {12, 12}}
	if !maps.Equal(got, want) {
		t.Fatalf("Ends = %v, want %v", got, want)
	}
	if !got[0].Empty() || got[1].Empty() || !got[2].Empty() {
		t.Fatalf("Empty wrong: %v", got)
	}
}

type positions map[int32]kafka.Offset

func (p positions) Position(tps []kafka.TopicPartition) ([]kafka.TopicPartition, error) {
	out := slices.Clone(tps)
	for i := range out {
		out[i].Offset = p[out[i].Partition]
	}
	return out, nil
}

// A partition is read once its position reaches its end; an unknown
// position (no record fetched yet) or an unknown end never is.
func TestReachedComparesPositionsWithEnds(t *testing.T) {
	ends := map[int32]Watermarks{0: {0, 5}, 1: {0, 9}, 2: {0, 4}}
	pos := positions{0: 5, 1: 8, 2: kafka.OffsetInvalid, 3: 100}
	got := Reached(pos, "t", map[int32]bool{0: true, 1: true, 2: true, 3: true}, ends)
	if !slices.Equal(got, []int32{0}) {
		t.Fatalf("Reached = %v, want [0]", got)
	}
}

func TestFromStartNamesTheFirstOffsetsItKnowsAndDropsEmptyPartitions(t *testing.T) {
	ends := map[int32]Watermarks{0: {Low: 5, High: 9}, 1: {Low: 7, High: 7}}
	pending := map[int32]bool{0: true, 1: true, 2: true}
	got := FromStart("t", []int32{0, 1, 2}, ends, pending)
	want := []kafka.Offset{5, 7, kafka.OffsetBeginning}
	if len(got) != len(want) {
		t.Fatalf("%d partitions assigned, want %d", len(got), len(want))
	}
	for i, tp := range got {
		if *tp.Topic != "t" || tp.Partition != int32(i) || tp.Offset != want[i] {
			t.Errorf("assignment %d: %s/%d at %v, want t/%d at %v", i, *tp.Topic, tp.Partition, tp.Offset, i, want[i])
		}
	}
	if !pending[0] || pending[1] || !pending[2] {
		t.Errorf("pending %v: want the empty partition 1 gone, 0 and 2 left", pending)
	}
}
