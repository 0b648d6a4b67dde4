package tracing

import (
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"
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

func newServerHandler(tp trace.TracerProvider) stats.Handler {
	return otelgrpc.NewServerHandler(grpcOptions(tp)...)
}

func newClientHandler(tp trace.TracerProvider) stats.Handler {
	return otelgrpc.NewClientHandler(grpcOptions(tp)...)
}

// ServerOption makes a gRPC server start a span per call, a child of the
// caller's traceparent metadata when it sends one. With tracing off (Off)
// it adds nothing: a stats handler, even one whose spans record nothing,
// makes gRPC build stats for every message of every call
// (BenchmarkUnaryCall). Call it after Setup.
func ServerOption(tp trace.TracerProvider) grpc.ServerOption {
	if Off(tp) {
		return grpc.EmptyServerOption{}
	}
	return grpc.StatsHandler(newServerHandler(tp))
}

// DialOption makes a gRPC client start a span per call and send its
// traceparent, so the server's span joins the caller's trace; nothing
// with tracing off, as ServerOption.
func DialOption(tp trace.TracerProvider) grpc.DialOption {
	if Off(tp) {
		return grpc.EmptyDialOption{}
	}
	return grpc.WithStatsHandler(newClientHandler(tp))
}
