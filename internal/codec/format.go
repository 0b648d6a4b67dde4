package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/linkedin/goavro/v2"
)

// Format frames an Avro body with the identity of its writer schema.
//
// Implementations are safe for concurrent use by many goroutines and hold
// no per-call state. Encode and Decode are pure CPU work on the bytes they
// are given (no I/O, hence no context). Decode never panics; every error it
// returns is a *DecodeError (see IsMalformed), and the value it returns
// does not alias b. Encode writes only with schemas the format's registry
// knows, so whatever it writes, a reader with the same registry can read.
type Format interface {
	// Encode returns native encoded with s, framed with s's identity.
	Encode(s *Schema, native any) ([]byte, error)
	// Decode finds the writer schema named by b's framing and decodes the
	// body with it. native is in the writer's shape; see DecodeAs and
	// DecodeLatest for a reader's shape.
	Decode(b []byte) (writer *Schema, native any, err error)
}

// MaxBlockItems caps how many items one Avro array or map block may claim.
// goavro preallocates a block's claimed item count before reading the
// items, and by default allows 2^31-1: a six-byte body could ask for a
// 32 GiB slice. The cap is a process-wide goavro setting, lowered once in
// this package's init. Encoders that write a whole array as one block (as
// Avro's Java and goavro do) can write at most this many items per array.
const MaxBlockItems = 1 << 18

func init() {
	// Lowered only, never raised, and only here, so no decode races it.
	if goavro.MaxBlockCount > MaxBlockItems {
		goavro.MaxBlockCount = MaxBlockItems
	}
}

// DefaultMaxRecordBytes is the record size limit when Config leaves it zero:
// Kafka's default message.max.bytes is about 1 MiB.
const DefaultMaxRecordBytes = 1 << 20

// Config configures a Format. The zero value is valid.
type Config struct {
	// MaxRecordBytes is the largest framed record accepted, checked before
	// any decode work (and on encode, so a writer cannot produce what its
	// readers refuse). 0 means DefaultMaxRecordBytes.
	MaxRecordBytes int
}

func (c Config) withDefaults() Config {
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = DefaultMaxRecordBytes
	}
	return c
}

// Validate reports every problem with the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.MaxRecordBytes < 0 {
		errs = append(errs, fmt.Errorf("codec: MaxRecordBytes %d is negative", c.MaxRecordBytes))
	}
	return errors.Join(errs...)
}

// Single-object encoding header (Avro spec, "Single object encoding").
const (
	soeMagic0    = 0xC3
	soeMagic1    = 0x01
	soeHeaderLen = 10 // 2 marker bytes + 8-byte little-endian fingerprint
)

// SingleObject is the Avro single-object encoding Format: 0xC3 0x01, the
// CRC-64-AVRO fingerprint of the writer's canonical form (little-endian),
// then the Avro binary body.
type SingleObject struct {
	reg *Registry
	max int
}

var _ Format = (*SingleObject)(nil)

