package validation

import (
	"testing"
	"time"
)

func TestBackoffCeilingDoublesUpToTheCap(t *testing.T) {
	b := backoff{base: 100 * time.Millisecond, max: 5 * time.Second}
	want := []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
		800 * time.Millisecond, 1600 * time.Millisecond, 3200 * time.Millisecond, 5 * time.Second, 5 * time.Second}
	for attempt, w := range want {
		if got := b.ceiling(attempt); got != w {
			t.Errorf("ceiling(%d) = %s, want %s", attempt, got, w)
		}
	}
	// No overflow however long the outage: the cap holds.
	for _, attempt := range []int{63, 64, 1000, 1 << 30} {
		if got := b.ceiling(attempt); got != b.max {
			t.Errorf("ceiling(%d) = %s, want the cap %s", attempt, got, b.max)
		}
	}
	if got := b.ceiling(-1); got != 0 {
		t.Errorf("ceiling(-1) = %s, want 0", got)
	}
}

func TestBackoffDelayIsFullyJitteredWithinTheCeiling(t *testing.T) {
	var asked []int64
	lowest := backoff{base: time.Second, max: 4 * time.Second, rand: func(n int64) int64 { asked = append(asked, n); return 0 }}
	highest := lowest
	highest.rand = func(n int64) int64 { return n }
	for attempt := 1; attempt <= 5; attempt++ {
		if got := lowest.delay(attempt); got != 0 {
			t.Errorf("lowest draw of attempt %d = %s, want 0", attempt, got)
		}
		if got, want := highest.delay(attempt), lowest.ceiling(attempt); got != want {
			t.Errorf("highest draw of attempt %d = %s, want the ceiling %s", attempt, got, want)
		}
	}
	for i, n := range asked {
		if want := int64(lowest.ceiling(i + 1)); n != want {
			t.Errorf("draw %d over [0, %d], want [0, %d]", i, n, want)
		}
	}

	// The real source stays within [0, ceiling] and spreads.
	real := backoff{base: 100 * time.Millisecond, max: 5 * time.Second}
	seen := map[time.Duration]bool{}
	for range 200 {
		d := real.delay(3)
		if d < 0 || d > real.ceiling(3) {
			t.Fatalf("delay(3) = %s outside [0, %s]", d, real.ceiling(3))
		}
		seen[d] = true
	}
	if len(seen) < 100 {
		t.Errorf("200 draws gave only %d distinct delays: not jittered", len(seen))
	}
}
