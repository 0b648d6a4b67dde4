package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/cartstream/cartstream/internal/auth"
	"github.com/cartstream/cartstream/internal/grpclimits"
	"github.com/cartstream/cartstream/internal/topics"
	"github.com/cartstream/cartstream/internal/tracing"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// Defaults of Options.
const (
	DefaultAddr            = "127.0.0.1:50051"
	DefaultMaxRecvMsgSize  = 64 << 10 // bytes; a command is < 1 KiB
	DefaultStartTimeout    = time.Minute
	DefaultShutdownTimeout = 15 * time.Second
)

// Options of a gateway process, for Run.
type Options struct {
	// Addr is the gRPC listen address; default DefaultAddr. Ignored when
	// Listener is set.
	Addr string
	// Listener, if set, is served instead of listening on Addr; Run closes
	// it.
	Listener net.Listener
	// Kafka configures the producer; Kafka.Brokers is required. Its Extra
	// properties also configure the admin client that checks the topics.
	Kafka KafkaConfig
	// Topics are the deployment's topic names; default topics.DefaultSet().
	Topics topics.Set
	// TopicConfig says how absent topics are created.
	TopicConfig topics.Config
	// Encoder encodes commands (records.Codec). Required.
	Encoder RequestEncoder
	// Products reads the catalog for CatalogAdminService.PatchProduct;
	// nil answers it UNIMPLEMENTED. CatalogAdminService is served when
	// Encoder also encodes products (records.Codec does).
	Products ProductReader
	// Reader and Outcomes are the read path's parts; nil until it exists.
	Reader   Reader
	Outcomes Outcomes
	// MaxRecvMsgSize caps a request message; default DefaultMaxRecvMsgSize.
	// A larger request is refused with RESOURCE_EXHAUSTED before it is
	// decoded.
	MaxRecvMsgSize int
	// StartTimeout bounds topic checks and the first broker contact.
	StartTimeout time.Duration
	// ShutdownTimeout bounds the graceful stop: calls in flight get this
	// long to finish, then the server stops hard; the producer then gets
	// as long again to flush.
	ShutdownTimeout time.Duration
	// Limits are the gRPC server's connection limits (streams per
	// connection, keepalive); zero fields take grpclimits' defaults.
	Limits grpclimits.Limits
	// TLS, when set, serves gRPC over TLS (mutual when it verifies client
	// certificates: internal/tlsconf).
	TLS *tls.Config
	// Reflection registers gRPC server reflection (grpcurl without proto
	// files): on in the development binary, a flag in production.
	Reflection bool
	// Auth verifies the callers' tokens; nil is development mode (no
	// token checked, the request names its customer), which Run logs as a
	// loud warning. The caller owns it (Close). Token mode needs Reader.
	Auth *auth.Verifier
	// RateLimits bound the commands accepted; the zero value none (the
	// binaries default to DefaultCustomerRate per customer).
	RateLimits RateLimits
	// MaxCartsPerCustomer bounds a customer's open carts (Config); 0 is
	// off (the binaries default to DefaultMaxCartsPerCustomer). It needs
	// Reader: without a read side it is off, which Run logs.
	MaxCartsPerCustomer int
	// Register, if set, registers more services on the gateway's gRPC
	// server (a one-process binary adds the read side and the catalog).
	Register func(grpc.ServiceRegistrar)
	// Instrument, if set, observes the server and the producer (metrics):
	// the process decides how, the gateway only offers the seams.
	Instrument Instrument
	// TracerProvider records the gRPC calls' and the produce spans; nil:
	// the global provider (internal/tracing.Setup installs it).
	TracerProvider trace.TracerProvider
	// Logger; default: discard.
	Logger *slog.Logger
	// Clock for RequestedAt; default time.Now.
	Clock func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.Topics == (topics.Set{}) {
		o.Topics = topics.DefaultSet()
	}
	if o.MaxRecvMsgSize == 0 {
		o.MaxRecvMsgSize = DefaultMaxRecvMsgSize
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Auth == nil {
		o.Auth = auth.Dev()
	}
	return o
}

// Validate reports every problem at once (after defaults are applied).
func (o Options) Validate() error {
	o = o.withDefaults()
	errs := []error{o.Kafka.Validate(), o.Topics.Validate(), o.TopicConfig.Validate()}
	if o.Encoder == nil {
		errs = append(errs, errors.New("gateway: encoder: nil"))
	}
	if o.MaxRecvMsgSize < 0 {
		errs = append(errs, fmt.Errorf("gateway: max receive message size %d: must be positive", o.MaxRecvMsgSize))
	}
	if o.StartTimeout < 0 || o.ShutdownTimeout < 0 {
		errs = append(errs, errors.New("gateway: start and shutdown timeouts must not be negative"))
	}
	if err := o.Limits.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("gateway: %w", err))
	}
	if !o.Auth.DevMode() && o.Reader == nil {
		errs = append(errs, errors.New("gateway: authentication needs the read side to look up cart owners (cart-gateway: -projection-addr)"))
	}
	if o.MaxCartsPerCustomer < 0 || o.MaxCartsPerCustomer > MaxCartsBoundCeiling {
		errs = append(errs, fmt.Errorf("gateway: max carts per customer %d: want 0 (off) to %d (a ListCarts answer's size)", o.MaxCartsPerCustomer, MaxCartsBoundCeiling))
	}
	errs = append(errs, o.RateLimits.Validate())
	return errors.Join(errs...)
}

