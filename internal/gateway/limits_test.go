package gateway

import (
	"net"
	"testing"
	"time"

	"github.com/cartstream/cartstream/internal/grpclimits"
	"github.com/cartstream/cartstream/internal/grpclimits/grpclimitstest"
)

func serveGateway(t *testing.T, o Options) string {
	t.Helper()
	srv, _, err := newGRPCServer(o.withDefaults(), &fakeProducer{})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// Regression: the gateway's gRPC server allowed unlimited streams per
// connection and never pinged a silent peer.
func TestGatewayServerSetsConnectionLimits(t *testing.T) {
	c := grpclimitstest.Dial(t, serveGateway(t, Options{Encoder: fakeEncoder{}}))
	if n, ok := c.MaxConcurrentStreams(); !ok || n != grpclimits.DefaultMaxConcurrentStreams {
		t.Fatalf("MAX_CONCURRENT_STREAMS %d (announced %t), want the default %d", n, ok, grpclimits.DefaultMaxConcurrentStreams)
	}
	c = grpclimitstest.Dial(t, serveGateway(t, Options{Encoder: fakeEncoder{}, Limits: grpclimits.Limits{MaxConcurrentStreams: 3, KeepaliveTime: time.Second}}))
	if n, _ := c.MaxConcurrentStreams(); n != 3 {
		t.Fatalf("MAX_CONCURRENT_STREAMS %d, want the configured 3", n)
	}
	if !c.AwaitServerPing(10 * time.Second) {
		t.Fatal("no keepalive ping within 10s of silence (keepalive time 1s)")
	}
	if ga := grpclimitstest.Dial(t, serveGateway(t, Options{Encoder: fakeEncoder{}})).PingFlood(10, 10*time.Second); ga == nil {
		t.Fatal("a ping flood was not answered with GOAWAY")
	}
}
