package projection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
)

// Warm restart: the cart.state follower's applied records are written to a
// local checkpoint (checkpoint_store.go) in batches; at start a checkpoint
// that matches the topic is loaded into the shards and the follower resumes
// each partition at the offset the checkpoint covers. See
// docs/read-path.md, "Warm restart".

// checkpointer collects what the cart.state follower applies and writes it
// in batches. record is called by the follower only; run writes. The
// follower never waits on a write: it holds mu for one map insert, and a
// batch is swapped out under mu in O(1).
type checkpointer struct {
	store    *checkpointStore
	log      *slog.Logger
	interval time.Duration
	maxBytes int

	mu    sync.Mutex
	batch *cpBatch
	// pos is the follower's position per owned partition: the next offset
	// after the last record recorded (or where it started).
	pos  map[int32]int64
	kick chan struct{}
}

func newCheckpointer(store *checkpointStore, cfg Config, start map[int32]int64) *checkpointer {
	return &checkpointer{
		store: store, log: cfg.Logger, interval: cfg.CheckpointInterval, maxBytes: cfg.CheckpointMaxBatchBytes,
		batch: newBatch(), pos: start, kick: make(chan struct{}, 1),
	}
}

// record notes a record of cart.state applied by the follower; value nil
// is a tombstone. Safe on a nil checkpointer (no checkpoint configured).
// Kafka's client gives every message its own value slice, so keeping it
// until the batch is written copies nothing.
func (c *checkpointer) record(part int32, key []byte, offset int64, value []byte) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.batch.add(part, string(key), offset, value)
	c.pos[part] = offset + 1
	full := c.batch.bytes >= c.maxBytes
	c.mu.Unlock()
	if full {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
}

// take swaps out the batch, with every partition's position.
func (c *checkpointer) take() *cpBatch {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.batch
	c.batch = newBatch()
	for part, next := range c.pos {
		b.next[part] = next
	}
	return b
}

// giveBack puts a batch that failed to write under the current one (whose
// entries are newer), so the next write still covers it: offsets must
// never run ahead of the values written.
func (c *checkpointer) giveBack(b *cpBatch) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for part, carts := range b.carts {
		for k, v := range carts {
			if _, newer := c.batch.carts[part][k]; !newer {
				c.batch.addValue(part, k, v)
			}
		}
	}
}

// run writes a batch every interval, or sooner when one grows past
// maxBytes, and a last one when ctx ends; then it closes the store. A
// failed write is logged and retried with the next batch: the checkpoint is
// a cache and never stops the projection.
func (c *checkpointer) run(ctx context.Context) error {
	defer func() {
		if err := c.store.close(); err != nil {
			c.log.Warn("projection: closing the checkpoint", "err", err)
		}
	}()
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c.flush("shutdown")
			return nil
		case <-t.C:
			c.flush("interval")
		case <-c.kick:
			c.flush("size")
		}
	}
}

// flush writes the current batch.
func (c *checkpointer) flush(why string) {
	b := c.take()
	began := time.Now()
	n := 0
	for _, carts := range b.carts {
		n += len(carts)
	}
	if err := c.store.write(b, began); err != nil {
		c.giveBack(b)
		c.log.Error("projection: checkpoint write failed; retrying with the next batch", "err", err)
		return
	}
	c.log.Info("projection: checkpoint written", "why", why, "carts", n, "bytes", b.bytes,
		"took", time.Since(began).Round(time.Millisecond), "file_bytes", c.store.size())
}

// errNoCheckpoint: the checkpoint is empty (new, deleted, or replaced).
var errNoCheckpoint = errors.New("no checkpoint yet")

// restoreParams is what restore checks a checkpoint against.
type restoreParams struct {
	want     checkpointIdentity
	owned    []int32
	earliest map[int32]int64 // log start offsets of cart.state
	ends     map[int32]int64 // last stable offsets of cart.state
	now      time.Time
	maxAge   time.Duration
}

// mismatch says why a checkpoint with header h cannot be used, or "".
// A partition's checkpoint must lie within the log as it is now: at or
// after its start (else records past the checkpoint were deleted) and at
// or before its end (else the log was truncated or recreated). A
// checkpoint older than maxAge with records after it may have missed a
// tombstone the cleaner has since removed (delete.retention.ms).
func mismatch(h cpHeader, p restoreParams) string {
	if h.id != p.want {
		return fmt.Sprintf("taken of %+v, the topic is %+v", h.id, p.want)
	}
	for _, part := range p.owned {
		m, ok := h.next[part]
		if !ok {
			continue
		}
		switch start, end := p.earliest[part], p.ends[part]; {
		case m.next < start:
			return fmt.Sprintf("partition %d: the log starts at %d, past the checkpoint's %d", part, start, m.next)
		case m.next > end:
			return fmt.Sprintf("partition %d: the checkpoint's offset %d is past the log's end %d", part, m.next, end)
		case m.next < end && p.now.Sub(m.at) > p.maxAge:
			return fmt.Sprintf("partition %d: the checkpoint is %s old, older than %s, with records after it", part, p.now.Sub(m.at).Round(time.Second), p.maxAge)
		}
	}
	return ""
}

