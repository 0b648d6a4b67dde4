package validation

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
)

// Record headers every outcome carries.
const (
	HeaderRequestID   = "request-id"
	HeaderEventType   = "event-type"
	HeaderTraceparent = "traceparent"
	// HeaderRequestOffset is the offset of the request in its cart.requests
	// partition (decimal): readers order a cart's events and rejections,
	// which live in two topics, by it.
	HeaderRequestOffset = "request-offset"
)

// MaxMalformedRaw caps the raw bytes a MALFORMED record carries, so an
// oversize input can never make its own dead letter too large to produce
// (which would abort every transaction that tries to skip it).
const MaxMalformedRaw = 64 << 10

// partitionState is the committed state of one owned cart.requests
// partition: the latest snapshot of each of its carts, and the carts whose
// latest snapshot does not decode (quarantine.go).
type partitionState struct {
	carts       map[cart.CartID]cart.Snapshot
	quarantined map[cart.CartID]quarantine // nil while none
}

// polled is a record and when the poll returned it.
type polled struct {
	msg *kafka.Message
	at  time.Time
}

// partition is an owned cart.requests partition as the scheduler sees it.
type partition struct {
	id    int32
	state *partitionState
	// pending are polled records not yet in a job, in offset order.
	pending []polled
	// busy: a job holds the partition (and its state) until it ends.
	busy bool
	// revoking: the group took the partition away; it goes once not busy.
	revoking bool
	// lost: the group gave the partition to another member while a job
	// held it (a lost assignment); the job aborts instead of committing.
	// Set by the scheduler, read by the job's worker.
	lost atomic.Bool
	// aborts counts the partition's transactions aborted in a row; its
	// next job waits until retryAt (abortBackoff).
	aborts  int
	retryAt time.Time
	// carts is len(state.carts) as of the last time no job held the
	// partition: the Stats.Carts gauge's share.
	carts int
}

// session is one consumer's lifetime with its pool of transactional
// producers (workers).
//
// One goroutine, the scheduler (run), owns everything below; the poller
// goroutine hands it records and rebalances over events, the workers hand
// back finished jobs over results. A job takes partitions that no other job
// holds, so transactions in flight at once never touch the same partition,
// cart, or offset, and need no order among them: each commits or aborts on
// its own. Consecutive transactions of a partition go to different
// producers, so one never waits for the coordinator to finish the other's
// markers.
type session struct {
	m       *Manager
	cons    *kafka.Consumer
	parts   map[int32]*partition
	workers []*worker
	free    []*worker // idle workers, the longest idle first
	results chan jobResult
	events  chan pollEvent
	waiting []*revocation
	queued  int // records in all pending lists
	// maxQueued bounds the records polled ahead of the jobs: past it the
	// scheduler stops taking the poller's events, so the poller stops.
	maxQueued int
	// pollCtx ends with the poller; pollErr is set by the rebalance
	// callback. Both belong to the poller goroutine (and to Close after it).
	pollCtx context.Context
	pollErr error
	// partitions is how many partitions cart.requests had at the latest
	// assignment (a rebalance follows when partitions are added).
	partitions int
	// joined: the session has had its first (possibly empty) assignment.
	joined bool
	// cooperative is the group's rebalance protocol, known from the
	// configured assignment strategy. The rebalance callback must not ask
	// the consumer (GetRebalanceProtocol): called from the callback that
	// Consumer.Close triggers, rd_kafka_rebalance_protocol can block
	// forever (librdkafka #4041, confluent-kafka-go #1016); TestChaos saw
	// a manager stuck there for minutes after broker restarts.
	cooperative bool
	// expiry is the idle-cart scan's state (expiry.go).
	expiry expiryScan
}

// shutdownGrace is how long a stopping manager waits for the transactions
// in flight to commit.
const shutdownGrace = 5 * time.Second

func newSession(m *Manager, cons *kafka.Consumer, workers []*worker) *session {
	s := &session{
		m: m, cons: cons, parts: map[int32]*partition{}, workers: workers,
		free:      slices.Clone(workers),
		results:   make(chan jobResult, len(workers)),
		events:    make(chan pollEvent),
		maxQueued: m.cfg.MaxBatchRecords * (len(workers) + 1),
	}
	strategy, _ := m.cfg.consumerConfig().Get("partition.assignment.strategy", "")
	s.cooperative = strategy == "cooperative-sticky"
	return s
}

