package integration

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/kafkatest"
	"github.com/cartstream/cartstream/internal/records"
	"github.com/cartstream/cartstream/internal/replay"
	"github.com/cartstream/cartstream/internal/topics"
)

// replayConfig is the replay configuration of this env.
func (e *cartEnv) replayConfig(t *testing.T) replay.Config {
	return replay.Config{
		Client:         kafka.ConfigMap{"bootstrap.servers": e.c.Brokers()},
		Topics:         e.set,
		Decoder:        e.rec,
		Logger:         testLogger(t),
		IdleTimeout:    time.Minute,
		RequestTimeout: 20 * time.Second,
	}
}

// mixedLoad sends, for each of n carts, adds, a quantity change, a removal,
// rejected commands (inactive and unknown SKUs, a reused request id), a
// retry, and for every third cart a checkout and a command after it.
func (e *cartEnv) mixedLoad(t *testing.T, n int, tag string) {
	t.Helper()
	var cmds []cart.Command
	for i := range n {
		id := fmt.Sprintf("cart-%s-%d", tag, i)
		r := func(k string) string { return fmt.Sprintf("%s-%s-%d-%s", tag, "r", i, k) }
		add := e.add(id, r("a1"), "SKU-A", 2)
		cmds = append(cmds,
			add,
			e.add(id, r("a2"), "SKU-B", int32(1+i%3)),
			e.add(id, r("a3"), "SKU-OFF", 1),  // rejected: inactive
			e.add(id, r("a4"), "SKU-NOPE", 1), // rejected: unknown
			add,                               // a retry: no second event
			e.add(id, r("a1"), "SKU-C", 1),    // reused request id: DUPLICATE_REQUEST
			e.change(id, r("c1"), "SKU-A", 3), //
			e.add(id, r("a5"), "SKU-D", 1),    //
			e.remove(id, r("x1"), "SKU-B"),    //
			e.change(id, r("c2"), "SKU-B", 4), // rejected: not in the cart
			e.add(id, r("a6"), "SKU-USD", 1),  // rejected: currency
		)
		if i%3 == 0 {
			cmds = append(cmds, e.checkout(id, r("co"), "cust-1"), e.add(id, r("late"), "SKU-A", 1))
		}
	}
	e.send(t, cmds...)
}

// foldAndCompare replays every cart and compares it with cart.state.
func foldAndCompare(t *testing.T, cfg replay.Config) (replay.Result, []replay.Difference) {
	t.Helper()
	res, err := replay.Fold(withTimeout(t, time.Minute), cfg, replay.Scope{})
	if err != nil {
		t.Fatalf("fold: %v", err)
	}
	cur, _, err := replay.LoadSnapshots(withTimeout(t, time.Minute), cfg, "", nil)
	if err != nil {
		t.Fatalf("load snapshots: %v", err)
	}
	return res, replay.Compare(res, cur)
}

