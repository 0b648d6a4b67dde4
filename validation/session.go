package validation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
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
// partition: the latest snapshot of each of its carts.
type partitionState struct {
	carts map[cart.CartID]cart.Snapshot
}

// polled is a record and the assignment epoch of its partition when it was
// polled: a record whose partition was revoked (and maybe reassigned) since
// is dropped, because the partition restarts from its committed offset.
type polled struct {
	msg   *kafka.Message
	epoch uint64
	at    time.Time
}

type session struct {
	m         *Manager
	prod      *kafka.Producer
	cons      *kafka.Consumer
	requests  string
	owned     map[int32]*partitionState
	epoch     map[int32]uint64
	err       error // set by the rebalance callback; ends the session
	lastStats time.Time
	// concurrent counts the producer's CONCURRENT_TRANSACTIONS retries.
	concurrent        *atomic.Int64
	concurrentAtStart int64
}

func newSession(m *Manager, prod *kafka.Producer, cons *kafka.Consumer, concurrent *atomic.Int64) *session {
	return &session{
		m: m, prod: prod, cons: cons, requests: m.cfg.Topics.Requests, concurrent: concurrent,
		owned: map[int32]*partitionState{}, epoch: map[int32]uint64{}, lastStats: time.Now(),
	}
}

func (s *session) close() {
	if err := s.cons.Close(); err != nil {
		s.m.log.Warn("close consumer", "err", err)
	}
}

func (s *session) run(ctx context.Context) error {
	for ctx.Err() == nil {
		batch, err := s.fill()
		if err != nil {
			return err
		}
		if len(batch) > 0 {
			if err := s.process(batch); err != nil && !errors.Is(err, errAborted) {
				return err
			}
		}
		if time.Since(s.lastStats) >= s.m.cfg.StatsInterval {
			s.lastStats = time.Now()
			s.m.logStats("periodic")
		}
	}
	return ctx.Err()
}

// fill polls what has arrived, waiting briefly only for the first record:
// the batch is whatever accumulated while the previous commit was in flight,
// capped by count and bytes.
func (s *session) fill() ([]polled, error) {
	cfg := s.m.cfg
	var out []polled
	size, timeout := 0, 100
	for len(out) < cfg.MaxBatchRecords && size < cfg.MaxBatchBytes {
		ev := s.cons.Poll(timeout)
		if s.err != nil {
			return nil, s.err
		}
		if ev == nil {
			break
		}
		switch e := ev.(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				s.m.log.Warn("consume error", "partition", e.TopicPartition.Partition, "err", e.TopicPartition.Error)
				continue
			}
			p := e.TopicPartition.Partition
			if _, ok := s.owned[p]; !ok {
				continue
			}
			out = append(out, polled{msg: e, epoch: s.epoch[p], at: time.Now()})
			size += len(e.Key) + len(e.Value)
			timeout = 0
		case kafka.Error:
			if e.IsFatal() {
				return nil, fmt.Errorf("%w: consumer: %w", errSessionFatal, e)
			}
			s.m.log.Warn("consumer error", "err", e)
		}
	}
	kept := out[:0]
	for _, r := range out {
		p := r.msg.TopicPartition.Partition
		if _, ok := s.owned[p]; ok && s.epoch[p] == r.epoch {
			kept = append(kept, r)
		}
	}
	return kept, nil
}

type pending struct {
	partition int32
	snap      cart.Snapshot
}

// batchTxn is one batch's transaction in the making: the records to write
// and the carts' next snapshots, which join the committed state only when
// the transaction commits.
type batchTxn struct {
	overlay map[cart.CartID]*pending
	order   []cart.CartID // carts in the order the batch first touched them
	out     []*kafka.Message
	starts  map[int32]kafka.Offset // first offset of each partition: where an abort rewinds to
	offsets []kafka.TopicPartition // last processed + 1 of each partition
	trace   TxnTrace
}

