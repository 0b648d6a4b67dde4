package projection

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// partOffsets are one owned cart.state partition's offsets behind Stats:
// how far the projection applied it, and where it ends. The follower and
// the offset probe write them; Stats reads them, hence atomics.
type partOffsets struct {
	applied atomic.Int64 // position after the records applied (control records included)
	stable  atomic.Int64 // last stable offset, as last probed (-1: not yet)
	high    atomic.Int64 // high watermark, as last probed (-1: not yet)
	// rebuildEnd is the last stable offset taken at start: the rebuild is
	// done once applied reaches it. Written before the followers start.
	rebuildEnd int64
}

func (o *partOffsets) init(rebuildEnd int64) {
	o.stable.Store(-1)
	o.high.Store(-1)
	o.rebuildEnd = rebuildEnd
}

// PartitionStats are one owned cart.state partition's offsets.
type PartitionStats struct {
	Partition int32
	// Applied is the consumer's position: every record below it is applied.
	Applied int64
	// Stable and High are the partition's last stable offset and high
	// watermark as last probed (-1: not probed yet). Stable - Applied is
	// how far the projection trails committed writes; High above a Stable
	// that does not move is an open transaction that does not end.
	Stable, High int64
	// RebuildEnd is the last stable offset at start, which the rebuild
	// had to reach.
	RebuildEnd int64
}

func (sh *shard) partitionStats() PartitionStats {
	o := &sh.offsets
	return PartitionStats{Partition: sh.partition, Applied: o.applied.Load(), Stable: o.stable.Load(), High: o.high.Load(), RebuildEnd: o.rebuildEnd}
}

// probeOffsets asks for the owned cart.state partitions' last stable
// offsets and high watermarks every OffsetProbeInterval until ctx ends.
// A failed probe is logged and tried again: the figures only feed Stats.
func (p *Projection) probeOffsets(ctx context.Context, lay *layout) error {
	if p.cfg.OffsetProbeInterval < 0 {
		return nil
	}
	admin, err := kafka.NewAdminClient(&p.cfg.Client)
	if err != nil {
		return err
	}
	defer admin.Close()
	owned := lay.owned()
	tick := time.NewTicker(p.cfg.OffsetProbeInterval)
	defer tick.Stop()
	for {
		if err := p.probeOnce(ctx, admin, lay, owned); err != nil && ctx.Err() == nil {
			p.log.Debug("projection: offset probe", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (p *Projection) probeOnce(ctx context.Context, admin *kafka.AdminClient, lay *layout, owned []int32) error {
	ctx, cancel := context.WithTimeout(ctx, max(p.cfg.OffsetProbeInterval, time.Second))
	defer cancel()
	state := []string{p.cfg.Topics.State}
	stable, err := listOffsets(ctx, admin, state, owned, kafka.LatestOffsetSpec, kafka.IsolationLevelReadCommitted)
	if err != nil {
		return err
	}
	high, err := listOffsets(ctx, admin, state, owned, kafka.LatestOffsetSpec, kafka.IsolationLevelReadUncommitted)
	if err != nil {
		return err
	}
	for _, part := range owned {
		k := tpKey{p.cfg.Topics.State, part}
		sh := lay.shard(part)
		sh.offsets.stable.Store(stable[k])
		sh.offsets.high.Store(high[k])
	}
	return nil
}

// trackApplied records the state follower's position past the records
// it applied; unlike the last record's offset + 1, the position also
// steps over transaction markers, so a caught-up partition shows
// Applied == Stable.
func trackApplied(cons *kafka.Consumer, lay *layout, assign []kafka.TopicPartition) {
	pos, err := cons.Position(assign)
	if err != nil {
		return // the next idle poll tries again
	}
	for _, tp := range pos {
		if sh := lay.shard(tp.Partition); sh != nil && tp.Offset >= 0 {
			sh.offsets.applied.Store(int64(tp.Offset))
		}
	}
}

func (l *layout) owned() []int32 {
	var out []int32
	for _, sh := range l.shards {
		if sh != nil {
			out = append(out, sh.partition)
		}
	}
	return out
}
