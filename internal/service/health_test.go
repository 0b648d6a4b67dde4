package service

import (
	"context"
	"testing"
	"time"

	"github.com/cartstream/cartstream/internal/grpclimits"
	"github.com/cartstream/cartstream/internal/grpclimits/grpclimitstest"
)

// Regression: the health server of services without a gRPC API allowed
// unlimited streams per connection.
func TestHealthServerSetsConnectionLimits(t *testing.T) {
	h, err := ListenHealth("127.0.0.1:0", HealthOptions{Reflection: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx, time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	c := grpclimitstest.Dial(t, h.Addr().String())
	if n, ok := c.MaxConcurrentStreams(); !ok || n != grpclimits.DefaultMaxConcurrentStreams {
		t.Fatalf("MAX_CONCURRENT_STREAMS %d (announced %t), want %d", n, ok, grpclimits.DefaultMaxConcurrentStreams)
	}
}
