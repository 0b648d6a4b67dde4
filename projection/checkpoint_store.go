package projection

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The checkpoint store: one bbolt file per replica holding, per owned
// partition of cart.state, the latest record value of each cart as it was
// read from the topic and the next offset those values cover. It is a
// cache: anything wrong with it (identity, format, a checksum) is a reason
// to delete it and rebuild from Kafka, never to stop.
//
// Layout:
//
//	meta   identity -> JSON checkpointIdentity
//	       next/<p> -> the next cart.state offset of partition p (8 bytes)
//	                   | when the follower was last there (Unix ns, 8 bytes)
//	p/<p>  cart id  -> crc32c(rest) | record offset (8) | record value
//
// A batch writes its carts and its offsets in ONE bbolt transaction (one
// fsync'd commit, atomic by bbolt's double meta page), so a crash leaves
// the previous batch or this one, never values ahead of or behind their
// offsets. The CRC catches what bbolt does not check: the bytes of values.

// checkpointFormat changes when the layout does; another format is
// discarded like any mismatch.
const checkpointFormat = 1

const checkpointFile = "cart-state.checkpoint"

var (
	bucketMeta  = []byte("meta")
	keyIdentity = []byte("identity")
	castagnoli  = crc32.MakeTable(crc32.Castagnoli)
)

// errCheckpointCorrupt: the file does not hold what this code wrote.
var errCheckpointCorrupt = errors.New("checkpoint corrupt")

// checkpointIdentity is what a checkpoint was taken of. A checkpoint of
// anything else is discarded.
type checkpointIdentity struct {
	Format     int    `json:"format"`
	ClusterID  string `json:"cluster_id"`
	Topic      string `json:"topic"`
	TopicID    string `json:"topic_id"`
	Partitions int    `json:"partitions"`
}

// cpValue is one cart's latest cart.state record; value nil for a
// tombstone (the cart is deleted from the checkpoint).
type cpValue struct {
	offset int64
	value  []byte
}

// cpBatch is what changed since the previous batch: per partition the
// carts' latest records and the next offset they bring the partition to.
type cpBatch struct {
	next  map[int32]int64
	carts map[int32]map[string]cpValue
	bytes int
}

func newBatch() *cpBatch {
	return &cpBatch{next: map[int32]int64{}, carts: map[int32]map[string]cpValue{}}
}

// add records a cart's record at offset of partition part.
func (b *cpBatch) add(part int32, key string, offset int64, value []byte) {
	b.addValue(part, key, cpValue{offset: offset, value: value})
	b.next[part] = offset + 1
}

// addValue sets a cart's value, leaving the partition's offset as it is.
func (b *cpBatch) addValue(part int32, key string, v cpValue) {
	m := b.carts[part]
	if m == nil {
		m = map[string]cpValue{}
		b.carts[part] = m
	}
	m[key] = v
	b.bytes += len(key) + len(v.value)
}

// checkpointStore is an open checkpoint file. Not safe for concurrent
// writes; reads may run concurrently with each other.
type checkpointStore struct {
	db *bolt.DB
	// replaced says why a file found at open was deleted; nil if none was.
	replaced error
}

// openCheckpoint opens (creating) the checkpoint in dir. The file is
// locked: two replicas sharing a directory is a configuration error. A file
// that is not a whole bbolt file is removed and created anew.
func openCheckpoint(dir string) (*checkpointStore, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("checkpoint dir: %w", err)
	}
	path := filepath.Join(dir, checkpointFile)
	// The freelist is written with each commit (not rebuilt by a scan of
	// every page at open, which would read a damaged file before any
	// check); the map type keeps freeing a big batch's pages cheap.
	// A large initial mapping (address space, not memory) spares the first
	// big batch bbolt's remaps, each of which copies every node the
	// transaction touched onto the heap.
	opts := boltOptions()
	torn := checkWhole(path)
	var db *bolt.DB
	err := torn
	if err == nil {
		db, err = bolt.Open(path, 0o640, opts)
	}
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("checkpoint %s is locked by another process: %w", path, err)
	}
	s := &checkpointStore{}
	if err != nil {
		// A torn or foreign file: it is only a cache.
		s.replaced = err
		if rerr := os.Remove(path); rerr != nil {
			return nil, fmt.Errorf("checkpoint %s: %w (and removing it: %w)", path, err, rerr)
		}
		if db, err = bolt.Open(path, 0o640, opts); err != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", path, err)
		}
	}
	s.db = db
	return s, nil
}

