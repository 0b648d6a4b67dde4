package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// Cluster is a running broker a test package shares.
type Cluster struct {
	Source  Source
	brokers string
	stop    func() error
}

// Brokers returns the bootstrap addresses, comma-separated.
func (c *Cluster) Brokers() string { return c.brokers }

// startTimeout bounds fetching (on a cold cache, Maven downloads ~45 MB) and
// starting the broker.
const startTimeout = 10 * time.Minute

var (
	pkgMu      sync.Mutex
	pkgCluster *Cluster
	pkgErr     error
)

// Main is a package's TestMain: it starts the broker, runs the tests, stops
// the broker and exits with the tests' code. A broker that cannot start
// fails the run loudly rather than skipping: integration tests that silently
// do nothing prove nothing.
//
//	func TestMain(m *testing.M) { kafkatest.Main(m) }
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	c, err := Start(ctx, os.Getenv, logf)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "kafkatest: no broker for the integration tests: %v\n", err)
		return 2
	}
	pkgMu.Lock()
	pkgCluster = c
	pkgMu.Unlock()
	code := m.Run()
	if err := c.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "kafkatest: stop broker: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Start selects a broker source, starts the broker if needed and waits until
// it answers metadata.
func Start(ctx context.Context, getenv func(string) string, logf func(string, ...any)) (*Cluster, error) {
	choice, err := Select(ctx, getenv, probeDocker)
	if err != nil {
		return nil, err
	}
	logf("kafkatest: broker source %s: %s", choice.Source, choice.Reason)
	c := &Cluster{Source: choice.Source, stop: func() error { return nil }}
	switch choice.Source {
	case SourceExternal:
		c.brokers = choice.Brokers
	case SourceDocker:
		c.brokers, c.stop, err = startDocker(ctx, logf)
	case SourceJars:
		c.brokers, c.stop, err = startJars(ctx, logf)
	default:
		err = fmt.Errorf("unknown broker source %v", choice.Source)
	}
	if err != nil {
		return nil, fmt.Errorf("start %s broker: %w", choice.Source, err)
	}
	if err := waitMetadata(ctx, c.brokers); err != nil {
		return nil, errors.Join(err, c.Stop())
	}
	logf("kafkatest: broker ready at %s", c.brokers)
	return c, nil
}

// Stop stops a broker this package started; an external cluster is left as is.
func (c *Cluster) Stop() error {
	if c.stop == nil {
		return nil
	}
	stop := c.stop
	c.stop = nil
	return stop()
}

func waitMetadata(ctx context.Context, brokers string) error {
	admin, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": brokers})
	if err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	defer admin.Close()
	for {
		md, err := admin.GetMetadata(nil, false, 2000)
		if err == nil && len(md.Brokers) > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("broker at %s does not answer metadata: %w (last: %v)", brokers, ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Get returns the package's broker. The package must run its tests through
// Main.
func Get(tb testing.TB) *Cluster {
	tb.Helper()
	pkgMu.Lock()
	defer pkgMu.Unlock()
	if pkgCluster == nil {
		tb.Fatalf("kafkatest: no broker: the package needs func TestMain(m *testing.M) { kafkatest.Main(m) }")
	}
	return pkgCluster
}

// Config returns a consumer or admin configuration for this cluster plus extra.
func (c *Cluster) Config(extra kafka.ConfigMap) *kafka.ConfigMap {
	cm := kafka.ConfigMap{"bootstrap.servers": c.brokers}
	for k, v := range extra {
		cm[k] = v
	}
	return &cm
}

// ProducerConfig is Config with the partitioner every cartstream producer
// uses (murmur2_random, so keys land where Java clients put them).
func (c *Cluster) ProducerConfig(extra kafka.ConfigMap) *kafka.ConfigMap {
	cm := c.Config(extra)
	if _, ok := extra["partitioner"]; !ok {
		(*cm)["partitioner"] = "murmur2_random"
	}
	return cm
}

// Admin returns an admin client closed on cleanup.
func (c *Cluster) Admin(tb testing.TB) *kafka.AdminClient {
	tb.Helper()
	admin, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": c.brokers})
	if err != nil {
		tb.Fatalf("kafkatest: admin client: %v", err)
	}
	tb.Cleanup(admin.Close)
	return admin
}

// TopicSpec describes topics a test wants.
type TopicSpec struct {
	Partitions int               // default 1
	Config     map[string]string // topic configs, e.g. cleanup.policy=compact
}

var unsafeTopicChars = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// UniqueName returns a topic or group name unique to this test and run:
// the test's name (readable in broker logs) plus a random suffix.
func UniqueName(tb testing.TB, suffix string) string {
	tb.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatalf("kafkatest: random: %v", err)
	}
	name := strings.Trim(unsafeTopicChars.ReplaceAllString(tb.Name(), "-"), "-")
	if len(name) > 120 {
		name = name[:120]
	}
	return name + "." + hex.EncodeToString(b[:]) + "." + suffix
}

// Topics creates one topic per suffix, named uniquely for this test, waits
// until every partition has a leader, and deletes them on cleanup. It returns
// the names in the order of suffixes.
func (c *Cluster) Topics(tb testing.TB, spec TopicSpec, suffixes ...string) []string {
	tb.Helper()
	if spec.Partitions == 0 {
		spec.Partitions = 1
	}
	admin := c.Admin(tb)
	names := make([]string, len(suffixes))
	specs := make([]kafka.TopicSpecification, len(suffixes))
	for i, s := range suffixes {
		names[i] = UniqueName(tb, s)
		specs[i] = kafka.TopicSpecification{Topic: names[i], NumPartitions: spec.Partitions, ReplicationFactor: 1, Config: spec.Config}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := admin.CreateTopics(ctx, specs, kafka.SetAdminOperationTimeout(30*time.Second))
	if err != nil {
		tb.Fatalf("kafkatest: create topics: %v", err)
	}
	for _, r := range res {
		if r.Error.Code() != kafka.ErrNoError {
			tb.Fatalf("kafkatest: create topic %s: %v", r.Topic, r.Error)
		}
	}
	c.DeleteOnCleanup(tb, names...)
	for _, name := range names {
		waitLeaders(tb, admin, name, spec.Partitions)
	}
	return names
}

func waitLeaders(tb testing.TB, admin *kafka.AdminClient, topic string, partitions int) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		md, err := admin.GetMetadata(&topic, false, 5000)
		if err == nil {
			tm, ok := md.Topics[topic]
			if ok && tm.Error.Code() == kafka.ErrNoError && len(tm.Partitions) == partitions && allLed(tm.Partitions) {
				return
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("kafkatest: topic %s has no leader for every partition after 30s (last error: %v)", topic, err)
		}
		time.Sleep(100 * time.Millisecond) // polling metadata with a deadline
	}
}

func allLed(ps []kafka.PartitionMetadata) bool {
	for _, p := range ps {
		if p.Leader < 0 || p.Error.Code() != kafka.ErrNoError {
			return false
		}
	}
	return true
}

// DeleteOnCleanup deletes topics that code under test created, when the test
// ends.
func (c *Cluster) DeleteOnCleanup(tb testing.TB, names ...string) {
	tb.Helper()
	admin := c.Admin(tb)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.DeleteTopics(ctx, names); err != nil {
			tb.Logf("kafkatest: delete topics %v: %v", names, err)
		}
	})
}
