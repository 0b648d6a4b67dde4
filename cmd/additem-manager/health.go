package main

import (
	"context"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/cartstream/cartstream/validation"
)

// healthSource is the manager's side of the health check
// (validation.Manager.Health).
type healthSource func() (validation.Health, <-chan struct{})

// followHealth mirrors the manager's ability to commit into the gRPC
// health status until ctx ends: SERVING while it can, NOT_SERVING while a
// session is rebuilt, transactions keep failing or the catalog follower is
// down. The manager logs each change with its reason.
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
