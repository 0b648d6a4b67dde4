package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cartstream/cartstream/internal/kafkatest"
	"github.com/cartstream/cartstream/projection"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// groupDeployment is a projection group of OS processes behind one
// gateway process that routes by the membership topic.
type groupDeployment struct {
	t       *testing.T
	e       *cartEnv
	bin     string
	common  []string
	group   string
	logDir  string
	cpRoot  string
	addrs   []string
	replica map[int]*service
	gateway *service
	client  cartv1.CartServiceClient
	view    *projection.MemberView
}

func startGroupDeployment(t *testing.T, e *cartEnv, replicas int) *groupDeployment {
	t.Helper()
	bins := t.TempDir()
	prefix := e.set.Requests[:len(e.set.Requests)-len("cart.requests")]
	e.c.DeleteOnCleanup(t, prefix+projection.DefaultMembersTopic)
	d := &groupDeployment{
		t: t, e: e, bin: buildCommand(t, "cart-projection", bins), group: kafkatest.UniqueName(t, "projection"),
		logDir: t.TempDir(), cpRoot: t.TempDir(), addrs: freeAddrs(t, 6), replica: map[int]*service{},
		common: []string{"-brokers", e.c.Brokers(), "-topic-prefix", prefix, "-partitions", strconv.Itoa(e.partitions),
			"-log-format", "json", "-log-level", "info", "-metrics-addr", "127.0.0.1:0"},
	}
	gwAddr := d.addrs[5]
	d.gateway = newService(t, "gateway", buildCommand(t, "cart-gateway", bins), gwAddr, d.logDir, append(slices.Clone(d.common),
		"-grpc-addr", gwAddr, "-projection-group", "-auth-dev-mode", "-rate-customer", "0", "-max-carts-per-customer", "0")...) // every cart is cust-1's
	conn, err := grpc.NewClient(gwAddr, grpc.WithTransportCredentials(insecure.NewCredentials()), fastReconnect())
	if err != nil {
		t.Fatalf("gateway client: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	d.client = cartv1.NewCartServiceClient(conn)
	d.view, err = projection.NewMemberView(projection.MemberViewConfig{Client: e.client("projection"), Topic: prefix + projection.DefaultMembersTopic})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	viewDone := make(chan error, 1)
	go func() { viewDone <- d.view.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-viewDone; err != nil {
			t.Errorf("member view: %v", err)
		}
	})
	for i := range replicas {
		d.startReplica(i)
	}
	if err := d.gateway.start(); err != nil {
		t.Fatal(err)
	}
	d.waitServing(append(d.services(), d.gateway), 2*time.Minute)
	return d
}

// startReplica starts replica i (a new one, or one killed before).
func (d *groupDeployment) startReplica(i int) {
	d.t.Helper()
	s, ok := d.replica[i]
	if !ok {
		s = newService(d.t, fmt.Sprintf("projection-%d", i), d.bin, d.addrs[i], d.logDir, append(slices.Clone(d.common),
			"-grpc-addr", d.addrs[i], "-group", d.group, "-replica-id", fmt.Sprintf("r%d", i), "-standby", "1",
			"-checkpoint-dir", filepath.Join(d.cpRoot, strconv.Itoa(i)))...)
		d.replica[i] = s
	}
	if err := s.start(); err != nil {
		d.t.Fatal(err)
	}
}

func (d *groupDeployment) services() []*service {
	var out []*service
	for _, s := range d.replica {
		out = append(out, s)
	}
	return out
}

func (d *groupDeployment) waitServing(ss []*service, timeout time.Duration) {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for _, s := range ss {
		for !s.serving(d.t.Context()) {
			if time.Now().After(deadline) {
				d.t.Fatalf("%s not SERVING after %s; log tail:\n%v", s.name, timeout, s.tail(30))
			}
			time.Sleep(50 * time.Millisecond) // polling health with a deadline
		}
	}
}

// waitCovered polls the membership topic until replicas ids (and no
// other) own every partition between them, each one at least, each
// partition caught up.
func (d *groupDeployment) waitCovered(ids []string, timeout time.Duration) {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		now := time.Now()
		routes := d.view.Routes()
		owners := map[int32]string{}
		ok := routes.Partitions(now) == d.e.partitions
		for _, m := range routes.Members(now) {
			for _, p := range m.Owned {
				if !slices.Contains(ids, m.ID) || !slices.Contains(m.Ready, p) {
					ok = false
				}
				owners[p] = m.ID
			}
		}
		for _, id := range ids { // balanced: the newest replica was given its share
			ok = ok && slices.Contains(slices.Collect(maps.Values(owners)), id)
		}
		if ok && len(owners) == d.e.partitions {
			return
		}
		if now.After(deadline) {
			d.t.Fatalf("partitions not owned and ready by %v after %s: %+v", ids, timeout, routes.Members(now))
		}
		time.Sleep(100 * time.Millisecond) // polling the membership topic with a deadline
	}
}

