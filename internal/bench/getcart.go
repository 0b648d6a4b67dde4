package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// GetCartTargetP99 bounds GetCart without a token against a loaded
// projection.
const GetCartTargetP99 = time.Millisecond // issue 16

// GetCartResult is GetCart (no consistency token) over gRPC on loopback
// against the cmd/cart-projection process holding the rebuild's carts:
// Clients closed-loop clients, each with its own connection, asking for
// random carts; before that, one client alone (service time without
// queueing).
type GetCartResult struct {
	Carts      int         `json:"carts"`
	Clients    int         `json:"clients"`
	Seconds    float64     `json:"seconds"`
	Calls      int64       `json:"calls"`
	Errors     int64       `json:"errors"`
	Rate       float64     `json:"calls_per_s"`
	Latency    Percentiles `json:"latency_ms"`
	Serial     Percentiles `json:"one_client_latency_ms"`
	SerialRate float64     `json:"one_client_calls_per_s"`
	// CPU seconds during the concurrent phase: the projection process and
	// the bench process (the clients).
	ProjectionCPU float64 `json:"projection_cpu_s"`
	ClientCPU     float64 `json:"bench_cpu_s"`
	LoadAvgEnd    string  `json:"loadavg_end"`
	TargetP99     float64 `json:"target_p99_ms"`
	Pass          bool    `json:"pass"`
	Error         string  `json:"error,omitempty"`
}

func (e *env) getCart(ctx context.Context) (*GetCartResult, error) {
	cfg := e.cfg
	r := &GetCartResult{Clients: cfg.GetCartClients, TargetP99: ms(GetCartTargetP99)}
	fx := e.fixture
	if fx == nil || fx.addr == "" {
		// Run alone: load the carts and start the process, unmeasured.
		var err error
		if fx, err = e.openReadFixture(ctx); err != nil {
			return r, err
		}
		if _, err := e.loadSnapshots(ctx, fx.set.State, e.dataset(fx)); err != nil {
			return r, err
		}
		if _, err := e.startProjection(ctx, fx); err != nil {
			return r, err
		}
	}
	defer e.closeReadFixture()
	r.Carts = fx.carts
	conns := make([]*grpc.ClientConn, cfg.GetCartClients)
	clients := make([]cartv1.CartServiceClient, len(conns))
	for i := range conns {
		c, err := grpc.NewClient(fx.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return r, fmt.Errorf("grpc client: %w", err)
		}
		defer c.Close()
		conns[i], clients[i] = c, cartv1.NewCartServiceClient(c)
	}
	if err := waitServing(ctx, conns[0]); err != nil {
		return r, err
	}
	// Warm up every connection.
	for _, c := range clients {
		for i := range 50 {
			if err := getOne(ctx, c, string(cartName(fx.prefix, i))); err != nil {
				return r, fmt.Errorf("warm-up GetCart: %w", err)
			}
		}
	}
	serial := min(3*time.Second, cfg.GetCartDuration/3)
	lat, _, took := getCartLoad(ctx, clients[:1], fx, serial)
	r.Serial, r.SerialRate = percentiles(lat), float64(len(lat))/took.Seconds()
	e.logf("getcart: 1 client: p50 %.2f ms, p99 %.2f ms, %.0f calls/s", r.Serial.P50, r.Serial.P99, r.SerialRate)

	pid := fx.proc.pid()
	pcpu, bcpu := procCPU(pid), procCPU(os.Getpid())
	lat, errs, took := getCartLoad(ctx, clients, fx, cfg.GetCartDuration)
	r.ProjectionCPU = (procCPU(pid) - pcpu).Seconds()
	r.ClientCPU = (procCPU(os.Getpid()) - bcpu).Seconds()
	r.LoadAvgEnd = loadAvg()
	r.Seconds, r.Calls, r.Errors = took.Seconds(), int64(len(lat)), errs
	r.Rate = float64(r.Calls) / r.Seconds
	r.Latency = percentiles(lat)
	r.Pass = r.Errors == 0 && r.Latency.P99 <= r.TargetP99
	e.logf("getcart: %d clients: p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, %.0f calls/s, %d errors",
		r.Clients, r.Latency.P50, r.Latency.P99, r.Latency.P999, r.Rate, r.Errors)
	return r, nil
}

// getOne asks for one cart and checks the answer is that cart.
func getOne(ctx context.Context, c cartv1.CartServiceClient, id string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := c.GetCart(ctx, &cartv1.GetCartRequest{CartId: id})
	if err != nil {
		return err
	}
	if got := resp.GetCart().GetCartId(); got != id {
		return fmt.Errorf("GetCart(%s) answered cart %q", id, got)
	}
	return nil
}

// getCartLoad runs one closed loop per client for d and returns the
// latencies of the successful calls, the failures, and the time taken.
func getCartLoad(ctx context.Context, clients []cartv1.CartServiceClient, fx *readFixture, d time.Duration) ([]time.Duration, int64, time.Duration) {
	per := make([][]time.Duration, len(clients))
	var errs atomic.Int64
	var wg sync.WaitGroup
	begin := time.Now()
	end := begin.Add(d)
	for k, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(k), 77))
			out := make([]time.Duration, 0, 1<<16)
			for time.Now().Before(end) && ctx.Err() == nil {
				id := string(cartName(fx.prefix, rng.IntN(fx.carts)))
				t0 := time.Now()
				if err := getOne(ctx, c, id); err != nil {
					errs.Add(1)
					continue
				}
				out = append(out, time.Since(t0))
			}
			per[k] = out
		}()
	}
	wg.Wait()
	took := time.Since(begin)
	var all []time.Duration
	for _, p := range per {
		all = append(all, p...)
	}
	return all, errs.Load(), took
}
