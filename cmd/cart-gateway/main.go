// Command cart-gateway serves the CartService commands over gRPC and appends
// them to cart.requests. It only wires: flags and environment into
// gateway.Options, a logger, the records codec, and signals into the
// context of gateway.Run (internal/gateway holds the logic).
//
// Every flag has an environment fallback (the flag wins); see
// docs/gateway.md or run cart-gateway -h.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cartstream/cartstream/internal/auth"
	"github.com/cartstream/cartstream/internal/gateway"
	"github.com/cartstream/cartstream/internal/grpclimits"
	"github.com/cartstream/cartstream/internal/kafkaconf"
	"github.com/cartstream/cartstream/internal/metrics"
	"github.com/cartstream/cartstream/internal/records"
	"github.com/cartstream/cartstream/internal/service"
	"github.com/cartstream/cartstream/internal/tlsconf"
	"github.com/cartstream/cartstream/internal/topics"
	"github.com/cartstream/cartstream/internal/tracing"
	"github.com/cartstream/cartstream/projection"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

func main() {
	err := run(os.Args[1:], os.Getenv, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		fmt.Fprintf(os.Stderr, "cart-gateway: %v\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "cart-gateway: %v\n", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// config is what the command line and the environment say.
type config struct {
	grpcAddr        string
	tls             tlsconf.Server
	projectionTLS   tlsconf.Client
	reflection      bool
	projectionAddr  string
	projectionGroup bool
	brokers         string
	brokersExplicit bool
	kafkaFile       string
	topicPrefix     string
	topics          topics.Set
	partitions      int
	replication     int
	maxRecvBytes    int
	maxStreams      int
	linger          time.Duration
	deliveryTimeout time.Duration
	startTimeout    time.Duration
	shutdownTimeout time.Duration
	logFormat       string
	logLevel        slog.Level
	callers         service.CallerFlags
	metrics         service.MetricsFlags
}

func parseConfig(args []string, getenv func(string) string, output io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("cart-gateway", flag.ContinueOnError)
	fs.SetOutput(output)
	lookup := func(k string) (string, bool) { v := getenv(k); return v, v != "" }
	e := &service.EnvFlags{FS: fs, Lookup: lookup}
	def := topics.DefaultSet()
	var level string
	e.String(&c.grpcAddr, "grpc-addr", "CARTSTREAM_GRPC_ADDR", gateway.DefaultAddr, "gRPC listen address")
	e.String(&c.projectionAddr, "projection-addr", "CARTSTREAM_PROJECTION_ADDR", "", "gRPC address of a cart-projection serving the queries and wait_for_outcome; empty: commands only")
	e.Bool(&c.projectionGroup, "projection-group", "CARTSTREAM_PROJECTION_GROUP_ROUTING", false, "route queries and wait_for_outcome to the replicas of a projection group, as its membership topic says (docs/read-path.md); excludes -projection-addr")
	tlsconf.ServerFlags(e, &c.tls)
	tlsconf.ClientFlags(e, &c.projectionTLS, "projection", "PROJECTION", "the projection")
	e.Bool(&c.reflection, "reflection", "CARTSTREAM_REFLECTION", false, "register gRPC server reflection (grpcurl without proto files)")
	e.String(&c.brokers, "brokers", "KAFKA_BROKERS", "127.0.0.1:9092", "Kafka bootstrap servers, comma-separated")
	e.String(&c.kafkaFile, kafkaconf.Flag, kafkaconf.Env, "", kafkaconf.Usage)
	e.String(&c.topicPrefix, "topic-prefix", "CARTSTREAM_TOPIC_PREFIX", "", "prefix of every topic name (several deployments on one cluster)")
	e.String(&c.topics.Requests, "topic-requests", "CARTSTREAM_TOPIC_REQUESTS", def.Requests, "commands topic (before the prefix)")
	e.String(&c.topics.Validated, "topic-validated", "CARTSTREAM_TOPIC_VALIDATED", def.Validated, "accepted events topic")
	e.String(&c.topics.Invalid, "topic-invalid", "CARTSTREAM_TOPIC_INVALID", def.Invalid, "rejections topic")
	e.String(&c.topics.State, "topic-state", "CARTSTREAM_TOPIC_STATE", def.State, "cart snapshots topic (compacted)")
	e.String(&c.topics.Catalog, "topic-catalog", "CARTSTREAM_TOPIC_CATALOG", def.Catalog, "catalog topic (compacted)")
	e.String(&c.topics.Orders, "topic-orders", "CARTSTREAM_TOPIC_ORDERS", def.Orders, "orders topic (OrderPlaced per checkout)")
	e.String(&c.topics.Inventory, "topic-inventory", "CARTSTREAM_TOPIC_INVENTORY", def.Inventory, "inventory requests topic (reservations, stock changes; keyed by sku)")
	e.String(&c.topics.Stock, "topic-stock", "CARTSTREAM_TOPIC_STOCK", def.Stock, "stock levels topic (compacted, keyed by sku)")
	e.Int(&c.partitions, "partitions", "CARTSTREAM_PARTITIONS", topics.DefaultPartitions, "partitions of topics created at start (existing topics are kept)")
	e.Int(&c.replication, "replication-factor", "CARTSTREAM_REPLICATION_FACTOR", -1, "replication factor of topics created at start; -1: the broker's default")
	e.Int(&c.maxRecvBytes, "grpc-max-recv-bytes", "CARTSTREAM_GRPC_MAX_RECV_BYTES", gateway.DefaultMaxRecvMsgSize, "largest gRPC request accepted, bytes (larger: RESOURCE_EXHAUSTED)")
	e.Int(&c.maxStreams, "grpc-max-streams", "CARTSTREAM_GRPC_MAX_STREAMS", grpclimits.DefaultMaxConcurrentStreams, "concurrent gRPC streams per client connection (calls beyond it wait)")
	e.Duration(&c.linger, "linger", "CARTSTREAM_KAFKA_LINGER", 0, "producer linger.ms (0: send at once; librdkafka batches what queues while a request is in flight)")
	e.Duration(&c.deliveryTimeout, "delivery-timeout", "CARTSTREAM_KAFKA_DELIVERY_TIMEOUT", 30*time.Second, "producer delivery.timeout.ms: how long one record is retried")
	e.Duration(&c.startTimeout, "start-timeout", "CARTSTREAM_START_TIMEOUT", gateway.DefaultStartTimeout, "bound on topic checks and the first broker contact")
	e.Duration(&c.shutdownTimeout, "shutdown-timeout", "CARTSTREAM_SHUTDOWN_TIMEOUT", gateway.DefaultShutdownTimeout, "graceful stop bound, then the producer's flush bound")
	e.String(&c.logFormat, "log-format", "CARTSTREAM_LOG_FORMAT", "text", "log format: text or json")
	e.String(&level, "log-level", "CARTSTREAM_LOG_LEVEL", "info", "log level: debug, info, warn or error")
	c.callers.Register(e, false)
	c.metrics.Register(e, "127.0.0.1:9101")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, fmt.Errorf("%w: %w", errUsage, err)
	}
	fs.Visit(func(f *flag.Flag) { c.brokersExplicit = c.brokersExplicit || f.Name == "brokers" })
	c.brokersExplicit = c.brokersExplicit || getenv("KAFKA_BROKERS") != ""
	errs := []error{e.Err(), c.callers.Finish(fs, lookup), c.metrics.Validate()}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		errs = append(errs, fmt.Errorf("log format %q: want text or json", c.logFormat))
	}
	if err := c.logLevel.UnmarshalText([]byte(level)); err != nil {
		errs = append(errs, fmt.Errorf("log level %q: want debug, info, warn or error", level))
	}
	if c.maxStreams < 1 {
		errs = append(errs, fmt.Errorf("grpc max streams %d: must be >= 1", c.maxStreams))
	}
	if c.projectionGroup && c.projectionAddr != "" {
		errs = append(errs, errors.New("-projection-group and -projection-addr exclude each other"))
	}
	if strings.TrimSpace(c.brokers) == "" {
		errs = append(errs, errors.New("brokers: empty"))
	}
	c.topics = c.topics.WithPrefix(c.topicPrefix)
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("%w: %w", errUsage, err)
	}
	return c, nil
}

