package projection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/kafkaoffsets"
	"github.com/cartstream/cartstream/internal/partition"
	"github.com/cartstream/cartstream/internal/topics"
)

// Projection is the materialized read side. Build it with New, run it with
// Run; its query methods are safe for concurrent use from the start and
// answer ErrNotReady until the rebuild is done.
type Projection struct {
	cfg    Config
	log    *slog.Logger
	intern *interner

	started   atomic.Bool
	layout    atomic.Pointer[layout]
	ready     chan struct{} // cart.state caught up and catalog loaded
	histReady chan struct{} // history index caught up
	closed    chan struct{} // Run has returned
	closeOnce sync.Once

	// tables answer the catalog: cfg.Tables, or the Projection's own
	// (ownTables), which Run reads.
	tables    *SharedTables
	ownTables bool
	fetch     *fetcher
	// cp keeps the local checkpoint; nil without Config.CheckpointDir.
	cp *checkpointer

	// Counters for progress logs and tests.
	stateRecords atomic.Int64
	badRecords   atomic.Int64
	histRecords  atomic.Int64
	slowWatches  atomic.Int64
	watches      atomic.Int64 // WatchCart streams open
	restored     atomic.Int64
}

// layout is what Run learns at start: the partition count of the cart
// topics and the shards of the owned partitions (nil for the others).
type layout struct {
	partitions int
	shards     []*shard
}

// New validates cfg and returns a Projection; Run does the reading.
func New(cfg Config) (*Projection, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	p := &Projection{
		cfg:       cfg,
		log:       cfg.Logger,
		intern:    newInterner(cfg.MaxInterned),
		ready:     make(chan struct{}),
		histReady: make(chan struct{}),
		closed:    make(chan struct{}),
		tables:    cfg.Tables,
	}
	if p.tables == nil {
		t, err := newSharedTables(cfg)
		if err != nil {
			return nil, err
		}
		p.tables, p.ownTables = t, true
	}
	p.fetch = &fetcher{conf: cfg.consumerConfig("history-fetch"), log: p.log}
	return p, nil
}

// Ready is closed once every owned partition of cart.state has been read up
// to the last stable offset seen at start and the catalog (its own, or
// Config.Tables) is loaded.
func (p *Projection) Ready() <-chan struct{} { return p.ready }

// HistoryReady is closed once the history index has caught up with
// cart.validated and cart.invalid as they were at start.
func (p *Projection) HistoryReady() <-chan struct{} { return p.histReady }

// Done is closed when Run has returned.
func (p *Projection) Done() <-chan struct{} { return p.closed }

// Run reads the topics and follows them until ctx ends or a follower
// fails. It may be called once. It returns nil after a shutdown asked for
// by ctx; waiters then end with ErrClosed.
func (p *Projection) Run(ctx context.Context) error {
	if !p.started.CompareAndSwap(false, true) {
		return errors.New("projection: Run called twice")
	}
	defer p.closeOnce.Do(func() { close(p.closed) })
	defer p.fetch.close()

	lay, st, err := p.start(ctx)
	if err != nil {
		return err
	}
	p.layout.Store(lay)

	g := newTasks(ctx)
	ctx, run := g.ctx, g.run
	stateDone := make(chan struct{})
	run("cart state", func(ctx context.Context) error {
		return p.follow(ctx, follower{
			name: "cart state", topics: []string{p.cfg.Topics.State}, lay: lay, ends: st.stateEnds, starts: st.starts,
			group: "state", handle: p.handleSnapshot, prepare: p.prepareSnapshot, handlePrepared: p.handlePreparedSnapshot,
			eof: p.settle, caughtUp: func() { close(stateDone) },
			progress: true,
		})
	})
	run("history", func(ctx context.Context) error {
		return p.follow(ctx, follower{
			name: "history", topics: []string{p.cfg.Topics.Validated, p.cfg.Topics.Invalid}, lay: lay, ends: st.histEnds, starts: st.starts,
			group: "history", handle: p.handleHistory, caughtUp: func() {
				p.log.Info("projection: history index caught up", "records", p.histRecords.Load())
				close(p.histReady)
			},
		})
	})
	if p.ownTables {
		run("tables", func(ctx context.Context) error { return p.tables.run(ctx, false) })
	}
	run("offset probe", func(ctx context.Context) error { return p.probeOffsets(ctx, lay) })
	if p.cp != nil {
		run("checkpoint", p.cp.run)
	}
	run("ready", func(ctx context.Context) error {
		for _, ch := range []<-chan struct{}{stateDone, p.tables.Ready()} {
			select {
			case <-ch:
			case <-ctx.Done():
				return nil
			}
		}
		p.tables.catalog.markLoaded()
		p.log.Info("projection: ready", "carts", p.carts(), "records", p.stateRecords.Load(), "skipped", p.badRecords.Load())
		close(p.ready)
		if p.ownTables {
			// Alone in its process (a Replica, which hands its
			// partitions shared tables, releases once for all of them).
			releaseRebuildGarbage(p.log)
		}
		return nil
	})
	return g.wait()
}

