package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/topics"
	"github.com/cartstream/cartstream/inventory"
	"github.com/cartstream/cartstream/inventory/processor"
	"github.com/cartstream/cartstream/validation"
)

// CheckoutResult is the checkout scenario: the stock saga of decision 12
// (cart manager -> inventory.requests, keyed by SKU -> inventory processor
// -> answers into cart.requests, keyed by cart -> the manager decides)
// under open-loop load, beside AddItem on the same manager.
type CheckoutResult struct {
	// Partitions of the cart topics and of inventory.requests: the two
	// partitionings (by cart id, by SKU) a checkout crosses.
	Partitions int `json:"partitions"`
	// Runs are one per Config.CheckoutRates, every checkout with stock
	// enough; Short is the run at the lowest rate where half the carts
	// ask for a scarce SKU and are refused (OUT_OF_STOCK, releases).
	Runs       []CheckoutRun      `json:"runs"`
	Short      CheckoutRun        `json:"short_stock"`
	Saturation CheckoutSaturation `json:"saturation"`
	Stock      StockCheck         `json:"stock"`
	// Missing and Duplicated are over every checkout of the scenario, as a
	// read_committed reader of cart.validated and cart.invalid sees them
	// at the end: checkouts without a decision, with more than one.
	Missing    int    `json:"missing_decisions"`
	Duplicated int    `json:"duplicated_decisions"`
	Error      string `json:"error,omitempty"`
}

// CheckoutRun is one rate: the carts' AddItems at Rate/s (the baseline),
// then their checkouts at Rate/s.
type CheckoutRun struct {
	Rate           int         `json:"rate_per_s"`
	Carts          int         `json:"carts"`
	AddItem        Percentiles `json:"additem_outcome_ms"`
	AddItemMissing int         `json:"additem_missing"`
	// Checkout is from the start of the Checkout's produce to its decided
	// outcome (CartCheckedOut or the rejection) being visible.
	Checkout   Percentiles `json:"checkout_decided_ms"`
	Refusal    Percentiles `json:"refusal_decided_ms"` // the rejected ones among them
	CheckedOut int         `json:"checked_out"`
	Rejected   int         `json:"rejected"`
	Missing    int         `json:"missing"`
	// P99Ratio is checkout p99 / AddItem p99.
	P99Ratio float64 `json:"p99_ratio"`
	// Transactions committed while the checkouts ran, per decided
	// checkout: the manager's (reserve, then decide) and the processor's.
	ManagerTxns    int64   `json:"manager_txns"`
	ProcessorTxns  int64   `json:"processor_txns"`
	ManagerPerCO   float64 `json:"manager_txns_per_checkout"`
	ProcessorPerCO float64 `json:"processor_txns_per_checkout"`
	Granted        int64   `json:"granted"` // processor reservations in the window
	Refused        int64   `json:"refused"`
	Released       int64   `json:"released"`
}

// CheckoutSaturation is closed-loop checkouts by Clients clients, each
// waiting for its checkout's decision before the next.
type CheckoutSaturation struct {
	Clients  int         `json:"clients"`
	Seconds  float64     `json:"seconds"`
	Decided  int         `json:"decided"`
	Rate     float64     `json:"decided_per_s"`
	Latency  Percentiles `json:"decided_ms"`
	Missing  int         `json:"missing"`
	RanShort bool        `json:"ran_out_of_carts"`
}

// StockCheck is inventory.stock read whole at the end.
type StockCheck struct {
	Levels   int `json:"levels_read"`
	Negative int `json:"negative_levels"`
	// Scarce are the final levels of the scarce SKUs.
	Scarce      []inventory.Level `json:"scarce_final"`
	ScarceUnits int64             `json:"scarce_units_set"`
}

// p99Ratio is a's p99 over b's; 0 when b has none.
func p99Ratio(a, b Percentiles) float64 {
	if b.P99 <= 0 {
		return 0
	}
	return a.P99 / b.P99
}

// perCheckout is n per decided checkout; 0 without any.
func perCheckout(n int64, decided int) float64 {
	if decided <= 0 {
		return 0
	}
	return float64(n) / float64(decided)
}

// plentiful is the stock of every SKU but the scarce ones.
const plentiful = 10_000_000

// scarceSKUs are how many of the catalog's SKUs the short run makes scarce.
const scarceSKUs = 2

type checkoutSys struct {
	set    topics.Set
	m      *validation.Manager
	p      *processor.Processor
	pr     *producer
	wv, wi *watcher // cart.validated, cart.invalid
	skus   []cart.SKU
	ids    []string // every checkout's request id
}

