// Package topics names cartstream's Kafka topics, creates them when absent and
// checks the invariants the services rely on at start-up: the four cart
// topics are co-partitioned (same partition count; every producer uses the
// murmur2_random partitioner, so one cart id maps to the same partition
// number in each), and the two tables are compacted.
package topics

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// Set is the names of the topics one cartstream deployment uses.
type Set struct {
	Requests  string // cart commands as accepted by the gateways, keyed by cart id
	Validated string // accepted outcomes: the event log, kept forever
	Invalid   string // rejected and malformed requests, with reasons
	State     string // compacted: the latest CartSnapshot per cart
	Catalog   string // compacted: the product catalog, read whole by every manager
	Orders    string // OrderPlaced per successful checkout, keyed by order id, for downstream services
	// Inventory and Stock are the stock side (decision 12), keyed by SKU
	// and co-partitioned with each other, not with the carts: reservation,
	// release and stock-change requests, and the compacted stock levels.
	Inventory string
	Stock     string
}

// DefaultSet is the topic names of docs/operations.md.
func DefaultSet() Set {
	return Set{
		Requests:  "cart.requests",
		Validated: "cart.validated",
		Invalid:   "cart.invalid",
		State:     "cart.state",
		Catalog:   "catalog.products",
		Orders:    "orders.placed",
		Inventory: "inventory.requests",
		Stock:     "inventory.stock",
	}
}

// WithPrefix returns the set with every name prefixed, for tests and for
// several deployments on one cluster.
func (s Set) WithPrefix(prefix string) Set {
	return Set{
		Requests:  prefix + s.Requests,
		Validated: prefix + s.Validated,
		Invalid:   prefix + s.Invalid,
		State:     prefix + s.State,
		Catalog:   prefix + s.Catalog,
		Orders:    prefix + s.Orders,
		Inventory: prefix + s.Inventory,
		Stock:     prefix + s.Stock,
	}
}

// CartTopics are the topics that must be co-partitioned, in a fixed order.
func (s Set) CartTopics() []string {
	return []string{s.Requests, s.Validated, s.Invalid, s.State}
}

// All returns every topic of the set.
func (s Set) All() []string {
	return append(s.CartTopics(), s.Catalog, s.Orders, s.Inventory, s.Stock)
}

// InventoryTopics are the stock side's topics, co-partitioned by SKU.
func (s Set) InventoryTopics() []string { return []string{s.Inventory, s.Stock} }

// Validate reports every empty or duplicated name at once.
func (s Set) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for _, f := range []struct{ field, name string }{
		{"requests", s.Requests}, {"validated", s.Validated}, {"invalid", s.Invalid}, {"state", s.State}, {"catalog", s.Catalog}, {"orders", s.Orders},
		{"inventory", s.Inventory}, {"stock", s.Stock},
	} {
		switch {
		case strings.TrimSpace(f.name) == "":
			errs = append(errs, fmt.Errorf("topic %s: empty name", f.field))
		case seen[f.name]:
			errs = append(errs, fmt.Errorf("topic %s: %q is used twice", f.field, f.name))
		}
		seen[f.name] = true
	}
	return errors.Join(errs...)
}

// DefaultPartitions is the partition count of newly created topics.
const DefaultPartitions = 12

// Config says how to create absent topics.
type Config struct {
	Partitions        int // default DefaultPartitions
	ReplicationFactor int // default -1: the broker's default.replication.factor
}

func (c Config) withDefaults() Config {
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = -1
	}
	return c
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Partitions < 0 {
		errs = append(errs, fmt.Errorf("partitions %d: must be positive", c.Partitions))
	}
	if c.ReplicationFactor < -1 {
		errs = append(errs, fmt.Errorf("replication factor %d: must be positive, or -1 for the broker default", c.ReplicationFactor))
	}
	return errors.Join(errs...)
}

