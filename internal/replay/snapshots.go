package replay

import (
	"context"
	"errors"
	"fmt"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
)

// Current is what a snapshot topic holds for one key: the latest record
// read (read_committed, up to the last stable offset at the start of the
// read).
type Current struct {
	// Snapshot is the latest snapshot of the key that decodes; valid only
	// when HasSnapshot.
	Snapshot    cart.Snapshot
	HasSnapshot bool
	// Partition and Offset locate the key's latest record.
	Partition int32
	Offset    int64
	// Undecodable is set when the latest record does not decode (or holds
	// another cart than its key names); Snapshot is then an earlier record
	// of the key, if any survived compaction.
	Undecodable error
	// Deleted is set when the latest record is a tombstone.
	Deleted bool
}

// LoadSnapshots reads a snapshot topic (cart.state, or a topic a rewrite
// wrote to) and returns the latest record of every key. parts limits the
// read to those partitions; nil reads all of them.
func LoadSnapshots(ctx context.Context, cfg Config, topic string, parts []int32) (map[cart.CartID]*Current, Stats, error) {
	if err := cfg.Validate(); err != nil {
		return nil, Stats{}, err
	}
	if topic == "" {
		topic = cfg.Topics.State
	}
	cfg = cfg.withDefaults()
	adm, err := kafka.NewAdminClient(cfg.clientConfig(nil))
	if err != nil {
		return nil, Stats{}, fmt.Errorf("replay: admin client: %w", err)
	}
	defer adm.Close()
	if parts == nil {
		counts, err := partitionCounts(ctx, adm, cfg.RequestTimeout, topic)
		if err != nil {
			return nil, Stats{}, fmt.Errorf("replay: %w", err)
		}
		for p := range counts[topic] {
			parts = append(parts, int32(p))
		}
	}
	ss, err := spans(ctx, adm, cfg.RequestTimeout, topic, parts, Scope{})
	if err != nil {
		return nil, Stats{}, fmt.Errorf("replay: %w", err)
	}
	return loadSpans(ctx, cfg, topic, ss)
}

func loadSpans(ctx context.Context, cfg Config, topic string, ss []span) (map[cart.CartID]*Current, Stats, error) {
	shards := make([]map[cart.CartID]*Current, cfg.Workers)
	for i := range shards {
		shards[i] = map[cart.CartID]*Current{}
	}
	r := &reader{cfg: cfg, topic: topic}
	r.work = func(w int, batch []*kafka.Message) {
		sh := shards[w]
		for _, m := range batch {
			id := cart.CartID(m.Key)
			cur, ok := sh[id]
			if !ok {
				cur = &Current{}
				sh[id] = cur
			}
			cur.Partition, cur.Offset = m.TopicPartition.Partition, int64(m.TopicPartition.Offset)
			cur.Undecodable, cur.Deleted = nil, false
			if m.Value == nil {
				cur.Deleted, cur.HasSnapshot, cur.Snapshot = true, false, cart.Snapshot{}
				continue
			}
			s, err := cfg.Decoder.DecodeSnapshot(m.Value)
			if err == nil && s.Cart.CartID != id {
				err = errors.New("snapshot of cart " + string(s.Cart.CartID) + " under key " + string(id))
			}
			if err != nil {
				cur.Undecodable = err
				continue
			}
			cur.Snapshot, cur.HasSnapshot = s, true
		}
	}
	st, err := r.run(ctx, ss)
	if err != nil {
		return nil, Stats{}, err
	}
	out := map[cart.CartID]*Current{}
	for _, sh := range shards {
		for id, c := range sh {
			out[id] = c
		}
	}
	stats := Stats{Topic: topic, Records: st.Records, Folded: st.Records, Elapsed: st.Elapsed}
	for _, s := range ss {
		stats.Partitions = append(stats.Partitions, PartitionSpan{Partition: s.partition, Start: s.start, End: s.end, Records: st.PerPartition[s.partition]})
	}
	return out, stats, nil
}
