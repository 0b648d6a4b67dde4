package service

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/cartstream/cartstream/internal/txnhealth"
)

// fakeTxn joins (SERVING) when it starts and runs until ctx ends, then
// returns err.
type fakeTxn struct {
	state *txnhealth.State
	err   error
}

func (f *fakeTxn) Run(ctx context.Context) error {
	f.state.Joined()
	<-ctx.Done()
	f.state.Left()
	return f.err
}

func (f *fakeTxn) Health() (txnhealth.Health, <-chan struct{}) { return f.state.Get() }

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// The health endpoint mirrors the service (SERVING once it joined), and
// the exit code says how the service ended.
func TestRunTransactionalMirrorsHealthAndExitCode(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"graceful stop", context.Canceled, 0},
		{"failed", errors.New("session: fatal"), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := freeAddr(t)
			f := &fakeTxn{state: txnhealth.New(log, 3), err: tc.err}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			code := make(chan int, 1)
			go func() { code <- RunTransactional(ctx, f, TransactionalEndpoints{HealthAddr: addr}, log) }()

			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			hc := healthpb.NewHealthClient(conn)
			deadline := time.Now().Add(10 * time.Second)
			for {
				cctx, ccancel := context.WithTimeout(ctx, time.Second)
				resp, err := hc.Check(cctx, &healthpb.HealthCheckRequest{})
				ccancel()
				if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("health never SERVING: %v %v", resp.GetStatus(), err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			cancel()
			select {
			case got := <-code:
				if got != tc.want {
					t.Fatalf("exit code %d, want %d", got, tc.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("RunTransactional did not return after the stop")
			}
		})
	}
}
