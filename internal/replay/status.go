package replay

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// DefaultSampleInterval is how long Status waits between its two samples of
// the last stable offsets.
const DefaultSampleInterval = 2 * time.Second

// StatusOptions configures Status.
type StatusOptions struct {
	// ManagerGroup is the AddItemManager's group (default
	// DefaultManagerGroup); Groups are further groups to report.
	ManagerGroup string
	Groups       []string
	// SampleInterval separates the two samples of the last stable offsets;
	// a partition whose last stable offset stays below its end offset over
	// it is reported as blocked.
	SampleInterval time.Duration
}

// GroupLag is one group's position on one partition.
type GroupLag struct {
	Group string `json:"group"`
	// Committed is the group's committed offset, -1 when none.
	Committed int64 `json:"committed"`
	// Lag is End - Committed (End when the group has committed nothing).
	Lag int64 `json:"lag"`
}

// PartitionStatus is one partition of one topic.
type PartitionStatus struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Start is the log start offset, End the end offset (high watermark),
	// Stable the last stable offset (what read_committed readers reach),
	// all from the second sample; StableBefore is the last stable offset of
	// the first one.
	Start        int64 `json:"start"`
	End          int64 `json:"end"`
	Stable       int64 `json:"last_stable"`
	StableBefore int64 `json:"last_stable_before"`
	// Blocked is set when the last stable offset stayed below the end
	// offset, without moving, over the sample interval: an open
	// transaction holds back read_committed readers and compaction.
	Blocked bool       `json:"blocked"`
	Groups  []GroupLag `json:"groups,omitempty"`
}

// GroupStatus is a consumer group's state.
type GroupStatus struct {
	Group   string `json:"group"`
	State   string `json:"state"`
	Members int    `json:"members"`
	// Lag is the group's total lag over the partitions reported.
	Lag int64 `json:"lag"`
}

// StatusReport is the state of the cart topics.
type StatusReport struct {
	Partitions []PartitionStatus `json:"partitions"`
	Groups     []GroupStatus     `json:"groups"`
	// Warnings are for the operator: one line each.
	Warnings  []string      `json:"warnings,omitempty"`
	SampledAt time.Time     `json:"sampled_at"`
	Interval  time.Duration `json:"sample_interval_ns"`
}

// statusAdmin is what Status needs of an admin client.
type statusAdmin interface {
	admin
	groupAdmin
}

// Status reports, for every partition of every topic of cfg.Topics, the log
// start, end and last stable offsets and the committed offsets and lag of
// the groups asked for, sampling the offsets twice, SampleInterval apart,
// to tell a transaction in flight from one that hangs.
func Status(ctx context.Context, cfg Config, opts StatusOptions) (StatusReport, error) {
	if err := cfg.Topics.Validate(); err != nil {
		return StatusReport{}, fmt.Errorf("replay: %w", err)
	}
	cfg = cfg.withDefaults()
	if opts.ManagerGroup == "" {
		opts.ManagerGroup = DefaultManagerGroup
	}
	if opts.SampleInterval == 0 {
		opts.SampleInterval = DefaultSampleInterval
	}
	if opts.SampleInterval < 0 {
		return StatusReport{}, errors.New("replay: sample interval must not be negative")
	}
	adm, err := kafka.NewAdminClient(cfg.clientConfig(nil))
	if err != nil {
		return StatusReport{}, fmt.Errorf("replay: admin client: %w", err)
	}
	defer adm.Close()
	return status(ctx, adm, cfg, opts)
}

type offsetSample struct{ start, end, stable map[string]map[int32]int64 }

func sample(ctx context.Context, a admin, cfg Config, counts map[string]int, names []string) (offsetSample, error) {
	s := offsetSample{start: map[string]map[int32]int64{}, end: map[string]map[int32]int64{}, stable: map[string]map[int32]int64{}}
	for _, t := range names {
		var parts []int32
		for p := range counts[t] {
			parts = append(parts, int32(p))
		}
		var err error
		if s.start[t], err = listOffsets(ctx, a, cfg.RequestTimeout, t, allSpec(parts, kafka.EarliestOffsetSpec)); err != nil {
			return s, err
		}
		if s.end[t], err = listOffsetsAs(ctx, a, cfg.RequestTimeout, t, allSpec(parts, kafka.LatestOffsetSpec), kafka.IsolationLevelReadUncommitted); err != nil {
			return s, err
		}
		if s.stable[t], err = listOffsets(ctx, a, cfg.RequestTimeout, t, allSpec(parts, kafka.LatestOffsetSpec)); err != nil {
			return s, err
		}
	}
	return s, nil
}

