// Package txnhealth holds the health of a transactional consumer (the
// AddItemManager, the inventory processor): whether it can commit now,
// folded from what its session reports, with a channel closed at each
// change. It also mirrors that health into a gRPC health status.
//
// "The process is up" says little about such a service: one that aborts
// every transaction or rebuilds its session over and over is up and
// decides nothing. An orchestrator's readiness check and an operator's
// alert want this instead.
package txnhealth

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Health says whether the service can commit.
type Health struct {
	Serving bool
	// Reason says why the service is not serving; "" when it is.
	Reason string
}

// State folds what the parts of a service report into one Health and
// tells the watchers when it changes. Safe for concurrent use.
type State struct {
	mu  sync.Mutex
	log *slog.Logger
	// threshold: transactions in a row that may fail before not serving.
	threshold int
	// assigned: the current session has its first assignment (restored);
	// false before and while a session is rebuilt.
	assigned bool
	// down: why a part the service needs is down ("" when none is).
	down string
	// failed counts transactions in a row that did not commit.
	failed  int
	last    Health
	changed chan struct{}
}

// New returns the state of a service that has no session yet: not
// serving. threshold is how many transactions in a row may fail to commit
// before it says it is not serving.
func New(log *slog.Logger, threshold int) *State {
	h := &State{log: log, threshold: threshold, changed: make(chan struct{})}
	h.last = h.compute()
	return h
}

func (h *State) compute() Health {
	switch {
	case h.down != "":
		return Health{Reason: h.down}
	case !h.assigned:
		return Health{Reason: "the transactional session is starting or being rebuilt"}
	case h.failed >= h.threshold:
		return Health{Reason: fmt.Sprintf("%d or more transactions in a row failed to commit", h.threshold)}
	default:
		return Health{Serving: true}
	}
}

// update changes the state under the lock and wakes the watchers if the
// Health it gives changed.
func (h *State) update(change func(*State)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	change(h)
	next := h.compute()
	if next == h.last {
		return
	}
	h.last = next
	close(h.changed)
	h.changed = make(chan struct{})
	if next.Serving {
		h.log.Info("health: serving")
	} else {
		h.log.Warn("health: not serving", "reason", next.Reason)
	}
}

// Get is the health now and a channel closed at its next change.
func (h *State) Get() (Health, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last, h.changed
}

// Left: the session ended; not serving until the next one has joined.
func (h *State) Left() { h.update(func(h *State) { h.assigned = false }) }

// Joined: a new session has its first assignment. Its producers fenced
// the old ones and its state is restored: as far as anyone knows it can
// commit, so the failures of the sessions before it no longer count (an
// idle service would otherwise never be serving again).
func (h *State) Joined() { h.update(func(h *State) { h.assigned, h.failed = true, 0 }) }

// Committed: a transaction committed.
func (h *State) Committed() { h.update(func(h *State) { h.failed = 0 }) }

// FailedCommit: a transaction did not commit.
func (h *State) FailedCommit() { h.update(func(h *State) { h.failed++ }) }

// SetDown says a part the service needs is down, and why; "" says it is
// back.
func (h *State) SetDown(reason string) { h.update(func(h *State) { h.down = reason }) }

// Follow mirrors a service's health (get: its Health method) into a gRPC
// health status until ctx ends: SERVING while it can commit, NOT_SERVING
// otherwise. The service logs each change with its reason.
func Follow(ctx context.Context, get func() (Health, <-chan struct{}), set func(healthpb.HealthCheckResponse_ServingStatus)) {
	for {
		h, changed := get()
		if h.Serving {
			set(healthpb.HealthCheckResponse_SERVING)
		} else {
			set(healthpb.HealthCheckResponse_NOT_SERVING)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}
