package kafkaconf

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

const secret = "Tr0ub4dor&3-never-log-me"

func write(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "client.properties")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadParsesAPropertiesFile(t *testing.T) {
	c, err := Load(write(t, `# a managed cluster
! also a comment

security.protocol = SASL_SSL
sasl.mechanisms=SCRAM-SHA-512
sasl.username=manager
sasl.password=`+secret+`
ssl.ca.location=/etc/ssl/ca.pem
bootstrap.servers=kafka-1:9093,kafka-2:9093
sasl.oauthbearer.extensions=a=b,c=d
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "manager",
		"sasl.password": secret, "ssl.ca.location": "/etc/ssl/ca.pem", "bootstrap.servers": "kafka-1:9093,kafka-2:9093",
		"sasl.oauthbearer.extensions": "a=b,c=d",
	}
	if len(c.Props) != len(want) {
		t.Fatalf("props %v", c.String())
	}
	for k, v := range want {
		if c.Props[k] != v {
			t.Errorf("%s = %v, want %q", k, c.Props[k], v)
		}
	}
	// An explicit -brokers wins; a default gives way to the file.
	if got := c.Brokers("127.0.0.1:9092", false); got != "kafka-1:9093,kafka-2:9093" {
		t.Errorf("default brokers: %s", got)
	}
	if got := c.Brokers("other:9092", true); got != "other:9092" {
		t.Errorf("explicit brokers: %s", got)
	}
	if none, err := Load(""); err != nil || len(none.Client("b:1", false)) != 1 {
		t.Fatalf("no file: %v %v", none, err)
	}
}

// Issue 12: a property a guarantee rests on is refused at start, with the
// reason; every problem of the file is reported at once.
func TestLoadRefusesWhatBreaksAGuarantee(t *testing.T) {
	_, err := Load(write(t, `enable.auto.commit=true
isolation.level=read_uncommitted
transactional.id=mine
partitioner=random
go.produce.channel.size=5
sasl.username=a
sasl.username=b
just a line
`))
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("err %v, want ErrRefused", err)
	}
	for _, s := range []string{"line 1: enable.auto.commit", "line 2: isolation.level: readers must be read_committed",
		"line 3: transactional.id", "line 4: partitioner", "line 5: go.produce.channel.size", "line 7: sasl.username set twice", "line 8: not key=value"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error lacks %q:\n%v", s, err)
		}
	}
}

// Issue 12: secrets never reach an error string, a log line, or the
// configuration a service logs.
func TestSecretsNeverReachErrorsOrLogs(t *testing.T) {
	// A malformed line holding a secret: the error names the line only.
	_, err := Load(write(t, "sasl.password "+secret+"\n"))
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("parse error %v", err)
	}
	c, err := Load(write(t, "sasl.username=u\nsasl.password="+secret+"\nssl.key.password=k3y-"+secret+"\nsasl.oauthbearer.client.secret=cs-"+secret+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s := c.String(); strings.Contains(s, secret) || !strings.Contains(s, "sasl.username=u") {
		t.Fatalf("String: %s", s)
	}
	var buf bytes.Buffer
	log := slog.New(RedactHandler(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}), c))
	wrapped := errors.New("connect failed: sasl.password=" + secret)
	log.With("cfg", "k3y-"+secret).Error("librdkafka says "+secret, "err", wrapped, "plain", secret,
		slog.Group("g", "inner", "cs-"+secret), "any", struct{ S string }{secret})
	if out := buf.String(); strings.Contains(out, secret) || !strings.Contains(out, Redacted) {
		t.Fatalf("log line leaks the secret:\n%s", out)
	}
	// librdkafka's own errors about a configuration with secrets.
	cm := c.Client("127.0.0.1:1", true)
	cm["sasl.mechanisms"] = "NOT-A-MECHANISM"
	cm["security.protocol"] = "SASL_PLAINTEXT"
	if _, err := kafka.NewProducer(&cm); err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("librdkafka error: %v", err)
	}
}

func TestSecretKeys(t *testing.T) {
	for k, want := range map[string]bool{
		"sasl.password": true, "ssl.key.password": true, "ssl.keystore.password": true, "ssl.truststore.password": true,
		"sasl.oauthbearer.client.secret": true, "ssl.key.pem": true, "sasl.oauthbearer.config": true,
		"sasl.username": false, "ssl.ca.location": false, "security.protocol": false,
	} {
		if Secret(k) != want {
			t.Errorf("Secret(%s) = %v", k, !want)
		}
	}
}
