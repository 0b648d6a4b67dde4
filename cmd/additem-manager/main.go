// Command additem-manager runs the AddItemManager: it validates every cart
// request on cart.requests exactly once and routes it to cart.validated or
// cart.invalid, with the cart's new snapshot on cart.state, in one Kafka
// transaction per batch. Run several replicas with distinct -instance-id
// values; the consumer group shares the partitions among them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/records"
	"github.com/cartstream/cartstream/internal/service"
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
		logFlags   service.LogFlags
		brokers    = fs.String("brokers", service.Env("KAFKA_BROKERS", "127.0.0.1:9092"), "Kafka bootstrap servers (env KAFKA_BROKERS)")
		prefix     = fs.String("topic-prefix", service.Env("CARTSTREAM_TOPIC_PREFIX", ""), "prefix of every topic name (env CARTSTREAM_TOPIC_PREFIX)")
		partitions = fs.Int("partitions", service.EnvInt("CARTSTREAM_PARTITIONS", topics.DefaultPartitions), "partitions of topics this service creates (env CARTSTREAM_PARTITIONS)")
		instance   = fs.String("instance-id", service.Env("CARTSTREAM_INSTANCE_ID", host), "stable, unique name of this replica: static group member id and transactional.id suffix (env CARTSTREAM_INSTANCE_ID)")
		group      = fs.String("group", service.Env("CARTSTREAM_MANAGER_GROUP", validation.DefaultGroupID), "consumer group of the manager replicas (env CARTSTREAM_MANAGER_GROUP)")
		healthAddr = fs.String("health-addr", service.Env("CARTSTREAM_MANAGER_HEALTH_ADDR", "127.0.0.1:50061"), "gRPC health endpoint (env CARTSTREAM_MANAGER_HEALTH_ADDR)")
		maxBatch   = fs.Int("max-batch", service.EnvInt("CARTSTREAM_MAX_BATCH", validation.DefaultMaxBatchRecords), "most requests in one transaction (env CARTSTREAM_MAX_BATCH)")
		txTimeout  = fs.Duration("transaction-timeout", service.EnvDuration("CARTSTREAM_TRANSACTION_TIMEOUT", validation.DefaultTransactionTimeout), "transaction.timeout.ms of the producer (env CARTSTREAM_TRANSACTION_TIMEOUT)")
		sessTO     = fs.Duration("session-timeout", service.EnvDuration("CARTSTREAM_SESSION_TIMEOUT", validation.DefaultSessionTimeout), "consumer group session timeout (env CARTSTREAM_SESSION_TIMEOUT)")
		maxLines   = fs.Int("max-lines", service.EnvInt("CARTSTREAM_MAX_LINES", cart.DefaultMaxLines), "distinct lines a cart may hold (env CARTSTREAM_MAX_LINES)")
	)
	logFlags.Register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log, err := logFlags.Logger(os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "additem-manager:", err)
		return 2
	}
	ctx, cancel := service.SignalContext(log)
	defer cancel()

	set := topics.DefaultSet().WithPrefix(*prefix)
	client := kafka.ConfigMap{"bootstrap.servers": *brokers}
	if err := ensureTopics(ctx, client, set, *partitions); err != nil {
		log.Error("topics", "err", err)
		return 1
	}
	rec, err := records.New(records.Config{})
	if err != nil {
		log.Error("records codec", "err", err)
		return 1
	}
	m, err := validation.New(validation.Config{
		Client: client, Topics: set, GroupID: *group, InstanceID: *instance,
		MaxBatchRecords: *maxBatch, TransactionTimeout: *txTimeout, SessionTimeout: *sessTO,
		Limits: cart.Limits{MaxLines: *maxLines}, Records: rec, Logger: log,
	})
	if err != nil {
		log.Error("config", "err", err)
		return 2
	}
	hs, err := service.ListenHealth(*healthAddr)
	if err != nil {
		log.Error("health endpoint", "err", err)
		return 1
	}
	log.Info("starting", "brokers", *brokers, "instance", *instance, "group", *group, "transactional_id", *group+"-"+*instance, "health", hs.Addr().String())

	healthDone := make(chan error, 1)
	hctx, stopHealth := context.WithCancel(context.Background())
	go func() { healthDone <- hs.Run(hctx, 5*time.Second) }()
	go func() {
		select {
		case <-m.Ready():
			hs.Status.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
			log.Info("ready")
		case <-ctx.Done():
		}
	}()

	runErr := m.Run(ctx)
	hs.Status.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	stopHealth()
	if err := <-healthDone; err != nil {
		log.Warn("health endpoint", "err", err)
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		log.Error("stopped", "err", runErr)
		return 1
	}
	log.Info("stopped")
	return 0
}

func ensureTopics(ctx context.Context, client kafka.ConfigMap, set topics.Set, partitions int) error {
	admin, err := kafka.NewAdminClient(&client)
	if err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	n, err := topics.Ensure(ctx, admin, set, topics.Config{Partitions: partitions})
	if err != nil {
		return err
	}
	_ = n
	return nil
}
