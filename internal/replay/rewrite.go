package replay

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
)

// Defaults of RewriteOptions.
const (
	DefaultBatchCarts         = 500
	DefaultManagerGroup       = "cartstream-additem-manager"
	DefaultTransactionTimeout = 60 * time.Second
)

// Sentinels of a rewrite.
var (
	// ErrManagerActive: a rewrite of cart.state was refused because the
	// AddItemManager's consumer group has members.
	ErrManagerActive = errors.New("replay: the AddItemManager's consumer group has active members")
	// ErrTargetMismatch: the --to-topic target exists but does not fit
	// (partition count, compaction).
	ErrTargetMismatch = errors.New("replay: target topic does not fit")
)

// SnapshotEncoder encodes snapshots for a rewrite (internal/records' Codec).
type SnapshotEncoder interface {
	EncodeSnapshot(s cart.Snapshot) ([]byte, error)
}

// RewriteOptions configures Rewrite. Zero fields take the defaults.
type RewriteOptions struct {
	// Cart, when set, rewrites only this cart.
	Cart cart.CartID
	// Target is the snapshot topic written; empty means cart.state. Any
	// other name is created (compacted, as many partitions as the cart
	// topics) when absent.
	Target string
	// RunID names the run: the transactional.id and the consumer group
	// that records progress are derived from Target, Cart and RunID, so
	// running the same command again resumes an interrupted run.
	RunID string
	// BatchCarts is the number of snapshots per transaction.
	BatchCarts int
	// All writes every cart, not only those whose snapshot differs from
	// the fold. A rewrite to another topic always writes every cart.
	All bool
	// DryRun plans and returns the plan; nothing is written.
	DryRun bool
	// MaxBatches stops after that many committed batches (0: no limit),
	// leaving the run resumable: for staged rewrites and tests.
	MaxBatches int
	// ManagerGroup is the AddItemManager's consumer group; a rewrite of
	// cart.state refuses to run while it has members, unless Force.
	ManagerGroup string
	Force        bool
	// TransactionTimeout is the producer's transaction.timeout.ms.
	TransactionTimeout time.Duration
	// Encoder encodes the snapshots.
	Encoder SnapshotEncoder
}

func (o RewriteOptions) withDefaults(cfg Config) RewriteOptions {
	if o.Target == "" {
		o.Target = cfg.Topics.State
	}
	if o.BatchCarts == 0 {
		o.BatchCarts = DefaultBatchCarts
	}
	if o.ManagerGroup == "" {
		o.ManagerGroup = DefaultManagerGroup
	}
	if o.TransactionTimeout == 0 {
		o.TransactionTimeout = DefaultTransactionTimeout
	}
	return o
}

