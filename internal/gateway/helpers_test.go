package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cartstream/cartstream/cart"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// fakeProducer is an in-memory Producer: it records what it is given and
// answers with the next position of its single partition, or with err.
type fakeProducer struct {
	mu        sync.Mutex
	recs      []Record
	partition int32
	next      int64
	err       error
	block     bool // wait for ctx instead of answering
}

func (f *fakeProducer) Produce(ctx context.Context, rec Record) (Position, error) {
	if f.block {
		<-ctx.Done()
		return Position{}, fmt.Errorf("fake: await delivery: %w", ctx.Err())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return Position{}, f.err
	}
	f.recs = append(f.recs, rec)
	pos := Position{Partition: f.partition, Offset: f.next}
	f.next++
	return pos, nil
}

func (f *fakeProducer) records() []Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Record(nil), f.recs...)
}

// fakeEncoder encodes a command as its Go syntax, enough to check that the
// value is the encoder's output for the command produced.
type fakeEncoder struct{ err error }

func (e fakeEncoder) EncodeRequest(cmd cart.Command) ([]byte, error) {
	if e.err != nil {
		return nil, e.err
	}
	return fmt.Appendf(nil, "%#v", cmd), nil
}

var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func newTestServer(tb testing.TB, p Producer, mutate ...func(*Config)) *Server {
	tb.Helper()
	cfg := Config{Topic: "cart.requests", Producer: p, Encoder: fakeEncoder{}, Clock: func() time.Time { return testNow }}
	for _, m := range mutate {
		m(&cfg)
	}
	s, err := NewServer(cfg)
	if err != nil {
		tb.Fatalf("NewServer: %v", err)
	}
	return s
}

// wantViolations checks that err is INVALID_ARGUMENT carrying exactly the
// given fields, in order, as google.rpc.BadRequest field violations.
func wantViolations(tb testing.TB, err error, fields ...string) {
	tb.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument {
		tb.Fatalf("error = %v, want INVALID_ARGUMENT", err)
	}
	var got []string
	for _, d := range st.Details() {
		br, ok := d.(*errdetails.BadRequest)
		if !ok {
			tb.Fatalf("detail %T, want *errdetails.BadRequest", d)
		}
		for _, v := range br.GetFieldViolations() {
			if v.GetDescription() == "" {
				tb.Errorf("violation of %s has no description", v.GetField())
			}
			got = append(got, v.GetField())
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(fields) {
		tb.Fatalf("field violations %v, want %v", got, fields)
	}
}

func header(rec Record, key string) (string, bool) {
	for _, h := range rec.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// fixedReader serves fixed bytes as the random source.
type fixedReader struct{ b *bytes.Reader }

func (r fixedReader) Read(p []byte) (int, error) { return r.b.Read(p) }

var errBroken = errors.New("broken")

type brokenReader struct{}

func (brokenReader) Read([]byte) (int, error) { return 0, errBroken }

// fakeOutcomes answers AwaitOutcome with out/err and records the query and
// whether its ctx had a deadline.
type fakeOutcomes struct {
	out         *cartv1.CommandOutcome
	err         error
	block       bool
	got         OutcomeQuery
	hadDeadline bool
}

func (f *fakeOutcomes) AwaitOutcome(ctx context.Context, q OutcomeQuery) (*cartv1.CommandOutcome, error) {
	f.got = q
	_, f.hadDeadline = ctx.Deadline()
	if f.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return f.out, f.err
}
