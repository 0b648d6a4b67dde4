package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cartstream/cartstream/internal/gateway"
	"github.com/cartstream/cartstream/internal/grpclimits"
	"github.com/cartstream/cartstream/internal/kafkaconf"
	"github.com/cartstream/cartstream/internal/partition"
	"github.com/cartstream/cartstream/internal/topics"
	"github.com/cartstream/cartstream/projection"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// Targets of the readscale scenario (issue 15).
const (
	ReadScaleWarmTarget       = 5 * time.Second
	ReadScaleBytesPerCartGoal = 1536
	// ReadScaleGetCartTargetP99 is issue 15's routed GetCart p99 (the
	// direct one of issue 16 is GetCartTargetP99).
	ReadScaleGetCartTargetP99 = 2 * time.Millisecond
)

// ReadScaleResult is the read side scaled out: ScaleCarts carts in
// cart.state shared by three cmd/cart-projection processes in one group
// (static membership, a checkpoint each, no standbys), queried through a
// gateway (in process) that routes by the membership topic.
//
//   - cold: the three start together, until every partition is owned and
//     caught up (the membership topic says so), and each replica's own
//     "ready";
//   - memory: the replicas' RSS then, over the carts;
//   - getcart: routed GetCart (no token) p99, closed-loop clients;
//   - warm: each replica in turn stopped (SIGTERM: it writes its
//     checkpoint) and started again: to its "ready", with the carts it
//     restored; static membership gives it the same partitions;
//   - moved: one replica killed with SIGKILL, its partitions moved to the
//     others, then the replica started again (it rejoins and gets a share
//     back). A probe asks for one cart per partition every 20 ms through
//     the gateway, each call with a client's patience (60 s): the longest
//     time a partition answered nothing is how long a moved partition is
//     unavailable (the group's session timeout, then the new owner's
//     rebuild of it: no standby in this run), and a call that failed is
//     a failed query (target: none; the router waits out the move).
type ReadScaleResult struct {
	Carts      int `json:"carts"`
	Replicas   int `json:"replicas"`
	Partitions int `json:"partitions"`

	ColdSeconds    float64   `json:"cold_all_ready_s"`
	ColdPerReplica []float64 `json:"cold_replica_ready_s"`
	// ColdRSSKiB is each replica's RSS after the cold start: inflated on
	// the first replica to join, which was given every partition until
	// the others joined. RSSKiB and BytesPerCart are after the warm
	// restarts, each process holding only its share.
	ColdRSSKiB   []int64 `json:"cold_rss_kib"`
	RSSKiB       []int64 `json:"rss_kib"`
	BytesPerCart float64 `json:"rss_bytes_per_cart"`

	GetCart       Percentiles `json:"routed_getcart_ms"`
	GetCartCalls  int64       `json:"routed_getcart_calls"`
	GetCartErrors int64       `json:"routed_getcart_errors"`
	GetCartRate   float64     `json:"routed_getcart_per_s"`

	WarmPerReplica []float64 `json:"warm_restart_ready_s"`
	RestoredCarts  []int64   `json:"warm_restored_carts"`
	RestartGapMax  float64   `json:"restart_unavailable_max_s"`
	MovedGapMax    float64   `json:"moved_partition_unavailable_max_s"`
	RejoinGapMax   float64   `json:"rejoin_unavailable_max_s"`
	// StandbyMovedGapMax: the moved partition again, the replicas
	// restarted with -standby 1: the router answers from the standby.
	StandbyMovedGapMax float64 `json:"standby_moved_partition_unavailable_max_s"`
	SessionTimeout     float64 `json:"group_session_timeout_s"`
	FailedQueries      int64   `json:"failed_queries"`
	ProbeQueries       int64   `json:"probe_queries"`
	TargetWarmS        float64 `json:"target_warm_s"`
	TargetGetCartP99   float64 `json:"target_getcart_p99_ms"`
	TargetBytes        float64 `json:"target_bytes_per_cart"`
	Pass               bool    `json:"pass"`
	Error              string  `json:"error,omitempty"`
}