// Validate reports every problem at once.
func (o RewriteOptions) Validate() error {
	var errs []error
	if o.Cart != "" {
		if err := o.Cart.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if o.BatchCarts < 0 || o.MaxBatches < 0 || o.TransactionTimeout < 0 {
		errs = append(errs, errors.New("batch size, max batches and transaction timeout must not be negative"))
	}
	if o.Encoder == nil {
		errs = append(errs, errors.New("snapshot encoder is nil"))
	}
	if strings.ContainsAny(o.RunID, " /") {
		errs = append(errs, fmt.Errorf("run id %q: no spaces or slashes", o.RunID))
	}
	return errors.Join(errs...)
}

// RunName is the name shared by the run's transactional.id and progress
// group: "cartctl-rewrite.<target>[.cart-<id>][.<run id>]".
func (o RewriteOptions) RunName(cfg Config) string {
	o = o.withDefaults(cfg)
	name := "cartctl-rewrite." + o.Target
	if o.Cart != "" {
		name += ".cart-" + string(o.Cart)
	}
	if o.RunID != "" {
		name += "." + o.RunID
	}
	return name
}

// Write is one snapshot a rewrite writes.
type Write struct {
	CartID    cart.CartID `json:"cart_id"`
	Partition int32       `json:"partition"`
	// LastOffset is the offset of the cart's last event in cart.validated
	// (-1 for a cart without events): the progress mark of the write.
	LastOffset int64         `json:"last_event_offset"`
	Snapshot   cart.Snapshot `json:"-"`
	// Kind says why the cart is written: the difference it repairs, or
	// DiffUnspecified when it is written unchanged (All, or another
	// target topic).
	Kind   DiffKind    `json:"kind"`
	Fields []FieldDiff `json:"fields,omitempty"`
	// KeptFrom is the offset in cart.state of the snapshot whose
	// RequestOffset and window the new snapshot keeps; -1 when the cart had
	// none (RequestOffset -1, empty window).
	KeptFrom int64 `json:"kept_from_offset"`
}

// Plan is what a rewrite will write.
type Plan struct {
	// Writes in the order they are written: by partition, then by
	// LastOffset.
	Writes []Write `json:"writes"`
	// Unchanged counts carts whose snapshot already is the fold.
	Unchanged int `json:"unchanged"`
	// AlreadyWritten counts carts an interrupted run of the same name
	// wrote already.
	AlreadyWritten int `json:"already_written"`
	// Refused lists carts that cannot be rewritten: unfoldable ones, and
	// those whose new snapshot would be invalid.
	Refused []Difference `json:"refused,omitempty"`
}

// PlanRewrite decides what a rewrite writes. It is pure.
//
// For every folded cart (and every snapshot of a non-empty cart without
// events) the new snapshot is the current one in cart.state with its Cart
// replaced by the fold: RequestOffset and the request window come from the
// write side and cannot be derived from cart.validated, so they are kept.
// A cart without a current snapshot gets RequestOffset -1 and an empty
// window (see docs/operations-replay.md for what that means). onlyChanged
// skips carts whose snapshot already equals the fold; progress (the run's
// committed offsets over cart.validated) skips carts whose last event lies
// before the partition's mark.
func PlanRewrite(res Result, current map[cart.CartID]*Current, progress map[int32]int64, onlyChanged bool) Plan {
	var plan Plan
	diffs := map[cart.CartID]Difference{}
	for _, d := range Compare(res, current) {
		diffs[d.CartID] = d
	}
	consider := func(id cart.CartID, partition int32, lastOffset int64, folded cart.CartState) {
		d, differs := diffs[id]
		if d.Kind == DiffUnfoldable {
			plan.Refused = append(plan.Refused, d)
			return
		}
		if folded.Version == 0 {
			// Expired (the fold ended with CartExpired): the right state
			// is the tombstone the manager wrote, not a snapshot.
			if differs {
				d.Detail += " (writing the tombstone is left to the operator)"
				plan.Refused = append(plan.Refused, d)
			} else {
				plan.Unchanged++
			}
			return
		}
		w := Write{CartID: id, Partition: partition, LastOffset: lastOffset, KeptFrom: -1}
		if differs {
			w.Kind, w.Fields = d.Kind, d.Fields
		}
		snap := cart.NewSnapshot(id)
		if cur := current[id]; cur != nil && cur.HasSnapshot {
			snap = cur.Snapshot.Clone()
			w.KeptFrom = cur.Offset
		}
		snap.Cart = folded.Clone()
		if err := snap.Validate(); err != nil {
			d.Kind, d.CartID, d.Partition = DiffUnfoldable, id, partition
			d.Detail = "the new snapshot would be invalid: " + strings.ReplaceAll(err.Error(), "\n", "; ")
			plan.Refused = append(plan.Refused, d)
			return
		}
		w.Snapshot = snap
		if mark, ok := progress[partition]; ok && lastOffset < mark {
			plan.AlreadyWritten++
			return
		}
		if onlyChanged && !differs {
			plan.Unchanged++
			return
		}
		plan.Writes = append(plan.Writes, w)
	}
	for id, f := range res.Carts {
		consider(id, f.Partition, f.LastOffset, f.State)
	}
	for id, cur := range current {
		if _, ok := res.Carts[id]; ok {
			continue
		}
		if d, ok := diffs[id]; ok && d.Kind == DiffExtra {
			consider(id, cur.Partition, -1, cart.CartState{CartID: id})
		}
	}
	slices.SortFunc(plan.Writes, func(a, b Write) int {
		return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.LastOffset, b.LastOffset), cmp.Compare(a.CartID, b.CartID))
	})
	slices.SortFunc(plan.Refused, func(a, b Difference) int {
		return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.CartID, b.CartID))
	})
	return plan
}

