package service

import (
	"context"
	"log/slog"
	"runtime"
	"time"

	"github.com/cartstream/cartstream/internal/memrelease"
)

// IdleRelease returns the Go heap's free pages, and the C heap's (the
// Kafka client's buffers), to the operating system once a burst of work is
// over. A manager that has just drained a backlog keeps its heap grown to
// twice the live data (GOGC) and the runtime hands the garbage back only
// slowly; an idle replica holding its carts should weigh what the carts
// weigh, not what the burst did (docs/benchmarks.md, memory).
type IdleRelease struct {
	// Work counts the work done so far (records processed); it only grows.
	Work func() int64
	// Burst is how much work since the last release makes one worth it: a
	// release is a full collection, too dear after every request.
	Burst int64
	// Idle is how long Work must stand still before the release.
	Idle time.Duration
	// release is memrelease.Release and ticks a ticker of Idle/4; tests
	// replace both, and learn from looked when a tick has been handled.
	release func()
	ticks   <-chan time.Time
	looked  chan<- struct{}
}

// DefaultIdleRelease: a release after 10,000 records, once the process has
// done nothing for 1 s (at most one full collection per 10,000 records).
func DefaultIdleRelease(work func() int64) IdleRelease {
	return IdleRelease{Work: work, Burst: 10_000, Idle: time.Second}
}

// Run watches Work until ctx ends and releases memory after each burst
// once idle.
func (r IdleRelease) Run(ctx context.Context, log *slog.Logger) {
	release := r.release
	if release == nil {
		release = memrelease.Release
	}
	ticks := r.ticks
	if ticks == nil {
		tick := time.NewTicker(r.Idle / 4)
		defer tick.Stop()
		ticks = tick.C
	}
	var last, released int64
	var still time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticks:
			w := r.Work()
			switch {
			case still.IsZero(): // the first look: what came before is no burst
				last, released, still = w, w, now
			case w != last:
				last, still = w, now
			case w-released >= r.Burst && now.Sub(still) >= r.Idle:
				before := heapSys()
				release()
				released = w
				log.Info("idle: heap returned to the OS", "work", w, "heap_sys_mib_before", before>>20, "heap_sys_mib_after", heapSys()>>20)
			}
			if r.looked != nil {
				r.looked <- struct{}{}
			}
		}
	}
}

// heapSys is the heap memory held from the OS, less what was released.
func heapSys() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapSys - m.HeapReleased
}