// scaleSessionTimeout is the group's session timeout in the scenario:
// long enough that a warm restart keeps its static membership.
const scaleSessionTimeout = 20 * time.Second

// scaleRun is the scenario's processes and topics.
type scaleRun struct {
	e        *env
	set      topics.Set
	dir, bin string
	group    string
	addrs    []string
	reps     []*managerProc
	view     *projection.MemberView
}

func (e *env) readScale(ctx context.Context) (*ReadScaleResult, error) {
	cfg := e.cfg
	r := &ReadScaleResult{Carts: cfg.ScaleCarts, Replicas: 3, Partitions: cfg.Partitions, SessionTimeout: scaleSessionTimeout.Seconds(),
		TargetWarmS: ReadScaleWarmTarget.Seconds(), TargetGetCartP99: ms(ReadScaleGetCartTargetP99), TargetBytes: ReadScaleBytesPerCartGoal}
	s, cleanup, err := e.openScaleRun(ctx)
	defer cleanup()
	if err != nil {
		return r, err
	}
	ds := carts{prefix: "s" + e.runID, n: cfg.ScaleCarts, perCart: cfg.CommandsPerCart, products: products(cfg.Products), partitions: cfg.Partitions}
	if _, err := e.loadSnapshots(ctx, s.set.State, ds); err != nil {
		return r, err
	}
	vctx, stopView := context.WithCancel(ctx)
	viewDone := make(chan error, 1)
	go func() { viewDone <- s.view.Run(vctx) }()
	defer func() { stopView(); <-viewDone }()

	if err := s.cold(ctx, r); err != nil {
		return r, err
	}
	// The group is covered as soon as every partition has a ready owner,
	// but a cooperative rebalance may still be moving partitions (and
	// their new owners rebuilding them, their old ones handing them over):
	// routed GetCart is measured on a settled group, not during that churn.
	if err := s.waitSettled(ctx, scaleSettle, 5*time.Minute); err != nil {
		return r, err
	}
	client, stopGateway, err := s.gateway(ctx)
	if err != nil {
		return r, err
	}
	defer stopGateway()
	fx := &readFixture{prefix: ds.prefix, carts: ds.n}
	for i := range 200 { // warm up the routes and connections
		if err := getOne(ctx, client, string(cartName(fx.prefix, i))); err != nil {
			return r, fmt.Errorf("warm-up GetCart: %w", err)
		}
	}
	clients := make([]cartv1.CartServiceClient, cfg.GetCartClients)
	for i := range clients {
		clients[i] = client
	}
	lat, errs, took := getCartLoad(ctx, clients, fx, cfg.GetCartDuration)
	r.GetCart, r.GetCartCalls, r.GetCartErrors = percentiles(lat), int64(len(lat)), errs
	r.GetCartRate = float64(len(lat)) / took.Seconds()
	e.logf("readscale: routed GetCart, %d clients: p50 %.2f ms, p99 %.2f ms, %.0f calls/s, %d errors",
		len(clients), r.GetCart.P50, r.GetCart.P99, r.GetCartRate, errs)

	pr := startProbe(ctx, client, ds.prefix, cfg.Partitions)
	defer pr.stop()
	restartFrom := time.Now()
	if err := s.warm(ctx, r); err != nil {
		return r, err
	}
	r.RestartGapMax = pr.maxGap(restartFrom, time.Now()).Seconds()
	moveFrom := time.Now()
	s.reps[2].kill()
	if err := s.waitCovered(ctx, []string{"r0", "r1"}, 10*time.Minute); err != nil {
		return r, fmt.Errorf("after killing r2: %w", err)
	}
	if err := pr.waitAllAfter(ctx, time.Now(), 2*time.Minute); err != nil {
		return r, err
	}
	r.MovedGapMax = pr.maxGap(moveFrom, time.Now()).Seconds()
	rejoinFrom := time.Now()
	if _, err := s.reps[2].start(); err != nil {
		return r, err
	}
	if err := s.waitCovered(ctx, []string{"r0", "r1", "r2"}, 10*time.Minute); err != nil {
		return r, fmt.Errorf("after r2 rejoined: %w", err)
	}
	if err := pr.waitAllAfter(ctx, time.Now(), 2*time.Minute); err != nil {
		return r, err
	}
	r.RejoinGapMax = pr.maxGap(rejoinFrom, time.Now()).Seconds()
	if err := s.standbyMove(ctx, pr, r); err != nil {
		return r, err
	}
	r.FailedQueries, r.ProbeQueries = pr.counts()
	for _, f := range pr.failures() {
		e.logf("readscale: failed probe query: %s", f)
	}
	e.logf("readscale: unavailable at most %.2fs per partition during the warm restarts, %.2fs for a moved partition (session timeout %s), %.2fs at the rejoin, %.2fs for a moved partition with a standby; %d of %d probe queries failed",
		r.RestartGapMax, r.MovedGapMax, scaleSessionTimeout, r.RejoinGapMax, r.StandbyMovedGapMax, r.FailedQueries, r.ProbeQueries)
	r.Pass = r.GetCartErrors == 0 && r.FailedQueries == 0 && r.GetCart.P99 <= r.TargetGetCartP99 && r.BytesPerCart <= r.TargetBytes &&
		slices.Max(r.WarmPerReplica) <= r.TargetWarmS
	return r, nil
}

