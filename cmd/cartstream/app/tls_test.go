package app_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/cartstream/cartstream/cmd/cartstream/app"
	"github.com/cartstream/cartstream/internal/tlsconf"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// testPKI is a CA made in the test and the PEM files it signed.
type testPKI struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caPool *x509.CertPool
	serial int64
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cartstream test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{dir: t.TempDir(), ca: ca, caKey: key, caPool: x509.NewCertPool(), serial: 1}
	p.caPool.AddCert(ca)
	p.write(t, "ca.crt", "CERTIFICATE", der)
	return p
}

func (p *testPKI) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// issue signs a certificate for 127.0.0.1 (server) or a client; it
// returns the certificate and key files.
func (p *testPKI) issue(t *testing.T, name string, usage x509.ExtKeyUsage) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, name+".crt", "CERTIFICATE", der), p.write(t, name+".key", "PRIVATE KEY", kder)
}

// The one-process binary serves gRPC over mutual TLS and HTTP over TLS
// when asked: a client with a certificate of the CA is served, one without
// or in plaintext is not; the storefront's HTTP side still reaches the
// gateway (its calls stay in the process) and answers over HTTPS only.
func TestOneProcessServesTLSAndMutualTLS(t *testing.T) {
	pki := newTestPKI(t)
	srvCert, srvKey := pki.issue(t, "server", x509.ExtKeyUsageServerAuth)
	cliCert, cliKey := pki.issue(t, "client", x509.ExtKeyUsageClientAuth)
	caFile := filepath.Join(pki.dir, "ca.crt")
	r := start(t, "", func(c *app.Config) {
		c.GRPCTLS = tlsconf.Server{CertFile: srvCert, KeyFile: srvKey, ClientCAFile: caFile}
		c.HTTPTLS = tlsconf.Server{CertFile: srvCert, KeyFile: srvKey}
	})

	dial := func(creds credentials.TransportCredentials) error {
		conn, err := grpc.NewClient(r.app.GRPCAddr(), grpc.WithTransportCredentials(creds))
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: cartv1.CartService_ServiceDesc.ServiceName})
		if err == nil && resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health over TLS: %v", resp.GetStatus())
		}
		return err
	}
	pair, err := tls.LoadX509KeyPair(cliCert, cliKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := dial(credentials.NewTLS(&tls.Config{RootCAs: pki.caPool, Certificates: []tls.Certificate{pair}})); err != nil {
		t.Fatalf("gRPC with a client certificate of the CA: %v", err)
	}
	if err := dial(credentials.NewTLS(&tls.Config{RootCAs: pki.caPool})); err == nil {
		t.Error("gRPC without a client certificate was served")
	}
	if err := dial(insecure.NewCredentials()); err == nil {
		t.Error("plaintext gRPC was served")
	}

	if r.app.StorefrontURL()[:8] != "https://" {
		t.Errorf("storefront URL %s, want https", r.app.StorefrontURL())
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.caPool}}}
	resp, err := hc.Get("https://" + r.app.HTTPAddr() + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz over HTTPS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz over HTTPS: HTTP %d, want 200 (the HTTP side reaches the gateway)", resp.StatusCode)
	}
	plain, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + r.app.HTTPAddr() + "/healthz")
	if err == nil {
		plain.Body.Close()
		if plain.StatusCode == http.StatusOK {
			t.Error("plaintext HTTP was served")
		}
	}
}
