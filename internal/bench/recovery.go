package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/kafkaconf"
	"github.com/cartstream/cartstream/internal/topics"
)

// RecoveryTarget bounds the time from a kill to the replacement's first
// committed transaction.
const RecoveryTarget = 10 * time.Second

// RecoveryResult is scenario 3.
type RecoveryResult struct {
	Rate       int        `json:"load_per_s"`
	Cycles     []Recovery `json:"cycles"`
	MaxSeconds float64    `json:"max_to_commit_s"`
	Target     float64    `json:"target_s"`
	Pass       bool       `json:"pass"`
	Error      string     `json:"error,omitempty"`
}

// Recovery is one kill -9 and restart. Times are seconds after the kill.
type Recovery struct {
	// ToCommit: the group's committed offsets first advanced past where
	// the killed process left them (the replacement's first transaction).
	ToCommit float64 `json:"to_first_commit_s"`
	// ToOutcome: the first outcome of a request sent after the kill became
	// visible to a read_committed consumer.
	ToOutcome float64 `json:"to_first_new_outcome_s"`
	// The replacement's own log: process started and checked the topics;
	// catalog loaded; producer initialised (InitTransactions, which fences
	// the killed producer and aborts its transaction) and subscribed;
	// partitions assigned (group join, committed offsets, restore).
	Starting      float64 `json:"starting_s"`
	CatalogLoaded float64 `json:"catalog_loaded_s"`
	Ready         float64 `json:"init_transactions_done_s"`
	Assigned      float64 `json:"partitions_assigned_s"`
	RestoreTook   float64 `json:"assign_restore_took_s"`
	RestoredCarts int64   `json:"restored_carts"`
	Backlog       int64   `json:"backlog_at_first_commit"`
}

func (e *env) recovery(ctx context.Context) (*RecoveryResult, error) {
	cfg := e.cfg
	r := &RecoveryResult{Rate: cfg.RecoveryRate, Target: RecoveryTarget.Seconds()}
	set, cleanup, err := e.topicSet(ctx, "recovery")
	if err != nil {
		return r, err
	}
	defer cleanup()
	cat := products(cfg.Products)
	if err := e.seedCatalog(ctx, set.Catalog, cat); err != nil {
		return r, err
	}
	dir, err := os.MkdirTemp("", "cartbench-recovery-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	bin, err := e.buildManager(ctx, dir)
	if err != nil {
		return r, err
	}
	group := "bench-" + e.runID + "-recovery-manager"
	p, err := newManagerProc(bin, dir, e.managerArgs(set, group, "bench-recovery-1"), nil)
	if err != nil {
		return r, err
	}
	defer p.close()
	off, err := p.start()
	if err != nil {
		return r, err
	}
	if _, err := p.waitLog(ctx, off, "partitions assigned", 90*time.Second); err != nil {
		return r, err
	}
	w, err := e.watch(ctx, set.Validated, set.Invalid)
	if err != nil {
		return r, err
	}
	lctx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	defer w.stop()
	l, err := e.steadyLoad(lctx, set, skusOf(cat))
	if err != nil {
		return r, err
	}
	defer l.wait()
	defer stopLoad()
	// Let the manager settle into the load.
	if err := e.caughtUp(ctx, group, set, 60*time.Second); err != nil {
		return r, err
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for k := range cfg.Kills {
		select {
		case <-time.After(time.Duration(2000+rng.IntN(1500)) * time.Millisecond): // steady load between kills
		case <-ctx.Done():
			return r, ctx.Err()
		}
		c, err := e.killOnce(ctx, p, group, set, l, w)
		if err != nil {
			return r, fmt.Errorf("kill %d: %w", k+1, err)
		}
		r.Cycles = append(r.Cycles, c)
		r.MaxSeconds = max(r.MaxSeconds, c.ToCommit)
		e.logf("recovery: kill %d/%d: first commit after %.2fs, first new outcome after %.2fs (start %.2fs, catalog %.2fs, init %.2fs, assigned %.2fs)",
			k+1, cfg.Kills, c.ToCommit, c.ToOutcome, c.Starting, c.CatalogLoaded, c.Ready, c.Assigned)
		if err := e.caughtUp(ctx, group, set, 60*time.Second); err != nil {
			return r, err
		}
	}
	stopLoad()
	l.wait()
	if err := l.err(); err != nil {
		return r, err
	}
	if err := e.caughtUp(ctx, group, set, 60*time.Second); err != nil {
		return r, err
	}
	r.Pass = len(r.Cycles) == cfg.Kills && r.MaxSeconds <= r.Target
	return r, p.stop()
}

func (e *env) managerArgs(set topics.Set, group, instance string) []string {
	prefix := set.Requests[:len(set.Requests)-len(topics.DefaultSet().Requests)]
	args := []string{
		"-brokers", e.brokers, "-" + kafkaconf.Flag, e.cfg.KafkaConfig, "-topic-prefix", prefix, "-partitions", fmt.Sprint(e.cfg.Partitions),
		"-group", group, "-instance-id", instance, "-health-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0",
		"-transaction-timeout", "10s", "-session-timeout", "6s", "-log-format", "json",
	}
	if e.cfg.ManagerBatch > 0 {
		args = append(args, "-max-batch", fmt.Sprint(e.cfg.ManagerBatch))
	}
	return args
}

// load is a steady producer of commands at RecoveryRate, remembering when
// each was sent.
type load struct {
	mu    sync.Mutex
	ids   []string
	sent  []time.Time
	done  chan struct{}
	first error
}

func (l *load) wait() { <-l.done }
func (l *load) err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first
}

// since returns the ids of requests sent after t.
func (l *load) since(t time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for i := len(l.sent) - 1; i >= 0 && l.sent[i].After(t); i-- {
		out = append(out, l.ids[i])
	}
	return out
}

func (e *env) steadyLoad(ctx context.Context, set topics.Set, skus []cart.SKU) (*load, error) {
	pr, err := e.newProducer(2*time.Millisecond, nil)
	if err != nil {
		return nil, err
	}
	l := &load{done: make(chan struct{})}
	wl := newWorkload(5, "r"+e.runID, skus)
	const tick = 20 * time.Millisecond
	perTick := max(e.cfg.RecoveryRate*int(tick/time.Millisecond)/1000, 1)
	go func() {
		defer close(l.done)
		defer pr.close()
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				fctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := pr.flush(fctx); err != nil {
					l.mu.Lock()
					l.first = errors.Join(l.first, err)
					l.mu.Unlock()
				}
				return
			case <-t.C:
			}
			for range perTick {
				cmd := wl.next(wl.rng.IntN(2000), time.Now())
				msg, err := requestRecord(e.rec, cmd, wl.traceparent())
				if err == nil {
					err = pr.produce(ctx, set.Requests, msg)
				}
				l.mu.Lock()
				if err != nil && ctx.Err() == nil {
					l.first = errors.Join(l.first, err)
				}
				l.ids = append(l.ids, string(cmd.Meta().RequestID))
				l.sent = append(l.sent, time.Now())
				l.mu.Unlock()
			}
		}
	}()
	return l, nil
}

