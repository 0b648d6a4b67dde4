package txnhealth

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestHealthFollowsTheAbilityToCommit(t *testing.T) {
	h := New(slog.New(slog.NewTextHandler(io.Discard, nil)), 3)
	steps := []struct {
		name    string
		do      func()
		serving bool
	}{
		{"starting", func() {}, false},
		{"a commit before the first assignment", h.Committed, false},
		{"first session joined", h.Joined, true},
		{"one abort", h.FailedCommit, true},
		{"two aborts", h.FailedCommit, true},
		{"three aborts in a row", h.FailedCommit, false},
		{"a fourth", h.FailedCommit, false},
		{"a commit", h.Committed, true},
		{"session ended (fatal)", h.Left, false},
		{"failures of a rebuilt session's predecessors", func() { h.FailedCommit(); h.FailedCommit(); h.FailedCommit() }, false},
		{"rebuilt session joined, idle", h.Joined, true},
		{"a part died (the manager's catalog follower)", func() { h.SetDown("the catalog follower died; restarting it") }, false},
		{"commits while the part is down", h.Committed, false},
		{"the part is back", func() { h.SetDown("") }, true},
	}
	for _, st := range steps {
		before, changed := h.Get()
		st.do()
		got, _ := h.Get()
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

// The gRPC status used to turn SERVING once and stay there until exit,
// whatever the service went through.
func TestFollowMirrorsEveryChange(t *testing.T) {
	h := New(slog.New(slog.NewTextHandler(io.Discard, nil)), 1)
	statuses := make(chan healthpb.HealthCheckResponse_ServingStatus, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Follow(ctx, h.Get, func(s healthpb.HealthCheckResponse_ServingStatus) { statuses <- s })
	}()
	expect := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		select {
		case got := <-statuses:
			if got != want {
				t.Fatalf("status %s, want %s", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no status within 5s, want %s", want)
		}
	}
	expect(healthpb.HealthCheckResponse_NOT_SERVING)
	h.Joined()
	expect(healthpb.HealthCheckResponse_SERVING)
	h.Left()
	expect(healthpb.HealthCheckResponse_NOT_SERVING)
	h.Joined()
	expect(healthpb.HealthCheckResponse_SERVING)
	cancel()
	<-done
}
