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