func status(ctx context.Context, a statusAdmin, cfg Config, opts StatusOptions) (StatusReport, error) {
	names := cfg.Topics.All()
	counts, err := partitionCounts(ctx, a, cfg.RequestTimeout, names...)
	if err != nil {
		return StatusReport{}, fmt.Errorf("replay: %w", err)
	}
	first, err := sample(ctx, a, cfg, counts, names)
	if err != nil {
		return StatusReport{}, fmt.Errorf("replay: %w", err)
	}
	select {
	case <-ctx.Done():
		return StatusReport{}, ctx.Err()
	case <-time.After(opts.SampleInterval):
	}
	second, err := sample(ctx, a, cfg, counts, names)
	if err != nil {
		return StatusReport{}, fmt.Errorf("replay: %w", err)
	}
	rep := StatusReport{SampledAt: time.Now().UTC(), Interval: opts.SampleInterval}
	groups := append([]string{opts.ManagerGroup}, opts.Groups...)
	committed := map[string]map[string]map[int32]int64{} // group -> topic -> partition
	for _, g := range slices.Compact(groups) {
		members, state, err := GroupMembers(ctx, a, cfg.RequestTimeout, g)
		if err != nil {
			return StatusReport{}, fmt.Errorf("replay: describe group %s: %w", g, err)
		}
		offs, err := allGroupOffsets(ctx, a, cfg.RequestTimeout, g)
		if err != nil {
			return StatusReport{}, fmt.Errorf("replay: offsets of group %s: %w", g, err)
		}
		committed[g] = offs
		rep.Groups = append(rep.Groups, GroupStatus{Group: g, State: state, Members: members})
	}
	for _, t := range names {
		for p := range int32(counts[t]) {
			ps := PartitionStatus{Topic: t, Partition: p, Start: second.start[t][p], End: second.end[t][p],
				Stable: second.stable[t][p], StableBefore: first.stable[t][p]}
			ps.Blocked = ps.Stable < ps.End && ps.Stable == ps.StableBefore
			if ps.Blocked {
				rep.Warnings = append(rep.Warnings, fmt.Sprintf(
					"WARNING %s/%d: last stable offset %d has not moved in %s while the end offset is %d: an open transaction (a stuck or killed transactional producer) blocks read_committed readers and compaction of this partition; the broker aborts it after the producer's transaction.timeout.ms, or see kafka-transactions.sh find-hanging",
					t, p, ps.Stable, opts.SampleInterval, ps.End))
			}
			for gi, g := range rep.Groups {
				c, ok := committed[g.Group][t][p]
				if !ok {
					continue
				}
				lag := max(ps.End-c, 0)
				ps.Groups = append(ps.Groups, GroupLag{Group: g.Group, Committed: c, Lag: lag})
				rep.Groups[gi].Lag += lag
			}
			rep.Partitions = append(rep.Partitions, ps)
		}
	}
	slices.SortStableFunc(rep.Partitions, func(a, b PartitionStatus) int {
		return cmp.Or(cmp.Compare(slices.Index(names, a.Topic), slices.Index(names, b.Topic)), cmp.Compare(a.Partition, b.Partition))
	})
	return rep, nil
}

// allGroupOffsets returns every committed offset of group, by topic and
// partition.
func allGroupOffsets(ctx context.Context, a groupAdmin, timeout time.Duration, group string) (map[string]map[int32]int64, error) {
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := a.ListConsumerGroupOffsets(lctx, []kafka.ConsumerGroupTopicPartitions{{Group: group}})
	if err != nil {
		return nil, err
	}
	out := map[string]map[int32]int64{}
	for _, g := range res.ConsumerGroupsTopicPartitions {
		for _, tp := range g.Partitions {
			if tp.Error != nil || tp.Topic == nil || tp.Offset < 0 {
				continue
			}
			if out[*tp.Topic] == nil {
				out[*tp.Topic] = map[int32]int64{}
			}
			out[*tp.Topic][tp.Partition] = int64(tp.Offset)
		}
	}
	return out, nil
}
