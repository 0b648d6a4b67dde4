package projection

import (
	"context"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// movingLeader answers ListOffsets with "not leader" for every partition
// the first failures calls, then with offset 7.
type movingLeader struct {
	failures, calls int
}

func (m *movingLeader) ListOffsets(_ context.Context, req map[kafka.TopicPartition]kafka.OffsetSpec, _ ...kafka.ListOffsetsAdminOption) (kafka.ListOffsetsResult, error) {
	m.calls++
	res := kafka.ListOffsetsResult{ResultInfos: map[kafka.TopicPartition]kafka.ListOffsetsResultInfo{}}
	for tp := range req {
		info := kafka.ListOffsetsResultInfo{Offset: 7}
		if m.calls <= m.failures {
			info.Error = kafka.NewError(kafka.ErrNotLeaderForPartition, "test", false)
		}
		res.ResultInfos[tp] = info
	}
	return res, nil
}

// Regression: a projection started right after its topics were
// (re)created failed its start on "Not leader for partition"; the start's
// offsets now wait the leader out within the start timeout.
func TestLastStableWaitsOutAMovingLeader(t *testing.T) {
	m := &movingLeader{failures: 2}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := lastStable(ctx, m, []string{"cart.validated", "cart.invalid"}, []int32{0, 3})
	if err != nil || m.calls != 3 || len(got) != 4 || got[tpKey{"cart.invalid", 3}] != 7 {
		t.Fatalf("offsets %v, %v after %d calls; want 7 for each of the 4 partitions after 3", got, err, m.calls)
	}
}
