package projection

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/partition"
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

// Defaults of ReplicaConfig.
const (
	DefaultGroupID = "cartstream-projection"
	// DefaultGroupSessionTimeout is the broker's minimum: a replica killed
	// without leaving loses its partitions to the others this soon.
	DefaultGroupSessionTimeout = 6 * time.Second
)

// ReplicaConfig configures a Replica.
type ReplicaConfig struct {
	// Projection is the template of every partition's Projection; its
	// Partitions are ignored, its CheckpointDir (if set) gets one
	// subdirectory per partition.
	Projection Config
	// ID names the replica in the membership topic; unique in the group
	// and stable across restarts. Required.
	ID string
	// Endpoint is the gRPC address clients dial to reach this replica.
	// Required.
	Endpoint string
	// GroupID is the consumer group; default DefaultGroupID.
	GroupID string
	// Standby is how many replicas besides the owner follow each
	// partition; 0: none.
	Standby int
	// MembersTopic; default DefaultMembersTopic.
	MembersTopic string
	// Heartbeat: see DefaultMemberHeartbeat. MemberTTL: DefaultMemberTTL.
	Heartbeat, MemberTTL time.Duration
	// SessionTimeout of the consumer group: see DefaultGroupSessionTimeout.
	SessionTimeout time.Duration
	// Static makes the replica a static member of the group (KIP-345,
	// group.instance.id = ID): restarted within SessionTimeout it gets the
	// same partitions back without a rebalance, so a rolling restart moves
	// nothing and each replica restarts warm from its checkpoint. The
	// price: a replica stopped for good hands its partitions on only
	// after SessionTimeout (standbys answer meanwhile).
	Static bool
}

func (c ReplicaConfig) withDefaults() ReplicaConfig {
	c.Projection = c.Projection.withDefaults()
	if c.GroupID == "" {
		c.GroupID = DefaultGroupID
	}
	if c.MembersTopic == "" {
		c.MembersTopic = DefaultMembersTopic
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = DefaultMemberHeartbeat
	}
	if c.MemberTTL == 0 {
		c.MemberTTL = DefaultMemberTTL
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = DefaultGroupSessionTimeout
	}
	return c
}

