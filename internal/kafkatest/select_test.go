package kafkatest

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func envOf(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func probeOK(context.Context) error { return nil }

func probeFails(context.Context) error { return errors.New("cannot connect to the Docker daemon") }

func TestSelect(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		probe   DockerProbe
		want    Source
		brokers string
		wantErr bool
	}{
		{name: "brokers set wins over docker", env: map[string]string{EnvBrokers: " 10.0.0.1:9092,10.0.0.2:9092 "}, probe: probeOK, want: SourceExternal, brokers: "10.0.0.1:9092,10.0.0.2:9092"},
		{name: "docker answers", env: nil, probe: probeOK, want: SourceDocker},
		{name: "no docker falls back to jars", env: nil, probe: probeFails, want: SourceJars},
		{name: "nil probe falls back to jars", env: nil, probe: nil, want: SourceJars},
		{name: "auto is the default", env: map[string]string{EnvForce: "auto"}, probe: probeFails, want: SourceJars},
		{name: "force jars over docker", env: map[string]string{EnvForce: "jars"}, probe: probeOK, want: SourceJars},
		{name: "force jars over brokers", env: map[string]string{EnvForce: "JARS", EnvBrokers: "h:1"}, probe: probeOK, want: SourceJars},
		{name: "force docker", env: map[string]string{EnvForce: "docker"}, probe: probeOK, want: SourceDocker},
		{name: "force docker without engine", env: map[string]string{EnvForce: "docker"}, probe: probeFails, wantErr: true},
		{name: "force external", env: map[string]string{EnvForce: "external", EnvBrokers: "h:1"}, probe: probeFails, want: SourceExternal, brokers: "h:1"},
		{name: "force external without brokers", env: map[string]string{EnvForce: "external"}, probe: probeOK, wantErr: true},
		{name: "unknown force", env: map[string]string{EnvForce: "podman"}, probe: probeOK, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Select(t.Context(), envOf(tt.env), tt.probe)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Select = %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Select: %v", err)
			}
			if got.Source != tt.want || got.Brokers != tt.brokers || got.Reason == "" {
				t.Fatalf("Select = %+v, want source %v brokers %q and a reason", got, tt.want, tt.brokers)
			}
		})
	}
}

func TestSelectDoesNotProbeWhenBrokersAreSet(t *testing.T) {
	probed := false
	probe := func(context.Context) error { probed = true; return nil }
	if _, err := Select(t.Context(), envOf(map[string]string{EnvBrokers: "h:1"}), probe); err != nil {
		t.Fatal(err)
	}
	if probed {
		t.Fatal("Select probed Docker although KAFKA_BROKERS was set")
	}
}

// A Docker engine that accepts the connection but never answers must not
// stall the run: the probe is bounded and the jars take over.
func TestSelectHangingDockerFallsBackToJars(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	hang := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	start := time.Now()
	got, err := Select(ctx, envOf(nil), hang)
	if err != nil {
		t.Fatal(err)
	}
	if got.Source != SourceJars {
		t.Fatalf("Select = %+v, want jars", got)
	}
	if d := time.Since(start); d > dockerProbeTimeout+time.Second {
		t.Fatalf("Select took %s with a hanging engine", d)
	}
}

// The real probe against an endpoint where no engine listens, as on a machine
// with the docker CLI but no daemon: it must report an error, not hang or
// panic, so Select picks the jars.
func TestProbeDockerWithoutEngine(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-docker.sock"))
	if err := probeDocker(t.Context()); err == nil {
		t.Fatal("probeDocker succeeded against a socket nobody listens on")
	}
	got, err := Select(t.Context(), envOf(nil), probeDocker)
	if err != nil {
		t.Fatal(err)
	}
	if got.Source != SourceJars {
		t.Fatalf("Select = %+v, want jars", got)
	}
}

func TestBrokerSettingsMatchTheJarBroker(t *testing.T) {
	env, err := brokerSettings()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS=0",
		"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR=1",
		"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR=1",
		"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR=1",
	} {
		if !slices.Contains(env, want) {
			t.Errorf("container settings lack %s; got %v", want, env)
		}
	}
	for _, kv := range env {
		if !strings.HasPrefix(kv, "KAFKA_") || strings.ContainsAny(strings.SplitN(kv, "=", 2)[0], ". ") {
			t.Errorf("malformed container setting %q", kv)
		}
	}
}

func TestUniqueName(t *testing.T) {
	a, b := UniqueName(t, "in"), UniqueName(t, "in")
	if a == b {
		t.Fatalf("two names are equal: %s", a)
	}
	valid := regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)
	t.Run("with spaces/and slashes", func(t *testing.T) {
		if n := UniqueName(t, "out"); !valid.MatchString(n) {
			t.Fatalf("invalid topic name %q", n)
		}
	})
}
