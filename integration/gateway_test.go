package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/gateway"
	"github.com/cartstream/cartstream/internal/kafkatest"
	"github.com/cartstream/cartstream/internal/partition"
	"github.com/cartstream/cartstream/internal/records"
	"github.com/cartstream/cartstream/internal/topics"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// gatewayEnv is one test's gateway: its own topics on the real broker, the
// gateway process (gateway.Run) on a free loopback port, and a real gRPC
// client connection to it.
type gatewayEnv struct {
	c          *kafkatest.Cluster
	set        topics.Set
	partitions int
	codec      *records.Codec
	client     cartv1.CartServiceClient
}

func startGateway(t *testing.T, partitions int) *gatewayEnv {
	t.Helper()
	c := kafkatest.Get(t)
	set := topics.DefaultSet().WithPrefix(kafkatest.UniqueName(t, ""))
	c.DeleteOnCleanup(t, set.All()...)
	codec, err := records.New(records.Config{})
	if err != nil {
		t.Fatalf("records codec: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- gateway.Run(ctx, gateway.Options{
			Listener:        lis,
			Kafka:           gateway.KafkaConfig{Brokers: c.Brokers()},
			Topics:          set,
			TopicConfig:     topics.Config{Partitions: partitions},
			Encoder:         codec,
			ShutdownTimeout: 10 * time.Second,
			Logger:          gatewayTestLogger(t),
		})
	}()
	t.Cleanup(func() {
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

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc client: %v", err)
	}
	t.Cleanup(func() { conn.Close() })

	// Ready when health says SERVING (topics checked, producer connected).
	health := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(90 * time.Second)
	for {
		cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Second)
		resp, err := health.Check(cctx, &healthpb.HealthCheckRequest{Service: cartv1.CartService_ServiceDesc.ServiceName})
		ccancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("gateway.Run ended before serving: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway not SERVING after 90s (last: %v, %v)", resp, err)
		}
		time.Sleep(50 * time.Millisecond) // polling health with a deadline
	}
	return &gatewayEnv{c: c, set: set, partitions: partitions, codec: codec, client: cartv1.NewCartServiceClient(conn)}
}

func gatewayTestLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// readRequestAt reads the record at tp in cart.requests with a
// read_committed consumer.
func (e *gatewayEnv) readRequestAt(t *testing.T, partition int32, offset int64) *kafka.Message {
	t.Helper()
	cons, err := kafka.NewConsumer(e.c.Config(kafka.ConfigMap{
		"group.id":           kafkatest.UniqueName(t, "gateway-reader"),
		"isolation.level":    "read_committed",
		"enable.auto.commit": false,
	}))
	if err != nil {
		t.Fatalf("new consumer: %v", err)
	}
	defer cons.Close()
	topic := e.set.Requests
	if err := cons.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: partition, Offset: kafka.Offset(offset)}}); err != nil {
		t.Fatalf("assign: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		switch ev := cons.Poll(100).(type) {
		case *kafka.Message:
			return ev
		case kafka.Error:
			t.Fatalf("consume: %v", ev)
		}
	}
	t.Fatalf("no record at %s/%d@%d within 30s", topic, partition, offset)
	return nil
}

// endOffsets returns the high watermark of every partition of cart.requests.
func (e *gatewayEnv) endOffsets(t *testing.T) []int64 {
	t.Helper()
	cons, err := kafka.NewConsumer(e.c.Config(kafka.ConfigMap{"group.id": kafkatest.UniqueName(t, "gateway-ends")}))
	if err != nil {
		t.Fatalf("new consumer: %v", err)
	}
	defer cons.Close()
	ends := make([]int64, e.partitions)
	for p := range ends {
		_, high, err := cons.QueryWatermarkOffsets(e.set.Requests, int32(p), 10000)
		for deadline := time.Now().Add(20 * time.Second); err != nil && time.Now().Before(deadline); {
			// A fresh client may ask a stale leader first; retry with a deadline.
			time.Sleep(100 * time.Millisecond)
			_, high, err = cons.QueryWatermarkOffsets(e.set.Requests, int32(p), 10000)
		}
		if err != nil {
			t.Fatalf("watermarks of partition %d: %v", p, err)
		}
		ends[p] = high
	}
	return ends
}

