package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
	"time"
)

// fuzzFixture adds small schemas with maps, unions and arrays of records
// to the test schemas, so random bodies reach more of goavro's decoders.
func fuzzFixture(tb testing.TB) *fixture {
	tb.Helper()
	extra := []string{
		`"int"`,
		`{"type":"map","values":["null","double",{"type":"array","items":"bytes"}]}`,
		`{"type":"array","items":{"type":"record","name":"Pair","fields":[{"name":"k","type":"string"},{"name":"v","type":["null","long","string"]}]}}`,
	}
	schemas := testSchemas(tb)
	for _, e := range extra {
		s, err := ParseSchema(e)
		if err != nil {
			tb.Fatal(err)
		}
		schemas = append(schemas, s)
	}
	reg, err := NewRegistry(schemas...)
	if err != nil {
		tb.Fatal(err)
	}
	f, err := NewSingleObject(reg, Config{MaxRecordBytes: 4 << 10})
	if err != nil {
		tb.Fatal(err)
	}
	vs := reg.Versions("cartstream.codectest.Thing")
	sink, _ := reg.Latest("cartstream.codectest.Sink")
	return &fixture{reg: reg, format: f, v1: vs[0], v2: vs[1], sink: sink}
}

// FuzzDecode feeds arbitrary bytes to the decoder. Invariants: no panic;
// an error is a malformed *DecodeError with no value; a success re-encodes,
// and re-encoding is stable; any Thing version reads as every other.
func FuzzDecode(f *testing.F) {
	fx := fuzzFixture(f)
	for _, d := range []struct {
		s *Schema
		v any
	}{{fx.v1, thingV1()}, {fx.v2, thingV2()}, {fx.sink, sinkDatum()}} {
		b, err := fx.format.Encode(d.s, d.v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0xC3, 0x01, 0x8f})
	f.Fuzz(func(t *testing.T, b []byte) {
		w, v, err := fx.format.Decode(b)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || !IsMalformed(err) || w != nil || v != nil {
				t.Fatalf("bad failure: %T %v (writer %v, value %v)", err, err, w, v)
			}
			return
		}
		// Re-encoding need not give b back (map order, block framing and
		// varint padding vary), but it must decode to the same value.
		b2, err := fx.format.Encode(w, v)
		if err != nil {
			t.Fatalf("decoded value does not re-encode with %s: %v", w, err)
		}
		_, v2, err := fx.format.Decode(b2)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if !nativeEqual(v, v2) {
			t.Fatalf("re-encoded value differs:\n%#v\n%#v", v, v2)
		}
		if w.FullName() == "cartstream.codectest.Thing" {
			for _, r := range fx.reg.Versions(w.FullName()) {
				got, err := DecodeAs(fx.format, fx.reg, b, r)
				if err != nil {
					t.Fatalf("%s read as %s: %v", w, r, err)
				}
				if _, err := r.codec.BinaryFromNative(nil, got); err != nil {
					t.Fatalf("%s view of %s does not encode: %v", r, w, err)
				}
			}
		}
	})
}

// FuzzRoundTrip builds Thing records from fuzzed fields and checks the
// round trip in both schema versions and the evolution both ways.
func FuzzRoundTrip(f *testing.F) {
	fx := fuzzFixture(f)
	f.Add("t-1", int32(7), "x", uint8(1), "legacy", "note", int64(3), true, int64(1_700_000_000_123), []byte{1, 2})
	f.Add("", int32(-1<<31), "", uint8(3), "", "", int64(-1<<63), false, int64(-1), []byte(nil))
	f.Fuzz(func(t *testing.T, id string, count int32, tag string, status uint8, legacy, note string, prio int64, hasPrio bool, ms int64, raw []byte) {
		symbols := []string{"UNKNOWN", "ACTIVE", "RETIRED", "PAUSED"}
		st := symbols[int(status)%len(symbols)]
		tags := []any{}
		if tag != "" {
			tags = append(tags, tag, tag)
		}
		var priority any
		if hasPrio {
			priority = map[string]any{"long": prio}
		}
		at := time.UnixMilli(ms).UTC()
		v2 := map[string]any{"id": id, "count": count, "tags": tags, "status": st, "note": note, "priority": priority, "seenAt": at}

		b, err := fx.format.Encode(fx.v2, v2)
		if errors.Is(err, ErrTooLarge) && len(id)+2*len(tag)+len(note) > 4<<10-64 {
			return // the limit holds on encode too; nothing more to check
		}
		if err != nil {
			t.Fatalf("Encode v2: %v", err)
		}
		if binary.LittleEndian.Uint64(b[2:10]) != fx.v2.Fingerprint() {
			t.Fatal("header does not carry v2's fingerprint")
		}
		_, got, err := fx.format.Decode(b)
		if err != nil || !reflect.DeepEqual(got, v2) {
			t.Fatalf("v2 round trip: %v\n got %#v\nwant %#v", err, got, v2)
		}
		old, err := DecodeAs(fx.format, fx.reg, b, fx.v1)
		if err != nil {
			t.Fatalf("v2 as v1: %v", err)
		}
		wantSt := st
		if st == "PAUSED" {
			wantSt = "UNKNOWN"
		}
		wantOld := map[string]any{"id": id, "count": count, "tags": tags, "status": wantSt, "legacy": "from-v1-default"}
		if !reflect.DeepEqual(old, wantOld) {
			t.Fatalf("v2 as v1:\n got %#v\nwant %#v", old, wantOld)
		}

		v1 := map[string]any{"id": id, "count": count, "tags": tags, "status": wantSt, "legacy": legacy}
		b1, err := fx.format.Encode(fx.v1, v1)
		if errors.Is(err, ErrTooLarge) && len(id)+2*len(tag)+len(legacy) > 4<<10-64 {
			return
		}
		if err != nil {
			t.Fatalf("Encode v1: %v", err)
		}
		_, up, err := DecodeLatest(fx.format, fx.reg, b1)
		if err != nil {
			t.Fatalf("v1 as v2: %v", err)
		}
		wantUp := map[string]any{"id": id, "count": count, "tags": tags, "status": wantSt, "note": "none", "priority": nil, "seenAt": time.UnixMilli(0).UTC()}
		if !reflect.DeepEqual(up, wantUp) {
			t.Fatalf("v1 as v2:\n got %#v\nwant %#v", up, wantUp)
		}

		// bytes and string: promotions both ways keep the bytes.
		sd := sinkDatum()
		sd["raw"] = append([]byte{}, raw...)
		sd["id"] = id
		sb, err := fx.format.Encode(fx.sink, sd)
		if errors.Is(err, ErrTooLarge) && len(id)+len(raw) > 4<<10-512 {
			return
		}
		if err != nil {
			t.Fatalf("Encode sink: %v", err)
		}
		_, sgot, err := fx.format.Decode(sb)
		if err != nil || !bytes.Equal(sgot.(map[string]any)["raw"].([]byte), raw) {
			t.Fatalf("sink raw round trip: %v", err)
		}
	})
}

// nativeEqual is reflect.DeepEqual for native values, except that NaN
// equals NaN (a decoded NaN must survive a re-encode).
func nativeEqual(a, b any) bool {
	switch x := a.(type) {
	case float32:
		y, ok := b.(float32)
		return ok && (x == y || (x != x && y != y))
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || (x != x && y != y))
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !nativeEqual(xv, yv) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !nativeEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}
