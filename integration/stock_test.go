package integration

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/gateway"
	"github.com/cartstream/cartstream/inventory"
	"github.com/cartstream/cartstream/projection"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// awaitOutcome is the wait_for_outcome answer of the command at pos.
func awaitOutcome(t *testing.T, read *projection.Server, id cart.CartID, req cart.RequestID, pos kafka.TopicPartition) *cartv1.CommandOutcome {
	t.Helper()
	out, err := read.AwaitOutcome(withTimeout(t, time.Minute), gateway.OutcomeQuery{
		CartID: id, RequestID: req, Position: gateway.Position{Partition: pos.Partition, Offset: int64(pos.Offset)},
	})
	if err != nil || out == nil {
		t.Fatalf("outcome of %s/%s: %v, %v", id, req, out, err)
	}
	return out
}

// Issue 14, item 2: two carts race for the last unit of a SKU. Their
// checkouts reserve across partitionings (carts by cart id, stock by SKU):
// exactly one is granted and closes its cart; the other fails with
// OUT_OF_STOCK naming that line, its cart stays open and the unit of the
// other line it had reserved is released. wait_for_outcome answers each
// with the decision, never "pending". Stock never goes negative.
func TestStockRaceForTheLastUnit(t *testing.T) {
	waitBound(t)
	e := newCartEnv(t, 3)
	e.seedCatalog(t, demoProducts()...)
	e.startInventory(t, e.inventoryConfig(t, "inv1"))
	e.startManager(t, e.reservingConfig(t, "m1"))
	read := e.runProjection(t, e.rec, "projection")
	e.setStock(t, map[cart.SKU]int64{"SKU-A": 1, "SKU-B": 10})
	e.waitStock(t, func(l map[cart.SKU]inventory.Level) bool {
		return l["SKU-A"].Available == 1 && l["SKU-B"].Available == 10
	})

	e.send(t,
		e.add("race-1", "r1-a", "SKU-A", 1), e.add("race-1", "r1-b", "SKU-B", 1),
		e.add("race-2", "r2-a", "SKU-A", 1), e.add("race-2", "r2-b", "SKU-B", 1),
	)
	// Both checkouts at once: whichever the SKU's partition orders first wins.
	var pos [2]kafka.TopicPartition
	var wg sync.WaitGroup
	for i, id := range []string{"race-1", "race-2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := e.trySend(t, e.checkout(id, id+"-co", "cust-1"))
			if err != nil {
				t.Errorf("send checkout %s: %v", id, err)
				return
			}
			pos[i] = p[0]
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	var winner, loser cart.CartID
	for i, id := range []cart.CartID{"race-1", "race-2"} {
		out := awaitOutcome(t, read, id, cart.RequestID(id+"-co"), pos[i])
		switch {
		case out.GetAccepted():
			if out.GetOrderId() != string(cart.OrderIDOf(id, cart.RequestID(id+"-co"))) {
				t.Errorf("%s: order id %q", id, out.GetOrderId())
			}
			winner = id
		case out.GetRejection().GetReason() == cartv1.ReasonCode_REASON_CODE_OUT_OF_STOCK:
			msg := out.GetRejection().GetMessage()
			if !strings.Contains(msg, "SKU-A") || strings.Contains(msg, "SKU-B") {
				t.Errorf("%s: rejection %q should name SKU-A only", id, msg)
			}
			loser = id
		default:
			t.Fatalf("%s: outcome %v, want the decision", id, out)
		}
	}
	if winner == "" || loser == "" {
		t.Fatalf("winner %q, loser %q: want exactly one of each", winner, loser)
	}
	e.waitSagaDrained(t, time.Minute)

	snaps := e.snapshots(t)
	if s := snaps[winner]; s.Cart.Status != cart.StatusCheckedOut || s.Pending != nil {
		t.Errorf("winner %s: %v pending %v", winner, s.Cart.Status, s.Pending)
	}
	if s := snaps[loser]; s.Cart.Status != cart.StatusOpen || s.Pending != nil || len(s.Cart.Lines) != 2 {
		t.Errorf("loser %s: %v pending %v lines %d", loser, s.Cart.Status, s.Pending, len(s.Cart.Lines))
	}
	latest, all := e.stockLevels(t)
	for _, l := range all {
		if l.Available < 0 || l.Reserved < 0 {
			t.Fatalf("negative stock committed: %+v", l)
		}
	}
	if a, b := latest["SKU-A"], latest["SKU-B"]; a.Available != 0 || a.Reserved != 1 || b.Available != 9 || b.Reserved != 1 {
		t.Fatalf("stock after the race: A %+v, B %+v; want A 0/1 and B 9/1 (the loser's B released)", a, b)
	}
	if orders := readToEnd(t, e.c, e.set.Orders, e.partitions, "read_committed"); len(orders) != 1 {
		t.Fatalf("%d orders, want 1", len(orders))
	}
	if rep := verifyHistory(t, e.c, e.set, e.rec); !rep.Clean() || rep.Summary.Reservations != 4 {
		t.Fatalf("verifier: %d reservations, %+v", rep.Summary.Reservations, rep.Violations)
	}

	// The soft check: with SKU-A at 0, an add is refused at once.
	deadline := time.Now().Add(time.Minute)
	for i := 0; ; i++ {
		id := cart.CartID("late-" + string(rune('a'+i%26)) + time.Now().Format("150405.000"))
		p := e.send(t, e.add(string(id), string(id)+"-a", "SKU-A", 1))
		out := awaitOutcome(t, read, id, cart.RequestID(string(id)+"-a"), p[0])
		if out.GetRejection().GetReason() == cartv1.ReasonCode_REASON_CODE_OUT_OF_STOCK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("AddItem of a SKU out of stock still %v after a minute", out)
		}
	}
}
