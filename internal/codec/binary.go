package codec

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/linkedin/goavro/v2"
)

// Avro binary primitives for hand-written encoders and decoders of hot
// records (see EncodeFunc and BodyReader). They write and accept exactly
// what goavro v2.15.0 writes and accepts for the same types; tests in this
// package fuzz them against goavro. A hand-written codec built on them is
// tied to one schema version: its tests must compare it to the goavro path
// and pin the schema's fingerprint.

// AppendLong appends v as an Avro long (zigzag varint).
func AppendLong(dst []byte, v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	for u >= 0x80 {
		dst = append(dst, byte(u)|0x80)
		u >>= 7
	}
	return append(dst, byte(u))
}

// AppendInt appends v as an Avro int. For every int32 the zigzag varint
// is the same as the long's.
func AppendInt(dst []byte, v int32) []byte { return AppendLong(dst, int64(v)) }

// LongSize is the number of bytes AppendLong writes for v.
func LongSize(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	return max(1, (bits.Len64(u)+6)/7)
}

// AppendBoolean appends b as an Avro boolean.
func AppendBoolean(dst []byte, b bool) []byte {
	if b {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// AppendString appends s as an Avro string (or bytes): its length as a
// long, then its bytes. Like goavro, it does not check UTF-8.
func AppendString(dst []byte, s string) []byte {
	return append(AppendLong(dst, int64(len(s))), s...)
}

// AppendBytes appends b as Avro bytes.
func AppendBytes(dst, b []byte) []byte {
	return append(AppendLong(dst, int64(len(b))), b...)
}

// StringSize is the number of bytes AppendString writes for a string (or
// bytes) of n bytes.
func StringSize(n int) int { return LongSize(int64(n)) + n }

// AppendArrayBlock appends what goes before item i of an n-item array:
// at the start of every block, its item count. goavro writes blocks of at
// most its MaxBlockCount (MaxBlockItems, as this package sets it) items.
// After the last item, end the array with AppendLong(dst, 0); an empty
// array is that 0 alone.
func AppendArrayBlock(dst []byte, i, n int) []byte {
	if i%blockItems() != 0 {
		return dst
	}
	return AppendLong(dst, int64(min(n-i, blockItems())))
}

// ArrayHeadersSize is the number of bytes the block counts and the final 0
// of an n-item array take.
func ArrayHeadersSize(n int) int {
	size := 1 // the final 0
	for i := 0; i < n; i += blockItems() {
		size += LongSize(int64(min(n-i, blockItems())))
	}
	return size
}

func blockItems() int {
	if goavro.MaxBlockCount < 1 || goavro.MaxBlockCount > math.MaxInt32 {
		return MaxBlockItems
	}
	return int(goavro.MaxBlockCount)
}

// BodyReader reads the Avro binary body of one record field by field, for
// hand-written decoders of hot records. It accepts and refuses exactly
// what goavro's decoders do for the same types, never panics, and never
// allocates: every length is checked against the bytes that remain before
// it is used.
//
// It reads a string, so the strings it returns are substrings of it: a
// caller that converts the whole body once (one allocation) gets every
// string field without copying again, and nothing it returns aliases the
// caller's []byte. Such strings keep the whole body alive while any of
// them is.
//
// The first error sticks: later reads return zero values, and Err and
// Finish report it as a *DecodeError wrapping ErrBody, as Decode would.
// A BodyReader is not safe for concurrent use.
type BodyReader struct {
	buf    string
	schema *Schema
	err    error
}

// NewBodyReader returns a reader of body, the Avro binary body of a value
// of s (see DecodeHeader).
func NewBodyReader(s *Schema, body string) BodyReader {
	return BodyReader{buf: body, schema: s}
}

func (r *BodyReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
	r.buf = ""
}

// Err returns the first error, a *DecodeError wrapping ErrBody, or nil.
func (r *BodyReader) Err() error {
	if r.err == nil {
		return nil
	}
	return decodeErrFP(ErrBody, r.schema.Fingerprint(), "", r.err)
}

// Finish returns Err, or an error if bytes remain after the value, as
// Decode does.
func (r *BodyReader) Finish() error {
	if err := r.Err(); err != nil {
		return err
	}
	if len(r.buf) != 0 {
		return decodeErrFP(ErrBody, r.schema.Fingerprint(), fmt.Sprintf("%d trailing bytes", len(r.buf)), nil)
	}
	return nil
}

// Remaining is the number of bytes not read yet.
func (r *BodyReader) Remaining() int { return len(r.buf) }

// Long reads an Avro long. Like goavro it accepts any number of
// continuation bytes (bits beyond the 64th are dropped).
func (r *BodyReader) Long() int64 {
	var u uint64
	var shift uint
	for i := 0; i < len(r.buf); i++ {
		b := r.buf[i]
		u |= uint64(b&0x7f) << shift // a shift of 64 or more is 0 in Go, as in goavro
		if b&0x80 == 0 {
			r.buf = r.buf[i+1:]
			return int64(u>>1) ^ -int64(u&1)
		}
		shift += 7
	}
	r.fail("long: short buffer")
	return 0
}

// Int reads an Avro int. Like goavro it keeps the low 32 bits of a longer
// varint instead of refusing it.
func (r *BodyReader) Int() int32 { return int32(r.Long()) }

// Boolean reads an Avro boolean: one byte, 0 or 1.
func (r *BodyReader) Boolean() bool {
	if len(r.buf) == 0 {
		r.fail("boolean: short buffer")
		return false
	}
	b := r.buf[0]
	if b > 1 {
		r.fail("boolean: byte %d", b)
		return false
	}
	r.buf = r.buf[1:]
	return b == 1
}

// String reads an Avro string or bytes value. Like goavro it does not
// check UTF-8.
func (r *BodyReader) String() string {
	if len(r.buf) == 0 {
		r.fail("string: short buffer")
		return ""
	}
	n := r.Long()
	if r.err != nil {
		return ""
	}
	if n < 0 {
		r.fail("string: negative size %d", n)
		return ""
	}
	if n > int64(len(r.buf)) {
		r.fail("string: size %d, %d bytes left", n, len(r.buf))
		return ""
	}
	s := r.buf[:n]
	r.buf = r.buf[n:]
	return s
}

// Fixed reads an Avro fixed of size bytes.
func (r *BodyReader) Fixed(size int) string {
	if size > len(r.buf) {
		r.fail("fixed: size %d, %d bytes left", size, len(r.buf))
		return ""
	}
	s := r.buf[:size]
	r.buf = r.buf[size:]
	return s
}

// Index reads an enum symbol index or a union branch index, which must be
// in [0, n).
func (r *BodyReader) Index(n int) int {
	i := r.Long()
	if r.err != nil {
		return 0
	}
	if i < 0 || i >= int64(n) {
		r.fail("index %d outside [0, %d)", i, n)
		return 0
	}
	return int(i)
}

// ArrayBlock reads an array block header and returns its item count; 0
// ends the array (and is returned after an error). Read items while the
// count lasts, then call ArrayBlock again:
//
//	for n := r.ArrayBlock(); n > 0; n = r.ArrayBlock() {
//		for range n { ... read one item ... }
//	}
//
// A block claiming more items than bytes remain is refused at once: the
// registry refuses arrays of items that encode to zero bytes, so such a
// block cannot decode, and refusing it early bounds the caller's work.
func (r *BodyReader) ArrayBlock() int {
	n := r.Long()
	if r.err != nil {
		return 0
	}
	if n < 0 {
		// A negative count is followed by the block's size in bytes, which
		// goavro reads and ignores.
		if n == math.MinInt64 {
			r.fail("array: block count %d", n)
			return 0
		}
		n = -n
		r.Long()
		if r.err != nil {
			return 0
		}
	}
	if n > goavro.MaxBlockCount {
		r.fail("array: block count %d over %d", n, goavro.MaxBlockCount)
		return 0
	}
	if n > int64(len(r.buf)) {
		r.fail("array: block count %d, %d bytes left", n, len(r.buf))
		return 0
	}
	return int(n)
}
