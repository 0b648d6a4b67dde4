package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/cartstream/cartstream/internal/auth"
	"github.com/cartstream/cartstream/internal/devbroker"
	"github.com/cartstream/cartstream/internal/gateway"
	"github.com/cartstream/cartstream/internal/grpclimits"
	"github.com/cartstream/cartstream/internal/httpapi"
	"github.com/cartstream/cartstream/internal/metrics"
	"github.com/cartstream/cartstream/internal/records"
	"github.com/cartstream/cartstream/internal/topics"
	"github.com/cartstream/cartstream/inventory/processor"
	"github.com/cartstream/cartstream/projection"
	"github.com/cartstream/cartstream/validation"
	"github.com/cartstream/cartstream/web"
)

// App is the one-process backend: New binds its ports, Run runs it.
type App struct {
	cfg     Config
	log     *slog.Logger
	grpcLis net.Listener
	httpLis net.Listener
	ready   chan struct{}
	// brokers is known once Run has started the embedded broker.
	mu      sync.Mutex
	brokers string
	ran     bool
}

// New validates cfg and listens on the gRPC and HTTP addresses, so a port
// in use fails at once. Call Run (which closes the listeners) or Close.
func New(cfg Config) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	grpcLis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return nil, fmt.Errorf("cartstream: gRPC address: %w", err)
	}
	httpLis, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		_ = grpcLis.Close()
		return nil, fmt.Errorf("cartstream: HTTP address: %w", err)
	}
	return &App{cfg: cfg, log: cfg.Logger, grpcLis: grpcLis, httpLis: httpLis, ready: make(chan struct{}), brokers: cfg.Brokers}, nil
}

// GRPCAddr is the address gRPC listens on (host:port).
func (a *App) GRPCAddr() string { return a.grpcLis.Addr().String() }

// HTTPAddr is the address HTTP listens on (host:port).
func (a *App) HTTPAddr() string { return a.httpLis.Addr().String() }

// Ready is closed once every part serves: gRPC health is SERVING.
func (a *App) Ready() <-chan struct{} { return a.ready }

// Brokers is the cluster in use: Config.Brokers or, once Run has started
// it, the embedded broker's address.
func (a *App) Brokers() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.brokers
}

// Close releases the listeners of an App that was never Run.
func (a *App) Close() error {
	return errors.Join(a.grpcLis.Close(), a.httpLis.Close())
}

// component is one long-running part and its result.
type component struct {
	name string
	done chan error
}

func (a *App) start(ctx context.Context, name string, run func(context.Context) error) component {
	c := component{name: name, done: make(chan error, 1)}
	go func() { c.done <- run(ctx) }()
	return c
}

// stop cancels a stage and waits for its components, collecting errors
// other than the cancellation itself.
func (a *App) stop(cancel context.CancelFunc, cs ...component) error {
	cancel()
	var errs []error
	for _, c := range cs {
		if err := <-c.done; err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
		}
		a.log.Debug("stopped", "part", c.name)
	}
	return errors.Join(errs...)
}

