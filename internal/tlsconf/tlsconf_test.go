package tlsconf

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// pki is a test CA that signs server and client certificates into dir.
type pki struct {
	t    *testing.T
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, IsCA: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	p := &pki{t: t, dir: t.TempDir(), cert: cert, key: key}
	p.write(name+"-ca.pem", "CERTIFICATE", der)
	return p
}

func (p *pki) write(name, typ string, der []byte) string {
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		p.t.Fatal(err)
	}
	return path
}

func (p *pki) caFile() string { return filepath.Join(p.dir, p.cert.Subject.CommonName+"-ca.pem") }

// issue signs a leaf for cn (server and client use) and writes it as
// <file>.pem and <file>-key.pem.
func (p *pki) issue(file, cn string, serial int64) (certFile, keyFile string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		p.t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		p.t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		p.t.Fatal(err)
	}
	return p.write(file+".pem", "CERTIFICATE", der), p.write(file+"-key.pem", "EC PRIVATE KEY", kder)
}

// serve runs a gRPC health server with cfg and returns its address.
func serve(t *testing.T, s Server) string {
	t.Helper()
	cfg, err := s.Config()
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(cfg)))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func check(t *testing.T, addr string, c Client) (*tlsPeer, error) {
	t.Helper()
	cfg, err := c.Config()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var p tlsPeer
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p.p))
	return &p, err
}

// Issue 12: with a client CA the listener requires a client certificate
// signed by it (mutual TLS); a client verifies the server against its CA.
func TestMutualTLS(t *testing.T) {
	ca := newPKI(t, "cartstream")
	other := newPKI(t, "intruder")
	srvCert, srvKey := ca.issue("projection", "localhost", 10)
	gwCert, gwKey := ca.issue("gateway", "gateway", 11)
	badCert, badKey := other.issue("gateway", "gateway", 12)
	addr := serve(t, Server{CertFile: srvCert, KeyFile: srvKey, ClientCAFile: ca.caFile()})

	if _, err := check(t, addr, Client{CAFile: ca.caFile(), CertFile: gwCert, KeyFile: gwKey, ServerName: "localhost"}); err != nil {
		t.Fatalf("mutual TLS with the right certificates: %v", err)
	}
	if _, err := check(t, addr, Client{CAFile: ca.caFile(), ServerName: "localhost"}); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	if _, err := check(t, addr, Client{CAFile: ca.caFile(), CertFile: badCert, KeyFile: badKey, ServerName: "localhost"}); err == nil {
		t.Fatal("a client certificate from another CA was served")
	}
	if _, err := check(t, addr, Client{CAFile: other.caFile(), CertFile: gwCert, KeyFile: gwKey, ServerName: "localhost"}); err == nil {
		t.Fatal("the client trusted a server its CA did not sign")
	}
}

// Issue 12: a rotated certificate is served from the next handshake on,
// without a restart.
func TestCertificateRotation(t *testing.T) {
	ca := newPKI(t, "cartstream")
	certFile, keyFile := ca.issue("server", "localhost", 20)
	addr := serve(t, Server{CertFile: certFile, KeyFile: keyFile})
	client := Client{CAFile: ca.caFile(), ServerName: "localhost"}
	serial := func() int64 {
		t.Helper()
		p, err := check(t, addr, client)
		if err != nil {
			t.Fatal(err)
		}
		return p.serial()
	}
	if s := serial(); s != 20 {
		t.Fatalf("serial %d, want 20", s)
	}
	// Rotate: a new pair written over the files, with a later mtime.
	newCert, newKey := ca.issue("rotated", "localhost", 21)
	later := time.Now().Add(2 * time.Second)
	for src, dst := range map[string]string{newCert: certFile, newKey: keyFile} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(dst, later, later); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for serial() != 21 {
		if time.Now().After(deadline) {
			t.Fatal("the rotated certificate was never served")
		}
		time.Sleep(100 * time.Millisecond) // the reload is checked at most every second
	}
}

func TestConfigErrors(t *testing.T) {
	if cfg, err := (Server{}).Config(); cfg != nil || err != nil {
		t.Fatalf("plaintext: %v %v", cfg, err)
	}
	if _, err := (Server{ClientCAFile: "ca.pem"}).Config(); err == nil {
		t.Fatal("a client CA without a certificate was accepted")
	}
	if _, err := (Server{CertFile: "missing.pem", KeyFile: "missing-key.pem"}).Config(); err == nil {
		t.Fatal("a missing certificate was accepted")
	}
	if _, err := (Client{CertFile: "c.pem"}).Config(); err == nil {
		t.Fatal("a client certificate without its key was accepted")
	}
}
