package processor

import (
	"io"
	"log/slog"
	"testing"
)

func TestHealthStateMachine(t *testing.T) {
	h := newHealthState(slog.New(slog.NewTextHandler(io.Discard, nil)), 2)
	want := func(step string, serving bool) {
		t.Helper()
		if got, _ := h.get(); got.Serving != serving || (got.Reason == "") != serving {
			t.Fatalf("%s: health %+v, want serving=%v with a reason iff not serving", step, got, serving)
		}
	}
	want("new", false)
	_, changed := h.get()
	h.committed() // a commit before the first assignment changes nothing
	want("commit before assignment", false)
	select {
	case <-changed:
		t.Fatal("watchers woken without a change")
	default:
	}
	h.joined()
	want("first assignment restored", true)
	select {
	case <-changed:
	default:
		t.Fatal("watchers not woken by the change to serving")
	}
	h.failedCommit()
	want("one failed commit", true)
	h.committed()
	h.failedCommit()
	want("a commit resets the count", true)
	h.failedCommit()
	want("two failed commits in a row", false)
	h.committed()
	want("committed again", true)
	h.failedCommit()
	h.failedCommit()
	h.left()
	want("session rebuilt", false)
	h.joined()
	want("new session: old failures forgotten", true)
	h.left()
	want("left", false)
}