// Run runs every part until ctx ends or one of them fails, then stops them
// in order. It returns nil after a shutdown asked for by ctx. Run may be
// called once.
func (a *App) Run(ctx context.Context) (err error) {
	a.mu.Lock()
	if a.ran {
		a.mu.Unlock()
		return errors.New("cartstream: Run called twice")
	}
	a.ran = true
	a.mu.Unlock()
	began := time.Now()
	cfg, log := a.cfg, a.log

	// The HTTP side answers at once: 503 until ready.
	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		_ = a.Close()
		return fmt.Errorf("cartstream: loopback gRPC client: %w", err)
	}
	defer conn.Close()
	// One registry for every part: the same names as the separate services.
	obs := metrics.ForAll()
	hs, err := httpapi.New(httpapi.Config{
		Conn: conn, Ready: a.ready, Static: web.Handler(), Metrics: obs.Handler(),
		ShutdownTimeout: cfg.ShutdownTimeout, Logger: log, DevAuth: cfg.Auth.DevMode,
	})
	if err != nil {
		_ = a.Close()
		return err
	}
	// Stages stop in this order: HTTP first (it is a client of the rest),
	// then the others in the reverse order of their start.
	var stages []func() error
	defer func() {
		for i := len(stages) - 1; i >= 0; i-- {
			err = errors.Join(err, stages[i]())
		}
	}()
	httpCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	httpPart := a.start(httpCtx, "http", func(ctx context.Context) error { return hs.Run(ctx, a.httpLis) })
	defer func() { err = errors.Join(err, a.stop(stopHTTP, httpPart)) }() // runs before the stages
	log.Info("cartstream: starting", "http", "http://"+a.HTTPAddr()+"/", "grpc", a.GRPCAddr())

	sctx, cancelStart := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancelStart()

	// The broker.
	brokers := cfg.Brokers
	if brokers == "" {
		b, err := devbroker.Start(sctx, devbroker.Config{
			Port: cfg.DevBroker.Port, DataDir: cfg.DevBroker.DataDir,
			Topics: cfg.Topics, TopicConfig: cfg.TopicConfig, Logger: log,
		})
		if err != nil {
			_ = a.grpcLis.Close()
			return fmt.Errorf("cartstream: embedded broker: %w", err)
		}
		stages = append(stages, func() error {
			b.Close()
			log.Info("cartstream: embedded broker stopped", "data_dir", b.DataDir())
			return nil
		})
		for _, line := range strings.Split(b.Banner(), "\n") {
			log.Warn(line)
		}
		brokers = b.Addr()
		a.mu.Lock()
		a.brokers = brokers
		a.mu.Unlock()
	} else if err := ensureTopics(sctx, a.clientConfig(brokers), cfg.Topics, cfg.TopicConfig); err != nil {
		_ = a.grpcLis.Close()
		return err
	}
	client := a.clientConfig(brokers)
	log.Info("cartstream: topics checked", "brokers", brokers, "requests", cfg.Topics.Requests)

	codec, err := records.New(records.Config{})
	if err != nil {
		_ = a.grpcLis.Close()
		return fmt.Errorf("cartstream: records codec: %w", err)
	}
	if cfg.Catalog != nil {
		n, err := devbroker.SeedCatalog(sctx, devbroker.SeedConfig{Client: client, Topic: cfg.Topics.Catalog, Encoder: codec, Products: cfg.Catalog})
		switch {
		case err != nil:
			_ = a.grpcLis.Close()
			return fmt.Errorf("cartstream: seed the catalog: %w", err)
		case n > 0:
			log.Info("cartstream: catalog seeded", "topic", cfg.Topics.Catalog, "products", n)
		default:
			log.Info("cartstream: catalog topic already has records; not seeding", "topic", cfg.Topics.Catalog)
		}
	}

	// The write side and the read side.
	mgrCfg := validation.Config{
		Client: client, Topics: cfg.Topics, GroupID: cfg.GroupID, InstanceID: cfg.InstanceID,
		Limits: cfg.Limits, Records: codec, Logger: log.With("part", "manager"), Observer: obs.Manager,
		Reservations: !cfg.NoReservations,
	}
	if cfg.KafkaStatsInterval > 0 {
		mgrCfg.KafkaStats, mgrCfg.KafkaStatsInterval = obs.Kafka.Func("manager-"), cfg.KafkaStatsInterval
	}
	mgr, err := validation.New(mgrCfg)
	if err != nil {
		_ = a.grpcLis.Close()
		return err
	}
	rs, err := newReadSide(client, cfg, codec, obs, log.With("part", "projection"))
	if err != nil {
		_ = a.grpcLis.Close()
		return err
	}
	obs.Manager.Attach(mgr)
	obs.Projection.Attach(rs.proj)
	svcCtx, stopSvc := context.WithCancel(context.WithoutCancel(ctx))
	mgrPart := a.start(svcCtx, "manager", mgr.Run)
	rsPart := a.start(svcCtx, "projection", rs.Run)
	// The inventory processor: with reservations off it is not needed and
	// a part that never ends stands in for it.
	invRun, invReady := func(ctx context.Context) error { <-ctx.Done(); return nil }, (<-chan struct{})(closedChan())
	if !cfg.NoReservations {
		inv, err := processor.New(processor.Config{
			Client: client, Topics: cfg.Topics, InstanceID: cfg.InstanceID, Records: codec, Logger: log.With("part", "inventory"),
		})
		if err != nil {
			stopSvc()
			_ = a.grpcLis.Close()
			return err
		}
		invRun, invReady = inv.Run, inv.Ready()
	}
	invPart := a.start(svcCtx, "inventory", invRun)
	stages = append(stages, func() error { return a.stop(stopSvc, mgrPart, rsPart, invPart) })

	failed := func(c component, e error) error {
		c.done <- nil // for the stop's wait; e is reported here
		if e == nil {
			e = errors.New("stopped unexpectedly")
		}
		return fmt.Errorf("cartstream: %s: %w", c.name, e)
	}
	for _, w := range []struct {
		name string
		ch   <-chan struct{}
	}{{"manager", mgr.Ready()}, {"projection", rs.Ready()}, {"inventory", invReady}} {
		select {
		case <-w.ch:
			log.Info("cartstream: ready", "part", w.name, "after", time.Since(began).Round(time.Millisecond))
		case e := <-invPart.done:
			_ = a.grpcLis.Close()
			return failed(invPart, e)
		case e := <-mgrPart.done:
			_ = a.grpcLis.Close()
			return failed(mgrPart, e)
		case e := <-rsPart.done:
			_ = a.grpcLis.Close()
			return failed(rsPart, e)
		case <-sctx.Done():
			_ = a.grpcLis.Close()
			if ctx.Err() != nil {
				return nil // asked to stop while starting
			}
			return fmt.Errorf("cartstream: %s not ready within %v", w.name, cfg.StartTimeout)
		}
	}

	// The gateway, with the read side's queries and the catalog.
	// The HTTP/JSON API reaches the gateway over one loopback connection
	// that carries every browser's calls and watches: a projection's limit.
	limits := grpclimits.Limits{MaxConcurrentStreams: projection.DefaultMaxConcurrentStreams}
	ac := cfg.Auth
	ac.Logger = log.With("part", "auth")
	verifier, err := auth.New(sctx, ac)
	if err != nil {
		_ = a.grpcLis.Close()
		return err
	}
	stages = append(stages, func() error { return verifier.Close(context.WithoutCancel(ctx)) })
	gwCtx, stopGW := context.WithCancel(context.WithoutCancel(ctx))
	gwPart := a.start(gwCtx, "gateway", func(ctx context.Context) error {
		return gateway.Run(ctx, gateway.Options{
			// The development binary keeps reflection on for grpcurl.
			Reflection:      true,
			Listener:        a.grpcLis,
			Kafka:           a.gatewayKafka(brokers, obs),
			Instrument:      obs.Gateway.Instrument(obs.GRPC),
			Topics:          cfg.Topics,
			TopicConfig:     cfg.TopicConfig,
			Encoder:         codec,
			Reader:          rs.Reader(),
			Outcomes:        rs.Outcomes(),
			Products:        rs.Products(),
			Register:        rs.Register,
			Limits:          limits,
			Auth:            verifier,
			RateLimits:      cfg.RateLimits,
			StartTimeout:    cfg.StartTimeout,
			ShutdownTimeout: cfg.ShutdownTimeout,
			Logger:          log.With("part", "gateway"),
		})
	})
	stages = append(stages, func() error { return a.stop(stopGW, gwPart) })
	if e := waitServing(sctx, conn, gwPart); e != nil {
		if ctx.Err() != nil {
			return nil
		}
		return e
	}
	close(a.ready)
	log.Info("cartstream: READY: open the storefront", "url", "http://"+a.HTTPAddr()+"/", "grpc", a.GRPCAddr(), "brokers", brokers, "after", time.Since(began).Round(time.Millisecond))

	select {
	case <-ctx.Done():
		log.Info("cartstream: shutting down", "cause", context.Cause(ctx))
		return nil
	case e := <-httpPart.done:
		return failed(httpPart, e)
	case e := <-gwPart.done:
		return failed(gwPart, e)
	case e := <-mgrPart.done:
		return failed(mgrPart, e)
	case e := <-rsPart.done:
		return failed(rsPart, e)
	case e := <-invPart.done:
		return failed(invPart, e)
	}
}

