// Command cart-projection is cartstream's read side: it rebuilds the carts
// from the compacted topic cart.state, follows it, and serves the
// CartService queries (GetCart with read-your-writes, WatchCart,
// GetCartHistory), the CatalogService, gRPC health (SERVING only once caught
// up) and reflection. Commands go to cart-gateway; sent here they answer
// FAILED_PRECONDITION. It only wires: flags and environment into
// projection.Config, a logger, the records codec, signals into the context
// of projection.Serve.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/grpclimits"
	"github.com/cartstream/cartstream/internal/kafkaconf"
	"github.com/cartstream/cartstream/internal/metrics"
	"github.com/cartstream/cartstream/internal/records"
	"github.com/cartstream/cartstream/internal/service"
	"github.com/cartstream/cartstream/internal/tlsconf"
	"github.com/cartstream/cartstream/internal/topics"
	"github.com/cartstream/cartstream/internal/tracing"
	"github.com/cartstream/cartstream/projection"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	fs := flag.NewFlagSet("cart-projection", flag.ContinueOnError)
	var (
		srvTLS     tlsconf.Server
		reflect    bool
		kafkaFile  string
		schemaDir  string
		logFlags   service.LogFlags
		addr       string
		brokers    string
		prefix     string
		partitions int
		own        string
		maxQty     int
		maxRecv    int
		startTO    time.Duration
		shutdownTO time.Duration
		maxHist    int
		waitTO     time.Duration
		maxWatch   time.Duration
		watchSend  time.Duration
		maxStreams int
		mf         service.MetricsFlags
		cpDir      string
		cpInterval time.Duration
		grp        groupFlags
		rebuildGC  int
	)
	e := &service.EnvFlags{FS: fs}
	e.String(&addr, "grpc-addr", "CARTSTREAM_PROJECTION_ADDR", projection.DefaultAddr, "gRPC listen address")
	tlsconf.ServerFlags(e, &srvTLS)
	e.Bool(&reflect, "reflection", "CARTSTREAM_REFLECTION", false, "register gRPC server reflection (grpcurl without proto files)")
	e.String(&brokers, "brokers", "KAFKA_BROKERS", "127.0.0.1:9092", "Kafka bootstrap servers")
	e.String(&kafkaFile, kafkaconf.Flag, kafkaconf.Env, "", kafkaconf.Usage)
	e.String(&schemaDir, "schema-dir", "CARTSTREAM_SCHEMA_DIR", "", "directory of newer record schemas (*.avsc) to read, shipped ahead of a rolling upgrade (docs/operations.md)")
	e.String(&prefix, "topic-prefix", "CARTSTREAM_TOPIC_PREFIX", "", "prefix of every topic name")
	e.Int(&partitions, "partitions", "CARTSTREAM_PARTITIONS", topics.DefaultPartitions, "partitions of topics this service creates if absent")
	e.String(&own, "own-partitions", "CARTSTREAM_PROJECTION_PARTITIONS", "", "comma-separated cart partitions this replica serves; empty: all")
	e.Int(&maxQty, "max-quantity-per-line", "CARTSTREAM_MAX_QUANTITY_PER_LINE", int(cart.DefaultMaxQuantityPerLine), "cap reported for products without their own; match the managers'")
	e.Int(&maxRecv, "grpc-max-recv-bytes", "CARTSTREAM_GRPC_MAX_RECV_BYTES", projection.DefaultMaxRecvMsgSize, "largest gRPC request accepted, bytes")
	e.Duration(&startTO, "start-timeout", "CARTSTREAM_START_TIMEOUT", projection.DefaultStartTimeout, "bound on topic checks and offset queries at start")
	e.Duration(&shutdownTO, "shutdown-timeout", "CARTSTREAM_SHUTDOWN_TIMEOUT", projection.DefaultShutdownTimeout, "graceful stop bound")
	e.Int(&maxHist, "max-history-per-cart", "CARTSTREAM_MAX_HISTORY_PER_CART", projection.DefaultMaxHistoryPerCart, "history entries kept in memory per cart; older ones are evicted")
	e.Duration(&waitTO, "wait-timeout", "CARTSTREAM_WAIT_TIMEOUT", projection.DefaultWaitTimeout, "bound on a consistency-token wait in a call without a deadline")
	e.Duration(&maxWatch, "max-watch", "CARTSTREAM_MAX_WATCH", projection.DefaultMaxWatch, "longest WatchCart stream; then it ends OK and the client calls again")
	e.Duration(&watchSend, "watch-send-timeout", "CARTSTREAM_WATCH_SEND_TIMEOUT", projection.DefaultWatchSendTimeout, "how long a WatchCart message may stay unread before the stream ends RESOURCE_EXHAUSTED")
	e.Int(&maxStreams, "grpc-max-streams", "CARTSTREAM_GRPC_MAX_STREAMS", projection.DefaultMaxConcurrentStreams, "concurrent gRPC streams per connection (a gateway relays all its users over one)")
	mf.Register(e, ":9103")
	e.String(&cpDir, "checkpoint-dir", "CARTSTREAM_CHECKPOINT_DIR", "", "directory of this replica's local checkpoint of cart.state, for a warm restart (a cache: deleting it costs only time); empty: none")
	e.Duration(&cpInterval, "checkpoint-interval", "CARTSTREAM_CHECKPOINT_INTERVAL", projection.DefaultCheckpointInterval, "how often the checkpoint is written (and at shutdown)")
	e.Int(&rebuildGC, "rebuild-gc-percent", "CARTSTREAM_REBUILD_GC_PERCENT", service.DefaultRebuildGCPercent, "GC percent until the carts are rebuilt, then the runtime's again: 300 rebuilds ~15-20% faster and keeps ~8% more memory afterwards (docs/read-path.md); 0: the runtime's throughout; GOGC, if set, wins")
	grp.register(e)
	logFlags.Register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := errors.Join(e.Err(), mf.Validate(), grp.validate(own)); err != nil {
		fmt.Fprintln(os.Stderr, "cart-projection:", err)
		return 2
	}
	log, err := logFlags.Logger(os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cart-projection:", err)
		return 2
	}
	kc, err := kafkaconf.Load(kafkaFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cart-projection:", err)
		return 2
	}
	log = slog.New(kafkaconf.RedactHandler(log.Handler(), kc))
	if kc.Path != "" {
		log.Info("kafka client configuration", "file", kc.Path, "properties", kc.String())
	}
	client := kc.Client(brokers, kafkaconf.Explicit(fs, "brokers", "KAFKA_BROKERS"))
	brokers = kc.Brokers(brokers, kafkaconf.Explicit(fs, "brokers", "KAFKA_BROKERS"))
	log = log.With("service", "cart-projection")
	owned, err := parsePartitions(own)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cart-projection: -own-partitions:", err)
		return 2
	}
	rec, err := records.NewFromDir(records.Config{}, schemaDir)
	if err != nil {
		log.Error("records codec", "err", err)
		return 1
	}
	obs := metrics.ForProjection()
	cfg := projection.Config{
		Client:                    client,
		Topics:                    topics.DefaultSet().WithPrefix(prefix),
		TopicConfig:               topics.Config{Partitions: partitions},
		Partitions:                owned,
		Records:                   rec,
		DefaultMaxQuantityPerLine: int32(maxQty),
		StartTimeout:              startTO,
		MaxHistoryPerCart:         maxHist,
		WaitTimeout:               waitTO,
		MaxWatch:                  maxWatch,
		WatchSendTimeout:          watchSend,
		TokenWaited:               obs.Projection.TokenWaited,
		CheckpointDir:             cpDir,
		CheckpointInterval:        cpInterval,
		Logger:                    log,
	}
	if mf.KafkaStatsInterval > 0 {
		cfg.KafkaStats, cfg.KafkaStatsInterval = obs.Kafka.Func("projection-"), mf.KafkaStatsInterval
	}
	ctx, cancel := service.SignalContext(log)
	defer cancel()
	stopTracing, err := service.StartTracing(ctx, "cart-projection", log)
	if err != nil {
		log.Error("tracing", "err", err)
		return 2
	}
	defer stopTracing()
	mctx, stopMetrics := context.WithCancel(ctx)
	metricsDone, err := metrics.Serve(mctx, mf.Addr, obs.Handler(), log)
	if err != nil {
		stopMetrics()
		log.Error("metrics endpoint", "err", err)
		return 1
	}
	defer func() {
		stopMetrics()
		if err := <-metricsDone; err != nil {
			log.Warn("metrics endpoint", "err", err)
		}
	}()
	log.Info("starting", "brokers", brokers, "addr", addr, "topic_prefix", prefix, "own_partitions", own, "checkpoint_dir", cpDir)
	tlsCfg, err := srvTLS.Config()
	if err != nil {
		log.Error("tls", "err", err)
		return 2
	}
	so := projection.ServeOptions{
		TLS: tlsCfg, Reflection: reflect,
		Addr: addr, MaxRecvMsgSize: maxRecv, ShutdownTimeout: shutdownTO, Logger: log,
		Limits:        grpclimits.Limits{MaxConcurrentStreams: uint32(max(maxStreams, 0))},
		ServerOptions: append(obs.GRPC.ServerOptions(), tracing.ServerOption(nil)),
	}
	if grp.groupID != "" {
		err = grp.serve(ctx, cfg, addr, so, prefix, obs.Projection, rebuildGC)
	} else {
		var p *projection.Projection
		if p, err = projection.New(cfg); err != nil {
			fmt.Fprintln(os.Stderr, "cart-projection:", err)
			return 2
		}
		obs.Projection.Attach(p)
		service.RebuildGC(ctx, p.Ready(), rebuildGC, log)
		err = projection.Serve(ctx, p, so)
	}
	if err != nil {
		log.Error("stopped with an error", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// parsePartitions parses "0,3,5"; empty means all.
func parsePartitions(s string) ([]int32, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []int32
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q: want comma-separated partition numbers >= 0", f)
		}
		out = append(out, int32(n))
	}
	return out, nil
}