// run schedules jobs until ctx ends (then it lets the jobs in flight finish)
// or an error ends the session. It stops the poller and the workers before
// it returns; the caller closes the consumer and the producers.
func (s *session) run(ctx context.Context) error {
	// A stop lets the transactions in flight finish, for shutdownGrace:
	// past it, their calls give up (the outcome is then unknown, which the
	// next owner's InitTransactions settles by aborting).
	wctx, stopWorkers := context.WithCancel(context.Background())
	defer stopWorkers()
	unhook := context.AfterFunc(ctx, func() { time.AfterFunc(shutdownGrace, stopWorkers) })
	defer unhook()
	for _, w := range s.workers {
		w.stop = wctx
	}
	var wg sync.WaitGroup
	for _, w := range s.workers {
		wg.Add(1)
		go func() { defer wg.Done(); w.run(s.results) }()
	}
	pctx, stopPoll := context.WithCancel(ctx)
	s.pollCtx = pctx
	polling := make(chan struct{})
	go func() { defer close(polling); s.poll(pctx) }()

	err := s.loop(ctx)
	s.closeExpiry()
	stopPoll()
	<-polling
	for _, w := range s.workers {
		close(w.jobs)
	}
	wg.Wait() // a worker finishes the job it holds; results is buffered for it
	return err
}

func (s *session) loop(ctx context.Context) error {
	tick := time.NewTicker(s.m.cfg.StatsInterval)
	defer tick.Stop()
	scan := time.NewTicker(s.m.cfg.ExpiryScan)
	defer scan.Stop()
	for {
		if ctx.Err() != nil {
			return s.finishJobs()
		}
		wake := s.schedule()
		events := s.events
		if s.queued >= s.maxQueued {
			events = nil // backpressure: the poller waits
		}
		select {
		case <-wake:
		case ev := <-events:
			if err := s.onEvent(ev); err != nil {
				return err
			}
		case r := <-s.results:
			if err := s.onResult(r); err != nil {
				return err
			}
		case <-tick.C:
			s.m.logStats("periodic")
		case <-scan.C:
			s.scanExpiry(s.m.cfg.Now()) // the clock the decisions use

		case <-ctx.Done():
		}
		s.m.stats.OwnedPartitions.Store(int64(len(s.parts)))
		s.countCarts()
	}
}

