package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/inventory"
	"github.com/cartstream/cartstream/inventory/processor"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// inventoryProcess is cmd/inventory-processor as an OS process on this
// env's topics and inventory group, under a stable instance id.
func (e *cartEnv) inventoryProcess(t *testing.T, bin, instance string) *managerProcess {
	prefix := e.set.Requests[:len(e.set.Requests)-len("cart.requests")]
	return &managerProcess{t: t, bin: bin, logs: os.Stderr, args: []string{
		"-brokers", e.c.Brokers(), "-topic-prefix", prefix, "-partitions", strconv.Itoa(e.partitions),
		"-group", e.inventoryGroup(t), "-instance-id", instance,
		"-transaction-timeout", "10s", "-session-timeout", "6s", "-log-format", "json", "-log-level", "warn",
	}}
}

// Issue 14, item 2: the checkout saga across crashes. Checkouts stream in
// while the inventory processor and the cart manager, each its own OS
// process, are killed with SIGKILL in turn (with transactions open on both
// sides of the saga) and restarted. Afterwards the verifier finds every
// reservation answered once, every checkout decided, every failed
// checkout's grants released once, stock never negative, and the levels
// equal to the replay of the inventory's requests; no cart is left
// waiting, and no SKU sold more than it had.
func TestStockSagaSurvivesKills(t *testing.T) {
	waitBound(t)
	e := newCartEnv(t, 3)
	e.seedCatalog(t, demoProducts()...)
	supply := map[cart.SKU]int64{"SKU-A": 15, "SKU-B": 25, "SKU-C": 6, "SKU-D": 40}
	e.setStock(t, supply)
	dir := t.TempDir()
	logs, err := os.Create(filepath.Join(dir, "services.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	mgr := e.managerProcess(t, buildCommand(t, "additem-manager", dir), "stock-m1")
	mgr.args = append(mgr.args, "-reservations")
	inv := e.inventoryProcess(t, buildCommand(t, "inventory-processor", dir), "stock-i1")
	mgr.logs, inv.logs = logs, logs
	inv.start()
	defer inv.kill()
	mgr.start()
	defer mgr.kill()
	e.waitStock(t, func(l map[cart.SKU]inventory.Level) bool { return len(l) == len(supply) })

	// Every cart gets one or two lines, then checks out; the checkouts
	// stream in while the kills happen.
	const carts = 120
	rng := rand.New(rand.NewPCG(7, 11))
	skus := []string{"SKU-A", "SKU-B", "SKU-C", "SKU-D"}
	var adds, checkouts []cart.Command
	extra := map[int]cart.Command{} // a command right behind the checkout: often CHECKOUT_IN_PROGRESS
	for i := range carts {
		id := fmt.Sprintf("sc-%03d", i)
		first := rng.IntN(len(skus))
		adds = append(adds, e.add(id, id+"-a1", skus[first], int32(1+rng.IntN(2))))
		if rng.IntN(2) == 0 {
			adds = append(adds, e.add(id, id+"-a2", skus[(first+1)%len(skus)], 1))
		}
		checkouts = append(checkouts, e.checkout(id, id+"-co", "cust-1"))
		if i%4 == 0 {
			extra[i] = e.add(id, id+"-late", "SKU-D", 1)
		}
	}
	e.send(t, adds...)
	sent := make(chan error, 1)
	go func() {
		for i := range checkouts {
			cmds := []cart.Command{checkouts[i]}
			if c, ok := extra[i]; ok {
				cmds = append(cmds, c)
			}
			if _, err := e.trySend(t, cmds...); err != nil {
				sent <- err
				return
			}
			time.Sleep(40 * time.Millisecond) // pacing the load, not waiting for a state
		}
		sent <- nil
	}()
	for kill := range 6 {
		time.Sleep(time.Duration(400+rng.IntN(800)) * time.Millisecond) // a random moment of the load
		p := inv
		if kill%2 == 1 {
			p = mgr
		}
		p.kill()
		p.start()
	}
	if err := <-sent; err != nil {
		t.Fatalf("send checkouts: %v", err)
	}
	e.waitSagaDrained(t, 3*time.Minute)
	mgr.stop()
	inv.stop()

	rep := verifyHistory(t, e.c, e.set, e.rec)
	if !rep.Clean() {
		for i, v := range rep.Violations {
			if i < 20 {
				t.Errorf("violation: %s", v)
			}
		}
		t.Fatalf("%d violations", len(rep.Violations))
	}
	if rep.Summary.Reservations == 0 {
		t.Fatal("no reservation was read")
	}
	for id, s := range e.snapshots(t) {
		if s.Pending != nil {
			t.Errorf("cart %s still waits for its checkout's reservations", id)
		}
	}
	latest, _ := e.stockLevels(t)
	_, invalid := e.outcomes(t)
	inProgress := 0
	for _, o := range invalid {
		if o.invalid.Rejection.Reason == cart.ReasonCheckoutInProgress {
			inProgress++
		}
	}
	t.Logf("%d commands rejected CHECKOUT_IN_PROGRESS", inProgress)
	// Whether a kill caught a transaction open with records already
	// written (aborted: in the log, never seen by read_committed readers)
	// depends on the moment; it is logged, not asserted (one run in three
	// caught none with the manager's three kills).
	// TestStockInventoryFencedWithOpenTransaction holds one open on purpose.
	aborted := map[string]int{}
	for _, topic := range []string{e.set.Inventory, e.set.Stock, e.set.Requests, e.set.State} {
		aborted[topic] = len(readToEnd(t, e.c, topic, e.partitions, "read_uncommitted")) - len(readToEnd(t, e.c, topic, e.partitions, "read_committed"))
	}
	t.Logf("aborted records by topic: %v", aborted)
	for sku, n := range supply {
		l := latest[sku]
		if l.Available < 0 || l.Available+l.Reserved != n {
			t.Errorf("sku %s: %d available + %d reserved, want %d in all", sku, l.Available, l.Reserved, n)
		}
	}
	t.Logf("reservations %d; stock after: %+v", rep.Summary.Reservations, latest)
}

// The inventory processor dies with a transaction open, through the fault
// seam: its commit of a grant is held, and a successor with the same
// instance id starts (as a restarted replica does), fencing it and
// aborting the open transaction. The successor decides the reservation
// again from the committed offsets: the last unit is granted once, to the
// first checkout; the second checkout is refused; the zombie's commit,
// released at last, fails.
func TestStockInventoryFencedWithOpenTransaction(t *testing.T) {
	waitBound(t)
	e := newCartEnv(t, 3)
	e.seedCatalog(t, demoProducts()...)
	held, release := make(chan struct{}), make(chan struct{})
	var armed atomic.Bool
	zombieCfg := e.inventoryConfig(t, "inv-a")
	zombieCfg.BeforeCommit = func(int) {
		if armed.CompareAndSwap(true, false) {
			close(held)
			<-release
		}
	}
	zombie, err := processor.New(zombieCfg)
	if err != nil {
		t.Fatal(err)
	}
	zctx, stopZombie := context.WithCancel(context.Background())
	zdone := make(chan error, 1)
	go func() { zdone <- zombie.Run(zctx) }()
	defer func() {
		stopZombie()
		select {
		case <-release:
		default:
			close(release)
		}
		<-zdone
	}()
	<-zombie.Ready()
	e.startManager(t, e.reservingConfig(t, "m1"))
	read := e.runProjection(t, e.rec, "projection")
	e.setStock(t, map[cart.SKU]int64{"SKU-C": 1})
	e.waitStock(t, func(l map[cart.SKU]inventory.Level) bool { return l["SKU-C"].Available == 1 })
	e.send(t, e.add("fz-1", "fz-1-a", "SKU-C", 1), e.add("fz-2", "fz-2-a", "SKU-C", 1))

	armed.Store(true)
	pos1 := e.send(t, e.checkout("fz-1", "fz-1-co", "cust-1"))
	select {
	case <-held:
	case <-time.After(time.Minute):
		t.Fatal("the processor never reached the commit of the reservation")
	}
	// The successor fences the zombie (same transactional id) and takes
	// its partitions (same static member id).
	stopZombie()
	e.startInventory(t, e.inventoryConfig(t, "inv-a"))
	if out := awaitOutcome(t, read, "fz-1", "fz-1-co", pos1[0]); !out.GetAccepted() {
		t.Fatalf("first checkout: %v, want accepted", out)
	}
	close(release) // the zombie's commit now fails: it was fenced
	pos2 := e.send(t, e.checkout("fz-2", "fz-2-co", "cust-1"))
	if out := awaitOutcome(t, read, "fz-2", "fz-2-co", pos2[0]); out.GetRejection().GetReason() != cartv1.ReasonCode_REASON_CODE_OUT_OF_STOCK {
		t.Fatalf("second checkout: %v, want OUT_OF_STOCK", out)
	}
	e.waitSagaDrained(t, time.Minute)
	latest, _ := e.stockLevels(t)
	if l := latest["SKU-C"]; l.Available != 0 || l.Reserved != 1 {
		t.Fatalf("SKU-C: %+v, want 0 available, 1 reserved", l)
	}
	if rep := verifyHistory(t, e.c, e.set, e.rec); !rep.Clean() {
		t.Fatalf("verifier: %+v", rep.Violations)
	}
	// The zombie's grant and level were written and aborted: in the log,
	// never seen by a read_committed reader.
	aborted := 0
	for _, topic := range []string{e.set.Stock, e.set.Requests} {
		aborted += len(readToEnd(t, e.c, topic, e.partitions, "read_uncommitted")) - len(readToEnd(t, e.c, topic, e.partitions, "read_committed"))
	}
	if aborted == 0 {
		t.Error("the held transaction left no aborted records: the fault missed the open transaction")
	}
	// The zombie's counters hold committed work only (its stock count, not
	// the grant that never committed), and its health says it cannot
	// commit once its fenced session has ended.
	if n := zombie.Stats().Decided[inventory.KindReserve][processor.ResultGranted].Load(); n != 0 {
		t.Errorf("zombie counted %d granted reservations; its only grant never committed", n)
	}
	waitFor(t, time.Minute, "the fenced zombie not serving", func() bool { h, _ := zombie.Health(); return !h.Serving && h.Reason != "" })
}
