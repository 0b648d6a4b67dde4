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
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/records"
	"github.com/cartstream/cartstream/internal/service"
	"github.com/cartstream/cartstream/internal/topics"
	"github.com/cartstream/cartstream/projection"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	fs := flag.NewFlagSet("cart-projection", flag.ContinueOnError)
	var (
		logFlags   service.LogFlags
		addr       = fs.String("grpc-addr", service.Env("CARTSTREAM_PROJECTION_ADDR", projection.DefaultAddr), "gRPC listen address (env CARTSTREAM_PROJECTION_ADDR)")
		brokers    = fs.String("brokers", service.Env("KAFKA_BROKERS", "127.0.0.1:9092"), "Kafka bootstrap servers (env KAFKA_BROKERS)")
		prefix     = fs.String("topic-prefix", service.Env("CARTSTREAM_TOPIC_PREFIX", ""), "prefix of every topic name (env CARTSTREAM_TOPIC_PREFIX)")
		partitions = fs.Int("partitions", service.EnvInt("CARTSTREAM_PARTITIONS", topics.DefaultPartitions), "partitions of topics this service creates if absent (env CARTSTREAM_PARTITIONS)")
		own        = fs.String("own-partitions", service.Env("CARTSTREAM_PROJECTION_PARTITIONS", ""), "comma-separated cart partitions this replica serves; empty: all (env CARTSTREAM_PROJECTION_PARTITIONS)")
		maxQty     = fs.Int("max-quantity-per-line", service.EnvInt("CARTSTREAM_MAX_QUANTITY_PER_LINE", int(cart.DefaultMaxQuantityPerLine)), "cap reported for products without their own; match the managers' (env CARTSTREAM_MAX_QUANTITY_PER_LINE)")
		maxRecv    = fs.Int("grpc-max-recv-bytes", service.EnvInt("CARTSTREAM_GRPC_MAX_RECV_BYTES", projection.DefaultMaxRecvMsgSize), "largest gRPC request accepted, bytes (env CARTSTREAM_GRPC_MAX_RECV_BYTES)")
		startTO    = fs.Duration("start-timeout", service.EnvDuration("CARTSTREAM_START_TIMEOUT", projection.DefaultStartTimeout), "bound on topic checks and offset queries at start (env CARTSTREAM_START_TIMEOUT)")
		shutdownTO = fs.Duration("shutdown-timeout", service.EnvDuration("CARTSTREAM_SHUTDOWN_TIMEOUT", projection.DefaultShutdownTimeout), "graceful stop bound (env CARTSTREAM_SHUTDOWN_TIMEOUT)")
	)
	logFlags.Register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	log, err := logFlags.Logger(os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cart-projection:", err)
		return 2
	}
	log = log.With("service", "cart-projection")
	owned, err := parsePartitions(*own)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cart-projection: -own-partitions:", err)
		return 2
	}
	rec, err := records.New(records.Config{})
	if err != nil {
		log.Error("records codec", "err", err)
		return 1
	}
	p, err := projection.New(projection.Config{
		Client:                    kafka.ConfigMap{"bootstrap.servers": *brokers},
		Topics:                    topics.DefaultSet().WithPrefix(*prefix),
		TopicConfig:               topics.Config{Partitions: *partitions},
		Partitions:                owned,
		Records:                   rec,
		DefaultMaxQuantityPerLine: int32(*maxQty),
		StartTimeout:              *startTO,
		Logger:                    log,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "cart-projection:", err)
		return 2
	}
	ctx, cancel := service.SignalContext(log)
	defer cancel()
	log.Info("starting", "brokers", *brokers, "addr", *addr, "topic_prefix", *prefix, "own_partitions", *own)
	err = projection.Serve(ctx, p, projection.ServeOptions{
		Addr: *addr, MaxRecvMsgSize: *maxRecv, ShutdownTimeout: *shutdownTO, Logger: log,
	})
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
