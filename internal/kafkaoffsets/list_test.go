package kafkaoffsets

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// lister answers every partition with code the first failures calls,
// then with offset 7.
type lister struct {
	code     kafka.ErrorCode
	failures int
	calls    int
	omit     bool // leave every partition out of the answers
}

func (l *lister) ListOffsets(_ context.Context, req map[kafka.TopicPartition]kafka.OffsetSpec, _ ...kafka.ListOffsetsAdminOption) (kafka.ListOffsetsResult, error) {
	l.calls++
	res := kafka.ListOffsetsResult{ResultInfos: map[kafka.TopicPartition]kafka.ListOffsetsResultInfo{}}
	if l.omit {
		return res, nil
	}
	for tp := range req {
		info := kafka.ListOffsetsResultInfo{Offset: 7}
		if l.calls <= l.failures {
			info.Error = kafka.NewError(l.code, "test", false)
		}
		res.ResultInfos[tp] = info
	}
	return res, nil
}

func latest(parts ...Partition) map[Partition]kafka.OffsetSpec {
	m := map[Partition]kafka.OffsetSpec{}
	for _, p := range parts {
		m[p] = kafka.LatestOffsetSpec
	}
	return m
}

// Regression: a projection started right after its topics were created
// failed on "Not leader for partition"; replay's reads had the same bug.
func TestListWaitsOutAMovingLeader(t *testing.T) {
	a, b := Partition{"t", 0}, Partition{"u", 1}
	for _, code := range []kafka.ErrorCode{kafka.ErrNotLeaderForPartition, kafka.ErrLeaderNotAvailable} {
		l := &lister{code: code, failures: 2}
		got, err := List(context.Background(), l, latest(a, b), kafka.IsolationLevelReadCommitted)
		if err != nil || got[a] != 7 || got[b] != 7 || l.calls != 3 {
			t.Fatalf("%v: offsets %v, %v after %d calls; want 7 and 7 after 3", code, got, err, l.calls)
		}
	}
}

func TestListReturnsOtherErrorsAtOnce(t *testing.T) {
	l := &lister{code: kafka.ErrTopicAuthorizationFailed, failures: 1}
	var kerr kafka.Error
	if _, err := List(context.Background(), l, latest(Partition{"t", 0}), kafka.IsolationLevelReadCommitted); !errors.As(err, &kerr) ||
		kerr.Code() != kafka.ErrTopicAuthorizationFailed || l.calls != 1 {
		t.Fatalf("authorization failure: %v after %d calls; want it at once", err, l.calls)
	}
}

func TestListEndsWithTheContext(t *testing.T) {
	l := &lister{code: kafka.ErrLeaderNotAvailable, failures: 1 << 30}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var kerr kafka.Error
	_, err := List(ctx, l, latest(Partition{"t", 0}), kafka.IsolationLevelReadCommitted)
	if !errors.As(err, &kerr) || kerr.Code() != kafka.ErrLeaderNotAvailable || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("leader never known: %v; want ErrLeaderNotAvailable at the deadline", err)
	}
}

func TestListReportsAPartitionMissingFromTheAnswer(t *testing.T) {
	if _, err := List(context.Background(), &lister{omit: true}, latest(Partition{"t", 0}), kafka.IsolationLevelReadCommitted); err == nil {
		t.Fatal("an answer without the partition asked: no error")
	}
}
