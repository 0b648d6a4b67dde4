package kafkatest

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Source is where a test broker comes from.
type Source int

const (
	// SourceExternal is a cluster named by KAFKA_BROKERS.
	SourceExternal Source = iota + 1
	// SourceDocker is the apache/kafka image run through dockertest.
	SourceDocker
	// SourceJars is the broker from the Maven Central jars, run by scripts/kafka.
	SourceJars
)

func (s Source) String() string {
	switch s {
	case SourceExternal:
		return "external"
	case SourceDocker:
		return "docker"
	case SourceJars:
		return "jars"
	default:
		return fmt.Sprintf("Source(%d)", int(s))
	}
}

// Choice is the broker source Select picked, and why, for the test log.
type Choice struct {
	Source  Source
	Brokers string // bootstrap addresses; set for SourceExternal only
	Reason  string
}

// Environment variables the harness reads.
const (
	EnvBrokers = "KAFKA_BROKERS"
	EnvForce   = "CARTSTREAM_TEST_KAFKA"
	// EnvNodes asks the harness for a cluster of that many nodes from the
	// jars (default 1).
	EnvNodes = "CARTSTREAM_TEST_KAFKA_NODES"
	// EnvSecure=1 asks for the secured broker (Options.Secure).
	EnvSecure = "CARTSTREAM_TEST_KAFKA_SECURE"
)

// DockerProbe reports whether a Docker engine answers, within ctx.
type DockerProbe func(ctx context.Context) error

// dockerProbeTimeout bounds the Docker check: an engine that does not answer
// quickly is treated as absent rather than stalling every test run.
const dockerProbeTimeout = 3 * time.Second

// Select decides where the broker comes from. It is pure apart from calling
// probe, so the decision is unit-tested on its own.
func Select(ctx context.Context, getenv func(string) string, probe DockerProbe) (Choice, error) {
	brokers := strings.TrimSpace(getenv(EnvBrokers))
	force := strings.ToLower(strings.TrimSpace(getenv(EnvForce)))
	switch force {
	case "", "auto":
	case "external":
		if brokers == "" {
			return Choice{}, fmt.Errorf("%s=external needs %s", EnvForce, EnvBrokers)
		}
		return Choice{Source: SourceExternal, Brokers: brokers, Reason: EnvForce + "=external"}, nil
	case "docker":
		if err := runProbe(ctx, probe); err != nil {
			return Choice{}, fmt.Errorf("%s=docker but no Docker engine answers: %w", EnvForce, err)
		}
		return Choice{Source: SourceDocker, Reason: EnvForce + "=docker"}, nil
	case "jars":
		return Choice{Source: SourceJars, Reason: EnvForce + "=jars"}, nil
	default:
		return Choice{}, fmt.Errorf("%s=%q: want external, docker, jars or auto", EnvForce, force)
	}
	if brokers != "" {
		return Choice{Source: SourceExternal, Brokers: brokers, Reason: EnvBrokers + " is set"}, nil
	}
	if err := runProbe(ctx, probe); err != nil {
		return Choice{Source: SourceJars, Reason: fmt.Sprintf("no Docker engine answers (%v)", err)}, nil
	}
	return Choice{Source: SourceDocker, Reason: "a Docker engine answers"}, nil
}

func runProbe(ctx context.Context, probe DockerProbe) error {
	if probe == nil {
		return fmt.Errorf("no docker probe")
	}
	ctx, cancel := context.WithTimeout(ctx, dockerProbeTimeout)
	defer cancel()
	return probe(ctx)
}
