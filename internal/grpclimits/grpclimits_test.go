package grpclimits_test

import (
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"

	"github.com/cartstream/cartstream/internal/grpclimits"
	"github.com/cartstream/cartstream/internal/grpclimits/grpclimitstest"
)

func serve(t *testing.T, opts ...grpc.ServerOption) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// The server announces its stream limit, pings a silent peer, and sends
// GOAWAY too_many_pings to a client that pings faster than allowed.
func TestLimitsApplyOnTheWire(t *testing.T) {
	addr := serve(t, grpclimits.Limits{MaxConcurrentStreams: 7, KeepaliveTime: time.Second}.ServerOptions()...)
	c := grpclimitstest.Dial(t, addr)
	if n, ok := c.MaxConcurrentStreams(); !ok || n != 7 {
		t.Fatalf("MAX_CONCURRENT_STREAMS %d (announced %t), want 7", n, ok)
	}
	if !c.AwaitServerPing(10 * time.Second) {
		t.Fatal("no keepalive ping from the server within 10s of silence (keepalive time 1s)")
	}
	flood := grpclimitstest.Dial(t, addr)
	ga := flood.PingFlood(10, 10*time.Second)
	if ga == nil || ga.ErrCode != http2.ErrCodeEnhanceYourCalm || string(ga.DebugData()) != "too_many_pings" {
		t.Fatalf("after a ping flood: GOAWAY %v, want ENHANCE_YOUR_CALM too_many_pings", ga)
	}
}

// A client that pings at the allowed interval, without calls in flight
// (a gateway's idle connection to its projection), is not refused.
func TestIdleClientPingingAtTheAllowedIntervalIsKept(t *testing.T) {
	addr := serve(t, grpclimits.Limits{MinPingInterval: 50 * time.Millisecond}.ServerOptions()...)
	c := grpclimitstest.Dial(t, addr)
	c.MaxConcurrentStreams()
	for range 4 {
		start := time.Now()
		if ga := c.PingFlood(1, 100*time.Millisecond); ga != nil {
			t.Fatalf("GOAWAY %v %q for a ping every 100ms (allowed: 50ms)", ga.ErrCode, ga.DebugData())
		}
		if d := time.Since(start); d < 100*time.Millisecond {
			t.Fatalf("PingFlood returned after %v", d) // it reads until its deadline
		}
	}
}

func TestDefaults(t *testing.T) {
	l := grpclimits.Limits{}.WithDefaults()
	if l.MaxConcurrentStreams != grpclimits.DefaultMaxConcurrentStreams || l.KeepaliveTime != grpclimits.DefaultKeepaliveTime ||
		l.KeepaliveTimeout != grpclimits.DefaultKeepaliveTimeout || l.MinPingInterval != grpclimits.DefaultMinPingInterval {
		t.Fatalf("defaults: %+v", l)
	}
	if err := (grpclimits.Limits{KeepaliveTime: time.Millisecond, MinPingInterval: -1}).Validate(); err == nil {
		t.Fatal("bad limits validated")
	}
}
