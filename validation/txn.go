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
	keyhash "github.com/cartstream/cartstream/internal/partition"
	"github.com/cartstream/cartstream/internal/tracing"
	"github.com/cartstream/cartstream/inventory"
)

// worker owns one transactional producer and runs one job at a time: a
// batch of requests of partitions that no other job holds.
type worker struct {
	id   int
	m    *Manager
	prod *kafka.Producer
	cons *kafka.Consumer // for the group metadata the offsets are sent with
	jobs chan *job
	// concurrent counts this producer's CONCURRENT_TRANSACTIONS retries.
	concurrent *atomic.Int64
	// lastEnd is when this producer's previous transaction ended.
	lastEnd time.Time
	// stuck is set once a transactional call of prod never returned: the
	// producer is abandoned, never closed (closing a client that a call
	// is blocked in is unsafe), and its statistics are no longer reported.
	stuck atomic.Bool
	// stop ends the transactional calls' waits: shutdownGrace after the
	// manager is asked to stop (session.run), so a stop during a broker
	// outage is not held for CommitTimeout. Nil: never.
	stop context.Context
}

// markerGrace is how long after a transaction ends its producer counts as
// busy with the coordinator's marker writes: a transaction that starts
// later sends its records at once, beside the offsets, instead of after
// them (see transact).
const markerGrace = 10 * time.Millisecond

// job is one transaction's input: the requests, partition by partition in
// offset order, and the partitions, whose committed state the job alone
// reads and writes until it ends.
type job struct {
	records []polled
	parts   map[int32]*partition
	// partitions is how many partitions cart.requests had at the latest
	// assignment: the modulus of the placement check (0: unknown).
	partitions int
}

