package validation

import (
	"fmt"
	"log/slog"
	"sync"
)

// Health says whether the manager can commit: what an orchestrator's
// readiness check and an operator's alert want to know, where "the process
// is up" says little (a manager that aborts every transaction or rebuilds
// its session over and over is up, and validates nothing).
type Health struct {
	Serving bool
	// Reason says why the manager is not serving; "" when it is.
	Reason string
}

// healthState folds what the parts of the manager report into one Health
// and tells the watchers when it changes. Safe for concurrent use.
type healthState struct {
	mu  sync.Mutex
	log *slog.Logger
	// threshold: transactions in a row that may fail before not serving.
	threshold int
	// assigned: the current session has joined the group and received
	// its (possibly empty) assignment; false while a session is rebuilt.
	assigned bool
	// catalogDown: the catalog follower died and is not reloaded yet.
	catalogDown bool
	// failed counts transactions in a row that did not commit.
	failed  int
	last    Health
	changed chan struct{}
}

func newHealthState(log *slog.Logger, threshold int) *healthState {
	h := &healthState{log: log, threshold: threshold, changed: make(chan struct{})}
	h.last = h.compute()
	return h
}

func (h *healthState) compute() Health {
	switch {
	case h.catalogDown:
		return Health{Reason: "the catalog follower died; restarting it"}
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
func (h *healthState) update(change func(*healthState)) {
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

func (h *healthState) get() (Health, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last, h.changed
}

// left: the session ended; not serving until the next one has joined.
func (h *healthState) left() { h.update(func(h *healthState) { h.assigned = false }) }

// joined: a new session has its first assignment. Its producers fenced
// the old ones and its state is restored: as far as anyone knows it can
// commit, so the failures of the sessions before it no longer count (an
// idle manager would otherwise never be serving again).
func (h *healthState) joined() {
	h.update(func(h *healthState) { h.assigned, h.failed = true, 0 })
}

func (h *healthState) setCatalogDown(v bool) { h.update(func(h *healthState) { h.catalogDown = v }) }
func (h *healthState) committed()            { h.update(func(h *healthState) { h.failed = 0 }) }
func (h *healthState) failedCommit()         { h.update(func(h *healthState) { h.failed++ }) }
