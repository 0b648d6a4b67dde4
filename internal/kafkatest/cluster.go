package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// Cluster is a running broker, or cluster of brokers, a test package shares.
type Cluster struct {
	Source  Source
	brokers string
	addrs   []string
	stop    func() error
	// nodes controls single nodes; nil where the harness did not start the
	// brokers from the jars (an external cluster, a container).
	nodes *jarNodes
	// admin is the security part of every client configuration the
	// harness makes (the admin principal's, a super user); empty on a
	// plaintext cluster.
	admin kafka.ConfigMap
}

// Brokers returns the bootstrap addresses of every node, comma-separated.
func (c *Cluster) Brokers() string { return c.brokers }

// Addrs returns each node's bootstrap address: Addrs()[i] is node i's.
func (c *Cluster) Addrs() []string { return append([]string(nil), c.addrs...) }

// Nodes returns the number of brokers: the nodes the harness started, or the
// addresses KAFKA_BROKERS names.
func (c *Cluster) Nodes() int { return len(c.addrs) }

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
// it answers metadata. CARTSTREAM_TEST_KAFKA_NODES (read through getenv) asks
// for a cluster of that many nodes.
func Start(ctx context.Context, getenv func(string) string, logf func(string, ...any)) (*Cluster, error) {
	return StartWith(ctx, Options{Getenv: getenv, Logf: logf})
}

// Options says which cluster StartWith starts. The zero value is what Start
// does with the process environment.
type Options struct {
	// Nodes is the number of KRaft nodes (each broker + controller) started
	// from the jars. 0: CARTSTREAM_TEST_KAFKA_NODES, else 1. With 3 or more,
	// topics get replication factor 3 and min.insync.replicas=2
	// (scripts/kafka/up.sh).
	Nodes int
	// Source forces where the brokers come from, over CARTSTREAM_TEST_KAFKA
	// and KAFKA_BROKERS; 0 selects as Select does. A test that kills brokers
	// forces SourceJars: only those can be killed and restarted.
	Source Source
	// Secure starts the secured broker from the jars (scripts/kafka/secure.sh):
	// SASL_SSL with SCRAM-SHA-512, ACLs enforced, one principal per
	// service. The harness's own clients (Config, Admin, Topics) connect as
	// the admin principal; ClientConfig gives a service's. false:
	// CARTSTREAM_TEST_KAFKA_SECURE=1 asks for it.
	Secure bool
	// Getenv reads the environment; nil is os.Getenv.
	Getenv func(string) string
	// Logf reports progress; nil writes to stderr.
	Logf func(format string, args ...any)
}

func (o Options) withDefaults() (Options, error) {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Logf == nil {
		o.Logf = func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	}
	if o.Nodes == 0 {
		o.Nodes = 1
		if v := strings.TrimSpace(o.Getenv(EnvNodes)); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return o, fmt.Errorf("%s=%q: want a node count: %w", EnvNodes, v, err)
			}
			o.Nodes = n
		}
	}
	if !o.Secure {
		o.Secure = strings.TrimSpace(o.Getenv(EnvSecure)) == "1"
	}
	if o.Nodes < 1 || o.Nodes > 9 {
		return o, fmt.Errorf("%d nodes: want 1 to 9 (scripts/kafka/up.sh numbers nodes with one digit)", o.Nodes)
	}
	return o, nil
}