func (e *env) checkout(ctx context.Context) (*CheckoutResult, error) {
	r := &CheckoutResult{Partitions: e.cfg.Partitions}
	set, cleanup, err := e.topicSet(ctx, "checkout")
	if err != nil {
		return r, err
	}
	defer cleanup()
	cat := products(max(e.cfg.Products, scarceSKUs+2))
	if err := e.seedCatalog(ctx, set.Catalog, cat); err != nil {
		return r, err
	}
	s := &checkoutSys{set: set, skus: skusOf(cat)}
	shortCarts := int(float64(slicesMin(e.cfg.CheckoutRates)) * e.cfg.CheckoutDuration.Seconds())
	r.Stock.ScarceUnits = int64(shortCarts / 2)
	if err := e.setStock(ctx, set, s.skus, r.Stock.ScarceUnits); err != nil {
		return r, err
	}
	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var runErrs sync.Map
	defer wg.Wait()
	defer stop()
	if err := e.startSaga(sctx, s, &wg, &runErrs); err != nil {
		return r, err
	}
	if s.pr, err = e.newProducer(0, nil); err != nil {
		return r, err
	}
	defer s.pr.close()
	if s.wv, err = e.watch(sctx, set.Validated); err != nil {
		return r, err
	}
	defer s.wv.stop()
	if s.wi, err = e.watch(sctx, set.Invalid); err != nil {
		return r, err
	}
	defer s.wi.stop()
	err = e.checkoutPhases(ctx, s, r)
	if rerr := e.checkDecisions(ctx, s, r); err == nil {
		err = rerr
	}
	if serr := e.checkStock(ctx, set, s.skus[:scarceSKUs], &r.Stock); err == nil {
		err = serr
	}
	stop()
	wg.Wait()
	runErrs.Range(func(k, v any) bool {
		err = errors.Join(err, fmt.Errorf("%s: %w", k, v.(error)))
		return true
	})
	return r, err
}

func slicesMin(v []int) int {
	m := v[0]
	for _, x := range v[1:] {
		m = min(m, x)
	}
	return m
}

// checkoutPhases warms up, then runs each rate, the short-stock run and
// the saturation.
func (e *env) checkoutPhases(ctx context.Context, s *checkoutSys, r *CheckoutResult) error {
	plenty := s.skus[scarceSKUs:]
	oneOrTwo := func(i int) []cart.SKU {
		if i%2 == 0 {
			return []cart.SKU{plenty[i%len(plenty)]}
		}
		return []cart.SKU{plenty[i%len(plenty)], plenty[(i+7)%len(plenty)]}
	}
	e.logf("checkout: warm-up")
	if _, err := e.checkoutRun(ctx, s, "w", 200, 200, oneOrTwo); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	for _, rate := range e.cfg.CheckoutRates {
		n := int(float64(rate) * e.cfg.CheckoutDuration.Seconds())
		run, err := e.checkoutRun(ctx, s, fmt.Sprintf("r%d", rate), rate, n, oneOrTwo)
		r.Runs = append(r.Runs, run)
		if err != nil {
			return err
		}
	}
	rate := slicesMin(e.cfg.CheckoutRates)
	// Every cart holds a plentiful line and one unit of a scarce SKU; the
	// scarce stock covers half of them, so the other half are refused and
	// their plentiful reservations released.
	withScarce := func(i int) []cart.SKU { return []cart.SKU{plenty[i%len(plenty)], s.skus[i%scarceSKUs]} }
	var err error
	if r.Short, err = e.checkoutRun(ctx, s, "short", rate, int(float64(rate)*e.cfg.CheckoutDuration.Seconds()), withScarce); err != nil {
		return fmt.Errorf("short stock: %w", err)
	}
	r.Saturation, err = e.checkoutSaturation(ctx, s, oneOrTwo)
	return err
}

