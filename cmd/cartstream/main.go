// Command cartstream runs the whole backend in one process: the gRPC
// gateway, the AddItemManager, the projection, and the HTTP side (the
// storefront page at http://127.0.0.1:8080/, the HTTP/JSON API, /healthz,
// /metrics). `make run` starts it.
//
// With KAFKA_BROKERS unset (or empty) it starts an embedded DEVELOPMENT
// broker in the process (kfake; see internal/devbroker), keeps its state in
// .cartstream-dev/ (or $XDG_DATA_HOME/cartstream/dev-broker) and seeds the
// demo catalog. With KAFKA_BROKERS set it runs the same services against
// that cluster, seeding the catalog only if its topic is empty.
//
// Every flag has an environment fallback (the flag wins); run
// `cartstream -h`. It only wires: package app holds the process.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/catalog"
	"github.com/cartstream/cartstream/cmd/cartstream/app"
	"github.com/cartstream/cartstream/internal/devbroker"
	"github.com/cartstream/cartstream/internal/kafkaconf"
	"github.com/cartstream/cartstream/internal/service"
	"github.com/cartstream/cartstream/internal/tlsconf"
	"github.com/cartstream/cartstream/internal/topics"
	"github.com/cartstream/cartstream/validation"
)

func main() {
	os.Exit(run(os.Args[1:], os.LookupEnv, os.Stderr))
}

var errUsage = errors.New("usage")

// options is what the command line and the environment say.
type options struct {
	cfg         app.Config
	catalogFile string
	inMemory    bool
	log         service.LogFlags
	kafkaFile   string
	kc          kafkaconf.Config
	callers     service.CallerFlags
}

