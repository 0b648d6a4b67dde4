package replay

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// offsetsAdmin answers ListOffsets with code for every partition the first
// failures times, then with offset 7.
type offsetsAdmin struct {
	admin
	code     kafka.ErrorCode
	failures int
	calls    int
}

func (a *offsetsAdmin) ListOffsets(_ context.Context, req map[kafka.TopicPartition]kafka.OffsetSpec, _ ...kafka.ListOffsetsAdminOption) (kafka.ListOffsetsResult, error) {
	a.calls++
	res := kafka.ListOffsetsResult{ResultInfos: map[kafka.TopicPartition]kafka.ListOffsetsResultInfo{}}
	for tp := range req {
		info := kafka.ListOffsetsResultInfo{Offset: 7}
		if a.calls <= a.failures {
			info.Error = kafka.NewError(a.code, "test", false)
		}
		res.ResultInfos[tp] = info
	}
	return res, nil
}

// Regression: `cartctl topics status` right after the topics were created
// failed on "Not leader for partition" (a clean-clone test run met it).
func TestListOffsetsWaitsOutAMovingLeader(t *testing.T) {
	a := &offsetsAdmin{code: kafka.ErrNotLeaderForPartition, failures: 2}
	got, err := listOffsets(context.Background(), a, 10*time.Second, "t", allSpec([]int32{0, 1}, kafka.LatestOffsetSpec))
	if err != nil || got[0] != 7 || got[1] != 7 || a.calls != 3 {
		t.Fatalf("offsets %v, %v after %d calls; want 7 and 7 after 3", got, err, a.calls)
	}
	// Another error is not waited out.
	b := &offsetsAdmin{code: kafka.ErrTopicAuthorizationFailed, failures: 1}
	if _, err := listOffsets(context.Background(), b, 10*time.Second, "t", allSpec([]int32{0}, kafka.LatestOffsetSpec)); err == nil || b.calls != 1 {
		t.Fatalf("authorization failure: %v after %d calls; want the error at once", err, b.calls)
	}
	// A leader that never comes ends with the timeout.
	c := &offsetsAdmin{code: kafka.ErrLeaderNotAvailable, failures: 1 << 30}
	var kerr kafka.Error
	if _, err := listOffsets(context.Background(), c, 300*time.Millisecond, "t", allSpec([]int32{0}, kafka.LatestOffsetSpec)); !errors.As(err, &kerr) || kerr.Code() != kafka.ErrLeaderNotAvailable {
		t.Fatalf("leader never known: %v; want ErrLeaderNotAvailable at the timeout", err)
	}
}
