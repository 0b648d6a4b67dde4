package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// peerStopTimeout bounds a graceful stop of the peer: Kafka Streams' close
// (30 s in the peer) plus the JVM's exit; then it is killed.
const peerStopTimeout = 45 * time.Second

// buildPeer runs scripts/peer/build.sh from the module root, which builds
// bench/peer with Maven once per source version, and returns the jar.
func (e *env) buildPeer(ctx context.Context) (string, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "peer", "build.sh"))
	cmd.Stderr = os.Stderr // Maven's errors and the script's one-line ones
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("build the peer (scripts/peer/build.sh): %w", err)
	}
	jar := strings.TrimSpace(string(out))
	if _, err := os.Stat(jar); err != nil {
		return "", fmt.Errorf("build the peer: script printed %q: %w", jar, err)
	}
	return jar, nil
}

// moduleRoot is the directory of the go.mod the bench runs in, where
// scripts/ and internal/records/schemas/ are.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("the peer is built from the source tree: run the bench inside the cartstream module")
	}
	return filepath.Dir(mod), nil
}

// peerStats is one "PEER STATS" line of the peer: its transactions
// (Kafka Streams' commit-total; one transaction per commit under
// exactly_once_v2) and outcomes so far.
type peerStats struct {
	at                                                        time.Time
	Commits, Accepted, Rejected, Duplicates, Stale, Malformed int64
}

// parsePeerStats reads "PEER STATS commits=1 accepted=2 ...".
func parsePeerStats(line string, at time.Time) (peerStats, bool) {
	rest, ok := strings.CutPrefix(line, "PEER STATS ")
	if !ok {
		return peerStats{}, false
	}
	s := peerStats{at: at}
	fields := map[string]*int64{
		"commits": &s.Commits, "accepted": &s.Accepted, "rejected": &s.Rejected,
		"duplicates": &s.Duplicates, "stale": &s.Stale, "malformed": &s.Malformed,
	}
	for _, f := range strings.Fields(rest) {
		k, v, ok := strings.Cut(f, "=")
		dst, known := fields[k]
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || !known || err != nil {
			return peerStats{}, false
		}
		*dst = n
	}
	return s, true
}

// peerProc is the peer as a java process: stdout is read for its RUNNING
// and STATS lines, stderr (Kafka Streams' warnings) goes to a log file.
type peerProc struct {
	cmd       *exec.Cmd
	logPath   string
	runningCh chan struct{} // closed at "PEER RUNNING"
	exited    chan struct{} // closed when the process has been reaped
	waitErr   error         // set before exited closes

	mu      sync.Mutex
	stats   []peerStats
	running time.Time
	once    sync.Once
}

// peerOptions are the peer's flags (bench/peer Main.java).
type peerOptions struct {
	Bootstrap, AppID, Requests, Catalog, Validated, Invalid, Schemas string
	CommitIntervalMs                                                 int
	// Compression is the producer's compression.type, the manager's
	// (env.compression).
	Compression string
}

func (o peerOptions) args() []string {
	return []string{
		"--bootstrap", o.Bootstrap, "--application-id", o.AppID, "--requests", o.Requests, "--catalog", o.Catalog,
		"--validated", o.Validated, "--invalid", o.Invalid, "--schemas", o.Schemas,
		"--commit-interval-ms", strconv.Itoa(o.CommitIntervalMs), "--stats-interval-ms", "1000",
		"--compression", o.Compression,
	}
}

// startPeer launches the jar. The process dies with the bench (Pdeathsig)
// should the bench itself be killed; every other path calls stop.
func startPeer(jar, logDir string, o peerOptions) (*peerProc, error) {
	logPath := filepath.Join(logDir, o.AppID+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("peer log: %w", err)
	}
	args := append([]string{"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-jar", jar}, o.args()...)
	cmd := exec.Command("java", args...)
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, fmt.Errorf("peer stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start the peer (java -jar %s): %w", jar, err)
	}
	p := &peerProc{cmd: cmd, logPath: logPath, runningCh: make(chan struct{}), exited: make(chan struct{})}
	go p.read(stdout, logf)
	return p, nil
}

// read follows stdout to its end, then reaps the process: Wait must come
// after the last read of the pipe.
func (p *peerProc) read(stdout io.Reader, logf *os.File) {
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "PEER RUNNING":
			p.once.Do(func() {
				p.mu.Lock()
				p.running = time.Now()
				p.mu.Unlock()
				close(p.runningCh)
			})
		case strings.HasPrefix(line, "PEER STATS "):
			if s, ok := parsePeerStats(line, time.Now()); ok {
				p.mu.Lock()
				p.stats = append(p.stats, s)
				p.mu.Unlock()
			}
		default:
			fmt.Fprintln(logf, line)
		}
	}
	p.waitErr = p.cmd.Wait()
	logf.Close()
	close(p.exited)
}

func (p *peerProc) pid() int { return p.cmd.Process.Pid }

// runningAt is when the peer printed PEER RUNNING; zero before.
func (p *peerProc) runningAt() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running
}

// waitRunning waits for "PEER RUNNING", the process's exit or timeout.
func (p *peerProc) waitRunning(ctx context.Context, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.runningCh:
		return nil
	case <-p.exited:
		return fmt.Errorf("peer exited before RUNNING: %v (log: %s)", p.waitErr, p.logPath)
	case <-t.C:
		return fmt.Errorf("peer not RUNNING within %s (log: %s)", timeout, p.logPath)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// latest returns the newest stats line printed after t, waiting for one
// up to timeout (the peer prints one a second and one on exit).
func (p *peerProc) latest(ctx context.Context, after time.Time, timeout time.Duration) (peerStats, error) {
	deadline := time.Now().Add(timeout)
	for {
		p.mu.Lock()
		var s peerStats
		if n := len(p.stats); n > 0 {
			s = p.stats[n-1]
		}
		p.mu.Unlock()
		if s.at.After(after) {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-p.exited:
			if s.at.IsZero() {
				return s, fmt.Errorf("peer exited without stats: %v (log: %s)", p.waitErr, p.logPath)
			}
			return s, nil
		case <-time.After(50 * time.Millisecond): // polling the parsed lines with a deadline
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("peer printed no stats within %s (log: %s)", timeout, p.logPath)
		}
	}
}

// stop sends SIGTERM (Kafka Streams closes: the open transaction ends,
// the group is left), kills after peerStopTimeout, and reaps the process.
// It is safe to call more than once.
func (p *peerProc) stop() error {
	select {
	case <-p.exited:
		return p.exitErr()
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(peerStopTimeout)
	defer t.Stop()
	select {
	case <-p.exited:
		return p.exitErr()
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("peer did not stop within %s of SIGTERM, killed (log: %s)", peerStopTimeout, p.logPath)
	}
}

// exitErr is the process's exit error, nil for an exit after SIGTERM (the
// JVM exits 143 once its shutdown hooks have run).
func (p *peerProc) exitErr() error {
	var ee *exec.ExitError
	if errors.As(p.waitErr, &ee) && ee.ExitCode() == 128+int(syscall.SIGTERM) {
		return nil
	}
	if p.waitErr != nil {
		return fmt.Errorf("peer: %w (log: %s)", p.waitErr, p.logPath)
	}
	return nil
}
