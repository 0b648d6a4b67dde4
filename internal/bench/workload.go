package bench

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/records"
)

// products is the benchmark catalog: n active products with varied prices.
func products(n int) []cart.Product {
	out := make([]cart.Product, n)
	for i := range out {
		out[i] = cart.Product{
			SKU:       cart.SKU(fmt.Sprintf("SKU-%03d", i)),
			Name:      fmt.Sprintf("Benchmark product %03d", i),
			UnitPrice: cart.Money{Amount: int64(199 + 37*i), Currency: "EUR"},
			Active:    true,
		}
	}
	return out
}

// workload generates cart commands with the mix of a storefront: mostly
// AddItem, some ChangeQuantity and RemoveItem on lines the cart holds, a
// few Checkout. It is deterministic for a seed.
type workload struct {
	rng    *rand.Rand
	prefix string // request id prefix, unique to the run and scenario
	skus   []cart.SKU
	lines  map[int][]cart.SKU // SKUs each cart was given, for changes and removes
	seq    int
}

func newWorkload(seed uint64, prefix string, skus []cart.SKU) *workload {
	return &workload{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), prefix: prefix, skus: skus, lines: map[int][]cart.SKU{}}
}

func cartName(prefix string, i int) cart.CartID {
	return cart.CartID(fmt.Sprintf("%s-cart-%06d", prefix, i))
}

// next returns the next command for cart c: 85% AddItem, 8% ChangeQuantity,
// 5% RemoveItem, 2% Checkout.
func (w *workload) next(c int, now time.Time) cart.Command {
	w.seq++
	id := cartName(w.prefix, c)
	req := cart.RequestID(fmt.Sprintf("%s-%08d", w.prefix, w.seq))
	held := w.lines[c]
	n := w.rng.IntN(100)
	if len(held) == 0 {
		n = 0
	}
	switch {
	case n < 85:
		sku := w.skus[w.rng.IntN(len(w.skus))]
		w.lines[c] = append(held, sku)
		return cart.AddItem{CartID: id, RequestID: req, CustomerID: "bench-customer", RequestedAt: now, SKU: sku, Quantity: int32(1 + w.rng.IntN(3))}
	case n < 93:
		return cart.ChangeQuantity{CartID: id, RequestID: req, RequestedAt: now, SKU: held[w.rng.IntN(len(held))], Quantity: int32(1 + w.rng.IntN(5))}
	case n < 98:
		i := w.rng.IntN(len(held))
		sku := held[i]
		w.lines[c] = append(held[:i:i], held[i+1:]...)
		return cart.RemoveItem{CartID: id, RequestID: req, RequestedAt: now, SKU: sku}
	default:
		return cart.Checkout{CartID: id, RequestID: req, CustomerID: "bench-customer", RequestedAt: now}
	}
}

// traceparent is a W3C trace context like the gateway's.
func (w *workload) traceparent() string {
	var b [24]byte
	for i := range b {
		b[i] = byte(w.rng.Uint32())
	}
	return "00-" + hex.EncodeToString(b[:16]) + "-" + hex.EncodeToString(b[16:]) + "-01"
}

// requestRecord encodes cmd as the gateway writes it to cart.requests: key =
// cart id, the Avro value, and the request-id, event-type and traceparent
// headers.
func requestRecord(rec *records.Codec, cmd cart.Command, traceparent string) (kafka.Message, error) {
	v, err := rec.EncodeRequest(cmd)
	if err != nil {
		return kafka.Message{}, err
	}
	m := cmd.Meta()
	return kafka.Message{
		Key:   []byte(m.CartID),
		Value: v,
		Headers: []kafka.Header{
			{Key: records.HeaderRequestID, Value: []byte(m.RequestID)},
			{Key: records.HeaderEventType, Value: []byte(cmd.EventType().String())},
			{Key: records.HeaderTraceparent, Value: []byte(traceparent)},
		},
	}, nil
}

func skusOf(ps []cart.Product) []cart.SKU {
	out := make([]cart.SKU, len(ps))
	for i, p := range ps {
		out[i] = p.SKU
	}
	return out
}

// requestIDs are the commands' request ids, in order.
func requestIDs(cmds []cart.Command) []string {
	ids := make([]string, len(cmds))
	for i, c := range cmds {
		ids[i] = string(c.Meta().RequestID)
	}
	return ids
}
