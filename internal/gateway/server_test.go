package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/tracecontext"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// call runs one command RPC by its request type and returns the token.
func call(ctx context.Context, s *Server, req proto.Message) (*cartv1.ConsistencyToken, *cartv1.CommandOutcome, error) {
	type tokened interface {
		GetConsistencyToken() *cartv1.ConsistencyToken
		GetOutcome() *cartv1.CommandOutcome
	}
	var resp tokened
	var err error
	switch r := req.(type) {
	case *cartv1.AddItemRequest:
		resp, err = s.AddItem(ctx, r)
	case *cartv1.RemoveItemRequest:
		resp, err = s.RemoveItem(ctx, r)
	case *cartv1.ChangeQuantityRequest:
		resp, err = s.ChangeQuantity(ctx, r)
	case *cartv1.CheckoutRequest:
		resp, err = s.Checkout(ctx, r)
	case *cartv1.ClearCartRequest:
		resp, err = s.ClearCart(ctx, r)
	case *cartv1.MergeCartsRequest:
		resp, err = s.MergeCarts(ctx, r)
	default:
		panic(fmt.Sprintf("not a command request: %T", req))
	}
	if err != nil {
		return nil, nil, err
	}
	return resp.GetConsistencyToken(), resp.GetOutcome(), nil
}

func TestGatewaySyntaxErrorsListEveryFieldAndWriteNothing(t *testing.T) {
	long := strings.Repeat("c", cart.MaxIDLength+1)
	max := strings.Repeat("c", cart.MaxIDLength)
	for _, tc := range []struct {
		name   string
		req    proto.Message
		fields []string
	}{
		{"add: empty", &cartv1.AddItemRequest{}, []string{"cart_id", "request_id", "customer_id", "sku", "quantity"}},
		{"add: quantity 0", &cartv1.AddItemRequest{CartId: "c1", RequestId: "r1", CustomerId: "u1", Sku: "apple"}, []string{"quantity"}},
		{"add: quantity -1", &cartv1.AddItemRequest{CartId: "c1", RequestId: "r1", CustomerId: "u1", Sku: "apple", Quantity: -1}, []string{"quantity"}},
		{"add: quantity above the API limit", &cartv1.AddItemRequest{CartId: "c1", RequestId: "r1", CustomerId: "u1", Sku: "apple", Quantity: MaxAPIQuantity + 1}, []string{"quantity"}},
		{"add: quantity above the domain limit: one violation", &cartv1.AddItemRequest{CartId: "c1", RequestId: "r1", CustomerId: "u1", Sku: "apple", Quantity: cart.MaxQuantity + 1}, []string{"quantity"}},
		{"add: id too long", &cartv1.AddItemRequest{CartId: long, RequestId: "r1", CustomerId: "u1", Sku: "apple", Quantity: 1}, []string{"cart_id"}},
		{"add: bad characters", &cartv1.AddItemRequest{CartId: "a b", RequestId: "r/1", CustomerId: "alice@example.com", Sku: "äpple", Quantity: 1}, []string{"cart_id", "request_id", "customer_id", "sku"}},
		{"remove: empty", &cartv1.RemoveItemRequest{}, []string{"cart_id", "request_id", "sku"}},
		{"remove: bad sku", &cartv1.RemoveItemRequest{CartId: "c1", RequestId: "r1", Sku: "a\nb"}, []string{"sku"}},
		{"change: empty", &cartv1.ChangeQuantityRequest{}, []string{"cart_id", "request_id", "sku", "quantity"}},
		{"change: quantity above the API limit", &cartv1.ChangeQuantityRequest{CartId: "c1", RequestId: "r1", Sku: "apple", Quantity: 1000}, []string{"quantity"}},
		{"checkout: empty", &cartv1.CheckoutRequest{}, []string{"cart_id", "request_id", "customer_id"}},
		{"checkout: all bad", &cartv1.CheckoutRequest{CartId: long, RequestId: "", CustomerId: "ü"}, []string{"cart_id", "request_id", "customer_id"}},
		{"checkout: request id too long", &cartv1.CheckoutRequest{CartId: max, RequestId: long, CustomerId: max}, []string{"request_id"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &fakeProducer{}
			s := newTestServer(t, p)
			_, _, err := call(t.Context(), s, tc.req)
			wantViolations(t, err, tc.fields...)
			if got := p.records(); len(got) != 0 {
				t.Fatalf("%d records produced for an invalid request", len(got))
			}
			// A violation never echoes the value it refuses.
			if strings.Contains(err.Error(), "alice") || strings.Contains(err.Error(), "äpple") {
				t.Fatalf("error echoes the input: %v", err)
			}
		})
	}
}

