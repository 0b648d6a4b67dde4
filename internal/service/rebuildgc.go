package service

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
)

// DefaultRebuildGCPercent is the GC percent a read model rebuilds its
// state under unless the operator chooses one: 0, the runtime's own. A
// cold rebuild only grows the heap, so at the runtime's 100 the collector
// marks the same growing live data again at every doubling, and 300 makes
// the rebuild faster; but the carts then stay spread over more of the
// heap's pages once it is done. Measured (docs/benchmarks.md, the levers
// table): 100,000 carts rebuilt in 0.71-0.73 s against 0.84-0.87 s, 1.2 ->
// 0.9 CPU-s; three replicas of 1,000,000 carts warm-restarted in 1.9-2.3 s
// against 2.4-2.8 s, but held 1,346-1,393 bytes of RSS per cart afterwards
// against 1,241. Memory is paid for all day, a restart now and then: the
// default keeps the memory.
const DefaultRebuildGCPercent = 0

// RebuildGC sets the GC percent to percent until ready is closed or ctx
// ends, then puts the previous one back. It does nothing when percent <= 0
// or the operator has set GOGC: their choice stands, and a memory limit
// (GOMEMLIMIT) still bounds the heap either way. The channel it returns
// is closed once the previous percent is back (at once if nothing changed).
func RebuildGC(ctx context.Context, ready <-chan struct{}, percent int, log *slog.Logger) <-chan struct{} {
	restored := make(chan struct{})
	if percent <= 0 || os.Getenv("GOGC") != "" {
		close(restored)
		return restored
	}
	prev := debug.SetGCPercent(percent)
	log.Info("GC percent raised until the rebuild is done", "percent", percent, "then", prev)
	go func() {
		defer close(restored)
		select {
		case <-ready:
		case <-ctx.Done():
		}
		debug.SetGCPercent(prev)
	}()
	return restored
}
