package service

import (
	"context"
	"log/slog"
	"runtime/debug"
	"testing"
	"time"
)

// gcPercent reads the GC percent (SetGCPercent is the runtime's only
// reader) and leaves it as it was.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestRebuildGCRaisesThePercentUntilReady(t *testing.T) {
	t.Setenv("GOGC", "")
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	ready := make(chan struct{})
	restored := RebuildGC(context.Background(), ready, 300, slog.New(slog.DiscardHandler))
	if got := gcPercent(); got != 300 {
		t.Fatalf("GC percent during the rebuild %d, want 300", got)
	}
	close(ready)
	select {
	case <-restored:
	case <-time.After(5 * time.Second):
		t.Fatal("previous GC percent not restored within 5 s of ready")
	}
	if got := gcPercent(); got != 100 {
		t.Fatalf("GC percent after ready %d, want 100 back", got)
	}
}

func TestRebuildGCLeavesAnOperatorsGOGC(t *testing.T) {
	t.Setenv("GOGC", "150")
	defer debug.SetGCPercent(debug.SetGCPercent(150))
	<-RebuildGC(context.Background(), make(chan struct{}), 300, slog.New(slog.DiscardHandler))
	if got := gcPercent(); got != 150 {
		t.Fatalf("GC percent %d with GOGC=150 set, want 150", got)
	}
}

func TestRebuildGCRestoresWhenTheContextEnds(t *testing.T) {
	t.Setenv("GOGC", "")
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	ctx, cancel := context.WithCancel(context.Background())
	restored := RebuildGC(ctx, make(chan struct{}), 300, slog.New(slog.DiscardHandler))
	cancel()
	select {
	case <-restored:
	case <-time.After(5 * time.Second):
		t.Fatal("previous GC percent not restored within 5 s of the context's end")
	}
	if got := gcPercent(); got != 100 {
		t.Fatalf("GC percent after the context ended %d, want 100", got)
	}
}