// startSaga runs the manager (reservations on) and the inventory
// processor in process until ctx ends.
func (e *env) startSaga(ctx context.Context, s *checkoutSys, wg *sync.WaitGroup, runErrs *sync.Map) error {
	var err error
	s.m, err = validation.New(validation.Config{Producers: e.cfg.Producers, MaxBatchRecords: e.cfg.ManagerBatch, Client: e.base(), Topics: s.set,
		GroupID: "bench-" + e.runID + "-checkout-manager", InstanceID: "bench-checkout-1", Records: e.rec,
		SessionTimeout: 6 * time.Second, TransactionTimeout: 10 * time.Second, Reservations: true,
		Logger: e.serviceLogger(), StatsInterval: time.Hour,
	})
	if err != nil {
		return err
	}
	s.p, err = processor.New(processor.Config{Client: e.base(), Topics: s.set,
		GroupID: "bench-" + e.runID + "-checkout-inventory", InstanceID: "bench-inventory-1", Records: e.rec,
		SessionTimeout: 6 * time.Second, TransactionTimeout: 10 * time.Second, Logger: e.serviceLogger(),
	})
	if err != nil {
		return err
	}
	for name, run := range map[string]func(context.Context) error{"manager": s.m.Run, "inventory": s.p.Run} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil {
				runErrs.Store(name, err)
			}
		}()
	}
	for name, ready := range map[string]<-chan struct{}{"manager": s.m.Ready(), "inventory": s.p.Ready()} {
		select {
		case <-ready:
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(90 * time.Second):
			return fmt.Errorf("%s not ready within 90s", name)
		}
	}
	return nil
}

// setStock counts every SKU as the admin API does (SetStock on
// inventory.requests, keyed by SKU): the first scarceSKUs share scarce
// units, the others are plentiful.
func (e *env) setStock(ctx context.Context, set topics.Set, skus []cart.SKU, scarce int64) error {
	pr, err := e.newProducer(5*time.Millisecond, nil)
	if err != nil {
		return err
	}
	defer pr.close()
	for i, sku := range skus {
		units := int64(plentiful)
		if i < scarceSKUs {
			units = scarce / scarceSKUs
			if i == 0 {
				units += scarce % scarceSKUs
			}
		}
		v, err := e.rec.EncodeInventoryRequest(inventory.Request{Kind: inventory.KindSet, RequestID: cart.RequestID(fmt.Sprintf("bench-set-%d", i)), SKU: sku, RequestedAt: time.Now(), Units: units})
		if err != nil {
			return fmt.Errorf("encode stock of %s: %w", sku, err)
		}
		if err := pr.produce(ctx, set.Inventory, kafka.Message{Key: []byte(sku), Value: v}); err != nil {
			return err
		}
	}
	return pr.flush(ctx)
}

// checkoutCommands are n carts' AddItems (one per SKU lines(i) gives, one
// unit each) and their checkouts.
func (e *env) checkoutCommands(label string, n int, lines func(int) []cart.SKU) (adds, cos []cart.Command) {
	now := time.Now()
	prefix := "co" + label + e.runID
	for i := range n {
		id := cartName(prefix, i)
		for k, sku := range lines(i) {
			adds = append(adds, cart.AddItem{CartID: id, RequestID: cart.RequestID(fmt.Sprintf("%s-%06d-a%d", prefix, i, k)), CustomerID: "bench-customer", RequestedAt: now, SKU: sku, Quantity: 1})
		}
		cos = append(cos, cart.Checkout{CartID: id, RequestID: cart.RequestID(fmt.Sprintf("%s-%06d-co", prefix, i)), CustomerID: "bench-customer", RequestedAt: now})
	}
	return adds, cos
}

