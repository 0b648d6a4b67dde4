package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const secret = "s3cr3t-that-must-not-leak"

// securedConfig is a client properties file for a cluster that is not
// there, with secrets and librdkafka's debug logs on.
func securedConfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gateway.properties")
	text := "security.protocol=SASL_PLAINTEXT\nsasl.mechanisms=PLAIN\nsasl.username=gateway\nsasl.password=" + secret +
		"\nssl.key.password=" + secret + "-key\ndebug=security,broker,conf\n"
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Issue 12: with -kafka-config holding secrets, a gateway that cannot
// reach its cluster fails at start with neither its error nor any line on
// its stderr (its logs, and librdkafka's debug lines written there
// directly) carrying a secret. The gateway runs as a child process so that
// everything written to file descriptor 2 is captured.
func TestKafkaConfigSecretsNeverLeak(t *testing.T) {
	if os.Getenv("CARTSTREAM_TEST_CHILD") == "1" {
		err := run(os.Args[len(os.Args)-11:], func(string) string { return "" }, os.Stderr)
		if err != nil {
			os.Stderr.WriteString("error: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKafkaConfigSecretsNeverLeak$", "--",
		"-kafka-config", securedConfig(t), "-brokers", "127.0.0.1:1", "-start-timeout", "2s", "-log-level", "debug", "-grpc-addr", "127.0.0.1:0", "-auth-dev-mode")
	cmd.Env = append(os.Environ(), "CARTSTREAM_TEST_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the gateway started without a cluster:\n%s", out)
	}
	if bytes.Contains(out, []byte(secret)) {
		t.Fatalf("secret leaked:\n%s", out)
	}
	if !bytes.Contains(out, []byte("sasl")) || !bytes.Contains(out, []byte("error: ")) {
		t.Errorf("no SASL debug lines or no error: the test proves nothing:\n%.3000s", out)
	}
}

// Issue 12: a property that would break a guarantee stops the start.
func TestKafkaConfigRefusesAGuaranteeBreaker(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bad.properties")
	if err := os.WriteFile(p, []byte("partitioner=random\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	err := run([]string{"-kafka-config", p, "-brokers", "127.0.0.1:1", "-auth-dev-mode"}, func(string) string { return "" }, &stderr)
	if err == nil || !strings.Contains(err.Error(), "partitioner") {
		t.Fatalf("err %v, want the refused partitioner", err)
	}
}
