package integration

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/validation"
)

// faultPlan is the fault tests' validation.FaultInjector: each armed rule
// fails (or stalls) the next calls at its point.
type faultPlan struct {
	mu    sync.Mutex
	rules []*faultRule
	hits  map[validation.FaultPoint]int
	sites []validation.FaultSite // where a rule struck, in order
}

// faultRule injects fault at the next times calls at point (times < 0:
// until disarmed). With stall set, the step first waits until stall is
// closed, with its transaction open; reached is closed when one does.
type faultRule struct {
	at          validation.FaultPoint
	fault       validation.Fault
	times       int
	stall       chan struct{}
	reached     chan struct{}
	reachedOnce sync.Once
}

func newFaultPlan() *faultPlan { return &faultPlan{hits: map[validation.FaultPoint]int{}} }

func (p *faultPlan) arm(r *faultRule) *faultRule {
	if r.stall != nil {
		r.reached = make(chan struct{})
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, r)
	return r
}

// disarm drops every rule (a stalled step stays stalled until released).
func (p *faultPlan) disarm() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
}

func (p *faultPlan) Inject(site validation.FaultSite) validation.Fault {
	p.mu.Lock()
	var r *faultRule
	for _, x := range p.rules {
		if x.at == site.Point && x.times != 0 {
			r = x
			if x.times > 0 {
				x.times--
			}
			p.hits[site.Point]++
			p.sites = append(p.sites, site)
			break
		}
	}
	p.mu.Unlock()
	if r == nil {
		return validation.FaultNone
	}
	if r.stall != nil {
		r.reachedOnce.Do(func() { close(r.reached) })
		<-r.stall
	}
	return r.fault
}

func (p *faultPlan) count(at validation.FaultPoint) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits[at]
}

func (p *faultPlan) struck() []validation.FaultSite {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.sites)
}

// logTap is a slog handler that keeps every record (and passes it on to
// the test's logger), so a test can assert what the manager logged.
type logTap struct {
	mu    *sync.Mutex
	recs  *[]tapped
	next  slog.Handler
	attrs []slog.Attr
}

type tapped struct {
	level slog.Level
	msg   string
	attrs map[string]slog.Value
}

func newLogTap(next slog.Handler) *logTap {
	return &logTap{mu: &sync.Mutex{}, recs: &[]tapped{}, next: next}
}

func (h *logTap) Enabled(context.Context, slog.Level) bool { return true }

func (h *logTap) Handle(ctx context.Context, r slog.Record) error {
	t := tapped{level: r.Level, msg: r.Message, attrs: map[string]slog.Value{}}
	for _, a := range h.attrs {
		t.attrs[a.Key] = a.Value
	}
	r.Attrs(func(a slog.Attr) bool { t.attrs[a.Key] = a.Value; return true })
	h.mu.Lock()
	*h.recs = append(*h.recs, t)
	h.mu.Unlock()
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *logTap) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(slices.Clone(h.attrs), as...)
	c.next = h.next.WithAttrs(as)
	return &c
}

func (h *logTap) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	return &c
}

// int is an integer attribute, 0 when absent (an older manager's line).
func (r tapped) int(key string) int64 {
	if v := r.attrs[key]; v.Kind() == slog.KindInt64 {
		return v.Int64()
	}
	return 0
}

func (r tapped) duration(key string) (time.Duration, bool) {
	if v := r.attrs[key]; v.Kind() == slog.KindDuration {
		return v.Duration(), true
	}
	return 0, false
}

// find returns the records with this message, in order.
func (h *logTap) find(msg string) []tapped {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []tapped
	for _, r := range *h.recs {
		if r.msg == msg {
			out = append(out, r)
		}
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
}

// waitHealth waits until the manager's Health says serving (or not).
func waitHealth(t *testing.T, m *validation.Manager, serving bool, timeout time.Duration) validation.Health {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		h, changed := m.Health()
		if h.Serving == serving {
			return h
		}
		select {
		case <-changed:
		case <-timer.C:
			t.Fatalf("health %+v after %s, want serving=%v", h, timeout, serving)
		}
	}
}

// startFaulty starts a manager whose write path consults plan and whose
// log the returned tap keeps.
func (e *cartEnv) startFaulty(t *testing.T, instance string, plan *faultPlan, tweak func(*validation.Config)) (*validation.Manager, *logTap) {
	t.Helper()
	cfg := e.managerConfig(t, instance)
	tap := newLogTap(cfg.Logger.Handler())
	cfg.Logger = slog.New(tap)
	if plan != nil {
		cfg.Faults = plan
	}
	if tweak != nil {
		tweak(&cfg)
	}
	m, _ := e.startManager(t, cfg)
	return m, tap
}

// sentRequest is a command and where it landed in cart.requests.
type sentRequest struct {
	cmd cart.Command
	pos kafka.TopicPartition
}

// sendWave sends one wave of load and remembers it.
func (e *cartEnv) sendWave(t *testing.T, sent *[]sentRequest, wave, n, carts int) {
	t.Helper()
	cmds := e.loadWave(wave, n, carts)
	pos := e.send(t, cmds...)
	for i, c := range cmds {
		*sent = append(*sent, sentRequest{cmd: c, pos: pos[i]})
	}
}

func commandsOf(sent []sentRequest) []cart.Command {
	out := make([]cart.Command, len(sent))
	for i, s := range sent {
		out[i] = s.cmd
	}
	return out
}

