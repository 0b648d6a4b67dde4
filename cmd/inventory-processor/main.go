// Command inventory-processor runs the inventory processor, the stock side
// of the checkout saga (docs/decisions/0012-stock-reservations.md): it
// decides every reservation, release and stock change on
// inventory.requests exactly once, writes the levels to inventory.stock and
// the answers to the carts' partitions of cart.requests, in one Kafka
// transaction per batch. Run several replicas with distinct -instance-id
// values; the consumer group shares the SKUs' partitions among them.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/cartstream/cartstream/internal/kafkaconf"
	"github.com/cartstream/cartstream/internal/metrics"
	"github.com/cartstream/cartstream/internal/records"
	"github.com/cartstream/cartstream/internal/service"
	"github.com/cartstream/cartstream/internal/tlsconf"
	"github.com/cartstream/cartstream/internal/topics"
	"github.com/cartstream/cartstream/inventory/processor"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	host, _ := os.Hostname()
	fs := flag.NewFlagSet("inventory-processor", flag.ContinueOnError)
	var (
		kafkaFile, schemaDir, brokers, prefix, instance, group string
		partitions, maxBatch                                   int
		txTimeout, sessTO                                      time.Duration
		logFlags                                               service.LogFlags
		healthTLS                                              tlsconf.Server
		reflect                                                bool
		healthAddr                                             string
		mf                                                     service.MetricsFlags
	)
	e := &service.EnvFlags{FS: fs}
	e.String(&brokers, "brokers", "KAFKA_BROKERS", "127.0.0.1:9092", "Kafka bootstrap servers")
	e.String(&kafkaFile, kafkaconf.Flag, kafkaconf.Env, "", kafkaconf.Usage)
	e.String(&prefix, "topic-prefix", "CARTSTREAM_TOPIC_PREFIX", "", "prefix of every topic name")
	e.Int(&partitions, "partitions", "CARTSTREAM_PARTITIONS", topics.DefaultPartitions, "partitions of topics this service creates")
	e.String(&instance, "instance-id", "CARTSTREAM_INSTANCE_ID", host, "stable, unique name of this replica: static group member id and transactional.id suffix")
	e.String(&group, "group", "CARTSTREAM_INVENTORY_GROUP", processor.DefaultGroupID, "consumer group of the inventory processor replicas")
	e.Int(&maxBatch, "max-batch", "CARTSTREAM_MAX_BATCH", processor.DefaultMaxBatch, "most requests in one transaction")
	e.Duration(&txTimeout, "transaction-timeout", "CARTSTREAM_TRANSACTION_TIMEOUT", processor.DefaultTransactionTimeout, "transaction.timeout.ms of the producer")
	e.Duration(&sessTO, "session-timeout", "CARTSTREAM_SESSION_TIMEOUT", processor.DefaultSessionTimeout, "consumer group session timeout")
	e.String(&schemaDir, "schema-dir", "CARTSTREAM_SCHEMA_DIR", "", "directory of newer record schemas (*.avsc) to read, shipped ahead of a rolling upgrade")
	tlsconf.ServerFlags(e, &healthTLS)
	e.Bool(&reflect, "reflection", "CARTSTREAM_REFLECTION", false, "register gRPC server reflection on the health endpoint")
	e.String(&healthAddr, "health-addr", "CARTSTREAM_INVENTORY_HEALTH_ADDR", "127.0.0.1:50063", "gRPC health endpoint")
	mf.Register(e, ":9104")
	logFlags.Register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := errors.Join(e.Err(), mf.Validate()); err != nil {
		fmt.Fprintln(os.Stderr, "inventory-processor:", err)
		return 2
	}
	log, err := logFlags.Logger(os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "inventory-processor:", err)
		return 2
	}
	kc, err := kafkaconf.Load(kafkaFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "inventory-processor:", err)
		return 2
	}
	log = slog.New(kafkaconf.RedactHandler(log.Handler(), kc))
	client := kc.Client(brokers, kafkaconf.Explicit(fs, "brokers", "KAFKA_BROKERS"))
	ctx, cancel := service.SignalContext(log)
	defer cancel()

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
	obs := metrics.ForInventory()
	cfg := processor.Config{
		Client: client, Topics: set, GroupID: group, InstanceID: instance, MaxBatch: maxBatch,
		TransactionTimeout: txTimeout, SessionTimeout: sessTO, Records: rec, Logger: log,
		Restored: obs.Inventory.Restored,
	}
	if mf.KafkaStatsInterval > 0 {
		cfg.KafkaStats, cfg.KafkaStatsInterval = obs.Kafka.Func("inventory-"), mf.KafkaStatsInterval
	}
	p, err := processor.New(cfg)
	if err != nil {
		log.Error("config", "err", err)
		return 2
	}
	obs.Inventory.Attach(p)
	tlsCfg, err := healthTLS.Config()
	if err != nil {
		log.Error("health endpoint", "err", err)
		return 2
	}
	return service.RunTransactional(ctx, p, service.TransactionalEndpoints{
		MetricsAddr: mf.Addr, Metrics: obs.Handler(),
		HealthAddr: healthAddr, Health: service.HealthOptions{TLS: tlsCfg, Reflection: reflect},
		StartAttrs: []any{"brokers", brokers, "instance", instance, "group", group, "transactional_id", group + "-" + instance},
	}, log)
}
