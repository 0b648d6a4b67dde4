package projection

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/cartstream/cartstream/internal/grpclimits"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// Defaults of ServeOptions.
const (
	DefaultAddr            = "127.0.0.1:50052"
	DefaultMaxRecvMsgSize  = 64 << 10
	DefaultShutdownTimeout = 15 * time.Second
	// DefaultMaxConcurrentStreams is per connection, higher than a
	// gateway's: a projection's clients are gateways, and each relays all
	// its users' calls and WatchCart streams over one connection.
	DefaultMaxConcurrentStreams = 16384
)

// ServeOptions configure Serve.
type ServeOptions struct {
	// Addr is the gRPC listen address; default DefaultAddr. Ignored when
	// Listener is set.
	Addr string
	// Listener, if set, is served instead of listening on Addr; Serve
	// closes it.
	Listener net.Listener
	// MaxRecvMsgSize caps a request message; default DefaultMaxRecvMsgSize.
	MaxRecvMsgSize int
	// Limits are the gRPC server's connection limits; zero fields take
	// grpclimits' defaults, but MaxConcurrentStreams defaults to
	// DefaultMaxConcurrentStreams.
	Limits grpclimits.Limits
	// ShutdownTimeout bounds the graceful stop.
	ShutdownTimeout time.Duration
	// TLS, when set, serves over TLS (mutual when it verifies client
	// certificates: the gateways').
	TLS *tls.Config
	// Reflection registers gRPC server reflection.
	Reflection bool
	// ServerOptions are added to the server's (interceptors that observe
	// it, for example).
	ServerOptions []grpc.ServerOption
	// Logger; default: discard.
	Logger *slog.Logger
}

func (o ServeOptions) withDefaults() ServeOptions {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.MaxRecvMsgSize <= 0 {
		o.MaxRecvMsgSize = DefaultMaxRecvMsgSize
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.Limits.MaxConcurrentStreams == 0 {
		o.Limits.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Serve runs p and serves it over gRPC (CartService queries, CatalogService,
// health, reflection) until ctx ends or p.Run fails. Health is NOT_SERVING
// until p is ready, SERVING from then on, and NOT_SERVING for good from the
// start of shutdown. Shutdown ends p first (waiting calls and WatchCart
// streams end UNAVAILABLE), then stops gRPC gracefully within
// ShutdownTimeout, then hard. Serve returns nil after a shutdown asked for by
// ctx.
func Serve(ctx context.Context, p *Projection, o ServeOptions) error { return serve(ctx, p, o) }

// ServeReplica is Serve for a Replica of a projection group: health is
// SERVING once its first assignment has caught up; shutdown leaves the
// group (Replica.Run) before gRPC stops.
func ServeReplica(ctx context.Context, r *Replica, o ServeOptions) error { return serve(ctx, r, o) }

// servable is what serve runs and registers.
type servable interface {
	Run(ctx context.Context) error
	Ready() <-chan struct{}
	Register(reg grpc.ServiceRegistrar)
}

func serve(ctx context.Context, p servable, o ServeOptions) error {
	o = o.withDefaults()
	if err := o.Limits.Validate(); err != nil {
		return fmt.Errorf("projection: %w", err)
	}
	log := o.Logger
	lis := o.Listener
	if lis == nil {
		var err error
		if lis, err = net.Listen("tcp", o.Addr); err != nil {
			return fmt.Errorf("projection: listen on %s: %w", o.Addr, err)
		}
	}
	srv, hs := newGRPCServer(p, o)

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(runCtx) }()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(lis) }()
	log.Info("projection: serving gRPC (NOT_SERVING until caught up)", "addr", lis.Addr().String())

	var cause error
	runDone := false
	ready := p.Ready()
	for cause == nil && !runDone && ctx.Err() == nil {
		select {
		case <-ready:
			for _, s := range healthServices {
				hs.SetServingStatus(s, healthpb.HealthCheckResponse_SERVING)
			}
			log.Info("projection: health SERVING")
			ready = nil
		case err := <-runErr:
			runDone = true
			if err == nil {
				err = errors.New("projection: stopped unexpectedly")
			}
			cause = err
		case err := <-serveErr:
			cause = fmt.Errorf("projection: serve: %w", err)
			serveErr <- nil
		case <-ctx.Done():
		}
	}
	log.Info("projection: shutting down", "cause", cause)
	hs.Shutdown()
	stopRun()
	if !runDone {
		if err := <-runErr; err != nil && cause == nil {
			cause = err
		}
	}
	done := make(chan struct{})
	go func() { srv.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(o.ShutdownTimeout):
		log.Warn("projection: graceful stop timed out; stopping hard", "timeout", o.ShutdownTimeout)
		srv.Stop()
		<-done
	}
	<-serveErr
	return cause
}

// healthServices are the names whose health a projection reports.
var healthServices = []string{"", cartv1.CartService_ServiceDesc.ServiceName, cartv1.CatalogService_ServiceDesc.ServiceName}

// newGRPCServer is a projection's gRPC server: its
// services, health NOT_SERVING, reflection, the request size cap and the
// connection limits.
func newGRPCServer(p servable, o ServeOptions) (*grpc.Server, *health.Server) {
	o = o.withDefaults()
	opts := append(o.Limits.ServerOptions(), grpc.MaxRecvMsgSize(o.MaxRecvMsgSize))
	opts = append(opts, o.ServerOptions...)
	if o.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(o.TLS)))
	}
	srv := grpc.NewServer(opts...)
	p.Register(srv)
	hs := health.NewServer()
	for _, s := range healthServices {
		hs.SetServingStatus(s, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	healthpb.RegisterHealthServer(srv, hs)
	if o.Reflection {
		reflection.Register(srv)
	}
	return srv, hs
}
