package integration

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cartstream/cartstream/cart"
)

// loadWave builds n commands over carts, each with a fresh request id.
func (e *cartEnv) loadWave(wave, n, carts int) []cart.Command {
	skus := []string{"SKU-B", "SKU-C", "SKU-D"}
	cmds := make([]cart.Command, n)
	for i := range n {
		id := fmt.Sprintf("cart-%03d", i%carts)
		req := fmt.Sprintf("w%d-%05d", wave, i)
		sku := skus[(i/carts)%len(skus)]
		if i%7 == 6 {
			cmds[i] = e.remove(id, req, sku)
		} else {
			cmds[i] = e.add(id, req, sku, 1)
		}
	}
	return cmds
}

// checkExactlyOnce asserts that every request has exactly one outcome, that
// each cart's events carry versions 1..n in order, and that each cart's
// latest snapshot is the fold of its events.
func (e *cartEnv) checkExactlyOnce(t *testing.T, sent []cart.Command) {
	t.Helper()
	validated, invalid := e.outcomes(t)
	seen := map[cart.RequestID]int{}
	for _, o := range validated {
		seen[o.requestID()]++
	}
	for _, o := range invalid {
		seen[o.requestID()]++
	}
	for _, c := range sent {
		if n := seen[c.Meta().RequestID]; n != 1 {
			t.Errorf("request %s has %d outcomes, want 1", c.Meta().RequestID, n)
		}
	}
	if len(seen) != len(sent) {
		t.Errorf("%d distinct requests have outcomes, %d were sent", len(seen), len(sent))
	}
	folded := map[cart.CartID]cart.CartState{}
	for _, o := range validated {
		id := o.event.Meta().CartID
		st, ok := folded[id]
		if !ok {
			st = cart.CartState{CartID: id}
		}
		next, err := cart.Apply(st, o.event)
		if err != nil {
			t.Fatalf("fold cart %s at event v%d: %v", id, o.event.Meta().Version, err)
		}
		folded[id] = next
	}
	snaps := e.snapshots(t)
	for id, st := range folded {
		if got := snaps[id].Cart; !reflect.DeepEqual(got, st) {
			t.Errorf("cart %s: snapshot %+v, fold of its events %+v", id, got, st)
		}
	}
	// The operator's verifier models retries, reused ids, order and the
	// request window on top of the counts above.
	rep := verifyHistory(t, e.c, e.set, e.rec)
	if len(rep.Violations) > 0 {
		var b strings.Builder
		_ = rep.WriteText(&b, 20)
		t.Errorf("verifier found violations:\n%s", b.String())
	}
	t.Logf("verifier: %+v", rep.Summary)
}

// Three manager processes share the partitions: two from the start, a
// third joins while commands stream in, then the first leaves (SIGTERM);
// every request still has exactly one outcome.
func TestManagerRebalanceWithoutLossOrDuplication(t *testing.T) {
	waitBound(t)
	e := newCartEnv(t, 6)
	e.seedCatalog(t, demoProducts()...)
	bin := buildCommand(t, "additem-manager", t.TempDir())
	m1 := e.managerProcess(t, bin, "m1")
	m1.start()
	defer m1.kill()
	m2 := e.managerProcess(t, bin, "m2")
	m2.start()
	defer m2.kill()

	var sent []cart.Command
	wave := func(i int) {
		cmds := e.loadWave(i, 600, 60)
		e.send(t, cmds...)
		sent = append(sent, cmds...)
	}
	wave(1)
	m3 := e.managerProcess(t, bin, "m3") // joins while wave 1 is in flight
	m3.start()
	defer m3.kill()
	wave(2)
	m1.stop() // leaves while wave 2 is in flight
	wave(3)
	e.waitDrained(t, 2*time.Minute)
	m2.stop()
	m3.stop()
	e.checkExactlyOnce(t, sent)
}
