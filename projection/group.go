package projection

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/internal/topics"
)

// A Replica is one member of a projection group: replicas share cart.state's
// partitions through a Kafka consumer group (cooperative-sticky), each
// materializing only the partitions the group assigns it, plus, with
// Standby > 0, partitions it follows for failover reads. Each partition it
// materializes is a Projection of that one partition (its own followers and
// its own checkpoint, CheckpointDir/partition-N), started when the
// partition arrives and stopped when it leaves: the single-partition
// Projection is the unit of ownership, so everything a Projection does
// (rebuild, warm restart, token waits, history) holds per partition
// unchanged. The replica publishes what it serves to the membership topic
// (members.go). docs/read-path.md, "Ownership and routing".

// Replica: see the comment at the top of the file. Build it with
// NewReplica; Run joins the group. Its lookups are safe for concurrent use.
type Replica struct {
	cfg         ReplicaConfig
	log         *slog.Logger
	incarnation string
	view        *MemberView
	// tables are the catalog and stock tables every partition's
	// Projection answers from: read once per replica.
	tables    *SharedTables
	ready     chan struct{} // the first assignment is served
	readyOnce sync.Once

	mu         sync.Mutex
	partitions int // the cart topics' count, once Run learned it
	owned      map[int32]bool
	assigned   bool // the group has answered once
	insts      map[int32]*instance
	// stopping are the partitions' Projections being stopped: a new one
	// of the same partition waits for the old (its checkpoint file is
	// locked until the old one has closed it).
	stopping map[int32]chan struct{}
	kick     chan struct{} // publish now
	failed   chan error    // an instance's Run failed
	wg       sync.WaitGroup
	runCtx   context.Context
	seq      int64
}

// NewReplica validates cfg and returns a Replica.
func NewReplica(cfg ReplicaConfig) (*Replica, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	var b [8]byte
	_, _ = rand.Read(b[:])
	log := cfg.Projection.Logger.With("replica", cfg.ID)
	view, err := NewMemberView(MemberViewConfig{Client: cfg.Projection.Client, Topic: cfg.MembersTopic,
		ReplicationFactor: cfg.Projection.TopicConfig.ReplicationFactor, TTL: cfg.MemberTTL, Logger: log})
	if err != nil {
		return nil, err
	}
	tcfg := cfg.Projection
	tcfg.Logger = log
	tables, err := newSharedTables(tcfg)
	if err != nil {
		return nil, err
	}
	return &Replica{cfg: cfg, log: log, incarnation: hex.EncodeToString(b[:]), view: view, tables: tables, ready: make(chan struct{}),
		owned: map[int32]bool{}, insts: map[int32]*instance{}, stopping: map[int32]chan struct{}{}, kick: make(chan struct{}, 1), failed: make(chan error, 1)}, nil
}

// Ready is closed once the group has assigned this replica its first
// partitions and each of them has caught up.
func (r *Replica) Ready() <-chan struct{} { return r.ready }

// Routes is the replica's view of the group.
func (r *Replica) Routes() Routes { return r.view.Routes() }

// Run joins the group and serves its assignment until ctx ends, then
// leaves the group, tombstones its membership record and stops its
// partitions. It returns nil after a shutdown asked for by ctx.
func (r *Replica) Run(ctx context.Context) error {
	n, err := r.checkTopics(ctx)
	if err != nil {
		return err
	}
	w, err := newMemberWriter(r.cfg.Projection.Client, r.cfg.MembersTopic)
	if err != nil {
		return err
	}
	defer w.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.mu.Lock()
	r.partitions, r.runCtx = n, ctx
	r.mu.Unlock()
	viewErr := make(chan error, 1)
	go func() { viewErr <- r.view.Run(ctx) }()
	tablesErr := make(chan error, 1)
	go func() { tablesErr <- r.tables.Run(ctx) }()
	groupErr := make(chan error, 1)
	go func() { groupErr <- r.joinGroup(ctx) }()

	err = r.loop(ctx, w, viewErr, groupErr, tablesErr)
	cancel()
	// Leave: routers stop sending here, the group hands the partitions on,
	// then the partitions stop (their waiters end UNAVAILABLE and routers
	// ask the new owners).
	tctx, tcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	if werr := w.write(tctx, r.cfg.ID, nil); werr != nil {
		r.log.Warn("projection: membership tombstone", "err", werr)
	}
	tcancel()
	for _, ch := range []chan error{viewErr, groupErr, tablesErr} {
		if e := <-ch; e != nil && err == nil {
			err = e
		}
	}
	r.stopAll()
	return err
}

