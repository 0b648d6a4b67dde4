package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// buildManager compiles cmd/additem-manager into dir, unless the config
// names a binary.
func (e *env) buildManager(ctx context.Context, dir string) (string, error) {
	if e.cfg.ManagerBin != "" {
		return e.cfg.ManagerBin, nil
	}
	bin := filepath.Join(dir, "additem-manager")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/cartstream/cartstream/cmd/additem-manager")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build additem-manager: %w\n%s", err, out)
	}
	return bin, nil
}

// managerProc is the AddItemManager as an OS process, logging JSON to a
// file the bench reads for its phases.
type managerProc struct {
	bin, logPath string
	args, env    []string
	mu           sync.Mutex
	cmd          *exec.Cmd
	logs         *os.File
}

func newManagerProc(bin, dir string, args []string, env []string) (*managerProc, error) {
	logPath := filepath.Join(dir, "manager.log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &managerProc{bin: bin, logPath: logPath, args: args, env: env, logs: f}, nil
}

// start launches the process and returns the log offset its lines begin at.
func (p *managerProc) start() (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	off, _ := p.logs.Seek(0, 2)
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	cmd.Env = append(os.Environ(), p.env...)
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start manager: %w", err)
	}
	p.cmd = cmd
	return off, nil
}

func (p *managerProc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// kill sends SIGKILL and reaps the process.
func (p *managerProc) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
	p.cmd = nil
}

// stop asks for a graceful stop (SIGTERM), killing after 30s.
func (p *managerProc) stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		err = fmt.Errorf("manager did not stop within 30s of SIGTERM: %v", <-done)
	}
	p.cmd = nil
	return err
}

func (p *managerProc) close() {
	p.kill()
	p.logs.Close()
}

// logLine is one JSON log line of the manager.
type logLine struct {
	Time  time.Time      `json:"time"`
	Msg   string         `json:"msg"`
	Level string         `json:"level"`
	Attrs map[string]any `json:"-"`
}

// lines returns the JSON log lines written from offset on, and the last
// gctrace line among them (GODEBUG=gctrace=1).
func (p *managerProc) lines(offset int64) ([]logLine, string) {
	f, err := os.Open(p.logPath)
	if err != nil {
		return nil, ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, 0); err != nil {
		return nil, ""
	}
	var out []logLine
	var gc string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		b := sc.Bytes()
		if strings.HasPrefix(string(b), "gc ") {
			gc = string(b)
			continue
		}
		var l logLine
		if json.Unmarshal(b, &l) != nil {
			continue
		}
		_ = json.Unmarshal(b, &l.Attrs)
		out = append(out, l)
	}
	return out, gc
}

// waitLog waits until a line with msg appears after offset.
func (p *managerProc) waitLog(ctx context.Context, offset int64, msg string, timeout time.Duration) (logLine, error) {
	deadline := time.Now().Add(timeout)
	for {
		ls, _ := p.lines(offset)
		for _, l := range ls {
			if l.Msg == msg {
				return l, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return logLine{}, fmt.Errorf("manager did not log %q within %s (log: %s)", msg, timeout, p.logPath)
		}
		time.Sleep(50 * time.Millisecond) // polling the log with a deadline
	}
}

// rssKiB reads VmRSS (or another /proc/<pid>/status field) of a process.
func rssKiB(pid int, field string) int64 {
	return procKiB("/proc/"+strconv.Itoa(pid)+"/status", field+":")
}

// gcLiveMiB parses a gctrace line "gc N @t s: ... A->B->C MB, D MB goal,
// ..." into the live heap C after that collection.
func gcLiveMiB(line string) float64 {
	_, rest, ok := strings.Cut(line, " MB, ")
	if !ok {
		return -1
	}
	head := line[:len(line)-len(rest)-len(" MB, ")]
	i := strings.LastIndexByte(head, ' ')
	parts := strings.Split(head[i+1:], "->")
	if len(parts) != 3 {
		return -1
	}
	v, err := strconv.ParseFloat(parts[2], 64)
	if err != nil {
		return -1
	}
	return v
}
