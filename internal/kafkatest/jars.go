package kafkatest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// repoRoot finds the module root (the directory holding our go.mod) from the
// working directory, where `go test` runs a package's tests.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/cartstream/cartstream\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the cartstream module: no go.mod found above the working directory")
		}
		dir = parent
	}
}

// freePorts finds n distinct free loopback ports below the kernel's
// ephemeral range (32768 and up on Linux). A broker a test kills and
// restarts must get its port back: a port from the ephemeral range can be
// taken meanwhile as the local port of any outgoing connection (a chaos
// test saw a node fail to restart that way). The listeners stay open until
// all are chosen, so no port is handed out twice; the kernel's choice is the
// fallback.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := listenBelowEphemeral()
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func listenBelowEphemeral() (net.Listener, error) {
	const lo, hi = 20000, 32000
	for range 200 {
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", lo+rand.IntN(hi-lo))); err == nil {
			return l, nil
		}
	}
	return net.Listen("tcp", "127.0.0.1:0")
}

// jarNodes is a cluster scripts/kafka/up.sh started from the jars, and the
// means to act on one node of it through scripts/kafka/node.sh.
type jarNodes struct {
	root  string   // module root: the scripts live under it
	env   []string // the environment up.sh ran with: ports, KAFKA_DIR
	dir   string   // KAFKA_DIR, removed whole on stop
	addrs []string // addrs[i] is node i's (node.id i+1) client listener
}

// startJars runs scripts/kafka/up.sh for nodes nodes on free ports in a fresh
// directory.
func startJars(ctx context.Context, nodes int, secure bool, logf func(string, ...any)) (*jarNodes, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(2 * nodes)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "cartstream-kafkatest-")
	if err != nil {
		return nil, fmt.Errorf("broker directory: %w", err)
	}
	client, controller := make([]string, nodes), make([]string, nodes)
	for i := range nodes {
		client[i], controller[i] = strconv.Itoa(ports[2*i]), strconv.Itoa(ports[2*i+1])
	}
	j := &jarNodes{root: root, dir: dir}
	j.env = append(os.Environ(),
		"KAFKA_NODES="+strconv.Itoa(nodes),
		"KAFKA_PORT="+client[0],
		"KAFKA_CONTROLLER_PORT="+controller[0],
		"KAFKA_PORTS="+strings.Join(client, ","),
		"KAFKA_CONTROLLER_PORTS="+strings.Join(controller, ","),
		// The temporary directory itself: down.sh (or the watchdog, if the
		// test binary dies) removes it whole, leaving nothing in /tmp.
		"KAFKA_DIR="+dir,
		"KAFKA_WATCH_PID="+strconv.Itoa(os.Getpid()),
		"KAFKA_SECURE="+map[bool]string{false: "0", true: "1"}[secure],
	)
	out, stderr, err := j.script(ctx, "up.sh")
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	logf("kafkatest: %s", strings.TrimSpace(lastLine(stderr)))
	j.addrs = strings.Split(strings.TrimSpace(out), ",")
	if len(j.addrs) != nodes {
		return nil, errors.Join(fmt.Errorf("scripts/kafka/up.sh printed %q, want %d addresses", out, nodes), j.down())
	}
	return j, nil
}

// script runs scripts/kafka/<name> with args in the cluster's environment and
// returns its stdout and stderr; a failure carries the stderr.
func (j *jarNodes) script(ctx context.Context, name string, args ...string) (string, string, error) {
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(j.root, "scripts", "kafka", name)}, args...)...)
	cmd.Env = j.env
	cmd.Dir = j.root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", stderr.String(), fmt.Errorf("scripts/kafka/%s %s: %w\n%s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), stderr.String(), nil
}

// down stops every node and removes the directory. It runs without a
// deadline of its own: down.sh bounds each node's stop (SIGKILL after 30 s).
func (j *jarNodes) down() error {
	_, _, err := j.script(context.Background(), "down.sh")
	_ = os.RemoveAll(j.dir)
	return err
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