// partitionIDs are the job's partitions, in order.
func (j *job) partitionIDs() []int32 {
	ids := make([]int32, 0, len(j.parts))
	for id := range j.parts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// assignmentLost says whether the group gave one of the job's partitions
// to another member while the job held it.
func (j *job) assignmentLost() bool {
	for _, p := range j.parts {
		if p.lost.Load() {
			return true
		}
	}
	return false
}

// jobResult says how a job ended: err is nil when it committed, wraps
// errAborted when it was aborted (its records are processed again), and
// wraps errSessionFatal otherwise.
type jobResult struct {
	w   *worker
	job *job
	err error
}

// run serves jobs until the channel closes.
func (w *worker) run(results chan<- jobResult) {
	for j := range w.jobs {
		results <- jobResult{w: w, job: j, err: w.process(j)}
	}
}

type pending struct {
	partition int32
	snap      cart.Snapshot
	trace     string // traceparent the snapshot carries (txnSpans.snapshotTrace)
	// gone: the cart expired in this batch; cart.state gets a tombstone
	// and the manager forgets it when the transaction commits.
	gone bool
}

// tally counts a transaction's outcomes; they reach Stats only when it
// commits, so the counters never count aborted work.
type tally struct {
	processed, accepted, rejected, duplicates, stale, malformed int64
	quarantined                                                 int64 // rejections of quarantined carts (also in rejected)
	orders                                                      int64 // OrderPlaced records
	expired                                                     int64 // carts expired
	reservations, releases, answers                             int64 // inventory requests written, answers taken
	rejectedBy                                                  [reasonSlots]int64
}

// reject counts one rejection of reason r.
func (t *tally) reject(r cart.Reason) {
	t.processed++
	t.rejected++
	if int(r) < reasonSlots {
		t.rejectedBy[r]++
	}
}

// batchTxn is one job's transaction in the making: the records to write and
// the carts' next snapshots, which join the committed state only when the
// transaction commits.
type batchTxn struct {
	overlay map[cart.CartID]*pending
	order   []cart.CartID          // carts in the order the batch first touched them
	out     []kafka.Message        // values: one allocation per batch, not per record
	offsets []kafka.TopicPartition // last processed + 1 of each partition
	tally   tally
	trace   TxnTrace
	spans   txnSpans
}

func (w *worker) newBatchTxn(j *job) *batchTxn {
	b := &batchTxn{overlay: make(map[cart.CartID]*pending, len(j.records)), trace: TxnTrace{Lane: w.id}, spans: newTxnSpans(w),
		out: make([]kafka.Message, 0, 2*len(j.records))} // an outcome and a snapshot each, at most (but a checkout)

	next := map[int32]kafka.Offset{}
	for _, r := range j.records {
		next[r.msg.TopicPartition.Partition] = r.msg.TopicPartition.Offset + 1
	}
	requests := w.m.cfg.Topics.Requests
	for p, o := range next {
		b.offsets = append(b.offsets, kafka.TopicPartition{Topic: &requests, Partition: p, Offset: o})
	}
	slices.SortFunc(b.offsets, func(a, b kafka.TopicPartition) int { return int(a.Partition - b.Partition) })
	if w.m.cfg.Observer != nil {
		b.trace.Requests = make([]RequestTrace, len(j.records))
		for i, r := range j.records {
			tp := r.msg.TopicPartition
			b.trace.Requests[i] = RequestTrace{RequestID: requestIDHeader(r.msg), Partition: tp.Partition, Offset: int64(tp.Offset), Polled: r.at}
		}
	}
	return b
}

// process runs one job in one transaction. On commit the batch's state
// changes join the partitions' committed state; on abort they are dropped
// (the caller queues the records again); a fatal error ends the session.
//
// The consumed offsets are sent while the batch is being decided. If the
// producer's previous transaction ended only just now, the offsets go
// first: AddOffsetsToTxn is then the transaction's first request to the
// coordinator, the one that waits while the coordinator still writes the
// previous markers, and librdkafka retries it after retry.backoff.ms where
// a first AddPartitionsToTxn would wait a fixed 20 ms. Otherwise the records
// go out as soon as they are decided, and the two chains (AddOffsetsToTxn,
// TxnOffsetCommit; AddPartitionsToTxn, Produce) overlap. The order inside a
// transaction does not change what commits.
func (w *worker) process(j *job) error {
	b := w.newBatchTxn(j)
	retriesAtStart := w.concurrent.Load()
	err := w.transact(j, b)
	if err != nil {
		err = w.fail(err)
	}
	b.trace.Ended = time.Now()
	w.lastEnd = b.trace.Ended
	switch {
	case err == nil:
		b.trace.Outcome = TxnCommitted
		w.commitState(j, b)
	case errors.Is(err, errAborted):
		b.trace.Outcome = TxnAborted
	default:
		b.trace.Outcome = TxnFailed
	}
	b.spans.end(b.trace.Outcome, err)
	if obs := w.m.cfg.Observer; obs != nil {
		b.trace.Records = len(b.out)
		b.trace.ConcurrentRetries = w.concurrent.Load() - retriesAtStart
		obs.TransactionEnded(b.trace)
	}
	return err
}

func (w *worker) transact(j *job, b *batchTxn) error {
	if err := w.prod.BeginTransaction(); err != nil {
		return fmt.Errorf("%w: begin transaction: %w", errSessionFatal, err)
	}
	b.trace.Began = time.Now()
	meta, err := w.cons.GetConsumerGroupMetadata()
	if err != nil {
		return fmt.Errorf("%w: group metadata: %w", errSessionFatal, err)
	}
	sent := make(chan error, 1)
	go func() {
		sent <- w.retrying(callSendOffsets, func(ctx context.Context) error {
			if err := w.inject(FaultSendOffsets, j); err != nil {
				return err
			}
			return w.prod.SendOffsetsToTransaction(ctx, b.offsets, meta)
		})
	}()
	cold := b.trace.Began.Sub(w.lastEnd) >= markerGrace
	derr := w.decide(j, b)
	b.trace.Decided = time.Now()
	var perr error
	if cold && derr == nil {
		perr = w.produceAll(j, b)
	}
	// Wait for the offsets whatever happened: no other transactional call
	// may overlap SendOffsetsToTransaction, the abort included.
	serr := <-sent
	b.trace.OffsetsSent = time.Now()
	if err := errors.Join(derr, perr, serr); err != nil {
		return err
	}
	if !cold {
		if err := w.produceAll(j, b); err != nil {
			return err
		}
	}
	span := b.spans.startCommit(w.id, len(b.out))
	if err := w.retrying("commit", func(ctx context.Context) error {
		if err := w.inject(FaultCommit, j); err != nil {
			return err
		}
		if j.assignmentLost() {
			return errAssignmentLost
		}
		return w.prod.CommitTransaction(ctx)
	}); err != nil {
		tracing.End(span, err)
		return err
	}
	span.End()
	// The commit time is what the batch waits on Kafka once decided.
	w.m.stats.observeCommit(time.Since(b.trace.Decided))
	return nil
}

// commitState folds a committed batch into the partitions' state and its
// tally into the manager's counters.
func (w *worker) commitState(j *job, b *batchTxn) {
	for id, pd := range b.overlay {
		if pd.gone {
			delete(j.parts[pd.partition].state.carts, id)
			continue
		}
		j.parts[pd.partition].state.carts[id] = pd.snap
	}
	st, t := &w.m.stats, b.tally
	st.Processed.Add(t.processed)
	st.Accepted.Add(t.accepted)
	st.Rejected.Add(t.rejected)
	st.Duplicates.Add(t.duplicates)
	st.Stale.Add(t.stale)
	st.Malformed.Add(t.malformed)
	st.QuarantineRejections.Add(t.quarantined)
	st.Orders.Add(t.orders)
	st.Expired.Add(t.expired)
	st.Reservations.Add(t.reservations)
	st.Releases.Add(t.releases)
	st.Answers.Add(t.answers)
	for r, n := range t.rejectedBy {
		if n > 0 {
			st.rejectedBy[r].Add(n)
		}
	}
}

// decide runs every record of the job through the domain and encodes the
// outcomes and the touched carts' snapshots into b.out.
func (w *worker) decide(j *job, b *batchTxn) error {
	now := w.m.cfg.Now()
	for _, r := range j.records {
		b.spans.start(r.msg)
		id, snap, err := w.handle(j, b, r.msg, now)
		if err != nil {
			return err
		}
		if snap == nil {
			continue
		}
		pd, seen := b.overlay[id]
		if !seen {
			pd = &pending{}
			b.overlay[id] = pd
			b.order = append(b.order, id)
		}
		// An expired cart's next snapshot is the fold's zero cart, which
		// has no id: the cart is gone (a real snapshot always has one).
		*pd = pending{partition: r.msg.TopicPartition.Partition, snap: *snap, trace: b.spans.snapshotTrace(), gone: snap.Cart.CartID == ""}
	}
	for _, id := range b.order {
		pd := b.overlay[id]
		if pd.gone {
			b.add(w.m.cfg.Topics.State, pd.partition, []byte(id), nil, nil) // the tombstone
			continue
		}
		value, err := w.m.cfg.Records.EncodeSnapshot(pd.snap)
		if err != nil {
			return fmt.Errorf("%w: encode snapshot of cart %s: %w", errSessionFatal, id, err)
		}
		b.add(w.m.cfg.Topics.State, pd.partition, []byte(id), value, snapshotHeaders(pd.trace))
	}
	return nil
}

func (b *batchTxn) add(topic string, partition int32, key, value []byte, hdrs []kafka.Header) {
	b.out = append(b.out, kafka.Message{
		// The outcome goes to the partition of the request: the topics are
		// co-partitioned, and an explicit partition keeps a malformed
		// record with an odd key beside its neighbours.
		TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: partition},
		Key:            key, Value: value, Headers: hdrs,
	})
}