func TestGatewayLimitsAtTheEdgeAreAccepted(t *testing.T) {
	max := strings.Repeat("c", cart.MaxIDLength)
	p := &fakeProducer{}
	s := newTestServer(t, p)
	for _, req := range []proto.Message{
		&cartv1.AddItemRequest{CartId: max, RequestId: "a.b_c-d-E9", CustomerId: max, Sku: max, Quantity: MaxAPIQuantity},
		&cartv1.AddItemRequest{CartId: "c", RequestId: "r", CustomerId: "u", Sku: "s", Quantity: 1},
		&cartv1.ChangeQuantityRequest{CartId: "c", RequestId: "r2", Sku: "s", Quantity: MaxAPIQuantity},
	} {
		if _, _, err := call(t.Context(), s, req); err != nil {
			t.Fatalf("%T: %v", req, err)
		}
	}
	if n := len(p.records()); n != 3 {
		t.Fatalf("%d records, want 3", n)
	}
}

func TestGatewayWritesEachCommandAndAnswersWithTheDeliveredPosition(t *testing.T) {
	for _, tc := range []struct {
		req  proto.Message
		want cart.Command
	}{
		{&cartv1.AddItemRequest{CartId: "cart-1", RequestId: "req-1", CustomerId: "u1", Sku: "apple", Quantity: 3},
			cart.AddItem{CartID: "cart-1", RequestID: "req-1", CustomerID: "u1", RequestedAt: testNow, SKU: "apple", Quantity: 3}},
		{&cartv1.RemoveItemRequest{CartId: "cart-1", RequestId: "req-2", Sku: "apple"},
			cart.RemoveItem{CartID: "cart-1", RequestID: "req-2", RequestedAt: testNow, SKU: "apple"}},
		{&cartv1.ChangeQuantityRequest{CartId: "cart-1", RequestId: "req-3", Sku: "apple", Quantity: 7},
			cart.ChangeQuantity{CartID: "cart-1", RequestID: "req-3", RequestedAt: testNow, SKU: "apple", Quantity: 7}},
		{&cartv1.CheckoutRequest{CartId: "cart-1", RequestId: "req-4", CustomerId: "u1"},
			cart.Checkout{CartID: "cart-1", RequestID: "req-4", CustomerID: "u1", RequestedAt: testNow}},
	} {
		t.Run(tc.want.EventType().String(), func(t *testing.T) {
			p := &fakeProducer{partition: 7, next: 41}
			s := newTestServer(t, p)
			token, outcome, err := call(t.Context(), s, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if token.GetPartition() != 7 || token.GetOffset() != 41 {
				t.Fatalf("token = %v, want the delivery report's 7/41", token)
			}
			if outcome != nil {
				t.Fatalf("outcome = %v without wait_for_outcome", outcome)
			}
			recs := p.records()
			if len(recs) != 1 {
				t.Fatalf("%d records, want 1", len(recs))
			}
			rec := recs[0]
			if rec.Topic != "cart.requests" || string(rec.Key) != "cart-1" {
				t.Fatalf("record to %s key %q, want cart.requests key cart-1", rec.Topic, rec.Key)
			}
			want, _ := fakeEncoder{}.EncodeRequest(tc.want)
			if !bytes.Equal(rec.Value, want) {
				t.Fatalf("value %s, want %s", rec.Value, want)
			}
			if v, _ := header(rec, HeaderRequestID); v != string(tc.want.Meta().RequestID) {
				t.Errorf("request-id header %q", v)
			}
			if v, _ := header(rec, HeaderEventType); v != tc.want.EventType().String() {
				t.Errorf("event-type header %q, want %s", v, tc.want.EventType())
			}
			if v, _ := header(rec, HeaderTraceparent); !validTraceparent(v) {
				t.Errorf("traceparent header %q is not valid", v)
			}
		})
	}
}

func TestGatewayHeaderNamesMatchTheRecordsContract(t *testing.T) {
	if HeaderRequestID != "request-id" || HeaderEventType != "event-type" || HeaderTraceparent != "traceparent" {
		t.Fatal("header names changed: they are part of the cart.requests record contract")
	}
}

func validTraceparent(s string) bool { return tracecontext.Valid(s) }

func TestGatewayProduceFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    *fakeProducer
		ctx  func(t *testing.T) context.Context
		want codes.Code
	}{
		{"delivery failed", &fakeProducer{err: &DeliveryError{Topic: "cart.requests", Err: errors.New("Local: Message timed out")}}, nil, codes.Unavailable},
		{"producer closed", &fakeProducer{err: fmt.Errorf("enqueue: %w", ErrClosed)}, nil, codes.Unavailable},
		{"unclassified", &fakeProducer{err: errors.New("surprise")}, nil, codes.Internal},
		{"deadline", &fakeProducer{block: true}, func(t *testing.T) context.Context {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
			t.Cleanup(cancel)
			return ctx
		}, codes.DeadlineExceeded},
		{"canceled", &fakeProducer{block: true}, func(t *testing.T) context.Context {
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(20*time.Millisecond, cancel)
			t.Cleanup(cancel)
			return ctx
		}, codes.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			if tc.ctx != nil {
				ctx = tc.ctx(t)
			}
			s := newTestServer(t, tc.p)
			_, _, err := call(ctx, s, &cartv1.AddItemRequest{CartId: "c1", RequestId: "r1", CustomerId: "u1", Sku: "apple", Quantity: 1})
			if status.Code(err) != tc.want {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), "timed out") || strings.Contains(err.Error(), "surprise") {
				t.Fatalf("client sees the infrastructure's error text: %v", err)
			}
		})
	}
}