// openScaleRun creates the topics, seeds the catalog and describes the
// three replicas.
func (e *env) openScaleRun(ctx context.Context) (*scaleRun, func(), error) {
	set, cleanup, err := e.topicSet(ctx, "scale")
	if err != nil {
		return nil, func() {}, err
	}
	s := &scaleRun{e: e, set: set, group: "cartbench-projection-" + e.runID}
	members := topicPrefix(set) + projection.DefaultMembersTopic
	done := func() {
		for _, p := range s.reps {
			p.close()
		}
		if s.dir != "" {
			_ = os.RemoveAll(s.dir)
		}
		e.deleteTopics(members)
		cleanup()
	}
	if err := e.seedCatalog(ctx, set.Catalog, products(e.cfg.Products)); err != nil {
		return s, done, err
	}
	if s.dir, err = os.MkdirTemp("", "cartbench-readscale-"); err != nil {
		return s, done, err
	}
	if s.bin, err = e.buildProjection(ctx, s.dir); err != nil {
		return s, done, err
	}
	if s.addrs, err = freePorts(3); err != nil {
		return s, done, err
	}
	for i := range 3 {
		rdir := filepath.Join(s.dir, "r"+strconv.Itoa(i))
		if err := os.MkdirAll(rdir, 0o755); err != nil {
			return s, done, err
		}
		args := []string{
			"-brokers", e.brokers, "-" + kafkaconf.Flag, e.cfg.KafkaConfig, "-topic-prefix", topicPrefix(set), "-partitions", strconv.Itoa(e.cfg.Partitions),
			"-grpc-addr", s.addrs[i], "-metrics-addr", "127.0.0.1:0", "-log-format", "json",
			"-group", s.group, "-replica-id", "r" + strconv.Itoa(i), "-static-membership", "-group-session-timeout", scaleSessionTimeout.String(),
			"-checkpoint-dir", filepath.Join(rdir, "checkpoint"), "-checkpoint-interval", "1h",
		}
		p, err := newManagerProc(s.bin, rdir, args, nil)
		if err != nil {
			return s, done, err
		}
		s.reps = append(s.reps, p)
	}
	s.view, err = projection.NewMemberView(projection.MemberViewConfig{Client: e.base(), Topic: members})
	return s, done, err
}