func TestReplayReproducesStateAndRewritesResumably(t *testing.T) {
	waitBound(t)
	e := newCartEnv(t, 3)
	e.seedCatalog(t, demoProducts()...)
	e.startManager(t, e.managerConfig(t, "m1"))
	e.mixedLoad(t, 12, "mix")
	e.waitDrained(t, time.Minute)
	cfg := e.replayConfig(t)

	// The fold of cart.validated is exactly cart.state.
	res, diffs := foldAndCompare(t, cfg)
	if len(diffs) != 0 || len(res.Problems) != 0 {
		t.Fatalf("replay differs from cart.state: %+v, problems %+v", diffs, res.Problems)
	}
	snaps := e.snapshots(t)
	if len(res.Carts) != 12 || len(snaps) != 12 {
		t.Fatalf("%d carts replayed, %d snapshots; want 12", len(res.Carts), len(snaps))
	}
	checkedOut := 0
	for id, f := range res.Carts {
		if f.State.Status == cart.StatusCheckedOut {
			checkedOut++
		}
		if d := replay.DiffCart(snaps[id].Cart, f.State); d != nil {
			t.Errorf("cart %s: %v", id, d)
		}
	}
	if checkedOut != 4 {
		t.Errorf("%d carts checked out, want 4", checkedOut)
	}

	// --cart reads its partition only, and folds only that cart.
	id := cart.CartID("cart-mix-5")
	want := replay.PartitionOf(id, e.partitions)
	validated, _ := e.outcomes(t)
	inPartition := 0
	for _, v := range validated {
		if v.partition == want {
			inPartition++
		}
		if v.event.Meta().CartID == id && v.partition != want {
			t.Fatalf("cart %s has an event in partition %d, murmur2 says %d", id, v.partition, want)
		}
	}
	one, err := replay.Fold(withTimeout(t, time.Minute), cfg, replay.Scope{Cart: id})
	if err != nil {
		t.Fatalf("fold one cart: %v", err)
	}
	if len(one.Stats.Partitions) != 1 || one.Stats.Partitions[0].Partition != want {
		t.Errorf("one-cart replay read partitions %+v, want only %d", one.Stats.Partitions, want)
	}
	if one.Stats.Records != int64(inPartition) {
		t.Errorf("one-cart replay read %d records, partition %d holds %d", one.Stats.Records, want, inPartition)
	}
	if len(one.Carts) != 1 || replay.DiffCart(snaps[id].Cart, one.Carts[id].State) != nil {
		t.Errorf("one-cart replay: %+v", one.Carts)
	}

	// --until-offset: the end offsets taken now bound a replay that then
	// ignores what comes after.
	ends, err := e.ends(e.c.Admin(t), e.set.Validated)
	if err != nil {
		t.Fatal(err)
	}
	e.send(t, e.add("cart-mix-1", "after-cut", "SKU-C", 1))
	e.waitDrained(t, time.Minute)
	cut, err := replay.Fold(withTimeout(t, time.Minute), cfg, replay.Scope{UntilOffsets: ends})
	if err != nil {
		t.Fatalf("fold until offsets: %v", err)
	}
	if d := replay.DiffCart(snaps["cart-mix-1"].Cart, cut.Carts["cart-mix-1"].State); d != nil {
		t.Errorf("replay until %v is not the cart before the cut: %v", ends, d)
	}

	// A rewrite to another topic, stopped after one batch and resumed,
	// writes what an uninterrupted one writes.
	full := e.set.State + ".full"
	resumed := e.set.State + ".resumed"
	e.c.DeleteOnCleanup(t, full, resumed)
	opts := replay.RewriteOptions{BatchCarts: 3, Encoder: e.rec}
	opts.Target = full
	r, err := replay.Rewrite(withTimeout(t, time.Minute), cfg, opts)
	if err != nil || !r.Complete || r.Written != 12 || r.Batches != 4 {
		t.Fatalf("uninterrupted rewrite: %+v, %v", r, err)
	}
	opts.Target, opts.MaxBatches = resumed, 1
	r, err = replay.Rewrite(withTimeout(t, time.Minute), cfg, opts)
	if err != nil || r.Complete || r.Written != 3 {
		t.Fatalf("interrupted rewrite: %+v, %v", r, err)
	}
	opts.MaxBatches = 0
	r, err = replay.Rewrite(withTimeout(t, time.Minute), cfg, opts)
	if err != nil || !r.Complete || !r.Resumed || r.Written != 9 || r.Plan.AlreadyWritten != 3 {
		t.Fatalf("resumed rewrite: %+v, %v", r, err)
	}
	a, _, err := replay.LoadSnapshots(withTimeout(t, time.Minute), cfg, full, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, stats, err := replay.LoadSnapshots(withTimeout(t, time.Minute), cfg, resumed, nil)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Records != 12 {
		t.Errorf("the resumed rewrite wrote %d records, want 12 (none twice)", stats.Records)
	}
	if len(a) != 12 || len(b) != 12 {
		t.Fatalf("%d and %d snapshots, want 12 each", len(a), len(b))
	}
	for id, x := range a {
		y := b[id]
		if y == nil || !y.HasSnapshot || replay.DiffCart(x.Snapshot.Cart, y.Snapshot.Cart) != nil ||
			x.Snapshot.RequestOffset != y.Snapshot.RequestOffset || len(x.Snapshot.Window) != len(y.Snapshot.Window) || x.Partition != y.Partition {
			t.Errorf("cart %s: resumed rewrite %+v, uninterrupted %+v", id, y, x)
		}
	}
	// The run's progress group is gone once the run is complete: the next
	// run of the same name starts afresh.
	r, err = replay.Rewrite(withTimeout(t, time.Minute), cfg, replay.RewriteOptions{Target: resumed, DryRun: true, Encoder: e.rec})
	if err != nil || r.Resumed || len(r.Plan.Writes) != 12 {
		t.Errorf("dry run after a complete run: resumed %t, %d writes, %v", r.Resumed, len(r.Plan.Writes), err)
	}
}

// corrupt returns snap with its first line's quantity one higher (totals
// kept consistent, so the snapshot still decodes): a wrong but valid cart.
func corrupt(t *testing.T, snap cart.Snapshot) cart.Snapshot {
	t.Helper()
	bad := snap.Clone()
	l := &bad.Cart.Lines[0]
	l.Quantity++
	bad.Cart.ItemCount++
	var err error
	if bad.Cart.Subtotal, err = bad.Cart.Subtotal.Add(l.UnitPrice); err != nil {
		t.Fatal(err)
	}
	if err := bad.Validate(); err != nil {
		t.Fatalf("corrupted snapshot does not validate: %v", err)
	}
	return bad
}

func TestReplayVerifyAndRewriteRepairACorruptSnapshot(t *testing.T) {
	waitBound(t)
	e := newCartEnv(t, 3)
	e.seedCatalog(t, demoProducts()...)
	mcfg := e.managerConfig(t, "m1")
	mcfg.SessionTimeout = 2 * time.Second // the group empties sooner after the stop
	_, stop := e.startManager(t, mcfg)
	e.mixedLoad(t, 6, "fix")
	e.waitDrained(t, time.Minute)
	cfg := e.replayConfig(t)
	before := e.snapshots(t)

	id := cart.CartID("cart-fix-1")
	orig := before[id]
	bad := corrupt(t, orig)
	value, err := e.rec.EncodeSnapshot(bad)
	if err != nil {
		t.Fatal(err)
	}
	e.produce(t, e.set.State, rawRecord{key: []byte(id), value: value})

	// --verify reports the one cart, field by field.
	res, diffs := foldAndCompare(t, cfg)
	if len(res.Problems) != 0 || len(diffs) != 1 || diffs[0].CartID != id || diffs[0].Kind != replay.DiffMismatch {
		t.Fatalf("differences %+v, want cart %s only", diffs, id)
	}
	fields := map[string]bool{}
	for _, f := range diffs[0].Fields {
		fields[f.Field] = true
	}
	line := "lines[" + string(orig.Cart.Lines[0].SKU) + "].quantity"
	if !fields[line] || !fields["subtotal"] || !fields["item_count"] || len(fields) != 3 {
		t.Errorf("field diff %v, want %s, subtotal, item_count", diffs[0].Fields, line)
	}

	// A rewrite of cart.state is refused while the manager runs.
	opts := replay.RewriteOptions{ManagerGroup: e.group, Encoder: e.rec}
	if _, err := replay.Rewrite(withTimeout(t, time.Minute), cfg, opts); !errors.Is(err, replay.ErrManagerActive) {
		t.Fatalf("rewrite with the manager running: %v, want ErrManagerActive", err)
	}
	stop()
	// Static members stay until their session timeout.
	adm := e.c.Admin(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, _, err := replay.GroupMembers(withTimeout(t, 10*time.Second), adm, 10*time.Second, e.group)
		if err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("manager group still has %d members (%v)", n, err)
		}
		time.Sleep(200 * time.Millisecond) // polling the group with a deadline
	}

	// --dry-run plans the one write and writes nothing.
	dry := opts
	dry.DryRun = true
	r, err := replay.Rewrite(withTimeout(t, time.Minute), cfg, dry)
	if err != nil || len(r.Plan.Writes) != 1 || r.Plan.Writes[0].CartID != id || r.Plan.Unchanged != 5 {
		t.Fatalf("dry run: %+v, %v", r.Plan, err)
	}
	if got := e.snapshots(t)[id]; replay.DiffCart(got.Cart, bad.Cart) != nil {
		t.Fatalf("the dry run wrote: %+v", got.Cart)
	}

	r, err = replay.Rewrite(withTimeout(t, time.Minute), cfg, opts)
	if err != nil || !r.Complete || r.Written != 1 {
		t.Fatalf("rewrite: %+v, %v", r, err)
	}
	if _, diffs := foldAndCompare(t, cfg); len(diffs) != 0 {
		t.Fatalf("after the rewrite: %+v", diffs)
	}
	fixed := e.snapshots(t)[id]
	if replay.DiffCart(fixed.Cart, orig.Cart) != nil {
		t.Errorf("repaired cart %+v, want %+v", fixed.Cart, orig.Cart)
	}
	// The repaired snapshot keeps the write side's request offset and
	// window: the exactly-once verifier, which checks both, stays clean.
	if fixed.RequestOffset != bad.RequestOffset || !slices.Equal(fixed.Window, bad.Window) {
		t.Errorf("repaired snapshot: request offset %d, window %+v; want %d, %+v", fixed.RequestOffset, fixed.Window, bad.RequestOffset, bad.Window)
	}
	if rep := verifyHistory(t, e.c, e.set, e.rec); !rep.Clean() {
		t.Errorf("verifier after the rewrite: %+v", rep.Violations)
	}
}

