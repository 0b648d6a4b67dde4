package projection

import (
	"context"
	"fmt"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/partition"
	"github.com/cartstream/cartstream/internal/records"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// BenchmarkServerGetCart: a replica's part of a GetCart without a token
// (lookup, snapshot copy, proto mapping), 20,000 readscale carts held, no
// network: what each routed GetCart costs the replica's CPU.
func BenchmarkServerGetCart(b *testing.B) {
	const n = 20_000
	srv, ids := benchReplica(b, n, 4)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := srv.GetCart(ctx, &cartv1.GetCartRequest{CartId: ids[i%n]}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// benchReplica is a caught-up replica's Server holding n readscale carts
// over parts partitions, without Kafka, and the carts' ids.
func benchReplica(b *testing.B, n, parts int) (*Server, []string) {
	b.Helper()
	rec, err := records.New(records.Config{})
	if err != nil {
		b.Fatal(err)
	}
	p, err := New(Config{Client: kafka.ConfigMap{"bootstrap.servers": "unused:1"}, Records: rec})
	if err != nil {
		b.Fatal(err)
	}
	lay := &layout{partitions: parts, shards: make([]*shard, parts)}
	for i := range parts {
		lay.shards[i] = newShard(int32(i))
	}
	p.layout.Store(lay)
	ids := make([]string, n)
	for i, v := range benchSnapshots(b, rec, n) {
		ids[i] = fmt.Sprintf("sab12cd-cart-%06d", i)
		part := partition.For([]byte(ids[i]), parts)
		p.applyValue(lay.shards[part], cart.CartID(ids[i]), part, int64(i), v)
	}
	close(p.ready)
	return NewServer(p), ids
}
