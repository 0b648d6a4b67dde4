package projection

import (
	"math/rand/v2"
	"testing"
)

// history builds n references of one cart: events and rejections
// interleaved at random, each with its request's offset, in arrival order.
func history(n int, seed uint64) []histRef {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]histRef, n)
	var version int64
	for i := range out {
		ref := histRef{offset: int64(i), request: int64(10 * i), version: -1}
		if rng.IntN(3) > 0 {
			version++
			ref.version = version
		}
		out[i] = ref
	}
	return out
}

func indexOf(refs []histRef, limit int) *histIndex {
	var h histIndex
	for _, r := range refs {
		h.add(r, limit)
	}
	return &h
}

// readAll pages through h from the first page and returns every entry and
// whether the first page said truncated.
func readAll(t *testing.T, h *histIndex, size int) ([]histPick, bool) {
	t.Helper()
	var out []histPick
	cur, first := histCursor{}, true
	var truncated bool
	for {
		pg, ok := h.page(cur, size)
		if !ok {
			t.Fatalf("page at %+v refused", cur)
		}
		if first {
			truncated, first = pg.truncated, false
		} else if pg.truncated {
			t.Fatalf("page at %+v truncated though nothing was evicted meanwhile", cur)
		}
		out = append(out, pg.picks...)
		if !pg.more {
			return out, truncated
		}
		cur = pg.next
	}
}

// The bounded index keeps the most recent entries in merged order; the
// first page says the history is truncated; versions carry on across the
// eviction boundary.
func TestHistoryIndexKeepsTheMostRecentEntriesWithinItsBound(t *testing.T) {
	refs := history(200, 1)
	want, _ := readAll(t, indexOf(refs, 0), 7) // unbounded: everything
	if len(want) != len(refs) {
		t.Fatalf("unbounded index returned %d of %d", len(want), len(refs))
	}
	for _, limit := range []int{1, 5, 64, 199, 200} {
		h := indexOf(refs, limit)
		if h.len() != limit {
			t.Fatalf("limit %d: %d kept", limit, h.len())
		}
		got, truncated := readAll(t, h, 7)
		if truncated != (limit < len(refs)) {
			t.Errorf("limit %d: truncated %t", limit, truncated)
		}
		tail := want[len(want)-limit:]
		if len(got) != len(tail) {
			t.Fatalf("limit %d: read %d entries, want %d", limit, len(got), len(tail))
		}
		for i := range got {
			if got[i] != tail[i] {
				t.Fatalf("limit %d: entry %d is %+v, want %+v", limit, i, got[i], tail[i])
			}
		}
	}
}

// A page token taken before its entries were evicted still works: the next
// page starts at the oldest kept entry and says truncated; a token past the
// end is refused.
func TestHistoryTokenIntoEvictedEntriesSaysTruncated(t *testing.T) {
	refs := history(50, 2)
	h := indexOf(refs[:10], 10)
	pg, _ := h.page(histCursor{}, 3)
	if pg.truncated || !pg.more {
		t.Fatalf("first page: %+v", pg)
	}
	for _, r := range refs[10:] {
		h.add(r, 10)
	}
	next, ok := h.page(pg.next, 100)
	if !ok || !next.truncated || len(next.picks) != 10 {
		t.Fatalf("page after eviction: ok %t truncated %t, %d entries", ok, next.truncated, len(next.picks))
	}
	if _, ok := h.page(histCursor{events: h.events.end() + 1}, 3); ok {
		t.Fatal("a cursor past the end was accepted")
	}
	if last, ok := h.page(next.next, 3); !ok || last.more || len(last.picks) != 0 || last.truncated {
		t.Fatalf("page at the end: ok %t %+v", ok, last)
	}
}

// A page costs O(page size): picking 10 entries from a history of 200 000
// allocates the page and nothing proportional to the history.
func TestHistoryPageCostIsProportionalToThePage(t *testing.T) {
	h := indexOf(history(200_000, 3), 0)
	cur := histCursor{events: h.events.end() / 2, rejections: h.rejections.end() / 2}
	allocs := testing.AllocsPerRun(100, func() {
		if pg, ok := h.page(cur, 10); !ok || len(pg.picks) != 10 {
			t.Fatalf("page: ok %t, %d entries", ok, len(pg.picks))
		}
	})
	if allocs > 1 {
		t.Fatalf("%v allocations per page, want 1 (the page)", allocs)
	}
}
