package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

// The gRPC server serves two doors: the network listener (TLS or mutual
// TLS when configured: -tls-cert, -tls-key, -tls-client-ca) and an
// in-memory loopback for the process's own HTTP side. TLS is terminated
// in the network listener, not by gRPC credentials, so the HTTP side needs
// neither a client certificate of its own (under mutual TLS) nor to trust
// the server's CA: its calls never leave the process.

// loopbackBuffer is the in-memory loopback's buffer per direction.
const loopbackBuffer = 1 << 20

// doors are the listeners New made.
type doors struct {
	grpc     net.Listener // what the gateway serves: the network side and the loopback
	loopback *bufconn.Listener
	http     net.Listener
	grpcTLS  bool
	httpTLS  bool
}

// listen opens the gRPC and HTTP listeners of cfg, with TLS where asked.
func listen(cfg Config) (*doors, error) {
	grpcTLS, err := cfg.GRPCTLS.Config()
	if err != nil {
		return nil, fmt.Errorf("cartstream: gRPC TLS: %w", err)
	}
	httpTLS, err := cfg.HTTPTLS.Config()
	if err != nil {
		return nil, fmt.Errorf("cartstream: HTTP TLS: %w", err)
	}
	grpcLis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return nil, fmt.Errorf("cartstream: gRPC address: %w", err)
	}
	httpLis, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		_ = grpcLis.Close()
		return nil, fmt.Errorf("cartstream: HTTP address: %w", err)
	}
	d := &doors{loopback: bufconn.Listen(loopbackBuffer), http: httpLis, grpcTLS: grpcTLS != nil, httpTLS: httpTLS != nil}
	if grpcTLS != nil {
		grpcTLS.NextProtos = []string{"h2"} // gRPC clients insist on ALPN h2
		grpcLis = tls.NewListener(grpcLis, grpcTLS)
	}
	if httpTLS != nil {
		d.http = tls.NewListener(httpLis, httpTLS) // net/http serves h2 on it too
	}
	d.grpc = newMerged(grpcLis, d.loopback)
	return d, nil
}

// dialLoopback is the HTTP side's connection to the gateway, in memory.
func (d *doors) dialLoopback() (*grpc.ClientConn, error) {
	return grpc.NewClient("passthrough:///cartstream-loopback",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return d.loopback.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// merged accepts the connections of several listeners; Addr is the
// first's. Close closes them all. Its accept goroutines end when their
// listener is closed.
type merged struct {
	ls     []net.Listener
	conns  chan accepted
	start  sync.Once
	closed chan struct{}
	close  sync.Once
	wg     sync.WaitGroup
}

type accepted struct {
	c   net.Conn
	err error
}

func newMerged(ls ...net.Listener) *merged {
	return &merged{ls: ls, conns: make(chan accepted), closed: make(chan struct{})}
}

func (m *merged) Addr() net.Addr { return m.ls[0].Addr() }

// Accept returns the next connection of any listener, or the first error
// one of them returns (the server then stops, as with one listener).
func (m *merged) Accept() (net.Conn, error) {
	m.start.Do(func() {
		for _, l := range m.ls {
			m.wg.Add(1)
			go m.accept(l)
		}
	})
	select {
	case a := <-m.conns:
		return a.c, a.err
	case <-m.closed:
		return nil, net.ErrClosed
	}
}

func (m *merged) accept(l net.Listener) {
	defer m.wg.Done()
	for {
		c, err := l.Accept()
		select {
		case m.conns <- accepted{c, err}:
		case <-m.closed:
			if c != nil {
				_ = c.Close()
			}
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
	}
}

func (m *merged) Close() error {
	var err error
	m.close.Do(func() {
		close(m.closed)
		for _, l := range m.ls {
			err = errors.Join(err, l.Close())
		}
	})
	m.wg.Wait()
	return err
}