func boltOptions() *bolt.Options {
	return &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType, InitialMmapSize: 1 << 30}
}

// remap closes the file and opens it again: bbolt reads through a shared
// mapping of the file, and a restore that read every page leaves the whole
// file resident in the process (RSS) until it is unmapped. Opened again,
// only the pages the next batches touch come back.
func (s *checkpointStore) remap() error {
	path := s.db.Path()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("checkpoint %s: close: %w", path, err)
	}
	db, err := bolt.Open(path, 0o640, boltOptions())
	if err != nil {
		return fmt.Errorf("checkpoint %s: open again: %w", path, err)
	}
	s.db = db
	return nil
}

// bbolt's meta pages (pages 0 and 1): a 16-byte page header, then magic,
// version and page size (uint32 each) and, at byte 56, the high-water
// page id. Native byte order, as bbolt writes them.
const (
	boltMagic       = 0xED0CDAED
	boltMetaMagic   = 16
	boltMetaPgSize  = 24
	boltMetaHighPID = 56
)

// checkWhole refuses a file shorter than its meta pages say it is (a torn
// copy, a truncation): bbolt maps the file and would fault on the missing
// pages instead of returning an error. A missing file is whole.
func checkWhole(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %w", errCheckpointCorrupt, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%w: %w", errCheckpointCorrupt, err)
	}
	// The meta pages only: the file may be gigabytes.
	raw := make([]byte, min(st.Size(), 1<<16+boltMetaHighPID+8))
	if _, err := io.ReadFull(f, raw); err != nil {
		return fmt.Errorf("%w: %w", errCheckpointCorrupt, err)
	}
	return checkMetaPages(raw, st.Size())
}

// checkMetaPages checks the meta pages at the start of a file of size
// bytes.
func checkMetaPages(raw []byte, fileSize int64) error {
	if len(raw) < 64 {
		return fmt.Errorf("%w: %d bytes", errCheckpointCorrupt, fileSize)
	}
	size := binary.NativeEndian.Uint32(raw[boltMetaPgSize:])
	if size < 512 || size > 1<<16 || size&(size-1) != 0 {
		return fmt.Errorf("%w: page size %d", errCheckpointCorrupt, size)
	}
	for _, at := range []int{0, int(size)} {
		if at+boltMetaHighPID+8 > len(raw) {
			return fmt.Errorf("%w: %d bytes, shorter than its meta pages", errCheckpointCorrupt, fileSize)
		}
		if binary.NativeEndian.Uint32(raw[at+boltMetaMagic:]) != boltMagic {
			continue // bbolt validates the other meta page and uses it
		}
		if high := binary.NativeEndian.Uint64(raw[at+boltMetaHighPID:]); high*uint64(size) > uint64(fileSize) {
			return fmt.Errorf("%w: %d bytes, its meta page says %d", errCheckpointCorrupt, fileSize, high*uint64(size))
		}
	}
	return nil
}

func (s *checkpointStore) close() error { return s.db.Close() }

// guarded runs f, turning a bbolt panic on a corrupted page, or a fault
// reading the mapped file, into errCheckpointCorrupt: the file is a cache,
// and a bad cache must cost a rebuild, not the service.
func guarded(f func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errCheckpointCorrupt, r)
		}
	}()
	return f()
}

// cpHeader is what the checkpoint says of itself: its identity and, per
// partition, the offsets it covers. ok is false for an empty file.
type cpHeader struct {
	id   checkpointIdentity
	next map[int32]cpMark
}

// cpMark is a partition's position in a checkpoint: the carts stored are
// those of cart.state below next, and the follower was at next at time at.
type cpMark struct {
	next int64
	at   time.Time
}

