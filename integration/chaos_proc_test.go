package integration

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// service is one cartstream binary run as an OS process by the chaos test,
// under a supervisor: a process that exits on its own (not killed or
// stopped by the test) is recorded and started again after a second, as
// systemd's Restart=always or a Kubernetes pod would. Its health endpoint
// is a fixed address, so a restart listens where clients already point.
type service struct {
	name       string
	bin        string
	args       []string
	healthAddr string
	logPath    string

	mu      sync.Mutex
	run     *incarnation
	planned bool // the current incarnation's end is the test's doing
	closed  bool // the test is over: never restart
	exits   []unplannedExit
	logs    *os.File
	health  *grpc.ClientConn
}

// incarnation is one process of a service; done closes once it is reaped.
type incarnation struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // Wait's answer, set before done closes
}

// unplannedExit is a process that ended without the test asking.
type unplannedExit struct {
	Service string    `json:"service"`
	At      time.Time `json:"at"`
	Err     string    `json:"err"`
}

// supervisorDelay is the supervisor's restart delay after an unplanned exit.
const supervisorDelay = time.Second

func newService(t *testing.T, name, bin, healthAddr, logDir string, args ...string) *service {
	t.Helper()
	logPath := logDir + "/" + name + ".log"
	logs, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("log file of %s: %v", name, err)
	}
	t.Cleanup(func() { _ = logs.Close() })
	conn, err := grpc.NewClient(healthAddr, grpc.WithTransportCredentials(insecure.NewCredentials()), fastReconnect())
	if err != nil {
		t.Fatalf("health client of %s: %v", name, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	s := &service{name: name, bin: bin, args: args, healthAddr: healthAddr, logPath: logPath, logs: logs, health: conn}
	t.Cleanup(s.close)
	return s
}

// fastReconnect keeps a client's reconnect backoff short: grpc-go's default
// climbs to two minutes, which would measure the client's patience instead
// of the time a restarted service takes to answer.
func fastReconnect() grpc.DialOption {
	return grpc.WithConnectParams(grpc.ConnectParams{
		Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 500 * time.Millisecond},
		MinConnectTimeout: time.Second,
	})
}

// start runs a new incarnation.
func (s *service) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.startLocked()
}

func (s *service) startLocked() error {
	if s.closed {
		return fmt.Errorf("%s: the test is over", s.name)
	}
	cmd := exec.Command(s.bin, s.args...)
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.name, err)
	}
	inc := &incarnation{cmd: cmd, done: make(chan struct{})}
	s.run, s.planned = inc, false
	go s.watch(inc)
	return nil
}

// watch reaps one incarnation and restarts the service if it ended
// unplanned.
func (s *service) watch(inc *incarnation) {
	inc.err = inc.cmd.Wait()
	close(inc.done)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.run != inc || s.planned || s.closed {
		return
	}
	s.exits = append(s.exits, unplannedExit{Service: s.name, At: time.Now(), Err: fmt.Sprint(inc.err)})
	time.AfterFunc(supervisorDelay, func() { // the supervisor's restart policy
		s.mu.Lock()
		defer s.mu.Unlock()
		// Not if the test restarted, killed or stopped it meanwhile.
		if s.run == inc && !s.planned && !s.closed {
			_ = s.startLocked() // a failure here shows as a service that never heals
		}
	})
}

// end marks the current incarnation's end as planned and returns it.
func (s *service) end() *incarnation {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.planned = true
	inc := s.run
	s.run = nil
	return inc
}

// kill sends SIGKILL to the running incarnation and waits until it is gone.
func (s *service) kill() {
	inc := s.end()
	if inc == nil {
		return
	}
	_ = inc.cmd.Process.Signal(syscall.SIGKILL)
	<-inc.done
}

// stop asks the running incarnation to shut down (SIGTERM) and waits up to
// grace for it; a process still there is killed and reported.
func (s *service) stop(grace time.Duration) error {
	inc := s.end()
	if inc == nil {
		return nil
	}
	_ = inc.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-inc.done:
	case <-time.After(grace):
		// SIGQUIT first: the Go runtime writes every goroutine's stack to
		// the log, which says where the stop hangs.
		_ = inc.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-inc.done:
		case <-time.After(5 * time.Second):
			_ = inc.cmd.Process.Signal(syscall.SIGKILL)
			<-inc.done
		}
		return fmt.Errorf("%s did not stop within %s of SIGTERM (goroutine dump in %s)", s.name, grace, s.logPath)
	}
	if inc.err != nil {
		return fmt.Errorf("%s exited after SIGTERM: %w", s.name, inc.err)
	}
	return nil
}

// dumpStacks makes the running incarnation write every goroutine's stack
// to its log (SIGQUIT; the Go runtime then exits), to show where a service
// that does not heal is stuck. The test is failing by then.
func (s *service) dumpStacks() {
	inc := s.end()
	if inc == nil {
		return
	}
	_ = inc.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-inc.done:
	case <-time.After(5 * time.Second):
		_ = inc.cmd.Process.Signal(syscall.SIGKILL)
		<-inc.done
	}
}

// close ends supervision and kills whatever still runs.
func (s *service) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.kill()
}

func (s *service) unplanned() []unplannedExit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]unplannedExit(nil), s.exits...)
}

// serving asks the health endpoint, within a short bound.
func (s *service) serving(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	res, err := healthpb.NewHealthClient(s.health).Check(ctx, &healthpb.HealthCheckRequest{})
	return err == nil && res.GetStatus() == healthpb.HealthCheckResponse_SERVING
}

// tail returns the last n lines the service logged before a goroutine
// dump (dumpStacks), which would otherwise fill the tail with registers.
func (s *service) tail(n int) []string {
	f, err := os.Open(s.logPath)
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "SIGQUIT:") {
			break
		}
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return lines
}

// freeAddrs reserves n loopback addresses, so restarted services listen
// where their clients already point. The listeners stay open until all are
// chosen so the kernel cannot hand out one port twice.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	out := make([]string, n)
	var ls []net.Listener
	for i := range out {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		ls = append(ls, l)
		out[i] = "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return out
}
