package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// ErrUnsupported is returned by the node lifecycle methods on a cluster the
// harness did not start from the jars: an external cluster is not ours to
// kill, and the container runs one node that dockertest cannot restart on
// the same advertised port.
var ErrUnsupported = errors.New("not supported by this broker source (only by the jars: CARTSTREAM_TEST_KAFKA=jars)")

// brokerStartTimeout bounds StartBroker: a node replays its log and catches up
// with the controller quorum before it serves, which takes seconds, and tens
// of seconds on a loaded 2-core machine.
const brokerStartTimeout = 3 * time.Minute

// Node lifecycle: nodes are indexed 0..Nodes()-1, and node i runs with
// node.id i+1, the broker id metadata names as a partition's leader (BrokerID,
// NodeOf convert). Each method acts on one node and returns when the act is
// done; they are safe to call from several goroutines, but a test that kills
// and starts the same node concurrently gets whichever order the scripts
// run in.

// BrokerID returns the Kafka broker id (node.id) of node i.
func (c *Cluster) BrokerID(i int) int32 { return int32(i + 1) }

// NodeOf returns the node index of the broker with Kafka id id, as metadata
// names leaders and coordinators.
func (c *Cluster) NodeOf(id int32) (int, error) {
	i := int(id) - 1
	if i < 0 || i >= c.Nodes() {
		return 0, fmt.Errorf("broker id %d: the cluster has ids 1 to %d", id, c.Nodes())
	}
	return i, nil
}

// KillBroker SIGKILLs node i's JVM and waits until the process is gone: a
// crash, with no controlled shutdown, so leaders move only once the
// controller notices the node's missing heartbeats.
func (c *Cluster) KillBroker(i int) error {
	return c.nodeScript(i, "kill")
}

// StopBroker SIGTERMs node i and waits for it to exit (SIGKILL after 30 s): a
// controlled shutdown that moves its leaders away first.
func (c *Cluster) StopBroker(i int) error {
	return c.nodeScript(i, "stop")
}

// StartBroker restarts node i, stopped or killed, on its ports and data
// directory, and returns once the node logs "Kafka Server started" and
// answers a metadata request listing it. Starting a running node is a no-op.
func (c *Cluster) StartBroker(i int) error {
	if err := c.nodeScript(i, "start"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), brokerStartTimeout)
	defer cancel()
	return waitNode(ctx, c.Config(kafka.ConfigMap{"bootstrap.servers": c.addrs[i]}), c.BrokerID(i))
}

// BrokerRunning reports whether node i's process is alive.
func (c *Cluster) BrokerRunning(i int) (bool, error) {
	if err := c.checkNode(i); err != nil {
		return false, err
	}
	out, _, err := c.nodes.script(context.Background(), "node.sh", "pid", strconv.Itoa(i+1))
	return err == nil && out != "", nil
}

func (c *Cluster) checkNode(i int) error {
	if c.nodes == nil {
		return fmt.Errorf("%s broker: %w", c.Source, ErrUnsupported)
	}
	if i < 0 || i >= c.Nodes() {
		return fmt.Errorf("node %d: the cluster has nodes 0 to %d", i, c.Nodes()-1)
	}
	return nil
}

func (c *Cluster) nodeScript(i int, verb string) error {
	if err := c.checkNode(i); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), brokerStartTimeout)
	defer cancel()
	// KAFKA_PING=0: waitNode checks metadata below without the `go run` of
	// scripts/kafka/ping.
	j := *c.nodes
	j.env = append(slices.Clip(j.env), "KAFKA_PING=0")
	if _, _, err := j.script(ctx, "node.sh", verb, strconv.Itoa(i+1)); err != nil {
		return fmt.Errorf("%s node %d: %w", verb, i, err)
	}
	return nil
}

// waitNode waits until the node at addr answers metadata that lists broker
// id. The client is bootstrapped with addr alone, so the first answer comes
// from that node.
func waitNode(ctx context.Context, cfg *kafka.ConfigMap, id int32) error {
	addr := (*cfg)["bootstrap.servers"]
	var last error
	for {
		last = askNode(cfg, id)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %d at %s does not answer metadata: %w (last: %v)", id, addr, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func askNode(cfg *kafka.ConfigMap, id int32) error {
	admin, err := kafka.NewAdminClient(cfg)
	if err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	defer admin.Close()
	md, err := admin.GetMetadata(nil, false, 2000)
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	for _, b := range md.Brokers {
		if b.ID == id {
			return nil
		}
	}
	return fmt.Errorf("metadata lists brokers %v, not %d", md.Brokers, id)
}