// handle decides one record and encodes its outcome. It returns the cart's
// next snapshot, or nil when nothing about the cart changes (a stale
// redelivery or a malformed record).
func (w *worker) handle(j *job, b *batchTxn, msg *kafka.Message, now time.Time) (cart.CartID, *cart.Snapshot, error) {
	tp := msg.TopicPartition
	cfg := &w.m.cfg
	if w.m.oversized.take(tp.Partition, tp.Offset) {
		return "", nil, w.writeMalformed(b, j, msg, malformedTooLarge, nil, now)
	}
	if cfg.Records.IsAnswer(msg.Value) {
		return w.handleAnswer(j, b, msg, now)
	}
	cmd, err := cfg.Records.DecodeRequest(msg.Value)
	if err == nil {
		err = placed(msg, cmd.Meta().CartID, j.partitions)
	}
	if err != nil {
		return "", nil, w.malformed(b, j, msg, err, now)
	}
	id := cmd.Meta().CartID
	if q, ok := j.parts[tp.Partition].state.quarantined[id]; ok {
		if err := w.rejectQuarantined(b, msg, cmd, q, now); err != nil {
			return "", nil, err
		}
		return "", nil, w.returnMerge(j, b, cmd, cart.Rejection{Reason: cart.ReasonInvalidState}, traceparentHeader(msg), tp.Offset, now)
	}
	snap, known := w.snapshotOf(j, b, tp.Partition, id)
	if internalOnGone(cmd) && !known {
		// The cart is gone (an expiry requested twice, lines returned to
		// an expired cart): writing a rejection would bring it back to
		// cart.state.
		b.tally.stale++
		return id, nil, nil
	}
	process := cart.Process
	if cfg.Reservations {
		process = cart.ProcessReserving
	}
	nextSnap, out := process(snap, cmd, int64(tp.Offset), w.m.stock, cfg.Limits, now)
	if err := w.writeOutcome(j, b, msg, id, out, now); err != nil {
		return "", nil, err
	}
	if out.Disposition == cart.DispositionRejected {
		if err := w.returnMerge(j, b, cmd, out.Invalid.Rejection, b.spans.cur, tp.Offset, now); err != nil {
			return "", nil, err
		}
	}
	if out.Disposition == cart.DispositionStale {
		return id, nil, nil
	}
	return id, &nextSnap, nil
}