// cold starts the three replicas together and waits until they cover
// every partition.
func (s *scaleRun) cold(ctx context.Context, r *ReadScaleResult) error {
	t0 := time.Now()
	offs := make([]int64, len(s.reps))
	for i, p := range s.reps {
		off, err := p.start()
		if err != nil {
			return err
		}
		offs[i] = off
	}
	if err := s.waitCovered(ctx, []string{"r0", "r1", "r2"}, 15*time.Minute); err != nil {
		return fmt.Errorf("cold start: %w", err)
	}
	r.ColdSeconds = time.Since(t0).Seconds()
	for i, p := range s.reps {
		l, err := p.waitLog(ctx, offs[i], "projection replica: ready", time.Minute)
		if err != nil {
			return err
		}
		r.ColdPerReplica = append(r.ColdPerReplica, l.Time.Sub(t0).Seconds())
		r.ColdRSSKiB = append(r.ColdRSSKiB, rssKiB(p.pid(), "VmRSS"))
	}
	s.e.logf("readscale: %d carts over 3 replicas: all partitions ready in %.2fs (replicas %v s); RSS %v KiB",
		r.Carts, r.ColdSeconds, r.ColdPerReplica, r.ColdRSSKiB)
	return nil
}

// warm restarts each replica in turn and times it to ready.
func (s *scaleRun) warm(ctx context.Context, r *ReadScaleResult) error {
	for i, p := range s.reps {
		if err := p.stop(); err != nil {
			return fmt.Errorf("stop r%d: %w", i, err)
		}
		t0 := time.Now()
		off, err := p.start()
		if err != nil {
			return err
		}
		l, err := p.waitLog(ctx, off, "projection replica: ready", 10*time.Minute)
		if err != nil {
			return err
		}
		r.WarmPerReplica = append(r.WarmPerReplica, l.Time.Sub(t0).Seconds())
		var restored int64
		ls, _ := p.lines(off)
		for _, l := range ls {
			if n, ok := l.Attrs["restored_carts"].(float64); ok && l.Msg == "projection: rebuilding" {
				restored += int64(n)
			}
		}
		r.RestoredCarts = append(r.RestoredCarts, restored)
		s.e.logf("readscale: r%d warm restart ready in %.2fs (%d carts restored)", i, r.WarmPerReplica[i], restored)
		if err := s.waitCovered(ctx, []string{"r0", "r1", "r2"}, 10*time.Minute); err != nil {
			return fmt.Errorf("after restarting r%d: %w", i, err)
		}
	}
	var rss int64
	for _, p := range s.reps {
		kib := rssKiB(p.pid(), "VmRSS")
		r.RSSKiB = append(r.RSSKiB, kib)
		rss += kib
	}
	r.BytesPerCart = float64(rss*1024) / float64(max(r.Carts, 1))
	var anon, file []int64
	for _, p := range s.reps {
		anon, file = append(anon, rssKiB(p.pid(), "RssAnon")), append(file, rssKiB(p.pid(), "RssFile"))
	}
	s.e.logf("readscale: after the warm restarts RSS %v KiB (anonymous %v, file-backed %v), %.0f bytes per cart", r.RSSKiB, anon, file, r.BytesPerCart)
	return nil
}

// standbyMove restarts the replicas with one standby per partition, waits
// until every partition has a caught-up standby, kills r0 with SIGKILL and
// measures how long its partitions answer nothing.
func (s *scaleRun) standbyMove(ctx context.Context, pr *probe, r *ReadScaleResult) error {
	for i, p := range s.reps {
		if err := p.stop(); err != nil {
			return fmt.Errorf("stop r%d: %w", i, err)
		}
		p.args = append(p.args, "-standby", "1")
		if _, err := p.start(); err != nil {
			return err
		}
	}
	if err := s.waitCovered(ctx, []string{"r0", "r1", "r2"}, 10*time.Minute); err != nil {
		return fmt.Errorf("with standbys: %w", err)
	}
	if err := s.waitStandbys(ctx, 10*time.Minute); err != nil {
		return err
	}
	from := time.Now()
	s.reps[0].kill()
	if err := s.waitCovered(ctx, []string{"r1", "r2"}, 10*time.Minute); err != nil {
		return fmt.Errorf("with standbys, after killing r0: %w", err)
	}
	if err := pr.waitAllAfter(ctx, time.Now(), 2*time.Minute); err != nil {
		return err
	}
	r.StandbyMovedGapMax = pr.maxGap(from, time.Now()).Seconds()
	return nil
}

