package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cartstream/cartstream/cmd/cartstream/app"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseDefaults(t *testing.T) {
	o, err := parse(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.Brokers != "" || c.GRPCAddr != app.DefaultGRPCAddr || c.HTTPAddr != app.DefaultHTTPAddr {
		t.Errorf("defaults: brokers %q grpc %q http %q", c.Brokers, c.GRPCAddr, c.HTTPAddr)
	}
	wd, _ := os.Getwd()
	if c.DevBroker.DataDir != filepath.Join(wd, ".cartstream-dev", "broker") {
		t.Errorf("data dir %q", c.DevBroker.DataDir)
	}
	if len(c.Catalog) < 20 {
		t.Errorf("demo catalog: %d products", len(c.Catalog))
	}
	if c.Topics.Requests != "cart.requests" {
		t.Errorf("topics %+v", c.Topics)
	}
}

func TestParseEnvironmentAndFlags(t *testing.T) {
	o, err := parse([]string{"-http-addr", "127.0.0.1:9999", "-catalog", "none"}, env(map[string]string{
		"KAFKA_BROKERS":            " 127.0.0.1:9092 ",
		"CARTSTREAM_HTTP_ADDR":     "127.0.0.1:1",
		"CARTSTREAM_GRPC_ADDR":     "127.0.0.1:2",
		"CARTSTREAM_TOPIC_PREFIX":  "t1.",
		"CARTSTREAM_DEV_IN_MEMORY": "true",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.Brokers != "127.0.0.1:9092" || c.HTTPAddr != "127.0.0.1:9999" || c.GRPCAddr != "127.0.0.1:2" {
		t.Errorf("brokers %q http %q grpc %q", c.Brokers, c.HTTPAddr, c.GRPCAddr)
	}
	if c.Catalog != nil || c.DevBroker.DataDir != "" || c.Topics.Catalog != "t1.catalog.products" {
		t.Errorf("catalog %d, data dir %q, topics %+v", len(c.Catalog), c.DevBroker.DataDir, c.Topics)
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	_, err := parse([]string{"-log-level", "loud"}, env(map[string]string{
		"CARTSTREAM_PARTITIONS":    "many",
		"CARTSTREAM_DEV_IN_MEMORY": "maybe",
		"CARTSTREAM_CATALOG":       "/no/such/file.json",
	}), io.Discard)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"CARTSTREAM_PARTITIONS", "CARTSTREAM_DEV_IN_MEMORY", "/no/such/file.json", "loud"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

// Issue 12: `make run` is development mode unless it is given a JWKS; then
// it verifies tokens, and asking for both is refused.
func TestParseAuthDefaultsToDevelopmentMode(t *testing.T) {
	o, err := parse(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !o.cfg.Auth.DevMode || o.cfg.RateLimits.PerCustomer != 20 || o.cfg.RateLimits.PerCustomerBurst != 40 {
		t.Fatalf("auth %+v rates %+v", o.cfg.Auth, o.cfg.RateLimits)
	}
	o, err = parse([]string{"-auth-jwks", "jwks.json", "-auth-issuer", "https://id.example.test/", "-auth-audience", "cartstream"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.cfg.Auth.DevMode || o.cfg.Auth.JWKS != "jwks.json" {
		t.Fatalf("with a JWKS: %+v", o.cfg.Auth)
	}
	_, err = parse([]string{"-auth-jwks", "jwks.json"}, env(map[string]string{"CARTSTREAM_AUTH_DEV_MODE": "true"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "choose one") {
		t.Fatalf("dev mode and a JWKS: %v", err)
	}
}

// -max-carts-per-customer reaches the app's config: the gateway's default,
// 0 turns it off, and a value the read side cannot count is a usage error.
func TestParseMaxCartsPerCustomer(t *testing.T) {
	o, err := parse(nil, env(nil), io.Discard)
	if err != nil || o.cfg.MaxCartsPerCustomer != 20 {
		t.Fatalf("default: %d, %v; want 20", o.cfg.MaxCartsPerCustomer, err)
	}
	o, err = parse([]string{"-max-carts-per-customer", "0"}, env(map[string]string{"CARTSTREAM_MAX_CARTS_PER_CUSTOMER": "7"}), io.Discard)
	if err != nil || o.cfg.MaxCartsPerCustomer != 0 {
		t.Fatalf("flag over env: %d, %v; want 0", o.cfg.MaxCartsPerCustomer, err)
	}
	if _, err := parse([]string{"-max-carts-per-customer", "101"}, env(nil), io.Discard); err == nil || !strings.Contains(err.Error(), "max carts per customer") {
		t.Fatalf("101: %v, want a usage error naming the bound", err)
	}
}

// The listeners' TLS flags reach the app's config: -tls-* for gRPC (as
// cart-gateway's), -http-tls-* for HTTP.
func TestParseTLSFlags(t *testing.T) {
	o, err := parse([]string{"-tls-cert", "g.crt", "-tls-key", "g.key", "-tls-client-ca", "ca.crt", "-http-tls-cert", "h.crt"},
		env(map[string]string{"CARTSTREAM_HTTP_TLS_KEY": "h.key"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	g, h := o.cfg.GRPCTLS, o.cfg.HTTPTLS
	if g.CertFile != "g.crt" || g.KeyFile != "g.key" || g.ClientCAFile != "ca.crt" || h.CertFile != "h.crt" || h.KeyFile != "h.key" || h.ClientCAFile != "" {
		t.Fatalf("gRPC TLS %+v, HTTP TLS %+v", g, h)
	}
}