// ServerOptions are the gRPC server options of a gateway: the explicit cap
// on a request's size (grpc-go answers RESOURCE_EXHAUSTED above it) and the
// connection limits (streams per connection, keepalive).
func ServerOptions(maxRecvMsgSize int, limits grpclimits.Limits) []grpc.ServerOption {
	if maxRecvMsgSize <= 0 {
		maxRecvMsgSize = DefaultMaxRecvMsgSize
	}
	return append(limits.ServerOptions(), grpc.MaxRecvMsgSize(maxRecvMsgSize))
}

// Run is a whole gateway process. It creates absent topics and checks them
// (a co-partitioning mismatch is returned as topics.ErrNotCoPartitioned),
// connects the producer, and serves gRPC (CartService, health, reflection)
// until ctx ends, the server fails, or the producer reports a fatal error.
// Health is SERVING only while it serves, NOT_SERVING from the start of
// shutdown. Shutdown stops gracefully within ShutdownTimeout, then hard,
// then flushes and closes the producer. Run returns nil after a shutdown
// asked for by ctx.
func Run(ctx context.Context, o Options) (err error) {
	if verr := o.Validate(); verr != nil {
		closeListener(o.Listener)
		return verr
	}
	o = o.withDefaults()
	log := o.Logger
	logAuth(o)

	prod, err := start(ctx, o)
	if err != nil {
		closeListener(o.Listener)
		return err
	}
	defer func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.ShutdownTimeout)
		defer cancel()
		if cerr := prod.Close(fctx); cerr != nil {
			err = errors.Join(err, cerr)
		}
		log.Info("gateway: producer closed")
	}()

	lis := o.Listener
	if lis == nil {
		lis, err = net.Listen("tcp", o.Addr)
		if err != nil {
			return fmt.Errorf("gateway: listen on %s: %w", o.Addr, err)
		}
	}
	srv, hs, err := newGRPCServer(o, prod)
	if err != nil {
		closeListener(lis)
		return err
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(lis) }()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(cartv1.CartService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	log.Info("gateway: serving", "addr", lis.Addr().String(), "topic", o.Topics.Requests, "max_recv_msg_size", o.MaxRecvMsgSize)

	var cause error
	select {
	case <-ctx.Done():
		log.Info("gateway: shutting down", "cause", context.Cause(ctx))
	case err := <-serveErr:
		cause = fmt.Errorf("gateway: serve: %w", err)
		serveErr <- nil // for the wait below; Serve has returned
	case <-prod.Fatal():
		cause = fmt.Errorf("%w: fatal producer error: %w", ErrUnavailable, prod.FatalErr())
		log.Error("gateway: stopping: the producer cannot continue", "error", prod.FatalErr())
	}
	hs.Shutdown() // NOT_SERVING for every service, for good
	stopGracefully(srv, o.ShutdownTimeout, log)
	<-serveErr
	return cause
}

// start checks the topics and connects the producer, within StartTimeout.
func start(ctx context.Context, o Options) (*KafkaProducer, error) {
	sctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	adminCfg := kafka.ConfigMap{}
	for k, v := range o.Kafka.Extra {
		adminCfg[k] = v
	}
	adminCfg["bootstrap.servers"] = o.Kafka.Brokers
	admin, err := kafka.NewAdminClient(&adminCfg)
	if err != nil {
		return nil, fmt.Errorf("gateway: admin client: %w", err)
	}
	n, err := topics.Ensure(sctx, admin, o.Topics, o.TopicConfig)
	admin.Close()
	if err != nil {
		return nil, fmt.Errorf("gateway: topics at %s (start timeout %v): %w", o.Kafka.Brokers, o.StartTimeout, err)
	}
	o.Logger.Info("gateway: topics checked", "requests", o.Topics.Requests, "partitions", n)

	kc := o.Kafka
	if kc.Logger == nil {
		kc.Logger = o.Logger
	}
	prod, err := NewKafkaProducer(kc)
	if err != nil {
		return nil, err
	}
	if err := prod.Ping(sctx, o.Topics.Requests); err != nil {
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer ccancel()
		return nil, errors.Join(fmt.Errorf("gateway: producer: %w", err), prod.Close(cctx))
	}
	return prod, nil
}

