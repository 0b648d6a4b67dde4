package replay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/internal/kafkaoffsets"
)

// Progress is how far a read is.
type Progress struct {
	// Topic is the topic being read.
	Topic string `json:"topic"`
	// Records counts the records delivered so far; Offsets the offsets
	// passed, out of Total, the span to read. Offsets reaches Total when
	// the read is done; Records may stay below it, as read_committed skips
	// transaction markers and aborted records.
	Records int64 `json:"records"`
	Offsets int64 `json:"offsets"`
	Total   int64 `json:"total"`
	// Carts counts the carts folded so far (0 for reads that fold none).
	Carts   int64         `json:"carts"`
	Elapsed time.Duration `json:"elapsed"`
	Done    bool          `json:"done"`
}

// Rate is records per second so far.
func (p Progress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Records) / p.Elapsed.Seconds()
}

// span is the part of one partition a read covers: [start, end).
type span struct {
	partition  int32
	start, end int64
}

// admin is what this package needs of a Kafka admin client.
type admin interface {
	DescribeTopics(ctx context.Context, topics kafka.TopicCollection, options ...kafka.DescribeTopicsAdminOption) (kafka.DescribeTopicsResult, error)
	ListOffsets(ctx context.Context, topicPartitionOffsets map[kafka.TopicPartition]kafka.OffsetSpec, options ...kafka.ListOffsetsAdminOption) (kafka.ListOffsetsResult, error)
}

// partitionCounts describes topics and returns each one's partition count.
func partitionCounts(ctx context.Context, a admin, timeout time.Duration, names ...string) (map[string]int, error) {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	desc, err := a.DescribeTopics(dctx, kafka.NewTopicCollectionOfTopicNames(names))
	if err != nil {
		return nil, fmt.Errorf("describe topics: %w", err)
	}
	out := map[string]int{}
	var errs []error
	for _, d := range desc.TopicDescriptions {
		if d.Error.Code() != kafka.ErrNoError {
			errs = append(errs, fmt.Errorf("topic %s: %w", d.Name, d.Error))
			continue
		}
		out[d.Name] = len(d.Partitions)
	}
	return out, errors.Join(errs...)
}

// listOffsets lists one offset per partition of topic; spec gives each
// partition's OffsetSpec. The isolation level is read_committed, so
// LatestOffsetSpec is the last stable offset.
func listOffsets(ctx context.Context, a admin, timeout time.Duration, topic string, specs map[int32]kafka.OffsetSpec) (map[int32]int64, error) {
	return listOffsetsAs(ctx, a, timeout, topic, specs, kafka.IsolationLevelReadCommitted)
}

// listOffsetsAs is listOffsets with the isolation level given: with
// read_uncommitted, LatestOffsetSpec is the high watermark. A partition
// whose leader is not known yet is waited out within timeout
// (kafkaoffsets.List).
func listOffsetsAs(ctx context.Context, a admin, timeout time.Duration, topic string, specs map[int32]kafka.OffsetSpec, iso kafka.IsolationLevel) (map[int32]int64, error) {
	req := make(map[kafkaoffsets.Partition]kafka.OffsetSpec, len(specs))
	for p, s := range specs {
		req[kafkaoffsets.Partition{Topic: topic, Partition: p}] = s
	}
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := kafkaoffsets.List(lctx, a, req, iso)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", topic, err)
	}
	out := make(map[int32]int64, len(res))
	for p, o := range res {
		out[p.Partition] = o
	}
	return out, nil
}

func allSpec(parts []int32, spec kafka.OffsetSpec) map[int32]kafka.OffsetSpec {
	m := make(map[int32]kafka.OffsetSpec, len(parts))
	for _, p := range parts {
		m[p] = spec
	}
	return m
}

