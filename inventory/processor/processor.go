package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/txnhealth"
	"github.com/cartstream/cartstream/inventory"
)

// Stats are the processor's counters of committed work.
type Stats struct {
	Granted, Refused, Released, StockChanges, Refusals, Malformed atomic.Int64
	// Repeats counts adjustments whose id the SKU's window held: a
	// client's retry, answered with the first result.
	Repeats                   atomic.Int64
	Commits, Aborts, Restarts atomic.Int64
	// Decided counts committed requests by kind and result.
	Decided [KindCount][ResultCount]atomic.Int64
	// OwnedPartitions is how many inventory.requests partitions the
	// current session holds.
	OwnedPartitions atomic.Int64
}

// Results of a decided request, for Stats.Decided.
const (
	ResultGranted = iota // a reservation granted
	ResultRefused        // a reservation refused: not enough stock
	ResultApplied        // a release, set or adjust applied
	ResultInvalid        // a request inventory.Step refused as invalid
	ResultRepeat         // an adjustment whose id was applied (or refused) before: nothing changed
	ResultCount
)

// KindCount bounds inventory.Kind for Stats.Decided.
const KindCount = int(inventory.KindAdjust) + 1

// ResultNames are the results' metric labels, by index.
var ResultNames = [ResultCount]string{"granted", "refused", "applied", "invalid", "repeat"}

// Processor is the inventory processor. Create it with New, run it with Run.
type Processor struct {
	cfg    Config
	log    *slog.Logger
	stats  Stats
	ready  chan struct{}
	health *txnhealth.State
}

// New validates cfg and returns a Processor.
func New(cfg Config) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	log := cfg.Logger.With("component", "inventory-processor", "instance", cfg.InstanceID)
	return &Processor{cfg: cfg, log: log, ready: make(chan struct{}), health: txnhealth.New(log, cfg.FailedCommits)}, nil
}

// Health is whether the processor can commit now, and a channel closed at
// its next change.
func (p *Processor) Health() (Health, <-chan struct{}) { return p.health.Get() }

// Health says whether the processor can commit (internal/txnhealth): not
// before its first assignment is restored, while a session is rebuilt, or
// after FailedCommits transactions in a row failed; a processor that
// decides nothing holds every checkout.
type Health = txnhealth.Health

// Stats returns the counters.
func (p *Processor) Stats() *Stats { return &p.stats }

// Ready is closed once the first session has its first assignment.
func (p *Processor) Ready() <-chan struct{} { return p.ready }

// errFatal ends a session: the next one starts from what Kafka committed.
var errFatal = errors.New("inventory session fatal")

// Run processes requests until ctx ends. A fatal transactional error
// rebuilds the session (new producer, which fences the old one; new
// consumer; levels restored from inventory.stock) after a backoff.
func (p *Processor) Run(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		err := p.session(ctx)
		p.health.Left()
		p.stats.OwnedPartitions.Store(0)
		if ctx.Err() != nil {
			return nil
		}
		if !errors.Is(err, errFatal) {
			return err
		}
		p.stats.Restarts.Add(1)
		d := min(time.Duration(attempt)*200*time.Millisecond, 5*time.Second)
		p.log.Warn("rebuilding the inventory session", "err", err, "attempt", attempt, "after", d)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil
		}
	}
}

// session is one consumer and one transactional producer. Everything runs
// on Run's goroutine: Poll (and so the rebalance callback) is only called
// between transactions, so a revocation never meets an open one.
type session struct {
	p      *Processor
	cons   *kafka.Consumer
	prod   *kafka.Producer
	levels map[int32]map[cart.SKU]inventory.Level // committed, by owned partition
	parts  int                                    // partitions of inventory.requests
	batch  []*kafka.Message
	err    error // set by the rebalance callback
}