func gatewayHeaders(m *kafka.Message) map[string]string {
	h := map[string]string{}
	for _, x := range m.Headers {
		h[x.Key] = string(x.Value)
	}
	return h
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestGatewayRecordsEveryCommandOverGRPC(t *testing.T) {
	e := startGateway(t, 3)
	const trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	type sent struct {
		want  cart.Command
		token *cartv1.ConsistencyToken
		trace string // "" when the gateway had to start a trace
		from  time.Time
		until time.Time
	}
	var all []sent
	do := func(want cart.Command, traceparent string, rpc func(ctx context.Context) (*cartv1.ConsistencyToken, error)) {
		t.Helper()
		ctx := callCtx(t)
		if traceparent != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "traceparent", traceparent)
		}
		from := time.Now()
		token, err := rpc(ctx)
		if err != nil {
			t.Fatalf("%s: %v", want.EventType(), err)
		}
		all = append(all, sent{want: want, token: token, trace: traceparent, from: from, until: time.Now()})
	}

	do(cart.AddItem{CartID: "cart-a", RequestID: "req-1", CustomerID: "cust-1", SKU: "apple", Quantity: 2}, trace, func(ctx context.Context) (*cartv1.ConsistencyToken, error) {
		r, err := e.client.AddItem(ctx, &cartv1.AddItemRequest{CartId: "cart-a", RequestId: "req-1", CustomerId: "cust-1", Sku: "apple", Quantity: 2})
		return r.GetConsistencyToken(), err
	})
	do(cart.ChangeQuantity{CartID: "cart-a", RequestID: "req-2", SKU: "apple", Quantity: 999}, "", func(ctx context.Context) (*cartv1.ConsistencyToken, error) {
		r, err := e.client.ChangeQuantity(ctx, &cartv1.ChangeQuantityRequest{CartId: "cart-a", RequestId: "req-2", Sku: "apple", Quantity: 999})
		return r.GetConsistencyToken(), err
	})
	do(cart.RemoveItem{CartID: "cart-a", RequestID: "req-3", SKU: "apple"}, "", func(ctx context.Context) (*cartv1.ConsistencyToken, error) {
		// wait_for_outcome without a read path: the token alone, and OK.
		r, err := e.client.RemoveItem(ctx, &cartv1.RemoveItemRequest{CartId: "cart-a", RequestId: "req-3", Sku: "apple", WaitForOutcome: true})
		if r.GetOutcome() != nil {
			t.Errorf("outcome %v without a read path", r.GetOutcome())
		}
		return r.GetConsistencyToken(), err
	})
	do(cart.Checkout{CartID: "cart-a", RequestID: "req-4", CustomerID: "cust-1"}, trace, func(ctx context.Context) (*cartv1.ConsistencyToken, error) {
		r, err := e.client.Checkout(ctx, &cartv1.CheckoutRequest{CartId: "cart-a", RequestId: "req-4", CustomerId: "cust-1"})
		return r.GetConsistencyToken(), err
	})

	for i, s := range all {
		name := s.want.EventType().String()
		if i > 0 {
			// One cart, one partition, in the order accepted.
			prev := all[i-1].token
			if s.token.GetPartition() != prev.GetPartition() || s.token.GetOffset() <= prev.GetOffset() {
				t.Errorf("%s: token %v after %v: want the same partition, a later offset", name, s.token, prev)
			}
		}
		m := e.readRequestAt(t, s.token.GetPartition(), s.token.GetOffset())
		if m.TopicPartition.Partition != s.token.GetPartition() || int64(m.TopicPartition.Offset) != s.token.GetOffset() {
			t.Fatalf("%s: record at %v, token %v", name, m.TopicPartition, s.token)
		}
		if string(m.Key) != "cart-a" {
			t.Errorf("%s: key %q, want cart-a", name, m.Key)
		}
		h := gatewayHeaders(m)
		if h[records.HeaderRequestID] != string(s.want.Meta().RequestID) || h[records.HeaderEventType] != name {
			t.Errorf("%s: headers %v", name, h)
		}
		tp := h[records.HeaderTraceparent]
		if s.trace != "" && tp != s.trace {
			t.Errorf("%s: traceparent %q, want the caller's %q", name, tp, s.trace)
		}
		if s.trace == "" && (len(tp) != 55 || !strings.HasPrefix(tp, "00-") || tp == trace) {
			t.Errorf("%s: traceparent %q, want a new version-00 one", name, tp)
		}
		got, err := e.codec.DecodeRequest(m.Value)
		if err != nil {
			t.Fatalf("%s: decode: %v", name, err)
		}
		at := got.Meta().RequestedAt
		if at.Before(s.from.Add(-time.Millisecond)) || at.After(s.until.Add(time.Millisecond)) {
			t.Errorf("%s: requested at %v, want within the call (%v..%v)", name, at, s.from, s.until)
		}
		if want := withRequestedAt(s.want, at); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: decoded %#v, want %#v", name, got, want)
		}
	}
	if t.Failed() {
		return
	}

	// The query RPCs belong to the read path, not wired here.
	if _, err := e.client.GetCart(callCtx(t), &cartv1.GetCartRequest{CartId: "cart-a"}); status.Code(err) != codes.Unimplemented {
		t.Errorf("GetCart = %v, want UNIMPLEMENTED", err)
	}
}

