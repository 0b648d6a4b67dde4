package grpclimits_test

import (
	"context"
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/cartstream/cartstream/internal/grpclimits"
)

// pingCounter counts the HTTP/2 PING frames (not their ACKs) one side of a
// connection writes, parsing the frames as the bytes pass.
type pingCounter struct {
	mu    sync.Mutex
	skip  int // the client's connection preface, not a frame
	buf   []byte
	pings atomic.Int64
}

func (p *pingCounter) feed(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	if n := min(p.skip, len(p.buf)); n > 0 {
		p.buf, p.skip = p.buf[n:], p.skip-n
	}
	for len(p.buf) >= 9 {
		n := 9 + int(binary.BigEndian.Uint32(append([]byte{0}, p.buf[:3]...)))
		if len(p.buf) < n {
			return
		}
		if typ, flags := p.buf[3], p.buf[4]; typ == 0x6 && flags&0x1 == 0 {
			p.pings.Add(1)
		}
		p.buf = p.buf[n:]
	}
}

// countingConn counts the pings the client writes (out) and reads (in).
type countingConn struct {
	net.Conn
	out, in *pingCounter
}

func (c countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.out.feed(b[:n])
	return n, err
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.in.feed(b[:n])
	return n, err
}

// Sequential small calls between a cartstream server and client cost no
// PING frames: grpc-go's bandwidth-delay estimator, off with static
// windows, would send one per call each way (issue 15: the routed hop).
func TestSmallCallsSendNoPings(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpclimits.Limits{}.ServerOptions()...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	out, in := &pingCounter{skip: len("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")}, &pingCounter{}
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return countingConn{Conn: c, out: out, in: in}, nil
	}
	opts := append(grpclimits.ClientWindows(), grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithContextDialer(dial))
	cc, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	hc := healthpb.NewHealthClient(cc)
	for range 20 {
		if _, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if o, i := out.pings.Load(), in.pings.Load(); o != 0 || i != 0 {
		t.Fatalf("20 calls: the client sent %d pings, the server %d; want none", o, i)
	}
}