// checkoutRun is one run: n carts' AddItems at rate/s, their outcomes
// awaited, then the n checkouts at rate/s and their decisions.
func (e *env) checkoutRun(ctx context.Context, s *checkoutSys, label string, rate, n int, lines func(int) []cart.SKU) (CheckoutRun, error) {
	run := CheckoutRun{Rate: rate, Carts: n}
	adds, cos := e.checkoutCommands(label, n, lines)
	e.logf("checkout %s: %d AddItems at %d/s", label, len(adds), rate)
	lat, missing, err := e.openLoopAt(ctx, s, adds, rate)
	if err != nil {
		return run, err
	}
	run.AddItem, run.AddItemMissing = percentiles(lat), missing
	if missing > 0 {
		return run, fmt.Errorf("%d AddItem outcomes missing", missing)
	}
	m0, p0 := s.m.Stats().Snapshot().Commits, s.p.Stats()
	pc0, g0, rf0, rl0 := p0.Commits.Load(), p0.Granted.Load(), p0.Refused.Load(), p0.Released.Load()
	e.logf("checkout %s: %d checkouts at %d/s", label, len(cos), rate)
	starts, err := e.produceAt(ctx, s.set.Requests, s.pr, cos, rate)
	if err != nil {
		return run, err
	}
	ids := requestIDs(cos)
	s.ids = append(s.ids, ids...)
	run.Missing = e.waitDecided(ctx, s, ids, time.Minute)
	var all, refused []time.Duration
	for i, id := range ids {
		at, accepted, ok := s.decidedAt(id)
		if !ok {
			continue
		}
		all = append(all, at.Sub(starts[i]))
		if accepted {
			run.CheckedOut++
		} else {
			run.Rejected++
			refused = append(refused, at.Sub(starts[i]))
		}
	}
	p1 := s.p.Stats()
	run.ManagerTxns, run.ProcessorTxns = s.m.Stats().Snapshot().Commits-m0, p1.Commits.Load()-pc0
	run.Granted, run.Refused, run.Released = p1.Granted.Load()-g0, p1.Refused.Load()-rf0, p1.Released.Load()-rl0
	run.Checkout, run.Refusal = percentiles(all), percentiles(refused)
	run.P99Ratio = p99Ratio(run.Checkout, run.AddItem)
	decided := run.CheckedOut + run.Rejected
	run.ManagerPerCO, run.ProcessorPerCO = perCheckout(run.ManagerTxns, decided), perCheckout(run.ProcessorTxns, decided)
	e.logf("checkout %s @%d/s: AddItem p99 %.1f ms; checkout p50 %.1f p99 %.1f p99.9 %.1f ms (x%.2f); %d checked out, %d rejected, %d missing; txns/checkout %.2f + %.2f",
		label, rate, run.AddItem.P99, run.Checkout.P50, run.Checkout.P99, run.Checkout.P999, run.P99Ratio, run.CheckedOut, run.Rejected, run.Missing, run.ManagerPerCO, run.ProcessorPerCO)
	if run.Missing > 0 {
		return run, fmt.Errorf("%s: %d checkouts without a decision within a minute", label, run.Missing)
	}
	return run, nil
}

// openLoopAt produces cmds at rate/s and returns each outcome's latency
// (produce start to visible) and how many are missing after 30 s.
func (e *env) openLoopAt(ctx context.Context, s *checkoutSys, cmds []cart.Command, rate int) ([]time.Duration, int, error) {
	starts, err := e.produceAt(ctx, s.set.Requests, s.pr, cmds, rate)
	if err != nil {
		return nil, 0, err
	}
	ids := requestIDs(cmds)
	missing := e.waitDecided(ctx, s, ids, 30*time.Second)
	var lat []time.Duration
	for i, id := range ids {
		if at, _, ok := s.decidedAt(id); ok {
			lat = append(lat, at.Sub(starts[i]))
		}
	}
	return lat, missing, nil
}

// produceAt produces cmds open loop, rate per second, and returns when
// each produce started.
func (e *env) produceAt(ctx context.Context, topic string, pr *producer, cmds []cart.Command, rate int) ([]time.Time, error) {
	wl := newWorkload(11, "", nil)
	return e.scheduleAt(ctx, topic, pr, cmds, rate, wl.traceparent)
}

// decidedAt is when id's outcome became visible and whether it was
// accepted (cart.validated) or rejected (cart.invalid).
func (s *checkoutSys) decidedAt(id string) (time.Time, bool, bool) {
	if at, ok := s.wv.seenAt(id); ok {
		return at, true, true
	}
	at, ok := s.wi.seenAt(id)
	return at, false, ok
}

// waitDecided waits until every id has an outcome on either topic, or
// the timeout, and returns how many have none.
func (e *env) waitDecided(ctx context.Context, s *checkoutSys, ids []string, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		missing := 0
		for _, id := range ids {
			if _, _, ok := s.decidedAt(id); !ok {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return missing
		}
		time.Sleep(20 * time.Millisecond) // polling the watchers with a deadline
	}
}

