package tracing

import (
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
)

// grpcOptions: spans of tp (nil: the global provider), the W3C
// propagator, no health checks (probes every few seconds are noise), and
// no OpenTelemetry metrics (internal/metrics serves Prometheus's).
func grpcOptions(tp trace.TracerProvider) []otelgrpc.Option {
	return []otelgrpc.Option{
		otelgrpc.WithTracerProvider(Or(tp)),
		otelgrpc.WithPropagators(Propagator()),
		otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelgrpc.WithFilter(filters.Not(filters.HealthCheck())),
	}
}

// ServerOption makes a gRPC server start a span per call, a child of the
// caller's traceparent metadata when it sends one.
func ServerOption(tp trace.TracerProvider) grpc.ServerOption {
	return grpc.StatsHandler(otelgrpc.NewServerHandler(grpcOptions(tp)...))
}

// DialOption makes a gRPC client start a span per call and send its
// traceparent, so the server's span joins the caller's trace.
func DialOption(tp trace.TracerProvider) grpc.DialOption {
	return grpc.WithStatsHandler(otelgrpc.NewClientHandler(grpcOptions(tp)...))
}
