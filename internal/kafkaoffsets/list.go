// Package kafkaoffsets lists partitions' offsets (ListOffsets) the way
// every reader of this project needs them: one offset per partition asked,
// waiting out a partition whose leader is not known yet (a topic created a
// moment ago, a broker failing over) instead of failing on it.
package kafkaoffsets

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// Lister is what List needs of a Kafka admin client (*kafka.AdminClient
// implements it).
type Lister interface {
	ListOffsets(ctx context.Context, topicPartitionOffsets map[kafka.TopicPartition]kafka.OffsetSpec, options ...kafka.ListOffsetsAdminOption) (kafka.ListOffsetsResult, error)
}

// Partition names one partition of a topic.
type Partition struct {
	Topic     string
	Partition int32
}

func (p Partition) String() string { return fmt.Sprintf("%s/%d", p.Topic, p.Partition) }

// List returns the offset of each partition of req by its OffsetSpec, as a
// reader of isolation level iso sees it: for LatestOffsetSpec the last
// stable offset (read_committed) or the high watermark (read_uncommitted).
// While every partition that fails does so because its leader is moving
// (LeaderMoving), it asks again, backing off from 50 ms to 1 s, until ctx
// ends; bound ctx. Any other error is returned at once. The partitions'
// errors are joined, each wrapping the kafka.Error.
func List(ctx context.Context, a Lister, req map[Partition]kafka.OffsetSpec, iso kafka.IsolationLevel) (map[Partition]int64, error) {
	kreq := make(map[kafka.TopicPartition]kafka.OffsetSpec, len(req))
	for p, s := range req {
		t := p.Topic
		kreq[kafka.TopicPartition{Topic: &t, Partition: p.Partition}] = s
	}
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		res, err := a.ListOffsets(ctx, kreq, kafka.SetAdminIsolationLevel(iso))
		if err != nil {
			return nil, fmt.Errorf("list offsets: %w", err)
		}
		var errs []error
		moving := true // every error is a leader not known yet
		out := make(map[Partition]int64, len(req))
		for tp, info := range res.ResultInfos {
			p := Partition{Partition: tp.Partition}
			if tp.Topic != nil {
				p.Topic = *tp.Topic
			}
			if info.Error.Code() != kafka.ErrNoError {
				errs = append(errs, fmt.Errorf("%s: %w", p, info.Error))
				moving = moving && LeaderMoving(info.Error.Code())
				continue
			}
			out[p] = int64(info.Offset)
		}
		if err := errors.Join(errs...); err != nil {
			if !moving {
				return nil, fmt.Errorf("list offsets: %w", err)
			}
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("list offsets: %w (still, when %w)", err, ctx.Err())
			case <-time.After(wait):
			}
			continue
		}
		for p := range req {
			if _, ok := out[p]; !ok {
				return nil, fmt.Errorf("list offsets: %s missing from the answer", p)
			}
		}
		return out, nil
	}
}

// LeaderMoving reports an error of a partition whose leader is not known
// or not there yet: asked again shortly, it answers.
func LeaderMoving(c kafka.ErrorCode) bool {
	return c == kafka.ErrNotLeaderForPartition || c == kafka.ErrLeaderNotAvailable
}