func TestReplayUntilTimeGivesTheCartAsItWas(t *testing.T) {
	e := newCartEnv(t, 3)
	e.seedCatalog(t, demoProducts()...)
	e.startManager(t, e.managerConfig(t, "m1"))
	id := cart.CartID("cart-time")
	e.send(t, e.add(string(id), "t1", "SKU-A", 1), e.add(string(id), "t2", "SKU-B", 2), e.add("cart-other", "o1", "SKU-C", 1))
	e.waitDrained(t, time.Minute)
	then := e.snapshots(t)
	at := time.Now().UTC()
	// Record timestamps are whole milliseconds: phase two starts in a later one.
	for time.Now().UnixMilli() <= at.UnixMilli() {
		time.Sleep(time.Millisecond)
	}
	e.send(t, e.change(string(id), "t3", "SKU-A", 5), e.remove(string(id), "t4", "SKU-B"), e.checkout(string(id), "t5", "cust-1"),
		e.add("cart-new", "n1", "SKU-A", 1))
	e.waitDrained(t, time.Minute)
	now := e.snapshots(t)
	cfg := e.replayConfig(t)

	past, err := replay.Fold(withTimeout(t, time.Minute), cfg, replay.Scope{UntilTime: at})
	if err != nil {
		t.Fatalf("fold until %s: %v", at, err)
	}
	if len(past.Carts) != 2 || past.Carts["cart-new"] != nil {
		t.Errorf("carts at %s: %d (cart-new present: %t), want cart-time and cart-other", at, len(past.Carts), past.Carts["cart-new"] != nil)
	}
	for _, c := range []cart.CartID{id, "cart-other"} {
		if d := replay.DiffCart(then[c].Cart, past.Carts[c].State); d != nil {
			t.Errorf("cart %s at %s: %v", c, at, d)
		}
	}
	one, err := replay.Fold(withTimeout(t, time.Minute), cfg, replay.Scope{Cart: id, UntilTime: at})
	if err != nil || replay.DiffCart(then[id].Cart, one.Carts[id].State) != nil {
		t.Errorf("one cart until %s: %+v, %v", at, one.Carts[id], err)
	}
	latest, err := replay.Fold(withTimeout(t, time.Minute), cfg, replay.Scope{Cart: id})
	if err != nil || latest.Carts[id].State.Status != cart.StatusCheckedOut || replay.DiffCart(now[id].Cart, latest.Carts[id].State) != nil {
		t.Errorf("cart now: %+v, %v", latest.Carts[id], err)
	}
}