// startOffsets are where the followers start and what they must reach.
type startOffsets struct {
	stateEnds, histEnds map[tpKey]int64
	// starts are the offsets each partition of cart.state and of the
	// history topics is read from: its log start, or, for cart.state,
	// where a restore from the checkpoint left it.
	starts map[tpKey]int64
}

// start checks the topics, takes the end offsets the rebuild must reach
// and restores the checkpoint, if one is configured.
func (p *Projection) start(ctx context.Context) (*layout, startOffsets, error) {
	var st startOffsets
	sctx, cancel := context.WithTimeout(ctx, p.cfg.StartTimeout)
	defer cancel()
	admin, err := kafka.NewAdminClient(&p.cfg.Client)
	if err != nil {
		return nil, st, fmt.Errorf("projection: admin client: %w", err)
	}
	defer admin.Close()
	n, err := topics.Ensure(sctx, admin, p.cfg.Topics, p.cfg.TopicConfig)
	if err != nil {
		return nil, st, fmt.Errorf("projection: topics: %w", err)
	}
	owned := p.cfg.Partitions
	if len(owned) == 0 {
		for i := range n {
			owned = append(owned, int32(i))
		}
	}
	lay := &layout{partitions: n, shards: make([]*shard, n)}
	for _, part := range owned {
		if int(part) >= n {
			return nil, st, fmt.Errorf("projection: owned partition %d: the cart topics have %d partitions", part, n)
		}
		lay.shards[part] = newShard(part)
	}
	if st.stateEnds, err = lastStable(sctx, admin, []string{p.cfg.Topics.State}, owned); err != nil {
		return nil, st, err
	}
	if st.histEnds, err = lastStable(sctx, admin, []string{p.cfg.Topics.Validated, p.cfg.Topics.Invalid}, owned); err != nil {
		return nil, st, err
	}
	// Each follower starts at offsets it names, never at "the beginning":
	// librdkafka resolves a logical offset with a lookup that a consumer
	// only seconds old sends before it knows the partition's leader, and
	// then retries after half a second (a cold rebuild of 100,000 carts
	// spent a third of its time waiting for it).
	if st.starts, err = logStart(sctx, admin, []string{p.cfg.Topics.State, p.cfg.Topics.Validated, p.cfg.Topics.Invalid}, owned); err != nil {
		return nil, st, err
	}
	if p.cfg.CheckpointDir != "" {
		starts, cp, err := p.restore(sctx, admin, lay, owned, st.stateEnds)
		if err != nil {
			return nil, st, err
		}
		p.cp = cp
		for part, o := range starts {
			st.starts[tpKey{p.cfg.Topics.State, part}] = o
		}
	}
	var total int64
	for _, o := range st.stateEnds {
		total += o
	}
	for _, part := range owned {
		lay.shards[part].offsets.init(st.stateEnds[tpKey{p.cfg.Topics.State, part}])
	}
	p.log.Info("projection: rebuilding", "topic", p.cfg.Topics.State, "partitions", n, "owned", len(owned), "end_offsets_total", total,
		"restored_carts", p.restored.Load())
	return lay, st, nil
}

