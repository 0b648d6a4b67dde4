package projection

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var testIdentity = checkpointIdentity{Format: checkpointFormat, ClusterID: "c1", Topic: "cart.state", TopicID: "t1", Partitions: 3}

func openTestCheckpoint(tb testing.TB, dir string) *checkpointStore {
	tb.Helper()
	s, err := openCheckpoint(dir)
	if err != nil {
		tb.Fatalf("open checkpoint: %v", err)
	}
	tb.Cleanup(func() { _ = s.close() })
	return s
}

// loadAll is a partition's carts: key -> offset and value.
func loadAll(tb testing.TB, s *checkpointStore, part int32) (map[string]cpValue, error) {
	tb.Helper()
	out := map[string]cpValue{}
	err := s.load(part, func(k []byte, off int64, v []byte) error {
		out[string(k)] = cpValue{offset: off, value: bytes.Clone(v)}
		return nil
	})
	return out, err
}

// Values and offsets written in batches come back as the last batch left
// them; a tombstone removes its cart.
func TestCheckpointRoundTrip(t *testing.T) {
	s := openTestCheckpoint(t, t.TempDir())
	if _, ok, err := s.header(); err != nil || ok {
		t.Fatalf("empty checkpoint: ok %v, err %v", ok, err)
	}
	if err := s.reset(testIdentity); err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1700000000, 0)
	b := newBatch()
	b.add(0, "a", 4, []byte("va"))
	b.add(0, "b", 5, []byte("vb"))
	b.add(2, "c", 9, []byte("vc"))
	if err := s.write(b, at); err != nil {
		t.Fatal(err)
	}
	b = newBatch()
	b.add(0, "a", 7, nil) // tombstone
	b.add(0, "b", 8, []byte("vb2"))
	b.next[1] = 3 // a partition followed, with no carts yet
	if err := s.write(b, at.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	h, ok, err := s.header()
	if err != nil || !ok {
		t.Fatalf("header: ok %v, err %v", ok, err)
	}
	if h.id != testIdentity {
		t.Errorf("identity %+v", h.id)
	}
	want := map[int32]cpMark{0: {9, at.Add(time.Second)}, 1: {3, at.Add(time.Second)}, 2: {10, at}}
	for part, m := range want {
		if got := h.next[part]; got.next != m.next || !got.at.Equal(m.at) {
			t.Errorf("partition %d: mark %+v, want %+v", part, got, m)
		}
	}
	got, err := loadAll(t, s, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["b"].offset != 8 || string(got["b"].value) != "vb2" {
		t.Errorf("partition 0: %+v", got)
	}
}

// A file that is not a checkpoint (a torn copy, garbage) is replaced by an
// empty one: it costs a rebuild, not the start.
func TestCheckpointTornFileIsReplaced(t *testing.T) {
	dir := t.TempDir()
	s := openTestCheckpoint(t, dir)
	if err := s.reset(testIdentity); err != nil {
		t.Fatal(err)
	}
	b := newBatch()
	for i := range 1000 {
		b.add(0, strings.Repeat("k", 10)+string(rune('a'+i%26))+string(rune(i)), int64(i), bytes.Repeat([]byte("v"), 200))
	}
	if err := s.write(b, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, checkpointFile)
	if err := os.WriteFile(path, []byte("not a bbolt file, torn at byte 40"), 0o640); err != nil {
		t.Fatal(err)
	}
	s = openTestCheckpoint(t, dir)
	if _, ok, err := s.header(); err != nil || ok {
		t.Fatalf("after a torn file: ok %v, err %v; want an empty checkpoint", ok, err)
	}
}

// A value whose bytes changed on disk fails its checksum: the load fails
// and the caller discards the checkpoint.
func TestCheckpointCorruptValueIsDetected(t *testing.T) {
	s := openTestCheckpoint(t, t.TempDir())
	if err := s.reset(testIdentity); err != nil {
		t.Fatal(err)
	}
	b := newBatch()
	b.add(1, "a", 0, []byte("value of a"))
	if err := s.write(b, time.Now()); err != nil {
		t.Fatal(err)
	}
	// Flip a byte of the stored value, as bit rot would.
	err := s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(partBucket(1))
		raw := bytes.Clone(bk.Get([]byte("a")))
		raw[len(raw)-1] ^= 0xff
		return bk.Put([]byte("a"), raw)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loadAll(t, s, 1); !errors.Is(err, errCheckpointCorrupt) {
		t.Fatalf("load: %v, want errCheckpointCorrupt", err)
	}
}

// Two replicas cannot share a checkpoint directory.
func TestCheckpointIsLocked(t *testing.T) {
	dir := t.TempDir()
	openTestCheckpoint(t, dir)
	if s, err := openCheckpoint(dir); err == nil {
		_ = s.close()
		t.Fatal("a second open of the same checkpoint succeeded")
	}
}

// A checkpoint of another cluster, topic or layout, or one the log has
// moved past, is refused with a reason; one within the log is used.
func TestCheckpointMismatch(t *testing.T) {
	now := time.Unix(1800000000, 0)
	h := cpHeader{id: testIdentity, next: map[int32]cpMark{0: {100, now.Add(-time.Minute)}, 1: {50, now.Add(-time.Minute)}}}
	base := restoreParams{
		want: testIdentity, owned: []int32{0, 1, 2},
		earliest: map[int32]int64{0: 0, 1: 0, 2: 0}, ends: map[int32]int64{0: 120, 1: 50, 2: 7},
		now: now, maxAge: time.Hour,
	}
	other := func(f func(*restoreParams)) restoreParams {
		rp := base
		rp.earliest, rp.ends = clone(base.earliest), clone(base.ends)
		f(&rp)
		return rp
	}
	cases := []struct {
		name string
		rp   restoreParams
		want string // in the reason; "" for a match
	}{
		{"matches", base, ""},
		{"another cluster", other(func(rp *restoreParams) { rp.want.ClusterID = "c2" }), "taken of"},
		{"a recreated topic", other(func(rp *restoreParams) { rp.want.TopicID = "t2" }), "taken of"},
		{"another topic", other(func(rp *restoreParams) { rp.want.Topic = "x.cart.state" }), "taken of"},
		{"another partition count", other(func(rp *restoreParams) { rp.want.Partitions = 6 }), "taken of"},
		{"another format", other(func(rp *restoreParams) { rp.want.Format = 99 }), "taken of"},
		{"records deleted past it", other(func(rp *restoreParams) { rp.earliest[0] = 101 }), "log starts at 101"},
		{"a truncated log", other(func(rp *restoreParams) { rp.ends[1] = 40 }), "past the log's end 40"},
		{"too old with records after it", other(func(rp *restoreParams) { rp.now = now.Add(2 * time.Hour) }), "older than"},
		{"old but nothing after it", other(func(rp *restoreParams) { rp.now = now.Add(2 * time.Hour); rp.ends[0] = 100 }), ""},
		{"a partition not owned is not checked", other(func(rp *restoreParams) { rp.owned = []int32{1}; rp.ends[0] = 0 }), ""},
	}
	for _, c := range cases {
		got := mismatch(h, c.rp)
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%s: mismatch %q, want %q", c.name, got, c.want)
		}
	}
}

