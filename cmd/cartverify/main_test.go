package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/verify"
)

func TestRunUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-o", "yaml"},
		{"--no-such-flag"},
		{"extra"},
		{"--log-level", "loud"},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != exitOperational {
			t.Errorf("run(%q) = %d, want %d (stderr %q)", args, code, exitOperational, errOut.String())
		}
		if out.Len() != 0 {
			t.Errorf("run(%q) wrote a report: %q", args, out.String())
		}
	}
}

func TestRunUnreachableBroker(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"--brokers", "127.0.0.1:1", "--request-timeout", "1s", "--log-level", "error"}, &out, &errOut)
	if code != exitOperational {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitOperational, errOut.String())
	}
	if out.Len() != 0 {
		t.Errorf("report written on an operational error: %q", out.String())
	}
}

func TestWriteReport(t *testing.T) {
	in := verify.Input{
		Requests: []verify.Request{{Position: verify.Position{Partition: 0, Offset: 0}, Key: "c",
			Command: cart.Checkout{CartID: "c", RequestID: "r", CustomerID: "u"}}},
	}
	r := verify.Check(in) // a request with no outcome and no snapshot
	var text bytes.Buffer
	if err := writeReport(&text, "text", r, 1); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "2 VIOLATIONS") || !strings.Contains(text.String(), "1 more violations") {
		t.Errorf("text report:\n%s", text.String())
	}
	var js bytes.Buffer
	if err := writeReport(&js, "json", r, 1); err != nil {
		t.Fatal(err)
	}
	var back verify.Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Violations) != 2 {
		t.Errorf("json report (%v):\n%s", err, js.String())
	}
}