func withRequestedAt(cmd cart.Command, at time.Time) cart.Command {
	switch c := cmd.(type) {
	case cart.AddItem:
		c.RequestedAt = at
		return c
	case cart.RemoveItem:
		c.RequestedAt = at
		return c
	case cart.ChangeQuantity:
		c.RequestedAt = at
		return c
	case cart.Checkout:
		c.RequestedAt = at
		return c
	}
	panic(fmt.Sprintf("unknown command %T", cmd))
}

// The gateway's producer places a cart where the Java client (and Kafka
// Streams, kcat -X partitioner=murmur2_random) would: partitioner=murmur2_random.
func TestGatewayPartitionsLikeTheJavaClient(t *testing.T) {
	const partitions, keys = 7, 300 // 7: not a power of two, so a wrong modulo shows
	e := startGateway(t, partitions)
	seen := map[int32]int{}
	for i := range keys {
		// Lengths 1..64 cover every tail case of the hash.
		id := strconv.Itoa(i)
		id += strings.Repeat("k", (i*7)%(cart.MaxIDLength-len(id)+1))
		resp, err := e.client.AddItem(callCtx(t), &cartv1.AddItemRequest{CartId: id, RequestId: "r-" + strconv.Itoa(i), CustomerId: "cust", Sku: "apple", Quantity: 1})
		if err != nil {
			t.Fatalf("AddItem %q: %v", id, err)
		}
		got, want := resp.GetConsistencyToken().GetPartition(), partition.For([]byte(id), partitions)
		if got != want {
			t.Fatalf("cart %q went to partition %d; the Java client's murmur2 puts it in %d", id, got, want)
		}
		seen[got]++
	}
	if len(seen) != partitions {
		t.Fatalf("%d keys used only partitions %v", keys, seen)
	}
}

