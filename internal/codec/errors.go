package codec

import (
	"errors"
	"fmt"
)

// Sentinels for the ways a record can fail to decode. Every decode error
// wraps exactly one of them inside a *DecodeError; test with errors.Is.
var (
	// ErrTruncated: the record is shorter than its framing header.
	ErrTruncated = errors.New("codec: record truncated")
	// ErrBadMagic: the record does not start with the format's marker.
	ErrBadMagic = errors.New("codec: bad magic")
	// ErrUnknownSchema: the writer schema named by the record is not
	// registered with this reader.
	ErrUnknownSchema = errors.New("codec: unknown writer schema")
	// ErrTooLarge: the record is over the configured maximum size.
	ErrTooLarge = errors.New("codec: record too large")
	// ErrBody: the Avro body does not decode with its writer schema, or has
	// trailing bytes.
	ErrBody = errors.New("codec: bad avro body")
	// ErrIncompatible: the datum cannot be presented in the reader schema's
	// shape (Avro schema resolution fails for this writer/reader pair).
	ErrIncompatible = errors.New("codec: writer and reader schemas are incompatible")
)

// DecodeError describes why one record did not decode. Err is one of the
// package sentinels; Fingerprint is the writer schema's fingerprint when the
// header was readable (HasFingerprint reports whether it was).
type DecodeError struct {
	Err            error  // one of the package sentinels
	Fingerprint    uint64 // writer fingerprint, valid if HasFingerprint
	HasFingerprint bool
	Detail         string // human-readable cause, no payload bytes
	cause          error  // underlying library error, if any
}

func (e *DecodeError) Error() string {
	msg := e.Err.Error()
	if e.HasFingerprint {
		msg += fmt.Sprintf(" (writer fingerprint %#016x)", e.Fingerprint)
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.cause != nil {
		msg += ": " + e.cause.Error()
	}
	return msg
}

// Unwrap exposes both the sentinel and the underlying cause, so errors.Is
// matches either.
func (e *DecodeError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.cause}
}

// IsMalformed reports whether err says the record itself cannot be read by
// this reader, however often it is retried: truncated, wrong marker, unknown
// or incompatible writer schema, too large, or a corrupt body. A Kafka
// consumer routes such a record to the MALFORMED dead-letter stream with its
// raw bytes and moves on; any other error is not about the record.
func IsMalformed(err error) bool {
	var de *DecodeError
	if !errors.As(err, &de) {
		return false
	}
	switch de.Err {
	case ErrTruncated, ErrBadMagic, ErrUnknownSchema, ErrTooLarge, ErrBody, ErrIncompatible:
		return true
	}
	return false
}

func decodeErr(sentinel error, detail string, cause error) *DecodeError {
	return &DecodeError{Err: sentinel, Detail: detail, cause: cause}
}

func decodeErrFP(sentinel error, fp uint64, detail string, cause error) *DecodeError {
	return &DecodeError{Err: sentinel, Fingerprint: fp, HasFingerprint: true, Detail: detail, cause: cause}
}
