package projection

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of ReplicaConfig.
const (
	DefaultGroupID = "cartstream-projection"
	// DefaultGroupSessionTimeout is the broker's minimum: a replica killed
	// without leaving loses its partitions to the others this soon.
	DefaultGroupSessionTimeout = 6 * time.Second
)

// ReplicaConfig configures a Replica.
type ReplicaConfig struct {
	// Projection is the template of every partition's Projection; its
	// Partitions are ignored, its CheckpointDir (if set) gets one
	// subdirectory per partition.
	Projection Config
	// ID names the replica in the membership topic; unique in the group
	// and stable across restarts. Required.
	ID string
	// Endpoint is the gRPC address clients dial to reach this replica.
	// Required.
	Endpoint string
	// GroupID is the consumer group; default DefaultGroupID.
	GroupID string
	// Standby is how many replicas besides the owner follow each
	// partition; 0: none.
	Standby int
	// MembersTopic; default DefaultMembersTopic.
	MembersTopic string
	// Heartbeat: see DefaultMemberHeartbeat. MemberTTL: DefaultMemberTTL.
	Heartbeat, MemberTTL time.Duration
	// SessionTimeout of the consumer group: see DefaultGroupSessionTimeout.
	SessionTimeout time.Duration
	// Static makes the replica a static member of the group (KIP-345,
	// group.instance.id = ID): restarted within SessionTimeout it gets the
	// same partitions back without a rebalance, so a rolling restart moves
	// nothing and each replica restarts warm from its checkpoint. The
	// price: a replica stopped for good hands its partitions on only
	// after SessionTimeout (standbys answer meanwhile).
	Static bool
}

func (c ReplicaConfig) withDefaults() ReplicaConfig {
	c.Projection = c.Projection.withDefaults()
	if c.GroupID == "" {
		c.GroupID = DefaultGroupID
	}
	if c.MembersTopic == "" {
		c.MembersTopic = DefaultMembersTopic
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = DefaultMemberHeartbeat
	}
	if c.MemberTTL == 0 {
		c.MemberTTL = DefaultMemberTTL
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = DefaultGroupSessionTimeout
	}
	return c
}

// Validate reports every problem at once.
func (c ReplicaConfig) Validate() error {
	p := c.Projection
	p.Partitions = nil
	errs := []error{p.Validate()}
	if c.ID == "" {
		errs = append(errs, errors.New("replica id: empty"))
	}
	if c.Endpoint == "" {
		errs = append(errs, errors.New("endpoint: empty"))
	}
	if c.Standby < 0 {
		errs = append(errs, fmt.Errorf("standby %d: must be >= 0", c.Standby))
	}
	if c.Heartbeat < 0 || c.MemberTTL < 0 || c.SessionTimeout < 0 {
		errs = append(errs, errors.New("heartbeat, member TTL and session timeout must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("projection replica: %w", err)
	}
	return nil
}
