package bench

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// Machine describes where a run happened.
type Machine struct {
	NumCPU        int    `json:"nproc"`
	CPUModel      string `json:"cpu_model"`
	MemTotalKiB   int64  `json:"mem_total_kib"`
	GoVersion     string `json:"go_version"`
	OS            string `json:"os"`
	KafkaVersion  string `json:"kafka_version"`
	Librdkafka    string `json:"librdkafka_version"`
	BrokerPID     int    `json:"broker_pid,omitempty"`
	LoadAvgStart  string `json:"loadavg_start"`
	LoadAvgEnd    string `json:"loadavg_end"`
	BrokerSource  string `json:"broker_source,omitempty"`
	BrokerAddress string `json:"broker_address"`
}

func machineInfo(brokers string) Machine {
	_, rdver := kafka.LibraryVersion()
	m := Machine{
		NumCPU:        runtime.NumCPU(),
		CPUModel:      cpuModel(),
		MemTotalKiB:   procKiB("/proc/meminfo", "MemTotal:"),
		GoVersion:     runtime.Version(),
		OS:            runtime.GOOS + "/" + runtime.GOARCH,
		Librdkafka:    rdver,
		LoadAvgStart:  loadAvg(),
		BrokerAddress: brokers,
	}
	m.BrokerPID, m.KafkaVersion = findBroker(brokers)
	if m.KafkaVersion == "" {
		m.KafkaVersion = "unknown"
	}
	return m
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return strings.TrimSpace(string(b))
	}
	return strings.Join(f[:3], " ")
}

// procKiB reads a "Key:   123 kB" line of a /proc file.
func procKiB(path, key string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			n, err := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

var kafkaJar = regexp.MustCompile(`kafka[_-](?:2\.1[23]-)?(\d+\.\d+\.\d+)`)

// findBroker looks for a local Kafka JVM whose server.properties listens on
// the broker's port, and returns its pid and version (from the jar path).
// A broker that is not a local process (docker, external) yields 0, "".
func findBroker(brokers string) (int, string) {
	addr, _, _ := strings.Cut(brokers, ",")
	listener := []byte("PLAINTEXT://" + addr)
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		raw, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(raw, []byte("kafka.Kafka")) {
			continue
		}
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		cfg, err := os.ReadFile(args[len(args)-1])
		if err != nil || !bytes.Contains(cfg, listener) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		version := ""
		for _, a := range args {
			if m := kafkaJar.FindStringSubmatch(a); m != nil {
				version = m[1]
				break
			}
		}
		return pid, version
	}
	return 0, ""
}

// cpuTimes is CPU time consumed so far by this process and by the broker.
type cpuTimes struct {
	at     time.Time
	self   time.Duration
	broker time.Duration
}

func sampleCPU(brokerPID int) cpuTimes {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return cpuTimes{
		at:     time.Now(),
		self:   time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		broker: procCPU(brokerPID),
	}
}

// procCPU is utime+stime of a process from /proc/<pid>/stat.
func procCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; fields count from after it.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const clkTck = 100 // sysconf(_SC_CLK_TCK) on Linux
	return time.Duration(ut+st) * time.Second / clkTck
}

// CPUUse is the CPU consumed during a phase.
type CPUUse struct {
	WallSeconds  float64 `json:"wall_s"`
	BenchCPU     float64 `json:"bench_process_cpu_s"`
	BrokerCPU    float64 `json:"broker_cpu_s,omitempty"`
	MachineShare float64 `json:"share_of_all_cores"` // (bench+broker)/(wall*nproc)
	LoadAvgAtEnd string  `json:"loadavg_end"`
}

func cpuSince(start cpuTimes, brokerPID int) CPUUse {
	end := sampleCPU(brokerPID)
	wall := end.at.Sub(start.at).Seconds()
	u := CPUUse{
		WallSeconds:  wall,
		BenchCPU:     (end.self - start.self).Seconds(),
		BrokerCPU:    (end.broker - start.broker).Seconds(),
		LoadAvgAtEnd: loadAvg(),
	}
	if wall > 0 {
		u.MachineShare = (u.BenchCPU + u.BrokerCPU) / (wall * float64(runtime.NumCPU()))
	}
	return u
}

// brokerLogDir is log.dirs of a local broker process, or "".
func brokerLogDir(pid int) string {
	if pid <= 0 {
		return ""
	}
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return ""
	}
	args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
	cfg, err := os.ReadFile(args[len(args)-1])
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(cfg), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "log.dirs="); ok {
			d, _, _ := strings.Cut(v, ",")
			return d
		}
	}
	return ""
}

// topicDiskBytes sums the segment files of topic in a local broker's log
// directory: the bytes the broker wrote for it, batch headers and
// transaction markers included. -1 when unknown.
func topicDiskBytes(logDir, topic string) int64 {
	if logDir == "" {
		return -1
	}
	files, _ := filepath.Glob(filepath.Join(logDir, topic+"-*", "*.log"))
	var n int64
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			n += st.Size()
		}
	}
	return n
}

// waitBrokerQuiet waits, at most 30 s, until the broker uses under a
// quarter of a core over a one-second window, and returns how long it
// waited. A latency phase measures the steady state, not the log cleaner
// compacting the previous scenario's cart.state or the deletion of its
// topics, both of which follow a scenario by a few seconds.
func (e *env) waitBrokerQuiet(ctx context.Context) time.Duration {
	start := time.Now()
	if e.brokerPID <= 0 {
		return 0
	}
	for time.Since(start) < 30*time.Second && ctx.Err() == nil {
		before := procCPU(e.brokerPID)
		select {
		case <-time.After(time.Second): // the measuring window
		case <-ctx.Done():
		}
		if procCPU(e.brokerPID)-before < 250*time.Millisecond {
			break
		}
	}
	return time.Since(start)
}
