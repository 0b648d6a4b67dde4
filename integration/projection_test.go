package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/gateway"
	"github.com/cartstream/cartstream/internal/partition"
	"github.com/cartstream/cartstream/projection"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// projectionRun is a projection served over gRPC in this process.
type projectionRun struct {
	p       *projection.Projection
	conn    *grpc.ClientConn
	carts   cartv1.CartServiceClient
	catalog cartv1.CatalogServiceClient
	health  healthpb.HealthClient
	stop    func()
}

// startProjectionWith is startProjection with only the projection's
// configuration adjusted (when adjust is not nil).
func (e *cartEnv) startProjectionWith(t *testing.T, adjust func(*projection.Config)) *projectionRun {
	t.Helper()
	if adjust == nil {
		return e.startProjection(t)
	}
	return e.startProjection(t, func(c *projection.Config, _ *projection.ServeOptions) { adjust(c) })
}

// startProjection serves a projection of e's topics (projection.Serve on a
// loopback port) until the test ends or stop is called. It does not wait
// for readiness. adjust, if given, changes the configuration first.
func (e *cartEnv) startProjection(t *testing.T, adjust ...func(*projection.Config, *projection.ServeOptions)) *projectionRun {
	t.Helper()
	cfg := projection.Config{
		Client:  e.client("projection"),
		Topics:  e.set,
		Records: e.rec,
		Logger:  testLogger(t).With("service", "projection"),
	}
	so := projection.ServeOptions{ShutdownTimeout: 5 * time.Second, Logger: testLogger(t)}
	for _, f := range adjust {
		f(&cfg, &so)
	}
	p, err := projection.New(cfg)
	if err != nil {
		t.Fatalf("new projection: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		so.Listener = lis
		done <- projection.Serve(ctx, p, so)
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc client: %v", err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("projection.Serve after shutdown: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("projection.Serve did not return within 30s of shutdown")
		}
		conn.Close()
	}
	t.Cleanup(stop)
	return &projectionRun{p: p, conn: conn, carts: cartv1.NewCartServiceClient(conn), catalog: cartv1.NewCatalogServiceClient(conn),
		health: healthpb.NewHealthClient(conn), stop: stop}
}

// healthStatus is the projection's overall health, or UNKNOWN when the
// check fails.
func (r *projectionRun) healthStatus() healthpb.HealthCheckResponse_ServingStatus {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := r.health.Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return healthpb.HealthCheckResponse_UNKNOWN
	}
	return resp.GetStatus()
}

// waitServing waits until health says SERVING.
func (r *projectionRun) waitServing(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for r.healthStatus() != healthpb.HealthCheckResponse_SERVING {
		if time.Now().After(deadline) {
			t.Fatalf("projection not SERVING after %s", timeout)
		}
		time.Sleep(20 * time.Millisecond) // polling health with a deadline
	}
}

// withoutBrokers is cm without bootstrap.servers: the gateway takes that
// apart (KafkaConfig.Brokers).
func withoutBrokers(cm kafka.ConfigMap) kafka.ConfigMap {
	out := kafka.ConfigMap{}
	for k, v := range cm {
		if k != "bootstrap.servers" {
			out[k] = v
		}
	}
	return out
}

// startGatewayWith runs the gateway on e's topics with the given read path
// and returns a client of it. adjust, if given, changes the options first.
func (e *cartEnv) startGatewayWith(t *testing.T, reader gateway.Reader, outcomes gateway.Outcomes, register func(grpc.ServiceRegistrar), adjust ...func(*gateway.Options)) cartv1.CartServiceClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	o := gateway.Options{
		Listener: lis, Kafka: gateway.KafkaConfig{Brokers: e.c.Brokers(), Extra: withoutBrokers(e.client("gateway"))},
		Topics: e.set, Encoder: e.rec, Reader: reader, Outcomes: outcomes, Register: register,
		ShutdownTimeout: 5 * time.Second, Logger: testLogger(t).With("service", "gateway"),
	}
	for _, f := range adjust {
		f(&o)
	}
	go func() { done <- gateway.Run(ctx, o) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc client: %v", err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("gateway.Run after shutdown: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("gateway.Run did not return within 30s of shutdown")
		}
	})
	health := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(60 * time.Second)
	for {
		cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Second)
		resp, err := health.Check(cctx, &healthpb.HealthCheckRequest{})
		ccancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway not SERVING after 60s (last: %v)", err)
		}
		time.Sleep(20 * time.Millisecond) // polling health with a deadline
	}
	return cartv1.NewCartServiceClient(conn)
}

// projectionStack is the whole system: catalog, manager, projection and a
// gateway whose read path is the projection in this process.
type projectionStack struct {
	e    *cartEnv
	proj *projectionRun
	gw   cartv1.CartServiceClient
}

