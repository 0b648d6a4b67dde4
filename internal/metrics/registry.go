package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// namespace prefixes every metric of the project.
const namespace = "cartstream"

// Set is one process's registry and the metric groups registered on it;
// a group the process does not run is nil.
type Set struct {
	Registry   *prometheus.Registry
	GRPC       *GRPC
	Kafka      *KafkaStats
	Gateway    *Gateway
	Manager    *Manager
	Projection *Projection
	Inventory  *Inventory
}

// Services say which groups a Set registers.
type Services struct {
	Gateway, Manager, Projection bool
	Inventory                    bool
}

// NewSet registers the Go runtime and process collectors, librdkafka's
// statistics and the groups of the services asked for. The gRPC group
// comes with a gateway or a projection (the servers it observes).
func NewSet(s Services) *Set {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	set := &Set{Registry: reg, Kafka: NewKafkaStats(reg)}
	if s.Gateway || s.Projection {
		set.GRPC = NewGRPC(reg)
	}
	if s.Gateway {
		set.Gateway = NewGateway(reg)
	}
	if s.Manager {
		set.Manager = NewManager(reg)
	}
	if s.Projection {
		set.Projection = NewProjection(reg)
	}
	if s.Inventory {
		set.Inventory = NewInventory(reg)
	}
	return set
}

// ForGateway is cart-gateway's set; ForManager additem-manager's;
// ForProjection cart-projection's; ForAll the one-process binary's.
func ForGateway() *Set    { return NewSet(Services{Gateway: true}) }
func ForManager() *Set    { return NewSet(Services{Manager: true}) }
func ForProjection() *Set { return NewSet(Services{Projection: true}) }
func ForAll() *Set {
	return NewSet(Services{Gateway: true, Manager: true, Projection: true, Inventory: true})
}

// ForInventory is inventory-processor's set.
func ForInventory() *Set { return NewSet(Services{Inventory: true}) }

// Handler serves the set's registry in the Prometheus exposition format.
func (s *Set) Handler() http.Handler {
	return promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{Registry: s.Registry})
}

// Server serves /metrics on its own listener.
type Server struct {
	lis net.Listener
	srv *http.Server
}

// Listen listens on addr for Run.
func Listen(addr string, h http.Handler) (*Server, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	return &Server{lis: lis, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.lis.Addr() }

// Run serves until ctx ends, then shuts down within grace. It returns nil
// after a shutdown asked for by ctx.
func (s *Server) Run(ctx context.Context, grace time.Duration) error {
	served := make(chan error, 1)
	go func() { served <- s.srv.Serve(s.lis) }()
	select {
	case err := <-served:
		return fmt.Errorf("metrics: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// Serve is Listen then Run in a goroutine it owns until ctx ends: the
// shape every cmd/ main uses. The returned channel yields Run's error
// once. An empty addr serves nothing (and the channel yields nil).
func Serve(ctx context.Context, addr string, h http.Handler, log *slog.Logger) (<-chan error, error) {
	done := make(chan error, 1)
	if addr == "" {
		done <- nil
		return done, nil
	}
	s, err := Listen(addr, h)
	if err != nil {
		return nil, err
	}
	log.Info("metrics: serving", "addr", "http://"+s.Addr().String()+"/metrics")
	go func() { done <- s.Run(ctx, 5*time.Second) }()
	return done, nil
}