type tpKey struct {
	topic     string
	partition int32
}

// lastStable returns each partition's last stable offset (ListOffsets with
// isolation read_committed): what a read_committed reader reaches.
func lastStable(ctx context.Context, admin kafkaoffsets.Lister, names []string, parts []int32) (map[tpKey]int64, error) {
	return listOffsets(ctx, admin, names, parts, kafka.LatestOffsetSpec, kafka.IsolationLevelReadCommitted)
}

// logStart returns each partition's first offset.
func logStart(ctx context.Context, admin kafkaoffsets.Lister, names []string, parts []int32) (map[tpKey]int64, error) {
	return listOffsets(ctx, admin, names, parts, kafka.EarliestOffsetSpec, kafka.IsolationLevelReadCommitted)
}

// listOffsets returns each partition's offset of spec as a reader of the
// given isolation level sees it: for the latest offset, the last stable
// offset (read_committed) or the high watermark (read_uncommitted). A
// partition whose leader is not known yet (topics created a moment ago, a
// failover) is asked again until ctx ends (kafkaoffsets.List).
func listOffsets(ctx context.Context, admin kafkaoffsets.Lister, names []string, parts []int32, spec kafka.OffsetSpec, iso kafka.IsolationLevel) (map[tpKey]int64, error) {
	req := map[kafkaoffsets.Partition]kafka.OffsetSpec{}
	for _, t := range names {
		for _, part := range parts {
			req[kafkaoffsets.Partition{Topic: t, Partition: part}] = spec
		}
	}
	res, err := kafkaoffsets.List(ctx, admin, req, iso)
	if err != nil {
		return nil, fmt.Errorf("projection: %w", err)
	}
	out := make(map[tpKey]int64, len(res))
	for k, o := range res {
		out[tpKey{k.Topic, k.Partition}] = o
	}
	return out, nil
}

// follower describes one consumer loop over owned partitions of topics.
type follower struct {
	name   string
	group  string
	topics []string
	lay    *layout
	// ends are the offsets the follower must reach to be caught up.
	ends map[tpKey]int64
	// starts are where partitions start; absent ones at the log's start.
	starts map[tpKey]int64
	handle func(sh *shard, m *kafka.Message)
	// prepare, if set, is the part of handling a record that touches no
	// shard (decoding it): the loop runs it on a batch of polled records
	// spread over the CPUs, then hands each record and what prepare made
	// of it to handlePrepared, in order, instead of calling handle.
	prepare        func(m *kafka.Message) any
	handlePrepared func(sh *shard, m *kafka.Message, prepared any)
	eof            func(sh *shard)
	caughtUp       func()
	// progress: log the rebuild's progress and keep the shards' applied
	// offsets (the cart.state follower).
	progress bool
}