func (s *session) newBatchTxn(batch []polled) *batchTxn {
	b := &batchTxn{overlay: map[cart.CartID]*pending{}, starts: map[int32]kafka.Offset{}}
	next := map[int32]kafka.Offset{}
	for _, r := range batch {
		tp := r.msg.TopicPartition
		if _, ok := b.starts[tp.Partition]; !ok {
			b.starts[tp.Partition] = tp.Offset
		}
		next[tp.Partition] = tp.Offset + 1
	}
	for p, o := range next {
		b.offsets = append(b.offsets, kafka.TopicPartition{Topic: &s.requests, Partition: p, Offset: o})
	}
	slices.SortFunc(b.offsets, func(a, b kafka.TopicPartition) int { return int(a.Partition - b.Partition) })
	if s.m.cfg.Observer != nil {
		b.trace.Requests = make([]RequestTrace, len(batch))
		for i, r := range batch {
			tp := r.msg.TopicPartition
			b.trace.Requests[i] = RequestTrace{RequestID: headerValue(r.msg, HeaderRequestID), Partition: tp.Partition, Offset: int64(tp.Offset), Polled: r.at}
		}
	}
	return b
}

// process runs one batch in one transaction. On success the batch's state
// changes join the committed state; on abort they are dropped and the
// consumer is rewound; on a fatal error the session ends.
//
// The consumed offsets are sent first, while the batch is being decided:
// AddOffsetsToTxn is the transaction's first request to the coordinator, so
// it is the one that waits while the coordinator still writes the previous
// transaction's markers, and librdkafka retries it after retry.backoff.ms
// (5 ms here) where a first AddPartitionsToTxn would wait a fixed 20 ms.
// Once it has returned, the records' AddPartitionsToTxn goes through at
// once. Order inside a transaction does not matter to what commits.
func (s *session) process(batch []polled) error {
	b := s.newBatchTxn(batch)
	s.concurrentAtStart = s.concurrent.Load()
	if err := s.prod.BeginTransaction(); err != nil {
		return s.end(b, fmt.Errorf("%w: begin transaction: %w", errSessionFatal, err))
	}
	b.trace.Began = time.Now()
	meta, err := s.cons.GetConsumerGroupMetadata()
	if err != nil {
		return s.end(b, fmt.Errorf("%w: group metadata: %w", errSessionFatal, err))
	}
	sent := make(chan error, 1)
	go func() {
		sent <- s.retrying("send offsets", func(ctx context.Context) error {
			return s.prod.SendOffsetsToTransaction(ctx, b.offsets, meta)
		})
	}()
	derr := s.decide(b, batch)
	b.trace.Decided = time.Now()
	// Wait for the offsets whatever happened: no other transactional call
	// may overlap SendOffsetsToTransaction, the abort included.
	serr := <-sent
	b.trace.OffsetsSent = time.Now()
	if err := errors.Join(derr, serr); err != nil {
		return s.end(b, err)
	}
	for _, msg := range b.out {
		if err := s.produce(msg); err != nil {
			return s.end(b, err)
		}
	}
	b.trace.Produced = time.Now()
	if err := s.retrying("commit", s.prod.CommitTransaction); err != nil {
		return s.end(b, err)
	}
	for id, pd := range b.overlay {
		if ps, ok := s.owned[pd.partition]; ok {
			ps.carts[id] = pd.snap
		}
	}
	// The commit time is what the batch waits on Kafka once decided.
	s.m.stats.observeCommit(time.Since(b.trace.Decided))
	return s.end(b, nil)
}

// decide runs every record of the batch through the domain and encodes
// the outcomes and the touched carts' snapshots into b.out.
func (s *session) decide(b *batchTxn, batch []polled) error {
	now := s.m.cfg.Now()
	for _, r := range batch {
		id, snap, err := s.handle(b, r.msg, now)
		if err != nil {
			return err
		}
		if snap == nil {
			continue
		}
		if _, seen := b.overlay[id]; !seen {
			b.order = append(b.order, id)
		}
		b.overlay[id] = &pending{partition: r.msg.TopicPartition.Partition, snap: *snap}
	}
	for _, id := range b.order {
		pd := b.overlay[id]
		value, err := s.m.cfg.Records.EncodeSnapshot(pd.snap)
		if err != nil {
			return fmt.Errorf("%w: encode snapshot of cart %s: %w", errSessionFatal, id, err)
		}
		b.add(s.m.cfg.Topics.State, pd.partition, []byte(id), value, nil)
	}
	return nil
}