// Specs returns how each topic is created. The event log and the rejections
// are kept forever (replay and history read them from the start); the state
// and catalog tables are compacted so a restart reads one record per key.
func (s Set) Specs(cfg Config) []kafka.TopicSpecification {
	cfg = cfg.withDefaults()
	spec := func(name string, conf map[string]string) kafka.TopicSpecification {
		return kafka.TopicSpecification{Topic: name, NumPartitions: cfg.Partitions, ReplicationFactor: cfg.ReplicationFactor, Config: conf}
	}
	forever := map[string]string{"retention.ms": "-1", "retention.bytes": "-1"}
	compact := map[string]string{"cleanup.policy": "compact"}
	return []kafka.TopicSpecification{
		spec(s.Requests, nil),
		spec(s.Validated, forever),
		spec(s.Invalid, forever),
		spec(s.State, compact),
		spec(s.Catalog, compact),
		// Orders are keyed by order id, not co-partitioned with carts; kept
		// forever like the event log: they are what a shop bills from.
		spec(s.Orders, forever),
		// Reservation requests are the inventory's input, kept like the
		// cart requests; the levels are a table.
		spec(s.Inventory, nil),
		spec(s.Stock, compact),
	}
}

// Admin is what this package needs of a Kafka admin client.
type Admin interface {
	CreateTopics(ctx context.Context, topics []kafka.TopicSpecification, options ...kafka.CreateTopicsAdminOption) ([]kafka.TopicResult, error)
	DescribeTopics(ctx context.Context, topics kafka.TopicCollection, options ...kafka.DescribeTopicsAdminOption) (kafka.DescribeTopicsResult, error)
	DescribeConfigs(ctx context.Context, resources []kafka.ConfigResource, options ...kafka.DescribeConfigsAdminOption) ([]kafka.ConfigResourceResult, error)
}

var _ Admin = (*kafka.AdminClient)(nil)

// ErrNotCoPartitioned is returned when the cart topics differ in partition count.
var ErrNotCoPartitioned = errors.New("cart topics are not co-partitioned")

// ErrNotCompacted is returned when a table topic is not compacted.
var ErrNotCompacted = errors.New("table topic is not compacted")

// ErrMissing is returned by Check when a topic does not exist.
var ErrMissing = errors.New("topic does not exist")

// ErrNoLeader is returned by Check when a partition has no leader, as for a
// moment after a topic is created; Ensure waits it out.
var ErrNoLeader = errors.New("partition has no leader")

// ensureWait bounds how long Ensure waits for created topics to show.
const ensureWait = 30 * time.Second

