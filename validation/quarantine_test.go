package validation

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	keyhash "github.com/cartstream/cartstream/internal/partition"
)

// Issue 11: restore skipped a snapshot it could not decode, so the cart
// restarted empty, or from an older snapshot compaction had not removed
// yet, and the manager's next snapshot of it overwrote the unreadable one.
func TestRestoreQuarantinesTheLatestUnreadableRecord(t *testing.T) {
	_, rec := testWorker(t)
	good := func(id cart.CartID, offset int64) []byte {
		s := cart.NewSnapshot(id)
		s.RequestOffset = offset
		b, err := rec.EncodeSnapshot(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	garbage := []byte{0xC3, 0x01, 0xFF, 0xFF}
	type rec2 struct {
		value []byte
		key   cart.CartID
	}
	for _, c := range []struct {
		name        string
		records     []rec2
		quarantined bool
		restored    bool
	}{
		{"good then unreadable: the older snapshot is not used", []rec2{{good("c", 1), "c"}, {garbage, "c"}}, true, false},
		{"unreadable then rewritten: the repair wins", []rec2{{garbage, "c"}, {good("c", 1), "c"}}, false, true},
		{"unreadable then tombstone: the cart is gone", []rec2{{garbage, "c"}, {nil, "c"}}, false, false},
		{"another cart's snapshot under the key", []rec2{{good("other", 3), "c"}}, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ps := &partitionState{carts: map[cart.CartID]cart.Snapshot{}}
			for i, r := range c.records {
				_, _ = ps.restoreRecord(r.key, int64(i), r.value, rec.DecodeSnapshot)
			}
			_, q := ps.quarantined["c"]
			_, ok := ps.carts["c"]
			if q != c.quarantined || ok != c.restored {
				t.Fatalf("quarantined %v (want %v), restored %v (want %v)", q, c.quarantined, ok, c.restored)
			}
		})
	}
}

// A quarantined cart's request is rejected with INVALID_STATE and no
// snapshot of the cart is written; another cart of the partition flows.
func TestQuarantinedCartIsRejectedNotReplaced(t *testing.T) {
	w, rec := testWorker(t)
	const n = 3
	sick := keyIn(t, 1, n)
	var healthy []byte
	for i := range 1000 {
		if k := []byte(fmt.Sprintf("other-%d", i)); keyhash.For(k, n) == 1 {
			healthy = k
			break
		}
	}
	j := testJob(1, n)
	j.parts[1].state.quarantined = map[cart.CartID]quarantine{cart.CartID(sick): {stateOffset: 7, cause: "unknown schema"}}
	b := &batchTxn{overlay: map[cart.CartID]*pending{}}
	add := func(key []byte, req string) *kafka.Message {
		v, err := rec.EncodeRequest(cart.AddItem{CartID: cart.CartID(key), RequestID: cart.RequestID(req), CustomerID: "u", RequestedAt: time.Now(), SKU: "SKU-A", Quantity: 1})
		if err != nil {
			t.Fatal(err)
		}
		return msgIn(1, key, v, kafka.Header{Key: HeaderRequestID, Value: []byte(req)})
	}
	id, snap, err := w.handle(j, b, add(sick, "r-1"), time.Now())
	if err != nil || id != "" || snap != nil {
		t.Fatalf("quarantined cart: id %q, snapshot %v, err %v; want no snapshot", id, snap, err)
	}
	if len(b.out) != 1 || *b.out[0].TopicPartition.Topic != w.m.cfg.Topics.Invalid {
		t.Fatalf("%d outcomes, want one rejection", len(b.out))
	}
	inv, err := rec.DecodeInvalid(b.out[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Rejection.Reason != cart.ReasonInvalidState || inv.RequestID != "r-1" || !strings.Contains(inv.Rejection.Message, "offset 7") {
		t.Fatalf("rejection %+v", inv)
	}
	if b.tally.rejected != 1 || b.tally.quarantined != 1 {
		t.Fatalf("tally %+v", b.tally)
	}
	id, snap, err = w.handle(j, b, add(healthy, "r-2"), time.Now())
	// UNKNOWN_SKU (the test's catalog is empty), recorded in its snapshot.
	if err != nil || id != cart.CartID(healthy) || snap == nil || len(snap.Window) != 1 {
		t.Fatalf("healthy cart: id %q, snapshot %v, err %v", id, snap, err)
	}
}
