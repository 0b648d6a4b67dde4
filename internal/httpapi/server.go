package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/cartstream/cartstream/internal/auth"

	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// Defaults of Config.
const (
	DefaultAddr            = "127.0.0.1:8080"
	DefaultShutdownTimeout = 10 * time.Second
	// DefaultCallTimeout bounds an API call that names no deadline (no
	// Grpc-Timeout header), so a browser's wait_for_outcome gets an answer
	// or DEADLINE_EXCEEDED rather than hanging. Streams have no bound.
	DefaultCallTimeout = 15 * time.Second
	// MaxRequestBytes caps a request body; the gRPC server's own cap is
	// smaller still.
	MaxRequestBytes = 64 << 10
	healthTimeout   = 2 * time.Second
)

// Config of a Server.
type Config struct {
	// Conn is a client connection to the process's gRPC server (or any
	// server of CartService, CatalogService and grpc.health.v1). Required.
	Conn grpc.ClientConnInterface
	// Ready, if set, gates the API and /healthz: they answer 503 until it
	// is closed (the process is still starting).
	Ready <-chan struct{}
	// Static serves the storefront and everything outside /v1/; nil: 404.
	Static http.Handler
	// Metrics serves /metrics; nil: 404.
	Metrics http.Handler
	// CallTimeout: see DefaultCallTimeout.
	CallTimeout time.Duration
	// ShutdownTimeout bounds Run's graceful stop.
	ShutdownTimeout time.Duration
	// DevAuth says the gRPC side authenticates no caller (development
	// mode): /healthz says so, so nobody mistakes the process for a
	// production one.
	DevAuth bool
	// Logger; default: discard.
	Logger *slog.Logger
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Conn == nil {
		errs = append(errs, errors.New("httpapi: gRPC connection: nil"))
	}
	if c.CallTimeout < 0 || c.ShutdownTimeout < 0 {
		errs = append(errs, errors.New("httpapi: timeouts must not be negative"))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.CallTimeout == 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Server is the HTTP handler of a process plus its lifecycle. Safe for
// concurrent use.
type Server struct {
	cfg     Config
	handler http.Handler
	health  healthpb.HealthClient
	// streams is canceled when shutdown starts: it ends WatchCart streams.
	streams      context.Context
	cancelStream context.CancelFunc
}

// New builds the handler: grpc-gateway's mux with CartService and
// CatalogService over cfg.Conn, plus health, metrics and static files.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	gw := runtime.NewServeMux(
		// The default error body is google.rpc.Status as JSON ({"code",
		// "message", "details"}) with the HTTP status of docs/api.md.
		runtime.WithRoutingErrorHandler(runtime.DefaultRoutingErrorHandler),
		// The Authorization header goes on to gRPC as "authorization"
		// metadata (grpc-gateway's default); errors get the HTTP headers
		// their details imply.
		runtime.WithErrorHandler(errorHandler),
	)
	ctx := context.Background() // registration only; calls use the request's ctx
	if err := cartv1.RegisterCartServiceHandlerClient(ctx, gw, cartv1.NewCartServiceClient(cfg.Conn)); err != nil {
		return nil, fmt.Errorf("httpapi: register CartService: %w", err)
	}
	if err := cartv1.RegisterCatalogServiceHandlerClient(ctx, gw, cartv1.NewCatalogServiceClient(cfg.Conn)); err != nil {
		return nil, fmt.Errorf("httpapi: register CatalogService: %w", err)
	}
	if err := cartv1.RegisterCatalogAdminServiceHandlerClient(ctx, gw, cartv1.NewCatalogAdminServiceClient(cfg.Conn)); err != nil {
		return nil, fmt.Errorf("httpapi: register CatalogAdminService: %w", err)
	}
	if err := cartv1.RegisterInventoryAdminServiceHandlerClient(ctx, gw, cartv1.NewInventoryAdminServiceClient(cfg.Conn)); err != nil {
		return nil, fmt.Errorf("httpapi: register InventoryAdminService: %w", err)
	}
	s := &Server{cfg: cfg, health: healthpb.NewHealthClient(cfg.Conn)}
	s.streams, s.cancelStream = context.WithCancel(context.Background())

	mux := http.NewServeMux()
	mux.Handle("/v1/", s.gate(s.api(gw)))
	mux.HandleFunc("GET /healthz", s.healthz)
	if cfg.Metrics != nil {
		mux.Handle("GET /metrics", cfg.Metrics)
	}
	if cfg.Static != nil {
		mux.Handle("/", cfg.Static)
	} else {
		mux.Handle("/", http.NotFoundHandler())
	}
	s.handler = securityHeaders(mux)
	return s, nil
}

