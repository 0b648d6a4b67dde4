package validation

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	keyhash "github.com/cartstream/cartstream/internal/partition"
	"github.com/cartstream/cartstream/internal/tracecontext"
)

// What an outcome copies from its request record is bounded, whatever the
// broker accepted into cart.requests: a copied field that could grow with
// the input would let one record make its own outcome too large to produce,
// and that record would then stop its partition for good (issue 11).
const (
	// MaxMalformedMessage caps the error text of a MALFORMED outcome, in
	// bytes (a decode error may quote the input).
	MaxMalformedMessage = 1 << 10
	// MaxOutcomeBytes is the producers' message.max.bytes, set explicitly
	// rather than left to the client's default: every outcome the manager
	// builds fits in it whatever the input (TestMalformedOutcomeFits).
	MaxOutcomeBytes = 1_000_000
)

// outcomeKey is the key of an outcome of a request record that sits in
// partition p of a topic of n partitions (n <= 0: unknown). It is the
// record's key when that key is a valid cart id that hashes to p, else nil:
// the outcome goes to p explicitly, and a key that is no cart id (or whose
// cart lives in another partition) must not turn up as a cart's record in
// the wrong place. A nil key is the mark of an outcome that belongs to no
// cart; the message says what the key was.
func outcomeKey(key []byte, p int32, n int) []byte {
	if cart.CartID(key).Validate() != nil || misplaced(key, p, n) {
		return nil
	}
	return key
}

// misplaced tells whether a key hashes (murmur2, as every cartstream
// producer partitions) to another partition than p among n; false when n is
// unknown.
func misplaced(key []byte, p int32, n int) bool {
	return n > 0 && keyhash.For(key, n) != p
}

// firstHeader is the value of the first header named key. A duplicated
// header counts once: concatenating the copies would let the input choose
// the size of what is copied.
func firstHeader(msg *kafka.Message, key string) ([]byte, bool) {
	for _, h := range msg.Headers {
		if h.Key == key {
			return h.Value, true
		}
	}
	return nil, false
}

// requestIDHeader is the record's request-id header when it is a valid
// request id, else "": only what cart.RequestID accepts is copied.
func requestIDHeader(msg *kafka.Message) string {
	v, _ := firstHeader(msg, HeaderRequestID)
	if cart.RequestID(v).Validate() != nil {
		return ""
	}
	return string(v)
}

// traceparentHeader is the record's first traceparent header when it is a
// valid version-00 W3C traceparent (the form the gateway writes), else "":
// a trace context that does not parse is dropped, as the specification
// asks of a participant, and can never carry more than 55 bytes.
func traceparentHeader(msg *kafka.Message) string {
	v, _ := firstHeader(msg, HeaderTraceparent)
	if len(v) != tracecontext.Len || !tracecontext.Valid(string(v)) {
		return ""
	}
	return string(v)
}

// boundText makes s safe to copy into an outcome: valid UTF-8 (a decode
// error may quote input bytes) and at most n bytes, cut on a rune boundary
// and marked as cut.
func boundText(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	const mark = "... (truncated)"
	cut := max(n-len(mark), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// boundRaw is the prefix of a malformed record's value that its MALFORMED
// outcome carries, and a note for the message when it was cut.
func boundRaw(raw []byte) ([]byte, string) {
	if len(raw) <= MaxMalformedRaw {
		return raw, ""
	}
	return raw[:MaxMalformedRaw], " (raw bytes truncated from " + strconv.Itoa(len(raw)) + " to " + strconv.Itoa(MaxMalformedRaw) + ")"
}

// describeKey names a record key in a message: quoted and cut when it is
// long, its length when it is large.
func describeKey(key []byte) string {
	const show = 64
	switch {
	case key == nil:
		return "no key"
	case len(key) <= show:
		return "key " + strconv.Quote(boundText(string(key), show))
	default:
		return "key of " + strconv.Itoa(len(key)) + " bytes starting " + strconv.Quote(boundText(string(key[:show]), show))
	}
}
