package projection

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/records"
)

// benchCarts is a checkpoint of n carts over parts partitions, each a
// 3-line cart with a 3-entry window, as the rebuild bench loads them.
func benchCheckpoint(b *testing.B, n, parts int) (*Projection, *checkpointStore, *layout) {
	b.Helper()
	rec, err := records.New(records.Config{})
	if err != nil {
		b.Fatal(err)
	}
	p, err := New(Config{Client: kafka.ConfigMap{"bootstrap.servers": "unused:9092"}, Records: rec})
	if err != nil {
		b.Fatal(err)
	}
	s := openTestCheckpoint(b, b.TempDir())
	if err := s.reset(testIdentity); err != nil {
		b.Fatal(err)
	}
	batch := newBatch()
	eur := func(a int64) cart.Money { return cart.Money{Amount: a, Currency: "EUR"} }
	for i := range n {
		id := cart.CartID(fmt.Sprintf("bench-cart-%08d", i))
		snap := cart.NewSnapshot(id)
		snap.Cart.CustomerID, snap.Cart.Currency, snap.Cart.Version = "cust-1", "EUR", 3
		for l := range 3 {
			snap.Cart.Lines = append(snap.Cart.Lines, cart.Line{SKU: cart.SKU(fmt.Sprintf("SKU-%d", (i+l)%50)), Name: "Product name", UnitPrice: eur(1999), Quantity: 1})
			snap.Window = append(snap.Window, cart.RequestOutcome{RequestID: cart.RequestID(fmt.Sprintf("req-%d-%d", i, l)), Offset: int64(i*3 + l), Kind: cart.KindAddItem, Accepted: true, CartVersion: int64(l + 1)})
		}
		snap.Cart.Subtotal, snap.Cart.ItemCount, snap.RequestOffset = eur(3*1999), 3, int64(i*3+2)
		v, err := rec.EncodeSnapshot(snap)
		if err != nil {
			b.Fatal(err)
		}
		batch.add(int32(i%parts), string(id), int64(i), v)
	}
	t0 := time.Now()
	if err := s.write(batch, time.Now()); err != nil {
		b.Fatal(err)
	}
	b.Logf("wrote %d carts, %d bytes in %s; file %d bytes", n, batch.bytes, time.Since(t0), s.size())
	return p, s, &layout{partitions: parts, shards: make([]*shard, parts)}
}

// BenchmarkCheckpointRestore is a warm start's local part: load and decode
// 100,000 carts (CARTSTREAM_BENCH_CARTS) into the shards.
func BenchmarkCheckpointRestore(b *testing.B) {
	const parts = 12
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("CARTSTREAM_BENCH_CARTS")); err == nil && v > 0 {
		n = v
	}
	p, s, lay := benchCheckpoint(b, n, parts)
	all := make([]int32, parts)
	for i := range all {
		all[i] = int32(i)
	}
	for b.Loop() {
		for i := range parts {
			lay.shards[i] = newShard(int32(i))
		}
		got, err := p.loadPartitions(s, lay, all)
		if err != nil || got != n {
			b.Fatalf("restored %d, %v", got, err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "carts/s")
}

// A checkpointed value this replica cannot decode quarantines its cart on
// restore, as the same record read from the topic does; the partition's
// other carts are served.
func TestCheckpointRestoreQuarantinesUndecodable(t *testing.T) {
	rec, err := records.New(records.Config{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{Client: kafka.ConfigMap{"bootstrap.servers": "unused:9092"}, Records: rec})
	if err != nil {
		t.Fatal(err)
	}
	s := openTestCheckpoint(t, t.TempDir())
	if err := s.reset(testIdentity); err != nil {
		t.Fatal(err)
	}
	good, err := rec.EncodeSnapshot(cart.NewSnapshot("good"))
	if err != nil {
		t.Fatal(err)
	}
	b := newBatch()
	b.add(0, "good", 3, good)
	b.add(0, "bad", 4, []byte{0xC3, 0x01, 0xde, 0xad})
	if err := s.write(b, time.Now()); err != nil {
		t.Fatal(err)
	}
	lay := &layout{partitions: 1, shards: []*shard{newShard(0)}}
	if n, err := p.loadPartitions(s, lay, []int32{0}); err != nil || n != 2 {
		t.Fatalf("restored %d, %v", n, err)
	}
	if _, ok, err := lay.shards[0].get("good"); !ok || err != nil {
		t.Errorf("good cart: ok %v, err %v", ok, err)
	}
	if _, _, err := lay.shards[0].get("bad"); !errors.Is(err, ErrUnreadable) || !strings.Contains(err.Error(), "offset 4") {
		t.Errorf("bad cart: %v, want ErrUnreadable at offset 4", err)
	}
}