func TestGatewayEncodeFailureWritesNothing(t *testing.T) {
	p := &fakeProducer{}
	s := newTestServer(t, p, func(c *Config) { c.Encoder = fakeEncoder{err: errors.New("schema missing")} })
	_, _, err := call(t.Context(), s, &cartv1.CheckoutRequest{CartId: "c1", RequestId: "r1", CustomerId: "u1"})
	if status.Code(err) != codes.Internal {
		t.Fatalf("error = %v, want INTERNAL", err)
	}
	if len(p.records()) != 0 {
		t.Fatal("a record was produced without a value")
	}
}

func TestGatewayTraceparent(t *testing.T) {
	const incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	req := &cartv1.RemoveItemRequest{CartId: "c1", RequestId: "r1", Sku: "apple"}
	produceWith := func(t *testing.T, md metadata.MD, random []byte) string {
		t.Helper()
		p := &fakeProducer{}
		s := newTestServer(t, p, func(c *Config) {
			if random != nil {
				c.Random = fixedReader{bytes.NewReader(random)}
			}
		})
		ctx := t.Context()
		if md != nil {
			ctx = metadata.NewIncomingContext(ctx, md)
		}
		if _, _, err := call(ctx, s, req); err != nil {
			t.Fatal(err)
		}
		v, ok := header(p.records()[0], HeaderTraceparent)
		if !ok {
			t.Fatal("no traceparent header")
		}
		return v
	}

	t.Run("propagated", func(t *testing.T) {
		if got := produceWith(t, metadata.Pairs("traceparent", incoming), nil); got != incoming {
			t.Fatalf("traceparent %q, want the caller's %q", got, incoming)
		}
	})
	t.Run("future version is read by its version-00 prefix", func(t *testing.T) {
		got := produceWith(t, metadata.Pairs("traceparent", "cc"+incoming[2:]+"-what-the-future-holds"), nil)
		if got != incoming {
			t.Fatalf("traceparent %q, want %q", got, incoming)
		}
	})
	t.Run("generated when absent", func(t *testing.T) {
		random := append(bytes.Repeat([]byte{0}, 16), bytes.Repeat([]byte{0xab}, 24)...) // an all-zero draw is skipped
		got := produceWith(t, nil, random)
		want := "00-abababababababababababababababab-abababababababab-00"
		if got != want {
			t.Fatalf("traceparent %q, want %q", got, want)
		}
	})
	for name, bad := range map[string]metadata.MD{
		"upper case":          metadata.Pairs("traceparent", strings.ToUpper(incoming)),
		"zero trace id":       metadata.Pairs("traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
		"zero parent id":      metadata.Pairs("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"),
		"version ff":          metadata.Pairs("traceparent", "ff"+incoming[2:]),
		"version 00 too long": metadata.Pairs("traceparent", incoming+"-x"),
		"short":               metadata.Pairs("traceparent", incoming[:54]),
		"bad separator":       metadata.Pairs("traceparent", strings.Replace(incoming, "-", "_", 1)),
		"two headers":         metadata.Pairs("traceparent", incoming, "traceparent", incoming),
		"garbage":             metadata.Pairs("traceparent", strings.Repeat("z", 55)),
	} {
		t.Run("regenerated: "+name, func(t *testing.T) {
			got := produceWith(t, bad, nil)
			if got == incoming || !validTraceparent(got) {
				t.Fatalf("traceparent %q: want a new valid one", got)
			}
		})
	}
	t.Run("generated ids differ", func(t *testing.T) {
		if a, b := produceWith(t, nil, nil), produceWith(t, nil, nil); a == b {
			t.Fatalf("two new traces share %q", a)
		}
	})
	t.Run("broken random source", func(t *testing.T) {
		p := &fakeProducer{}
		s := newTestServer(t, p, func(c *Config) { c.Random = brokenReader{} })
		if _, _, err := call(t.Context(), s, req); status.Code(err) != codes.Internal || len(p.records()) != 0 {
			t.Fatalf("error = %v with %d records, want INTERNAL and none", err, len(p.records()))
		}
	})
}

func TestGatewayWaitForOutcome(t *testing.T) {
	req := &cartv1.CheckoutRequest{CartId: "c1", RequestId: "r1", CustomerId: "u1", WaitForOutcome: true}

	t.Run("no outcome source: token alone", func(t *testing.T) {
		token, outcome, err := call(t.Context(), newTestServer(t, &fakeProducer{next: 5}), req)
		if err != nil || token.GetOffset() != 5 || outcome != nil {
			t.Fatalf("= %v, %v, %v; want the token, no outcome, no error", token, outcome, err)
		}
	})
	t.Run("outcome known", func(t *testing.T) {
		want := &cartv1.CommandOutcome{Accepted: false, Rejection: &cartv1.Rejection{Reason: cartv1.ReasonCode_REASON_CODE_EMPTY_CART, Message: "empty"}}
		o := &fakeOutcomes{out: want}
		token, outcome, err := call(t.Context(), newTestServer(t, &fakeProducer{partition: 2, next: 9}, func(c *Config) { c.Outcomes = o }), req)
		if err != nil || !proto.Equal(outcome, want) {
			t.Fatalf("= %v, %v; want %v", outcome, err, want)
		}
		fp := cart.FingerprintOf(cart.Checkout{CartID: "c1", RequestID: "r1", CustomerID: "u1"})
		if o.got != (OutcomeQuery{CartID: "c1", RequestID: "r1", Position: Position{Partition: 2, Offset: 9}, Fingerprint: fp}) || token.GetOffset() != 9 {
			t.Fatalf("asked for %+v", o.got)
		}
		if !o.hadDeadline {
			t.Fatal("the wait was not bounded")
		}
	})
	t.Run("not asked: not waited for", func(t *testing.T) {
		o := &fakeOutcomes{block: true}
		noWait := proto.CloneOf(req)
		noWait.WaitForOutcome = false
		if _, outcome, err := call(t.Context(), newTestServer(t, &fakeProducer{}, func(c *Config) { c.Outcomes = o }), noWait); err != nil || outcome != nil {
			t.Fatalf("= %v, %v", outcome, err)
		}
	})
	t.Run("no outcome before the deadline is not an error", func(t *testing.T) {
		o := &fakeOutcomes{block: true}
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		s := newTestServer(t, &fakeProducer{next: 3}, func(c *Config) { c.Outcomes = o })
		token, outcome, err := call(ctx, s, req)
		if err != nil || outcome != nil || token.GetOffset() != 3 {
			t.Fatalf("= %v, %v, %v; want the token alone", token, outcome, err)
		}
		if ctx.Err() != nil {
			t.Fatal("the answer came after the call's deadline: no margin was left")
		}
	})
	t.Run("a failing wait is not an error", func(t *testing.T) {
		o := &fakeOutcomes{err: status.Error(codes.Unavailable, "read side rebuilding")}
		if _, outcome, err := call(t.Context(), newTestServer(t, &fakeProducer{}, func(c *Config) { c.Outcomes = o }), req); err != nil || outcome != nil {
			t.Fatalf("= %v, %v", outcome, err)
		}
	})
}

type fakeReader struct{ err error }

func (r fakeReader) GetCart(context.Context, *cartv1.GetCartRequest) (*cartv1.GetCartResponse, error) {
	if r.err != nil {
		return nil, r.err
	}
	return &cartv1.GetCartResponse{Cart: &cartv1.Cart{CartId: "c1"}}, nil
}

func (r fakeReader) WatchCart(*cartv1.WatchCartRequest, cartv1.CartService_WatchCartServer) error {
	return r.err
}

func (r fakeReader) GetCartHistory(context.Context, *cartv1.GetCartHistoryRequest) (*cartv1.GetCartHistoryResponse, error) {
	return &cartv1.GetCartHistoryResponse{}, r.err
}

func TestGatewayQueriesWithoutAReaderAreUnimplemented(t *testing.T) {
	s := newTestServer(t, &fakeProducer{})
	_, err1 := s.GetCart(t.Context(), &cartv1.GetCartRequest{CartId: "c1"})
	err2 := s.WatchCart(&cartv1.WatchCartRequest{CartId: "c1"}, nil)
	_, err3 := s.GetCartHistory(t.Context(), &cartv1.GetCartHistoryRequest{CartId: "c1"})
	for i, err := range []error{err1, err2, err3} {
		st, _ := status.FromError(err)
		if st.Code() != codes.Unimplemented || !strings.Contains(st.Message(), "read path") {
			t.Errorf("query %d: %v, want UNIMPLEMENTED naming the read path", i, err)
		}
	}
}

func TestGatewayQueriesAreDelegated(t *testing.T) {
	s := newTestServer(t, &fakeProducer{}, func(c *Config) { c.Reader = fakeReader{} })
	resp, err := s.GetCart(t.Context(), &cartv1.GetCartRequest{CartId: "c1"})
	if err != nil || resp.GetCart().GetCartId() != "c1" {
		t.Fatalf("GetCart = %v, %v", resp, err)
	}
	s = newTestServer(t, &fakeProducer{}, func(c *Config) { c.Reader = fakeReader{err: status.Error(codes.NotFound, "no such cart")} })
	if _, err := s.GetCart(t.Context(), &cartv1.GetCartRequest{CartId: "c1"}); status.Code(err) != codes.NotFound {
		t.Fatalf("GetCart = %v, want NOT_FOUND passed through", err)
	}
	if err := s.WatchCart(&cartv1.WatchCartRequest{CartId: "c1"}, nil); status.Code(err) != codes.NotFound {
		t.Fatalf("WatchCart = %v, want NOT_FOUND passed through", err)
	}
	s = newTestServer(t, &fakeProducer{}, func(c *Config) { c.Reader = fakeReader{err: fmt.Errorf("wait: %w", context.DeadlineExceeded)} })
	if _, err := s.GetCartHistory(t.Context(), &cartv1.GetCartHistoryRequest{CartId: "c1"}); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("GetCartHistory = %v, want DEADLINE_EXCEEDED", err)
	}
}

func TestGatewayConfigValidateReportsEveryProblem(t *testing.T) {
	err := Config{OutcomeMargin: -1}.Validate()
	for _, want := range []string{"topic", "producer", "encoder", "outcome margin"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, missing %q", err, want)
		}
	}
	if _, err := NewServer(Config{}); err == nil {
		t.Fatal("NewServer accepted an empty config")
	}
}