// Handler is the whole HTTP handler, for tests and for embedding.
func (s *Server) Handler() http.Handler { return s.handler }

// api bounds unary calls, caps bodies and ties streams to shutdown.
func (s *Server) api(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBytes)
		ctx := r.Context()
		if isStream(r) {
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(ctx)
			defer cancel()
			stop := context.AfterFunc(s.streams, cancel)
			defer stop()
		} else if r.Header.Get("Grpc-Timeout") == "" {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, s.cfg.CallTimeout)
			defer cancel()
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// isStream says whether r calls a server-streaming RPC (WatchCart).
func isStream(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, ":watch")
}

// gate answers 503 until cfg.Ready is closed.
func (s *Server) gate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.ready() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"code": 14, "message": "cartstream is starting; retry shortly", "details": []any{}})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) ready() bool {
	if s.cfg.Ready == nil {
		return true
	}
	select {
	case <-s.cfg.Ready:
		return true
	default:
		return false
	}
}

// healthz reports the gRPC health of the process (or of ?service=).
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if !s.ready() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "STARTING"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	resp, err := s.health.Check(ctx, &healthpb.HealthCheckRequest{Service: r.URL.Query().Get("service")})
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "UNREACHABLE", "error": err.Error()})
		return
	}
	code := http.StatusOK
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		code = http.StatusServiceUnavailable
	}
	body := map[string]string{"status": resp.GetStatus().String()}
	if s.cfg.DevAuth {
		body["auth"] = DevAuthNotice
	}
	writeJSON(w, code, body)
}

// DevAuthNotice is what /healthz says of a development-mode process.
const DevAuthNotice = "DEVELOPMENT MODE: callers are not authenticated; any caller may act as any customer"

// errorHandler is grpc-gateway's default error body plus two headers: the
// WWW-Authenticate challenge of an UNAUTHENTICATED answer (RFC 6750), and
// Retry-After from a google.rpc.RetryInfo (rate limits, load shedding).
func errorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if md, ok := runtime.ServerMetadataFromContext(ctx); ok {
		if v := append(md.HeaderMD.Get(auth.HeaderWWWAuthenticate), md.TrailerMD.Get(auth.HeaderWWWAuthenticate)...); len(v) > 0 {
			// The default handler puts the status message there; the
			// server's challenge replaces it as the headers go out.
			w = &challengeWriter{ResponseWriter: w, challenge: v[0]}
		}
	}
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			secs := int64(math.Ceil(ri.GetRetryDelay().AsDuration().Seconds()))
			w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
		}
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}

type challengeWriter struct {
	http.ResponseWriter
	challenge string
}

func (c *challengeWriter) WriteHeader(code int) {
	c.Header().Set("WWW-Authenticate", c.challenge)
	c.ResponseWriter.WriteHeader(code)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// securityHeaders: the page loads nothing from elsewhere, so say so.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}

// Run serves on lis until ctx ends, then shuts down: it ends the open
// streams at once and gives other calls ShutdownTimeout to finish. It
// closes lis and returns nil after a shutdown asked for by ctx.
func (s *Server) Run(ctx context.Context, lis net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	s.cfg.Logger.Info("http: serving", "addr", lis.Addr().String())
	select {
	case err := <-errc:
		s.cancelStream()
		return fmt.Errorf("httpapi: serve: %w", err)
	case <-ctx.Done():
	}
	s.cancelStream()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		s.cfg.Logger.Warn("http: graceful stop timed out; closing", "error", err)
		_ = srv.Close()
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("httpapi: serve: %w", serr)
	}
	s.cfg.Logger.Info("http: stopped")
	return nil
}
