package kafkatest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ory/dockertest/v3"
	dc "github.com/ory/dockertest/v3/docker"
)

// dockerImageTag follows the jar version in scripts/kafka/env.sh, so both
// sources run the same broker.
const dockerImageTag = "4.1.1"

// dockerExpireSeconds bounds a container's life even if the test binary is
// killed before it can purge it.
const dockerExpireSeconds = 30 * 60

// probeDocker reports whether a Docker engine answers at DOCKER_HOST or the
// default socket.
func probeDocker(ctx context.Context) error {
	pool, err := dockertest.NewPool("")
	if err != nil {
		return fmt.Errorf("docker client: %w", err)
	}
	if err := pool.Client.PingWithContext(ctx); err != nil {
		return fmt.Errorf("docker ping: %w", err)
	}
	return nil
}

// brokerSettings reads scripts/kafka/broker.properties, the settings the jar
// broker also uses, as the container's KAFKA_* environment (the apache/kafka
// image maps KAFKA_FOO_BAR to foo.bar).
func brokerSettings() ([]string, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(root, "scripts", "kafka", "broker.properties"))
	if err != nil {
		return nil, fmt.Errorf("broker settings: %w", err)
	}
	defer f.Close()
	var env []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("broker settings: malformed line %q", line)
		}
		env = append(env, "KAFKA_"+strings.ToUpper(strings.ReplaceAll(k, ".", "_"))+"="+v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("broker settings: %w", err)
	}
	return env, nil
}

// startDocker runs the official apache/kafka image as one KRaft node. The host
// port is chosen first because the broker must advertise it.
func startDocker(_ context.Context, logf func(string, ...any)) (string, func() error, error) {
	pool, err := dockertest.NewPool("")
	if err != nil {
		return "", nil, fmt.Errorf("docker client: %w", err)
	}
	settings, err := brokerSettings()
	if err != nil {
		return "", nil, err
	}
	ports, err := freePorts(1)
	if err != nil {
		return "", nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	env := append([]string{
		"KAFKA_NODE_ID=1",
		"KAFKA_PROCESS_ROLES=broker,controller",
		"KAFKA_LISTENERS=PLAINTEXT://:9092,CONTROLLER://:9093",
		"KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://" + addr,
		"KAFKA_CONTROLLER_LISTENER_NAMES=CONTROLLER",
		"KAFKA_INTER_BROKER_LISTENER_NAME=PLAINTEXT",
		"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"KAFKA_CONTROLLER_QUORUM_VOTERS=1@localhost:9093",
	}, settings...)
	res, err := pool.RunWithOptions(&dockertest.RunOptions{
		Repository:   "apache/kafka",
		Tag:          dockerImageTag,
		Env:          env,
		ExposedPorts: []string{"9092/tcp"},
		PortBindings: map[dc.Port][]dc.PortBinding{
			"9092/tcp": {{HostIP: "127.0.0.1", HostPort: strconv.Itoa(ports[0])}},
		},
	}, func(hc *dc.HostConfig) {
		hc.AutoRemove = true
		hc.RestartPolicy = dc.RestartPolicy{Name: "no"}
	})
	if err != nil {
		return "", nil, fmt.Errorf("run apache/kafka:%s: %w", dockerImageTag, err)
	}
	if err := res.Expire(dockerExpireSeconds); err != nil {
		_ = pool.Purge(res)
		return "", nil, fmt.Errorf("set container expiry: %w", err)
	}
	logf("kafkatest: apache/kafka:%s container %s at %s", dockerImageTag, res.Container.ID[:12], addr)
	return addr, func() error { return pool.Purge(res) }, nil
}
