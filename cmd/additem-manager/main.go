// Command additem-manager runs the AddItemManager: it validates every cart
// request on cart.requests exactly once and routes it to cart.validated or
// cart.invalid, with the cart's new snapshot on cart.state, in one Kafka
// transaction per batch. Run several replicas with distinct -instance-id
// values; the consumer group shares the partitions among them.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/kafkaconf"
	"github.com/cartstream/cartstream/internal/metrics"
	"github.com/cartstream/cartstream/internal/records"
	"github.com/cartstream/cartstream/internal/service"
	"github.com/cartstream/cartstream/internal/tlsconf"
	"github.com/cartstream/cartstream/internal/topics"
	"github.com/cartstream/cartstream/validation"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	host, _ := os.Hostname()
	fs := flag.NewFlagSet("additem-manager", flag.ContinueOnError)
	var (
		healthTLS  tlsconf.Server
		reflect    bool
		kafkaFile  string
		schemaDir  string
		logFlags   service.LogFlags
		brokers    string
		prefix     string
		partitions int
		instance   string
		group      string
		healthAddr string
		maxBatch   int
		producers  int
		txTimeout  time.Duration
		sessTO     time.Duration
		maxLines   int
		cartTTL    time.Duration
		mf         service.MetricsFlags
		reserve    bool
	)
	e := &service.EnvFlags{FS: fs}
	e.String(&brokers, "brokers", "KAFKA_BROKERS", "127.0.0.1:9092", "Kafka bootstrap servers")
	tlsconf.ServerFlags(e, &healthTLS)
	e.Bool(&reflect, "reflection", "CARTSTREAM_REFLECTION", false, "register gRPC server reflection on the health endpoint")
	e.String(&kafkaFile, kafkaconf.Flag, kafkaconf.Env, "", kafkaconf.Usage)
	e.String(&prefix, "topic-prefix", "CARTSTREAM_TOPIC_PREFIX", "", "prefix of every topic name")
	e.Int(&partitions, "partitions", "CARTSTREAM_PARTITIONS", topics.DefaultPartitions, "partitions of topics this service creates")
	e.String(&instance, "instance-id", "CARTSTREAM_INSTANCE_ID", host, "stable, unique name of this replica: static group member id and transactional.id suffix")
	e.String(&group, "group", "CARTSTREAM_MANAGER_GROUP", validation.DefaultGroupID, "consumer group of the manager replicas")
	e.String(&healthAddr, "health-addr", "CARTSTREAM_MANAGER_HEALTH_ADDR", "127.0.0.1:50061", "gRPC health endpoint")
	e.Int(&maxBatch, "max-batch", "CARTSTREAM_MAX_BATCH", validation.DefaultMaxBatchRecords, "most requests in one transaction")
	e.Int(&producers, "producers", "CARTSTREAM_PRODUCERS", validation.DefaultProducers, "transactional producers: transactions open at once, over disjoint partitions")
	e.Duration(&txTimeout, "transaction-timeout", "CARTSTREAM_TRANSACTION_TIMEOUT", validation.DefaultTransactionTimeout, "transaction.timeout.ms of the producer")
	e.Duration(&sessTO, "session-timeout", "CARTSTREAM_SESSION_TIMEOUT", validation.DefaultSessionTimeout, "consumer group session timeout")
	e.String(&schemaDir, "schema-dir", "CARTSTREAM_SCHEMA_DIR", "", "directory of newer record schemas (*.avsc) to read, shipped ahead of a rolling upgrade (docs/operations.md)")
	e.Int(&maxLines, "max-lines", "CARTSTREAM_MAX_LINES", cart.DefaultMaxLines, "distinct lines a cart may hold")
	e.Duration(&cartTTL, "cart-ttl", "CARTSTREAM_CART_TTL", validation.DefaultCartTTL, "how long a cart may stay untouched before it expires")
	e.Bool(&reserve, "reservations", "CARTSTREAM_RESERVATIONS", false, "checkouts reserve stock through the inventory processor (run cmd/inventory-processor beside)")
	mf.Register(e, ":9102")
	logFlags.Register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := errors.Join(e.Err(), mf.Validate()); err != nil {
		fmt.Fprintln(os.Stderr, "additem-manager:", err)
		return 2
	}
	log, err := logFlags.Logger(os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "additem-manager:", err)
		return 2
	}
	kc, err := kafkaconf.Load(kafkaFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "additem-manager:", err)
		return 2
	}
	log = slog.New(kafkaconf.RedactHandler(log.Handler(), kc))
	if kc.Path != "" {
		log.Info("kafka client configuration", "file", kc.Path, "properties", kc.String())
	}
	client := kc.Client(brokers, kafkaconf.Explicit(fs, "brokers", "KAFKA_BROKERS"))
	brokers = kc.Brokers(brokers, kafkaconf.Explicit(fs, "brokers", "KAFKA_BROKERS"))
	ctx, cancel := service.SignalContext(log)
	defer cancel()
	stopTracing, err := service.StartTracing(ctx, "additem-manager", log)
	if err != nil {
		log.Error("tracing", "err", err)
		return 2
	}
	defer stopTracing()

	set := topics.DefaultSet().WithPrefix(prefix)
	if err := service.EnsureTopics(ctx, client, set, partitions); err != nil {
		log.Error("topics", "err", err)
		return 1
	}
	rec, err := records.NewFromDir(records.Config{}, schemaDir)
	if err != nil {
		log.Error("records codec", "err", err)
		return 1
	}
	obs := metrics.ForManager()
	cfg := validation.Config{
		Client: client, Topics: set, GroupID: group, InstanceID: instance,
		MaxBatchRecords: maxBatch, Producers: producers, TransactionTimeout: txTimeout, SessionTimeout: sessTO,
		Limits: cart.Limits{MaxLines: maxLines}, Records: rec, Logger: log,
		Observer: obs.Manager, CartTTL: cartTTL, Reservations: reserve,
	}
	if mf.KafkaStatsInterval > 0 {
		cfg.KafkaStats, cfg.KafkaStatsInterval = obs.Kafka.Func("manager-"), mf.KafkaStatsInterval
	}
	m, err := validation.New(cfg)
	if err != nil {
		log.Error("config", "err", err)
		return 2
	}
	obs.Manager.Attach(m)
	tlsCfg, err := healthTLS.Config()
	if err != nil {
		log.Error("health endpoint", "err", err)
		return 2
	}
	return service.RunTransactional(ctx, m, service.TransactionalEndpoints{
		MetricsAddr: mf.Addr, Metrics: obs.Handler(),
		HealthAddr: healthAddr, Health: service.HealthOptions{TLS: tlsCfg, Reflection: reflect},
		StartAttrs: []any{"brokers", brokers, "instance", instance, "group", group, "transactional_id", group + "-" + instance},
		// Requests and restored snapshots: a restore's garbage goes too.
		Work: func() int64 { return m.Stats().Processed.Load() + m.Stats().Restored.Load() },
	}, log)
}