// checkTopics ensures the cart topics and returns their partition count.
func (r *Replica) checkTopics(ctx context.Context) (int, error) {
	sctx, cancel := context.WithTimeout(ctx, r.cfg.Projection.StartTimeout)
	defer cancel()
	admin, err := kafka.NewAdminClient(&r.cfg.Projection.Client)
	if err != nil {
		return 0, fmt.Errorf("projection replica: admin client: %w", err)
	}
	defer admin.Close()
	n, err := topics.Ensure(sctx, admin, r.cfg.Projection.Topics, r.cfg.Projection.TopicConfig)
	if err != nil {
		return 0, fmt.Errorf("projection replica: topics: %w", err)
	}
	return n, nil
}

// loop publishes the membership record when what it claims changes and
// at every heartbeat, and re-derives the standby partitions whenever the
// group's view changes. Other replicas' heartbeats change the view, so a
// view change alone publishes nothing: the replicas would echo each other.
func (r *Replica) loop(ctx context.Context, w *memberWriter, viewErr, groupErr, tablesErr chan error) error {
	tick := time.NewTicker(r.cfg.Heartbeat)
	defer tick.Stop()
	var last Member
	var lastAt time.Time
	for {
		changed := r.view.Changed()
		if m := r.member(); !sameClaims(m, last) || time.Since(lastAt) >= r.cfg.Heartbeat {
			if err := r.publish(ctx, w, m); err != nil && ctx.Err() == nil {
				r.log.Warn("projection: membership record", "err", err)
			} else {
				last, lastAt = m, time.Now()
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-viewErr:
			viewErr <- nil
			return err
		case err := <-groupErr:
			groupErr <- nil
			return err
		case err := <-tablesErr:
			tablesErr <- nil
			return err
		case err := <-r.failed:
			return err
		case <-changed:
			r.reconcile()
		case <-r.kick:
		case <-tick.C:
			r.reconcile() // a member expired: standbys move
		}
	}
}

// sameClaims: a and b say the same of the partitions.
func sameClaims(a, b Member) bool {
	return a.Partitions == b.Partitions && slices.Equal(a.Owned, b.Owned) && slices.Equal(a.Standby, b.Standby) && slices.Equal(a.Ready, b.Ready)
}

// publish writes the replica's record m, numbered.
func (r *Replica) publish(ctx context.Context, w *memberWriter, m Member) error {
	r.mu.Lock()
	r.seq++
	m.Seq = r.seq
	r.mu.Unlock()
	b, err := encodeMember(m)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, r.cfg.Heartbeat*2)
	defer cancel()
	return w.write(wctx, r.cfg.ID, b)
}

// member is this replica's record as of now (Seq set by publish).
func (r *Replica) member() Member {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := Member{ID: r.cfg.ID, Endpoint: r.cfg.Endpoint, Partitions: r.partitions, Owned: []int32{},
		Incarnation: r.incarnation}
	for _, part := range slices.Sorted(maps.Keys(r.insts)) {
		in := r.insts[part]
		if in.role == roleOwner {
			m.Owned = append(m.Owned, part)
		} else {
			m.Standby = append(m.Standby, part)
		}
		if isReady(in.p.Ready()) {
			m.Ready = append(m.Ready, part)
		}
	}
	return m
}