// spans lists [log start, last stable offset) of each partition in parts,
// then narrows the ends to scope's bounds.
func spans(ctx context.Context, a admin, timeout time.Duration, topic string, parts []int32, scope Scope) ([]span, error) {
	starts, err := listOffsets(ctx, a, timeout, topic, allSpec(parts, kafka.EarliestOffsetSpec))
	if err != nil {
		return nil, err
	}
	ends, err := listOffsets(ctx, a, timeout, topic, allSpec(parts, kafka.LatestOffsetSpec))
	if err != nil {
		return nil, err
	}
	var byTime map[int32]int64
	if !scope.UntilTime.IsZero() {
		// The first record stamped after UntilTime: timestamps are whole
		// milliseconds, so "after T" is ">= floor_ms(T) + 1 ms".
		ts := scope.UntilTime.UnixMilli() + 1
		if byTime, err = listOffsets(ctx, a, timeout, topic, allSpec(parts, kafka.NewOffsetSpecForTimestamp(ts))); err != nil {
			return nil, err
		}
	}
	out := make([]span, 0, len(parts))
	for _, p := range parts {
		s := span{partition: p, start: starts[p], end: ends[p]}
		if o, ok := scope.UntilOffsets[p]; ok {
			s.end = min(s.end, o)
		}
		if o, ok := byTime[p]; ok && o >= 0 { // -1: no record after the time
			s.end = min(s.end, o)
		}
		s.end = max(s.end, s.start)
		out = append(out, s)
	}
	return out, nil
}

// batchSize is how many records the reading goroutine hands a worker at a
// time: large enough that the channel costs nothing per record.
const batchSize = 512

// reader reads spans of one topic with read_committed and hands every record
// in [start, end) to work, on cfg.Workers goroutines: partition p always to
// worker p % Workers, in offset order.
type reader struct {
	cfg   Config
	topic string
	// work is called by worker w with records of its partitions, in order.
	work func(w int, batch []*kafka.Message)
	// carts, when set, is reported as Progress.Carts.
	carts func() int64
	// skip, when set, is checked on the reading goroutine: a record it
	// accepts is counted but not handed to work.
	skip func(*kafka.Message) bool

	records, offsets, total int64
	perPartition            map[int32]int64
	began, reported         time.Time
}

type partitionRead struct {
	span
	pos  int64
	done bool
}

// readStats says what a read covered.
type readStats struct {
	Records      int64
	Offsets      int64
	PerPartition map[int32]int64
	Elapsed      time.Duration
}

func (r *reader) run(ctx context.Context, ss []span) (readStats, error) {
	r.began = time.Now()
	r.perPartition = map[int32]int64{}
	parts := map[int32]*partitionRead{}
	var assign []kafka.TopicPartition
	for _, s := range ss {
		r.total += s.end - s.start
		pr := &partitionRead{span: s, pos: s.start, done: s.end <= s.start}
		parts[s.partition] = pr
		r.perPartition[s.partition] = 0
		if !pr.done {
			t := r.topic
			assign = append(assign, kafka.TopicPartition{Topic: &t, Partition: s.partition, Offset: kafka.Offset(s.start)})
		}
	}
	slices.SortFunc(assign, func(a, b kafka.TopicPartition) int { return int(a.Partition - b.Partition) })
	if len(assign) > 0 {
		if err := r.consume(ctx, parts, assign); err != nil {
			return readStats{}, err
		}
	}
	r.report(true)
	return readStats{Records: r.records, Offsets: r.offsets, PerPartition: r.perPartition, Elapsed: time.Since(r.began)}, nil
}

