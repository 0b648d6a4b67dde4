package projection

import (
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/partition"
	"github.com/cartstream/cartstream/internal/records"
)

// benchSnapshots encodes n carts' snapshots as make bench's readscale
// loads them: three AddItems each (the bench's mix is 85% AddItem) of 50
// products, one customer for all, request ids unique to the run.
func benchSnapshots(tb testing.TB, rec *records.Codec, n int) [][]byte {
	tb.Helper()
	var ps []cart.Product
	for i := range 50 {
		ps = append(ps, cart.Product{SKU: cart.SKU(fmt.Sprintf("SKU-%03d", i)), Name: fmt.Sprintf("Benchmark product %03d", i),
			UnitPrice: cart.Money{Amount: int64(199 + 37*i), Currency: "EUR"}, Active: true})
	}
	catalog, err := cart.NewMapCatalog(ps...)
	if err != nil {
		tb.Fatal(err)
	}
	limits := cart.Limits{}.WithDefaults()
	rng := rand.New(rand.NewPCG(11, 12))
	now := time.Now().UTC().Round(time.Millisecond)
	out := make([][]byte, n)
	seq := 0
	for i := range n {
		id := cart.CartID(fmt.Sprintf("sab12cd-cart-%06d", i))
		s := cart.NewSnapshot(id)
		for range 3 {
			seq++
			cmd := cart.AddItem{CartID: id, RequestID: cart.RequestID(fmt.Sprintf("sab12cd-%08d", seq)), CustomerID: "bench-customer",
				RequestedAt: now, SKU: ps[rng.IntN(len(ps))].SKU, Quantity: int32(1 + rng.IntN(3))}
			s, _ = cart.Process(s, cmd, int64(seq), catalog, limits, now)
		}
		if out[i], err = rec.EncodeSnapshot(s); err != nil {
			tb.Fatal(err)
		}
	}
	return out
}

func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// heldBytesPerCart decodes values into a Projection of parts partitions
// as the cart.state follower does and returns the live heap the carts hold,
// per cart; heapProfile, if not empty, gets a heap profile of them.
func heldBytesPerCart(tb testing.TB, rec *records.Codec, values [][]byte, parts int, heapProfile string) float64 {
	tb.Helper()
	p, err := New(Config{Client: kafka.ConfigMap{"bootstrap.servers": "unused:1"}, Records: rec})
	if err != nil {
		tb.Fatal(err)
	}
	lay := &layout{partitions: parts, shards: make([]*shard, parts)}
	for i := range parts {
		lay.shards[i] = newShard(int32(i))
	}
	p.layout.Store(lay)
	n := len(values)
	keys := make([][]byte, n)
	for i := range n {
		keys[i] = fmt.Appendf(nil, "sab12cd-cart-%06d", i)
	}
	before := liveHeap()
	for i, v := range values {
		part := partition.For(keys[i], parts)
		p.applyValue(lay.shards[part], cart.CartID(keys[i]), part, int64(i), v)
	}
	keys = nil
	after := liveHeap()
	if p.carts() != n {
		tb.Fatalf("%d carts held, want %d", p.carts(), n)
	}
	if heapProfile != "" {
		w, err := os.Create(heapProfile)
		if err != nil {
			tb.Fatal(err)
		}
		if err := pprof.Lookup("heap").WriteTo(w, 0); err != nil {
			tb.Fatal(err)
		}
		_ = w.Close()
	}
	runtime.KeepAlive(p)
	return float64(after-before) / float64(n)
}

// The carts of make bench's readscale held 1,072 bytes of heap each: every
// string of a snapshot was a slice of its whole decoded record, which the
// cart kept alive, and every entry carried an empty history index inline.
func TestHeldBytesPerCart(t *testing.T) {
	rec, err := records.New(records.Config{})
	if err != nil {
		t.Fatal(err)
	}
	got := heldBytesPerCart(t, rec, benchSnapshots(t, rec, 20_000), 4, "")
	t.Logf("%.0f bytes of heap per cart", got)
	if got > 800 {
		t.Errorf("%.0f bytes of heap per cart, want <= 800", got)
	}
}

