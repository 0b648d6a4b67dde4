package service

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"
)

// idleHarness drives IdleRelease.Run tick by tick with a made-up clock.
type idleHarness struct {
	work, releases int64
	now            time.Time
	ticks          chan time.Time
	done           chan struct{}
	looked         chan struct{}
}

func startIdle(t *testing.T, burst int64, idle time.Duration) *idleHarness {
	h := &idleHarness{now: time.Unix(1000, 0), ticks: make(chan time.Time), done: make(chan struct{}), looked: make(chan struct{})}
	r := IdleRelease{Burst: burst, Idle: idle, ticks: h.ticks, looked: h.looked,
		Work:    func() int64 { return h.work },
		release: func() { h.releases++ }}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { defer close(h.done); r.Run(ctx, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	t.Cleanup(func() { cancel(); <-h.done })
	return h
}

// tick advances the clock by d and lets Run look once, and returns when
// the look is over.
func (h *idleHarness) tick(d time.Duration) {
	h.now = h.now.Add(d)
	h.ticks <- h.now
	<-h.looked
}

func TestIdleReleaseAfterABurstOnly(t *testing.T) {
	h := startIdle(t, 100, 2*time.Second)
	h.work = 1000 // before Run's first look: not a burst of its own
	h.tick(time.Second)
	h.work += 50 // less than a burst
	for range 10 {
		h.tick(time.Second)
	}
	if h.releases != 0 {
		t.Fatalf("%d releases after a small burst, want 0", h.releases)
	}
	h.work += 60 // 110 since the first look: a burst
	h.tick(time.Second)
	if h.releases != 0 {
		t.Fatalf("released at once, want after 2 s idle")
	}
	h.tick(time.Second)
	h.tick(time.Second)
	if h.releases != 1 {
		t.Fatalf("%d releases 2 s after the burst, want 1", h.releases)
	}
	for range 10 {
		h.tick(time.Second)
	}
	if h.releases != 1 {
		t.Fatalf("%d releases while idle after one burst, want 1", h.releases)
	}
}

func TestIdleReleaseWaitsWhileBusy(t *testing.T) {
	h := startIdle(t, 1, 2*time.Second)
	h.tick(time.Second)
	for range 50 {
		h.work++ // busy: work moves on every look
		h.tick(time.Second)
	}
	if h.releases != 0 {
		t.Fatalf("%d releases while busy, want 0", h.releases)
	}
	h.tick(time.Second)
	h.tick(time.Second)
	if h.releases != 1 {
		t.Fatalf("%d releases once idle, want 1", h.releases)
	}
}