func (b *batchTxn) add(topic string, partition int32, key, value []byte, hdrs []kafka.Header) {
	b.out = append(b.out, &kafka.Message{
		// The outcome goes to the partition of the request: the topics are
		// co-partitioned, and an explicit partition keeps a malformed
		// record with an odd key beside its neighbours.
		TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: partition},
		Key:            key, Value: value, Headers: hdrs,
	})
}

// end finishes a batch: a failed one is aborted or ends the session (see
// fail), and the observer hears how it went.
func (s *session) end(b *batchTxn, err error) error {
	if err != nil {
		err = s.fail(err, b.starts)
	}
	b.trace.Ended = time.Now()
	switch {
	case err == nil:
		b.trace.Outcome = TxnCommitted
	case errors.Is(err, errAborted):
		b.trace.Outcome = TxnAborted
	default:
		b.trace.Outcome = TxnFailed
	}
	if obs := s.m.cfg.Observer; obs != nil {
		b.trace.Records = len(b.out)
		b.trace.ConcurrentRetries = s.concurrent.Load() - s.concurrentAtStart
		obs.TransactionEnded(b.trace)
	}
	return err
}

// handle decides one record and produces its outcome. It returns the cart's
// next snapshot, or nil when nothing about the cart changes (a stale
// redelivery or a malformed record).
func (s *session) handle(b *batchTxn, msg *kafka.Message, now time.Time) (cart.CartID, *cart.Snapshot, error) {
	tp := msg.TopicPartition
	cmd, err := s.m.cfg.Records.DecodeRequest(msg.Value)
	if err == nil && string(cmd.Meta().CartID) != string(msg.Key) {
		err = fmt.Errorf("record key does not match cart id %q", cmd.Meta().CartID)
	}
	if err != nil {
		return "", nil, s.malformed(b, msg, err, now)
	}
	id := cmd.Meta().CartID
	var snap cart.Snapshot
	if pd, ok := b.overlay[id]; ok {
		snap = pd.snap
	} else if cur, ok := s.owned[tp.Partition].carts[id]; ok {
		snap = cur
	} else {
		snap = cart.NewSnapshot(id)
	}
	nextSnap, out := cart.Process(snap, cmd, int64(tp.Offset), s.m.catalog, s.m.cfg.Limits, now)
	trace := headerValue(msg, HeaderTraceparent)
	st := &s.m.stats
	switch out.Disposition {
	case cart.DispositionAccepted:
		st.Processed.Add(1)
		st.Accepted.Add(1)
		for _, ev := range out.Events {
			value, err := s.m.cfg.Records.EncodeValidated(ev)
			if err != nil {
				return "", nil, fmt.Errorf("%w: encode %s of cart %s: %w", errSessionFatal, ev.EventType(), id, err)
			}
			hdrs := outcomeHeaders(string(cmd.Meta().RequestID), ev.EventType().String(), trace, tp.Offset)
			b.add(s.m.cfg.Topics.Validated, tp.Partition, msg.Key, value, hdrs)
		}
	case cart.DispositionRejected:
		st.Processed.Add(1)
		st.Rejected.Add(1)
		value, err := s.m.cfg.Records.EncodeInvalid(*out.Invalid)
		if err != nil {
			return "", nil, fmt.Errorf("%w: encode rejection of cart %s: %w", errSessionFatal, id, err)
		}
		hdrs := outcomeHeaders(string(cmd.Meta().RequestID), out.Invalid.EventType().String(), trace, tp.Offset)
		b.add(s.m.cfg.Topics.Invalid, tp.Partition, msg.Key, value, hdrs)
	case cart.DispositionDuplicate:
		st.Duplicates.Add(1)
	case cart.DispositionStale:
		st.Stale.Add(1)
		return id, nil, nil
	default:
		return "", nil, fmt.Errorf("%w: unknown disposition %v", errSessionFatal, out.Disposition)
	}
	return id, &nextSnap, nil
}

