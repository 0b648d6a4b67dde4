package main

import (
	"context"
	"sync"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/cartstream/cartstream/inventory/processor"
)

// fakeHealth is the processor's health that the test changes by hand.
type fakeHealth struct {
	mu      sync.Mutex
	h       processor.Health
	changed chan struct{}
}

func (f *fakeHealth) get() (processor.Health, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.h, f.changed
}

func (f *fakeHealth) set(h processor.Health) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.h = h
	close(f.changed)
	f.changed = make(chan struct{})
}

// The gRPC status follows the processor both ways: NOT_SERVING before
// its first assignment and while a session is rebuilt.
func TestHealthEndpointFollowsTheProcessor(t *testing.T) {
	src := &fakeHealth{h: processor.Health{Reason: "starting"}, changed: make(chan struct{})}
	statuses := make(chan healthpb.HealthCheckResponse_ServingStatus, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		followHealth(ctx, src.get, func(s healthpb.HealthCheckResponse_ServingStatus) { statuses <- s })
	}()
	expect := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		select {
		case got := <-statuses:
			if got != want {
				t.Fatalf("status %s, want %s", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no status within 5s, want %s", want)
		}
	}
	expect(healthpb.HealthCheckResponse_NOT_SERVING)
	src.set(processor.Health{Serving: true})
	expect(healthpb.HealthCheckResponse_SERVING)
	src.set(processor.Health{Reason: "the transactional session is starting or being rebuilt"})
	expect(healthpb.HealthCheckResponse_NOT_SERVING)
	src.set(processor.Health{Serving: true})
	expect(healthpb.HealthCheckResponse_SERVING)
	cancel()
	<-done
}
