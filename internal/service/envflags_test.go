package service

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestEnvFlags(t *testing.T) {
	env := map[string]string{"A": "from-env", "N": "7", "BAD_N": "seven", "D": "2s", "BAD_D": "2 parsecs", "B": "true"}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	e := &EnvFlags{FS: fs, Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	var (
		a, a2   string
		n, bad  int
		d, badD time.Duration
		b       bool
	)
	e.String(&a, "a", "A", "def", "")
	e.String(&a2, "a2", "A2", "def", "")
	e.Int(&n, "n", "N", 1, "")
	e.Int(&bad, "bad-n", "BAD_N", 1, "")
	e.Duration(&d, "d", "D", time.Second, "")
	e.Duration(&badD, "bad-d", "BAD_D", time.Second, "")
	e.Bool(&b, "b", "B", false, "")
	if err := fs.Parse([]string{"-a2", "from-flag"}); err != nil {
		t.Fatal(err)
	}
	if a != "from-env" || a2 != "from-flag" || n != 7 || d != 2*time.Second || !b {
		t.Fatalf("a=%q a2=%q n=%d d=%s b=%t", a, a2, n, d, b)
	}
	err := e.Err()
	if err == nil || !strings.Contains(err.Error(), "BAD_N") || !strings.Contains(err.Error(), "BAD_D") {
		t.Fatalf("Err() = %v, want both malformed variables", err)
	}
}
