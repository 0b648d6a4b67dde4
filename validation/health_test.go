package validation

import (
	"io"
	"log/slog"
	"testing"
)

func TestHealthFollowsTheAbilityToCommit(t *testing.T) {
	h := newHealthState(slog.New(slog.NewTextHandler(io.Discard, nil)), 3)
	steps := []struct {
		name    string
		do      func()
		serving bool
	}{
		{"starting", func() {}, false},
		{"first session joined", h.joined, true},
		{"one abort", h.failedCommit, true},
		{"two aborts", h.failedCommit, true},
		{"three aborts in a row", h.failedCommit, false},
		{"a fourth", h.failedCommit, false},
		{"a commit", h.committed, true},
		{"session ended (fatal)", h.left, false},
		{"failures of a rebuilt session's predecessors", func() { h.failedCommit(); h.failedCommit(); h.failedCommit() }, false},
		{"rebuilt session joined, idle", h.joined, true},
		{"catalog follower died", func() { h.setCatalogDown(true) }, false},
		{"commits while the catalog is down", h.committed, false},
		{"catalog reloaded", func() { h.setCatalogDown(false) }, true},
	}
	for _, st := range steps {
		_, changed := h.get()
		before, _ := h.get()
		st.do()
		got, _ := h.get()
		if got.Serving != st.serving {
			t.Fatalf("%s: serving %v (%q), want %v", st.name, got.Serving, got.Reason, st.serving)
		}
		if got.Serving == (got.Reason != "") {
			t.Errorf("%s: serving %v with reason %q", st.name, got.Serving, got.Reason)
		}
		select {
		case <-changed:
			if got == before {
				t.Errorf("%s: watchers woken without a change", st.name)
			}
		default:
			if got != before {
				t.Errorf("%s: health changed to %+v without waking the watchers", st.name, got)
			}
		}
	}
}