// waitStandbys polls the membership topic until every partition has a
// standby that has caught up.
func (s *scaleRun) waitStandbys(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		now := time.Now()
		covered := map[int32]bool{}
		for _, m := range s.view.Routes().Members(now) {
			for _, p := range m.Standby {
				if slices.Contains(m.Ready, p) {
					covered[p] = true
				}
			}
		}
		if len(covered) == s.e.cfg.Partitions {
			return nil
		}
		if now.After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("standbys of %d of %d partitions caught up within %s", len(covered), s.e.cfg.Partitions, timeout)
		}
		time.Sleep(100 * time.Millisecond) // polling the membership topic with a deadline
	}
}

// scaleSettle is how long the group's claims must stay the same before
// the routed GetCart load starts.
const scaleSettle = 5 * time.Second

// waitSettled polls the membership topic until the group's claims (each
// member's owned, standby and ready partitions) have not changed for
// settle, with every partition owned and ready and no partition held as a
// standby (none is asked for in that phase: a standby then is a partition
// being handed over).
func (s *scaleRun) waitSettled(ctx context.Context, settle, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	since := time.Now()
	for {
		now := time.Now()
		var b strings.Builder
		owned, settled := 0, true
		for _, m := range s.view.Routes().Members(now) {
			fmt.Fprintf(&b, "%s o%v s%v r%v;", m.ID, m.Owned, m.Standby, m.Ready)
			owned += len(m.Owned)
			settled = settled && len(m.Standby) == 0 && len(m.Ready) == len(m.Owned)
		}
		sig := b.String()
		if sig != last || !settled || owned != s.e.cfg.Partitions {
			last, since = sig, now
		} else if now.Sub(since) >= settle {
			s.e.logf("readscale: group settled: %s", sig)
			return nil
		}
		if now.After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("the group did not settle within %s: %s", timeout, sig)
		}
		time.Sleep(100 * time.Millisecond) // polling the membership topic with a deadline
	}
}

// waitCovered polls the membership topic until replicas ids own every
// partition between them, each caught up, and each owns one at least (the
// first to join is given everything until the others are in).
func (s *scaleRun) waitCovered(ctx context.Context, ids []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		now := time.Now()
		routes := s.view.Routes()
		owned := map[int32]bool{}
		ok := true
		for _, m := range routes.Members(now) {
			for _, p := range m.Owned {
				ok = ok && slices.Contains(ids, m.ID) && slices.Contains(m.Ready, p)
				owned[p] = true
			}
		}
		for _, id := range ids {
			ok = ok && slices.ContainsFunc(routes.Members(now), func(m projection.Member) bool { return m.ID == id && len(m.Owned) > 0 })
		}
		if ok && len(owned) == s.e.cfg.Partitions {
			return nil
		}
		if now.After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("partitions not owned and ready by %v within %s: %+v", ids, timeout, routes.Members(now))
		}
		time.Sleep(100 * time.Millisecond) // polling the membership topic with a deadline
	}
}

// gateway runs the gateway in process with the group's Router as its read
// path, and returns a client of it.
func (s *scaleRun) gateway(ctx context.Context) (cartv1.CartServiceClient, func(), error) {
	router, err := projection.NewRouter(projection.RouterConfig{View: s.view, Dial: func(ep string) (*grpc.ClientConn, error) {
		// As the gateway binary dials its replicas (cmd/cart-gateway).
		opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, grpclimits.ClientWindows()...)
		return grpc.NewClient(ep, opts...)
	}})
	if err != nil {
		return nil, func() {}, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, func() {}, err
	}
	gctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- gateway.Run(gctx, gateway.Options{
			Listener: lis, Kafka: gateway.KafkaConfig{Brokers: s.e.brokers, Extra: s.e.gatewayProps()}, Topics: s.set,
			TopicConfig: topics.Config{Partitions: s.e.cfg.Partitions}, Encoder: s.e.rec, Logger: s.e.serviceLogger(),
			Reader: router, Outcomes: router, Products: router,
		})
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			s.e.logf("readscale: gateway: %v", err)
		}
		if conn != nil {
			_ = conn.Close()
		}
		_ = router.Close()
	}
	if err != nil {
		return nil, stop, err
	}
	if err := waitServing(ctx, conn); err != nil {
		return nil, stop, err
	}
	return cartv1.NewCartServiceClient(conn), stop, nil
}

