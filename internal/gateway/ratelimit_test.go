package gateway

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// retryDelay checks err is code with a RetryInfo and returns its delay.
func retryDelay(tb testing.TB, err error, code codes.Code) time.Duration {
	tb.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		tb.Fatalf("err = %v, want %v", err, code)
	}
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	tb.Fatalf("%v: no google.rpc.RetryInfo in %v", code, st.Details())
	return 0
}

func add(customer string, n int) *cartv1.AddItemRequest {
	return &cartv1.AddItemRequest{CartId: "cart-" + customer, RequestId: fmt.Sprintf("r%d", n), CustomerId: customer, Sku: "apple", Quantity: 1}
}

func TestPerCustomerRateLimit(t *testing.T) {
	clock := &fakeClock{now: testNow}
	p := &fakeProducer{}
	s := newTestServer(t, p, func(c *Config) {
		c.Clock = clock.Now
		c.RateLimits = RateLimits{PerCustomer: 2, PerCustomerBurst: 3}
	})
	ctx := t.Context()
	for i := range 3 { // the burst
		if _, _, err := call(ctx, s, add("alice", i)); err != nil {
			t.Fatalf("command %d within the burst: %v", i, err)
		}
	}
	_, _, err := call(ctx, s, add("alice", 3))
	if d := retryDelay(t, err, codes.ResourceExhausted); d != 500*time.Millisecond {
		t.Fatalf("retry after %v, want 500ms (one token at 2/s)", d)
	}
	// Another customer has a bucket of their own.
	if _, _, err := call(ctx, s, add("bob", 0)); err != nil {
		t.Fatalf("bob: %v", err)
	}
	// A refused command took no token: after the advertised wait, exactly
	// one more goes through.
	clock.Advance(500 * time.Millisecond)
	if _, _, err := call(ctx, s, add("alice", 4)); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
	if _, _, err := call(ctx, s, add("alice", 5)); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("second after the wait: %v, want RESOURCE_EXHAUSTED", err)
	}
	if n := len(p.records()); n != 5 {
		t.Fatalf("%d records, want 5 (refused commands write nothing)", n)
	}
}

func TestGlobalRateLimit(t *testing.T) {
	clock := &fakeClock{now: testNow}
	s := newTestServer(t, &fakeProducer{}, func(c *Config) {
		c.Clock = clock.Now
		c.RateLimits = RateLimits{PerCustomer: 100, Global: 1, GlobalBurst: 2}
	})
	ctx := t.Context()
	for i, who := range []string{"a", "b"} {
		if _, _, err := call(ctx, s, add(who, i)); err != nil {
			t.Fatalf("%s: %v", who, err)
		}
	}
	_, _, err := call(ctx, s, add("c", 2))
	if d := retryDelay(t, err, codes.ResourceExhausted); d != time.Second {
		t.Fatalf("retry after %v, want 1s", d)
	}
	var qf *errdetails.QuotaFailure
	for _, d := range status.Convert(err).Details() {
		if q, ok := d.(*errdetails.QuotaFailure); ok {
			qf = q
		}
	}
	if qf == nil || qf.GetViolations()[0].GetSubject() != string(LimitGlobal) {
		t.Fatalf("quota failure %v, want the global limit named", qf)
	}
	// c's refused command cost c nothing in its own bucket either.
	clock.Advance(time.Second)
	if _, _, err := call(ctx, s, add("c", 3)); err != nil {
		t.Fatalf("c after the wait: %v", err)
	}
}

func TestRateLimitMemoryIsBounded(t *testing.T) {
	clock := &fakeClock{now: testNow}
	l := newLimiter(RateLimits{PerCustomer: 1, PerCustomerBurst: 1, MaxCustomers: 2})
	for _, k := range []string{"a", "b"} {
		if err := l.allow(k, clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	// Full of busy buckets: newcomers share the overflow bucket.
	if err := l.allow("c", clock.Now()); err != nil {
		t.Fatalf("first newcomer: %v", err)
	}
	if err := l.allow("d", clock.Now()); err == nil {
		t.Fatal("second newcomer in the same instant passed the shared bucket")
	}
	// Once a, b are idle (full again) they are swept and d gets its own.
	clock.Advance(2 * time.Second)
	if err := l.allow("d", clock.Now()); err != nil {
		t.Fatalf("after the sweep: %v", err)
	}
	if len(l.customers) != 1 {
		t.Fatalf("%d buckets kept, want 1", len(l.customers))
	}
	var none *limiter
	if err := none.allow("x", clock.Now()); err != nil {
		t.Fatalf("no limits: %v", err)
	}
	if newLimiter(RateLimits{}) != nil {
		t.Fatal("zero RateLimits built a limiter")
	}
}

func TestOverloadedProducerSheds(t *testing.T) {
	p := &fakeProducer{err: fmt.Errorf("%w: Local: Queue full", ErrOverloaded)}
	s := newTestServer(t, p)
	_, _, err := call(t.Context(), s, add("alice", 0))
	if d := retryDelay(t, err, codes.Unavailable); d != ShedRetryAfter {
		t.Fatalf("retry after %v, want %v", d, ShedRetryAfter)
	}
}
