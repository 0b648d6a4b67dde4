package replay

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/topics"
)

// Decoder decodes what a replay reads. internal/records' Codec implements
// it; it must be safe for concurrent use (the fold decodes on several
// goroutines at once).
type Decoder interface {
	DecodeValidated(value []byte) (cart.Event, error)
	DecodeSnapshot(value []byte) (cart.Snapshot, error)
}

// Defaults of Config.
const (
	DefaultProgressInterval = time.Second
	DefaultIdleTimeout      = 2 * time.Minute
	DefaultRequestTimeout   = 30 * time.Second
)

// ErrStalled is returned when a read makes no progress for
// Config.IdleTimeout.
var ErrStalled = errors.New("replay: read stalled")

// Config is what every Kafka-facing function of the package needs. Zero
// durations and Workers take the defaults.
type Config struct {
	// Client is the base librdkafka configuration: bootstrap.servers and
	// any security settings. Each function adds what its clients need.
	Client  kafka.ConfigMap
	Topics  topics.Set
	Decoder Decoder
	// Workers is the number of goroutines that decode and fold; a
	// partition is always handled by one of them, in offset order.
	// Default: GOMAXPROCS.
	Workers int
	// Progress, when set, is called from the reading goroutine at most
	// every ProgressInterval, and once more when a read completes. It must
	// not block.
	Progress         func(Progress)
	ProgressInterval time.Duration
	// IdleTimeout bounds how long a read may go without a record or a
	// partition end before it fails with ErrStalled.
	IdleTimeout time.Duration
	// RequestTimeout bounds each admin call.
	RequestTimeout time.Duration
	Logger         *slog.Logger
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if v, _ := c.Client.Get("bootstrap.servers", ""); v == "" {
		errs = append(errs, errors.New("client: bootstrap.servers is not set"))
	}
	if err := c.Topics.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Decoder == nil {
		errs = append(errs, errors.New("decoder is nil"))
	}
	if c.Workers < 0 {
		errs = append(errs, fmt.Errorf("workers %d: must not be negative", c.Workers))
	}
	if c.ProgressInterval < 0 || c.IdleTimeout < 0 || c.RequestTimeout < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("replay config: %w", err)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Workers == 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = DefaultProgressInterval
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// clientConfig is the base configuration plus extra.
func (c Config) clientConfig(extra kafka.ConfigMap) *kafka.ConfigMap {
	cm := maps.Clone(c.Client)
	if cm == nil {
		cm = kafka.ConfigMap{}
	}
	maps.Copy(cm, extra)
	return &cm
}

// Scope says which part of cart.validated a fold covers. The zero Scope is
// every cart, up to the last stable offsets at the start of the read.
type Scope struct {
	// Cart, when set, folds only this cart, reading only its partition.
	Cart cart.CartID
	// UntilOffsets bounds partitions by offset, exclusively: the fold of
	// partition p stops before offset UntilOffsets[p] (a Kafka end offset
	// or committed offset can be pasted as is). Partitions not named are
	// read to their last stable offset.
	UntilOffsets map[int32]int64
	// UntilTime bounds every partition by record timestamp: each is read
	// up to (excluding) its first record stamped after UntilTime, as the
	// broker's time index finds it (ListOffsets by timestamp). Record
	// timestamps have millisecond precision; the zero time means no bound.
	UntilTime time.Time
}

// Validate reports every problem at once.
func (s Scope) Validate() error {
	var errs []error
	if s.Cart != "" {
		if err := s.Cart.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	for p, o := range s.UntilOffsets {
		if p < 0 || o < 0 {
			errs = append(errs, fmt.Errorf("until offset %d:%d: partition and offset must not be negative", p, o))
		}
	}
	if len(s.UntilOffsets) > 0 && !s.UntilTime.IsZero() {
		errs = append(errs, errors.New("until offsets and until time exclude each other"))
	}
	return errors.Join(errs...)
}

// Bounded reports whether the scope stops before the last stable offsets.
func (s Scope) Bounded() bool { return len(s.UntilOffsets) > 0 || !s.UntilTime.IsZero() }

// ParseUntilOffsets parses "P:O,P:O,...", e.g. "0:120,3:77".
func ParseUntilOffsets(s string) (map[int32]int64, error) {
	out := map[int32]int64{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		var p int32
		var o int64
		if n, err := fmt.Sscanf(part, "%d:%d", &p, &o); err != nil || n != 2 || fmt.Sprintf("%d:%d", p, o) != part {
			return nil, fmt.Errorf("until offset %q: want PARTITION:OFFSET", part)
		}
		if _, dup := out[p]; dup {
			return nil, fmt.Errorf("until offset: partition %d given twice", p)
		}
		out[p] = o
	}
	if len(out) == 0 {
		return nil, errors.New("until offsets: none given")
	}
	return out, nil
}
