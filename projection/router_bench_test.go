package projection

import (
	"context"
	"net"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
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
		getCarts(b, func(i int) error { _, err := c.GetCart(ctx, req(i)); return err })
	})
	b.Run("router", func(b *testing.B) {
		r := benchRouter(b, ep, parts)
		getCarts(b, func(i int) error { _, err := r.GetCart(ctx, req(i)); return err })
	})
	b.Run("gateway", func(b *testing.B) {
		c := benchGateway(b, ep, parts)
		getCarts(b, func(i int) error { _, err := c.GetCart(ctx, req(i)); return err })
	})
}

// benchGateway serves a gateway whose read path is a Router to the
// replica at ep, and returns a client of it.
func benchGateway(b *testing.B, ep string, parts int) cartv1.CartServiceClient {
	r := benchRouter(b, ep, parts)
	rec, err := records.New(records.Config{})
	if err != nil {
		b.Fatal(err)
	}
	gs, err := gateway.NewServer(gateway.Config{Topic: "cart.requests", Producer: nopProducer{}, Encoder: rec, Reader: r, Outcomes: r})
	if err != nil {
		b.Fatal(err)
	}
	return benchClient(b, benchServe(b, gs, gateway.ServerOptions(0, grpclimits.Limits{}.WithDefaults())...))
}

// getCarts is the timed loop of each hop: call i, one after the other.
func getCarts(b *testing.B, call func(i int) error) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := call(i); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRoutedGetCartParallel is the gateway path of
// BenchmarkRoutedGetCart under readscale's load shape: 4 closed-loop
// clients (2 per core here). Besides ns/op it reports the calls' latency
// percentiles and where a slow call's time went, from the runtime's own
// accounting over the run: p99 of the time goroutines waited runnable for
// a P (sched-p99-us), the GC's stop-the-world pauses (gc-stw-us/op) and
// the time this process's threads waited for a CPU (cpu-wait-us/op, from
// /proc/self/schedstat: other processes on the cores).
func BenchmarkRoutedGetCartParallel(b *testing.B) {
	const parts, clients = 4, 4
	srv, ids := benchReplica(b, 20_000, parts)
	ep := benchServe(b, srv, grpclimits.Limits{}.ServerOptions()...)
	c := benchGateway(b, ep, parts)
	var mu sync.Mutex
	var lat []time.Duration
	before := readRuntime(b)
	b.ReportAllocs()
	b.SetParallelism(clients / max(runtime.GOMAXPROCS(0), 1))
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		i := 0
		for pb.Next() {
			t0 := time.Now()
			if _, err := c.GetCart(context.Background(), &cartv1.GetCartRequest{CartId: ids[i%len(ids)]}); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(t0))
			i += 7
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	after := readRuntime(b)
	slices.Sort(lat)
	q := func(f float64) float64 { return float64(lat[int(f*float64(len(lat)-1))]) / 1e3 }
	b.ReportMetric(q(0.5), "p50-us")
	b.ReportMetric(q(0.99), "p99-us")
	b.ReportMetric(q(0.999), "p99.9-us")
	b.ReportMetric(after.sub(before).schedP99*1e6, "sched-p99-us")
	b.ReportMetric(float64(after.stw-before.stw)/1e3/float64(b.N), "gc-stw-us/op")
	b.ReportMetric(float64(after.gcs-before.gcs), "gcs")
	b.ReportMetric(float64(after.cpuWait-before.cpuWait)/1e3/float64(b.N), "cpu-wait-us/op")
}

// runtimeSample is the runtime's accounting at one moment.
type runtimeSample struct {
	sched   *metrics.Float64Histogram
	stw     int64 // ns in stop-the-world pauses (all causes)
	gcs     uint64
	cpuWait int64 // ns this process's threads waited on a run queue
}

func readRuntime(b *testing.B) runtimeSample {
	b.Helper()
	ms := []metrics.Sample{{Name: "/sched/latencies:seconds"}, {Name: "/sched/pauses/total/gc:seconds"}, {Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(ms)
	var s runtimeSample
	s.sched = ms[0].Value.Float64Histogram()
	pauses := ms[1].Value.Float64Histogram()
	for i, n := range pauses.Counts {
		s.stw += int64(float64(n) * pauses.Buckets[i] * 1e9) // a bucket's lower bound: an underestimate
	}
	s.gcs = ms[2].Value.Uint64()
	if raw, err := os.ReadFile("/proc/self/schedstat"); err == nil {
		if f := strings.Fields(string(raw)); len(f) >= 2 {
			s.cpuWait, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	return s
}

// sub is the scheduling latencies between two samples, as their p99.
type schedDelta struct{ schedP99 float64 }

func (s runtimeSample) sub(o runtimeSample) schedDelta {
	var total uint64
	counts := make([]uint64, len(s.sched.Counts))
	for i := range counts {
		counts[i] = s.sched.Counts[i] - o.sched.Counts[i]
		total += counts[i]
	}
	var seen uint64
	for i, n := range counts {
		seen += n
		if total > 0 && float64(seen) >= 0.99*float64(total) {
			return schedDelta{schedP99: s.sched.Buckets[i+1]}
		}
	}
	return schedDelta{}
}