// Instrument are the seams a process observes a gateway through. Every
// field is optional.
type Instrument struct {
	// Unary and Stream run first in the server's interceptor chains, so
	// they see every call, including those authentication refuses.
	Unary  grpc.UnaryServerInterceptor
	Stream grpc.StreamServerInterceptor
	// Producer wraps the producer the services write through.
	Producer func(Producer) Producer
}

func (in Instrument) interceptors(o Options) []grpc.ServerOption {
	unary := []grpc.UnaryServerInterceptor{o.Auth.UnaryInterceptor()}
	stream := []grpc.StreamServerInterceptor{o.Auth.StreamInterceptor()}
	if in.Unary != nil {
		unary = append([]grpc.UnaryServerInterceptor{in.Unary}, unary...)
	}
	if in.Stream != nil {
		stream = append([]grpc.StreamServerInterceptor{in.Stream}, stream...)
	}
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(unary...), grpc.ChainStreamInterceptor(stream...)}
}

func newGRPCServer(o Options, kp Producer) (*grpc.Server, *health.Server, error) {
	prod := kp
	if o.Instrument.Producer != nil {
		prod = o.Instrument.Producer(kp)
	}
	cs, err := NewServer(Config{
		Topic: o.Topics.Requests, Producer: prod, Encoder: o.Encoder,
		Clock: o.Clock, Logger: o.Logger, Reader: o.Reader, Outcomes: o.Outcomes,
		Authenticated: !o.Auth.DevMode(), RateLimits: o.RateLimits, TracerProvider: o.TracerProvider,
		MaxCartsPerCustomer: o.MaxCartsPerCustomer,
	})
	if err != nil {
		return nil, nil, err
	}
	opts := append(ServerOptions(o.MaxRecvMsgSize, o.Limits), o.Instrument.interceptors(o)...)
	opts = append(opts, tracing.ServerOption(o.TracerProvider))
	if o.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(o.TLS)))
	}
	srv := grpc.NewServer(opts...)
	cartv1.RegisterCartServiceServer(srv, cs)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	hs.SetServingStatus(cartv1.CartService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	if o.Reflection {
		reflection.Register(srv)
	}
	if pe, ok := o.Encoder.(ProductEncoder); ok {
		admin := &CatalogAdmin{Topic: o.Topics.Catalog, Producer: prod, Encoder: pe, Products: o.Products}
		admin.Register(srv)
	}
	if sc, ok := o.Encoder.(StockCodec); ok {
		client := kafka.ConfigMap{}
		maps.Copy(client, o.Kafka.Extra)
		client["bootstrap.servers"] = o.Kafka.Brokers
		inv := &InventoryAdmin{Requests: o.Topics.Inventory, Stock: o.Topics.Stock, Producer: prod, Codec: sc, Client: client}
		inv.Register(srv)
	}
	if o.Register != nil {
		o.Register(srv)
	}
	return srv, hs, nil
}

// logAuth says how callers are authenticated, loudly when they are not.
func logAuth(o Options) {
	if o.Auth.DevMode() {
		for _, line := range DevModeBanner {
			o.Logger.Warn(line)
		}
	} else {
		o.Logger.Info("gateway: callers authenticated by bearer token", o.Auth.Describe()...)
	}
	o.Logger.Info("gateway: command rate limits", "per_customer", o.RateLimits.PerCustomer, "per_customer_burst", burstOf(o.RateLimits.PerCustomer, o.RateLimits.PerCustomerBurst),
		"global", o.RateLimits.Global, "global_burst", burstOf(o.RateLimits.Global, o.RateLimits.GlobalBurst), "note", "0 means no limit")
	_, listing := o.Reader.(CartLister)
	switch {
	case o.MaxCartsPerCustomer > 0 && !listing:
		o.Logger.Warn("gateway: the bound on open carts per customer is OFF: it counts carts on the read side, and this gateway has none that lists them", "max_carts_per_customer", o.MaxCartsPerCustomer)
	default:
		o.Logger.Info("gateway: open carts per customer", "max", o.MaxCartsPerCustomer, "note", "0 means no limit; a soft bound (docs/security.md)")
	}
}

// DevModeBanner is what a gateway without authentication logs at start.
var DevModeBanner = []string{
	"gateway: AUTHENTICATION IS OFF: DEVELOPMENT MODE",
	"gateway: no bearer token is checked: any caller may act as any customer and read any cart",
	"gateway: never expose this port; for production start with -auth-jwks, -auth-issuer and -auth-audience (docs/security.md)",
}

// stopGracefully lets calls in flight finish within timeout, then stops
// hard (their contexts are canceled, so producers' waits end).
func stopGracefully(srv *grpc.Server, timeout time.Duration, log *slog.Logger) {
	done := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(done)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		log.Info("gateway: gRPC server stopped gracefully")
	case <-t.C:
		log.Warn("gateway: graceful stop timed out; stopping hard", "timeout", timeout)
		srv.Stop()
		<-done
	}
}

func closeListener(l net.Listener) {
	if l != nil {
		_ = l.Close()
	}
}