func newLogger(c config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.logLevel}
	if c.logFormat == "json" {
		return slog.New(tracing.LogHandler(slog.NewJSONHandler(w, opts)))
	}
	return slog.New(tracing.LogHandler(slog.NewTextHandler(w, opts)))
}

func run(args []string, getenv func(string) string, stderr io.Writer) error {
	c, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	kc, err := kafkaconf.Load(c.kafkaFile)
	if err != nil {
		return err
	}
	log := slog.New(kafkaconf.RedactHandler(newLogger(c, stderr).Handler(), kc)).With("service", "cart-gateway")
	if kc.Path != "" {
		log.Info("kafka client configuration", "file", kc.Path, "properties", kc.String())
	}
	extra := kc.Client(c.brokers, c.brokersExplicit)
	brokers, _ := extra["bootstrap.servers"].(string)
	delete(extra, "bootstrap.servers")
	codec, err := records.New(records.Config{})
	if err != nil {
		return fmt.Errorf("records codec: %w", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal kills at once
	}()

	stopTracing, err := service.StartTracing(ctx, "cart-gateway", log)
	if err != nil {
		return err
	}
	defer stopTracing()

	ac := c.callers.Auth
	ac.Logger = log
	verifier, err := auth.New(ctx, ac)
	if err != nil {
		return err
	}
	defer func() { _ = verifier.Close(context.WithoutCancel(ctx)) }()

	var reader gateway.Reader
	var outcomes gateway.Outcomes
	var products gateway.ProductReader
	if c.projectionAddr != "" {
		// Keepalive pings notice a projection that vanished without
		// closing the connection, so waits on it fail instead of hanging.
		creds, err := clientCreds(c.projectionTLS)
		if err != nil {
			return fmt.Errorf("projection client: %w", err)
		}
		opts := append(grpclimits.ClientWindows(), grpc.WithTransportCredentials(creds),
			grpc.WithKeepaliveParams(grpclimits.ClientKeepalive()), tracing.DialOption(nil))
		conn, err := grpc.NewClient(c.projectionAddr, opts...)
		if err != nil {
			return fmt.Errorf("projection client %s: %w", c.projectionAddr, err)
		}
		defer conn.Close()
		remote := projection.NewRemote(conn)
		reader, outcomes = remote, remote
		products = remoteProducts{cartv1.NewCatalogServiceClient(conn)}
		log.Info("queries and outcomes served by the projection", "addr", c.projectionAddr)
	}
	if c.projectionGroup {
		// A membership reader that fails stops the gateway (ctx's cause).
		var fail context.CancelCauseFunc
		ctx, fail = context.WithCancelCause(ctx)
		defer fail(nil)
		router, stopRouter, err := startRouter(ctx, c, extra, brokers, log, fail)
		if err != nil {
			return err
		}
		defer stopRouter()
		reader, outcomes, products = router, router, router
	}

	srvTLS, err := c.tls.Config()
	if err != nil {
		return err
	}
	obs := metrics.ForGateway()
	kafkaStats := func(doc string) { obs.Kafka.Observe("gateway-producer", doc) }
	if c.metrics.KafkaStatsInterval <= 0 {
		kafkaStats = nil
	}
	mctx, stopMetrics := context.WithCancel(ctx)
	metricsDone, err := metrics.Serve(mctx, c.metrics.Addr, obs.Handler(), log)
	if err != nil {
		stopMetrics()
		return err
	}
	defer func() {
		stopMetrics()
		if err := <-metricsDone; err != nil {
			log.Warn("metrics endpoint", "err", err)
		}
	}()
	err = gateway.Run(ctx, gateway.Options{
		TLS:        srvTLS,
		Reflection: c.reflection,
		Auth:       verifier,
		RateLimits: c.callers.Rates,
		// Off without -projection-addr or -projection-group (logged).
		MaxCartsPerCustomer: c.callers.MaxCarts,
		Reader:              reader,
		Outcomes:            outcomes,
		Products:            products,
		Addr:                c.grpcAddr,
		Kafka: gateway.KafkaConfig{
			Brokers:         brokers,
			Extra:           extra,
			Linger:          c.linger,
			DeliveryTimeout: c.deliveryTimeout,
			Stats:           kafkaStats,
			StatsInterval:   c.metrics.KafkaStatsInterval,
		},
		Instrument:      obs.Gateway.Instrument(obs.GRPC),
		Topics:          c.topics,
		TopicConfig:     topics.Config{Partitions: c.partitions, ReplicationFactor: c.replication},
		Encoder:         codec,
		MaxRecvMsgSize:  c.maxRecvBytes,
		Limits:          grpclimits.Limits{MaxConcurrentStreams: uint32(c.maxStreams)},
		StartTimeout:    c.startTimeout,
		ShutdownTimeout: c.shutdownTimeout,
		Logger:          log,
	})
	if cause := context.Cause(ctx); err == nil && errors.Is(cause, errMembership) {
		err = cause
	}
	if errors.Is(err, topics.ErrNotCoPartitioned) {
		log.Error("startup refused: the cart topics are not co-partitioned; fix the topics or point the gateway at a matching set", "error", err)
	} else if err != nil {
		log.Error("gateway stopped with an error", "error", err)
	} else {
		log.Info("gateway stopped")
	}
	return err
}

// clientCreds are the transport credentials of the gateway's connection to
// the projection: TLS (with a client certificate for mutual TLS) when
// configured, plaintext otherwise.
func clientCreds(c tlsconf.Client) (credentials.TransportCredentials, error) {
	cfg, err := c.Config()
	if err != nil || cfg == nil {
		return insecure.NewCredentials(), err
	}
	return credentials.NewTLS(cfg), nil
}

// remoteProducts reads the catalog from the projection, for the gateway's
// CatalogAdminService.PatchProduct.
type remoteProducts struct{ c cartv1.CatalogServiceClient }

func (r remoteProducts) GetProduct(ctx context.Context, req *cartv1.GetProductRequest) (*cartv1.GetProductResponse, error) {
	return r.c.GetProduct(ctx, req)
}
