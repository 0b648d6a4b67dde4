package main

import (
	"context"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/cartstream/cartstream/inventory/processor"
)

// healthSource is the processor's side of the health check
// (processor.Processor.Health).
type healthSource func() (processor.Health, <-chan struct{})

// followHealth mirrors the processor's ability to commit into the gRPC
// health status until ctx ends: SERVING while it can, NOT_SERVING before
// its first assignment is restored, while a session is rebuilt or while
// transactions keep failing. The processor logs each change with its
// reason.
func followHealth(ctx context.Context, src healthSource, set func(healthpb.HealthCheckResponse_ServingStatus)) {
	for {
		h, changed := src()
		if h.Serving {
			set(healthpb.HealthCheckResponse_SERVING)
		} else {
			set(healthpb.HealthCheckResponse_NOT_SERVING)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}
