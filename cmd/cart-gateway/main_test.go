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
	c, err := parseConfig(nil, env(nil), io.Discard)
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
