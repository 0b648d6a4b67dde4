package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cartstream/cartstream/cart"
)

// crashSize is the crash test's load; `make chaos` raises it through the
// environment.
func crashSize() (commands, carts, kills int) {
	commands, carts, kills = 20_000, 500, 10
	if v, err := strconv.Atoi(os.Getenv("CARTSTREAM_CHAOS_COMMANDS")); err == nil && v > 0 {
		commands = v
	}
	if v, err := strconv.Atoi(os.Getenv("CARTSTREAM_CHAOS_KILLS")); err == nil && v > 0 {
		kills = v
	}
	return commands, carts, kills
}

// buildCommand compiles one of cmd/ into dir and returns the binary's path.
func buildCommand(t *testing.T, name, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", bin, "github.com/cartstream/cartstream/cmd/"+name)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, out)
	}
	return bin
}

// managerProcess is the AddItemManager as a separate OS process, so the test
// can kill it with SIGKILL at any instruction.
type managerProcess struct {
	t    *testing.T
	bin  string
	args []string
	logs *os.File
	mu   sync.Mutex
	cmd  *exec.Cmd
}

// managerProcess describes cmd/additem-manager as an OS process on this env's
// topics and group, under a stable instance id.
func (e *cartEnv) managerProcess(t *testing.T, bin, instance string) *managerProcess {
	prefix := e.set.Requests[:len(e.set.Requests)-len("cart.requests")]
	return &managerProcess{t: t, bin: bin, logs: os.Stderr, args: []string{
		"-brokers", e.c.Brokers(), "-topic-prefix", prefix, "-partitions", strconv.Itoa(e.partitions),
		"-group", e.group, "-instance-id", instance, "-health-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0",
		"-transaction-timeout", "10s", "-session-timeout", "6s", "-log-format", "json", "-log-level", "warn",
	}}
}

func (p *managerProcess) start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start manager: %v", err)
	}
	p.cmd = cmd
}

func (p *managerProcess) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
	p.cmd = nil
}

// stop asks the manager to shut down gracefully and fails the test if it
// does not exit cleanly.
func (p *managerProcess) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			p.t.Errorf("manager exited with %v after SIGTERM", err)
		}
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		p.t.Error("manager did not stop within 60s of SIGTERM")
	}
	p.cmd = nil
}

