package metrics

import (
	"context"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// GRPC are the RED metrics of a gRPC server: calls by method and code,
// their duration, and the calls in flight.
type GRPC struct {
	handled  *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
	inFlight *prometheus.GaugeVec
}

// NewGRPC registers the gRPC server metrics on reg.
func NewGRPC(reg prometheus.Registerer) *GRPC {
	g := &GRPC{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "grpc_server", Name: "handled_total",
			Help: "gRPC calls completed, by service, method and status code.",
		}, []string{"service", "method", "code"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "grpc_server", Name: "handling_seconds",
			Help: "Time from a gRPC call's start to its status (for a stream, its end), by service and method.",
			// A command waits for Kafka's acknowledgement (ms); one that
			// waits for its outcome, or a stream, lasts much longer.
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"service", "method"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "grpc_server", Name: "in_flight",
			Help: "gRPC calls in progress (open streams included), by service and method.",
		}, []string{"service", "method"}),
	}
	reg.MustRegister(g.handled, g.seconds, g.inFlight)
	return g
}

// splitMethod turns "/pkg.Service/Method" into its two labels.
func splitMethod(full string) (service, method string) {
	full = strings.TrimPrefix(full, "/")
	if i := strings.LastIndexByte(full, '/'); i >= 0 {
		return full[:i], full[i+1:]
	}
	return "unknown", full
}

// observe wraps one call: in flight while it runs, then counted by code.
func (g *GRPC) observe(fullMethod string, call func() error) error {
	svc, m := splitMethod(fullMethod)
	g.inFlight.WithLabelValues(svc, m).Inc()
	began := time.Now()
	err := call()
	g.inFlight.WithLabelValues(svc, m).Dec()
	g.seconds.WithLabelValues(svc, m).Observe(time.Since(began).Seconds())
	g.handled.WithLabelValues(svc, m, status.Code(err).String()).Inc()
	return err
}

// UnaryInterceptor observes unary calls.
func (g *GRPC) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		err = g.observe(info.FullMethod, func() error {
			resp, err = handler(ctx, req)
			return err
		})
		return resp, err
	}
}

// StreamInterceptor observes streaming calls.
func (g *GRPC) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return g.observe(info.FullMethod, func() error { return handler(srv, ss) })
	}
}

// ServerOptions are the interceptors as server options, first in their
// chains.
func (g *GRPC) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(g.UnaryInterceptor()), grpc.ChainStreamInterceptor(g.StreamInterceptor())}
}
