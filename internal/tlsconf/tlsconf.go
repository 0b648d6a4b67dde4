// Package tlsconf builds the TLS configurations of cartstream's gRPC and
// HTTP listeners and of the gateway's client to the read side: a server
// certificate and key, a client CA for mutual TLS between services, and
// certificates reloaded from disk when they change, so a rotation needs no
// restart (docs/security.md).
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Server is a listener's TLS settings. The zero value is plaintext.
type Server struct {
	// CertFile and KeyFile are the PEM server certificate (chain) and key.
	CertFile, KeyFile string
	// ClientCAFile, when set, turns on mutual TLS: every client must
	// present a certificate signed by one of its CAs.
	ClientCAFile string
}

// Enabled reports whether TLS is configured.
func (s Server) Enabled() bool { return s.CertFile != "" || s.KeyFile != "" || s.ClientCAFile != "" }

// Config is the listener's tls.Config, nil for plaintext. The certificate
// is read now (a bad file fails the start) and again whenever its files
// change.
func (s Server) Config() (*tls.Config, error) {
	if !s.Enabled() {
		return nil, nil
	}
	if s.CertFile == "" || s.KeyFile == "" {
		return nil, errors.New("tls: a certificate and its key are both needed (a client CA alone is not TLS)")
	}
	kp, err := newKeyPair(s.CertFile, s.KeyFile)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return kp.get() },
		NextProtos:     []string{"h2", "http/1.1"},
	}
	if s.ClientCAFile != "" {
		pool, err := loadPool(s.ClientCAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// Client is a client's TLS settings. The zero value is plaintext.
type Client struct {
	// CAFile verifies the server; empty with TLS on: the system's roots.
	CAFile string
	// CertFile and KeyFile are the client certificate for mutual TLS.
	CertFile, KeyFile string
	// ServerName overrides the name verified in the server certificate.
	ServerName string
	// On turns TLS on even without any file (the system's roots).
	On bool
}

// Enabled reports whether TLS is configured.
func (c Client) Enabled() bool {
	return c.On || c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || c.ServerName != ""
}

// Config is the client's tls.Config, nil for plaintext.
func (c Client) Config() (*tls.Config, error) {
	if !c.Enabled() {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if c.CAFile != "" {
		pool, err := loadPool(c.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("tls: a client certificate and its key are both needed")
	}
	if c.CertFile != "" {
		kp, err := newKeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return kp.get() }
	}
	return cfg, nil
}

func loadPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tls: CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("tls: CA %s: no PEM certificate in it", file)
	}
	return pool, nil
}

// keyPair is a certificate and key read from files and read again, at
// most every recheck, when either file's modification time changed: a
// rotated certificate is served from the next handshake on. A rotation
// caught half-written keeps the previous pair until the files match.
type keyPair struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]time.Time
	checked time.Time
}

const recheck = time.Second

func newKeyPair(certFile, keyFile string) (*keyPair, error) {
	kp := &keyPair{certFile: certFile, keyFile: keyFile}
	if err := kp.load(); err != nil {
		return nil, err
	}
	return kp, nil
}

func (kp *keyPair) load() error {
	stamp, err := stamps(kp.certFile, kp.keyFile)
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(kp.certFile, kp.keyFile)
	if err != nil {
		return fmt.Errorf("tls: certificate %s and key %s: %w", kp.certFile, kp.keyFile, err)
	}
	kp.cert, kp.stamp = &cert, stamp
	return nil
}

func (kp *keyPair) get() (*tls.Certificate, error) {
	kp.mu.Lock()
	defer kp.mu.Unlock()
	if time.Since(kp.checked) >= recheck {
		kp.checked = time.Now()
		if stamp, err := stamps(kp.certFile, kp.keyFile); err == nil && stamp != kp.stamp {
			_ = kp.load() // a failed reload keeps serving the previous pair
		}
	}
	return kp.cert, nil
}

func stamps(files ...string) ([2]time.Time, error) {
	var out [2]time.Time
	for i, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return out, fmt.Errorf("tls: %w", err)
		}
		out[i] = st.ModTime()
	}
	return out, nil
}
