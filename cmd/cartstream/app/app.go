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
	doors   *doors
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
	d, err := listen(cfg)
	if err != nil {
		return nil, err
	}
	return &App{cfg: cfg, log: cfg.Logger, grpcLis: d.grpc, httpLis: d.http, doors: d, ready: make(chan struct{}), brokers: cfg.Brokers}, nil
}

// StorefrontURL is the storefront's address: https when the HTTP side
// serves TLS.
func (a *App) StorefrontURL() string {
	if a.doors.httpTLS {
		return "https://" + a.HTTPAddr() + "/"
	}
	return "http://" + a.HTTPAddr() + "/"
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
//
// Each step is a method below; Run says the order. Stopping is one
// runner (stages): what started registers its stop, and the stops run in
// reverse, after HTTP's. A listener not yet handed to its server is
// closed by one deferred call, whatever step failed.
func (a *App) Run(ctx context.Context) (err error) {
	if err := a.claimRun(); err != nil {
		return err
	}
	began := time.Now()
	lis := &listeners{grpc: a.grpcLis, http: a.httpLis}
	defer lis.closeUnowned()
	// The HTTP side answers at once: 503 until ready. It reaches the
	// gateway through one in-memory loopback connection (listen.go).
	conn, err := a.doors.dialLoopback()
	if err != nil {
		return fmt.Errorf("cartstream: loopback gRPC client: %w", err)
	}
	defer conn.Close()
	var st stages
	defer func() { err = errors.Join(err, st.stopAll()) }()
	obs := metrics.ForAll() // one registry for every part: the same names as the separate services
	httpPart, stopHTTP, err := a.startHTTP(ctx, conn, obs, lis)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stopHTTP()) }() // runs before the stages
	a.log.Info("cartstream: starting", "http", a.StorefrontURL(), "grpc", a.GRPCAddr(), "grpc_tls", a.doors.grpcTLS)

	sctx, cancelStart := context.WithTimeout(ctx, a.cfg.StartTimeout)
	defer cancelStart()
	brokers, err := a.startBroker(sctx, &st)
	if err != nil {
		return err
	}
	client := a.clientConfig(brokers)
	codec, err := records.New(records.Config{})
	if err != nil {
		return fmt.Errorf("cartstream: records codec: %w", err)
	}
	if err := a.seedCatalog(sctx, client, codec); err != nil {
		return err
	}
	be, err := a.startBackend(ctx, client, codec, obs, &st)
	if err != nil {
		return err
	}
	if err := a.awaitBackend(ctx, sctx, be, began); err != nil {
		return ignoreStop(err)
	}
	gwPart, err := a.startGateway(ctx, sctx, brokers, codec, obs, be.rs, lis, &st)
	if err != nil {
		return err
	}
	if err := waitServing(sctx, conn, gwPart); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	close(a.ready)
	a.log.Info("cartstream: READY: open the storefront", "url", a.StorefrontURL(), "grpc", a.GRPCAddr(), "brokers", brokers, "after", time.Since(began).Round(time.Millisecond))
	return a.serveUntilDone(ctx, httpPart, gwPart, be.mgrPart, be.rsPart, be.invPart)
}

// claimRun makes the first Run the only one.
func (a *App) claimRun() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ran {
		return errors.New("cartstream: Run called twice")
	}
	a.ran = true
	return nil
}

// startHTTP starts the HTTP side (API, storefront, health, metrics) and
// returns its stop.
func (a *App) startHTTP(ctx context.Context, conn *grpc.ClientConn, obs *metrics.Set, lis *listeners) (component, func() error, error) {
	hs, err := httpapi.New(httpapi.Config{
		Conn: conn, Ready: a.ready, Static: web.Handler(), Metrics: obs.Handler(),
		ShutdownTimeout: a.cfg.ShutdownTimeout, Logger: a.log, DevAuth: a.cfg.Auth.DevMode,
	})
	if err != nil {
		return component{}, nil, err
	}
	httpCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	lis.http = nil // hs.Run owns it now
	part := a.start(httpCtx, "http", func(ctx context.Context) error { return hs.Run(ctx, a.httpLis) })
	return part, func() error { return a.stop(stopHTTP, part) }, nil
}

