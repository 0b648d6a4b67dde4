package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/cartstream/cartstream/internal/metrics"
	"github.com/cartstream/cartstream/internal/topics"
	"github.com/cartstream/cartstream/internal/txnhealth"
)

// Transactional is a transactional consumer run as its own process: the
// AddItemManager (validation.Manager) and the inventory processor
// (inventory/processor.Processor). Run blocks until ctx ends; Health is
// the state its gRPC health endpoint mirrors (txnhealth).
type Transactional interface {
	Run(ctx context.Context) error
	Health() (txnhealth.Health, <-chan struct{})
}

// TransactionalEndpoints are what a Transactional process serves beside
// its work.
type TransactionalEndpoints struct {
	// MetricsAddr serves Metrics at /metrics; empty: not served.
	MetricsAddr string
	Metrics     http.Handler
	// HealthAddr serves gRPC health, NOT_SERVING until the service says
	// otherwise (txnhealth.Follow) and again once it stops.
	HealthAddr string
	Health     HealthOptions
	// StartAttrs are logged with "starting", beside the health address.
	StartAttrs []any
	// Work counts the records processed; when set, the heap a burst grew
	// goes back to the OS once the process idles (IdleRelease).
	Work func() int64
}

// RunTransactional runs t with its metrics and health endpoints until ctx
// ends, and returns the process's exit code: 0 after a graceful stop, 1
// when an endpoint cannot listen or t failed.
func RunTransactional(ctx context.Context, t Transactional, e TransactionalEndpoints, log *slog.Logger) int {
	mctx, stopMetrics := context.WithCancel(ctx)
	defer stopMetrics()
	metricsDone, err := metrics.Serve(mctx, e.MetricsAddr, e.Metrics, log)
	if err != nil {
		log.Error("metrics endpoint", "err", err)
		return 1
	}
	hs, err := ListenHealth(e.HealthAddr, e.Health)
	if err != nil {
		log.Error("health endpoint", "err", err)
		return 1
	}
	log.Info("starting", append(e.StartAttrs, "health", hs.Addr().String())...)
	healthDone := make(chan error, 1)
	hctx, stopHealth := context.WithCancel(context.Background())
	go func() { healthDone <- hs.Run(hctx, 5*time.Second) }()
	fctx, stopFollowing := context.WithCancel(context.Background())
	following := make(chan struct{})
	go func() {
		defer close(following)
		txnhealth.Follow(fctx, t.Health, func(s healthpb.HealthCheckResponse_ServingStatus) { hs.Status.SetServingStatus("", s) })
	}()

	releasing := make(chan struct{})
	go func() {
		defer close(releasing)
		if e.Work != nil {
			DefaultIdleRelease(e.Work).Run(fctx, log)
		}
	}()

	runErr := t.Run(ctx)
	stopFollowing()
	<-following
	<-releasing
	hs.Status.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	stopHealth()
	if err := <-healthDone; err != nil {
		log.Warn("health endpoint", "err", err)
	}
	stopMetrics()
	if err := <-metricsDone; err != nil {
		log.Warn("metrics endpoint", "err", err)
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		log.Error("stopped", "err", runErr)
		return 1
	}
	log.Info("stopped")
	return 0
}

// EnsureTopics creates the topics of set that are missing, with
// partitions partitions, within a minute.
func EnsureTopics(ctx context.Context, client kafka.ConfigMap, set topics.Set, partitions int) error {
	admin, err := kafka.NewAdminClient(&client)
	if err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, err = topics.Ensure(ctx, admin, set, topics.Config{Partitions: partitions})
	return err
}