func TestReplayTopicsStatusWarnsOfAHangingTransaction(t *testing.T) {
	e := newCartEnv(t, 3)
	cfg := e.replayConfig(t)
	e.send(t, e.add("cart-s", "s1", "SKU-A", 1))
	rep, err := replay.Status(withTimeout(t, time.Minute), cfg, replay.StatusOptions{ManagerGroup: e.group, SampleInterval: 300 * time.Millisecond})
	if err != nil || len(rep.Warnings) != 0 {
		t.Fatalf("status of idle topics: %v, warnings %v", err, rep.Warnings)
	}
	if len(rep.Partitions) != 8*3 {
		t.Errorf("%d partitions reported, want 24 (eight topics, the stock side's included)", len(rep.Partitions))
	}

	// A transaction left open blocks read_committed readers of its partition.
	txn, err := kafka.NewProducer(e.c.ProducerConfig(kafka.ConfigMap{"transactional.id": kafkatest.UniqueName(t, "hang"), "transaction.timeout.ms": 60000}))
	if err != nil {
		t.Fatal(err)
	}
	_, wait := drainEvents(t, txn)
	defer func() { txn.Close(); wait() }()
	if err := txn.InitTransactions(withTimeout(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	topic := e.set.Validated
	if err := txn.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 1}, Key: []byte("k"), Value: []byte("v")}, nil); err != nil {
		t.Fatal(err)
	}
	if left := txn.Flush(10000); left != 0 {
		t.Fatalf("%d records not flushed", left)
	}
	rep, err = replay.Status(withTimeout(t, time.Minute), cfg, replay.StatusOptions{ManagerGroup: e.group, SampleInterval: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var blocked []string
	for _, p := range rep.Partitions {
		if p.Blocked {
			blocked = append(blocked, fmt.Sprintf("%s/%d", p.Topic, p.Partition))
		}
	}
	if !slices.Equal(blocked, []string{topic + "/1"}) || len(rep.Warnings) != 1 {
		t.Errorf("blocked %v, warnings %v; want %s/1", blocked, rep.Warnings, topic)
	}
	if err := txn.AbortTransaction(withTimeout(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkReplay measures replay throughput (decode + cart.Apply) against
// a raw read_committed read of the same records of cart.validated (polled,
// not decoded), and reports both rates and their ratio (goal: >= 0.70).
// The log is written straight to cart.validated by a transactional
// producer: CARTSTREAM_REPLAY_BENCH_CARTS carts (default 20000) of
// CARTSTREAM_REPLAY_BENCH_EVENTS events each (default 10), on 12
// partitions. With CARTSTREAM_REPLAY_BENCH_PREFIX set, the topics under that
// prefix are kept (and filled only when empty), e.g. for cartctl replay
// --bench.
func BenchmarkReplay(b *testing.B) {
	c := kafkatest.Get(b)
	prefix, keep := os.LookupEnv("CARTSTREAM_REPLAY_BENCH_PREFIX")
	if !keep {
		prefix = kafkatest.UniqueName(b, "")
	}
	set := topics.DefaultSet().WithPrefix(prefix)
	if !keep {
		c.DeleteOnCleanup(b, set.All()...)
	}
	if _, err := topics.Ensure(withTimeout(b, time.Minute), c.Admin(b), set, topics.Config{Partitions: 12}); err != nil {
		b.Fatalf("ensure topics: %v", err)
	}
	rec, err := records.New(records.Config{})
	if err != nil {
		b.Fatal(err)
	}
	carts, events := envInt("CARTSTREAM_REPLAY_BENCH_CARTS", 20000), envInt("CARTSTREAM_REPLAY_BENCH_EVENTS", 10)
	if n := len(readToEnd(b, c, set.Validated, 12, "read_committed")); n == 0 {
		writeBenchLog(b, c, set.Validated, rec, carts, events)
	}
	cfg := replay.Config{Client: kafka.ConfigMap{"bootstrap.servers": c.Brokers()}, Topics: set, Decoder: rec}
	b.ResetTimer()
	var last replay.BenchResult
	for range b.N {
		if last, err = replay.Bench(withTimeout(b, 10*time.Minute), cfg, replay.Scope{}, 2); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(last.RawRate, "raw-events/s")
	b.ReportMetric(last.ReplayRate, "replay-events/s")
	b.ReportMetric(last.Ratio, "ratio")
	b.Log(last)
}

func envInt(name string, def int) int {
	var n int
	if _, err := fmt.Sscan(os.Getenv(name), &n); err != nil || n <= 0 {
		return def
	}
	return n
}

// writeBenchLog writes carts × events AddItem events (each cart's versions
// 1..events, so they fold) in transactions of about 20000 records.
func writeBenchLog(b *testing.B, c *kafkatest.Cluster, topic string, rec interface {
	EncodeValidated(cart.Event) ([]byte, error)
}, carts, events int) {
	b.Helper()
	txn, err := kafka.NewProducer(c.ProducerConfig(kafka.ConfigMap{"transactional.id": kafkatest.UniqueName(b, "bench"), "linger.ms": 20, "batch.size": 1 << 20}))
	if err != nil {
		b.Fatal(err)
	}
	failed, wait := drainEvents(b, txn)
	defer func() {
		txn.Close()
		wait()
		if errs := failed(); len(errs) > 0 {
			b.Fatalf("deliveries failed: %v", errs[0])
		}
	}()
	if err := txn.InitTransactions(withTimeout(b, 30*time.Second)); err != nil {
		b.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	skus := []cart.SKU{"SKU-A", "SKU-B", "SKU-C", "SKU-D"}
	n := 0
	if err := txn.BeginTransaction(); err != nil {
		b.Fatal(err)
	}
	for v := 1; v <= events; v++ {
		for i := range carts {
			id := cart.CartID(fmt.Sprintf("bench-%06d", i))
			ev := cart.AddItemValidatedRequest{CartID: id, RequestID: cart.RequestID(fmt.Sprintf("r-%d", v)), Version: int64(v),
				RequestedAt: at, DecidedAt: at.Add(time.Duration(v) * time.Millisecond), CustomerID: "cust",
				SKU: skus[v%len(skus)], Name: "Product", UnitPrice: eur(100), Quantity: 1}
			value, err := rec.EncodeValidated(ev)
			if err != nil {
				b.Fatal(err)
			}
			for {
				err = txn.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny}, Key: []byte(id), Value: value}, nil)
				var ke kafka.Error
				if errors.As(err, &ke) && ke.Code() == kafka.ErrQueueFull {
					txn.Flush(100)
					continue
				}
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if n++; n%20000 == 0 {
				if err := txn.CommitTransaction(withTimeout(b, time.Minute)); err != nil {
					b.Fatal(err)
				}
				if err := txn.BeginTransaction(); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	if err := txn.CommitTransaction(withTimeout(b, time.Minute)); err != nil {
		b.Fatal(err)
	}
}