// churnLedger is what the test's clients know of each cart.
type churnLedger struct {
	mu       sync.Mutex
	version  map[string]int64 // latest version read with a token
	failures []string
	reads    int
	slowest  time.Duration
}

func (l *churnLedger) fail(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.failures) < 20 {
		l.failures = append(l.failures, fmt.Sprintf(format, args...))
	}
}

func (l *churnLedger) read(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reads++
	l.slowest = max(l.slowest, d)
}

// writeAndRead is one client's step on its own cart: a command, then
// GetCart with the command's token (read-your-writes across replicas),
// then GetCart without one and a page of history.
func (d *groupDeployment) writeAndRead(ctx context.Context, l *churnLedger, cartID string, seq, firstRound int) {
	const perCall = 30 * time.Second
	fail := func(format string, args ...any) {
		if ctx.Err() == nil { // not the test stopping the load
			l.fail(format, args...)
		}
	}
	reqID := fmt.Sprintf("%s-r%d", cartID, seq)
	sku := []string{"SKU-A", "SKU-B", "SKU-C", "SKU-D"}[seq%4]
	cctx, cancel := context.WithTimeout(ctx, perCall)
	defer cancel()
	resp, err := d.client.AddItem(cctx, &cartv1.AddItemRequest{CartId: cartID, RequestId: reqID, CustomerId: "cust-1", Sku: sku, Quantity: 1})
	if err != nil {
		fail("AddItem %s: %v", reqID, err)
		return
	}
	began := time.Now()
	got, err := d.client.GetCart(cctx, &cartv1.GetCartRequest{CartId: cartID, ConsistencyToken: resp.GetConsistencyToken()})
	l.read(time.Since(began))
	if err != nil {
		fail("GetCart %s with the token of %s: %v", cartID, reqID, err)
		return
	}
	l.mu.Lock()
	prev := l.version[cartID]
	l.version[cartID] = got.GetCart().GetVersion()
	l.mu.Unlock()
	if got.GetRequestOutcome().GetRequestId() != reqID {
		fail("GetCart %s with the token of %s: outcome of %q: a read older than the token", cartID, reqID, got.GetRequestOutcome().GetRequestId())
	}
	if got.GetCart().GetVersion() < prev {
		fail("GetCart %s: version %d after %d", cartID, got.GetCart().GetVersion(), prev)
	}
	if seq < firstRound {
		return // a plain read may come from a standby a moment behind: only for carts created a round ago
	}
	began = time.Now()
	plain, err := d.client.GetCart(cctx, &cartv1.GetCartRequest{CartId: cartID})
	l.read(time.Since(began))
	if err != nil {
		fail("GetCart %s without a token: %v", cartID, err)
	} else if plain.GetCart().GetVersion() < 1 {
		fail("GetCart %s without a token: version %d", cartID, plain.GetCart().GetVersion())
	}
	if seq%7 == 0 {
		began = time.Now()
		_, err := d.client.ListCarts(cctx, &cartv1.ListCartsRequest{CustomerId: "cust-1"})
		l.read(time.Since(began))
		if err != nil {
			fail("ListCarts: %v", err)
		}
	}
	if seq%5 == 0 {
		began = time.Now()
		_, err := d.client.GetCartHistory(cctx, &cartv1.GetCartHistoryRequest{CartId: cartID, PageSize: 10})
		l.read(time.Since(began))
		if err != nil {
			fail("GetCartHistory %s: %v", cartID, err)
		}
	}
}