func clone(m map[int32]int64) map[int32]int64 {
	out := map[int32]int64{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// A batch that failed to write goes back under the newer one: the next
// write covers both, the newer value winning.
func TestCheckpointerGivesBackAFailedBatch(t *testing.T) {
	c := newCheckpointer(nil, Config{Logger: slog.New(slog.DiscardHandler), CheckpointMaxBatchBytes: 1 << 20}, map[int32]int64{0: 0})
	c.record(0, []byte("a"), 0, []byte("a0"))
	c.record(0, []byte("b"), 1, []byte("b1"))
	failed := c.take()
	c.record(0, []byte("a"), 2, []byte("a2"))
	c.giveBack(failed)
	b := c.take()
	if b.next[0] != 3 {
		t.Errorf("next %d, want 3", b.next[0])
	}
	if got := b.carts[0]; len(got) != 2 || string(got["a"].value) != "a2" || string(got["b"].value) != "b1" {
		t.Errorf("batch %+v", got)
	}
}

// A checkpoint cut short (a torn copy, a truncated disk file) is
// detected before bbolt maps it, and replaced by an empty one.
func TestCheckpointTruncatedFileIsReplaced(t *testing.T) {
	dir := t.TempDir()
	s := openTestCheckpoint(t, dir)
	if err := s.reset(testIdentity); err != nil {
		t.Fatal(err)
	}
	b := newBatch()
	for i := range 5000 {
		b.add(0, fmt.Sprintf("cart-%06d", i), int64(i), bytes.Repeat([]byte("v"), 200))
	}
	if err := s.write(b, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	// bbolt preallocates past its data: cut into the data itself, keeping
	// the meta pages and a few more.
	path := filepath.Join(dir, checkpointFile)
	if err := os.Truncate(path, 4*int64(os.Getpagesize())); err != nil {
		t.Fatal(err)
	}
	s = openTestCheckpoint(t, dir)
	if !errors.Is(s.replaced, errCheckpointCorrupt) {
		t.Errorf("replaced: %v, want errCheckpointCorrupt", s.replaced)
	}
	if _, ok, err := s.header(); err != nil || ok {
		t.Fatalf("after truncation: ok %v, err %v; want an empty checkpoint", ok, err)
	}
}

// mappedKiB is the resident part of this process's mappings of path
// (/proc/self/smaps), in KiB.
func mappedKiB(tb testing.TB, path string) int {
	tb.Helper()
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		tb.Fatal(err)
	}
	kib, in := 0, false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":"):
			in = len(f) >= 6 && f[5] == path
		case in && len(f) >= 2 && f[0] == "Rss:":
			n, _ := strconv.Atoi(f[1])
			kib += n
		}
	}
	return kib
}