// batches cuts writes (in plan order) into batches of about n: a batch
// never ends between two writes of one partition with the same LastOffset,
// since the progress mark could not tell them apart.
func batches(writes []Write, n int) [][]Write {
	var out [][]Write
	for len(writes) > 0 {
		end := min(n, len(writes))
		for end < len(writes) && writes[end].Partition == writes[end-1].Partition && writes[end].LastOffset == writes[end-1].LastOffset {
			end++
		}
		out = append(out, writes[:end])
		writes = writes[end:]
	}
	return out
}

// progressMarks is what a committed batch records: per partition of
// cart.validated, the offset after the last event of the last cart written.
func progressMarks(batch []Write) map[int32]int64 {
	marks := map[int32]int64{}
	for _, w := range batch {
		marks[w.Partition] = max(marks[w.Partition], w.LastOffset+1)
	}
	return marks
}

// RewriteResult is what a rewrite did.
type RewriteResult struct {
	Plan            Plan   `json:"plan"`
	Target          string `json:"target"`
	RunName         string `json:"run"`
	DryRun          bool   `json:"dry_run"`
	Resumed         bool   `json:"resumed"`
	Batches         int    `json:"batches"`
	Written         int    `json:"written"`
	Complete        bool   `json:"complete"`
	Replay          Stats  `json:"replay"`
	TargetPartition int    `json:"-"`
}

// Rewrite folds cart.validated and writes the folded carts as snapshots to
// opts.Target (cart.state by default): in transactions of BatchCarts
// snapshots, each committing the run's progress with it (offsets of the
// run's consumer group over cart.validated, SendOffsetsToTransaction), so a
// run that stops (a crash, Ctrl-C, MaxBatches) resumes when the same
// command runs again, and a batch is never written twice. A complete run
// deletes its group, so the next run starts afresh.
//
// A rewrite of cart.state is refused (ErrManagerActive) while the
// AddItemManager's group has members unless opts.Force: the manager holds
// every snapshot of its partitions in memory and would overwrite the
// rewritten ones with its own at its next request of each cart.
func Rewrite(ctx context.Context, cfg Config, opts RewriteOptions) (RewriteResult, error) {
	if err := errors.Join(cfg.Validate(), opts.Validate()); err != nil {
		return RewriteResult{}, err
	}
	cfg = cfg.withDefaults()
	opts = opts.withDefaults(cfg)
	out := RewriteResult{Target: opts.Target, RunName: opts.RunName(cfg), DryRun: opts.DryRun}
	adm, err := kafka.NewAdminClient(cfg.clientConfig(nil))
	if err != nil {
		return out, fmt.Errorf("replay: admin client: %w", err)
	}
	defer adm.Close()

	toState := opts.Target == cfg.Topics.State
	if toState && !opts.Force && !opts.DryRun {
		members, state, err := GroupMembers(ctx, adm, cfg.RequestTimeout, opts.ManagerGroup)
		if err != nil {
			return out, fmt.Errorf("replay: describe group %s: %w", opts.ManagerGroup, err)
		}
		if members > 0 {
			return out, fmt.Errorf("%w: group %s is %s with %d members; stop every AddItemManager replica (and wait for its session timeout) before rewriting %s, or pass --force if you know the manager does not own these carts", ErrManagerActive, opts.ManagerGroup, state, members, opts.Target)
		}
	}
	scope := Scope{Cart: opts.Cart}
	n, parts, err := scopePartitions(ctx, adm, cfg, scope)
	if err != nil {
		return out, err
	}
	out.TargetPartition = n
	if !toState && !opts.DryRun {
		if err := ensureTarget(ctx, adm, cfg.RequestTimeout, opts.Target, n); err != nil {
			return out, err
		}
	}

	ss, err := spans(ctx, adm, cfg.RequestTimeout, cfg.Topics.Validated, parts, scope)
	if err != nil {
		return out, fmt.Errorf("replay: %w", err)
	}
	res, err := foldSpans(ctx, cfg, opts.Cart, ss)
	if err != nil {
		return out, err
	}
	res.Partitions = n
	out.Replay = res.Stats
	stateSpans, err := spans(ctx, adm, cfg.RequestTimeout, cfg.Topics.State, parts, Scope{})
	if err != nil {
		return out, fmt.Errorf("replay: %w", err)
	}
	current, _, err := loadSpans(ctx, cfg, cfg.Topics.State, stateSpans)
	if err != nil {
		return out, err
	}
	if opts.Cart != "" {
		current = onlyCart(current, opts.Cart)
	}
	var tw *txnWriter
	if !opts.DryRun {
		// Fence an earlier producer of this run (and abort the transaction
		// it left open) before reading its progress, so the offsets read
		// are stable.
		if tw, err = openTxnWriter(ctx, cfg, opts, out.RunName); err != nil {
			return out, err
		}
		defer tw.close()
	}
	progress, err := groupOffsets(ctx, adm, cfg.RequestTimeout, out.RunName, cfg.Topics.Validated, parts, !opts.DryRun)
	if err != nil {
		return out, fmt.Errorf("replay: progress of %s: %w", out.RunName, err)
	}
	out.Resumed = len(progress) > 0
	out.Plan = PlanRewrite(res, current, progress, toState && !opts.All)
	if opts.DryRun {
		return out, nil
	}
	cfg.Logger.Info("replay: rewriting", "target", opts.Target, "run", out.RunName, "writes", len(out.Plan.Writes),
		"resumed", out.Resumed, "already_written", out.Plan.AlreadyWritten)
	if err := tw.write(ctx, &out); err != nil {
		return out, err
	}
	if out.Complete && (out.Resumed || out.Batches > 0) {
		if err := deleteGroup(ctx, adm, cfg.RequestTimeout, out.RunName); err != nil {
			cfg.Logger.Warn("replay: the rewrite is complete but its progress group could not be deleted; delete it before the next run of the same name, or that run skips carts",
				"group", out.RunName, "err", err)
		}
	}
	return out, nil
}