// follow reads f.topics' owned partitions from f.starts (or the beginning)
// and follows them until ctx ends. It calls caughtUp once every partition reached its
// end offset (or its end, as partition EOF says).
func (p *Projection) follow(ctx context.Context, f follower) error {
	conf := p.cfg.consumerConfig(f.group)
	if p.cfg.KafkaStats != nil {
		(*conf)["statistics.interval.ms"] = int(p.cfg.KafkaStatsInterval.Milliseconds())
	}
	cons, err := kafka.NewConsumer(conf)
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	defer func() { _ = cons.Close() }()
	var assign []kafka.TopicPartition
	pending := map[tpKey]bool{}
	pos := map[tpKey]int64{}
	for _, t := range f.topics {
		for _, sh := range f.lay.shards {
			if sh == nil {
				continue
			}
			k := tpKey{t, sh.partition}
			from := kafka.OffsetBeginning
			if o, ok := f.starts[k]; ok {
				from, pos[k] = kafka.Offset(o), o
			}
			assign = append(assign, kafka.TopicPartition{Topic: &t, Partition: sh.partition, Offset: from})
			if f.ends[k] > pos[k] {
				pending[k] = true
			}
		}
	}
	if err := cons.Assign(assign); err != nil {
		return fmt.Errorf("assign: %w", err)
	}
	var total int64
	for _, e := range f.ends {
		total += e
	}
	caughtUp := false
	check := func() {
		if !caughtUp && len(pending) == 0 {
			caughtUp = true
			f.caughtUp()
		}
	}
	check()
	began, lastLog := time.Now(), time.Now()
	var records int64
	onMessage := func(e *kafka.Message, prepared any, isPrepared bool) error {
		tp := e.TopicPartition
		if tp.Error != nil {
			return fmt.Errorf("%s/%d: %w", *tp.Topic, tp.Partition, tp.Error)
		}
		sh := f.lay.shard(tp.Partition)
		if sh == nil {
			return nil
		}
		records++
		if isPrepared {
			f.handlePrepared(sh, e, prepared)
		} else {
			f.handle(sh, e)
		}
		if f.progress {
			sh.offsets.applied.Store(int64(tp.Offset) + 1)
		}
		k := tpKey{*tp.Topic, tp.Partition}
		pos[k] = int64(tp.Offset) + 1
		if pending[k] && pos[k] >= f.ends[k] {
			delete(pending, k)
			check()
		}
		return nil
	}
	var batch prepareBatch
	for ctx.Err() == nil {
		ev := cons.Poll(100)
		if m, ok := ev.(*kafka.Message); ok && f.prepare != nil {
			// The records already fetched, prepared together; the event
			// that ended the batch, if any, is handled after them.
			ev = batch.fill(cons, m)
			batch.prepare(f.prepare)
			for i, m := range batch.msgs {
				if err := onMessage(m, batch.prepared[i], true); err != nil {
					return err
				}
			}
			// ev (nil, or the event that ended the batch) falls through
			// to the switch and the progress report below.
		} else if ev == nil && f.progress {
			trackApplied(cons, f.lay, assign) // idle: every record polled is applied
		}
		switch e := ev.(type) {
		case *kafka.Message:
			if err := onMessage(e, nil, false); err != nil {
				return err
			}
		case kafka.PartitionEOF:
			sh := f.lay.shard(e.Partition)
			if sh == nil || e.Topic == nil {
				continue
			}
			if f.eof != nil {
				f.eof(sh)
			}
			delete(pending, tpKey{*e.Topic, e.Partition})
			check()
		case kafka.Error:
			if e.IsFatal() {
				return fmt.Errorf("consumer: %w", e)
			}
			p.log.Warn("projection: consumer error", "follower", f.name, "err", e)
		case *kafka.Stats:
			if p.cfg.KafkaStats != nil {
				p.cfg.KafkaStats(f.group, e.String())
			}
		}
		if f.progress && !caughtUp && time.Since(lastLog) >= p.cfg.ProgressInterval {
			lastLog = time.Now()
			var reached int64
			for k, end := range f.ends {
				reached += min(pos[k], end)
			}
			pct := 100.0
			if total > 0 {
				pct = float64(reached) * 100 / float64(total)
			}
			elapsed := time.Since(began).Seconds()
			p.log.Info("projection: rebuild progress", "follower", f.name, "records", records, "carts", p.carts(),
				"rate_per_s", int64(float64(records)/max(elapsed, 1e-3)), "percent", fmt.Sprintf("%.1f", pct),
				"partitions_pending", len(pending))
		}
	}
	return nil
}

