package tracecontext

import (
	"strings"
	"testing"
)

func FuzzTraceparent(f *testing.F) {
	for _, s := range []string{
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future",
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"", "00", strings.Repeat("-", 60),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tp, ok := Parse(s)
		if !ok {
			return
		}
		out := tp.String()
		if len(out) != Len || !strings.HasPrefix(out, "00-") {
			t.Fatalf("parse(%q) writes %q", s, out)
		}
		again, ok := Parse(out)
		if !ok || again != tp {
			t.Fatalf("parse(%q) = %q does not round-trip", s, out)
		}
		if s[:2] == "00" && out != s {
			t.Fatalf("version 00 %q re-written as %q", s, out)
		}
	})
}