func newProjectionStack(t *testing.T, partitions int) *projectionStack {
	t.Helper()
	e := newCartEnv(t, partitions)
	e.seedCatalog(t, demoProducts()...)
	e.startManager(t, e.managerConfig(t, "m1"))
	proj := e.startProjection(t)
	proj.waitServing(t, time.Minute)
	srv := projection.NewServer(proj.p)
	gw := e.startGatewayWith(t, srv, srv, proj.p.RegisterCatalog)
	return &projectionStack{e: e, proj: proj, gw: gw}
}

func rpcCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func codeOf(err error) codes.Code { return status.Code(err) }

// Every GetCart with the token a command just returned sees that command:
// read-your-writes, under concurrent load, through the gateway.
func TestProjectionReadYourWritesUnderConcurrentLoad(t *testing.T) {
	s := newProjectionStack(t, 4)
	const workers, perWorker, cartsPerWorker = 32, 75, 4
	skus := []string{"SKU-B", "SKU-C", "SKU-D", "SKU-NOPE"} // SKU-NOPE: rejected UNKNOWN_SKU
	began := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			version := map[string]int64{}
			for i := range perWorker {
				id := fmt.Sprintf("ryw-%d-%d", w, rng.IntN(cartsPerWorker))
				sku := skus[rng.IntN(len(skus))]
				reqID := fmt.Sprintf("r-%d-%d", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				resp, err := s.gw.AddItem(ctx, &cartv1.AddItemRequest{CartId: id, RequestId: reqID, CustomerId: "cust-1", Sku: sku, Quantity: 1})
				if err != nil {
					cancel()
					errs <- fmt.Errorf("AddItem %s: %w", reqID, err)
					return
				}
				got, err := s.gw.GetCart(ctx, &cartv1.GetCartRequest{CartId: id, ConsistencyToken: resp.GetConsistencyToken()})
				cancel()
				if err != nil {
					errs <- fmt.Errorf("GetCart %s with token %v: %w", id, resp.GetConsistencyToken(), err)
					return
				}
				o := got.GetRequestOutcome()
				if o.GetRequestId() != reqID {
					errs <- fmt.Errorf("GetCart %s: request_outcome %v, want the outcome of %s", id, o, reqID)
					return
				}
				want := version[id]
				if sku == "SKU-NOPE" {
					if o.GetAccepted() || o.GetRejection().GetReason() != cartv1.ReasonCode_REASON_CODE_UNKNOWN_SKU {
						errs <- fmt.Errorf("%s: outcome %v, want UNKNOWN_SKU", reqID, o)
						return
					}
				} else {
					if !o.GetAccepted() {
						errs <- fmt.Errorf("%s: outcome %v, want accepted", reqID, o)
						return
					}
					want++
				}
				// One writer per cart: the version is exactly the one this
				// request produced.
				if v := got.GetCart().GetVersion(); v != want {
					errs <- fmt.Errorf("%s: cart %s at version %d, want %d", reqID, id, v, want)
					return
				}
				version[id] = want
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d commands, each read back with its token, in %s", workers*perWorker, time.Since(began).Round(time.Millisecond))
}

// wait_for_outcome answers what the event log says, through a gateway
// whose read path is a remote projection (projection.Remote).
func TestProjectionWaitForOutcomeMatchesTheEventLog(t *testing.T) {
	e := newCartEnv(t, 3)
	e.seedCatalog(t, demoProducts()...)
	e.startManager(t, e.managerConfig(t, "m1"))
	proj := e.startProjection(t)
	proj.waitServing(t, time.Minute)
	remote := projection.NewRemote(proj.conn)
	gw := e.startGatewayWith(t, remote, remote, nil)

	type result struct {
		cartID  string
		outcome *cartv1.CommandOutcome
	}
	got := map[string]result{}
	do := func(cartID, reqID string, call func(ctx context.Context) (*cartv1.CommandOutcome, error)) {
		t.Helper()
		out, err := call(rpcCtx(t, 20*time.Second))
		if err != nil {
			t.Fatalf("%s: %v", reqID, err)
		}
		if out == nil {
			t.Fatalf("%s: no outcome with wait_for_outcome", reqID)
		}
		got[reqID] = result{cartID, out}
	}
	for c := range 4 {
		id := fmt.Sprintf("wfo-%d", c)
		n := 0
		req := func() string { n++; return fmt.Sprintf("%s-r%d", id, n) }
		add := func(sku string, q int32) {
			r := req()
			do(id, r, func(ctx context.Context) (*cartv1.CommandOutcome, error) {
				resp, err := gw.AddItem(ctx, &cartv1.AddItemRequest{CartId: id, RequestId: r, CustomerId: "cust-1", Sku: sku, Quantity: q, WaitForOutcome: true})
				return resp.GetOutcome(), err
			})
		}
		remove := func(sku string) {
			r := req()
			do(id, r, func(ctx context.Context) (*cartv1.CommandOutcome, error) {
				resp, err := gw.RemoveItem(ctx, &cartv1.RemoveItemRequest{CartId: id, RequestId: r, Sku: sku, WaitForOutcome: true})
				return resp.GetOutcome(), err
			})
		}
		change := func(sku string, q int32) {
			r := req()
			do(id, r, func(ctx context.Context) (*cartv1.CommandOutcome, error) {
				resp, err := gw.ChangeQuantity(ctx, &cartv1.ChangeQuantityRequest{CartId: id, RequestId: r, Sku: sku, Quantity: q, WaitForOutcome: true})
				return resp.GetOutcome(), err
			})
		}
		checkout := func() {
			r := req()
			do(id, r, func(ctx context.Context) (*cartv1.CommandOutcome, error) {
				resp, err := gw.Checkout(ctx, &cartv1.CheckoutRequest{CartId: id, RequestId: r, CustomerId: "cust-1", WaitForOutcome: true})
				return resp.GetOutcome(), err
			})
		}
		checkout()         // EMPTY_CART
		add("SKU-A", 2)    // accepted
		add("SKU-OFF", 1)  // INACTIVE_SKU
		add("SKU-A", 20)   // QUANTITY_OUT_OF_RANGE (cap 10)
		add("SKU-B", 3)    // accepted
		change("SKU-B", 5) // accepted
		remove("SKU-C")    // ITEM_NOT_IN_CART
		add("SKU-USD", 1)  // CURRENCY_MISMATCH
		remove("SKU-B")    // accepted
		checkout()         // accepted
		add("SKU-B", 1)    // CART_CHECKED_OUT
		change("SKU-A", 1) // CART_CHECKED_OUT
	}

	e.waitDrained(t, time.Minute)
	validated, invalid := e.outcomes(t)
	logged := map[string]outcomeRecord{}
	for _, r := range append(validated, invalid...) {
		logged[string(r.requestID())] = r
	}
	if len(logged) != len(got) {
		t.Errorf("%d outcomes in the log, %d commands sent", len(logged), len(got))
	}
	for reqID, res := range got {
		rec, ok := logged[reqID]
		if !ok {
			t.Errorf("%s: no outcome in the log", reqID)
			continue
		}
		o := res.outcome
		if rec.event != nil {
			if !o.GetAccepted() || o.GetRejection() != nil {
				t.Errorf("%s: outcome %v, the log says accepted (%s)", reqID, o, rec.event.EventType())
			}
			if v := o.GetCart().GetVersion(); v < rec.event.Meta().Version {
				t.Errorf("%s: outcome cart at version %d, before the event's %d", reqID, v, rec.event.Meta().Version)
			}
		} else {
			want := "REASON_CODE_" + rec.invalid.Rejection.Reason.String()
			if o.GetAccepted() || o.GetRejection().GetReason().String() != want || o.GetRejection().GetMessage() != rec.invalid.Rejection.Message {
				t.Errorf("%s: outcome %v, the log says %s %q", reqID, o, want, rec.invalid.Rejection.Message)
			}
		}
		if o.GetCart().GetCartId() != res.cartID {
			t.Errorf("%s: outcome of cart %q, want %q", reqID, o.GetCart().GetCartId(), res.cartID)
		}
	}
}

// foldLog folds cart.validated from the start with cart.Apply.
func foldLog(t *testing.T, e *cartEnv) map[cart.CartID]cart.CartState {
	t.Helper()
	validated, _ := e.outcomes(t)
	out := map[cart.CartID]cart.CartState{}
	for _, r := range validated {
		id := r.event.Meta().CartID
		next, err := cart.Apply(out[id], r.event)
		if err != nil {
			t.Fatalf("fold %s at %d/%d: %v", id, r.partition, r.offset, err)
		}
		out[id] = next
	}
	return out
}

func normalized(s cart.CartState) cart.CartState {
	if len(s.Lines) == 0 {
		s.Lines = nil
	}
	return s
}

// A projection stopped mid-stream and started again rebuilds exactly the
// carts a fresh fold of cart.validated gives.
func TestProjectionRestartedMidStreamRebuildsTheFold(t *testing.T) {
	e := newCartEnv(t, 3)
	e.seedCatalog(t, demoProducts()...)
	e.startManager(t, e.managerConfig(t, "m1"))
	first := e.startProjection(t)
	first.waitServing(t, time.Minute)

	skus := []string{"SKU-A", "SKU-B", "SKU-C", "SKU-NOPE"}
	rng := rand.New(rand.NewPCG(1, 2))
	batch := func(round int) []cart.Command {
		var cmds []cart.Command
		for i := range 150 {
			id := fmt.Sprintf("rs-%d", rng.IntN(40))
			r := fmt.Sprintf("rs-%d-%d", round, i)
			switch rng.IntN(10) {
			case 0:
				cmds = append(cmds, e.remove(id, r, skus[rng.IntN(len(skus))]))
			case 1:
				cmds = append(cmds, e.change(id, r, skus[rng.IntN(len(skus))], int32(1+rng.IntN(5))))
			case 2:
				if rng.IntN(4) == 0 {
					cmds = append(cmds, e.checkout(id, r, "cust-1"))
					continue
				}
				fallthrough
			default:
				cmds = append(cmds, e.add(id, r, skus[rng.IntN(len(skus))], 1))
			}
		}
		return cmds
	}
	e.send(t, batch(0)...)
	var wg sync.WaitGroup
	wg.Add(1)
	streaming := make(chan struct{}) // closed once round 1 is in Kafka
	go func() {
		defer wg.Done()
		defer func() {
			select {
			case <-streaming:
			default:
				close(streaming)
			}
		}()
		for round := 1; round <= 4; round++ {
			// e.send fails the test with t.Fatalf, not allowed off the test
			// goroutine; the commands are produced here and checked below.
			cmds := batch(round)
			recs := make([]rawRecord, len(cmds))
			for i, c := range cmds {
				v, err := e.rec.EncodeRequest(c)
				if err != nil {
					t.Errorf("encode: %v", err)
					return
				}
				recs[i] = rawRecord{key: []byte(c.Meta().CartID), value: v}
			}
			if err := produceQuiet(e, e.set.Requests, recs); err != nil {
				t.Errorf("produce round %d: %v", round, err)
				return
			}
			if round == 1 {
				close(streaming)
			}
		}
	}()
	<-streaming
	first.stop() // mid-stream: rounds 2..4 are being written and validated
	wg.Wait()
	e.send(t, batch(5)...)
	e.waitDrained(t, time.Minute)

	second := e.startProjection(t)
	second.waitServing(t, time.Minute)
	want := foldLog(t, e)
	snaps := e.snapshots(t)
	if len(snaps) == 0 || len(want) == 0 {
		t.Fatalf("nothing to compare: %d snapshots, %d folded carts", len(snaps), len(want))
	}
	if got := second.p.Stats().Carts; got != len(snaps) {
		t.Errorf("projection holds %d carts, cart.state %d", got, len(snaps))
	}
	for id := range snaps {
		got, err := second.p.Cart(id)
		if err != nil {
			t.Errorf("cart %s: %v", id, err)
			continue
		}
		w, ok := want[id]
		if !ok {
			w = cart.CartState{CartID: id} // only rejections: the empty cart
		}
		if !reflect.DeepEqual(normalized(got.Cart), normalized(w)) {
			t.Errorf("cart %s:\nprojection %+v\nfold       %+v", id, got.Cart, w)
		}
	}
}

// produceQuiet produces records and reports failure as an error, for use
// off the test goroutine.
func produceQuiet(e *cartEnv, topic string, recs []rawRecord) error {
	p, err := kafka.NewProducer(e.c.ProducerConfig(kafka.ConfigMap{"enable.idempotence": true, "acks": "all", "linger.ms": 2}))
	if err != nil {
		return err
	}
	defer p.Close()
	done := make(chan kafka.Event, len(recs))
	for _, r := range recs {
		if err := p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny}, Key: r.key, Value: r.value}, done); err != nil {
			return err
		}
	}
	for range recs {
		select {
		case ev := <-done:
			if m, ok := ev.(*kafka.Message); !ok || m.TopicPartition.Error != nil {
				return fmt.Errorf("delivery failed: %v", ev)
			}
		case <-time.After(30 * time.Second):
			return errors.New("no delivery report within 30s")
		}
	}
	return nil
}