// checkoutSaturation preloads carts, then runs CheckoutClients closed-loop
// clients for CheckoutDuration, each producing a checkout and waiting for
// its decision before the next.
func (e *env) checkoutSaturation(ctx context.Context, s *checkoutSys, lines func(int) []cart.SKU) (CheckoutSaturation, error) {
	clients := e.cfg.CheckoutClients
	perClient := max(int(600*e.cfg.CheckoutDuration.Seconds())/clients, 10)
	r := CheckoutSaturation{Clients: clients}
	adds, cos := e.checkoutCommands("sat", clients*perClient, lines)
	e.logf("checkout saturation: preloading %d carts", clients*perClient)
	if _, missing, err := e.openLoopAt(ctx, s, adds, 20_000); err != nil || missing > 0 {
		return r, errors.Join(err, fmt.Errorf("saturation preload: %d outcomes missing", missing))
	}
	e.logf("checkout saturation: %d closed-loop clients for %s", clients, e.cfg.CheckoutDuration)
	var mu sync.Mutex
	var lat []time.Duration
	var sentIDs []string
	var wg sync.WaitGroup
	wl := newWorkload(12, "", nil)
	begin := time.Now()
	end := begin.Add(e.cfg.CheckoutDuration)
	for k := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := k * perClient; i < (k+1)*perClient && time.Now().Before(end) && ctx.Err() == nil; i++ {
				msg, err := requestRecord(e.rec, cos[i], wl.traceparent())
				if err != nil {
					return
				}
				id := string(cos[i].Meta().RequestID)
				t0 := time.Now()
				if s.pr.produce(ctx, s.set.Requests, msg) != nil { // linger 0: sent at once
					return
				}
				mu.Lock()
				sentIDs = append(sentIDs, id)
				mu.Unlock()
				for {
					if at, _, ok := s.decidedAt(id); ok {
						mu.Lock()
						lat = append(lat, at.Sub(t0))
						mu.Unlock()
						break
					}
					if time.Since(t0) > time.Minute || ctx.Err() != nil {
						return
					}
					time.Sleep(2 * time.Millisecond) // polling the watchers for this client's decision
				}
				if i == (k+1)*perClient-1 {
					mu.Lock()
					r.RanShort = true
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	r.Seconds = time.Since(begin).Seconds()
	s.ids = append(s.ids, sentIDs...)
	r.Decided, r.Latency = len(lat), percentiles(lat)
	r.Rate = float64(r.Decided) / r.Seconds
	r.Missing = e.waitDecided(ctx, s, sentIDs, 30*time.Second)
	e.logf("checkout saturation: %.0f checkouts decided/s, p99 %.1f ms, %d missing", r.Rate, r.Latency.P99, r.Missing)
	return r, nil
}

// checkDecisions reads cart.validated and cart.invalid whole and counts
// the checkouts without a decision and with more than one.
func (e *env) checkDecisions(ctx context.Context, s *checkoutSys, r *CheckoutResult) error {
	got, err := e.readOutcomes(ctx, s.set.Validated, s.set.Invalid)
	if err != nil {
		return fmt.Errorf("read outcomes: %w", err)
	}
	for _, id := range s.ids {
		switch o, ok := got[id]; {
		case !ok:
			r.Missing++
		case o.Count > 1:
			r.Duplicated++
		}
	}
	for _, id := range requestIDsOf(got, "coshort") {
		if o := got[id]; !o.Accepted && o.Reason != cart.ReasonOutOfStock {
			return fmt.Errorf("short-stock checkout %s rejected with %s, want OUT_OF_STOCK", id, o.Reason)
		}
	}
	if r.Missing > 0 || r.Duplicated > 0 {
		return fmt.Errorf("checkouts: %d without a decision, %d with more than one", r.Missing, r.Duplicated)
	}
	return nil
}

// requestIDsOf are got's checkout request ids that start with prefix.
func requestIDsOf(got map[string]outcome, prefix string) []string {
	var out []string
	for id := range got {
		if len(id) > len(prefix) && id[:len(prefix)] == prefix && id[len(id)-3:] == "-co" {
			out = append(out, id)
		}
	}
	return out
}

// checkStock reads inventory.stock whole: no level ever negative, and the
// scarce SKUs' final levels.
func (e *env) checkStock(ctx context.Context, set topics.Set, scarce []cart.SKU, sc *StockCheck) error {
	latest := map[cart.SKU]inventory.Level{}
	var decodeErr error
	err := e.readAll(ctx, []string{set.Stock}, func(msg *kafka.Message) {
		l, err := e.rec.DecodeStockLevel(msg.Value)
		if err != nil {
			// A negative level fails validation in the codec: count it.
			sc.Negative++
			decodeErr = errors.Join(decodeErr, fmt.Errorf("stock level at %v: %w", msg.TopicPartition, err))
			return
		}
		sc.Levels++
		if l.Available < 0 || l.Reserved < 0 {
			sc.Negative++
		}
		latest[l.SKU] = l
	})
	if err != nil {
		return fmt.Errorf("read stock: %w", err)
	}
	for _, sku := range scarce {
		sc.Scarce = append(sc.Scarce, latest[sku])
	}
	if sc.Negative > 0 {
		return fmt.Errorf("stock: %d negative or invalid levels: %w", sc.Negative, decodeErr)
	}
	return nil
}