// checkFaultFree asserts that the manager's history is the one a run
// without faults gives: every request has exactly one outcome
// (checkExactlyOnce, the verifier), each request's decision and each
// cart's final state are those of the pure domain folding the requests in
// their log order (so no aborted batch left a trace in the in-memory state
// and no offset was skipped or repeated), and the counters of the given
// managers add up to the committed work exactly.
func (e *cartEnv) checkFaultFree(t *testing.T, sent []sentRequest, managers ...*validation.Manager) {
	t.Helper()
	e.checkExactlyOnce(t, commandsOf(sent))

	ordered := slices.Clone(sent)
	slices.SortStableFunc(ordered, func(a, b sentRequest) int {
		return cmp.Or(cmp.Compare(a.pos.Partition, b.pos.Partition), cmp.Compare(a.pos.Offset, b.pos.Offset))
	})
	catalog := cart.MapCatalog{}
	for _, p := range demoProducts() {
		catalog[p.SKU] = p
	}
	snaps := map[cart.CartID]cart.Snapshot{}
	want := map[cart.RequestID]string{}
	for _, s := range ordered {
		id := s.cmd.Meta().CartID
		snap, ok := snaps[id]
		if !ok {
			snap = cart.NewSnapshot(id)
		}
		next, out := cart.Process(snap, s.cmd, int64(s.pos.Offset), catalog, cart.Limits{}, time.Unix(0, 0).UTC())
		snaps[id] = next
		switch out.Disposition {
		case cart.DispositionAccepted:
			want[s.cmd.Meta().RequestID] = "accepted"
		case cart.DispositionRejected:
			want[s.cmd.Meta().RequestID] = out.Invalid.Rejection.Reason.String()
		default:
			t.Fatalf("reference: request %s is %v; the load has no retries", s.cmd.Meta().RequestID, out.Disposition)
		}
	}
	validated, invalid := e.outcomes(t)
	got := map[cart.RequestID]string{}
	for _, o := range validated {
		got[o.requestID()] = "accepted"
	}
	for _, o := range invalid {
		got[o.requestID()] = o.invalid.Rejection.Reason.String()
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("request %s: %q, a run without faults decides %q", id, got[id], w)
		}
	}
	final := e.snapshots(t)
	for id, s := range snaps {
		g := final[id]
		// Times come from the manager's clock.
		g.Cart.UpdatedAt, g.Cart.CheckedOutAt = time.Time{}, time.Time{}
		s.Cart.UpdatedAt, s.Cart.CheckedOutAt = time.Time{}, time.Time{}
		if !reflect.DeepEqual(g.Cart, s.Cart) || g.RequestOffset != s.RequestOffset {
			t.Errorf("cart %s: snapshot %+v at offset %d, a run without faults gives %+v at %d", id, g.Cart, g.RequestOffset, s.Cart, s.RequestOffset)
		}
	}

	var sum validation.StatsSnapshot
	for _, m := range managers {
		s := m.Stats().Snapshot()
		sum.Processed += s.Processed
		sum.Accepted += s.Accepted
		sum.Rejected += s.Rejected
		sum.Duplicates += s.Duplicates
		sum.Stale += s.Stale
		sum.Malformed += s.Malformed
	}
	wantStats := validation.StatsSnapshot{Processed: int64(len(sent)), Accepted: int64(len(validated)), Rejected: int64(len(invalid))}
	if sum != wantStats {
		t.Errorf("counters %s, want the committed work %s", statsLine(sum), statsLine(wantStats))
	}
}

func statsLine(s validation.StatsSnapshot) string {
	return fmt.Sprintf("processed=%d accepted=%d rejected=%d duplicates=%d stale=%d malformed=%d",
		s.Processed, s.Accepted, s.Rejected, s.Duplicates, s.Stale, s.Malformed)
}

// checkBackoffs asserts that log lines with msg carry an attempt number
// and a delay within that attempt's bound (100 ms doubling to 5 s).
func checkBackoffs(t *testing.T, recs []tapped, msg string) {
	t.Helper()
	for i, r := range recs {
		attempt, delay := r.attrs["attempt"], r.attrs["after"]
		if attempt.Kind() != slog.KindInt64 || delay.Kind() != slog.KindDuration {
			t.Errorf("%s %d: attempt %v after %v, want an attempt number and a delay", msg, i, attempt, delay)
			continue
		}
		n, d := attempt.Int64(), delay.Duration()
		bound := min(100*time.Millisecond<<min(n-1, 10), 5*time.Second)
		if n < 1 || d < 0 || d > bound {
			t.Errorf("%s %d: attempt %d waits %s, want within [0, %s]", msg, i, n, d, bound)
		}
		if r.level != slog.LevelWarn {
			t.Errorf("%s %d logged at %s, want WARN", msg, i, r.level)
		}
	}
}

// openTransactions says whether a partition of topic holds records of a
// transaction not yet ended (its last stable offset is behind its end).
func (e *cartEnv) openTransactions(t *testing.T, admin *kafka.AdminClient, topic string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := map[kafka.TopicPartition]kafka.OffsetSpec{}
	for i := range e.partitions {
		req[kafka.TopicPartition{Topic: &topic, Partition: int32(i)}] = kafka.LatestOffsetSpec
	}
	ends := map[kafka.IsolationLevel]map[int32]int64{}
	for _, iso := range []kafka.IsolationLevel{kafka.IsolationLevelReadCommitted, kafka.IsolationLevelReadUncommitted} {
		res, err := admin.ListOffsets(ctx, req, kafka.SetAdminIsolationLevel(iso))
		if err != nil {
			t.Fatalf("list offsets of %s: %v", topic, err)
		}
		ends[iso] = map[int32]int64{}
		for tp, info := range res.ResultInfos {
			ends[iso][tp.Partition] = int64(info.Offset)
		}
	}
	return !maps.Equal(ends[kafka.IsolationLevelReadCommitted], ends[kafka.IsolationLevelReadUncommitted])
}
