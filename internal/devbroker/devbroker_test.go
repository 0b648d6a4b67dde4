package devbroker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/catalog"
	"github.com/cartstream/cartstream/internal/devbroker"
	"github.com/cartstream/cartstream/internal/records"
	"github.com/cartstream/cartstream/internal/topics"
)

func TestSeedCatalogOnlyIntoAnEmptyTopic(t *testing.T) {
	set := topics.DefaultSet()
	b, err := devbroker.Start(t.Context(), devbroker.Config{Topics: set, TopicConfig: topics.Config{Partitions: 3}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !strings.HasPrefix(b.Addr(), "127.0.0.1:") {
		t.Errorf("addr %s: want 127.0.0.1", b.Addr())
	}
	if !strings.Contains(b.Banner(), "DEVELOPMENT BROKER") || !strings.Contains(b.Banner(), "IN MEMORY") {
		t.Errorf("banner does not warn:\n%s", b.Banner())
	}
	codec, err := records.New(records.Config{})
	if err != nil {
		t.Fatal(err)
	}
	demo, err := catalog.Demo()
	if err != nil {
		t.Fatal(err)
	}
	cfg := devbroker.SeedConfig{
		Client: kafka.ConfigMap{"bootstrap.servers": b.Addr()}, Topic: set.Catalog, Encoder: codec, Products: demo,
	}
	ctx := t.Context()
	n, err := devbroker.SeedCatalog(ctx, cfg)
	if err != nil || n != len(demo) {
		t.Fatalf("first seed: %d, %v; want %d", n, err, len(demo))
	}
	n, err = devbroker.SeedCatalog(ctx, cfg)
	if err != nil || n != 0 {
		t.Fatalf("second seed: %d, %v; want 0 (the topic has records)", n, err)
	}
	cfg.Topic = "no-such-topic"
	short, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if _, err := devbroker.SeedCatalog(short, cfg); err == nil {
		t.Error("seed into a missing topic: no error")
	}
}

func TestConfigAndDataDir(t *testing.T) {
	if err := (devbroker.Config{Port: 70000}).Validate(); err == nil {
		t.Error("port 70000: no error")
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if got := devbroker.DefaultDataDir(env(nil), "/w"); got != "/w/.cartstream-dev/broker" {
		t.Errorf("no XDG_DATA_HOME: %s", got)
	}
	if got := devbroker.DefaultDataDir(env(map[string]string{"XDG_DATA_HOME": "/x"}), "/w"); got != "/x/cartstream/dev-broker" {
		t.Errorf("XDG_DATA_HOME=/x: %s", got)
	}
	if got := devbroker.DefaultDataDir(env(map[string]string{"XDG_DATA_HOME": "rel"}), "/w"); got != "/w/.cartstream-dev/broker" {
		t.Errorf("relative XDG_DATA_HOME is ignored (XDG spec): %s", got)
	}
}