// TestProjectionGroupChurnAnswersEveryQuery runs three projection
// replicas (OS processes, one standby per partition) behind a gateway
// that routes by the membership topic, and under a steady load of
// commands and queries kills one with SIGKILL, adds a fourth, and stops
// another gracefully: every query answers, none with NOT_FOUND for an
// existing cart or a state older than its token.
func TestProjectionGroupChurnAnswersEveryQuery(t *testing.T) {
	waitBound(t)
	e := newCartEnv(t, 6)
	e.seedCatalog(t, demoProducts()...)
	e.startManager(t, e.managerConfig(t, "group-churn"))
	d := startGroupDeployment(t, e, 3)
	d.waitCovered([]string{"r0", "r1", "r2"}, time.Minute)

	began := time.Now()
	l := &churnLedger{version: map[string]int64{}}
	ctx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	const clients, cartsPerClient = 4, 6
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; ctx.Err() == nil; seq++ {
				d.writeAndRead(ctx, l, fmt.Sprintf("churn-w%d-c%d", w, seq%cartsPerClient), seq, cartsPerClient)
			}
		}()
	}
	t.Cleanup(func() { stopLoad(); wg.Wait() })
	waitReads := func(n int) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		l.mu.Lock()
		want := l.reads + n
		l.mu.Unlock()
		for {
			l.mu.Lock()
			got := l.reads
			l.mu.Unlock()
			if got >= want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("only %d of %d reads within a minute", got, want)
			}
			time.Sleep(20 * time.Millisecond) // polling the load's progress with a deadline
		}
	}
	waitReads(50)

	d.replica[0].kill()
	t.Log("killed r0 (SIGKILL)")
	waitReads(20) // during the session timeout: the standbys answer
	d.waitCovered([]string{"r1", "r2"}, time.Minute)
	waitReads(50)

	d.startReplica(3)
	d.waitServing([]*service{d.replica[3]}, time.Minute)
	t.Log("added r3")
	d.waitCovered([]string{"r1", "r2", "r3"}, time.Minute)
	waitReads(50)

	if err := d.replica[1].stop(30 * time.Second); err != nil {
		t.Errorf("graceful stop of r1: %v", err)
	}
	t.Log("stopped r1 (SIGTERM)")
	d.waitCovered([]string{"r2", "r3"}, time.Minute)
	waitReads(50)

	stopLoad()
	wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("%d queries during the churn, slowest %s", l.reads, l.slowest)
	checkListsEveryCart(t, d, l.version)
	for _, f := range l.failures {
		t.Error(f)
	}
	for _, s := range d.services() {
		if u := s.unplanned(); len(u) > 0 {
			t.Errorf("%s exited unplanned: %v; log tail:\n%v", s.name, u, s.tail(30))
		}
	}
	if len(l.failures) > 0 {
		t.Logf("gateway log tail:\n%v", d.gateway.tail(30))
	}
	// Regression: replicas republished on every change of the view, so
	// each one's heartbeat made all the others write, without end.
	members := readToEnd(t, e.c, d.membersTopic(), 1, "read_uncommitted")
	secs := time.Since(began).Seconds()
	// Four replicas took part: a heartbeat every 2 s each, and a few dozen
	// changes each (partitions starting, ready, moving).
	bound := int(4*(secs/projection.DefaultMemberHeartbeat.Seconds()+1)) + 4*40
	t.Logf("%d membership records in %.0fs (bound %d)", len(members), secs, bound)
	if len(members) > bound {
		t.Errorf("%d membership records in %.0fs: want at most %d (heartbeats plus changes)", len(members), secs, bound)
	}
}

func (d *groupDeployment) membersTopic() string {
	return d.e.set.Requests[:len(d.e.set.Requests)-len("cart.requests")] + projection.DefaultMembersTopic
}

// inProcessReplica runs a Replica of group in this process until the
// test ends or stop is called.
func inProcessReplica(t *testing.T, e *cartEnv, group, id, cpDir string) (stop func()) {
	_, stop = inProcessReplicaOf(t, e, group, id, cpDir)
	return stop
}

func inProcessReplicaOf(t *testing.T, e *cartEnv, group, id, cpDir string) (*projection.Replica, func()) {
	t.Helper()
	r, err := projection.NewReplica(projection.ReplicaConfig{
		ID: id, Endpoint: "127.0.0.1:1", GroupID: group, MembersTopic: membersTopicOf(e),
		Projection: projection.Config{Client: e.client("projection"), Topics: e.set, Records: e.rec, Logger: testLogger(t), CheckpointDir: cpDir},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("replica %s: %v", id, err)
		}
	}
	t.Cleanup(stop)
	return r, stop
}