// restore opens the checkpoint, checks it against the topic and loads it
// into lay's shards. It returns where the follower starts each owned
// partition and the checkpointer that keeps the checkpoint up to date. A
// checkpoint that does not match or does not load is discarded (logged):
// the partitions then start at the log's start.
func (p *Projection) restore(ctx context.Context, admin *kafka.AdminClient, lay *layout, owned []int32, ends map[tpKey]int64) (map[int32]int64, *checkpointer, error) {
	rp, err := p.restoreParams(ctx, admin, owned, ends)
	if err != nil {
		return nil, nil, err
	}
	store, err := openCheckpoint(p.cfg.CheckpointDir)
	if err != nil {
		return nil, nil, fmt.Errorf("projection: %w", err)
	}
	if store.replaced != nil {
		p.log.Warn("projection: checkpoint file damaged; replaced by an empty one", "dir", p.cfg.CheckpointDir, "err", store.replaced)
	}
	start := map[int32]int64{}
	for _, part := range owned {
		start[part] = rp.earliest[part]
	}
	began := time.Now()
	restored, err := p.load(store, lay, rp, start)
	switch {
	case errors.Is(err, errNoCheckpoint):
		p.log.Info("projection: no checkpoint yet; rebuilding from cart.state", "dir", p.cfg.CheckpointDir)
	case err != nil:
		p.log.Warn("projection: checkpoint discarded; rebuilding from cart.state", "dir", p.cfg.CheckpointDir, "reason", err)
	}
	if err != nil {
		for _, part := range owned {
			lay.shards[part] = newShard(part)
			start[part] = rp.earliest[part]
		}
		restored = 0
		if err := store.reset(rp.want); err != nil {
			// A cache that cannot be written is no reason to stop serving.
			_ = store.close()
			p.log.Error("projection: checkpoint unusable; running without one", "dir", p.cfg.CheckpointDir, "err", err)
			return start, nil, nil
		}
	}
	if restored > 0 {
		p.log.Info("projection: restored from checkpoint", "carts", restored, "took", time.Since(began).Round(time.Millisecond))
		// The restore read every page: let them go (the carts are on the
		// heap now).
		if err := store.remap(); err != nil {
			p.log.Error("projection: checkpoint unusable; running without one", "dir", p.cfg.CheckpointDir, "err", err)
			p.restored.Store(int64(restored))
			return start, nil, nil
		}
	}
	p.restored.Store(int64(restored))
	pos := map[int32]int64{}
	for k, v := range start {
		pos[k] = v
	}
	return start, newCheckpointer(store, p.cfg, pos), nil
}

// restoreParams asks the cluster what a usable checkpoint must match.
func (p *Projection) restoreParams(ctx context.Context, admin *kafka.AdminClient, owned []int32, ends map[tpKey]int64) (restoreParams, error) {
	topic := p.cfg.Topics.State
	rp := restoreParams{owned: owned, ends: map[int32]int64{}, now: time.Now(), maxAge: p.cfg.CheckpointMaxAge}
	cid, err := admin.ClusterID(ctx)
	if err != nil {
		return rp, fmt.Errorf("projection: cluster id: %w", err)
	}
	desc, err := admin.DescribeTopics(ctx, kafka.NewTopicCollectionOfTopicNames([]string{topic}))
	if err != nil {
		return rp, fmt.Errorf("projection: describe %s: %w", topic, err)
	}
	if len(desc.TopicDescriptions) != 1 || desc.TopicDescriptions[0].Error.Code() != kafka.ErrNoError {
		return rp, fmt.Errorf("projection: describe %s: %v", topic, desc.TopicDescriptions)
	}
	td := desc.TopicDescriptions[0]
	rp.want = checkpointIdentity{Format: checkpointFormat, ClusterID: cid, Topic: topic, TopicID: td.TopicID.String(), Partitions: len(td.Partitions)}
	earliest, err := listOffsets(ctx, admin, []string{topic}, owned, kafka.EarliestOffsetSpec, kafka.IsolationLevelReadCommitted)
	if err != nil {
		return rp, err
	}
	rp.earliest = map[int32]int64{}
	for k, v := range earliest {
		rp.earliest[k.partition] = v
	}
	for k, v := range ends {
		rp.ends[k.partition] = v
	}
	return rp, nil
}

// load checks the checkpoint and applies it to lay's shards; start gets
// the offset each restored partition resumes at. An error means the
// checkpoint must be discarded; the shards may then hold part of it.
func (p *Projection) load(store *checkpointStore, lay *layout, rp restoreParams, start map[int32]int64) (int, error) {
	h, ok, err := store.header()
	switch {
	case err != nil:
		return 0, err
	case !ok:
		return 0, errNoCheckpoint
	}
	if why := mismatch(h, rp); why != "" {
		return 0, errors.New(why)
	}
	var parts []int32
	for _, part := range rp.owned {
		if m, ok := h.next[part]; ok {
			parts = append(parts, part)
			start[part] = m.next
		}
	}
	return p.loadPartitions(store, lay, parts)
}

// loadPartitions decodes the partitions' carts into their shards, in
// parallel: decoding is the restart's cost.
func (p *Projection) loadPartitions(store *checkpointStore, lay *layout, parts []int32) (int, error) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []error
		total int
	)
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for _, part := range parts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			n := 0
			err := store.load(part, func(key []byte, offset int64, value []byte) error {
				p.applyValue(lay.shards[part], cart.CartID(key), part, offset, value)
				n++
				return nil
			})
			mu.Lock()
			defer mu.Unlock()
			total += n
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	return total, errors.Join(errs...)
}