// Health turns SERVING only once the rebuild reached the end offsets seen
// at start, and then every cart is there.
func TestProjectionReadinessFlipsOnlyOnceCaughtUp(t *testing.T) {
	e := newCartEnv(t, 3)
	e.seedCatalog(t, demoProducts()...)
	const carts = 30000
	e.produce(t, e.set.State, e.emptySnapshots(t, "pre-%05d", carts)...)

	r := e.startProjection(t)
	sawNotServing := false
	deadline := time.Now().Add(time.Minute)
	for {
		st := r.healthStatus()
		if st == healthpb.HealthCheckResponse_SERVING {
			break
		}
		if st == healthpb.HealthCheckResponse_NOT_SERVING {
			sawNotServing = true
			// Not SERVING: queries answer UNAVAILABLE, not NOT_FOUND.
			_, err := r.carts.GetCart(rpcCtx(t, 5*time.Second), &cartv1.GetCartRequest{CartId: "pre-00000"})
			if c := codeOf(err); c != codes.Unavailable && c != codes.OK {
				t.Fatalf("GetCart while NOT_SERVING: %v, want UNAVAILABLE", err)
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("projection not SERVING within a minute")
		}
		time.Sleep(5 * time.Millisecond) // polling health with a deadline
	}
	if !sawNotServing {
		t.Error("never saw NOT_SERVING before SERVING")
	}
	if got := r.p.Stats().Carts; got != carts {
		t.Fatalf("SERVING with %d carts, want all %d", got, carts)
	}
	for i := range carts {
		id := cart.CartID(fmt.Sprintf("pre-%05d", i))
		if s, err := r.p.Cart(id); err != nil || s.RequestOffset != int64(i) {
			t.Fatalf("cart %s: %+v, %v", id, s, err)
		}
	}
	resp, err := r.carts.GetCart(rpcCtx(t, 5*time.Second), &cartv1.GetCartRequest{CartId: "pre-12345"})
	if err != nil || resp.GetCart().GetCartId() != "pre-12345" {
		t.Fatalf("GetCart over gRPC: %v, %v", resp, err)
	}
}

// The queries' contract on one running system: WatchCart, NOT_FOUND,
// DEADLINE_EXCEEDED, tokens of other carts, history pages, the catalog.
func TestProjectionQueries(t *testing.T) {
	s := newProjectionStack(t, 3)
	gw := s.gw

	t.Run("WatchCartSeesEveryChangeInOrder", func(t *testing.T) {
		const id = "watch-1"
		first, err := gw.AddItem(rpcCtx(t, 20*time.Second), &cartv1.AddItemRequest{CartId: id, RequestId: "w0", CustomerId: "cust-1", Sku: "SKU-B", Quantity: 1, WaitForOutcome: true})
		if err != nil || !first.GetOutcome().GetAccepted() {
			t.Fatalf("first AddItem: %v, %v", first, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		stream, err := gw.WatchCart(ctx, &cartv1.WatchCartRequest{CartId: id})
		if err != nil {
			t.Fatalf("WatchCart: %v", err)
		}
		type msg struct {
			cart *cartv1.Cart
			err  error
		}
		msgs := make(chan msg, 100)
		go func() {
			defer close(msgs)
			for {
				m, err := stream.Recv()
				if err != nil {
					msgs <- msg{err: err}
					return
				}
				msgs <- msg{cart: m.GetCart()}
			}
		}()
		next := func() msg {
			select {
			case m := <-msgs:
				return m
			case <-time.After(20 * time.Second):
				t.Fatal("no WatchCart message within 20s")
				return msg{}
			}
		}
		if m := next(); m.err != nil || m.cart.GetVersion() != 1 {
			t.Fatalf("first message: %+v, want version 1", m)
		}
		version := int64(1)
		steps := []func(ctx context.Context, r string) (*cartv1.CommandOutcome, error){}
		for i := range 12 {
			switch i % 4 {
			case 0, 1:
				steps = append(steps, func(ctx context.Context, r string) (*cartv1.CommandOutcome, error) {
					resp, err := gw.AddItem(ctx, &cartv1.AddItemRequest{CartId: id, RequestId: r, CustomerId: "cust-1", Sku: "SKU-C", Quantity: 1, WaitForOutcome: true})
					return resp.GetOutcome(), err
				})
			case 2: // rejected: sends nothing
				steps = append(steps, func(ctx context.Context, r string) (*cartv1.CommandOutcome, error) {
					resp, err := gw.RemoveItem(ctx, &cartv1.RemoveItemRequest{CartId: id, RequestId: r, Sku: "SKU-NOPE", WaitForOutcome: true})
					return resp.GetOutcome(), err
				})
			case 3:
				steps = append(steps, func(ctx context.Context, r string) (*cartv1.CommandOutcome, error) {
					resp, err := gw.ChangeQuantity(ctx, &cartv1.ChangeQuantityRequest{CartId: id, RequestId: r, Sku: "SKU-B", Quantity: int32(2 + i), WaitForOutcome: true})
					return resp.GetOutcome(), err
				})
			}
		}
		steps = append(steps, func(ctx context.Context, r string) (*cartv1.CommandOutcome, error) {
			resp, err := gw.Checkout(ctx, &cartv1.CheckoutRequest{CartId: id, RequestId: r, CustomerId: "cust-1", WaitForOutcome: true})
			return resp.GetOutcome(), err
		})
		for i, step := range steps {
			out, err := step(rpcCtx(t, 20*time.Second), fmt.Sprintf("w%d", i+1))
			if err != nil || out == nil {
				t.Fatalf("step %d: %v, %v", i, out, err)
			}
			if !out.GetAccepted() {
				continue
			}
			version++
			m := next()
			if m.err != nil || m.cart.GetVersion() != version {
				t.Fatalf("step %d: watched %+v, want version %d", i, m, version)
			}
		}
		if m := next(); !errors.Is(m.err, io.EOF) {
			t.Fatalf("after the checked-out cart: %+v, want the stream to end OK", m)
		}
	})

	t.Run("UnknownCartIsNotFound", func(t *testing.T) {
		ctx := rpcCtx(t, 10*time.Second)
		if _, err := gw.GetCart(ctx, &cartv1.GetCartRequest{CartId: "never-seen"}); codeOf(err) != codes.NotFound {
			t.Errorf("GetCart: %v, want NOT_FOUND", err)
		}
		w, err := gw.WatchCart(ctx, &cartv1.WatchCartRequest{CartId: "never-seen"})
		if err == nil {
			_, err = w.Recv()
		}
		if codeOf(err) != codes.NotFound {
			t.Errorf("WatchCart: %v, want NOT_FOUND", err)
		}
		if _, err := gw.GetCartHistory(ctx, &cartv1.GetCartHistoryRequest{CartId: "never-seen"}); codeOf(err) != codes.NotFound {
			t.Errorf("GetCartHistory: %v, want NOT_FOUND", err)
		}
		if _, err := gw.GetCart(ctx, &cartv1.GetCartRequest{CartId: "bad:id"}); codeOf(err) != codes.InvalidArgument {
			t.Errorf("GetCart of a malformed id: %v, want INVALID_ARGUMENT", err)
		}
	})

	t.Run("TokensThatCannotBeReached", func(t *testing.T) {
		// Three carts of one partition: a owns the token, b exists, c never.
		var ids []string
		for i := 0; len(ids) < 3; i++ {
			id := fmt.Sprintf("tok-%d", i)
			if partition.For([]byte(id), s.e.partitions) == 0 {
				ids = append(ids, id)
			}
		}
		a, b, c := ids[0], ids[1], ids[2]
		if _, err := gw.AddItem(rpcCtx(t, 20*time.Second), &cartv1.AddItemRequest{CartId: b, RequestId: "b1", CustomerId: "cust-1", Sku: "SKU-B", Quantity: 1, WaitForOutcome: true}); err != nil {
			t.Fatalf("AddItem %s: %v", b, err)
		}
		resp, err := gw.AddItem(rpcCtx(t, 20*time.Second), &cartv1.AddItemRequest{CartId: a, RequestId: "a1", CustomerId: "cust-1", Sku: "SKU-B", Quantity: 1, WaitForOutcome: true})
		if err != nil || resp.GetOutcome() == nil {
			t.Fatalf("AddItem %s: %v, %v", a, resp, err)
		}
		tok := resp.GetConsistencyToken()

		// Far ahead of anything written: waits, then DEADLINE_EXCEEDED.
		ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
		began := time.Now()
		_, err = gw.GetCart(ctx, &cartv1.GetCartRequest{CartId: a, ConsistencyToken: &cartv1.ConsistencyToken{Partition: tok.GetPartition(), Offset: tok.GetOffset() + 1_000_000}})
		cancel()
		if codeOf(err) != codes.DeadlineExceeded || time.Since(began) < 500*time.Millisecond {
			t.Errorf("token never reached: %v after %s, want DEADLINE_EXCEEDED at the deadline", err, time.Since(began))
		}
		// Another partition than the cart's.
		_, err = gw.GetCart(rpcCtx(t, 5*time.Second), &cartv1.GetCartRequest{CartId: a, ConsistencyToken: &cartv1.ConsistencyToken{Partition: 1, Offset: 0}})
		if codeOf(err) != codes.InvalidArgument {
			t.Errorf("token of another partition: %v, want INVALID_ARGUMENT", err)
		}
		// a's token for b (same partition, b never had that command), and
		// for c (no cart): answered once the partition has settled past it.
		_, err = gw.GetCart(rpcCtx(t, 10*time.Second), &cartv1.GetCartRequest{CartId: b, ConsistencyToken: tok})
		if codeOf(err) != codes.InvalidArgument {
			t.Errorf("another cart's token: %v, want INVALID_ARGUMENT", err)
		}
		_, err = gw.GetCart(rpcCtx(t, 10*time.Second), &cartv1.GetCartRequest{CartId: c, ConsistencyToken: tok})
		if codeOf(err) != codes.NotFound {
			t.Errorf("a token for a cart that never had a command: %v, want NOT_FOUND", err)
		}
	})

	t.Run("HistoryInOrderAndPaged", func(t *testing.T) {
		const id = "hist-1"
		type sent struct {
			reqID    string
			accepted bool
			token    *cartv1.ConsistencyToken
			version  int64
		}
		var all []sent
		version := int64(0)
		record := func(r string, tok *cartv1.ConsistencyToken, out *cartv1.CommandOutcome, err error) {
			t.Helper()
			if err != nil || out == nil {
				t.Fatalf("%s: %v, %v", r, out, err)
			}
			if out.GetAccepted() {
				version++
			}
			all = append(all, sent{r, out.GetAccepted(), tok, version})
		}
		for i := range 11 {
			r := fmt.Sprintf("h%d", i)
			ctx := rpcCtx(t, 20*time.Second)
			switch i % 3 {
			case 0, 1:
				sku := []string{"SKU-B", "SKU-NOPE"}[i%2]
				resp, err := gw.AddItem(ctx, &cartv1.AddItemRequest{CartId: id, RequestId: r, CustomerId: "cust-1", Sku: sku, Quantity: 1, WaitForOutcome: true})
				record(r, resp.GetConsistencyToken(), resp.GetOutcome(), err)
			case 2:
				resp, err := gw.ChangeQuantity(ctx, &cartv1.ChangeQuantityRequest{CartId: id, RequestId: r, Sku: "SKU-B", Quantity: int32(i), WaitForOutcome: true})
				record(r, resp.GetConsistencyToken(), resp.GetOutcome(), err)
			}
		}
		// The history index follows its topics on its own; wait until it
		// has them all (polling with a deadline).
		var entries []*cartv1.HistoryEntry
		deadline := time.Now().Add(20 * time.Second)
		for {
			entries = entries[:0]
			token, pages := "", 0
			for {
				resp, err := gw.GetCartHistory(rpcCtx(t, 10*time.Second), &cartv1.GetCartHistoryRequest{CartId: id, PageSize: 3, PageToken: token})
				if err != nil {
					t.Fatalf("GetCartHistory page %d: %v", pages, err)
				}
				if len(resp.GetEntries()) > 3 {
					t.Fatalf("page of %d entries, page_size 3", len(resp.GetEntries()))
				}
				entries = append(entries, resp.GetEntries()...)
				pages++
				if token = resp.GetNextPageToken(); token == "" {
					break
				}
			}
			if len(entries) >= len(all) || time.Now().After(deadline) {
				if pages < 4 {
					t.Errorf("%d entries in %d pages of 3", len(entries), pages)
				}
				break
			}
			time.Sleep(50 * time.Millisecond) // polling with a deadline
		}
		if len(entries) != len(all) {
			t.Fatalf("%d history entries, %d commands sent", len(entries), len(all))
		}
		for i, want := range all {
			h := entries[i]
			_, rejected := h.GetDetail().(*cartv1.HistoryEntry_Rejected)
			if h.GetRequestId() != want.reqID || rejected == want.accepted || h.GetCartVersion() != want.version {
				t.Errorf("entry %d: %s %s version %d rejected %t; want %s version %d accepted %t",
					i, h.GetRequestId(), h.GetEventType(), h.GetCartVersion(), rejected, want.reqID, want.version, want.accepted)
			}
			if p := h.GetRequestPosition(); p.GetPartition() != want.token.GetPartition() || p.GetOffset() != want.token.GetOffset() {
				t.Errorf("entry %d (%s): request position %v, want the token %v", i, want.reqID, p, want.token)
			}
			if h.GetRecordPosition().GetTopic() == "" || h.GetRequestTime() == nil || h.GetRecordTime() == nil || h.GetEventType() == "" {
				t.Errorf("entry %d: incomplete: %v", i, h)
			}
		}
		if _, err := gw.GetCartHistory(rpcCtx(t, 5*time.Second), &cartv1.GetCartHistoryRequest{CartId: id, PageSize: 501}); codeOf(err) != codes.InvalidArgument {
			t.Errorf("page_size 501: %v, want INVALID_ARGUMENT", err)
		}
		if _, err := gw.GetCartHistory(rpcCtx(t, 5*time.Second), &cartv1.GetCartHistoryRequest{CartId: id, PageToken: "garbage"}); codeOf(err) != codes.InvalidArgument {
			t.Errorf("bad page_token: %v, want INVALID_ARGUMENT", err)
		}
	})

	t.Run("Catalog", func(t *testing.T) {
		cat := s.proj.catalog
		ctx := rpcCtx(t, 10*time.Second)
		if _, err := cat.GetProduct(ctx, &cartv1.GetProductRequest{Sku: "SKU-NOPE"}); codeOf(err) != codes.NotFound {
			t.Errorf("GetProduct of an unknown SKU: %v, want NOT_FOUND", err)
		}
		p, err := cat.GetProduct(ctx, &cartv1.GetProductRequest{Sku: "SKU-OFF"})
		if err != nil || p.GetProduct().GetActive() || p.GetProduct().GetName() != "Discontinued mug" {
			t.Errorf("GetProduct SKU-OFF: %v, %v", p, err)
		}
		list := func(inactive bool) []string {
			var skus []string
			token := ""
			for {
				resp, err := cat.ListProducts(ctx, &cartv1.ListProductsRequest{PageSize: 2, PageToken: token, IncludeInactive: inactive})
				if err != nil {
					t.Fatalf("ListProducts: %v", err)
				}
				for _, p := range resp.GetProducts() {
					skus = append(skus, p.GetSku())
				}
				if token = resp.GetNextPageToken(); token == "" {
					return skus
				}
			}
		}
		if got, want := list(false), []string{"SKU-A", "SKU-B", "SKU-C", "SKU-D", "SKU-HUGE", "SKU-USD"}; !reflect.DeepEqual(got, want) {
			t.Errorf("active products %v, want %v", got, want)
		}
		if got := list(true); len(got) != len(demoProducts()) {
			t.Errorf("all products %v, want %d", got, len(demoProducts()))
		}
		// The gateway in this process serves the catalog too (Register).
		if _, err := gw.AddItem(ctx, &cartv1.AddItemRequest{}); codeOf(err) != codes.InvalidArgument {
			t.Errorf("gateway AddItem with nothing set: %v", err)
		}
		if _, err := s.proj.carts.AddItem(ctx, &cartv1.AddItemRequest{CartId: "x", RequestId: "y", CustomerId: "z", Sku: "SKU-A", Quantity: 1}); codeOf(err) != codes.FailedPrecondition {
			t.Errorf("AddItem sent to the projection: %v, want FAILED_PRECONDITION", err)
		}
	})
}

// A cold start reads cart.state from offsets it names: a consumer assigned
// "the beginning" resolves it with a lookup it first sends before it knows
// the partition's leader, and librdkafka retries that only after 500 ms, so
// every cold start took at least half a second before its first record.
// The best of three starts must come in well under that floor. The first
// also logs its progress as it goes (records are decoded in batches, and
// the progress report comes after each).
func TestProjectionColdStartDoesNotWaitForAnOffsetLookup(t *testing.T) {
	e := newCartEnv(t, 3)
	e.seedCatalog(t, demoProducts()...)
	recs := e.emptySnapshots(t, "cold-%04d", 3000)
	e.produce(t, e.set.State, recs...)

	const floor = 500 * time.Millisecond // librdkafka's offset query retry
	best := time.Hour
	tap := newLogTap(testLogger(t).Handler())
	for i := range 3 {
		cfg := projection.Config{Client: e.client("projection"), Topics: e.set, Records: e.rec, Logger: testLogger(t)}
		if i == 0 {
			cfg.Logger, cfg.ProgressInterval = slog.New(tap), time.Nanosecond
		}
		p, err := projection.New(cfg)
		if err != nil {
			t.Fatalf("new projection: %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		began := time.Now()
		go func() { done <- p.Run(ctx) }()
		select {
		case <-p.Ready():
		case err := <-done:
			cancel()
			t.Fatalf("projection ended before it was ready: %v", err)
		case <-time.After(time.Minute):
			cancel()
			t.Fatal("projection not ready within a minute")
		}
		best = min(best, time.Since(began))
		if got := p.Stats().Carts; got != len(recs) {
			t.Errorf("ready with %d carts, want %d", got, len(recs))
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("projection Run after cancel: %v", err)
		}
	}
	progress := tap.find("projection: rebuild progress")
	if len(progress) == 0 || progress[0].int("records") <= 0 {
		t.Errorf("rebuild progress lines %v: want at least one with records read", progress)
	}
	t.Logf("best cold start of %d carts: %v", len(recs), best)
	if best >= floor*4/5 {
		t.Fatalf("best cold start %v: near or above the %v offset-lookup retry; the followers wait for a lookup", best, floor)
	}
}

// emptySnapshots are n cart.state records of empty carts named by format
// (with the index), cart i's snapshot at request offset i.
func (e *cartEnv) emptySnapshots(t *testing.T, format string, n int) []rawRecord {
	t.Helper()
	recs := make([]rawRecord, n)
	for i := range recs {
		id := cart.CartID(fmt.Sprintf(format, i))
		s := cart.NewSnapshot(id)
		s.RequestOffset = int64(i)
		v, err := e.rec.EncodeSnapshot(s)
		if err != nil {
			t.Fatalf("encode snapshot: %v", err)
		}
		recs[i] = rawRecord{key: []byte(id), value: v}
	}
	return recs
}
