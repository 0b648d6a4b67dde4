package integration

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/cartstream/cartstream/internal/kafkatest"
)

// leaderOf returns the broker id leading topic's partition, from metadata.
func leaderOf(tb testing.TB, c *kafkatest.Cluster, topic string, partition int32) int32 {
	tb.Helper()
	md, err := c.Admin(tb).GetMetadata(&topic, false, 5000)
	if err != nil {
		tb.Fatalf("metadata of %s: %v", topic, err)
	}
	for _, p := range md.Topics[topic].Partitions {
		if p.ID == partition && p.Leader >= 0 {
			return p.Leader
		}
	}
	tb.Fatalf("%s[%d] has no leader in metadata %+v", topic, partition, md.Topics[topic])
	return -1
}

// The broker lifecycle API on the package's own broker (one node, or all of
// CARTSTREAM_TEST_KAFKA_NODES): SIGKILL the node leading a topic, see it
// gone, restart it on the same port and data, and read back what was
// acknowledged before the kill, plus a record written after.
func TestBrokerKillAndRestart(t *testing.T) {
	c := kafkatest.Get(t)
	if c.Source != kafkatest.SourceJars {
		t.Skipf("the %s broker cannot be killed by the harness: %v", c.Source, kafkatest.ErrUnsupported)
	}
	topic := c.Topics(t, kafkatest.TopicSpec{Partitions: 1}, "lifecycle")[0]
	produceAll(t, c, topic, []kv{{"k", "before"}})
	node, err := c.NodeOf(leaderOf(t, c, topic, 0))
	if err != nil {
		t.Fatal(err)
	}
	addr := c.Addrs()[node]

	start := time.Now()
	if err := c.KillBroker(node); err != nil {
		t.Fatalf("kill: %v", err)
	}
	if running, err := c.BrokerRunning(node); err != nil || running {
		t.Fatalf("after KillBroker(%d): running %v, err %v", node, running, err)
	}
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Fatalf("node %d still accepts connections at %s after SIGKILL", node, addr)
	}
	killed := time.Since(start)
	if err := c.StartBroker(node); err != nil {
		t.Fatalf("restart: %v", err)
	}
	t.Logf("node %d (%s): killed in %s, answering again %s after the kill", node, addr, killed.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if running, err := c.BrokerRunning(node); err != nil || !running {
		t.Fatalf("after StartBroker(%d): running %v, err %v", node, running, err)
	}

	produceAll(t, c, topic, []kv{{"k", "after"}})
	got := readToEnd(t, c, topic, 1, "read_committed")
	if len(got) != 2 || string(got[0].Value) != "before" || string(got[1].Value) != "after" {
		vals := make([]string, len(got))
		for i, m := range got {
			vals[i] = string(m.Value)
		}
		t.Fatalf("read back %q, want [before after]", vals)
	}
}

// The lifecycle methods refuse brokers the harness does not own, and node
// indexes outside the cluster, with errors rather than a panic.
func TestBrokerLifecycleRefusals(t *testing.T) {
	c := kafkatest.Get(t)
	if err := c.KillBroker(c.Nodes()); err == nil {
		t.Fatalf("KillBroker(%d) on a %d-node cluster succeeded", c.Nodes(), c.Nodes())
	}
	if c.Source != kafkatest.SourceJars {
		if err := c.KillBroker(0); !errors.Is(err, kafkatest.ErrUnsupported) {
			t.Fatalf("KillBroker on a %s broker: %v, want ErrUnsupported", c.Source, err)
		}
	}
	if _, err := c.NodeOf(0); err == nil {
		t.Fatal("NodeOf(0) succeeded; broker ids start at 1")
	}
}