// startBroker starts the embedded broker (no Config.Brokers), or checks
// the topics of the configured cluster, and returns the bootstrap servers.
func (a *App) startBroker(sctx context.Context, st *stages) (string, error) {
	cfg, log := a.cfg, a.log
	brokers := cfg.Brokers
	if brokers != "" {
		if err := ensureTopics(sctx, a.clientConfig(brokers), cfg.Topics, cfg.TopicConfig); err != nil {
			return "", err
		}
		log.Info("cartstream: topics checked", "brokers", brokers, "requests", cfg.Topics.Requests)
		return brokers, nil
	}
	b, err := devbroker.Start(sctx, devbroker.Config{
		Port: cfg.DevBroker.Port, DataDir: cfg.DevBroker.DataDir,
		Topics: cfg.Topics, TopicConfig: cfg.TopicConfig, Logger: log,
	})
	if err != nil {
		return "", fmt.Errorf("cartstream: embedded broker: %w", err)
	}
	st.add(func() error {
		b.Close()
		log.Info("cartstream: embedded broker stopped", "data_dir", b.DataDir())
		return nil
	})
	for _, line := range strings.Split(b.Banner(), "\n") {
		log.Warn(line)
	}
	a.mu.Lock()
	a.brokers = b.Addr()
	a.mu.Unlock()
	log.Info("cartstream: topics checked", "brokers", b.Addr(), "requests", cfg.Topics.Requests)
	return b.Addr(), nil
}

// seedCatalog writes Config.Catalog into an empty catalog topic.
func (a *App) seedCatalog(sctx context.Context, client kafka.ConfigMap, codec *records.Codec) error {
	if a.cfg.Catalog == nil {
		return nil
	}
	topic := a.cfg.Topics.Catalog
	n, err := devbroker.SeedCatalog(sctx, devbroker.SeedConfig{Client: client, Topic: topic, Encoder: codec, Products: a.cfg.Catalog})
	switch {
	case err != nil:
		return fmt.Errorf("cartstream: seed the catalog: %w", err)
	case n > 0:
		a.log.Info("cartstream: catalog seeded", "topic", topic, "products", n)
	default:
		a.log.Info("cartstream: catalog topic already has records; not seeding", "topic", topic)
	}
	return nil
}

// backend is the write side and the read side, running.
type backend struct {
	mgr                      *validation.Manager
	rs                       *readSide
	invReady                 <-chan struct{}
	mgrPart, rsPart, invPart component
}

// startBackend starts the manager, the projection and the inventory
// processor.
func (a *App) startBackend(ctx context.Context, client kafka.ConfigMap, codec *records.Codec, obs *metrics.Set, st *stages) (*backend, error) {
	cfg, log := a.cfg, a.log
	mgrCfg := validation.Config{
		Client: client, Topics: cfg.Topics, GroupID: cfg.GroupID, InstanceID: cfg.InstanceID,
		Limits: cfg.Limits, Records: codec, Logger: log.With("part", "manager"), Observer: obs.Manager,
		CartTTL: cfg.CartTTL, Reservations: !cfg.NoReservations,
	}
	if cfg.KafkaStatsInterval > 0 {
		mgrCfg.KafkaStats, mgrCfg.KafkaStatsInterval = obs.Kafka.Func("manager-"), cfg.KafkaStatsInterval
	}
	mgr, err := validation.New(mgrCfg)
	if err != nil {
		return nil, err
	}
	rs, err := newReadSide(client, cfg, codec, obs, log.With("part", "projection"))
	if err != nil {
		return nil, err
	}
	obs.Manager.Attach(mgr)
	obs.Projection.Attach(rs.proj)
	// The inventory processor: with reservations off it is not needed and
	// a part that never ends stands in for it.
	invRun, invReady := func(ctx context.Context) error { <-ctx.Done(); return nil }, (<-chan struct{})(closedChan())
	if !cfg.NoReservations {
		invCfg := processor.Config{
			Client: client, Topics: cfg.Topics, GroupID: inventoryGroup(cfg.GroupID), InstanceID: cfg.InstanceID,
			Records: codec, Logger: log.With("part", "inventory"),
			Restored: obs.Inventory.Restored,
		}
		if cfg.KafkaStatsInterval > 0 {
			invCfg.KafkaStats, invCfg.KafkaStatsInterval = obs.Kafka.Func("inventory-"), cfg.KafkaStatsInterval
		}
		inv, err := processor.New(invCfg)
		if err != nil {
			return nil, err
		}
		obs.Inventory.Attach(inv)
		invRun, invReady = inv.Run, inv.Ready()
	}
	svcCtx, stopSvc := context.WithCancel(context.WithoutCancel(ctx))
	be := &backend{mgr: mgr, rs: rs, invReady: invReady,
		mgrPart: a.start(svcCtx, "manager", mgr.Run), rsPart: a.start(svcCtx, "projection", rs.Run), invPart: a.start(svcCtx, "inventory", invRun)}
	st.add(func() error { return a.stop(stopSvc, be.mgrPart, be.rsPart, be.invPart) })
	return be, nil
}