func (s *checkpointStore) header() (h cpHeader, ok bool, err error) {
	err = guarded(func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			meta := tx.Bucket(bucketMeta)
			if meta == nil {
				return nil
			}
			raw := meta.Get(keyIdentity)
			if raw == nil {
				return fmt.Errorf("%w: no identity", errCheckpointCorrupt)
			}
			if err := json.Unmarshal(raw, &h.id); err != nil {
				return fmt.Errorf("%w: identity: %w", errCheckpointCorrupt, err)
			}
			h.next = map[int32]cpMark{}
			for part := range h.id.Partitions {
				if v := meta.Get(nextKey(int32(part))); v != nil {
					if len(v) != 16 {
						return fmt.Errorf("%w: offset of partition %d", errCheckpointCorrupt, part)
					}
					h.next[int32(part)] = cpMark{
						next: int64(binary.BigEndian.Uint64(v)),
						at:   time.Unix(0, int64(binary.BigEndian.Uint64(v[8:]))),
					}
				}
			}
			ok = true
			return nil
		})
	})
	return h, ok, err
}

// reset empties the checkpoint and stamps it with id.
func (s *checkpointStore) reset(id checkpointIdentity) error {
	raw, err := json.Marshal(id)
	if err != nil {
		return fmt.Errorf("checkpoint identity: %w", err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		var names [][]byte
		if err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			names = append(names, slices.Clone(name))
			return nil
		}); err != nil {
			return err
		}
		for _, n := range names {
			if err := tx.DeleteBucket(n); err != nil {
				return err
			}
		}
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		return meta.Put(keyIdentity, raw)
	})
	if err != nil {
		return fmt.Errorf("checkpoint reset: %w", err)
	}
	return nil
}

// write stores b: its carts and offsets, stamped now, in one transaction.
func (s *checkpointStore) write(b *cpBatch, now time.Time) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("%w: no identity", errCheckpointCorrupt)
		}
		for part, carts := range b.carts {
			if err := writePartition(tx, part, carts); err != nil {
				return err
			}
		}
		for part, next := range b.next {
			v := binary.BigEndian.AppendUint64(nil, uint64(next))
			if err := meta.Put(nextKey(part), binary.BigEndian.AppendUint64(v, uint64(now.UnixNano()))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("checkpoint write: %w", err)
	}
	return nil
}

// writePartition puts one partition's carts in key order: bbolt fills
// pages far better, and splits far less, when keys arrive sorted.
func writePartition(tx *bolt.Tx, part int32, carts map[string]cpValue) error {
	bk, err := tx.CreateBucketIfNotExists(partBucket(part))
	if err != nil {
		return err
	}
	// Sorted keys fill pages in order: filling them to 90% (bbolt's default
	// is 50%, for random inserts) makes the file a third smaller.
	bk.FillPercent = 0.9
	keys := make([]string, 0, len(carts))
	for k := range carts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := carts[k]
		if v.value == nil {
			if err := bk.Delete([]byte(k)); err != nil {
				return err
			}
			continue
		}
		if err := bk.Put([]byte(k), encodeCPValue(v)); err != nil {
			return err
		}
	}
	return nil
}

// load calls fn with every cart of partition part. value is valid only
// during the call.
func (s *checkpointStore) load(part int32, fn func(key []byte, offset int64, value []byte) error) error {
	return guarded(func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			bk := tx.Bucket(partBucket(part))
			if bk == nil {
				return nil
			}
			return bk.ForEach(func(k, raw []byte) error {
				off, v, err := decodeCPValue(raw)
				if err != nil {
					return fmt.Errorf("cart %q of partition %d: %w", k, part, err)
				}
				return fn(k, off, v)
			})
		})
	})
}

// size is the file's size in bytes.
func (s *checkpointStore) size() int64 {
	var n int64
	_ = s.db.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil })
	return n
}

func encodeCPValue(v cpValue) []byte {
	out := make([]byte, 12, 12+len(v.value))
	binary.BigEndian.PutUint64(out[4:], uint64(v.offset))
	out = append(out, v.value...)
	binary.BigEndian.PutUint32(out, crc32.Checksum(out[4:], castagnoli))
	return out
}

func decodeCPValue(raw []byte) (int64, []byte, error) {
	if len(raw) < 12 || binary.BigEndian.Uint32(raw) != crc32.Checksum(raw[4:], castagnoli) {
		return 0, nil, fmt.Errorf("%w: checksum", errCheckpointCorrupt)
	}
	return int64(binary.BigEndian.Uint64(raw[4:])), raw[12:], nil
}

func nextKey(part int32) []byte { return []byte("next/" + strconv.Itoa(int(part))) }

func partBucket(part int32) []byte { return []byte("p/" + strconv.Itoa(int(part))) }
