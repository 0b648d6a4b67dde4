package replay

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
)

// ProblemKind classifies what a replay could not fold. The set is closed;
// the names are stable (JSON output, scripts).
type ProblemKind uint8

// The problem kinds.
const (
	ProblemUnspecified ProblemKind = iota
	// ProblemUndecodable: a record that does not decode.
	ProblemUndecodable
	// ProblemKeyMismatch: an event whose cart id is not its record key.
	ProblemKeyMismatch
	// ProblemFoldFailed: cart.Apply refuses an event (a version gap, a
	// repeated event, an event that does not fit the cart).
	ProblemFoldFailed
	numProblemKinds
)

var problemNames = []string{"Unspecified", "Undecodable", "KeyMismatch", "FoldFailed"}

func (k ProblemKind) String() string {
	if int(k) < len(problemNames) {
		return problemNames[k]
	}
	return fmt.Sprintf("ProblemKind(%d)", uint8(k))
}

// MarshalText encodes k by name.
func (k ProblemKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Problem is one record a replay could not fold.
type Problem struct {
	Kind      ProblemKind `json:"kind"`
	CartID    cart.CartID `json:"cart_id,omitempty"`
	Topic     string      `json:"topic"`
	Partition int32       `json:"partition"`
	Offset    int64       `json:"offset"`
	Detail    string      `json:"detail"`
}

func (p Problem) String() string {
	return fmt.Sprintf("%s %s/%d@%d cart %q: %s", p.Kind, p.Topic, p.Partition, p.Offset, p.CartID, p.Detail)
}

// Folded is one cart as replayed.
type Folded struct {
	State     cart.CartState
	Partition int32
	// LastOffset is the offset in cart.validated of the cart's last folded
	// event.
	LastOffset int64
	// Events counts the events folded.
	Events int64
	// Broken is set when one of the cart's records could not be folded;
	// State is then the cart before that record, and later events of the
	// cart were not folded.
	Broken bool
}

// Stats says what a replay read.
type Stats struct {
	Topic string `json:"topic"`
	// Partitions are the partitions read, with the span read of each.
	Partitions []PartitionSpan `json:"partitions"`
	// Records counts every record delivered; Folded those decoded and
	// folded (a --cart replay skips other carts' records undecoded).
	Records int64         `json:"records"`
	Folded  int64         `json:"folded"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// PartitionSpan is the span of one partition a replay read, [Start, End),
// and how many records it delivered.
type PartitionSpan struct {
	Partition int32 `json:"partition"`
	Start     int64 `json:"start"`
	End       int64 `json:"end"`
	Records   int64 `json:"records"`
}

// EventsPerSecond is the replay's throughput.
func (s Stats) EventsPerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Records) / s.Elapsed.Seconds()
}

// Result is a replay: every cart of the scope, folded.
type Result struct {
	Carts map[cart.CartID]*Folded
	// Partitions is the partition count of the cart topics.
	Partitions int
	Problems   []Problem
	Stats      Stats
}

// Sorted returns the carts ordered by partition, then cart id.
func (r Result) Sorted() []*Folded {
	out := make([]*Folded, 0, len(r.Carts))
	for _, f := range r.Carts {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b *Folded) int {
		return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.State.CartID, b.State.CartID))
	})
	return out
}

// Fold replays cart.validated within scope: it folds every cart's events
// from cart.CartState{CartID: id} with cart.Apply, reading each partition
// with read_committed from its log start up to the last stable offset listed
// when Fold begins (or scope's bound). For scope.Cart only that cart's
// partition is read.
func Fold(ctx context.Context, cfg Config, scope Scope) (Result, error) {
	if err := errors.Join(cfg.Validate(), scope.Validate()); err != nil {
		return Result{}, err
	}
	cfg = cfg.withDefaults()
	adm, err := kafka.NewAdminClient(cfg.clientConfig(nil))
	if err != nil {
		return Result{}, fmt.Errorf("replay: admin client: %w", err)
	}
	defer adm.Close()
	n, parts, err := scopePartitions(ctx, adm, cfg, scope)
	if err != nil {
		return Result{}, err
	}
	ss, err := spans(ctx, adm, cfg.RequestTimeout, cfg.Topics.Validated, parts, scope)
	if err != nil {
		return Result{}, fmt.Errorf("replay: %w", err)
	}
	cfg.Logger.Info("replay: folding", "topic", cfg.Topics.Validated, "partitions", parts, "cart", scope.Cart)
	res, err := foldSpans(ctx, cfg, scope.Cart, ss)
	if err != nil {
		return Result{}, err
	}
	res.Partitions = n
	return res, nil
}

// scopePartitions returns the cart topics' partition count and the
// partitions scope covers.
func scopePartitions(ctx context.Context, a admin, cfg Config, scope Scope) (int, []int32, error) {
	counts, err := partitionCounts(ctx, a, cfg.RequestTimeout, cfg.Topics.Validated)
	if err != nil {
		return 0, nil, fmt.Errorf("replay: %w", err)
	}
	n := counts[cfg.Topics.Validated]
	if n == 0 {
		return 0, nil, fmt.Errorf("replay: topic %s has no partitions", cfg.Topics.Validated)
	}
	for p := range scope.UntilOffsets {
		if int(p) >= n {
			return 0, nil, fmt.Errorf("replay: until offset for partition %d, but %s has %d partitions", p, cfg.Topics.Validated, n)
		}
	}
	if scope.Cart != "" {
		return n, []int32{PartitionOf(scope.Cart, n)}, nil
	}
	parts := make([]int32, n)
	for i := range parts {
		parts[i] = int32(i)
	}
	return n, parts, nil
}

// shard is one worker's part of the fold: the carts of its partitions.
type shard struct {
	carts    map[cart.CartID]*Folded
	problems []Problem
	folded   int64
}

func foldSpans(ctx context.Context, cfg Config, only cart.CartID, ss []span) (Result, error) {
	shards := make([]*shard, cfg.Workers)
	for i := range shards {
		shards[i] = &shard{carts: map[cart.CartID]*Folded{}}
	}
	var carts counter
	topic := cfg.Topics.Validated
	r := &reader{cfg: cfg, topic: topic, carts: carts.load}
	if only != "" {
		r.skip = func(m *kafka.Message) bool { return string(m.Key) != string(only) }
	}
	r.work = func(w int, batch []*kafka.Message) {
		sh := shards[w]
		for _, m := range batch {
			sh.fold(cfg.Decoder, topic, m, &carts)
		}
	}
	st, err := r.run(ctx, ss)
	if err != nil {
		return Result{}, err
	}
	res := Result{Carts: map[cart.CartID]*Folded{}, Stats: Stats{Topic: topic, Records: st.Records, Elapsed: st.Elapsed}}
	for _, sh := range shards {
		for id, f := range sh.carts {
			res.Carts[id] = f
		}
		res.Problems = append(res.Problems, sh.problems...)
		res.Stats.Folded += sh.folded
	}
	for _, s := range ss {
		res.Stats.Partitions = append(res.Stats.Partitions, PartitionSpan{Partition: s.partition, Start: s.start, End: s.end, Records: st.PerPartition[s.partition]})
	}
	slices.SortFunc(res.Problems, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
	})
	return res, nil
}

func (sh *shard) fold(dec Decoder, topic string, m *kafka.Message, carts *counter) {
	p, off := m.TopicPartition.Partition, int64(m.TopicPartition.Offset)
	problem := func(k ProblemKind, id cart.CartID, detail string) {
		sh.problems = append(sh.problems, Problem{Kind: k, CartID: id, Topic: topic, Partition: p, Offset: off, Detail: detail})
		if f, ok := sh.carts[id]; ok {
			f.Broken = true
		} else if id != "" {
			sh.carts[id] = &Folded{State: cart.CartState{CartID: id}, Partition: p, LastOffset: -1, Broken: true}
			carts.n.Add(1)
		}
	}
	ev, err := dec.DecodeValidated(m.Value)
	if err != nil {
		// The key names the cart as far as anything does.
		id := cart.CartID(m.Key)
		if id.Validate() != nil {
			id = ""
		}
		problem(ProblemUndecodable, id, err.Error())
		return
	}
	id := ev.Meta().CartID
	if string(id) != string(m.Key) {
		problem(ProblemKeyMismatch, id, fmt.Sprintf("event of cart %q under key %q", id, m.Key))
		return
	}
	f, ok := sh.carts[id]
	if !ok {
		f = &Folded{State: cart.CartState{CartID: id}, Partition: p, LastOffset: -1}
		sh.carts[id] = f
		carts.n.Add(1)
	}
	if f.Broken {
		return
	}
	next, err := cart.Apply(f.State, ev)
	if err != nil {
		problem(ProblemFoldFailed, id, fmt.Sprintf("cart.Apply refuses %s version %d: %v", ev.EventType(), ev.Meta().Version, err))
		return
	}
	f.State, f.LastOffset = next, off
	f.Events++
	sh.folded++
}
