package records

import (
	"reflect"
	"testing"

	"github.com/cartstream/cartstream/cart"
)

// FuzzDecodeRequest feeds arbitrary bytes to DecodeRequest, the first thing
// the manager does with a record it did not write. Invariants: no panic;
// an error is malformed and comes without a command; a command is valid,
// re-encodes, and decodes again to itself; DecodeAny agrees.
// The seed corpus is under testdata/fuzz/FuzzDecodeRequest.
func FuzzDecodeRequest(f *testing.F) {
	c := newTestCodec(f)
	for _, cmd := range testCommands() {
		b, err := c.EncodeRequest(cmd)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cmd, err := c.DecodeRequest(b)
		anyV, anyErr := c.DecodeAny(b)
		if err != nil {
			if cmd != nil || !IsMalformed(err) {
				t.Fatalf("DecodeRequest = %#v, %v (malformed %t)", cmd, err, IsMalformed(err))
			}
			if anyErr == nil {
				if _, isCmd := anyV.(cart.Command); isCmd {
					t.Fatalf("DecodeAny decoded a command DecodeRequest refused: %#v (%v)", anyV, err)
				}
			}
			return
		}
		if anyErr != nil || !reflect.DeepEqual(anyV, cmd) {
			t.Fatalf("DecodeAny = %#v, %v; DecodeRequest = %#v", anyV, anyErr, cmd)
		}
		if err := cart.ValidateCommand(cmd); err != nil {
			t.Fatalf("decoded an invalid command %#v: %v", cmd, err)
		}
		b2, err := c.EncodeRequest(cmd)
		if err != nil {
			t.Fatalf("re-encode %#v: %v", cmd, err)
		}
		again, err := c.DecodeRequest(b2)
		if err != nil || !reflect.DeepEqual(again, cmd) {
			t.Fatalf("re-decode: %#v, %v; want %#v", again, err, cmd)
		}
	})
}

// FuzzDecodeSnapshot feeds arbitrary bytes to DecodeSnapshot, what the
// manager restores carts from. Invariants: no panic; an error is malformed
// and comes with the zero snapshot; a snapshot is valid and round-trips
// exactly. The seed corpus is under testdata/fuzz/FuzzDecodeSnapshot.
func FuzzDecodeSnapshot(f *testing.F) {
	c := newTestCodec(f)
	for _, s := range []cart.Snapshot{cart.NewSnapshot("c"), buildSnapshot(f, 2, 6, false), buildSnapshot(f, 3, 9, true)} {
		b, err := c.EncodeSnapshot(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := c.DecodeSnapshot(b)
		if err != nil {
			if !reflect.DeepEqual(s, cart.Snapshot{}) || !IsMalformed(err) {
				t.Fatalf("DecodeSnapshot = %#v, %v (malformed %t)", s, err, IsMalformed(err))
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("decoded an invalid snapshot: %v", err)
		}
		b2, err := c.EncodeSnapshot(s)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := c.DecodeSnapshot(b2)
		if err != nil || !reflect.DeepEqual(again, s) {
			t.Fatalf("re-decode: %v\n got %#v\nwant %#v", err, again, s)
		}
	})
}
