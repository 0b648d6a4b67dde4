// Package tracecontext holds the W3C Trace Context traceparent
// (https://www.w3.org/TR/trace-context/#traceparent-header): parsing it as a
// version-00 participant must, writing it, and starting a new trace. The
// gateway mints and propagates it; the manager copies it onto outcomes only
// when it is valid.
package tracecontext

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// Traceparent is a W3C Trace Context traceparent value
// (https://www.w3.org/TR/trace-context/#traceparent-header), always written
// as version 00: "00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>".
type Traceparent struct {
	traceID  [16]byte
	parentID [8]byte
	flags    byte
}

// Len is the length of a version-00 traceparent: 2+1+32+1+16+1+2.
const Len = 55

func (t Traceparent) String() string {
	var b [Len]byte
	copy(b[:], "00-")
	hex.Encode(b[3:35], t.traceID[:])
	b[35] = '-'
	hex.Encode(b[36:52], t.parentID[:])
	b[52] = '-'
	hex.Encode(b[53:55], []byte{t.flags})
	return string(b[:])
}

// Valid reports whether s is a traceparent in its canonical version-00 form:
// what a participant may copy on unchanged.
func Valid(s string) bool {
	t, ok := Parse(s)
	return ok && t.String() == s
}

// TraceID returns the trace-id in lowercase hex, for logs.
func (t Traceparent) TraceID() string { return hex.EncodeToString(t.traceID[:]) }

// Parse parses a traceparent the way the W3C specification asks
// of a version-00 participant: lowercase hex only, neither id all zeros,
// version ff invalid, version 00 exactly 55 characters, and a higher version
// parsed by its version-00 prefix if that prefix ends the value or is
// followed by '-'.
func Parse(s string) (Traceparent, bool) {
	var t Traceparent
	if len(s) < Len || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return t, false
	}
	var version [1]byte
	if !decodeLowerHex(version[:], s[0:2]) || version[0] == 0xff {
		return t, false
	}
	if version[0] == 0 && len(s) != Len {
		return t, false
	}
	if version[0] > 0 && len(s) > Len && s[Len] != '-' {
		return t, false
	}
	var flags [1]byte
	if !decodeLowerHex(t.traceID[:], s[3:35]) || !decodeLowerHex(t.parentID[:], s[36:52]) || !decodeLowerHex(flags[:], s[53:55]) {
		return t, false
	}
	if isZero(t.traceID[:]) || isZero(t.parentID[:]) {
		return t, false
	}
	t.flags = flags[0]
	return t, true
}

// New starts a new trace with random ids from r (crypto/rand in
// production). The flags are 00: the caller records no spans, so it makes
// no sampling decision for others.
func New(r io.Reader) (Traceparent, error) {
	var t Traceparent
	if err := randomNonZero(r, t.traceID[:]); err != nil {
		return t, fmt.Errorf("tracecontext: random trace id: %w", err)
	}
	if err := randomNonZero(r, t.parentID[:]); err != nil {
		return t, fmt.Errorf("tracecontext: random parent id: %w", err)
	}
	return t, nil
}

// randomNonZero fills b from r until it is not all zeros (the specification
// forbids all-zero ids), giving up after a few draws from a broken source.
func randomNonZero(r io.Reader, b []byte) error {
	for range 4 {
		if _, err := io.ReadFull(r, b); err != nil {
			return err
		}
		if !isZero(b) {
			return nil
		}
	}
	return errors.New("source returns only zeros")
}

// decodeLowerHex decodes s into dst; it refuses upper-case digits, which
// the specification does not allow.
func decodeLowerHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	_, err := hex.Decode(dst, []byte(s))
	return err == nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// FromIDs is the traceparent of a span: its trace id, its span id as the
// parent-id, and its trace flags (a tracing library's span context).
func FromIDs(traceID [16]byte, spanID [8]byte, flags byte) Traceparent {
	return Traceparent{traceID: traceID, parentID: spanID, flags: flags}
}

// IDs returns the trace id, parent id and flags, for a tracing library.
func (t Traceparent) IDs() (traceID [16]byte, parentID [8]byte, flags byte) {
	return t.traceID, t.parentID, t.flags
}

// Sampled reports the sampled flag: the caller records this trace.
func (t Traceparent) Sampled() bool { return t.flags&1 == 1 }
