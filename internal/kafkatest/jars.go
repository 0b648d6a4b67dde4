package kafkatest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

// freePorts asks the kernel for n distinct free loopback ports. The listeners
// stay open until all are chosen so the kernel cannot hand out one port twice.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// startJars runs scripts/kafka/up.sh on free ports in a fresh directory and
// returns the bootstrap address and a stop function running down.sh.
func startJars(ctx context.Context, logf func(string, ...any)) (string, func() error, error) {
	root, err := repoRoot()
	if err != nil {
		return "", nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "cartstream-kafkatest-")
	if err != nil {
		return "", nil, fmt.Errorf("broker directory: %w", err)
	}
	env := append(os.Environ(),
		"KAFKA_PORT="+strconv.Itoa(ports[0]),
		"KAFKA_CONTROLLER_PORT="+strconv.Itoa(ports[1]),
		// The temporary directory itself: down.sh (or the watchdog, if the
		// test binary dies) removes it whole, leaving nothing in /tmp.
		"KAFKA_DIR="+dir,
		"KAFKA_WATCH_PID="+strconv.Itoa(os.Getpid()),
	)
	script := func(name string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "kafka", name))
		cmd.Env = env
		cmd.Dir = root
		return cmd
	}
	up := script("up.sh")
	var stderr bytes.Buffer
	up.Stderr = &stderr
	out, err := up.Output()
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", nil, fmt.Errorf("scripts/kafka/up.sh: %w\n%s", err, strings.TrimSpace(stderr.String()))
	}
	logf("kafkatest: %s", strings.TrimSpace(lastLine(stderr.String())))
	stop := func() error {
		down := exec.Command("bash", filepath.Join(root, "scripts", "kafka", "down.sh"))
		down.Env = env
		down.Dir = root
		msg, err := down.CombinedOutput()
		_ = os.RemoveAll(dir)
		if err != nil {
			return fmt.Errorf("scripts/kafka/down.sh: %w\n%s", err, msg)
		}
		return nil
	}
	return strings.TrimSpace(string(out)), stop, nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