// snapshotOf is the cart's latest snapshot: this batch's, else the
// committed one, else a new cart's (known false: also for a cart that
// expired earlier in this batch).
func (w *worker) snapshotOf(j *job, b *batchTxn, p int32, id cart.CartID) (snap cart.Snapshot, known bool) {
	if pd, ok := b.overlay[id]; ok {
		if pd.gone {
			return cart.NewSnapshot(id), false
		}
		return pd.snap, true
	}
	if cur, ok := j.parts[p].state.carts[id]; ok {
		return cur, true
	}
	return cart.NewSnapshot(id), false
}

// writeOutcome adds what a step of the domain says to write: events (and
// the order of a checkout, the lifecycle's requests), a rejection,
// reservations or releases for the inventory. Each record names the
// request it is about: the command's, or for what a reservation answer
// decided, the checkout's.
func (w *worker) writeOutcome(j *job, b *batchTxn, msg *kafka.Message, id cart.CartID, out cart.Outcome, now time.Time) error {
	tp := msg.TopicPartition
	cfg := &w.m.cfg
	trace := b.spans.cur
	t := &b.tally
	switch out.Disposition {
	case cart.DispositionAccepted:
		t.processed++
		t.accepted++
		for _, ev := range out.Events {
			value, err := cfg.Records.EncodeValidated(ev)
			if err != nil {
				return fmt.Errorf("%w: encode %s of cart %s: %w", errSessionFatal, ev.EventType(), id, err)
			}
			hdrs := outcomeHeaders(string(ev.Meta().RequestID), ev.EventType().String(), trace, tp.Offset)
			b.add(cfg.Topics.Validated, tp.Partition, msg.Key, value, hdrs)
			if co, ok := ev.(cart.CartCheckedOut); ok {
				if err := w.placeOrder(b, co, trace, tp.Offset); err != nil {
					return err
				}
			}
			if err := w.lifecycleEffects(j, b, ev, trace, tp.Offset); err != nil {
				return err
			}
		}
	case cart.DispositionRejected:
		t.reject(out.Invalid.Rejection.Reason)
		value, err := cfg.Records.EncodeInvalid(*out.Invalid)
		if err != nil {
			return fmt.Errorf("%w: encode rejection of cart %s: %w", errSessionFatal, id, err)
		}
		hdrs := outcomeHeaders(string(out.Invalid.RequestID), out.Invalid.EventType().String(), trace, tp.Offset)
		b.add(cfg.Topics.Invalid, tp.Partition, msg.Key, value, hdrs)
	case cart.DispositionDuplicate:
		t.duplicates++
	case cart.DispositionStale:
		t.stale++
	case cart.DispositionPending:
		t.processed++
	case cart.DispositionAnswered:
	default:
		return fmt.Errorf("%w: unknown disposition %v", errSessionFatal, out.Disposition)
	}
	for _, r := range out.Reserve {
		if err := w.toInventory(b, inventory.KindReserve, r, trace, tp.Offset, now); err != nil {
			return err
		}
		t.reservations++
	}
	for _, r := range out.Release {
		if err := w.toInventory(b, inventory.KindRelease, r, trace, tp.Offset, now); err != nil {
			return err
		}
		t.releases++
	}
	return nil
}

