package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/cartstream/cartstream/internal/grpclimits"
	"github.com/cartstream/cartstream/projection"
)

// errMembership: the projection group's membership topic could not be
// read; the gateway stops (it could route nothing).
var errMembership = errors.New("projection group membership")

// startRouter reads the projection group's membership topic and returns
// the Router over it; stop ends the reader and closes the connections. A
// reader that fails calls fail with errMembership.
func startRouter(ctx context.Context, c config, extra kafka.ConfigMap, brokers string, log *slog.Logger, fail context.CancelCauseFunc) (*projection.Router, func(), error) {
	client := maps.Clone(extra)
	if client == nil {
		client = kafka.ConfigMap{}
	}
	client["bootstrap.servers"] = brokers
	view, err := projection.NewMemberView(projection.MemberViewConfig{
		Client: client, Topic: c.topicPrefix + projection.DefaultMembersTopic, ReplicationFactor: c.replication, Logger: log,
	})
	if err != nil {
		return nil, nil, err
	}
	creds, err := clientCreds(c.projectionTLS)
	if err != nil {
		return nil, nil, err
	}
	router, err := projection.NewRouter(projection.RouterConfig{View: view, Logger: log, Dial: func(ep string) (*grpc.ClientConn, error) {
		// Keepalive pings notice a replica that vanished without closing
		// the connection, so waits on it fail (and move on) instead of hanging.
		// A short reconnect backoff: a replica restarted at its address is
		// asked again within a second, not grpc-go's two minutes.
		// Static windows (grpclimits.ClientWindows): no PING per answer.
		opts := append(grpclimits.ClientWindows(), grpc.WithTransportCredentials(creds), grpc.WithKeepaliveParams(grpclimits.ClientKeepalive()),
			grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
				MinConnectTimeout: time.Second}))
		return grpc.NewClient(ep, opts...)
	}})
	if err != nil {
		return nil, nil, err
	}
	vctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := view.Run(vctx); err != nil {
			fail(fmt.Errorf("%w: %w", errMembership, err))
		}
	}()
	log.Info("queries and outcomes routed to the projection group", "members_topic", c.topicPrefix+projection.DefaultMembersTopic)
	return router, func() { cancel(); <-done; _ = router.Close() }, nil
}
