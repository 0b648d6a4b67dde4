package main

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cartstream/cartstream/internal/topics"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseConfigDefaults(t *testing.T) {
	c, err := parseConfig([]string{"-auth-dev-mode"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.grpcAddr != "127.0.0.1:50051" || c.brokers != "127.0.0.1:9092" || c.topics != topics.DefaultSet() ||
		c.partitions != 12 || c.replication != -1 || c.maxRecvBytes != 64<<10 || c.logFormat != "text" || c.logLevel != slog.LevelInfo {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestParseConfigEnvThenFlags(t *testing.T) {
	e := env(map[string]string{
		"CARTSTREAM_GRPC_ADDR": "0.0.0.0:6000", "KAFKA_BROKERS": "k1:9092,k2:9092", "CARTSTREAM_TOPIC_PREFIX": "staging.",
		"CARTSTREAM_PARTITIONS": "6", "CARTSTREAM_SHUTDOWN_TIMEOUT": "3s", "CARTSTREAM_LOG_FORMAT": "json",
		"CARTSTREAM_AUTH_DEV_MODE": "true",
	})
	c, err := parseConfig([]string{"-partitions", "24", "-log-level", "debug"}, e, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.grpcAddr != "0.0.0.0:6000" || c.brokers != "k1:9092,k2:9092" || c.topics.Requests != "staging.cart.requests" ||
		c.partitions != 24 || c.shutdownTimeout != 3*time.Second || c.logFormat != "json" || c.logLevel != slog.LevelDebug {
		t.Fatalf("config: %+v", c)
	}
}

func TestParseConfigReportsEveryProblem(t *testing.T) {
	e := env(map[string]string{"CARTSTREAM_PARTITIONS": "many", "CARTSTREAM_SHUTDOWN_TIMEOUT": "soon"})
	_, err := parseConfig([]string{"-log-format", "xml", "-log-level", "loud", "extra"}, e, io.Discard)
	if !errors.Is(err, errUsage) {
		t.Fatalf("err = %v, want a usage error", err)
	}
	for _, want := range []string{"CARTSTREAM_PARTITIONS", "CARTSTREAM_SHUTDOWN_TIMEOUT", "log format", "log level", "unexpected arguments"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, missing %q", err, want)
		}
	}
}

// Issue 12: a deployable gateway must be told how to authenticate; it
// never falls back to development mode silently.
func TestParseConfigNeedsAnAuthChoice(t *testing.T) {
	_, err := parseConfig(nil, env(nil), io.Discard)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "-auth-jwks") || !strings.Contains(err.Error(), "-auth-dev-mode") {
		t.Fatalf("err = %v, want a usage error naming the auth flags", err)
	}
	e := env(map[string]string{"CARTSTREAM_AUTH_JWKS": "/etc/cartstream/jwks.json", "CARTSTREAM_AUTH_ISSUER": "https://id.example.test/",
		"CARTSTREAM_AUTH_AUDIENCE": "cartstream", "CARTSTREAM_RATE_GLOBAL": "500"})
	c, err := parseConfig([]string{"-rate-customer", "5", "-auth-customer-claim", "cid"}, e, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a, r := c.callers.Auth, c.callers.Rates
	if a.DevMode || a.JWKS != "/etc/cartstream/jwks.json" || a.CustomerClaim != "cid" || a.RolesClaim != "roles" || a.ClockSkew != 30*time.Second ||
		r.PerCustomer != 5 || r.PerCustomerBurst != 40 || r.Global != 500 {
		t.Fatalf("callers: %+v", c.callers)
	}
	_, err = parseConfig([]string{"-auth-dev-mode", "-auth-jwks", "k.json", "-rate-customer", "-1"}, env(nil), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "choose one") || !strings.Contains(err.Error(), "negative") {
		t.Fatalf("err = %v, want both problems", err)
	}
}

func TestParseConfigProjectionGroupExcludesOneAddress(t *testing.T) {
	c, err := parseConfig([]string{"-auth-dev-mode", "-projection-group"}, env(nil), io.Discard)
	if err != nil || !c.projectionGroup {
		t.Fatalf("-projection-group: %+v, %v", c.projectionGroup, err)
	}
	_, err = parseConfig([]string{"-auth-dev-mode", "-projection-group", "-projection-addr", "127.0.0.1:50052"}, env(nil), io.Discard)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "exclude each other") {
		t.Fatalf("both: %v, want a usage error", err)
	}
}

// -max-carts-per-customer: the gateway's default, the environment, and a
// bound the read side cannot count refused.
func TestParseConfigMaxCartsPerCustomer(t *testing.T) {
	c, err := parseConfig([]string{"-auth-dev-mode"}, env(nil), io.Discard)
	if err != nil || c.callers.MaxCarts != 20 {
		t.Fatalf("default: %d, %v; want 20", c.callers.MaxCarts, err)
	}
	c, err = parseConfig([]string{"-auth-dev-mode"}, env(map[string]string{"CARTSTREAM_MAX_CARTS_PER_CUSTOMER": "0"}), io.Discard)
	if err != nil || c.callers.MaxCarts != 0 {
		t.Fatalf("env 0: %d, %v; want off", c.callers.MaxCarts, err)
	}
	if _, err := parseConfig([]string{"-auth-dev-mode", "-max-carts-per-customer", "-1"}, env(nil), io.Discard); !errors.Is(err, errUsage) {
		t.Fatalf("-1: %v, want a usage error", err)
	}
}
