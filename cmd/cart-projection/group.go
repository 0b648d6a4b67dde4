package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cartstream/cartstream/internal/metrics"
	"github.com/cartstream/cartstream/internal/service"
	"github.com/cartstream/cartstream/projection"
)

// groupFlags switch the projection into a replica of a projection group
// (docs/read-path.md, "Ownership and routing").
type groupFlags struct {
	groupID   string
	replicaID string
	advertise string
	standby   int
	static    bool
	session   time.Duration
}

func (g *groupFlags) register(e *service.EnvFlags) {
	e.String(&g.groupID, "group", "CARTSTREAM_PROJECTION_GROUP", "", "consumer group of projection replicas sharing cart.state's partitions; empty: this replica serves all (or -own-partitions)")
	e.String(&g.replicaID, "replica-id", "CARTSTREAM_PROJECTION_REPLICA_ID", "", "this replica's id in the group's membership topic; default: host name and gRPC address")
	e.String(&g.advertise, "advertise-addr", "CARTSTREAM_PROJECTION_ADVERTISE_ADDR", "", "gRPC address gateways dial to reach this replica; default: -grpc-addr")
	e.Bool(&g.static, "static-membership", "CARTSTREAM_PROJECTION_STATIC", false, "keep this replica's partitions across a restart within the session timeout (group.instance.id = -replica-id): restarts are warm and move nothing")
	e.Duration(&g.session, "group-session-timeout", "CARTSTREAM_PROJECTION_SESSION_TIMEOUT", projection.DefaultGroupSessionTimeout, "how long the group waits for a silent replica before moving its partitions")
	e.Int(&g.standby, "standby", "CARTSTREAM_PROJECTION_STANDBY", 0, "standby replicas per partition (followed for failover reads) in a group")
}

func (g *groupFlags) validate(own string) error {
	var errs []error
	if g.groupID != "" && own != "" {
		errs = append(errs, errors.New("-group and -own-partitions exclude each other: the group assigns the partitions"))
	}
	if g.groupID == "" && g.standby != 0 {
		errs = append(errs, errors.New("-standby needs -group"))
	}
	if g.standby < 0 {
		errs = append(errs, fmt.Errorf("-standby %d: must be >= 0", g.standby))
	}
	return errors.Join(errs...)
}

// serve runs a replica of the group.
func (g *groupFlags) serve(ctx context.Context, cfg projection.Config, addr string, so projection.ServeOptions, prefix string, obs *metrics.Projection, rebuildGC int) error {
	endpoint := g.advertise
	if endpoint == "" {
		endpoint = addr
	}
	id := g.replicaID
	if id == "" {
		host, _ := os.Hostname()
		id = host + "/" + endpoint
	}
	r, err := projection.NewReplica(projection.ReplicaConfig{
		Projection: cfg, ID: id, Endpoint: endpoint, GroupID: g.groupID, Standby: g.standby,
		Static: g.static, SessionTimeout: g.session,
		MembersTopic: prefix + projection.DefaultMembersTopic,
	})
	if err != nil {
		return err
	}
	obs.AttachStats(r)
	// The first rebuild only: partitions taken over later are a share of
	// a heap already grown.
	service.RebuildGC(ctx, r.Ready(), rebuildGC, cfg.Logger)
	return projection.ServeReplica(ctx, r, so)
}
