package kafkaconf

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// Flag and environment variable every binary takes the file from.
const (
	Flag = "kafka-config"
	Env  = "CARTSTREAM_KAFKA_CONFIG"
)

// ErrRefused is a property in the file that a service sets itself because
// a guarantee rests on it.
var ErrRefused = errors.New("kafkaconf: property refused")

// refused are the properties a file may not set, and why. Each is set by
// the service that needs it; another value would break a guarantee, and
// taking it silently would hide the mistake.
var refused = map[string]string{
	"enable.auto.commit":       "offsets are committed inside transactions (exactly-once)",
	"enable.auto.offset.store": "offsets are committed inside transactions (exactly-once)",
	"isolation.level":          "readers must be read_committed, or they see aborted outcomes",
	"transactional.id":         "derived from the manager's group and -instance-id (fencing of a restarted replica)",
	"transaction.timeout.ms":   "set with -transaction-timeout",
	"enable.idempotence":       "producers are idempotent; duplicates would break exactly-once",
	"acks":                     "producers wait for all in-sync replicas",
	"request.required.acks":    "producers wait for all in-sync replicas",
	"partitioner":              "the gateway partitions like the Java client (murmur2), so requests sit with their cart's state",
	"group.id":                 "set with each service's -group flag",
	"group.instance.id":        "derived from -instance-id (static membership)",
	"enable.partition.eof":     "the services rely on it to know when a read reached the end",
	"auto.offset.reset":        "a manager starting without committed offsets must read from the beginning",
}

// Secret reports whether a property holds a secret: its value is never
// logged or put in an error.
func Secret(key string) bool {
	k := strings.ToLower(key)
	for _, s := range []string{"password", "secret", "ssl.key.pem", "ssl_key", "sasl.oauthbearer.config", "sasl.jaas.config", "ssl.keystore.pem"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// Config is a parsed properties file.
type Config struct {
	// Path is the file it came from; "" for none.
	Path  string
	Props kafka.ConfigMap
}

// Load reads a librdkafka properties file: key=value lines, blank lines
// and lines starting with # or ! ignored, whitespace around key and value
// trimmed. An empty path is no file. Errors name the line, never its
// value (it may be a secret).
func Load(path string) (Config, error) {
	cfg := Config{Path: path, Props: kafka.ConfigMap{}}
	if path == "" {
		return cfg, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("kafkaconf: %w", err)
	}
	if err := cfg.parse(b); err != nil {
		return Config{Path: path, Props: kafka.ConfigMap{}}, err
	}
	return cfg, nil
}

func (c *Config) parse(b []byte) error {
	var errs []error
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch {
		case !ok || key == "":
			errs = append(errs, fmt.Errorf("kafkaconf: %s line %d: not key=value", c.Path, n))
			continue
		case refused[key] != "":
			errs = append(errs, fmt.Errorf("%w: %s line %d: %s: %s", ErrRefused, c.Path, n, key, refused[key]))
			continue
		case strings.HasPrefix(key, "go."):
			errs = append(errs, fmt.Errorf("%w: %s line %d: %s: the Go client's own settings are the service's", ErrRefused, c.Path, n, key))
			continue
		}
		if _, dup := c.Props[key]; dup {
			errs = append(errs, fmt.Errorf("kafkaconf: %s line %d: %s set twice", c.Path, n, key))
			continue
		}
		c.Props[key] = value
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("kafkaconf: %s: %w", c.Path, err))
	}
	return errors.Join(errs...)
}

// Client is the client configuration a service starts from: the file's
// properties and bootstrap.servers. brokers wins over the file's
// bootstrap.servers when explicit (a flag or variable set); otherwise the
// file's, or brokers as the default.
func (c Config) Client(brokers string, explicit bool) kafka.ConfigMap {
	cm := maps.Clone(c.Props)
	if cm == nil {
		cm = kafka.ConfigMap{}
	}
	if _, inFile := cm["bootstrap.servers"]; explicit || !inFile {
		cm["bootstrap.servers"] = brokers
	}
	return cm
}

// Brokers is the bootstrap servers Client would use.
func (c Config) Brokers(brokers string, explicit bool) string {
	v, _ := c.Client(brokers, explicit)["bootstrap.servers"].(string)
	return v
}

// secrets lists the file's secret values, longest first, so a value that
// contains another is replaced whole.
func (c Config) secrets() []string {
	var out []string
	for k, v := range c.Props {
		if s, ok := v.(string); ok && Secret(k) && s != "" {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// Redacted is the mask that replaces a secret.
const Redacted = "[redacted]"

// Redact returns s with every secret value of c replaced by Redacted.
func (c Config) Redact(s string) string {
	for _, v := range c.secrets() {
		s = strings.ReplaceAll(s, v, Redacted)
	}
	return s
}

// String lists the file's properties, sorted, secrets masked: what a
// service logs at start.
func (c Config) String() string {
	keys := slices.Sorted(maps.Keys(c.Props))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v := fmt.Sprint(c.Props[k])
		if Secret(k) {
			v = Redacted
		}
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, " ")
}

// Explicit reports whether the flag name was set on the command line or
// its environment variable env is set: an explicit -brokers wins over the
// file's bootstrap.servers, a default does not.
func Explicit(fs *flag.FlagSet, name, env string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	if v, ok := os.LookupEnv(env); ok && v != "" {
		set = true
	}
	return set
}

// Usage is the help text of the -kafka-config flag.
const Usage = "librdkafka properties file (key=value; TLS, SASL) merged under the service's own settings; docs/security.md"