func (l *layout) shard(partition int32) *shard {
	if partition < 0 || int(partition) >= len(l.shards) {
		return nil
	}
	return l.shards[partition]
}

// handleSnapshot applies one cart.state record, and notes it for the
// checkpoint.
func (p *Projection) handleSnapshot(sh *shard, m *kafka.Message) {
	p.handlePreparedSnapshot(sh, m, p.prepareSnapshot(m))
}

// prepareSnapshot decodes a cart.state record into the form a shard keeps
// (decodedValue); it touches no shard, so records are prepared in
// parallel (follower.prepare).
func (p *Projection) prepareSnapshot(m *kafka.Message) any {
	if m.TopicPartition.Error != nil {
		return nil
	}
	return p.decodeValue(cart.CartID(m.Key), m.Value)
}

// handlePreparedSnapshot applies a cart.state record prepareSnapshot
// decoded, and notes it for the checkpoint.
func (p *Projection) handlePreparedSnapshot(sh *shard, m *kafka.Message, prepared any) {
	p.stateRecords.Add(1)
	tp := m.TopicPartition
	d, ok := prepared.(decodedValue)
	if !ok { // not prepared: never for a record without an error
		d = p.decodeValue(cart.CartID(m.Key), m.Value)
	}
	p.applyDecoded(sh, tp.Partition, int64(tp.Offset), d)
	p.cp.record(tp.Partition, m.Key, int64(tp.Offset), m.Value)
	p.traced(m)
}

// decodedValue is a cart's cart.state value decoded and compacted: a
// tombstone, a snapshot, or the reason it cannot be read.
type decodedValue struct {
	id        cart.CartID
	tombstone bool
	snap      cart.Snapshot
	err       error
}

// decodeValue decodes and compacts a cart's cart.state value; it is safe
// for concurrent use.
func (p *Projection) decodeValue(id cart.CartID, value []byte) decodedValue {
	if value == nil {
		return decodedValue{id: id, tombstone: true}
	}
	s, err := p.cfg.Records.DecodeSnapshot(value)
	if err == nil && s.Cart.CartID != id {
		err = fmt.Errorf("snapshot of cart %q under key %q", s.Cart.CartID, id)
	}
	if err != nil {
		return decodedValue{id: id, err: err}
	}
	return decodedValue{id: id, snap: p.intern.compact(id, s)}
}

// applyValue applies a cart's cart.state record at offset, read from the
// topic or the checkpoint: nil is a tombstone, an undecodable value
// quarantines the cart.
func (p *Projection) applyValue(sh *shard, id cart.CartID, part int32, offset int64, value []byte) {
	p.applyDecoded(sh, part, offset, p.decodeValue(id, value))
}

func (p *Projection) applyDecoded(sh *shard, part int32, offset int64, d decodedValue) {
	id := d.id
	if d.tombstone {
		sh.remove(id)
		return
	}
	if err := d.err; err != nil {
		// Quarantined: serving the older snapshot held (or none) would show
		// a state the cart has left. The partition's other carts are served.
		p.badRecords.Add(1)
		p.log.Error("projection: cart quarantined: its snapshot does not decode", "cart_id", id,
			"partition", part, "offset", offset, "err", err)
		sh.quarantine(id, &unreadable{stateOffset: offset})
		return
	}
	if stored, _ := sh.apply(d.snap); !stored {
		p.log.Debug("projection: ignoring a snapshot not newer than the one held", "cart_id", id, "request_offset", d.snap.RequestOffset)
	}
}

func (p *Projection) settle(sh *shard) { sh.settle() }

// carts is the number of carts with a snapshot, over the owned partitions.
func (p *Projection) carts() int {
	lay := p.layout.Load()
	if lay == nil {
		return 0
	}
	n := 0
	for _, sh := range lay.shards {
		if sh != nil {
			sh.mu.RLock()
			n += sh.snapshots
			sh.mu.RUnlock()
		}
	}
	return n
}