// finishJobs waits for the jobs in flight on a graceful stop.
func (s *session) finishJobs() error {
	var errs []error
	for len(s.free) < len(s.workers) {
		if err := s.onResult(<-s.results); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// schedule hands work to idle workers: each job takes the pending records
// of partitions no job holds, oldest first, up to the batch caps. A batch is
// therefore whatever arrived while the previous transactions were in
// flight: one request alone goes at once. It returns a timer for the
// earliest partition still backing off after aborts (nil if none).
func (s *session) schedule() <-chan time.Time {
	now := time.Now()
	for len(s.free) > 0 {
		j := s.nextJob(now)
		if j == nil {
			break
		}
		w := s.free[0]
		s.free = s.free[1:]
		w.jobs <- j // an idle worker's channel has room
	}
	var next time.Time
	for _, p := range s.parts {
		if !p.busy && len(p.pending) > 0 && p.retryAt.After(now) && (next.IsZero() || p.retryAt.Before(next)) {
			next = p.retryAt
		}
	}
	if next.IsZero() {
		return nil
	}
	return time.After(next.Sub(now))
}

func (s *session) nextJob(now time.Time) *job {
	ready := make([]*partition, 0, len(s.parts))
	for _, p := range s.parts {
		if !p.busy && !p.revoking && len(p.pending) > 0 && !p.retryAt.After(now) {
			ready = append(ready, p)
		}
	}
	if len(ready) == 0 {
		return nil
	}
	slices.SortFunc(ready, func(a, b *partition) int { return a.pending[0].at.Compare(b.pending[0].at) })
	cfg := s.m.cfg
	j := &job{parts: map[int32]*partition{}, partitions: s.partitions}
	size := 0
	for _, p := range ready {
		if len(j.records) >= cfg.MaxBatchRecords || size >= cfg.MaxBatchBytes {
			break
		}
		n := 0
		for n < len(p.pending) && len(j.records) < cfg.MaxBatchRecords && size < cfg.MaxBatchBytes {
			r := p.pending[n]
			j.records = append(j.records, r)
			size += len(r.msg.Key) + len(r.msg.Value)
			n++
		}
		// The taken records leave the queue's array too: a re-slice alone
		// kept up to a batch of them (their keys, values and headers)
		// alive per partition until the array was next reallocated.
		clear(p.pending[:n])
		p.pending = p.pending[n:]
		if len(p.pending) == 0 {
			p.pending = nil
		}
		s.queued -= n
		p.busy = true
		j.parts[p.id] = p
	}
	return j
}

// onResult takes a worker's finished job back: the partitions are free
// again, an aborted job's records go back to the front of their partitions'
// queues after a backoff, and a fatal error ends the session.
func (s *session) onResult(r jobResult) error {
	s.free = append(s.free, r.w)
	for _, p := range r.job.parts {
		p.busy = false
		p.carts = len(p.state.carts) // the worker is done with it
	}
	switch {
	case r.err == nil:
		for _, p := range r.job.parts {
			p.aborts, p.retryAt = 0, time.Time{}
		}
		s.m.health.Committed()
	case errors.Is(r.err, errAborted):
		s.m.health.FailedCommit()
		s.requeue(r.job)
		s.backOff(r)
	default:
		s.m.health.FailedCommit()
	}
	s.finishRevocations()
	if r.err != nil && !errors.Is(r.err, errAborted) {
		return r.err
	}
	return nil
}

// backOff holds an aborted job's partitions back before their next
// transaction: whatever made it abort (a coordinator moving, a broker
// restarting, an input the producer refuses) is given time, and a
// partition that aborts over and over does not spin.
func (s *session) backOff(r jobResult) {
	attempt := 0
	for _, p := range r.job.parts {
		attempt = max(attempt, p.aborts+1)
	}
	d := abortBackoff.delay(attempt)
	at := time.Now().Add(d)
	for _, p := range r.job.parts {
		p.aborts, p.retryAt = attempt, at
	}
	s.m.log.Warn("transaction aborted; backing off", "producer", r.w.id, "partitions", r.job.partitionIDs(), "attempt", attempt, "after", d, "err", r.err)
}

// requeue puts an aborted job's records back ahead of what was polled after
// them, for the partitions still owned.
func (s *session) requeue(j *job) {
	byPart := map[int32][]polled{}
	for _, r := range j.records {
		p := r.msg.TopicPartition.Partition
		byPart[p] = append(byPart[p], r)
	}
	for id, rs := range byPart {
		p := j.parts[id]
		if s.parts[id] != p || p.revoking {
			continue // gone: the next owner starts from the committed offset
		}
		p.pending = append(rs, p.pending...)
		s.queued += len(rs)
	}
}

// onEvent applies what the poller saw, in the order it saw it.
func (s *session) onEvent(ev pollEvent) error {
	switch {
	case ev.err != nil:
		return ev.err
	case ev.assigned != nil:
		s.partitions = ev.assigned.count
		for _, p := range ev.assigned.parts {
			p.carts = len(p.state.carts)
			s.parts[p.id] = p
		}
		if !s.joined {
			s.joined = true
			s.m.health.Joined()
		}
	case ev.revoked != nil:
		for _, id := range ev.revoked.parts {
			if p := s.parts[id]; p != nil {
				p.revoking = true
				p.lost.Store(ev.revoked.lost)
				s.queued -= len(p.pending)
				p.pending = nil
			}
		}
		s.waiting = append(s.waiting, ev.revoked)
		s.finishRevocations()
	default:
		for _, r := range ev.records {
			p := s.parts[r.msg.TopicPartition.Partition]
			if p == nil || p.revoking {
				continue
			}
			p.pending = append(p.pending, r)
			s.queued++
		}
	}
	return nil
}

// countCarts updates the Stats.Carts gauge.
func (s *session) countCarts() {
	n := 0
	for _, p := range s.parts {
		n += p.carts
	}
	s.m.stats.Carts.Store(int64(n))
}

// finishRevocations releases the poller's rebalance callback once no job
// holds a revoked partition: the transaction that held it has committed (or
// aborted, if the assignment was lost) before the revocation returns.
func (s *session) finishRevocations() {
	s.waiting = slices.DeleteFunc(s.waiting, func(rv *revocation) bool {
		for _, id := range rv.parts {
			if p := s.parts[id]; p != nil && p.busy {
				return false
			}
		}
		for _, id := range rv.parts {
			delete(s.parts, id)
		}
		close(rv.done)
		return true
	})
}

func partitionIDs(tps []kafka.TopicPartition) []int32 {
	out := make([]int32, len(tps))
	for i, tp := range tps {
		out[i] = tp.Partition
	}
	slices.SortFunc(out, cmp.Compare[int32])
	return out
}
