package records

import (
	"testing"

	"github.com/cartstream/cartstream/cart"
)

// The manager does, per request, one DecodeRequest, one EncodeValidated (or
// EncodeInvalid) and one EncodeSnapshot. The snapshot is the shape of a
// typical busy cart: 5 lines and a 20-entry window.

func benchSnapshot(b *testing.B) (*Codec, cart.Snapshot) {
	b.Helper()
	c := newTestCodec(b)
	s := buildSnapshot(b, 5, 20, false)
	if len(s.Cart.Lines) != 5 || len(s.Window) != 20 {
		b.Fatalf("fixture has %d lines, %d window entries", len(s.Cart.Lines), len(s.Window))
	}
	return c, s
}

func BenchmarkEncodeSnapshot(b *testing.B) {
	c, s := benchSnapshot(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.EncodeSnapshot(s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeSnapshotReference is the goavro path EncodeSnapshot took
// before the hand-written encoder, and still takes for other versions.
func BenchmarkEncodeSnapshotReference(b *testing.B) {
	c, s := benchSnapshot(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.encodeSnapshotReference(s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeSnapshotReference is the goavro path of DecodeSnapshot.
func BenchmarkDecodeSnapshotReference(b *testing.B) {
	c, s := benchSnapshot(b)
	v, err := c.EncodeSnapshot(s)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(v)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.decodeSnapshotReference(v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeRequestReference is the goavro path of DecodeRequest.
func BenchmarkDecodeRequestReference(b *testing.B) {
	c := newTestCodec(b)
	v, err := c.EncodeRequest(testCommands()[0])
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(v)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.decodeRequestReference(v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeValidatedReference is the goavro path of EncodeValidated.
func BenchmarkEncodeValidatedReference(b *testing.B) {
	c := newTestCodec(b)
	ev := testEvents()[0]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.encodeValidatedReference(ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeInvalidReference is the goavro path of EncodeInvalid.
func BenchmarkEncodeInvalidReference(b *testing.B) {
	c := newTestCodec(b)
	inv := cart.NewInvalidRequest(testCommands()[0], cart.Rejection{Reason: cart.ReasonUnknownSKU, Message: "unknown sku p0"}, t0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.encodeInvalidReference(inv); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeSnapshot(b *testing.B) {
	c, s := benchSnapshot(b)
	v, err := c.EncodeSnapshot(s)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(v)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.DecodeSnapshot(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeRequest(b *testing.B) {
	c := newTestCodec(b)
	v, err := c.EncodeRequest(testCommands()[0])
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(v)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.DecodeRequest(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeValidated(b *testing.B) {
	c := newTestCodec(b)
	ev := testEvents()[0] // AddItemValidatedRequest, the common case
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.EncodeValidated(ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeInvalid(b *testing.B) {
	c := newTestCodec(b)
	inv := cart.NewInvalidRequest(testCommands()[0], cart.Rejection{Reason: cart.ReasonUnknownSKU, Message: "unknown sku p0"}, t0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.EncodeInvalid(inv); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPerRequest is the manager's whole codec work for one accepted
// request, run in parallel as the manager's partitions are.
func BenchmarkPerRequest(b *testing.B) {
	c, s := benchSnapshot(b)
	req, err := c.EncodeRequest(testCommands()[0])
	if err != nil {
		b.Fatal(err)
	}
	ev := testEvents()[0]
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.DecodeRequest(req); err != nil {
				b.Error(err)
				return
			}
			if _, err := c.EncodeValidated(ev); err != nil {
				b.Error(err)
				return
			}
			if _, err := c.EncodeSnapshot(s); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// The read side: operator replay and the projection decode every event of
// cart.validated and cart.invalid; the validation manager and the
// projection decode every catalog.products record.

// benchValidated is every event type's encoding, in the proportions of the
// fixture's testEvents (one of each).
func benchValidated(b *testing.B) (*Codec, [][]byte) {
	b.Helper()
	c := newTestCodec(b)
	var vs [][]byte
	for _, ev := range testEvents() {
		v, err := c.EncodeValidated(ev)
		if err != nil {
			b.Fatal(err)
		}
		vs = append(vs, v)
	}
	return c, vs
}

func BenchmarkDecodeValidated(b *testing.B) {
	c, vs := benchValidated(b)
	b.SetBytes(int64(len(vs[0])))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.DecodeValidated(vs[0]); err != nil { // AddItemValidatedRequest, the common case
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeValidatedReference is the goavro path of DecodeValidated.
func BenchmarkDecodeValidatedReference(b *testing.B) {
	c, vs := benchValidated(b)
	b.SetBytes(int64(len(vs[0])))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.decodeValidatedReference(vs[0]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeValidatedEach decodes one event of each type per
// iteration.
func BenchmarkDecodeValidatedEach(b *testing.B) {
	c, vs := benchValidated(b)
	b.ReportAllocs()
	for b.Loop() {
		for _, v := range vs {
			if _, err := c.DecodeValidated(v); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkDecodeValidatedEachReference is BenchmarkDecodeValidatedEach
// on the goavro path.
func BenchmarkDecodeValidatedEachReference(b *testing.B) {
	c, vs := benchValidated(b)
	b.ReportAllocs()
	for b.Loop() {
		for _, v := range vs {
			if _, err := c.decodeValidatedReference(v); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func benchInvalid(b *testing.B) (*Codec, []byte) {
	b.Helper()
	c := newTestCodec(b)
	v, err := c.EncodeInvalid(cart.NewInvalidRequest(testCommands()[0], cart.Rejection{Reason: cart.ReasonUnknownSKU, Message: "unknown sku p0"}, t0))
	if err != nil {
		b.Fatal(err)
	}
	return c, v
}

func BenchmarkDecodeInvalid(b *testing.B) {
	c, v := benchInvalid(b)
	b.SetBytes(int64(len(v)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.DecodeInvalid(v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeInvalidReference is the goavro path of DecodeInvalid.
func BenchmarkDecodeInvalidReference(b *testing.B) {
	c, v := benchInvalid(b)
	b.SetBytes(int64(len(v)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.decodeInvalidReference(v); err != nil {
			b.Fatal(err)
		}
	}
}

func benchProduct(b *testing.B) (*Codec, []byte) {
	b.Helper()
	c := newTestCodec(b)
	v, err := c.EncodeProduct(testProduct())
	if err != nil {
		b.Fatal(err)
	}
	return c, v
}

func BenchmarkDecodeProduct(b *testing.B) {
	c, v := benchProduct(b)
	b.SetBytes(int64(len(v)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.DecodeProduct(v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeProductReference is the goavro path of DecodeProduct.
func BenchmarkDecodeProductReference(b *testing.B) {
	c, v := benchProduct(b)
	b.SetBytes(int64(len(v)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.decodeProductReference(v); err != nil {
			b.Fatal(err)
		}
	}
}