// Ensure creates the topics of set that do not exist yet (others are left as
// they are: several services may race to create them) and then checks them.
// It returns the partition count of the cart topics.
//
// On a secured cluster a service's principal may not create topics (the
// operator's does: docs/security-kafka.md): a refusal to create is not an
// error here, and Check then reports a topic that is really missing.
func Ensure(ctx context.Context, admin Admin, set Set, cfg Config) (int, error) {
	if err := errors.Join(set.Validate(), cfg.Validate()); err != nil {
		return 0, fmt.Errorf("ensure topics: %w", err)
	}
	res, err := admin.CreateTopics(ctx, set.Specs(cfg), kafka.SetAdminOperationTimeout(30*time.Second))
	if err != nil {
		return 0, fmt.Errorf("create topics: %w", err)
	}
	for _, r := range res {
		switch r.Error.Code() {
		case kafka.ErrNoError, kafka.ErrTopicAlreadyExists, kafka.ErrTopicAuthorizationFailed, kafka.ErrClusterAuthorizationFailed:
		default:
			return 0, fmt.Errorf("create topic %s: %w", r.Topic, r.Error)
		}
	}
	// A topic just created may not show in metadata, or have leaders, at
	// once; poll so callers can use every partition on return. A deadline,
	// not a count of tries: on a loaded broker it took over 5 s
	// (TestStockInventoryFencedWithOpenTransaction beside two other tests).
	var last error
	for deadline := time.Now().Add(ensureWait); time.Now().Before(deadline); {
		n, err := Check(ctx, admin, set)
		if err == nil || !(errors.Is(err, ErrMissing) || errors.Is(err, ErrNoLeader)) {
			return n, err
		}
		last = err
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("ensure topics: %w (last: %w)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return 0, last
}

// Check verifies that every topic exists, the cart topics are co-partitioned
// and the tables are compacted, and returns the cart topics' partition count.
func Check(ctx context.Context, admin Admin, set Set) (int, error) {
	if err := set.Validate(); err != nil {
		return 0, fmt.Errorf("check topics: %w", err)
	}
	desc, err := admin.DescribeTopics(ctx, kafka.NewTopicCollectionOfTopicNames(set.All()))
	if err != nil {
		return 0, fmt.Errorf("describe topics: %w", err)
	}
	counts := map[string]int{}
	var errs []error
	for _, d := range desc.TopicDescriptions {
		switch d.Error.Code() {
		case kafka.ErrNoError:
			counts[d.Name] = len(d.Partitions)
			for _, p := range d.Partitions {
				if p.Leader == nil || p.Leader.ID < 0 {
					errs = append(errs, fmt.Errorf("%s partition %d: %w", d.Name, p.Partition, ErrNoLeader))
				}
			}
		case kafka.ErrUnknownTopicOrPart, kafka.ErrUnknownTopic:
			errs = append(errs, fmt.Errorf("%s: %w", d.Name, ErrMissing))
		default:
			errs = append(errs, fmt.Errorf("describe topic %s: %w", d.Name, d.Error))
		}
	}
	if len(errs) > 0 {
		return 0, errors.Join(errs...)
	}
	if err := coPartitioned(set, counts); err != nil {
		return 0, err
	}
	if err := coPartitionedInventory(set, counts); err != nil {
		return 0, err
	}
	if err := compacted(ctx, admin, set.State, set.Catalog, set.Stock); err != nil {
		return 0, err
	}
	return counts[set.Requests], nil
}

func coPartitioned(set Set, counts map[string]int) error {
	want := counts[set.Requests]
	var parts []string
	mismatch := false
	for _, t := range set.CartTopics() {
		parts = append(parts, fmt.Sprintf("%s=%d", t, counts[t]))
		if counts[t] != want {
			mismatch = true
		}
	}
	if mismatch {
		return fmt.Errorf("%w: partition counts %s; recreate the topics with one count (cartctl topics create) or point the services at a matching set", ErrNotCoPartitioned, strings.Join(parts, ", "))
	}
	return nil
}

func coPartitionedInventory(set Set, counts map[string]int) error {
	if a, b := counts[set.Inventory], counts[set.Stock]; a != b {
		return fmt.Errorf("%w: partition counts %s=%d, %s=%d: an inventory processor restores the levels of the partitions it owns", ErrNotCoPartitioned, set.Inventory, a, set.Stock, b)
	}
	return nil
}

func compacted(ctx context.Context, admin Admin, names ...string) error {
	res := make([]kafka.ConfigResource, len(names))
	for i, n := range names {
		res[i] = kafka.ConfigResource{Type: kafka.ResourceTopic, Name: n}
	}
	out, err := admin.DescribeConfigs(ctx, res)
	if err != nil {
		return fmt.Errorf("describe topic configs: %w", err)
	}
	var errs []error
	for _, r := range out {
		switch r.Error.Code() {
		case kafka.ErrNoError:
		case kafka.ErrUnknownTopicOrPart, kafka.ErrUnknownTopic:
			// A topic just created is not yet known to every broker of
			// a cluster: missing for now, which Ensure waits out.
			errs = append(errs, fmt.Errorf("describe config of %s: %w", r.Name, ErrMissing))
			continue
		default:
			errs = append(errs, fmt.Errorf("describe config of %s: %w", r.Name, r.Error))
			continue
		}
		policy := r.Config["cleanup.policy"].Value
		if !slices.Contains(strings.Split(policy, ","), "compact") {
			errs = append(errs, fmt.Errorf("%w: %s has cleanup.policy=%q, want compact", ErrNotCompacted, r.Name, policy))
		}
	}
	return errors.Join(errs...)
}
