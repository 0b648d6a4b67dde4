package projection

import (
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"

	"github.com/cartstream/cartstream/cart"
)

// histCursor is where a page starts: the absolute positions (see refRing)
// of the next event and the next rejection, and the cart version reached
// before them. Positions count from the topics' start, not from what the
// index keeps, so a token stays valid while the history grows and old
// entries are evicted.
type histCursor struct {
	events, rejections int
	version            int64
}

// History page tokens: base64url of "h1", three uvarints (the cursor) and
// the CRC-32 of the cart id, so a token is refused for another cart.
func (c histCursor) token(id cart.CartID) string {
	b := []byte("h1")
	b = binary.AppendUvarint(b, uint64(c.events))
	b = binary.AppendUvarint(b, uint64(c.rejections))
	b = binary.AppendUvarint(b, uint64(c.version))
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE([]byte(id)))
	return base64.RawURLEncoding.EncodeToString(b)
}

// errBadHistToken is the answer to a page token that is not one of this
// cart's.
func errBadHistToken() error {
	return invalid("page_token", "is not a next_page_token of GetCartHistory for this cart_id")
}

// parseHistToken decodes a page token of cart id; "" is the first page.
func parseHistToken(tok string, id cart.CartID) (histCursor, error) {
	if tok == "" {
		return histCursor{}, nil
	}
	if len(tok) > maxPageToken {
		return histCursor{}, errBadHistToken()
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 2+3+4 || string(b[:2]) != "h1" {
		return histCursor{}, errBadHistToken()
	}
	b = b[2:]
	var v [3]uint64
	for i := range v {
		x, n := binary.Uvarint(b)
		if n <= 0 || x > 1<<40 {
			return histCursor{}, errBadHistToken()
		}
		v[i], b = x, b[n:]
	}
	if len(b) != 4 || binary.BigEndian.Uint32(b) != crc32.ChecksumIEEE([]byte(id)) {
		return histCursor{}, errBadHistToken()
	}
	return histCursor{events: int(v[0]), rejections: int(v[1]), version: int64(v[2])}, nil
}