func onlyCart(m map[cart.CartID]*Current, id cart.CartID) map[cart.CartID]*Current {
	out := map[cart.CartID]*Current{}
	if c, ok := m[id]; ok {
		out[id] = c
	}
	return out
}

// txnWriter is the run's transactional producer.
type txnWriter struct {
	cfg  Config
	opts RewriteOptions
	prod *kafka.Producer
	meta *kafka.ConsumerGroupMetadata
	wg   sync.WaitGroup
	mu   sync.Mutex
	// failed collects delivery errors reported on the events channel.
	failed []error
}

func openTxnWriter(ctx context.Context, cfg Config, opts RewriteOptions, name string) (*txnWriter, error) {
	prod, err := kafka.NewProducer(cfg.clientConfig(kafka.ConfigMap{
		"transactional.id":       name,
		"transaction.timeout.ms": int(opts.TransactionTimeout.Milliseconds()),
		"enable.idempotence":     true,
		"acks":                   "all",
		"linger.ms":              5,
		"partitioner":            "murmur2_random",
	}))
	if err != nil {
		return nil, fmt.Errorf("replay: producer: %w", err)
	}
	tw := &txnWriter{cfg: cfg, opts: opts, prod: prod}
	tw.wg.Add(1)
	go func() {
		// CommitTransaction flushes through the events channel: serve it
		// until Close closes it.
		defer tw.wg.Done()
		for ev := range prod.Events() {
			if m, ok := ev.(*kafka.Message); ok && m.TopicPartition.Error != nil {
				tw.mu.Lock()
				tw.failed = append(tw.failed, fmt.Errorf("deliver to %s/%d: %w", *m.TopicPartition.Topic, m.TopicPartition.Partition, m.TopicPartition.Error))
				tw.mu.Unlock()
			}
		}
	}()
	// InitTransactions fences an earlier producer of this run and aborts
	// the transaction it left open.
	if err := retry(ctx, opts.TransactionTimeout, prod.InitTransactions); err != nil {
		tw.close()
		return nil, fmt.Errorf("replay: init transactions of %s: %w", name, err)
	}
	// The run's group has no members: its metadata is the group id alone
	// (generation -1), like the Java client's ConsumerGroupMetadata(groupId).
	if tw.meta, err = kafka.NewTestConsumerGroupMetadata(name); err != nil {
		tw.close()
		return nil, fmt.Errorf("replay: group metadata: %w", err)
	}
	return tw, nil
}

func (tw *txnWriter) close() {
	tw.prod.Close()
	tw.wg.Wait()
}

func (tw *txnWriter) deliveryErrors() error {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	return errors.Join(tw.failed...)
}