// NewSingleObject returns the single-object Format over reg.
func NewSingleObject(reg *Registry, cfg Config) (*SingleObject, error) {
	if reg == nil {
		return nil, errors.New("codec: nil registry")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &SingleObject{reg: reg, max: cfg.MaxRecordBytes}, nil
}

// Encode implements Format.
func (f *SingleObject) Encode(s *Schema, native any) ([]byte, error) {
	if s == nil {
		return nil, errors.New("codec: encode: nil schema")
	}
	if _, ok := f.reg.ByFingerprint(s.Fingerprint()); !ok {
		return nil, fmt.Errorf("codec: encode %s: %w", s, ErrUnknownSchema)
	}
	var out []byte
	err := guard(func() error {
		var err error
		// goavro writes the same header (marker + LE fingerprint).
		out, err = s.codec.SingleFromNative(make([]byte, 0, 64), native)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("codec: encode %s: %w", s, err)
	}
	if len(out) > f.max {
		return nil, fmt.Errorf("codec: encode %s: %d bytes over the %d limit: %w", s, len(out), f.max, ErrTooLarge)
	}
	return out, nil
}

// EncodeFunc is Encode for a hand-written encoder of a hot record type:
// appendBody appends the Avro binary body of one value of s to dst and
// returns the extended slice; bodySize is how many bytes it will append,
// so the record is allocated once at its exact size (a wrong size costs an
// allocation, never correctness). The framing and the errors (unknown
// schema, over the size limit) are Encode's. The caller vouches that the
// body is what Encode would write for the same value; its tests must
// compare the two.
func (f *SingleObject) EncodeFunc(s *Schema, bodySize int, appendBody func(dst []byte) []byte) ([]byte, error) {
	if s == nil {
		return nil, errors.New("codec: encode: nil schema")
	}
	if _, ok := f.reg.ByFingerprint(s.Fingerprint()); !ok {
		return nil, fmt.Errorf("codec: encode %s: %w", s, ErrUnknownSchema)
	}
	out := make([]byte, soeHeaderLen, soeHeaderLen+max(bodySize, 0))
	out[0], out[1] = soeMagic0, soeMagic1
	binary.LittleEndian.PutUint64(out[2:soeHeaderLen], s.Fingerprint())
	out = appendBody(out)
	if len(out) > f.max {
		return nil, fmt.Errorf("codec: encode %s: %d bytes over the %d limit: %w", s, len(out), f.max, ErrTooLarge)
	}
	return out, nil
}

// Decode implements Format.
func (f *SingleObject) Decode(b []byte) (*Schema, any, error) {
	s, body, err := f.DecodeHeader(b)
	if err != nil {
		return nil, nil, err
	}
	native, err := decodeBody(s, body)
	if err != nil {
		return nil, nil, err
	}
	return s, native, nil
}

// DecodeHeader is the first half of Decode: it checks the size and the
// framing of b and finds the writer schema, failing as Decode does, and
// returns the body (a sub-slice of b) for a hand-written decoder to read
// with a BodyReader. Decode is DecodeHeader followed by goavro's decoder
// of the writer schema.
func (f *SingleObject) DecodeHeader(b []byte) (*Schema, []byte, error) {
	if len(b) > f.max {
		return nil, nil, decodeErr(ErrTooLarge, fmt.Sprintf("%d bytes over the %d limit", len(b), f.max), nil)
	}
	// Check the marker on what is there before the length, so two bytes of
	// garbage say "bad magic" rather than "truncated".
	if (len(b) > 0 && b[0] != soeMagic0) || (len(b) > 1 && b[1] != soeMagic1) {
		return nil, nil, decodeErr(ErrBadMagic, fmt.Sprintf("marker % x", b[:min(len(b), 2)]), nil)
	}
	if len(b) < soeHeaderLen {
		return nil, nil, decodeErr(ErrTruncated, fmt.Sprintf("%d bytes, header needs %d", len(b), soeHeaderLen), nil)
	}
	// goavro.FingerprintFromSOE reads the same header, but its errors carry
	// no identity to tell a short buffer from a bad marker; checked above.
	fp, body, err := goavro.FingerprintFromSOE(b)
	if err != nil {
		return nil, nil, decodeErr(ErrBadMagic, "", err)
	}
	s, ok := f.reg.ByFingerprint(fp)
	if !ok {
		return nil, nil, decodeErrFP(ErrUnknownSchema, fp, "", nil)
	}
	return s, body, nil
}

// decodeBody decodes a whole Avro binary body with s. The body is copied
// first: goavro returns bytes values as sub-slices of its input, and the
// caller's buffer (a Kafka message) must not be pinned or aliased.
func decodeBody(s *Schema, body []byte) (any, error) {
	var native any
	var rest []byte
	err := guard(func() error {
		var err error
		native, rest, err = s.codec.NativeFromBinary(bytes.Clone(body))
		return err
	})
	if err != nil {
		return nil, decodeErrFP(ErrBody, s.Fingerprint(), "", err)
	}
	if len(rest) != 0 {
		return nil, decodeErrFP(ErrBody, s.Fingerprint(), fmt.Sprintf("%d trailing bytes", len(rest)), nil)
	}
	return native, nil
}

// errPanic marks an error made from a recovered goavro panic.
var errPanic = errors.New("goavro panicked")

// guard runs one goavro call and turns a panic into an error. It is the
// one place this package recovers: goavro type-asserts freely, and hostile
// bytes must not take a consumer down.
func guard(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errPanic, r)
		}
	}()
	return f()
}

// DecodeAs decodes b with f and presents the datum in reader's shape (Avro
// schema resolution through reg). The writer is any registered version of
// reader's record; a writer of another record is ErrIncompatible.
func DecodeAs(f Format, reg *Registry, b []byte, reader *Schema) (any, error) {
	writer, native, err := f.Decode(b)
	if err != nil {
		return nil, err
	}
	return project(reg, writer, reader, native)
}

// DecodeLatest decodes b with f and presents the datum in the shape of the
// newest registered version of the writer's full name, which it returns.
func DecodeLatest(f Format, reg *Registry, b []byte) (reader *Schema, native any, err error) {
	writer, native, err := f.Decode(b)
	if err != nil {
		return nil, nil, err
	}
	reader, ok := reg.Latest(writer.FullName())
	if !ok {
		return nil, nil, decodeErrFP(ErrUnknownSchema, writer.Fingerprint(), "no version of "+writer.FullName(), nil)
	}
	v, err := project(reg, writer, reader, native)
	if err != nil {
		return nil, nil, err
	}
	return reader, v, nil
}

func project(reg *Registry, writer, reader *Schema, native any) (any, error) {
	if reader == nil {
		return nil, errors.New("codec: nil reader schema")
	}
	var v any
	err := guard(func() error {
		var err error
		v, err = reg.Resolve(writer, reader, native)
		return err
	})
	if err != nil {
		sentinel := ErrIncompatible
		if errors.Is(err, errPanic) {
			sentinel = ErrBody
		}
		return nil, decodeErrFP(sentinel, writer.Fingerprint(), "read as "+reader.String(), err)
	}
	return v, nil
}
