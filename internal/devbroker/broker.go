package devbroker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/cartstream/cartstream/internal/topics"
)

// DefaultPort is the embedded broker's default port: 0, a free port, so it
// never clashes with a real broker on 9092 started by `make kafka-up`.
const DefaultPort = 0

// Config of an embedded broker. The zero value is an in-memory broker on a
// free port that creates no topics.
type Config struct {
	// Port on 127.0.0.1; 0 picks a free one.
	Port int
	// DataDir, if set, keeps the cluster's state (topics, records, group
	// offsets, producer ids) there and reloads it at the next Start; the
	// directory is created if needed. Empty: in memory, gone at Close.
	DataDir string
	// Topics, if set, are created at Start (topics.Ensure) with
	// TopicConfig.
	Topics      topics.Set
	TopicConfig topics.Config
	// Logger receives the broker's own warnings and errors; default:
	// discard.
	Logger *slog.Logger
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("devbroker: port %d: want 0..65535", c.Port))
	}
	if c.Topics != (topics.Set{}) {
		errs = append(errs, c.Topics.Validate(), c.TopicConfig.Validate())
	}
	return errors.Join(errs...)
}

// Broker is a running embedded broker. Close stops it.
type Broker struct {
	cluster *kfake.Cluster
	addr    string
	dataDir string
}

// Start starts the broker and, if cfg.Topics is set, creates and checks the
// topics within ctx.
func Start(ctx context.Context, cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(cfg.Port),
		kfake.WithLogger(kfakeLogger{log: log}),
		// The manager's transaction timeout and session timeout are well
		// within kfake's defaults; nothing else needs tuning.
	}
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("devbroker: data dir: %w", err)
		}
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		if cfg.DataDir != "" {
			return nil, fmt.Errorf("devbroker: start on 127.0.0.1:%d with data dir %s (delete it to start afresh): %w", cfg.Port, cfg.DataDir, err)
		}
		return nil, fmt.Errorf("devbroker: start on 127.0.0.1:%d: %w", cfg.Port, err)
	}
	b := &Broker{cluster: cluster, addr: cluster.ListenAddrs()[0], dataDir: cfg.DataDir}
	if cfg.Topics != (topics.Set{}) {
		if err := b.ensureTopics(ctx, cfg.Topics, cfg.TopicConfig); err != nil {
			b.Close()
			return nil, err
		}
	}
	return b, nil
}

func (b *Broker) ensureTopics(ctx context.Context, set topics.Set, tc topics.Config) error {
	admin, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": b.addr})
	if err != nil {
		return fmt.Errorf("devbroker: admin client: %w", err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := topics.Ensure(ctx, admin, set, tc); err != nil {
		return fmt.Errorf("devbroker: topics: %w", err)
	}
	return nil
}

// Addr is the broker's bootstrap address, 127.0.0.1:port.
func (b *Broker) Addr() string { return b.addr }

// DataDir is where the broker keeps its state; empty when in memory.
func (b *Broker) DataDir() string { return b.dataDir }

// Close stops the broker; with a DataDir it first saves its state there.
// Clients should be closed first. Close is idempotent.
func (b *Broker) Close() { b.cluster.Close() }

// Banner is the multi-line warning a process logs, once, when it starts
// the embedded broker: it must not be mistaken for a production setup.
func (b *Broker) Banner() string {
	keep := "IN MEMORY: everything is lost when the process stops."
	if b.dataDir != "" {
		keep = "state kept in " + b.dataDir + " (delete it to start afresh)."
	}
	lines := []string{
		strings.Repeat("!", 76),
		"!!  DEVELOPMENT BROKER: an embedded, in-process Kafka imitation (kfake)",
		"!!  listening on " + b.addr + ".",
		"!!  " + keep,
		"!!  One process, no replication, no durability guarantees, not Apache",
		"!!  Kafka: for trying cartstream out and for hermetic tests ONLY.",
		"!!  NEVER use it in production. Set KAFKA_BROKERS to run against a real",
		"!!  cluster (e.g. `make kafka-up` then KAFKA_BROKERS=127.0.0.1:9092).",
		strings.Repeat("!", 76),
	}
	return strings.Join(lines, "\n")
}

// DefaultDataDir is where `make run` keeps the embedded broker's state:
// $XDG_DATA_HOME/cartstream/dev-broker when XDG_DATA_HOME is set, else
// .cartstream-dev/broker under the working directory wd.
func DefaultDataDir(getenv func(string) string, wd string) string {
	if x := getenv("XDG_DATA_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "cartstream", "dev-broker")
	}
	return filepath.Join(wd, ".cartstream-dev", "broker")
}

// kfakeLogger forwards kfake's warnings and errors to slog.
type kfakeLogger struct{ log *slog.Logger }

func (l kfakeLogger) Logf(level kfake.LogLevel, msg string, args ...any) {
	switch level {
	case kfake.LogLevelError:
		l.log.Error("devbroker: " + fmt.Sprintf(msg, args...))
	case kfake.LogLevelWarn:
		l.log.Warn("devbroker: " + fmt.Sprintf(msg, args...))
	default:
	}
}