// write runs the batches of the plan, each in one transaction with its
// progress marks.
func (tw *txnWriter) write(ctx context.Context, out *RewriteResult) error {
	prod, opts := tw.prod, tw.opts
	bs := batches(out.Plan.Writes, opts.BatchCarts)
	validated := tw.cfg.Topics.Validated
	for i, b := range bs {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("replay: rewrite stopped after %d of %d batches (run the same command again to resume): %w", out.Batches, len(bs), err)
		}
		if err := prod.BeginTransaction(); err != nil {
			return fmt.Errorf("replay: begin transaction: %w", err)
		}
		abort := func(cause error) error {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.TransactionTimeout)
			defer cancel()
			if aerr := prod.AbortTransaction(actx); aerr != nil {
				cause = errors.Join(cause, fmt.Errorf("abort: %w", aerr))
			}
			return fmt.Errorf("replay: batch %d of %d not written (run the same command again to resume): %w", i+1, len(bs), cause)
		}
		for _, w := range b {
			value, err := opts.Encoder.EncodeSnapshot(w.Snapshot)
			if err != nil {
				return abort(fmt.Errorf("encode snapshot of cart %s: %w", w.CartID, err))
			}
			if err := produce(prod, opts.Target, w.Partition, []byte(w.CartID), value); err != nil {
				return abort(err)
			}
		}
		var offsets []kafka.TopicPartition
		for p, o := range progressMarks(b) {
			offsets = append(offsets, kafka.TopicPartition{Topic: &validated, Partition: p, Offset: kafka.Offset(o)})
		}
		slices.SortFunc(offsets, func(a, b kafka.TopicPartition) int { return int(a.Partition - b.Partition) })
		if err := retry(ctx, opts.TransactionTimeout, func(c context.Context) error {
			return prod.SendOffsetsToTransaction(c, offsets, tw.meta)
		}); err != nil {
			return abort(fmt.Errorf("send progress offsets: %w", err))
		}
		if err := retry(ctx, opts.TransactionTimeout, prod.CommitTransaction); err != nil {
			var ke kafka.Error
			if errors.As(err, &ke) && ke.TxnRequiresAbort() {
				return abort(fmt.Errorf("commit: %w", err))
			}
			return fmt.Errorf("replay: commit of batch %d of %d failed and its outcome is unknown; running the same command again resolves it: %w", i+1, len(bs), err)
		}
		if err := tw.deliveryErrors(); err != nil {
			return fmt.Errorf("replay: deliveries failed in a committed transaction: %w", err)
		}
		out.Batches++
		out.Written += len(b)
		tw.cfg.Logger.Info("replay: batch committed", "batch", out.Batches, "of", len(bs), "snapshots", len(b), "written", out.Written)
		if opts.MaxBatches > 0 && out.Batches >= opts.MaxBatches && i < len(bs)-1 {
			tw.cfg.Logger.Warn("replay: stopping after max batches; run the same command again to resume", "batches", out.Batches, "left", len(bs)-out.Batches)
			return nil
		}
	}
	out.Complete = true
	return nil
}

func produce(prod *kafka.Producer, topic string, partition int32, key, value []byte) error {
	msg := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: partition}, Key: key, Value: value}
	for {
		err := prod.Produce(msg, nil)
		if err == nil {
			return nil
		}
		var ke kafka.Error
		if errors.As(err, &ke) && ke.Code() == kafka.ErrQueueFull {
			prod.Flush(100) // wait for room
			continue
		}
		return fmt.Errorf("produce to %s/%d: %w", topic, partition, err)
	}
}

