package projection

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cartstream/cartstream/internal/gateway"
	"github.com/cartstream/cartstream/internal/grpclimits"
	"github.com/cartstream/cartstream/internal/records"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// benchServe serves the CartService srv on a loopback port until the
// benchmark ends: TCP like the readscale replicas, not bufconn, so the
// hop's syscalls are in the figure.
func benchServe(b *testing.B, srv cartv1.CartServiceServer, opts ...grpc.ServerOption) string {
	b.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := grpc.NewServer(opts...)
	cartv1.RegisterCartServiceServer(s, srv)
	go func() { _ = s.Serve(lis) }()
	b.Cleanup(s.Stop)
	return lis.Addr().String()
}

func benchClient(b *testing.B, addr string) cartv1.CartServiceClient {
	b.Helper()
	cc, err := grpc.NewClient(addr, append(grpclimits.ClientWindows(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cc.Close() })
	return cartv1.NewCartServiceClient(cc)
}

// benchRouter is a Router whose view holds one replica at ep owning all
// parts partitions, without Kafka.
func benchRouter(b *testing.B, ep string, parts int) *Router {
	b.Helper()
	v, err := NewMemberView(MemberViewConfig{Client: kafka.ConfigMap{"bootstrap.servers": "unused:1"}})
	if err != nil {
		b.Fatal(err)
	}
	m := Member{ID: "a", Endpoint: ep, Partitions: parts}
	for p := range int32(parts) {
		m.Owned = append(m.Owned, p)
		m.Ready = append(m.Ready, p)
	}
	routes := newRoutes([]seenMember{{Member: m, seen: time.Now()}}, time.Hour)
	v.routes.Store(&routes)
	r, err := NewRouter(RouterConfig{View: v, Dial: func(ep string) (*grpc.ClientConn, error) {
		// cmd/cart-gateway's window options, without its TLS.
		return grpc.NewClient(ep, append(grpclimits.ClientWindows(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = r.Close() })
	return r
}

type nopProducer struct{}

func (nopProducer) Produce(context.Context, gateway.Record) (gateway.Position, error) {
	return gateway.Position{}, nil
}

// BenchmarkRoutedGetCart: the readscale read path's parts, one call at a
// time over loopback TCP to a replica holding 20,000 readscale carts:
//
//   - direct: a client to the replica (one hop: the floor);
//   - router: Router.GetCart in process (the router's own work plus the
//     hop to the replica);
//   - gateway: a client to a gateway.Server (dev mode, its server
//     options) whose Reader is the Router: the two hops readscale measures.
//
// Servers and clients have the production connection options (grpclimits:
// static windows, so no PING per call).
//
// router minus direct is what the router adds; gateway minus direct is
// the whole extra hop.
func BenchmarkRoutedGetCart(b *testing.B) {
	const parts = 4
	srv, ids := benchReplica(b, 20_000, parts)
	ep := benchServe(b, srv, grpclimits.Limits{}.ServerOptions()...) // a replica's connection options
	req := func(i int) *cartv1.GetCartRequest { return &cartv1.GetCartRequest{CartId: ids[i%len(ids)]} }
	ctx := context.Background()

	b.Run("direct", func(b *testing.B) {
		c := benchClient(b, ep)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := c.GetCart(ctx, req(i)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("router", func(b *testing.B) {
		r := benchRouter(b, ep, parts)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := r.GetCart(ctx, req(i)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("gateway", func(b *testing.B) {
		r := benchRouter(b, ep, parts)
		rec, err := records.New(records.Config{})
		if err != nil {
			b.Fatal(err)
		}
		gs, err := gateway.NewServer(gateway.Config{Topic: "cart.requests", Producer: nopProducer{}, Encoder: rec, Reader: r, Outcomes: r})
		if err != nil {
			b.Fatal(err)
		}
		c := benchClient(b, benchServe(b, gs, gateway.ServerOptions(0, grpclimits.Limits{}.WithDefaults())...))
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := c.GetCart(ctx, req(i)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