// StartWith is Start with options: a test that needs its own cluster (three
// nodes, say) starts it here and stops it on cleanup.
func StartWith(ctx context.Context, opts Options) (*Cluster, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	logf := opts.Logf
	var choice Choice
	if opts.Source == 0 {
		if choice, err = Select(ctx, opts.Getenv, probeDocker); err != nil {
			return nil, err
		}
	} else {
		choice = Choice{Source: opts.Source, Reason: "forced by the caller", Brokers: strings.TrimSpace(opts.Getenv(EnvBrokers))}
	}
	if opts.Secure && choice.Source != SourceJars {
		// Only the scripts make the certificates, users and files; a
		// secured external cluster would need its own client files.
		choice = Choice{Source: SourceJars, Reason: "a secured broker is started from the jars"}
	}
	logf("kafkatest: broker source %s: %s", choice.Source, choice.Reason)
	c := &Cluster{Source: choice.Source, stop: func() error { return nil }}
	switch choice.Source {
	case SourceExternal:
		if choice.Brokers == "" {
			return nil, fmt.Errorf("an external cluster needs %s", EnvBrokers)
		}
		c.brokers = choice.Brokers
	case SourceDocker:
		if opts.Nodes != 1 {
			return nil, fmt.Errorf("%d docker nodes: %w (use CARTSTREAM_TEST_KAFKA=jars)", opts.Nodes, ErrUnsupported)
		}
		c.brokers, c.stop, err = startDocker(ctx, logf)
	case SourceJars:
		c.nodes, err = startJars(ctx, opts.Nodes, opts.Secure, logf)
		if err == nil {
			c.brokers, c.stop = strings.Join(c.nodes.addrs, ","), c.nodes.down
		}
		if err == nil && opts.Secure {
			if c.admin, err = c.nodes.clientSecurity("admin"); err != nil {
				err = errors.Join(err, c.Stop())
			}
		}
	default:
		err = fmt.Errorf("unknown broker source %v", choice.Source)
	}
	if err != nil {
		return nil, fmt.Errorf("start %s broker: %w", choice.Source, err)
	}
	c.addrs = strings.Split(c.brokers, ",")
	for i := range c.addrs {
		c.addrs[i] = strings.TrimSpace(c.addrs[i])
	}
	if err := waitMetadata(ctx, c.Config(nil), c.Nodes()); err != nil {
		return nil, errors.Join(err, c.Stop())
	}
	logf("kafkatest: broker ready at %s", c.brokers)
	return c, nil
}

// StartForTest starts a cluster of the test's own (StartWith) and stops it
// when the test ends. It fails the test if the cluster cannot start.
func StartForTest(tb testing.TB, opts Options) *Cluster {
	tb.Helper()
	if opts.Logf == nil {
		opts.Logf = tb.Logf
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	c, err := StartWith(ctx, opts)
	if err != nil {
		tb.Fatalf("kafkatest: start a cluster: %v", err)
	}
	tb.Cleanup(func() {
		if err := c.Stop(); err != nil {
			tb.Errorf("kafkatest: stop the cluster: %v", err)
		}
	})
	return c
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

// waitMetadata waits until the cluster at brokers answers metadata listing
// at least want brokers: every node of a fresh cluster has registered.
func waitMetadata(ctx context.Context, cfg *kafka.ConfigMap, want int) error {
	brokers := (*cfg)["bootstrap.servers"]
	admin, err := kafka.NewAdminClient(cfg)
	if err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	defer admin.Close()
	for {
		md, err := admin.GetMetadata(nil, false, 2000)
		if err == nil && len(md.Brokers) < want {
			err = fmt.Errorf("metadata lists %d of %d brokers", len(md.Brokers), want)
		}
		if err == nil {
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

// Config returns a consumer or admin configuration for this cluster plus
// extra. On a secured cluster it connects as the admin principal, a super
// user: a test's own set-up and checks are not what the ACLs restrict.
func (c *Cluster) Config(extra kafka.ConfigMap) *kafka.ConfigMap {
	cm := kafka.ConfigMap{"bootstrap.servers": c.brokers}
	for k, v := range c.admin {
		cm[k] = v
	}
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
	admin, err := kafka.NewAdminClient(c.Config(nil))
	if err != nil {
		tb.Fatalf("kafkatest: admin client: %v", err)
	}
	tb.Cleanup(admin.Close)
	return admin
}

// TopicSpec describes topics a test wants. Topics take the cluster's default
// replication factor and min.insync.replicas: 1 and 1 on one node, 3 and 2 on
// three (scripts/kafka/up.sh).
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
		specs[i] = kafka.TopicSpecification{Topic: names[i], NumPartitions: spec.Partitions, ReplicationFactor: -1, Config: spec.Config}
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