func (r *reader) consume(ctx context.Context, parts map[int32]*partitionRead, assign []kafka.TopicPartition) error {
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	cons, err := kafka.NewConsumer(r.cfg.clientConfig(kafka.ConfigMap{
		// Assign only: the group is never joined nor committed to, but
		// librdkafka requires one.
		"group.id":                 "cartctl-replay-" + hex.EncodeToString(suffix[:]),
		"isolation.level":          "read_committed",
		"enable.auto.commit":       false,
		"enable.auto.offset.store": false,
		"enable.partition.eof":     true,
		"auto.offset.reset":        "earliest",
		// Larger fetches: a replay reads whole partitions back to back.
		"fetch.max.bytes":           64 << 20,
		"max.partition.fetch.bytes": 8 << 20,
		"queued.min.messages":       200000,
	}))
	if err != nil {
		return fmt.Errorf("replay: consumer: %w", err)
	}
	defer func() {
		if err := cons.Close(); err != nil {
			r.cfg.Logger.Warn("replay: close consumer", "err", err)
		}
	}()
	if err := cons.Assign(assign); err != nil {
		return fmt.Errorf("replay: assign %s: %w", r.topic, err)
	}

	workers := r.cfg.Workers
	chans := make([]chan []*kafka.Message, workers)
	pendingBatch := make([][]*kafka.Message, workers)
	var wg sync.WaitGroup
	for w := range workers {
		chans[w] = make(chan []*kafka.Message, 8)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range chans[w] {
				r.work(w, b)
			}
		}()
	}
	flush := func(w int) {
		if len(pendingBatch[w]) > 0 {
			chans[w] <- pendingBatch[w]
			pendingBatch[w] = make([]*kafka.Message, 0, batchSize)
		}
	}
	defer func() {
		for w := range workers {
			close(chans[w])
		}
		wg.Wait()
	}()

	left := len(assign)
	finish := func(pr *partitionRead) {
		if pr.done {
			return
		}
		pr.done = true
		left--
		if pr.end > pr.pos {
			r.offsets += pr.end - pr.pos
			pr.pos = pr.end
		}
		t := r.topic
		if err := cons.Pause([]kafka.TopicPartition{{Topic: &t, Partition: pr.partition}}); err != nil {
			r.cfg.Logger.Debug("replay: pause", "topic", t, "partition", pr.partition, "err", err)
		}
	}
	idle := time.Now()
	for left > 0 {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("replay: read of %s interrupted with %d partitions left: %w", r.topic, left, err)
		}
		if time.Since(idle) > r.cfg.IdleTimeout {
			return fmt.Errorf("%w: %s: no progress for %s; %s", ErrStalled, r.topic, r.cfg.IdleTimeout, describePending(parts))
		}
		ev := cons.Poll(100)
		switch e := ev.(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				return fmt.Errorf("replay: read %s/%d: %w", r.topic, e.TopicPartition.Partition, e.TopicPartition.Error)
			}
			idle = time.Now()
			pr, ok := parts[e.TopicPartition.Partition]
			if !ok || pr.done {
				continue
			}
			off := int64(e.TopicPartition.Offset)
			if off >= pr.end {
				finish(pr)
				continue
			}
			r.records++
			r.perPartition[pr.partition]++
			r.offsets += off + 1 - pr.pos
			pr.pos = off + 1
			if r.skip == nil || !r.skip(e) {
				w := int(pr.partition) % workers
				if pendingBatch[w] == nil {
					pendingBatch[w] = make([]*kafka.Message, 0, batchSize)
				}
				pendingBatch[w] = append(pendingBatch[w], e)
				if len(pendingBatch[w]) >= batchSize {
					flush(w)
				}
			}
			if off >= pr.end-1 {
				finish(pr)
			}
		case kafka.PartitionEOF:
			// Under read_committed the end is the current last stable
			// offset, never before the end listed at start.
			idle = time.Now()
			if pr, ok := parts[e.Partition]; ok {
				finish(pr)
			}
		case kafka.Error:
			if e.IsFatal() {
				return fmt.Errorf("replay: consumer: %w", e)
			}
			r.cfg.Logger.Warn("replay: consumer error", "err", e)
		case nil:
			// A quiet poll: hand over what is buffered.
			for w := range workers {
				flush(w)
			}
		}
		r.report(false)
	}
	for w := range workers {
		flush(w)
	}
	return nil
}

func describePending(parts map[int32]*partitionRead) string {
	var left []string
	for _, pr := range parts {
		if !pr.done {
			left = append(left, fmt.Sprintf("%d (at %d, to %d)", pr.partition, pr.pos, pr.end))
		}
	}
	slices.Sort(left)
	return "pending partitions: " + strings.Join(left, ", ")
}

func (r *reader) report(final bool) {
	if r.cfg.Progress == nil || (!final && time.Since(r.reported) < r.cfg.ProgressInterval) {
		return
	}
	r.reported = time.Now()
	p := Progress{Topic: r.topic, Records: r.records, Offsets: r.offsets, Total: r.total, Elapsed: time.Since(r.began), Done: final}
	if r.carts != nil {
		p.Carts = r.carts()
	}
	r.cfg.Progress(p)
}

// counter is a cart counter the workers bump and the reader reports.
type counter struct{ n atomic.Int64 }

func (c *counter) load() int64 { return c.n.Load() }