// caughtUp waits until the group is less than a second of load behind.
func (e *env) caughtUp(ctx context.Context, group string, set topics.Set, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ends, err := e.endOffsets(ctx, set.Requests, kafka.IsolationLevelReadCommitted)
		if err == nil {
			c, cerr := e.committed(ctx, group, set.Requests, false)
			if cerr == nil && sum(ends)-sum(c) <= int64(e.cfg.RecoveryRate) {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("group %s did not catch up within %s", group, timeout)
		}
		time.Sleep(100 * time.Millisecond) // polling offsets with a deadline
	}
}

func (e *env) killOnce(ctx context.Context, p *managerProc, group string, set topics.Set, l *load, w *watcher) (Recovery, error) {
	var c Recovery
	before, err := e.committed(ctx, group, set.Requests, false)
	if err != nil {
		return c, err
	}
	base := sum(before)
	killed := time.Now()
	p.kill()
	off, err := p.start()
	if err != nil {
		return c, err
	}
	// A commit the killed process had sent may still complete in these
	// first milliseconds; the replacement cannot commit this soon.
	for time.Since(killed) < 250*time.Millisecond {
		if now, err := e.committed(ctx, group, set.Requests, false); err == nil {
			base = max(base, sum(now))
		}
		time.Sleep(25 * time.Millisecond) // sampling the baseline
	}
	deadline := killed.Add(60 * time.Second)
	for {
		now, err := e.committed(ctx, group, set.Requests, false)
		if err == nil && sum(now) > base {
			c.ToCommit = time.Since(killed).Seconds()
			if ends, err := e.endOffsets(ctx, set.Requests, kafka.IsolationLevelReadCommitted); err == nil {
				c.Backlog = sum(ends) - sum(now)
			}
			break
		}
		if time.Now().After(deadline) {
			return c, fmt.Errorf("no commit within 60s of the kill (log: %s)", p.logPath)
		}
		time.Sleep(50 * time.Millisecond) // polling the group's offsets
	}
	for {
		var first time.Time
		for _, id := range l.since(killed) {
			if at, ok := w.seenAt(id); ok && (first.IsZero() || at.Before(first)) {
				first = at
			}
		}
		if !first.IsZero() {
			c.ToOutcome = first.Sub(killed).Seconds()
			break
		}
		if time.Now().After(deadline) {
			return c, errors.New("no outcome of a request sent after the kill within 60s")
		}
		time.Sleep(50 * time.Millisecond) // polling the watcher
	}
	lines, _ := p.lines(off)
	for _, ln := range lines {
		at := ln.Time.Sub(killed).Seconds()
		switch ln.Msg {
		case "starting":
			c.Starting = at
		case "catalog loaded":
			c.CatalogLoaded = at
		case "ready":
			c.Ready = at
		case "partitions assigned":
			if c.Assigned == 0 {
				c.Assigned = at
				c.RestoreTook = logDuration(ln.Attrs["took"]).Seconds()
				if n, ok := ln.Attrs["carts"].(float64); ok {
					c.RestoredCarts = int64(n)
				}
			}
		}
	}
	return c, nil
}

// logDuration reads a duration slog wrote: JSON handlers write nanoseconds.
func logDuration(v any) time.Duration {
	switch x := v.(type) {
	case float64:
		return time.Duration(x)
	case string:
		d, _ := time.ParseDuration(x)
		return d
	}
	return 0
}