// A request that fails a syntax check (or the size cap) writes nothing.
func TestGatewayInvalidRequestsWriteNothing(t *testing.T) {
	e := startGateway(t, 3)
	before := e.endOffsets(t)

	long := strings.Repeat("x", cart.MaxIDLength+1)
	for _, tc := range []struct {
		name   string
		call   func(ctx context.Context) error
		fields []string
	}{
		{"empty add", func(ctx context.Context) error {
			_, err := e.client.AddItem(ctx, &cartv1.AddItemRequest{})
			return err
		}, []string{"cart_id", "request_id", "customer_id", "sku", "quantity"}},
		{"quantity above the API limit", func(ctx context.Context) error {
			_, err := e.client.AddItem(ctx, &cartv1.AddItemRequest{CartId: "c", RequestId: "r", CustomerId: "u", Sku: "s", Quantity: 1000})
			return err
		}, []string{"quantity"}},
		{"bad remove", func(ctx context.Context) error {
			_, err := e.client.RemoveItem(ctx, &cartv1.RemoveItemRequest{CartId: long, RequestId: "r 1", Sku: "s"})
			return err
		}, []string{"cart_id", "request_id"}},
		{"bad change", func(ctx context.Context) error {
			_, err := e.client.ChangeQuantity(ctx, &cartv1.ChangeQuantityRequest{CartId: "c", RequestId: "r", Sku: "", Quantity: 0})
			return err
		}, []string{"sku", "quantity"}},
		{"bad checkout", func(ctx context.Context) error {
			_, err := e.client.Checkout(ctx, &cartv1.CheckoutRequest{CartId: "c", RequestId: "r"})
			return err
		}, []string{"customer_id"}},
	} {
		err := tc.call(callCtx(t))
		st, _ := status.FromError(err)
		if st.Code() != codes.InvalidArgument {
			t.Fatalf("%s: %v, want INVALID_ARGUMENT", tc.name, err)
		}
		var got []string
		for _, d := range st.Details() {
			if br, ok := d.(*errdetails.BadRequest); ok {
				for _, v := range br.GetFieldViolations() {
					got = append(got, v.GetField())
				}
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.fields) {
			t.Errorf("%s: field violations %v, want %v", tc.name, got, tc.fields)
		}
	}
	// Above the explicit message size cap, grpc-go refuses before decoding.
	_, err := e.client.AddItem(callCtx(t), &cartv1.AddItemRequest{CartId: "c", RequestId: "r", CustomerId: strings.Repeat("u", gateway.DefaultMaxRecvMsgSize), Sku: "s", Quantity: 1})
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("oversized request: %v, want RESOURCE_EXHAUSTED", err)
	}

	// A valid marker after them: had anything invalid been produced, it
	// would sit before the marker in the same producer's order.
	resp, err := e.client.AddItem(callCtx(t), &cartv1.AddItemRequest{CartId: "c", RequestId: "marker", CustomerId: "u", Sku: "s", Quantity: 1})
	if err != nil {
		t.Fatalf("marker: %v", err)
	}
	p, off := resp.GetConsistencyToken().GetPartition(), resp.GetConsistencyToken().GetOffset()
	if off != before[p] {
		t.Errorf("marker at offset %d of partition %d, want %d: something was written before it", off, p, before[p])
	}
	after := e.endOffsets(t)
	for i := range after {
		want := before[i]
		if int32(i) == p {
			want++
		}
		if after[i] != want {
			t.Errorf("partition %d: end offset %d -> %d, want %d", i, before[i], after[i], want)
		}
	}
}

