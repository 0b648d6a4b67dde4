// Package service holds what every cartstream command shares when it wires
// a long-running service: flags with environment fallbacks, the slog logger,
// the gRPC health endpoint, and the signal-driven lifetime. Only cmd/ uses
// it; the services themselves take their configuration as structs.
package service

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/cartstream/cartstream/internal/grpclimits"
	"github.com/cartstream/cartstream/internal/tracing"
)

// Env returns the environment variable name's value, or def when unset.
func Env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// LogFlags are the logging flags every command takes.
type LogFlags struct {
	Format string
	Level  string
}

// Register adds -log-format and -log-level to fs.
func (l *LogFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&l.Format, "log-format", Env("CARTSTREAM_LOG_FORMAT", "text"), "log format: text or json (env CARTSTREAM_LOG_FORMAT)")
	fs.StringVar(&l.Level, "log-level", Env("CARTSTREAM_LOG_LEVEL", "info"), "log level: debug, info, warn, error (env CARTSTREAM_LOG_LEVEL)")
}

// Logger builds the logger the flags describe, writing to w.
func (l LogFlags) Logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.Level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", l.Level, err)
	}
	opts := &slog.HandlerOptions{Level: level}
	// Records logged with a span's context carry its trace and span ids.
	switch strings.ToLower(l.Format) {
	case "text":
		return slog.New(tracing.LogHandler(slog.NewTextHandler(w, opts))), nil
	case "json":
		return slog.New(tracing.LogHandler(slog.NewJSONHandler(w, opts))), nil
	default:
		return nil, fmt.Errorf("log format %q: want text or json", l.Format)
	}
}

// SignalContext is cancelled on SIGINT or SIGTERM. A second signal stops the
// process at once: an operator who presses Ctrl-C twice means it.
func SignalContext(log *slog.Logger) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		defer signal.Stop(sigs)
		select {
		case s := <-sigs:
			log.Info("shutting down", "signal", s.String())
			cancel()
		case <-ctx.Done():
			return
		}
		s := <-sigs
		log.Warn("second signal: exiting now", "signal", s.String())
		os.Exit(130)
	}()
	return ctx, cancel
}

// Health is a gRPC server that carries the standard health service (and
// reflection), for services whose main API is not gRPC.
type Health struct {
	Server *grpc.Server
	Status *health.Server
	lis    net.Listener
}

// HealthOptions configure ListenHealth.
type HealthOptions struct {
	// TLS, when set, serves over TLS (mutual when it verifies clients).
	TLS *tls.Config
	// Reflection registers gRPC server reflection.
	Reflection bool
}

// ListenHealth listens on addr and registers health (and reflection when
// asked). The overall status starts NOT_SERVING. The server has
// grpclimits' default connection limits, like every cartstream gRPC
// server.
func ListenHealth(addr string, o HealthOptions) (*Health, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	opts := grpclimits.Limits{}.ServerOptions()
	if o.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(o.TLS)))
	}
	srv := grpc.NewServer(opts...)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	if o.Reflection {
		reflection.Register(srv)
	}
	return &Health{Server: srv, Status: hs, lis: lis}, nil
}

// Addr is the address the health server listens on.
func (h *Health) Addr() net.Addr { return h.lis.Addr() }

// Run serves until ctx ends, then stops within grace.
func (h *Health) Run(ctx context.Context, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- h.Server.Serve(h.lis) }()
	select {
	case err := <-errc:
		return fmt.Errorf("health server: %w", err)
	case <-ctx.Done():
	}
	h.Status.Shutdown()
	stopped := make(chan struct{})
	go func() { h.Server.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(grace):
		h.Server.Stop()
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("health server: %w", err)
	}
	return nil
}