// malformed routes an undecodable record to cart.invalid with its raw bytes.
func (s *session) malformed(b *batchTxn, msg *kafka.Message, cause error, now time.Time) error {
	s.m.stats.Malformed.Add(1)
	raw := msg.Value
	text := "record could not be decoded: " + cause.Error()
	if len(raw) > MaxMalformedRaw {
		text += fmt.Sprintf(" (raw bytes truncated from %d to %d)", len(raw), MaxMalformedRaw)
		raw = raw[:MaxMalformedRaw]
	}
	inv := cart.InvalidRequest{
		DecidedAt: now.UTC(),
		Rejection: cart.Rejection{Reason: cart.ReasonMalformed, Message: text},
		Raw:       raw,
	}
	if id := cart.CartID(msg.Key); id.Validate() == nil {
		inv.CartID = id
	}
	value, err := s.m.cfg.Records.EncodeInvalid(inv)
	if err != nil {
		return fmt.Errorf("%w: encode malformed record: %w", errSessionFatal, err)
	}
	s.m.log.Warn("malformed request", "partition", msg.TopicPartition.Partition, "offset", msg.TopicPartition.Offset, "err", cause)
	hdrs := outcomeHeaders(headerValue(msg, HeaderRequestID), "MalformedRequest", headerValue(msg, HeaderTraceparent), msg.TopicPartition.Offset)
	b.add(s.m.cfg.Topics.Invalid, msg.TopicPartition.Partition, msg.Key, value, hdrs)
	return nil
}

func (s *session) produce(msg *kafka.Message) error {
	for {
		err := s.prod.Produce(msg, nil)
		if err == nil {
			return nil
		}
		var ke kafka.Error
		if errors.As(err, &ke) && ke.Code() == kafka.ErrQueueFull {
			s.prod.Flush(100) // wait for room
			continue
		}
		return fmt.Errorf("%w: produce to %s: %w", errSessionFatal, *msg.TopicPartition.Topic, err)
	}
}

// retrying runs a transactional call, repeating it while librdkafka calls
// the error retriable, until CommitTimeout: an outcome still unknown then is
// fatal.
func (s *session) retrying(what string, call func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.m.cfg.CommitTimeout)
	defer cancel()
	for {
		err := call(ctx)
		if err == nil {
			return nil
		}
		switch classify(err) {
		case actRetry:
			s.m.log.Warn("retrying transactional call", "call", what, "err", err)
			select {
			case <-ctx.Done():
				return fmt.Errorf("%w: %s: outcome unknown after %s: %w", errSessionFatal, what, s.m.cfg.CommitTimeout, err)
			case <-time.After(100 * time.Millisecond):
			}
		case actAbort:
			return fmt.Errorf("%s: %w", what, err)
		default:
			return fmt.Errorf("%w: %s: %w", errSessionFatal, what, err)
		}
	}
}

// fail ends a batch that could not commit. A fatal error ends the session
// (the next one restores from Kafka); anything else aborts the transaction
// and rewinds both the consumer and, by dropping the overlay, the state.
func (s *session) fail(err error, starts map[int32]kafka.Offset) error {
	if errors.Is(err, errSessionFatal) {
		return err
	}
	s.m.log.Warn("aborting transaction", "err", err)
	if aerr := s.retrying("abort", s.prod.AbortTransaction); aerr != nil {
		return fmt.Errorf("%w: abort after %v: %w", errSessionFatal, err, aerr)
	}
	s.m.stats.Aborts.Add(1)
	for p, off := range starts {
		if _, ok := s.owned[p]; !ok {
			continue
		}
		if serr := s.cons.Seek(kafka.TopicPartition{Topic: &s.requests, Partition: p, Offset: off}, 0); serr != nil {
			return fmt.Errorf("%w: rewind partition %d to %d: %w", errSessionFatal, p, off, serr)
		}
	}
	return fmt.Errorf("%w: %w", errAborted, err)
}

func headerValue(msg *kafka.Message, key string) string {
	for _, h := range msg.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func outcomeHeaders(requestID, eventType, traceparent string, requestOffset kafka.Offset) []kafka.Header {
	h := []kafka.Header{
		{Key: HeaderRequestID, Value: []byte(requestID)},
		{Key: HeaderEventType, Value: []byte(eventType)},
		{Key: HeaderRequestOffset, Value: strconv.AppendInt(nil, int64(requestOffset), 10)},
	}
	if traceparent != "" {
		h = append(h, kafka.Header{Key: HeaderTraceparent, Value: []byte(traceparent)})
	}
	return h
}
