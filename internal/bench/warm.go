package bench

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/cartstream/cartstream/internal/topics"
)

// WarmResult is the projection's restart from its local checkpoint
// (Config.CheckpointDir) against its cold rebuild of the same cart.state,
// in process: a cold start with the checkpoint on (it writes the
// checkpoint: in batches during the rebuild past 64 MiB, the rest at
// shutdown), then a start from that checkpoint, until Ready each.
type WarmResult struct {
	Carts int `json:"carts"`
	// ColdSeconds: to Ready with no checkpoint in the directory;
	// ShutdownSeconds: its stop, which writes the checkpoint's last batch.
	ColdSeconds     float64 `json:"cold_with_checkpoint_s"`
	ShutdownSeconds float64 `json:"shutdown_s"`
	FileBytes       int64   `json:"checkpoint_file_bytes"`
	// WarmSeconds: New + Run until Ready from the checkpoint.
	WarmSeconds   float64 `json:"warm_s"`
	RestoredCarts int64   `json:"restored_carts"`
	// Speedup is the cold rebuild without a checkpoint (the rebuild's
	// best round) over WarmSeconds.
	Speedup float64 `json:"speedup"`
}

// warmRestart measures a cold start that writes a checkpoint, then a warm
// start from it, of the carts in set's cart.state.
func (e *env) warmRestart(ctx context.Context, set topics.Set, carts int, cold float64) (*WarmResult, error) {
	dir, err := os.MkdirTemp("", "cartbench-checkpoint-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	w := &WarmResult{Carts: carts}
	runtime.GC()
	st, ready, stop, err := e.projectionStart(ctx, set, dir)
	if err != nil {
		return w, fmt.Errorf("cold start with a checkpoint: %w", err)
	}
	if st.Carts != carts || st.RestoredCarts != 0 {
		return w, fmt.Errorf("cold start with a checkpoint: %d carts, %d restored; want %d, 0", st.Carts, st.RestoredCarts, carts)
	}
	w.ColdSeconds, w.ShutdownSeconds = ready.Seconds(), stop.Seconds()
	w.FileBytes = dirBytes(dir)
	runtime.GC()
	st, ready, _, err = e.projectionStart(ctx, set, dir)
	if err != nil {
		return w, fmt.Errorf("warm start: %w", err)
	}
	if st.Carts != carts || st.RestoredCarts != int64(carts) {
		return w, fmt.Errorf("warm start: %d carts, %d restored; want %d", st.Carts, st.RestoredCarts, carts)
	}
	w.WarmSeconds, w.RestoredCarts = ready.Seconds(), st.RestoredCarts
	w.Speedup = cold / w.WarmSeconds
	e.logf("rebuild: warm restart of %d carts ready in %.2fs (cold with checkpoint %.2fs, shutdown %.2fs, checkpoint %.1f MiB)",
		carts, w.WarmSeconds, w.ColdSeconds, w.ShutdownSeconds, mib(w.FileBytes))
	return w, nil
}

// dirBytes is the size of the files under dir.
func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, ierr := d.Info(); ierr == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