// The heart of the guarantee: the manager is killed with SIGKILL at random
// moments while commands (with client retries among them) stream in, and
// restarted each time. Afterwards every request has exactly one outcome, in
// order, and every snapshot is the fold of its cart's events.
func TestCrashedManagerLosesAndDoublesNothing(t *testing.T) {
	commands, carts, kills := crashSize()
	e := newCartEnv(t, 6)
	e.seedCatalog(t, demoProducts()...)
	dir := t.TempDir()
	logs, err := os.Create(filepath.Join(dir, "manager.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	p := e.managerProcess(t, buildCommand(t, "additem-manager", dir), "crash-1")
	p.logs = logs
	p.start()
	defer p.kill()

	// The load: commands over carts at a steady pace, 1 in 20 of them a
	// retry of an earlier command of the same cart (the same request id and
	// content, as a client resends after a lost answer).
	rng := rand.New(rand.NewPCG(1, 2))
	var sent []cart.Command
	perCart := map[string][]cart.Command{}
	skus := []string{"SKU-A", "SKU-B", "SKU-C", "SKU-D"}
	for i := range commands {
		id := fmt.Sprintf("cart-%03d", rng.IntN(carts))
		if prev := perCart[id]; len(prev) > 0 && rng.IntN(20) == 0 {
			sent = append(sent, prev[len(prev)-1-rng.IntN(min(len(prev), 10))])
			continue
		}
		req := fmt.Sprintf("crash-%06d", i)
		sku := skus[rng.IntN(len(skus))]
		var c cart.Command
		switch n := rng.IntN(100); {
		case n < 60:
			c = e.add(id, req, sku, int32(1+rng.IntN(2)))
		case n < 75:
			c = e.change(id, req, sku, int32(1+rng.IntN(5)))
		case n < 95:
			c = e.remove(id, req, sku)
		default:
			c = e.checkout(id, req, "cust-1")
		}
		perCart[id] = append(perCart[id], c)
		sent = append(sent, c)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	loadDone := make(chan error, 1)
	// Pace the load to last about as long as the kills (each restart takes
	// ~2-3 s before the manager commits again), so every kill lands while
	// commands stream in.
	const chunk = 40
	pace := max(time.Duration(kills)*3500*time.Millisecond*chunk/time.Duration(len(sent)), 5*time.Millisecond)
	go func() {
		var err error
		for i := 0; i < len(sent) && ctx.Err() == nil && err == nil; i += chunk {
			_, err = e.trySend(t, sent[i:min(i+chunk, len(sent))]...)
			select {
			case <-time.After(pace): // the load's pace, in small steps
			case <-ctx.Done():
			}
		}
		loadDone <- err
	}()

	// The faults: each kill waits until the running incarnation has
	// committed something (so it is past start-up and processing), then
	// strikes at a random moment within the next few hundred ms. The load
	// arrives in small steps, so the manager is inside a transaction most
	// of the time, and the assertion at the end checks that kills did land
	// mid-transaction.
	//
	// Right before each kill a burst of commands for carts of their own
	// lands on every partition at once, so that the manager's producer
	// pool has several transactions open when the kill strikes (the
	// evidence is checked at the end).
	var loadErr error
	var killedAt []time.Time
	var bursts []cart.Command
	loadFinished := false
	for k := range kills {
		if !loadFinished {
			if err := e.waitProgress(t, time.Minute); err != nil {
				t.Fatalf("before kill %d: %v", k+1, err)
			}
		}
		select {
		case <-time.After(time.Duration(rng.IntN(300)) * time.Millisecond): // the fault schedule, not a wait
		case loadErr = <-loadDone:
			loadFinished = true
		}
		burst := make([]cart.Command, 24)
		for i := range burst {
			burst[i] = e.add(fmt.Sprintf("burst-%02d-%02d", k, i), fmt.Sprintf("burst-%02d-%02d", k, i), skus[i%len(skus)], 1)
		}
		if _, err := e.trySend(t, burst...); err != nil {
			t.Fatalf("burst before kill %d: %v", k+1, err)
		}
		bursts = append(bursts, burst...)
		time.Sleep(time.Duration(2+rng.IntN(10)) * time.Millisecond) // the fault schedule: strike while the burst is in flight
		p.kill()
		killedAt = append(killedAt, time.Now())
		t.Logf("kill %d", k+1)
		p.start()
	}
	if !loadFinished {
		loadErr = <-loadDone
	}
	if loadErr != nil {
		t.Fatalf("load: %v", loadErr)
	}
	e.waitDrained(t, 3*time.Minute)
	p.stop()
	e.checkExactlyOnce(t, distinct(append(sent, bursts...)))

	// Evidence that kills landed mid-transaction: records of aborted
	// transactions sit in the outcome logs (not compacted, unlike
	// cart.state), visible to read_uncommitted only.
	committed, all := 0, 0
	for _, topic := range []string{e.set.Validated, e.set.Invalid} {
		committed += len(readToEnd(t, e.c, topic, e.partitions, "read_committed"))
		all += len(readToEnd(t, e.c, topic, e.partitions, "read_uncommitted"))
	}
	t.Logf("outcome topics: %d committed records, %d in aborted transactions", committed, all-committed)
	if all <= committed {
		t.Errorf("no kill left an open transaction behind (%d records either way): the test did not exercise a crash mid-transaction", all)
	}

	// The manager runs several transactional producers over disjoint
	// partitions: evidence that some kill caught two or more of them with a
	// transaction open at once (and so that their rewinds composed).
	perKill := openAtKill(abortedTransactions(t, e.c, e.partitions, e.set.Validated, e.set.Invalid, e.set.State), killedAt)
	t.Logf("transactions open at each kill (by aborted records per producer incarnation): %v", perKill)
	if slices.Max(perKill) < 2 {
		t.Errorf("no kill caught two transactions in flight: %v", perKill)
	}
}

// openAtKill attributes each producer incarnation with aborted records to
// the first kill after its last aborted write, and counts them per kill.
func openAtKill(aborted map[producerEpoch]abortedWrites, kills []time.Time) []int {
	per := make([]int, len(kills))
	for _, w := range aborted {
		for i, k := range kills {
			if !w.last.After(k) {
				per[i]++
				break
			}
		}
	}
	return per
}

// waitProgress waits until the manager group's committed offsets move past
// where they are now: the running manager is processing.
func (e *cartEnv) waitProgress(t *testing.T, timeout time.Duration) error {
	sum := func() (int64, error) {
		c, err := e.committed()
		var n int64
		for _, o := range c {
			n += o
		}
		return n, err
	}
	// The group coordinator can answer NOT_COORDINATOR or load in progress
	// for a while (a young broker, a partition of __consumer_offsets
	// moving): such an answer is a reason to ask again, not a failure.
	deadline := time.Now().Add(timeout)
	start, err := sum()
	for err != nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // polling the group's offsets with a deadline
		start, err = sum()
	}
	if err != nil {
		return err
	}
	for time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // polling the group's offsets with a deadline
		n, err := sum()
		if err == nil && n > start {
			return nil
		}
	}
	return fmt.Errorf("no commit for %s", timeout)
}

// distinct drops retries: the commands whose request id was sent before.
func distinct(cmds []cart.Command) []cart.Command {
	seen := map[cart.RequestID]bool{}
	var out []cart.Command
	for _, c := range cmds {
		if id := c.Meta().RequestID; !seen[id] {
			seen[id] = true
			out = append(out, c)
		}
	}
	return out
}