// placed checks that a decoded request sits where its cart's state lives:
// under its cart's id as key, in the partition that key hashes to among n
// (n <= 0: unknown, not checked). A request elsewhere would be decided
// against a state that is not its cart's.
func placed(msg *kafka.Message, id cart.CartID, n int) error {
	if string(id) != string(msg.Key) {
		return fmt.Errorf("%s does not match the request's cart id %q", describeKey(msg.Key), id)
	}
	p := msg.TopicPartition.Partition
	if misplaced(msg.Key, p, n) {
		return fmt.Errorf("cart %q hashes to partition %d of %d, where its state lives, not to partition %d", id, keyhash.For(msg.Key, n), n, p)
	}
	return nil
}

// malformedTooLarge is the message of the minimal MALFORMED that replaces
// an outcome the producer or the broker refused as too large.
const malformedTooLarge = "the outcome of this request was too large to produce; this minimal record replaces it"

// malformed routes a record that is no request of its place (undecodable,
// oversized, keyed by another cart than it names, in another partition
// than its cart's) to cart.invalid with a bounded prefix of its raw bytes.
func (w *worker) malformed(b *batchTxn, j *job, msg *kafka.Message, cause error, now time.Time) error {
	raw, cut := boundRaw(msg.Value)
	text := boundText("malformed request: "+cause.Error(), MaxMalformedMessage) + cut
	return w.writeMalformed(b, j, msg, text, raw, now)
}

// writeMalformed adds a MALFORMED outcome. Everything it copies from the
// record is bounded (key, request id, traceparent; the caller bounds text
// and raw), so the outcome fits in MaxOutcomeBytes whatever the input.
func (w *worker) writeMalformed(b *batchTxn, j *job, msg *kafka.Message, text string, raw []byte, now time.Time) error {
	b.tally.malformed++
	tp := msg.TopicPartition
	key := outcomeKey(msg.Key, tp.Partition, j.partitions)
	inv := cart.InvalidRequest{
		CartID:    cart.CartID(key),
		DecidedAt: now.UTC(),
		Rejection: cart.Rejection{Reason: cart.ReasonMalformed, Message: text},
		Raw:       raw,
	}
	value, err := w.m.cfg.Records.EncodeInvalid(inv)
	if err != nil {
		return fmt.Errorf("%w: encode malformed record: %w", errSessionFatal, err)
	}
	w.m.log.Warn("malformed request", "partition", tp.Partition, "offset", tp.Offset, "err", text)
	hdrs := outcomeHeaders(requestIDHeader(msg), "MalformedRequest", b.spans.cur, tp.Offset)
	b.add(w.m.cfg.Topics.Invalid, tp.Partition, key, value, hdrs)
	// Only a MALFORMED outcome's size depends on the input's bytes (the
	// others hold ids and what the domain bounds), so only it names its
	// request for a delivery report (oversized.noteDelivery); an Opaque
	// costs the client a handle per record.
	b.out[len(b.out)-1].Opaque = requestPos{tp.Partition, tp.Offset}
	return nil
}