// Close answers every produce in flight: each call either gets its position
// (and the record is on the log) or an UNAVAILABLE-class error; none hangs,
// and a produce after Close is refused.
func TestGatewayProducerCloseAnswersEveryInFlightProduce(t *testing.T) {
	c := kafkatest.Get(t)
	topic := c.Topics(t, kafkatest.TopicSpec{Partitions: 2}, "requests")[0]
	p, err := gateway.NewKafkaProducer(gateway.KafkaConfig{Brokers: c.Brokers(), Logger: gatewayTestLogger(t)})
	if err != nil {
		t.Fatalf("new producer: %v", err)
	}
	if err := p.Ping(callCtx(t), topic); err != nil {
		t.Fatalf("ping: %v", err)
	}
	const n = 200
	type result struct {
		pos gateway.Position
		err error
	}
	results := make(chan result, n)
	for i := range n {
		go func() {
			pos, err := p.Produce(callCtx(t), gateway.Record{Topic: topic, Key: fmt.Appendf(nil, "cart-%d", i), Value: []byte("v")})
			results <- result{pos, err}
		}()
	}
	// Close once the first answer is in, with the rest enqueued or racing.
	first := <-results
	if first.err != nil {
		t.Fatalf("first produce: %v", first.err)
	}
	if err := p.Close(callCtx(t)); err != nil {
		t.Fatalf("close: %v", err)
	}
	ok := 1
	for range n - 1 {
		select {
		case r := <-results:
			switch {
			case r.err == nil:
				ok++
			case !gateway.IsUnavailable(r.err):
				t.Errorf("produce during close: %v, want success or unavailable", r.err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a produce in flight got no answer after Close")
		}
	}
	if got := len(readToEnd(t, c, topic, 2, "read_committed")); got != ok {
		t.Fatalf("%d records on the log, %d produces answered OK", got, ok)
	}
	if _, err := p.Produce(callCtx(t), gateway.Record{Topic: topic, Key: []byte("late"), Value: []byte("v")}); !errors.Is(err, gateway.ErrClosed) {
		t.Fatalf("produce after close: %v, want ErrClosed", err)
	}
	t.Logf("%d of %d produces racing Close were recorded", ok, n)
}

// A broker that never answers is a delivery failure (UNAVAILABLE), reported
// within the delivery timeout, not a hang.
func TestGatewayProducerDeliveryFailureIsUnavailable(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := lis.Addr().String()
	lis.Close() // nothing listens there now
	p, err := gateway.NewKafkaProducer(gateway.KafkaConfig{Brokers: dead, DeliveryTimeout: time.Second})
	if err != nil {
		t.Fatalf("new producer: %v", err)
	}
	defer func() {
		if err := p.Close(callCtx(t)); err != nil {
			t.Logf("close: %v", err)
		}
	}()
	_, err = p.Produce(callCtx(t), gateway.Record{Topic: "cart.requests", Key: []byte("c"), Value: []byte("v")})
	var de *gateway.DeliveryError
	if !errors.As(err, &de) || !gateway.IsUnavailable(err) {
		t.Fatalf("produce to a dead broker: %v, want a DeliveryError (unavailable)", err)
	}
}

// A gateway pointed at topics that are not co-partitioned refuses to start.
func TestGatewayRefusesToStartOnTopicsNotCoPartitioned(t *testing.T) {
	c := kafkatest.Get(t)
	set := topics.DefaultSet().WithPrefix(kafkatest.UniqueName(t, ""))
	c.DeleteOnCleanup(t, set.All()...)
	specs := set.Specs(topics.Config{Partitions: 3})
	specs[2].NumPartitions = 4 // cart.invalid made by hand with another count
	if _, err := c.Admin(t).CreateTopics(callCtx(t), specs); err != nil {
		t.Fatal(err)
	}
	codec, err := records.New(records.Config{})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	err = gateway.Run(callCtx(t), gateway.Options{
		Listener: lis, Kafka: gateway.KafkaConfig{Brokers: c.Brokers()}, Topics: set,
		TopicConfig: topics.Config{Partitions: 3}, Encoder: codec, Logger: gatewayTestLogger(t),
	})
	if !errors.Is(err, topics.ErrNotCoPartitioned) {
		t.Fatalf("Run = %v, want ErrNotCoPartitioned", err)
	}
	if conn, err := net.DialTimeout("tcp", lis.Addr().String(), time.Second); err == nil {
		conn.Close()
		t.Fatal("the gateway's port still accepts connections after a refused start")
	}
}