// Stats are counters of a Projection, for logs and tests.
type Stats struct {
	Carts          int   // carts with a snapshot
	RestoredCarts  int64 // carts loaded from the checkpoint at start
	StateRecords   int64 // cart.state records read
	SkippedRecords int64 // undecodable records skipped
	HistoryRecords int64 // cart.validated and cart.invalid records indexed
	SlowWatches    int64 // WatchCart streams ended because the client stopped reading
	Watches        int64 // WatchCart streams open now
	Ready          bool  // Ready is closed: queries are served
	HistoryReady   bool  // HistoryReady is closed
	// Partitions are the owned cart.state partitions' offsets, in
	// partition order (empty until Run has taken the end offsets).
	Partitions []PartitionStats
}

// Stats returns the current counters.
func (p *Projection) Stats() Stats {
	s := Stats{
		Carts: p.carts(), RestoredCarts: p.restored.Load(), StateRecords: p.stateRecords.Load(), SkippedRecords: p.badRecords.Load(),
		HistoryRecords: p.histRecords.Load(), SlowWatches: p.slowWatches.Load(), Watches: p.watches.Load(),
		Ready: isReady(p.ready), HistoryReady: isReady(p.histReady),
	}
	if lay := p.layout.Load(); lay != nil {
		for _, sh := range lay.shards {
			if sh != nil {
				s.Partitions = append(s.Partitions, sh.partitionStats())
			}
		}
	}
	return s
}

// isReady reports whether ch is closed.
func isReady(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// waitReady waits for ch, ctx or the end of Run.
func (p *Projection) waitReady(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-p.closed:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("%w (%w)", ctx.Err(), ErrNotReady)
	}
}

// shardOf checks id and returns its partition and shard.
func (p *Projection) shardOf(id cart.CartID) (*layout, int32, *shard, error) {
	if err := id.Validate(); err != nil {
		return nil, 0, nil, err
	}
	lay := p.layout.Load()
	if lay == nil {
		return nil, 0, nil, ErrNotReady
	}
	part := partition.For([]byte(id), lay.partitions)
	sh := lay.shard(part)
	if sh == nil {
		return lay, part, nil, fmt.Errorf("%w (partition %d)", ErrNotOwned, part)
	}
	return lay, part, sh, nil
}

// Token is a consistency token: a command's position in cart.requests.
type Token struct {
	Partition int32
	Offset    int64
}

// Cart returns the cart's current snapshot: ErrNotReady during the
// rebuild, ErrNotFound for a cart that never had a command.
func (p *Projection) Cart(id cart.CartID) (cart.Snapshot, error) {
	if !isReady(p.ready) {
		if err := id.Validate(); err != nil {
			return cart.Snapshot{}, err
		}
		return cart.Snapshot{}, ErrNotReady
	}
	_, _, sh, err := p.shardOf(id)
	if err != nil {
		return cart.Snapshot{}, err
	}
	s, ok, err := sh.get(id)
	if err != nil {
		return cart.Snapshot{}, err
	}
	if !ok {
		return cart.Snapshot{}, fmt.Errorf("%w: cart %s", ErrNotFound, id)
	}
	return s, nil
}

// checkToken reports a token that cannot belong to id, as field violations.
func checkToken(tok Token, part int32, partitions int) error {
	var vs []cart.FieldViolation
	if tok.Partition < 0 || int(tok.Partition) >= partitions {
		vs = append(vs, cart.FieldViolation{Field: "consistency_token.partition", Description: fmt.Sprintf("must be between 0 and %d", partitions-1)})
	} else if tok.Partition != part {
		vs = append(vs, cart.FieldViolation{Field: "consistency_token.partition", Description: "does not belong to this cart_id: use the token of a command on this cart"})
	}
	if tok.Offset < 0 {
		vs = append(vs, cart.FieldViolation{Field: "consistency_token.offset", Description: "must be >= 0"})
	}
	if len(vs) > 0 {
		return &cart.ValidationError{Violations: vs}
	}
	return nil
}

