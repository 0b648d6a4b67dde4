package bench

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
)

// MemoryTargetKiBPerCart bounds the manager's resident memory per cart held.
const MemoryTargetKiBPerCart = 1.5 // issue 16

// MemoryResult is scenario 4. Sizes in KiB; heap from GODEBUG=gctrace=1
// (live heap after the last collection), -1 when none was logged.
type MemoryResult struct {
	Carts           int     `json:"carts"`
	Commands        int     `json:"commands"`
	IdleRSS         int64   `json:"idle_rss_kib"`
	LoadedRSS       int64   `json:"loaded_rss_kib"`
	LoadedHWM       int64   `json:"loaded_hwm_kib"`
	RestoredRSS     int64   `json:"restored_rss_kib"`
	RestoredCarts   int64   `json:"restored_carts"`
	KiBPerCart      float64 `json:"kib_per_cart"`
	RestoredPerCart float64 `json:"restored_kib_per_cart"`
	IdleHeapMiB     float64 `json:"idle_live_heap_mib"`
	LoadedHeapMiB   float64 `json:"loaded_live_heap_mib"`
	RestoredHeapMiB float64 `json:"restored_live_heap_mib"`
	HeapKiBPerCart  float64 `json:"heap_kib_per_cart"`
	DrainSeconds    float64 `json:"drain_s"`
	Target          float64 `json:"target_kib_per_cart"`
	Pass            bool    `json:"pass"`
	Error           string  `json:"error,omitempty"`
}

// settle is how long a process is left alone before its memory is
// sampled: start-up garbage collected, buffers drained. Shorter in a
// smoke run.
func (e *env) settle() time.Duration {
	if e.cfg.Quick {
		return time.Second
	}
	return 3 * time.Second
}

func (e *env) memory(ctx context.Context) (*MemoryResult, error) {
	cfg := e.cfg
	r := &MemoryResult{Carts: cfg.MemoryCarts, Commands: 2 * cfg.MemoryCarts, Target: MemoryTargetKiBPerCart}
	set, cleanup, err := e.topicSet(ctx, "memory")
	if err != nil {
		return r, err
	}
	defer cleanup()
	cat := products(cfg.Products)
	if err := e.seedCatalog(ctx, set.Catalog, cat); err != nil {
		return r, err
	}
	dir, err := os.MkdirTemp("", "cartbench-memory-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	bin, err := e.buildManager(ctx, dir)
	if err != nil {
		return r, err
	}
	group := "bench-" + e.runID + "-memory-manager"
	p, err := newManagerProc(bin, dir, e.managerArgs(set, group, "bench-memory-1"), []string{"GODEBUG=gctrace=1"})
	if err != nil {
		return r, err
	}
	defer p.close()
	off, err := p.start()
	if err != nil {
		return r, err
	}
	if _, err := p.waitLog(ctx, off, "partitions assigned", 90*time.Second); err != nil {
		return r, err
	}
	time.Sleep(e.settle()) // let start-up garbage and buffers settle before sampling
	r.IdleRSS = rssKiB(p.pid(), "VmRSS")
	_, gc := p.lines(off)
	r.IdleHeapMiB = gcLiveMiB(gc)
	e.logf("memory: idle RSS %d KiB", r.IdleRSS)

	w := newWorkload(9, "m"+e.runID, skusOf(cat))
	t0 := time.Now()
	if err := e.preload(ctx, "memory: load", set.Requests, 2*cfg.MemoryCarts, func(i int) cart.Command {
		return w.next(i/2, time.Now())
	}, w.traceparent); err != nil {
		return r, err
	}
	ends, err := e.endOffsets(ctx, set.Requests, kafka.IsolationLevelReadCommitted)
	if err != nil {
		return r, err
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	_, err = e.waitDrained(dctx, group, set.Requests, ends, 200*time.Millisecond)
	cancel()
	if err != nil {
		return r, err
	}
	r.DrainSeconds = time.Since(t0).Seconds()
	time.Sleep(e.settle()) // sampling after the drain, not during it
	r.LoadedRSS = rssKiB(p.pid(), "VmRSS")
	r.LoadedHWM = rssKiB(p.pid(), "VmHWM")
	_, gc = p.lines(off)
	r.LoadedHeapMiB = gcLiveMiB(gc)
	r.KiBPerCart = float64(r.LoadedRSS-r.IdleRSS) / float64(cfg.MemoryCarts)
	if r.IdleHeapMiB >= 0 && r.LoadedHeapMiB >= 0 {
		r.HeapKiBPerCart = (r.LoadedHeapMiB - r.IdleHeapMiB) * 1024 / float64(cfg.MemoryCarts)
	}
	e.logf("memory: %d carts: RSS %d KiB (%.2f KiB/cart above idle), live heap %.0f MiB", cfg.MemoryCarts, r.LoadedRSS, r.KiBPerCart, r.LoadedHeapMiB)

	// The same carts restored from cart.state by a fresh process: memory
	// without the processing path's buffers.
	if err := p.stop(); err != nil {
		return r, err
	}
	if off, err = p.start(); err != nil {
		return r, err
	}
	l, err := p.waitLog(ctx, off, "partitions assigned", 3*time.Minute)
	if err != nil {
		return r, err
	}
	if n, ok := l.Attrs["carts"].(float64); ok {
		r.RestoredCarts = int64(n)
	}
	time.Sleep(e.settle())
	r.RestoredRSS = rssKiB(p.pid(), "VmRSS")
	_, gc = p.lines(off)
	r.RestoredHeapMiB = gcLiveMiB(gc)
	if r.RestoredCarts > 0 {
		r.RestoredPerCart = float64(r.RestoredRSS-r.IdleRSS) / float64(r.RestoredCarts)
	}
	e.logf("memory: restored %d carts: RSS %d KiB (%.2f KiB/cart above idle)", r.RestoredCarts, r.RestoredRSS, r.RestoredPerCart)
	r.Pass = r.KiBPerCart <= r.Target
	if err := p.stop(); err != nil {
		return r, fmt.Errorf("stop manager: %w", err)
	}
	return r, nil
}