// Validate reports every problem at once.
func (c ReplicaConfig) Validate() error {
	p := c.Projection
	p.Partitions = nil
	errs := []error{p.Validate()}
	if c.ID == "" {
		errs = append(errs, errors.New("replica id: empty"))
	}
	if c.Endpoint == "" {
		errs = append(errs, errors.New("endpoint: empty"))
	}
	if c.Standby < 0 {
		errs = append(errs, fmt.Errorf("standby %d: must be >= 0", c.Standby))
	}
	if c.Heartbeat < 0 || c.MemberTTL < 0 || c.SessionTimeout < 0 {
		errs = append(errs, errors.New("heartbeat, member TTL and session timeout must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("projection replica: %w", err)
	}
	return nil
}

// role is what a replica does with a partition it materializes.
type role int

const (
	roleOwner role = iota
	roleStandby
)

// instance is one partition's Projection and the goroutine running it.
type instance struct {
	p      *Projection
	srv    *Server
	cancel context.CancelFunc
	done   chan struct{}
	role   role
}

// Replica: see the comment at the top of the file. Build it with
// NewReplica; Run joins the group. Its lookups are safe for concurrent use.
type Replica struct {
	cfg         ReplicaConfig
	log         *slog.Logger
	incarnation string
	view        *MemberView
	ready       chan struct{} // the first assignment is served
	readyOnce   sync.Once

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
	return &Replica{cfg: cfg, log: log, incarnation: hex.EncodeToString(b[:]), view: view, ready: make(chan struct{}),
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
	groupErr := make(chan error, 1)
	go func() { groupErr <- r.joinGroup(ctx) }()

	err = r.loop(ctx, w, viewErr, groupErr)
	cancel()
	// Leave: routers stop sending here, the group hands the partitions on,
	// then the partitions stop (their waiters end UNAVAILABLE and routers
	// ask the new owners).
	tctx, tcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	if werr := w.write(tctx, r.cfg.ID, nil); werr != nil {
		r.log.Warn("projection: membership tombstone", "err", werr)
	}
	tcancel()
	for _, ch := range []chan error{viewErr, groupErr} {
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
func (r *Replica) loop(ctx context.Context, w *memberWriter, viewErr, groupErr chan error) error {
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

// joinGroup subscribes to cart.state in the group and polls it for
// rebalances only: the assigned partitions are paused at once, since each
// partition's Projection reads them with its own assigned consumers.
func (r *Replica) joinGroup(ctx context.Context) error {
	cm := maps.Clone(r.cfg.Projection.Client)
	cm["group.id"] = r.cfg.GroupID
	cm["partition.assignment.strategy"] = "cooperative-sticky"
	cm["session.timeout.ms"] = int(r.cfg.SessionTimeout.Milliseconds())
	cm["heartbeat.interval.ms"] = int(max(r.cfg.SessionTimeout/6, 100*time.Millisecond).Milliseconds())
	cm["enable.auto.commit"] = false
	cm["enable.auto.offset.store"] = false
	cm["auto.offset.reset"] = "latest"
	if r.cfg.Static {
		cm["group.instance.id"] = r.cfg.ID
	}
	cons, err := kafka.NewConsumer(&cm)
	if err != nil {
		return fmt.Errorf("projection replica: group consumer: %w", err)
	}
	defer func() { _ = cons.Close() }() // leaves the group: the others take over now
	if err := cons.SubscribeTopics([]string{r.cfg.Projection.Topics.State}, r.rebalance); err != nil {
		return fmt.Errorf("projection replica: subscribe: %w", err)
	}
	for ctx.Err() == nil {
		switch e := cons.Poll(100).(type) {
		case kafka.Error:
			if e.IsFatal() {
				return fmt.Errorf("projection replica: group consumer: %w", e)
			}
			r.log.Debug("projection replica: group consumer", "err", e)
		case *kafka.Message:
			// Not expected (partitions are paused); nothing to do with it.
		}
	}
	return nil
}

// rebalance runs inside Poll: it takes the group's word on ownership and
// starts or demotes the partitions' Projections without waiting for them.
func (r *Replica) rebalance(c *kafka.Consumer, ev kafka.Event) error {
	switch e := ev.(type) {
	case kafka.AssignedPartitions:
		if err := c.IncrementalAssign(e.Partitions); err != nil {
			return err
		}
		if err := c.Pause(e.Partitions); err != nil {
			r.log.Warn("projection replica: pause", "err", err)
		}
		r.mu.Lock()
		for _, tp := range e.Partitions {
			r.owned[tp.Partition] = true
		}
		r.assigned = true
		r.mu.Unlock()
		r.log.Info("projection replica: partitions assigned", "partitions", partitionsOf(e.Partitions))
	case kafka.RevokedPartitions:
		r.mu.Lock()
		for _, tp := range e.Partitions {
			delete(r.owned, tp.Partition)
		}
		r.mu.Unlock()
		r.log.Info("projection replica: partitions revoked", "partitions", partitionsOf(e.Partitions), "lost", c.AssignmentLost())
		if err := c.IncrementalUnassign(e.Partitions); err != nil {
			return err
		}
	}
	r.reconcile()
	return nil
}

func partitionsOf(tps []kafka.TopicPartition) []int32 {
	out := make([]int32, 0, len(tps))
	for _, tp := range tps {
		out = append(out, tp.Partition)
	}
	return out
}

// reconcile starts, promotes, demotes and stops partitions' Projections so
// that this replica materializes what it owns and what it stands by for.
func (r *Replica) reconcile() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.runCtx == nil || r.runCtx.Err() != nil || r.partitions == 0 {
		return
	}
	routes, now := r.view.Routes(), time.Now()
	want := map[int32]role{}
	for _, part := range routes.Standbys(r.cfg.ID, r.cfg.Standby, r.partitions, now) {
		want[part] = roleStandby
	}
	for part := range r.owned {
		want[part] = roleOwner
	}
	for part, in := range r.insts {
		// Hand over, not drop: a partition that left keeps being served
		// (as a standby) until another replica has it ready, so its
		// queries never wait for the new owner's rebuild.
		if _, ok := want[part]; !ok && isReady(in.p.Ready()) && !routes.ReadyElsewhere(part, r.cfg.ID, now) {
			want[part] = roleStandby
		}
	}
	changed := false
	for part, in := range r.insts {
		if _, ok := want[part]; !ok {
			in.cancel()
			delete(r.insts, part)
			r.stopping[part] = in.done
			changed = true
		}
	}
	for part, ro := range want {
		if in, ok := r.insts[part]; ok {
			changed = changed || in.role != ro
			in.role = ro
			continue
		}
		if err := r.startLocked(part, ro); err != nil {
			r.fail(err)
			return
		}
		changed = true
	}
	if r.assigned {
		r.checkReadyLocked()
	}
	if changed {
		r.poke()
	}
}

// startLocked starts partition part's Projection.
func (r *Replica) startLocked(part int32, ro role) error {
	cfg := r.cfg.Projection
	cfg.Partitions = []int32{part}
	cfg.Logger = r.log.With("partition", part)
	if cfg.CheckpointDir != "" {
		cfg.CheckpointDir = filepath.Join(cfg.CheckpointDir, fmt.Sprintf("partition-%d", part))
	}
	p, err := New(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(r.runCtx)
	in := &instance{p: p, srv: NewServer(p), cancel: cancel, done: make(chan struct{}), role: ro}
	r.insts[part] = in
	prev := r.stopping[part]
	delete(r.stopping, part)
	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		defer close(in.done)
		if prev != nil {
			<-prev // the partition's previous Projection has let go of its checkpoint
		}
		if err := p.Run(ctx); err != nil && ctx.Err() == nil {
			r.fail(fmt.Errorf("projection replica: partition %d: %w", part, err))
		}
	}()
	go func() { // publish (and check readiness) once it caught up
		defer r.wg.Done()
		select {
		case <-p.Ready():
			r.log.Info("projection replica: partition ready", "partition", part, "role", roleName(ro))
			r.mu.Lock()
			if r.assigned {
				r.checkReadyLocked()
			}
			r.mu.Unlock()
			r.poke()
		case <-ctx.Done():
		}
	}()
	r.log.Info("projection replica: partition starting", "partition", part, "role", roleName(ro),
		"checkpoint_dir", cfg.CheckpointDir)
	return nil
}

func roleName(ro role) string {
	if ro == roleOwner {
		return "owner"
	}
	return "standby"
}

// checkReadyLocked closes Ready once every owned partition has caught up.
func (r *Replica) checkReadyLocked() {
	for part := range r.owned {
		in, ok := r.insts[part]
		if !ok || !isReady(in.p.Ready()) {
			return
		}
	}
	r.readyOnce.Do(func() {
		r.log.Info("projection replica: ready", "owned", slices.Sorted(maps.Keys(r.owned)))
		close(r.ready)
	})
}

func (r *Replica) poke() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *Replica) fail(err error) {
	select {
	case r.failed <- err:
	default:
	}
}

// stopAll stops every partition and waits for them.
func (r *Replica) stopAll() {
	r.mu.Lock()
	for part, in := range r.insts {
		in.cancel()
		delete(r.insts, part)
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// lookup returns the instance serving cart id's partition, and the
// partition: ErrNotReady before Run learned the partition count,
// ErrNotOwned (naming the owner, if known) when this replica does not
// materialize it.
func (r *Replica) lookup(id string) (*instance, int32, error) {
	if err := cart.CartID(id).Validate(); err != nil {
		return nil, 0, err
	}
	r.mu.Lock()
	n := r.partitions
	if n == 0 {
		r.mu.Unlock()
		return nil, 0, ErrNotReady
	}
	part := partition.For([]byte(id), n)
	in := r.insts[part]
	r.mu.Unlock()
	if in == nil {
		owner, ok := r.view.Routes().Owner(part, time.Now())
		if !ok {
			owner = "unknown"
		}
		return nil, part, &NotOwnedError{Partition: part, Owner: owner}
	}
	return in, part, nil
}

// anyReady returns an instance that has caught up (for the catalog, which
// every partition's Projection holds whole).
func (r *Replica) anyReady() *instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, part := range slices.Sorted(maps.Keys(r.insts)) {
		if in := r.insts[part]; isReady(in.p.Ready()) {
			return in
		}
	}
	return nil
}

// NotOwnedError is a query for a partition this replica does not
// materialize; Owner is the endpoint of the one that owns it, as this
// replica last heard, or "unknown". It is ErrNotOwned (UNAVAILABLE).
type NotOwnedError struct {
	Partition int32
	Owner     string
}

func (e *NotOwnedError) Error() string {
	return fmt.Sprintf("%v (partition %d; owner %s)", ErrNotOwned, e.Partition, e.Owner)
}

func (e *NotOwnedError) Unwrap() error { return ErrNotOwned }

// Stats sums the Stats of the partitions' Projections this replica runs
// (owned and standby); Ready is the replica's, HistoryReady all of theirs.
func (r *Replica) Stats() Stats {
	r.mu.Lock()
	insts := slices.Collect(maps.Values(r.insts))
	r.mu.Unlock()
	s := Stats{Ready: isReady(r.ready), HistoryReady: len(insts) > 0}
	for _, in := range insts {
		is := in.p.Stats()
		s.Carts += is.Carts
		s.RestoredCarts += is.RestoredCarts
		s.StateRecords += is.StateRecords
		s.SkippedRecords += is.SkippedRecords
		s.HistoryRecords += is.HistoryRecords
		s.SlowWatches += is.SlowWatches
		s.Watches += is.Watches
		s.HistoryReady = s.HistoryReady && is.HistoryReady
		s.Partitions = append(s.Partitions, is.Partitions...)
	}
	slices.SortFunc(s.Partitions, func(a, b PartitionStats) int { return int(a.Partition - b.Partition) })
	return s
}