func (w *worker) produceAll(j *job, b *batchTxn) error {
	if w.m.cfg.Faults != nil { // spares the hot path retrying's timer
		if err := w.retrying("produce", func(context.Context) error { return w.inject(FaultProduce, j) }); err != nil {
			return err
		}
	}
	for i := range b.out {
		if err := w.produce(&b.out[i]); err != nil {
			return err
		}
	}
	b.trace.Produced = time.Now()
	return nil
}

func (w *worker) produce(msg *kafka.Message) error {
	for {
		err := w.prod.Produce(msg, nil)
		if err == nil {
			return nil
		}
		var ke kafka.Error
		if errors.As(err, &ke) && ke.Code() == kafka.ErrQueueFull {
			w.prod.Flush(100) // wait for room
			continue
		}
		if req, ok := outcomeOf(msg); ok && isTooLarge(err) {
			// Caused by the input, not by the producer: abort, and when the
			// request comes again it gets a minimal MALFORMED instead. The
			// bounds make this unreachable; it is the defence in depth.
			w.m.oversized.add(req.partition, req.offset)
			return fmt.Errorf("outcome of request %d@%d to %s: %w", req.offset, req.partition, *msg.TopicPartition.Topic, err)
		}
		return fmt.Errorf("%w: produce to %s: %w", errSessionFatal, *msg.TopicPartition.Topic, err)
	}
}

// inject asks Config.Faults for a fault at this step of the job.
func (w *worker) inject(at FaultPoint, j *job) error {
	if w.m.cfg.Faults == nil {
		return nil
	}
	return inject(w.m.cfg.Faults, FaultSite{Point: at, Lane: w.id, Partitions: j.partitionIDs()})
}

// retrying runs a transactional call, repeating it (with backoff) while
// librdkafka calls the error retriable, until CommitTimeout: an outcome
// still unknown then is fatal.
func (w *worker) retrying(what string, call func(context.Context) error) error {
	parent := w.stop
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithTimeout(parent, w.m.cfg.CommitTimeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		err := w.bounded(ctx, what, call)
		if err == nil {
			return nil
		}
		if errors.Is(err, errCallStuck) {
			w.stuck.Store(true)
			return fmt.Errorf("%w: %s: %w", errSessionFatal, what, err)
		}
		switch classify(err) {
		case actRetry:
			d := retryBackoff.delay(attempt)
			w.m.log.Warn("retrying transactional call", "call", what, "producer", w.id, "attempt", attempt, "after", d, "err", err)
			select {
			case <-ctx.Done():
				return fmt.Errorf("%w: %s: outcome unknown after %s: %w", errSessionFatal, what, w.m.cfg.CommitTimeout, err)
			case <-time.After(d):
			}
		case actAbort:
			return fmt.Errorf("%s: %w", what, err)
		default:
			return fmt.Errorf("%w: %s: %w", errSessionFatal, what, err)
		}
	}
}