func (p *Processor) session(ctx context.Context) error {
	prod, err := kafka.NewProducer(p.cfg.producerConfig())
	if err != nil {
		return fmt.Errorf("new producer: %w", err)
	}
	events := make(chan struct{})
	go func() {
		defer close(events)
		for ev := range prod.Events() {
			switch e := ev.(type) {
			case *kafka.Message:
				if e.TopicPartition.Error != nil {
					p.log.Warn("delivery failed", "topic", *e.TopicPartition.Topic, "err", e.TopicPartition.Error)
				}
			case *kafka.Stats:
				p.kafkaStats("producer", e)
			}
		}
	}()
	defer p.within("producer", func() { prod.Close(); <-events })
	ictx, cancel := context.WithTimeout(ctx, p.cfg.CommitTimeout+p.cfg.TransactionTimeout)
	err = prod.InitTransactions(ictx)
	cancel()
	if err != nil {
		return fmt.Errorf("%w: init transactions of %s: %w", errFatal, p.cfg.TransactionalID(), err)
	}
	cons, err := kafka.NewConsumer(p.cfg.consumerConfig())
	if err != nil {
		return fmt.Errorf("new consumer: %w", err)
	}
	defer p.within("consumer", func() { _ = cons.Close() })
	s := &session{p: p, cons: cons, prod: prod, levels: map[int32]map[cart.SKU]inventory.Level{}}
	if err := cons.Subscribe(p.cfg.Topics.Inventory, s.rebalance); err != nil {
		return fmt.Errorf("subscribe %s: %w", p.cfg.Topics.Inventory, err)
	}
	return s.loop(ctx)
}

func (s *session) loop(ctx context.Context) error {
	for ctx.Err() == nil {
		if err := s.fill(); err != nil {
			return err
		}
		if len(s.batch) == 0 {
			continue
		}
		batch := s.batch
		s.batch = nil
		if err := s.transact(batch); err != nil {
			return err
		}
	}
	return nil
}

// fill polls until a batch is ready: whatever arrived, up to MaxBatch,
// without waiting once there is something.
func (s *session) fill() error {
	wait := 100
	for len(s.batch) < s.p.cfg.MaxBatch {
		ev := s.cons.Poll(wait)
		if s.err != nil {
			return s.err
		}
		switch e := ev.(type) {
		case nil:
			return nil
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				return fmt.Errorf("%w: consume: %w", errFatal, e.TopicPartition.Error)
			}
			if _, owned := s.levels[e.TopicPartition.Partition]; owned {
				s.batch = append(s.batch, e)
			}
			wait = 0
		case *kafka.Stats:
			s.p.kafkaStats("consumer", e)
		case kafka.Error:
			if e.IsFatal() {
				return fmt.Errorf("%w: consumer: %w", errFatal, e)
			}
			s.p.log.Warn("consumer error", "err", e)
		}
	}
	return nil
}

// rebalance restores the levels of assigned partitions before the
// consumer reads them, and forgets revoked ones (and their records polled
// but not yet in a transaction: the next owner reads them again).
func (s *session) rebalance(c *kafka.Consumer, ev kafka.Event) error {
	switch e := ev.(type) {
	case kafka.AssignedPartitions:
		if err := s.assign(e.Partitions); err != nil {
			s.err = fmt.Errorf("%w: assign: %w", errFatal, err)
			return err
		}
		if err := c.Assign(e.Partitions); err != nil {
			return err
		}
		s.p.stats.OwnedPartitions.Store(int64(len(s.levels)))
		s.p.health.Joined()
		select {
		case <-s.p.ready:
		default:
			close(s.p.ready)
		}
		return nil
	case kafka.RevokedPartitions:
		for _, tp := range e.Partitions {
			delete(s.levels, tp.Partition)
		}
		s.p.stats.OwnedPartitions.Store(int64(len(s.levels)))
		kept := s.batch[:0]
		for _, m := range s.batch {
			if _, ok := s.levels[m.TopicPartition.Partition]; ok {
				kept = append(kept, m)
			}
		}
		s.batch = kept
		return c.Unassign()
	}
	return nil
}

// closeTimeout bounds how long a session waits for its consumer and its
// producer to close.
const closeTimeout = 10 * time.Second

// within runs f, a client's close, waiting at most closeTimeout: a fenced
// static member's consumer, or a producer whose coordinator is gone, can
// take minutes to close (validation/manager.go saw it). An abandoned
// client goes on closing in the background; the next session's clients
// fence it.
func (p *Processor) within(what string, f func()) {
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
	case <-time.After(closeTimeout):
		p.log.Error("close did not finish; abandoning it (the next session fences it)", "client", what, "after", closeTimeout)
	}
}

// kafkaStats hands a client's librdkafka statistics to Config.KafkaStats.
func (p *Processor) kafkaStats(client string, st *kafka.Stats) {
	if f := p.cfg.KafkaStats; f != nil {
		f(client, st.String())
	}
}