// retry repeats a transactional call while librdkafka says it is
// retriable, for at most timeout.
func retry(ctx context.Context, timeout time.Duration, call func(context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := call(cctx)
		if err == nil {
			return nil
		}
		var ke kafka.Error
		if !errors.As(err, &ke) || !ke.IsRetriable() || cctx.Err() != nil {
			return err
		}
		select {
		case <-cctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// groupAdmin is what the group helpers need of an admin client.
type groupAdmin interface {
	DescribeConsumerGroups(ctx context.Context, groups []string, options ...kafka.DescribeConsumerGroupsAdminOption) (kafka.DescribeConsumerGroupsResult, error)
	ListConsumerGroupOffsets(ctx context.Context, groupsPartitions []kafka.ConsumerGroupTopicPartitions, options ...kafka.ListConsumerGroupOffsetsAdminOption) (kafka.ListConsumerGroupOffsetsResult, error)
	DeleteConsumerGroups(ctx context.Context, groups []string, options ...kafka.DeleteConsumerGroupsAdminOption) (kafka.DeleteConsumerGroupsResult, error)
}

// GroupMembers returns the number of members and the state of a consumer
// group (0 and "Dead" for a group that does not exist).
func GroupMembers(ctx context.Context, a groupAdmin, timeout time.Duration, group string) (int, string, error) {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := a.DescribeConsumerGroups(dctx, []string{group})
	if err != nil {
		return 0, "", err
	}
	for _, d := range res.ConsumerGroupDescriptions {
		if d.GroupID != group {
			continue
		}
		if c := d.Error.Code(); c != kafka.ErrNoError && c != kafka.ErrGroupIDNotFound {
			return 0, "", d.Error
		}
		return len(d.Members), d.State.String(), nil
	}
	return 0, kafka.ConsumerGroupStateDead.String(), nil
}

// groupOffsets returns the committed offsets (stable ones if asked) of group on topic's
// partitions; partitions without a committed offset are absent.
func groupOffsets(ctx context.Context, a groupAdmin, timeout time.Duration, group, topic string, parts []int32, stable bool) (map[int32]int64, error) {
	tps := make([]kafka.TopicPartition, len(parts))
	for i, p := range parts {
		t := topic
		tps[i] = kafka.TopicPartition{Topic: &t, Partition: p}
	}
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := a.ListConsumerGroupOffsets(lctx, []kafka.ConsumerGroupTopicPartitions{{Group: group, Partitions: tps}}, kafka.SetAdminRequireStableOffsets(stable))
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for _, g := range res.ConsumerGroupsTopicPartitions {
		for _, tp := range g.Partitions {
			if tp.Error != nil {
				return nil, fmt.Errorf("%s/%d: %w", topic, tp.Partition, tp.Error)
			}
			if tp.Offset >= 0 {
				out[tp.Partition] = int64(tp.Offset)
			}
		}
	}
	return out, nil
}

func deleteGroup(ctx context.Context, a groupAdmin, timeout time.Duration, group string) error {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := a.DeleteConsumerGroups(dctx, []string{group})
	if err != nil {
		return err
	}
	for _, r := range res.ConsumerGroupResults {
		if c := r.Error.Code(); c != kafka.ErrNoError && c != kafka.ErrGroupIDNotFound {
			return r.Error
		}
	}
	return nil
}

// topicAdmin is what ensureTarget needs.
type topicAdmin interface {
	admin
	CreateTopics(ctx context.Context, topics []kafka.TopicSpecification, options ...kafka.CreateTopicsAdminOption) ([]kafka.TopicResult, error)
	DescribeConfigs(ctx context.Context, resources []kafka.ConfigResource, options ...kafka.DescribeConfigsAdminOption) ([]kafka.ConfigResourceResult, error)
}

// ensureTarget creates the rewrite's target topic (compacted, n partitions)
// or checks that an existing one fits.
func ensureTarget(ctx context.Context, a topicAdmin, timeout time.Duration, topic string, n int) error {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := a.CreateTopics(cctx, []kafka.TopicSpecification{{
		Topic: topic, NumPartitions: n, ReplicationFactor: -1,
		Config: map[string]string{"cleanup.policy": "compact"},
	}}, kafka.SetAdminOperationTimeout(timeout))
	if err != nil {
		return fmt.Errorf("replay: create %s: %w", topic, err)
	}
	for _, r := range res {
		if c := r.Error.Code(); c != kafka.ErrNoError && c != kafka.ErrTopicAlreadyExists {
			return fmt.Errorf("replay: create %s: %w", topic, r.Error)
		}
	}
	// A topic just created may not show in metadata at once.
	var counts map[string]int
	for range 50 {
		if counts, err = partitionCounts(ctx, a, timeout, topic); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	if counts[topic] != n {
		return fmt.Errorf("%w: %s has %d partitions, the cart topics %d", ErrTargetMismatch, topic, counts[topic], n)
	}
	conf, err := a.DescribeConfigs(cctx, []kafka.ConfigResource{{Type: kafka.ResourceTopic, Name: topic}})
	if err != nil {
		return fmt.Errorf("replay: describe config of %s: %w", topic, err)
	}
	for _, r := range conf {
		if !slices.Contains(strings.Split(r.Config["cleanup.policy"].Value, ","), "compact") {
			return fmt.Errorf("%w: %s has cleanup.policy=%q, want compact", ErrTargetMismatch, topic, r.Config["cleanup.policy"].Value)
		}
	}
	return nil
}
