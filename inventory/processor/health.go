package processor

import (
	"fmt"
	"log/slog"
	"sync"
)

// Health says whether the processor can commit: what a readiness check
// and an alert want to know. A processor that is up but rebuilding its
// session, or aborting every transaction, decides no reservation, and
// every checkout waits on it (validation.Health is the manager's twin).
type Health struct {
	Serving bool
	// Reason says why the processor is not serving; "" when it is.
	Reason string
}

// DefaultFailedCommits is how many transactions in a row may fail to
// commit before the processor says it is not serving: one abort is a
// rebalance or a transient broker error; several in a row are not.
const DefaultFailedCommits = 3

// healthState folds what the session reports into one Health and tells
// the watchers when it changes. Safe for concurrent use.
type healthState struct {
	mu  sync.Mutex
	log *slog.Logger
	// threshold: transactions in a row that may fail before not serving.
	threshold int
	// assigned: the current session has restored its first assignment;
	// false before and while a session is rebuilt.
	assigned bool
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

// left: the session ended; not serving until the next one has restored
// its first assignment.
func (h *healthState) left() { h.update(func(h *healthState) { h.assigned = false }) }

// joined: a session restored its first assignment. Its producer fenced
// the old one: as far as anyone knows it can commit, so the failures of
// the sessions before it no longer count (an idle processor would
// otherwise never be serving again).
func (h *healthState) joined() {
	h.update(func(h *healthState) { h.assigned, h.failed = true, 0 })
}

func (h *healthState) committed()    { h.update(func(h *healthState) { h.failed = 0 }) }
func (h *healthState) failedCommit() { h.update(func(h *healthState) { h.failed++ }) }