// A replica the group gives no partition (more replicas than partitions)
// is ready all the same: health SERVING, nothing to serve yet.
func TestProjectionReplicaWithNoPartitionIsReady(t *testing.T) {
	e := newCartEnv(t, 1)
	e.seedCatalog(t, demoProducts()...)
	e.c.DeleteOnCleanup(t, membersTopicOf(e))
	group := kafkatest.UniqueName(t, "projection")
	a, _ := inProcessReplicaOf(t, e, group, "a", "")
	b, _ := inProcessReplicaOf(t, e, group, "b", "")
	for _, r := range []*projection.Replica{a, b} {
		select {
		case <-r.Ready():
		case <-time.After(time.Minute):
			t.Fatalf("a replica not ready within a minute: %+v", r.Stats())
		}
	}
	if n := a.Stats().Partitions; len(n)+len(b.Stats().Partitions) != 1 {
		t.Errorf("partitions held: %v and %v, want the one between them", a.Stats().Partitions, b.Stats().Partitions)
	}
}

func membersTopicOf(e *cartEnv) string {
	return e.set.Requests[:len(e.set.Requests)-len("cart.requests")] + projection.DefaultMembersTopic
}

// Partitions go to a new replica and come back when it stops, three
// times, with checkpoints on: the first replica hands them over, takes
// them back (its partition Projections restart on their own checkpoint
// directories) and every partition is served again each time.
func TestProjectionReplicaHandsPartitionsOverAndTakesThemBack(t *testing.T) {
	waitBound(t)
	e := newCartEnv(t, 4)
	e.seedCatalog(t, demoProducts()...)
	e.c.DeleteOnCleanup(t, membersTopicOf(e))
	group := kafkatest.UniqueName(t, "projection")
	view, err := projection.NewMemberView(projection.MemberViewConfig{Client: e.client("projection"), Topic: membersTopicOf(e)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	viewDone := make(chan error, 1)
	go func() { viewDone <- view.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-viewDone })
	d := &groupDeployment{t: t, e: e, view: view}

	inProcessReplica(t, e, group, "a", t.TempDir())
	d.waitCovered([]string{"a"}, time.Minute)
	for round := range 3 {
		stopB := inProcessReplica(t, e, group, "b", t.TempDir())
		d.waitCovered([]string{"a", "b"}, time.Minute)
		stopB() // b's partitions go back to a, which stopped its own copies moments ago
		d.waitCovered([]string{"a"}, time.Minute)
		t.Logf("round %d: partitions went to b and came back", round)
	}

	// The operator's view of the group.
	cartctl := buildCommand(t, "cartctl", t.TempDir())
	out, err := exec.Command(cartctl, "projection", "members", "-o", "json", "-brokers", e.c.Brokers(),
		"-topic-prefix", strings.TrimSuffix(e.set.Requests, "cart.requests")).Output()
	if err != nil {
		t.Fatalf("cartctl projection members: %v\n%s", err, out)
	}
	var ms []projection.Member
	if err := json.Unmarshal(out, &ms); err != nil {
		t.Fatalf("cartctl projection members -o json: %v\n%s", err, out)
	}
	if len(ms) != 1 || ms[0].ID != "a" || !slices.Equal(ms[0].Owned, []int32{0, 1, 2, 3}) || !slices.Equal(ms[0].Ready, []int32{0, 1, 2, 3}) {
		t.Errorf("cartctl projection members: %s; want a owning and serving 0-3", out)
	}
	table, err := exec.Command(cartctl, "projection", "members", "-brokers", e.c.Brokers(),
		"-topic-prefix", strings.TrimSuffix(e.set.Requests, "cart.requests")).Output()
	if err != nil || !strings.Contains(string(table), "0,1,2,3") {
		t.Errorf("cartctl projection members (table): %v\n%s", err, table)
	}
}

// checkListsEveryCart: ListCarts through the routing gateway names each of
// the customer's carts once, however the partitions moved (each partition
// is asked of one replica).
func checkListsEveryCart(t *testing.T, d *groupDeployment, carts map[string]int64) {
	t.Helper()
	var listed []string
	waitFor(t, 30*time.Second, "ListCarts to name every cart of the churn", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := d.client.ListCarts(ctx, &cartv1.ListCartsRequest{CustomerId: "cust-1"})
		if err != nil {
			return false
		}
		listed = listed[:0]
		for _, c := range resp.GetCarts() {
			listed = append(listed, c.GetCartId())
		}
		for id := range carts {
			if !slices.Contains(listed, id) {
				return false
			}
		}
		return true
	})
	seen := map[string]int{}
	for _, id := range listed {
		seen[id]++
	}
	for id := range carts {
		if seen[id] != 1 {
			t.Errorf("ListCarts named cart %s %d times, want once (listed %v)", id, seen[id], listed)
		}
	}
}
