package projection

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"time"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/partition"
)

// The partitions a replica materializes: one single-partition Projection
// each, started, promoted, demoted and stopped as ownership and the
// standby ring change.

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
	cfg.Tables = r.tables // read once for all the partitions
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
			last := r.allReadyLocked()
			r.mu.Unlock()
			r.poke()
			if last {
				// The last of the partitions that were catching up
				// together: collect their rebuilds' garbage once.
				releaseRebuildGarbage(r.log)
			}
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

// allReadyLocked: every partition this replica materializes has caught up.
func (r *Replica) allReadyLocked() bool {
	for _, in := range r.insts {
		if !isReady(in.p.Ready()) {
			return false
		}
	}
	return true
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
