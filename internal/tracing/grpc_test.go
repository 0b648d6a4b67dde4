package tracing

import (
	"context"
	"net"
	"testing"

	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/test/bufconn"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

type emptyServer struct {
	testgrpc.UnimplementedTestServiceServer
}

func (emptyServer) EmptyCall(context.Context, *testgrpc.Empty) (*testgrpc.Empty, error) {
	return &testgrpc.Empty{}, nil
}

// serve serves the test service over an in-memory listener with so and
// returns a client dialled with do.
func serve(tb testing.TB, so grpc.ServerOption, do grpc.DialOption) testgrpc.TestServiceClient {
	tb.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(so)
	testgrpc.RegisterTestServiceServer(srv, emptyServer{})
	go func() { _ = srv.Serve(lis) }()
	tb.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()), do)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return testgrpc.NewTestServiceClient(conn)
}

// With a provider that records, both sides make spans; with the no-op one
// neither installs a stats handler at all (gRPC then skips the per-message
// stats it would build for one).
func TestGRPCOptionsFollowTheProvider(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	c := serve(t, ServerOption(tp), DialOption(tp))
	if _, err := c.EmptyCall(context.Background(), &testgrpc.Empty{}); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Ended()); n != 2 {
		t.Fatalf("recording provider: %d spans ended, want 2 (client and server)", n)
	}
	off := noop.NewTracerProvider()
	if _, ok := ServerOption(off).(grpc.EmptyServerOption); !ok {
		t.Errorf("no-op provider: ServerOption is %T, want none", ServerOption(off))
	}
	if _, ok := DialOption(off).(grpc.EmptyDialOption); !ok {
		t.Errorf("no-op provider: DialOption is %T, want none", DialOption(off))
	}
}

// BenchmarkUnaryCall: what the stats handlers cost a unary call when
// tracing is off (the default of every binary).
func BenchmarkUnaryCall(b *testing.B) {
	off := noop.NewTracerProvider()
	for _, bc := range []struct {
		name string
		so   grpc.ServerOption
		do   grpc.DialOption
	}{
		{"handlers-noop", grpc.StatsHandler(newServerHandler(off)), grpc.WithStatsHandler(newClientHandler(off))},
		{"off", ServerOption(off), DialOption(off)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := serve(b, bc.so, bc.do)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.EmptyCall(ctx, &testgrpc.Empty{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