func parse(args []string, lookup func(string) (string, bool), output io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("cartstream", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.Usage = func() {
		fmt.Fprintln(output, "cartstream: the whole backend in one process (gateway, AddItemManager, projection, storefront).")
		fmt.Fprintln(output, "Without KAFKA_BROKERS it runs on an embedded DEVELOPMENT broker. Flags:")
		fs.PrintDefaults()
	}
	e := &service.EnvFlags{FS: fs, Lookup: lookup}
	wd, _ := os.Getwd()
	getenv := func(k string) string { v, _ := lookup(k); return v }
	c := &o.cfg
	var prefix string
	var level, format string
	e.String(&c.Brokers, "brokers", "KAFKA_BROKERS", "", "Kafka bootstrap servers; empty: start the embedded development broker")
	e.String(&o.kafkaFile, kafkaconf.Flag, kafkaconf.Env, "", kafkaconf.Usage+"; with -brokers only")
	e.String(&c.GRPCAddr, "grpc-addr", "CARTSTREAM_GRPC_ADDR", app.DefaultGRPCAddr, "gRPC listen address")
	e.String(&c.HTTPAddr, "http-addr", "CARTSTREAM_HTTP_ADDR", app.DefaultHTTPAddr, "HTTP listen address: storefront, HTTP/JSON API, /healthz, /metrics")
	tlsconf.ServerFlags(e, &c.GRPCTLS)
	tlsconf.PrefixedServerFlags(e, &c.HTTPTLS, "http-tls", "CARTSTREAM_HTTP_TLS", "the HTTP listener")
	e.Int(&c.DevBroker.Port, "dev-broker-port", "CARTSTREAM_DEV_BROKER_PORT", devbroker.DefaultPort, "port of the embedded broker on 127.0.0.1; 0: a free port")
	e.String(&c.DevBroker.DataDir, "dev-data-dir", "CARTSTREAM_DEV_DATA_DIR", devbroker.DefaultDataDir(getenv, wd), "where the embedded broker keeps its state between runs")
	e.Bool(&o.inMemory, "dev-in-memory", "CARTSTREAM_DEV_IN_MEMORY", false, "keep the embedded broker's state in memory only (lost at exit)")
	e.String(&o.catalogFile, "catalog", "CARTSTREAM_CATALOG", "", "catalog JSON file seeded into an empty catalog topic (a ListProductsResponse); empty: the built-in demo catalog; 'none': seed nothing")
	e.String(&prefix, "topic-prefix", "CARTSTREAM_TOPIC_PREFIX", "", "prefix of every topic name (several deployments on one cluster)")
	e.Int(&c.TopicConfig.Partitions, "partitions", "CARTSTREAM_PARTITIONS", topics.DefaultPartitions, "partitions of topics created at start (existing topics are kept)")
	e.Int(&c.TopicConfig.ReplicationFactor, "replication-factor", "CARTSTREAM_REPLICATION_FACTOR", -1, "replication factor of topics created at start; -1: the broker's default")
	e.String(&c.InstanceID, "instance-id", "CARTSTREAM_INSTANCE_ID", app.DefaultInstanceID, "stable, unique name of this replica's manager (static member id, transactional.id suffix)")
	e.String(&c.GroupID, "group", "CARTSTREAM_MANAGER_GROUP", "", "consumer group of the manager replicas (default "+"cartstream-additem-manager)")
	e.Int(&c.Limits.MaxLines, "max-lines", "CARTSTREAM_MAX_LINES", cart.DefaultMaxLines, "distinct lines a cart may hold")
	e.Duration(&c.CartTTL, "cart-ttl", "CARTSTREAM_CART_TTL", validation.DefaultCartTTL, "how long a cart may stay untouched before it expires")
	e.Duration(&c.StartTimeout, "start-timeout", "CARTSTREAM_START_TIMEOUT", app.DefaultStartTimeout, "bound on the start until every part serves")
	e.Duration(&c.ShutdownTimeout, "shutdown-timeout", "CARTSTREAM_SHUTDOWN_TIMEOUT", app.DefaultShutdownTimeout, "bound on each stage of the graceful stop")
	e.Duration(&c.KafkaStatsInterval, "kafka-stats-interval", "CARTSTREAM_KAFKA_STATS_INTERVAL", service.DefaultKafkaStatsInterval, "how often librdkafka's statistics refresh the cartstream_kafka_* metrics; 0: off")
	e.String(&format, "log-format", "CARTSTREAM_LOG_FORMAT", "text", "log format: text or json")
	e.String(&level, "log-level", "CARTSTREAM_LOG_LEVEL", "info", "log level: debug, info, warn or error")
	o.callers.Register(e, true)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, fmt.Errorf("%w: %w", errUsage, err)
	}
	errs := []error{e.Err(), o.callers.Finish(fs, lookup)}
	c.Auth, c.RateLimits, c.MaxCartsPerCustomer = o.callers.Auth, o.callers.Rates, o.callers.MaxCarts
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	o.log = service.LogFlags{Format: format, Level: level}
	if _, err := o.log.Logger(io.Discard); err != nil {
		errs = append(errs, err)
	}
	c.Brokers = strings.TrimSpace(c.Brokers)
	kc, err := kafkaconf.Load(o.kafkaFile)
	if err != nil {
		errs = append(errs, err)
	}
	o.kc, c.Kafka = kc, kc.Props
	if c.Brokers == "" && kc.Path != "" {
		c.Brokers = kc.Brokers("", false)
	}
	if o.inMemory {
		c.DevBroker.DataDir = ""
	}
	c.Topics = topics.DefaultSet().WithPrefix(prefix)
	switch o.catalogFile {
	case "none":
	case "":
		ps, err := catalog.Demo()
		if err != nil {
			errs = append(errs, err)
		}
		c.Catalog = ps
	default:
		data, err := os.ReadFile(o.catalogFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("catalog: %w", err))
			break
		}
		ps, err := catalog.Parse(data)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", o.catalogFile, err))
		}
		c.Catalog = ps
	}
	if err := errors.Join(errs...); err != nil {
		return o, fmt.Errorf("%w: %w", errUsage, err)
	}
	return o, nil
}

func run(args []string, lookup func(string) (string, bool), stderr io.Writer) int {
	o, err := parse(args, lookup, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "cartstream: %v\n", err)
		return 2
	}
	log, _ := o.log.Logger(stderr)
	log = slog.New(kafkaconf.RedactHandler(log.Handler(), o.kc))
	o.cfg.Logger = log
	ctx, cancel := service.SignalContext(log)
	defer cancel()
	stopTracing, err := service.StartTracing(ctx, "cartstream", log)
	if err != nil {
		log.Error("cartstream: cannot start", "error", err)
		return 2
	}
	defer stopTracing()

	a, err := app.New(o.cfg)
	if err != nil {
		log.Error("cartstream: cannot start", "error", err)
		return 1
	}
	err = a.Run(ctx)
	switch {
	case errors.Is(err, topics.ErrNotCoPartitioned):
		log.Error("cartstream: startup refused: the cart topics are not co-partitioned", "error", err)
		return 1
	case err != nil:
		log.Error("cartstream: stopped with an error", "error", err)
		return 1
	}
	log.Info("cartstream: stopped")
	return 0
}