// freePorts reserves n loopback addresses.
func freePorts(n int) ([]string, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	out := make([]string, n)
	for i := range out {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out[i] = l.Addr().String()
	}
	return out, nil
}

// probe asks for one cart per partition every 20 ms through the gateway
// and keeps when each partition last answered, to find the longest time
// one did not.
type probe struct {
	parts  int
	mu     sync.Mutex
	ok     map[int32][]time.Time // successful answers, in order
	errs   int64
	calls  int64
	first  []string // the first failures, for the log
	cancel context.CancelFunc
	done   chan struct{}
}

func startProbe(ctx context.Context, c cartv1.CartServiceClient, prefix string, partitions int) *probe {
	ids := map[int32]string{}
	for i := 0; len(ids) < partitions; i++ {
		id := string(cartName(prefix, i))
		if p := partition.For([]byte(id), partitions); ids[p] == "" {
			ids[p] = id
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	pr := &probe{parts: partitions, ok: map[int32][]time.Time{}, cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	for part, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				cctx, ccancel := context.WithTimeout(ctx, probePatience)
				_, err := c.GetCart(cctx, &cartv1.GetCartRequest{CartId: id}) // not getOne: its 5 s bound is no client's patience
				ccancel()
				pr.mu.Lock()
				pr.calls++
				if err == nil {
					pr.ok[part] = append(pr.ok[part], time.Now())
				} else if ctx.Err() == nil {
					pr.errs++
					if len(pr.first) < 5 {
						pr.first = append(pr.first, fmt.Sprintf("%s %s: %v", time.Now().Format("15:04:05.000"), id, err))
					}
				}
				pr.mu.Unlock()
				select {
				case <-ctx.Done():
				case <-time.After(20 * time.Millisecond): // the probe's pace
				}
			}
		}()
	}
	go func() { wg.Wait(); close(pr.done) }()
	return pr
}

func (pr *probe) stop() { pr.cancel(); <-pr.done }

// probePatience is a probe call's deadline: a client's, longer than a
// move takes, so a call fails only if the read side gives up on it.
const probePatience = 60 * time.Second

// failures are the first failed calls.
func (pr *probe) failures() []string {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return slices.Clone(pr.first)
}

// counts are the failed and all calls.
func (pr *probe) counts() (failed, calls int64) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.errs, pr.calls
}

// maxGap is the longest time, within [from, to], that a partition went
// without a successful answer.
func (pr *probe) maxGap(from, to time.Time) time.Duration {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	var worst time.Duration
	for part := range int32(pr.parts) {
		ts := pr.ok[part]
		last := from
		for _, t := range ts {
			if t.Before(from) {
				continue
			}
			if t.After(to) {
				break
			}
			worst = max(worst, t.Sub(last))
			last = t
		}
		worst = max(worst, to.Sub(last))
	}
	return worst
}

// waitAllAfter waits until every partition answered after t.
func (pr *probe) waitAllAfter(ctx context.Context, t time.Time, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		pr.mu.Lock()
		n := 0
		for _, ts := range pr.ok {
			if len(ts) > 0 && ts[len(ts)-1].After(t) {
				n++
			}
		}
		pr.mu.Unlock()
		if n == pr.parts {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return errors.New("readscale: a partition answered no probe within a minute of the move")
		}
		time.Sleep(50 * time.Millisecond) // polling the probe with a deadline
	}
}
