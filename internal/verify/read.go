package verify

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/internal/topics"
)

// Defaults of Config.
const (
	DefaultProgressInterval = time.Second
	DefaultIdleTimeout      = 2 * time.Minute
	DefaultRequestTimeout   = 30 * time.Second
)

// ErrStalled is returned by Read when no partition advanced for
// Config.IdleTimeout.
var ErrStalled = errors.New("verify: read stalled")

// Config configures Read. Zero durations take the defaults above.
type Config struct {
	// Client is the base librdkafka configuration: bootstrap.servers and
	// any security settings. Read adds what its consumer needs.
	Client kafka.ConfigMap
	// Topics names the cart topics to read (the catalog is not read).
	Topics  topics.Set
	Decoder Decoder
	// Progress, when set, is called from Read's goroutine at most every
	// ProgressInterval, and once more when the read is complete.
	Progress         func(Progress)
	ProgressInterval time.Duration
	// IdleTimeout bounds how long the read may go without a record or a
	// partition end before it fails with ErrStalled.
	IdleTimeout time.Duration
	// RequestTimeout bounds each admin call (metadata, offsets).
	RequestTimeout time.Duration
	Logger         *slog.Logger
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if v, _ := c.Client.Get("bootstrap.servers", ""); v == "" {
		errs = append(errs, errors.New("client: bootstrap.servers is not set"))
	}
	for _, t := range []struct{ role, name string }{
		{"requests", c.Topics.Requests}, {"validated", c.Topics.Validated}, {"invalid", c.Topics.Invalid}, {"state", c.Topics.State},
	} {
		if strings.TrimSpace(t.name) == "" {
			errs = append(errs, fmt.Errorf("topics: %s topic has no name", t.role))
		}
	}
	if c.Decoder == nil {
		errs = append(errs, errors.New("decoder is nil"))
	}
	if c.ProgressInterval < 0 || c.IdleTimeout < 0 || c.RequestTimeout < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("verify config: %w", err)
	}
	return nil
}