// inventoryGroup is the inventory processor's group beside the manager
// group: the default pair for the default deployment, else one derived
// from the manager's, so two deployments on one cluster (each with its
// own topics and manager group) never share a processor group, whose
// static members would be handed the other's partitions.
func inventoryGroup(managerGroup string) string {
	if managerGroup == validation.DefaultGroupID {
		return processor.DefaultGroupID
	}
	return managerGroup + "-inventory"
}

func closedChan() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// errStopping: ctx ended while starting; Run returns nil.
var errStopping = errors.New("cartstream: asked to stop while starting")

func ignoreStop(err error) error {
	if errors.Is(err, errStopping) {
		return nil
	}
	return err
}

// awaitBackend waits until the manager, the projection and the inventory
// processor are ready.
func (a *App) awaitBackend(ctx, sctx context.Context, be *backend, began time.Time) error {
	for _, w := range []struct {
		name string
		ch   <-chan struct{}
	}{{"manager", be.mgr.Ready()}, {"projection", be.rs.Ready()}, {"inventory", be.invReady}} {
		select {
		case <-w.ch:
			a.log.Info("cartstream: ready", "part", w.name, "after", time.Since(began).Round(time.Millisecond))
		case e := <-be.mgrPart.done:
			return failed(be.mgrPart, e)
		case e := <-be.rsPart.done:
			return failed(be.rsPart, e)
		case e := <-be.invPart.done:
			return failed(be.invPart, e)
		case <-sctx.Done():
			if ctx.Err() != nil {
				return errStopping
			}
			return fmt.Errorf("cartstream: %s not ready within %v", w.name, a.cfg.StartTimeout)
		}
	}
	return nil
}

// startGateway starts the gRPC gateway with the read side's queries and
// the catalog; it takes the gRPC listener.
func (a *App) startGateway(ctx, sctx context.Context, brokers string, codec *records.Codec, obs *metrics.Set, rs *readSide, lis *listeners, st *stages) (component, error) {
	cfg, log := a.cfg, a.log
	ac := cfg.Auth
	ac.Logger = log.With("part", "auth")
	verifier, err := auth.New(sctx, ac)
	if err != nil {
		return component{}, err
	}
	st.add(func() error { return verifier.Close(context.WithoutCancel(ctx)) })
	// The HTTP/JSON API reaches the gateway over one loopback connection
	// that carries every browser's calls and watches: a projection's limit.
	limits := grpclimits.Limits{MaxConcurrentStreams: projection.DefaultMaxConcurrentStreams}
	gwCtx, stopGW := context.WithCancel(context.WithoutCancel(ctx))
	lis.grpc = nil // gateway.Run owns it now
	part := a.start(gwCtx, "gateway", func(ctx context.Context) error {
		return gateway.Run(ctx, gateway.Options{
			// The development binary keeps reflection on for grpcurl.
			Reflection:          true,
			Listener:            a.grpcLis,
			Kafka:               a.gatewayKafka(brokers, obs),
			Instrument:          obs.Gateway.Instrument(obs.GRPC),
			Topics:              cfg.Topics,
			TopicConfig:         cfg.TopicConfig,
			Encoder:             codec,
			Reader:              rs.Reader(),
			Outcomes:            rs.Outcomes(),
			Products:            rs.Products(),
			Register:            rs.Register,
			Limits:              limits,
			Auth:                verifier,
			RateLimits:          cfg.RateLimits,
			MaxCartsPerCustomer: cfg.MaxCartsPerCustomer,
			StartTimeout:        cfg.StartTimeout,
			ShutdownTimeout:     cfg.ShutdownTimeout,
			Logger:              log.With("part", "gateway"),
		})
	})
	st.add(func() error { return a.stop(stopGW, part) })
	return part, nil
}

// serveUntilDone waits for ctx's end or a part's failure.
func (a *App) serveUntilDone(ctx context.Context, http, gw, mgr, rs, inv component) error {
	var c component
	var e error
	select {
	case <-ctx.Done():
		a.log.Info("cartstream: shutting down", "cause", context.Cause(ctx))
		return nil
	case e = <-http.done:
		c = http
	case e = <-gw.done:
		c = gw
	case e = <-mgr.done:
		c = mgr
	case e = <-rs.done:
		c = rs
	case e = <-inv.done:
		c = inv
	}
	return failed(c, e)
}

// failed is a part that ended on its own: its error, or that it stopped.
func failed(c component, e error) error {
	c.done <- nil // for the stop's wait; e is reported here
	if e == nil {
		e = errors.New("stopped unexpectedly")
	}
	return fmt.Errorf("cartstream: %s: %w", c.name, e)
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