func closedChan() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// extra is what every client adds to the bootstrap servers: Config.Kafka
// (with an external cluster) and clientDefaults.
func (a *App) extra() kafka.ConfigMap {
	cm := kafka.ConfigMap{}
	if a.cfg.Brokers != "" {
		maps.Copy(cm, a.cfg.Kafka)
	}
	delete(cm, "bootstrap.servers")
	maps.Copy(cm, clientDefaults)
	return cm
}

func (a *App) clientConfig(brokers string) kafka.ConfigMap {
	cm := a.extra()
	cm["bootstrap.servers"] = brokers
	return cm
}

// clientDefaults are librdkafka settings of every client of the process:
// gatewayKafka is the gateway producer's configuration, its librdkafka
// statistics going to obs when they are on.
func (a *App) gatewayKafka(brokers string, obs *metrics.Set) gateway.KafkaConfig {
	kc := gateway.KafkaConfig{Brokers: brokers, Extra: a.extra()}
	if a.cfg.KafkaStatsInterval > 0 {
		kc.Stats = func(doc string) { obs.Kafka.Observe("gateway-producer", doc) }
		kc.StatsInterval = a.cfg.KafkaStatsInterval
	}
	return kc
}

// no KIP-714 metrics push (it only adds log lines here).
var clientDefaults = kafka.ConfigMap{"enable.metrics.push": false}

// waitServing polls the gateway's gRPC health until SERVING.
func waitServing(ctx context.Context, conn *grpc.ClientConn, gw component) error {
	health := healthpb.NewHealthClient(conn)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := health.Check(cctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		select {
		case e := <-gw.done:
			gw.done <- nil // for the stop's wait; e is reported here
			return fmt.Errorf("cartstream: gateway: %w", e)
		case <-ctx.Done():
			return fmt.Errorf("cartstream: gateway not serving: %w (last: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond): // polling health with a deadline
		}
	}
}

func ensureTopics(ctx context.Context, client kafka.ConfigMap, set topics.Set, tc topics.Config) error {
	brokers := client["bootstrap.servers"]
	admin, err := kafka.NewAdminClient(&client)
	if err != nil {
		return fmt.Errorf("cartstream: admin client: %w", err)
	}
	defer admin.Close()
	if _, err := topics.Ensure(ctx, admin, set, tc); err != nil {
		return fmt.Errorf("cartstream: topics at %s: %w", brokers, err)
	}
	return nil
}