// AwaitToken waits, bounded by ctx, until the cart's snapshot covers the
// token (RequestOffset >= tok.Offset) and returns it. A cart still unknown
// once its partition has settled past the token is ErrNotFound; a known cart
// whose snapshot does not cover a token its partition has settled past
// cannot own that token (INVALID_ARGUMENT).
// A ctx without a deadline is bounded by Config.WaitTimeout.
func (p *Projection) AwaitToken(ctx context.Context, id cart.CartID, tok Token) (snap cart.Snapshot, err error) {
	if f := p.cfg.TokenWaited; f != nil {
		defer func(began time.Time) { f(time.Since(began), err) }(time.Now())
	}
	return p.awaitToken(ctx, id, tok)
}

func (p *Projection) awaitToken(ctx context.Context, id cart.CartID, tok Token) (cart.Snapshot, error) {
	if err := id.Validate(); err != nil {
		return cart.Snapshot{}, err
	}
	ctx, cancel := p.boundWait(ctx)
	defer cancel()
	if err := p.waitReady(ctx, p.ready); err != nil {
		return cart.Snapshot{}, err
	}
	lay, part, sh, err := p.shardOf(id)
	if lay != nil {
		if terr := checkToken(tok, part, lay.partitions); terr != nil {
			return cart.Snapshot{}, terr
		}
	}
	if err != nil {
		return cart.Snapshot{}, err
	}
	return sh.await(ctx, p.closed, id, func(v view) (bool, error) {
		switch {
		case v.bad != nil:
			return false, v.bad.err(id, part)
		case v.has && v.snap.Covers(tok.Offset):
			return true, nil
		case v.settled < tok.Offset:
			return false, nil
		case !v.has:
			return false, fmt.Errorf("%w: cart %s (its partition is past the token)", ErrNotFound, id)
		default:
			return false, fmt.Errorf("%w: %w", errNotCartsToken, invalid("consistency_token.offset", "the command at this position is not one of this cart_id's"))
		}
	})
}

// errNotCartsToken: the cart's snapshot does not cover a token its
// partition has settled past. For a command the gateway just recorded on
// this cart, that means its outcome is in cart.invalid only (a quarantined
// cart's rejection); AwaitOutcome then looks there.
var errNotCartsToken = errors.New("projection: the token's command is not in the cart's snapshot")

// boundWait gives a ctx without a deadline the default one: no wait on
// the read side holds a call forever.
func (p *Projection) boundWait(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, p.cfg.WaitTimeout)
}

// AwaitChange waits until the cart's version exceeds after and returns the
// snapshot; ErrNotFound if the cart is gone.
func (p *Projection) AwaitChange(ctx context.Context, id cart.CartID, after int64) (cart.Snapshot, error) {
	_, _, sh, err := p.shardOf(id)
	if err != nil {
		return cart.Snapshot{}, err
	}
	return sh.await(ctx, p.closed, id, func(v view) (bool, error) {
		if v.bad != nil {
			return false, v.bad.err(id, sh.partition)
		}
		if !v.has {
			return false, fmt.Errorf("%w: cart %s", ErrNotFound, id)
		}
		return v.snap.Cart.Version > after, nil
	})
}

// findOffset returns the window entry recorded at offset.
func findOffset(s cart.Snapshot, offset int64) (cart.RequestOutcome, bool) {
	i, ok := slices.BinarySearchFunc(s.Window, offset, func(o cart.RequestOutcome, off int64) int {
		switch {
		case o.Offset < off:
			return -1
		case o.Offset > off:
			return 1
		}
		return 0
	})
	if !ok {
		return cart.RequestOutcome{}, false
	}
	return s.Window[i], true
}