// bounded runs one attempt of a transactional call and waits for it until
// ctx ends (its deadline is also the call's own timeout) plus stuckGrace.
// A call still running then is abandoned with errCallStuck: librdkafka's
// send_offsets_to_transaction can wait for ever when the group
// coordinator's broker dies (its coordinator request ignores its timeout
// and may never be retried: librdkafka issues 5456 and 5511, open in
// 2.11.1), and one worker stuck in it held the manager's partitions, its
// rebalances and its stop for minutes (TestClusterBrokerCrashUnderLoad).
// SendOffsetsToTransaction's own timeout is capped at the transaction
// timeout, past which the broker aborts the transaction anyway.
func (w *worker) bounded(ctx context.Context, what string, call func(context.Context) error) error {
	done := make(chan error, 1) // the abandoned call's goroutine finishes into it
	go func() { done <- call(ctx) }()
	limit := time.NewTimer(w.callLimit(ctx, what))
	defer limit.Stop()
	select {
	case err := <-done:
		return err
	case <-limit.C:
	case <-ctx.Done():
	}
	grace := time.NewTimer(stuckGrace)
	defer grace.Stop()
	select {
	case err := <-done:
		return err
	case <-grace.C:
		w.m.log.Error("transactional call did not return; abandoning the producer and rebuilding the session",
			"call", what, "producer", w.id, "grace", stuckGrace)
		return errCallStuck
	}
}

// callLimit is how long a call is expected to take at most: the time left
// to ctx's deadline, and for the offsets no longer than the transaction
// timeout, to which librdkafka caps that call.
func (w *worker) callLimit(ctx context.Context, what string) time.Duration {
	limit := w.m.cfg.CommitTimeout
	if d, ok := ctx.Deadline(); ok {
		limit = time.Until(d)
	}
	if what == callSendOffsets {
		limit = min(limit, w.m.cfg.TransactionTimeout)
	}
	return max(limit, 0)
}

// stuckGrace is how long past its limit a transactional call may run before
// its worker gives up on it.
const stuckGrace = 5 * time.Second

// callSendOffsets names SendOffsetsToTransaction in retrying.
const callSendOffsets = "send offsets"

// fail ends a transaction that could not commit. A fatal error ends the
// session (the next one restores from Kafka); anything else aborts the
// transaction. The batch's state changes were never applied, and the caller
// queues its records again ahead of everything polled after them: the same
// effect as rewinding the consumer to the batch's first offsets, without a
// seek racing the poller.
func (w *worker) fail(err error) error {
	if errors.Is(err, errSessionFatal) {
		return err
	}
	w.m.log.Warn("aborting transaction", "producer", w.id, "err", err)
	if aerr := w.retrying("abort", w.prod.AbortTransaction); aerr != nil {
		return fmt.Errorf("%w: abort after %w: %w", errSessionFatal, err, aerr)
	}
	w.m.stats.Aborts.Add(1)
	// A fence comes back to the session wrapped in the error, whose close
	// then does not wait for the consumer (Manager.session, fenced).
	return abortedErr(err)
}

// abortedErr is what an aborted transaction's error becomes: errAborted,
// and its records are tried again; but when the group refused the offsets
// because it fenced this replica's consumer (FENCED_INSTANCE_ID), no retry
// can commit with that consumer's metadata, and a poller held back by a
// full queue may never see the fence itself: the session is rebuilt.
func abortedErr(err error) error {
	if fenced(err) {
		return fmt.Errorf("%w: the group fenced this replica's consumer (its offsets were refused): %w", errSessionFatal, err)
	}
	return fmt.Errorf("%w: %w", errAborted, err)
}

// outcomeHeaders are an outcome's headers. The caller passes only bounded
// values: a request id that is valid or "", a traceparent that is valid or
// "" (an empty one is left out).
func outcomeHeaders(requestID, eventType, traceparent string, requestOffset kafka.Offset) []kafka.Header {
	h := make([]kafka.Header, 0, 4)
	if requestID != "" {
		h = append(h, kafka.Header{Key: HeaderRequestID, Value: []byte(requestID)})
	}
	h = append(h,
		kafka.Header{Key: HeaderEventType, Value: []byte(eventType)},
		kafka.Header{Key: HeaderRequestOffset, Value: strconv.AppendInt(nil, int64(requestOffset), 10)},
	)
	if traceparent != "" {
		h = append(h, kafka.Header{Key: HeaderTraceparent, Value: []byte(traceparent)})
	}
	return h
}
