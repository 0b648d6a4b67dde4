package validation

import (
	"math/rand/v2"
	"time"
)

// backoff is a bounded exponential backoff with full jitter: attempt n
// (from 1) waits a uniformly random time in [0, min(max, base*2^(n-1))].
// The jitter keeps replicas that failed together (a broker restart, a
// coordinator move) from retrying together; the bound keeps a long outage
// from stretching the wait past what an operator expects to watch.
type backoff struct {
	base, max time.Duration
	// rand returns a uniform value in [0, n]; nil means math/rand/v2.
	rand func(n int64) int64
}

// Backoffs of the write path.
var (
	// abortBackoff delays a partition's next transaction after its
	// previous ones aborted in a row.
	abortBackoff = backoff{base: 100 * time.Millisecond, max: 5 * time.Second}
	// rebuildBackoff delays a new session (or a new catalog follower) after
	// the previous one died; reset once the new one has committed (loaded).
	rebuildBackoff = backoff{base: 100 * time.Millisecond, max: 5 * time.Second}
	// retryBackoff spaces the repetitions of one retriable transactional
	// call; CommitTimeout bounds them all together.
	retryBackoff = backoff{base: 50 * time.Millisecond, max: time.Second}
)

// ceiling is the longest wait of the given attempt: base doubled per
// attempt after the first, capped at max. Attempt 0 or less waits nothing.
func (b backoff) ceiling(attempt int) time.Duration {
	if attempt <= 0 || b.base <= 0 {
		return 0
	}
	d := b.base
	for range attempt - 1 {
		if d >= b.max/2 {
			return b.max // doubling again would pass the cap (or overflow)
		}
		d *= 2
	}
	return min(d, b.max)
}

// delay is the jittered wait before the given attempt.
func (b backoff) delay(attempt int) time.Duration {
	c := b.ceiling(attempt)
	if c <= 0 {
		return 0
	}
	r := b.rand
	if r == nil {
		r = func(n int64) int64 { return rand.Int64N(n + 1) }
	}
	return time.Duration(r(int64(c)))
}