// BenchmarkHeldBytesPerCart: the live heap a Projection's shards hold per
// cart, 200,000 carts decoded from cart.state records over 4 partitions
// (one replica's share of make bench's readscale, in size); MEMPROFILE=file
// writes a heap profile of them.
func BenchmarkHeldBytesPerCart(b *testing.B) {
	rec, err := records.New(records.Config{})
	if err != nil {
		b.Fatal(err)
	}
	values := benchSnapshots(b, rec, 200_000)
	for b.Loop() {
		b.ReportMetric(heldBytesPerCart(b, rec, values, 4, os.Getenv("MEMPROFILE")), "heap-bytes/cart")
	}
}

// compact keeps a snapshot equal to the decoded one while none of its
// strings points into the decoded record any more.
func TestCompactKeepsNoStringOfTheRecord(t *testing.T) {
	rec, err := records.New(records.Config{})
	if err != nil {
		t.Fatal(err)
	}
	v := benchSnapshots(t, rec, 1)[0]
	s, err := rec.DecodeSnapshot(v)
	if err != nil {
		t.Fatal(err)
	}
	id := cart.CartID(strings.Clone(string(s.Cart.CartID)))
	c := newInterner(DefaultMaxInterned).compact(id, s)
	sh := newShard(0)
	sh.apply(c)
	got, _, _ := sh.get(id)
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("held %+v, decoded %+v", got, s)
	}
	same := func(what, a, b string) {
		if len(a) > 0 && unsafe.StringData(a) == unsafe.StringData(b) {
			t.Errorf("%s shares the decoded record's memory", what)
		}
	}
	same("cart id", string(got.Cart.CartID), string(s.Cart.CartID))
	same("customer id", string(got.Cart.CustomerID), string(s.Cart.CustomerID))
	same("currency", string(got.Cart.Currency), string(s.Cart.Currency))
	for i := range got.Cart.Lines {
		same("line sku", string(got.Cart.Lines[i].SKU), string(s.Cart.Lines[i].SKU))
		same("line name", got.Cart.Lines[i].Name, s.Cart.Lines[i].Name)
		same("line currency", string(got.Cart.Lines[i].UnitPrice.Currency), string(s.Cart.Lines[i].UnitPrice.Currency))
	}
	for i := range got.Window {
		same("request id", string(got.Window[i].RequestID), string(s.Window[i].RequestID))
	}
}

// compact copies a pending checkout's and a merged cart's strings too,
// and keeps the snapshot equal.
func TestCompactKeepsPendingAndMergedEqual(t *testing.T) {
	body := "cart-9cust-7req-1req-2SKU-1EUR"
	s := cart.Snapshot{
		Cart: cart.CartState{CartID: cart.CartID(body[:6]), CustomerID: cart.CustomerID(body[6:12]), Status: cart.StatusMerged,
			MergedInto: cart.CartID(body[:6])},
		RequestOffset: 4,
		Window:        []cart.RequestOutcome{{RequestID: cart.RequestID(body[12:17]), Offset: 3}, {RequestID: cart.RequestID(body[17:22]), Offset: 4}},
		Pending: &cart.PendingCheckout{RequestID: cart.RequestID(body[17:22]), Offset: 4, CustomerID: cart.CustomerID(body[6:12]),
			Lines: []cart.PendingLine{{SKU: cart.SKU(body[22:27]), Quantity: 2}}},
	}
	c := newInterner(DefaultMaxInterned).compact(cart.CartID(strings.Clone(body[:6])), s)
	if !reflect.DeepEqual(c, s) {
		t.Fatalf("compacted %+v, want %+v", c, s)
	}
	lo, hi := uintptr(unsafe.Pointer(unsafe.StringData(body))), uintptr(unsafe.Pointer(unsafe.StringData(body)))+uintptr(len(body))
	for what, v := range map[string]string{"merged into": string(c.Cart.MergedInto), "pending request id": string(c.Pending.RequestID),
		"pending customer": string(c.Pending.CustomerID), "pending sku": string(c.Pending.Lines[0].SKU), "request id": string(c.Window[1].RequestID)} {
		if p := uintptr(unsafe.Pointer(unsafe.StringData(v))); p >= lo && p < hi {
			t.Errorf("%s points into the decoded record", what)
		}
	}
}