func (c Config) withDefaults() Config {
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

// TopicProgress is how far the read of one topic is.
type TopicProgress struct {
	Topic string `json:"topic"`
	// Records counts the records delivered so far.
	Records int64 `json:"records"`
	// Offsets counts the offsets passed so far, out of Total, the span
	// to read. Offsets reaches Total when the topic is done; Records may
	// stay below it, as read_committed skips transaction markers and
	// aborted records.
	Offsets int64 `json:"offsets"`
	Total   int64 `json:"total"`
	// Done is true once every partition of the topic reached its end.
	Done bool `json:"done"`
}

// Progress is a snapshot of Read's progress, topics in the order requests,
// validated, invalid, state.
type Progress struct {
	Topics  []TopicProgress
	Elapsed time.Duration
	Done    bool
}

func (p Progress) String() string {
	var b strings.Builder
	for i, t := range p.Topics {
		if i > 0 {
			b.WriteString(", ")
		}
		pct := 100.0
		if t.Total > 0 {
			pct = 100 * float64(t.Offsets) / float64(t.Total)
		}
		fmt.Fprintf(&b, "%s %d/%d offsets (%.0f%%, %d records)", t.Topic, t.Offsets, t.Total, pct, t.Records)
		if t.Done {
			b.WriteString(" done")
		}
	}
	return b.String()
}

type role uint8

const (
	roleRequests role = iota
	roleValidated
	roleInvalid
	roleState
	roleOrders
	roleInventory
	roleStock
)

// partitionRead is the span of one partition to read: [start, end), end
// being the last stable offset when Read began.
type partitionRead struct {
	role       role
	start, end int64
	pos        int64 // the next offset to read
	done       bool
}

type tp struct {
	topic     string
	partition int32
}

// Read reads the four cart topics of cfg with read_committed, every
// partition from its log start up to the last stable offset listed when
// Read begins, and decodes every record into an Input for Check. Records
// committed after that point are not read, so a verification of a live
// system sees a consistent cut only if the writers are stopped; verify
// after the load.
//
// Read holds the whole history in memory. It blocks until done, ctx ends
// (returning ctx's error) or the read stalls (ErrStalled).
func Read(ctx context.Context, cfg Config) (Input, error) {
	if err := cfg.Validate(); err != nil {
		return Input{}, err
	}
	cfg = cfg.withDefaults()
	names := []string{cfg.Topics.Requests, cfg.Topics.Validated, cfg.Topics.Invalid, cfg.Topics.State}
	in := Input{Topics: cfg.Topics}
	if cfg.Topics.Orders != "" {
		// Orders are checked against the checkouts when the set names them.
		names = append(names, cfg.Topics.Orders)
		in.OrdersRead = true
		if cfg.Topics.Inventory != "" && cfg.Topics.Stock != "" {
			// The stock side (decision 12): reservations are checked
			// against their answers and the levels replayed.
			names = append(names, cfg.Topics.Inventory, cfg.Topics.Stock)
			in.InventoryRead = true
		}
	}

	admin, err := kafka.NewAdminClient(&cfg.Client)
	if err != nil {
		return Input{}, fmt.Errorf("verify: admin client: %w", err)
	}
	defer admin.Close()
	counts, err := partitionCounts(ctx, admin, names, cfg.RequestTimeout)
	if err != nil {
		return Input{}, err
	}
	in.Partitions = counts[cfg.Topics.Requests]
	spans, err := listSpans(ctx, admin, names, counts, cfg.RequestTimeout)
	if err != nil {
		return Input{}, err
	}
	for _, name := range names[:3] {
		for p := range counts[name] {
			if s := spans[tp{name, int32(p)}]; s.start > 0 {
				in.Warnings = append(in.Warnings, fmt.Sprintf("%s partition %d starts at offset %d: earlier records were deleted (retention), so their requests or outcomes are missing from this verification", name, p, s.start))
			}
		}
	}

	assign := make([]kafka.TopicPartition, 0, len(spans))
	for k, s := range spans {
		if s.end > s.start {
			topic := k.topic
			assign = append(assign, kafka.TopicPartition{Topic: &topic, Partition: k.partition, Offset: kafka.Offset(s.start)})
		} else {
			s.done = true
		}
	}
	slices.SortFunc(assign, func(a, b kafka.TopicPartition) int {
		return cmp.Or(strings.Compare(*a.Topic, *b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	cfg.Logger.Info("verify: reading cart topics", "topics", names, "partitions", counts[names[0]], "assigned", len(assign))

	r := &reader{cfg: cfg, names: names, spans: spans, in: &in, began: time.Now()}
	for i, name := range names {
		r.read[i].Topic = name
		for k, s := range spans {
			if k.topic == name {
				r.read[i].Total += s.end - s.start
			}
		}
		r.read[i].Done = r.allDone(role(i))
	}
	if len(assign) > 0 {
		if err := r.consume(ctx, assign); err != nil {
			return Input{}, err
		}
	}
	r.report(true)
	cfg.Logger.Info("verify: read complete", "requests", len(in.Requests), "validated", len(in.Validated),
		"invalid", len(in.Invalid), "state", len(in.State), "elapsed", time.Since(r.began).Round(time.Millisecond))
	return in, nil
}

// partitionCounts describes the topics; it fails unless they exist and are
// co-partitioned, the precondition of every per-cart check.
func partitionCounts(ctx context.Context, admin *kafka.AdminClient, names []string, timeout time.Duration) (map[string]int, error) {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	desc, err := admin.DescribeTopics(dctx, kafka.NewTopicCollectionOfTopicNames(names))
	if err != nil {
		return nil, fmt.Errorf("verify: describe topics: %w", err)
	}
	counts := map[string]int{}
	var errs []error
	for _, d := range desc.TopicDescriptions {
		if d.Error.Code() != kafka.ErrNoError {
			errs = append(errs, fmt.Errorf("topic %s: %w", d.Name, d.Error))
			continue
		}
		counts[d.Name] = len(d.Partitions)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("verify: describe topics: %w", err)
	}
	for _, n := range names[1:min(len(names), 4)] { // orders are not co-partitioned
		if counts[n] != counts[names[0]] {
			return nil, fmt.Errorf("verify: %w: %s has %d partitions, %s has %d", topics.ErrNotCoPartitioned, n, counts[n], names[0], counts[names[0]])
		}
	}
	return counts, nil
}

// listSpans lists, for every partition, the log start offset and the last
// stable offset (ListOffsets with read_committed).
func listSpans(ctx context.Context, admin *kafka.AdminClient, names []string, counts map[string]int, timeout time.Duration) (map[tp]*partitionRead, error) {
	list := func(spec kafka.OffsetSpec) (map[tp]int64, error) {
		req := map[kafka.TopicPartition]kafka.OffsetSpec{}
		for _, n := range names {
			for p := range counts[n] {
				topic := n
				req[kafka.TopicPartition{Topic: &topic, Partition: int32(p)}] = spec
			}
		}
		lctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		res, err := admin.ListOffsets(lctx, req, kafka.SetAdminIsolationLevel(kafka.IsolationLevelReadCommitted))
		if err != nil {
			return nil, err
		}
		out := map[tp]int64{}
		var errs []error
		for k, info := range res.ResultInfos {
			if info.Error.Code() != kafka.ErrNoError {
				errs = append(errs, fmt.Errorf("%s/%d: %w", *k.Topic, k.Partition, info.Error))
				continue
			}
			out[tp{*k.Topic, k.Partition}] = int64(info.Offset)
		}
		return out, errors.Join(errs...)
	}
	starts, err := list(kafka.EarliestOffsetSpec)
	if err != nil {
		return nil, fmt.Errorf("verify: list start offsets: %w", err)
	}
	ends, err := list(kafka.LatestOffsetSpec)
	if err != nil {
		return nil, fmt.Errorf("verify: list end offsets: %w", err)
	}
	spans := map[tp]*partitionRead{}
	for i, n := range names {
		for p := range counts[n] {
			k := tp{n, int32(p)}
			s, okS := starts[k]
			e, okE := ends[k]
			if !okS || !okE {
				return nil, fmt.Errorf("verify: no offsets listed for %s/%d", n, p)
			}
			spans[k] = &partitionRead{role: role(i), start: s, end: e, pos: s}
		}
	}
	return spans, nil
}

type reader struct {
	cfg      Config
	names    []string
	spans    map[tp]*partitionRead
	in       *Input
	read     [7]TopicProgress
	began    time.Time
	reported time.Time
}

func (r *reader) pending() int {
	n := 0
	for _, s := range r.spans {
		if !s.done {
			n++
		}
	}
	return n
}

func (r *reader) consume(ctx context.Context, assign []kafka.TopicPartition) error {
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	conf := maps.Clone(r.cfg.Client)
	if conf == nil {
		conf = kafka.ConfigMap{}
	}
	maps.Copy(conf, kafka.ConfigMap{
		// The group is never joined (assign only) nor committed to;
		// librdkafka requires one all the same.
		"group.id":             "cartverify-" + hex.EncodeToString(suffix[:]),
		"isolation.level":      "read_committed",
		"enable.auto.commit":   false,
		"enable.partition.eof": true,
		"auto.offset.reset":    "earliest",
	})
	cons, err := kafka.NewConsumer(&conf)
	if err != nil {
		return fmt.Errorf("verify: consumer: %w", err)
	}
	defer func() {
		if err := cons.Close(); err != nil {
			r.cfg.Logger.Warn("verify: close consumer", "err", err)
		}
	}()
	if err := cons.Assign(assign); err != nil {
		return fmt.Errorf("verify: assign: %w", err)
	}
	idle := time.Now()
	for r.pending() > 0 {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("verify: read interrupted with %d partitions left: %w", r.pending(), err)
		}
		if time.Since(idle) > r.cfg.IdleTimeout {
			return fmt.Errorf("%w: no progress for %s; %s", ErrStalled, r.cfg.IdleTimeout, r.describePending())
		}
		switch e := cons.Poll(100).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				return fmt.Errorf("verify: read %s/%d: %w", *e.TopicPartition.Topic, e.TopicPartition.Partition, e.TopicPartition.Error)
			}
			idle = time.Now()
			if err := r.take(cons, e); err != nil {
				return err
			}
		case kafka.PartitionEOF:
			// The end under read_committed is the current last stable
			// offset, never before the one listed at start.
			idle = time.Now()
			r.finish(cons, tp{*e.Topic, e.Partition})
		case kafka.Error:
			if e.IsFatal() {
				return fmt.Errorf("verify: consumer: %w", e)
			}
			r.cfg.Logger.Warn("verify: consumer error", "err", e)
		}
		r.report(false)
	}
	return nil
}

func (r *reader) describePending() string {
	var left []string
	for k, s := range r.spans {
		if !s.done {
			left = append(left, fmt.Sprintf("%s/%d (to %d)", k.topic, k.partition, s.end))
		}
	}
	slices.Sort(left)
	return "pending: " + strings.Join(left, ", ")
}

func (r *reader) finish(cons *kafka.Consumer, k tp) {
	s, ok := r.spans[k]
	if !ok || s.done {
		return
	}
	s.done = true
	r.advance(s, s.end)
	topic := k.topic
	if err := cons.Pause([]kafka.TopicPartition{{Topic: &topic, Partition: k.partition}}); err != nil {
		r.cfg.Logger.Debug("verify: pause", "topic", topic, "partition", k.partition, "err", err)
	}
	if r.allDone(s.role) {
		r.read[s.role].Done = true
	}
}

// advance moves s's position to next, counting the offsets passed.
func (r *reader) advance(s *partitionRead, next int64) {
	if next = min(next, s.end); next > s.pos {
		r.read[s.role].Offsets += next - s.pos
		s.pos = next
	}
}

func (r *reader) allDone(ro role) bool {
	for _, s := range r.spans {
		if s.role == ro && !s.done {
			return false
		}
	}
	return true
}

// take decodes one record into the input, unless it lies beyond the end
// listed at start.
func (r *reader) take(cons *kafka.Consumer, m *kafka.Message) error {
	k := tp{*m.TopicPartition.Topic, m.TopicPartition.Partition}
	s, ok := r.spans[k]
	if !ok || s.done {
		return nil
	}
	off := int64(m.TopicPartition.Offset)
	if off >= s.end {
		r.finish(cons, k)
		return nil
	}
	r.read[s.role].Records++
	r.advance(s, off+1)
	pos := Position{Partition: k.partition, Offset: off}
	key := string(m.Key)
	dec := r.cfg.Decoder
	switch s.role {
	case roleRequests:
		if sd, ok := dec.(StockDecoder); ok && sd.IsAnswer(m.Value) {
			a, err := sd.DecodeAnswer(m.Value)
			r.in.Answers = append(r.in.Answers, Answer{Position: pos, Key: key, Answer: a, DecodeErr: err})
			break
		}
		cmd, err := dec.DecodeRequest(m.Value)
		r.in.Requests = append(r.in.Requests, Request{Position: pos, Key: key, Command: cmd, DecodeErr: err})
	case roleInventory:
		if sd, ok := dec.(StockDecoder); ok {
			req, err := sd.DecodeInventoryRequest(m.Value)
			r.in.Inventory = append(r.in.Inventory, InventoryRecord{Position: pos, Key: key, Request: req, DecodeErr: err})
		}
	case roleStock:
		if sd, ok := dec.(StockDecoder); ok && m.Value != nil {
			l, err := sd.DecodeStockLevel(m.Value)
			r.in.Stock = append(r.in.Stock, StockRecord{Position: pos, Key: key, Level: l, DecodeErr: err})
		}
	case roleValidated:
		ev, err := dec.DecodeValidated(m.Value)
		r.in.Validated = append(r.in.Validated, Validated{Position: pos, Key: key, Event: ev, DecodeErr: err})
	case roleInvalid:
		inv, err := dec.DecodeInvalid(m.Value)
		r.in.Invalid = append(r.in.Invalid, Invalid{Position: pos, Key: key, Invalid: inv, DecodeErr: err})
	case roleState:
		st := State{Position: pos, Key: key, Tombstone: m.Value == nil}
		if !st.Tombstone {
			st.Snapshot, st.DecodeErr = dec.DecodeSnapshot(m.Value)
		}
		r.in.State = append(r.in.State, st)
	case roleOrders:
		o, err := dec.DecodeOrder(m.Value)
		r.in.Orders = append(r.in.Orders, Order{Position: pos, Key: key, Order: o, DecodeErr: err})
	}
	if off >= s.end-1 {
		r.finish(cons, k)
	}
	return nil
}

func (r *reader) report(final bool) {
	if r.cfg.Progress == nil || (!final && time.Since(r.reported) < r.cfg.ProgressInterval) {
		return
	}
	r.reported = time.Now()
	p := Progress{Topics: slices.Clone(r.read[:len(r.names)]), Elapsed: time.Since(r.began), Done: final}
	r.cfg.Progress(p)
}