// A restore reads every page of the checkpoint through bbolt's mapping,
// which left the whole file resident in the replica (counted in its
// memory) for as long as it ran; remap lets the pages go and the store
// works on.
func TestCheckpointRemapReleasesTheRestoredPages(t *testing.T) {
	dir := t.TempDir()
	s := openTestCheckpoint(t, dir)
	if err := s.reset(testIdentity); err != nil {
		t.Fatal(err)
	}
	b := newBatch()
	for i := range 2000 {
		b.add(0, fmt.Sprintf("cart-%05d", i), int64(i), bytes.Repeat([]byte{byte(i)}, 4096))
	}
	if err := s.write(b, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got, err := loadAll(t, s, 0); err != nil || len(got) != 2000 {
		t.Fatalf("load: %d carts, %v", len(got), err)
	}
	path := filepath.Join(dir, checkpointFile)
	if kib := mappedKiB(t, path); kib < 4096 {
		t.Fatalf("after reading 8 MiB of values, %d KiB of the file resident: the measure is broken", kib)
	}
	if err := s.remap(); err != nil {
		t.Fatal(err)
	}
	if kib := mappedKiB(t, path); kib > 1024 {
		t.Errorf("after remap %d KiB of the file resident, want next to none", kib)
	}
	b = newBatch()
	b.add(0, "cart-00001", 2001, []byte("v2"))
	if err := s.write(b, time.Now()); err != nil {
		t.Fatalf("write after remap: %v", err)
	}
	if got, err := loadAll(t, s, 0); err != nil || len(got) != 2000 || string(got["cart-00001"].value) != "v2" {
		t.Fatalf("load after remap: %d carts, %v", len(got), err)
	}
}
