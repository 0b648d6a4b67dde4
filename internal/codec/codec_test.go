package codec

import (
	"encoding/binary"
	"errors"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

func TestRoundTrip(t *testing.T) {
	fx := newFixture(t)
	cases := []struct {
		name   string
		schema *Schema
		datum  any
	}{
		{"sink", fx.sink, sinkDatum()},
		{"sink other union branches", fx.sink, func() any {
			d := sinkDatum()
			d["maybe"] = nil
			d["choice"] = map[string]any{"long.timestamp-millis": time.UnixMilli(42).UTC()}
			d["lines"] = []any{}
			d["counts"] = map[string]any{}
			d["raw"] = []byte{}
			return d
		}()},
		{"thing v1", fx.v1, thingV1()},
		{"thing v2", fx.v2, thingV2()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := fx.format.Encode(tc.schema, tc.datum)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if b[0] != 0xC3 || b[1] != 0x01 || binary.LittleEndian.Uint64(b[2:10]) != tc.schema.Fingerprint() {
				t.Fatalf("header % x does not name %s", b[:10], tc.schema)
			}
			w, got, err := fx.format.Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if w != tc.schema {
				t.Fatalf("writer = %s, want %s", w, tc.schema)
			}
			if !reflect.DeepEqual(got, tc.datum) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", got, tc.datum)
			}
			// Reading as the same schema is the identity.
			same, err := DecodeAs(fx.format, fx.reg, b, tc.schema)
			if err != nil || !reflect.DeepEqual(same, tc.datum) {
				t.Fatalf("DecodeAs same schema: %v, %#v", err, same)
			}
		})
	}
}

// TestGoldenFingerprint pins the fingerprint to reference values.
func TestGoldenFingerprint(t *testing.T) {
	// "int": canonical form "int", CRC-64-AVRO 0x7275d51a3f395c8f. Reference:
	// Avro Java SchemaNormalization.parsingFingerprint64 as asserted in
	// skraba/avro-enchiridion SerializeToMessageTest.java (single-object
	// header bytes c3 01 8f 5c 39 3f ...), and goavro's rabin_test.go,
	// which also gives "string" = 0x8f014872634503c7.
	golden := []struct {
		schema, canonical string
		fp                uint64
	}{
		{`"int"`, `"int"`, 0x7275d51a3f395c8f},
		{`{"type": "int"}`, `"int"`, 0x7275d51a3f395c8f},
		{`"string"`, `"string"`, 0x8f014872634503c7},
	}
	for _, g := range golden {
		s, err := ParseSchema(g.schema)
		if err != nil {
			t.Fatal(err)
		}
		if s.Canonical() != g.canonical || s.Fingerprint() != g.fp {
			t.Errorf("%s: canonical %s fp %#x, want %s %#x", g.schema, s.Canonical(), s.Fingerprint(), g.canonical, g.fp)
		}
	}

	// The whole single-object record for int 3, from the Avro spec layout and
	// goavro's documented example: c3 01, fingerprint LE, zigzag(3) = 06.
	s := MustParseSchema(`"int"`)
	reg, err := NewRegistry(s)
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewSingleObject(reg, Config{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.Encode(s, int32(3))
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0xc3, 0x01, 0x8f, 0x5c, 0x39, 0x3f, 0x1a, 0xd5, 0x75, 0x72, 0x06}
	if !reflect.DeepEqual(b, want) {
		t.Fatalf("bytes % x, want % x", b, want)
	}

	// Canonical form strips doc, aliases and defaults and qualifies names
	// (spec "Parsing Canonical Form": STRIP, FULLNAMES, ORDER).
	rec := MustParseSchema(`{"type":"record","name":"R","namespace":"a.b","doc":"x","aliases":["Q"],
		"fields":[{"name":"f","type":"int","default":1,"doc":"y"}]}`)
	if got, want := rec.Canonical(), `{"name":"a.b.R","type":"record","fields":[{"name":"f","type":"int"}]}`; got != want {
		t.Fatalf("canonical %s, want %s", got, want)
	}
}

func mustDecodeErr(t *testing.T, err error, sentinel error) *DecodeError {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("err = %v, want %v", err, sentinel)
	}
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("err %T is not a *DecodeError", err)
	}
	if !IsMalformed(err) {
		t.Fatalf("IsMalformed(%v) = false", err)
	}
	return de
}

func header(fp uint64) []byte {
	b := []byte{0xC3, 0x01, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.LittleEndian.PutUint64(b[2:], fp)
	return b
}

func TestDecodeErrors(t *testing.T) {
	fx := newFixture(t)
	good, err := fx.format.Encode(fx.v1, thingV1())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		in       []byte
		sentinel error
		fp       bool
	}{
		{"empty", nil, ErrTruncated, false},
		{"one byte", []byte{0xC3}, ErrTruncated, false},
		{"header cut", good[:9], ErrTruncated, false},
		{"bad first byte", []byte{0x00, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 9}, ErrBadMagic, false},
		{"bad second byte", []byte{0xC3, 0x02, 1, 2, 3, 4, 5, 6, 7, 8, 9}, ErrBadMagic, false},
		{"short garbage", []byte{'{'}, ErrBadMagic, false},
		{"unknown fingerprint", append(header(0x1234), 0), ErrUnknownSchema, true},
		{"body cut", good[:len(good)-1], ErrBody, true},
		{"header only", good[:10], ErrBody, true},
		{"trailing bytes", append(append([]byte{}, good...), 0), ErrBody, true},
		{"bad enum index", append(header(fx.v1.Fingerprint()), 0x02, 'a', 0x02, 0x00, 0x7e, 0x00), ErrBody, true},
		{"negative string length", append(header(fx.v1.Fingerprint()), 0x03), ErrBody, true},
		{"oversize", make([]byte, DefaultMaxRecordBytes+1), ErrTooLarge, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, v, err := fx.format.Decode(tc.in)
			if w != nil || v != nil {
				t.Fatalf("got writer %v value %v with error", w, v)
			}
			de := mustDecodeErr(t, err, tc.sentinel)
			if de.HasFingerprint != tc.fp {
				t.Fatalf("HasFingerprint = %v, want %v (%v)", de.HasFingerprint, tc.fp, err)
			}
		})
	}
}

func TestTooLargeCheckedFirst(t *testing.T) {
	fx := newFixture(t)
	f, err := NewSingleObject(fx.reg, Config{MaxRecordBytes: 16})
	if err != nil {
		t.Fatal(err)
	}
	// Over the limit is refused even though the header is fine, and even
	// though the same bytes would otherwise decode: no decode work happens.
	b, err := fx.format.Encode(fx.v1, thingV1())
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = f.Decode(b)
	mustDecodeErr(t, err, ErrTooLarge)
	// And a writer cannot produce what its readers would refuse.
	if _, err := f.Encode(fx.v1, thingV1()); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Encode over limit: %v", err)
	}
	if _, err := NewSingleObject(fx.reg, Config{MaxRecordBytes: -1}); err == nil {
		t.Fatal("negative MaxRecordBytes accepted")
	}
}

// TestHostileLengths: length prefixes claim far more than the body holds.
func TestHostileLengths(t *testing.T) {
	fx := newFixture(t)
	fp := fx.v1.Fingerprint()
	zigzag := func(n int64) []byte { return binary.AppendVarint(nil, n) }
	cases := map[string][]byte{
		// id: a string claiming 2 GiB.
		"2GiB string": append(header(fp), zigzag(2<<30)...),
		// id "a", count 1, then tags: an array block claiming 2^31-1 items.
		"2^31 array items": append(append(header(fp), 0x02, 'a', 0x02), zigzag(1<<31-1)...),
		// Negative count with a block size, then too many items.
		"negative block count": append(append(append(header(fp), 0x02, 'a', 0x02), zigzag(-(1<<31-1))...), zigzag(1<<40)...),
		"MinInt64 block count": append(append(header(fp), 0x02, 'a', 0x02), zigzag(-1<<63)...),
		"overlong varint":      append(header(fp), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
	}
	// A top-level map claiming 2^31-1 entries.
	mapSchema := MustParseSchema(`{"type":"map","values":"long"}`)
	reg, err := NewRegistry(mapSchema)
	if err != nil {
		t.Fatal(err)
	}
	mf, err := NewSingleObject(reg, Config{})
	if err != nil {
		t.Fatal(err)
	}
	// Without the block cap goavro would preallocate 2^31 items (32 GiB for
	// the array); with it, a hostile record costs a few MiB at most.
	const budget = 64 << 20
	check := func(t *testing.T, f Format, in []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _, err := f.Decode(in)
		runtime.ReadMemStats(&after)
		mustDecodeErr(t, err, ErrBody)
		if got := after.TotalAlloc - before.TotalAlloc; got > budget {
			t.Fatalf("decode allocated %d bytes", got)
		}
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) { check(t, fx.format, in) })
	}
	t.Run("2^31 map entries", func(t *testing.T) {
		check(t, mf, append(header(mapSchema.Fingerprint()), zigzag(1<<31-1)...))
	})
}

// TestGuardRecoversPanics pins the one recover: a panic inside a goavro
// call becomes an error, and in decode paths ErrBody.
func TestGuardRecoversPanics(t *testing.T) {
	err := guard(func() error { panic("boom") })
	if !errors.Is(err, errPanic) || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("guard: %v", err)
	}
	var nilMap map[string]any
	err = guard(func() error { nilMap["x"] = 1; return nil })
	if !errors.Is(err, errPanic) {
		t.Fatalf("guard runtime error: %v", err)
	}

	// A conversion that panics while projecting is reported as ErrBody.
	fx := newFixture(t)
	b, err := fx.format.Encode(fx.v1, thingV1())
	if err != nil {
		t.Fatal(err)
	}
	writer, _, err := fx.format.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	// A native value of the wrong Go type where a promotion expects int32
	// makes the promotion's type assertion panic.
	promo := MustParseSchema(`{"type":"record","name":"Thing","namespace":"cartstream.codectest","fields":[{"name":"count","type":"long"}]}`)
	_, err = project(fx.reg, writer, promo, map[string]any{"count": "not an int32"})
	de := mustDecodeErr(t, err, ErrBody)
	if de.Fingerprint != writer.Fingerprint() {
		t.Fatalf("fingerprint %#x", de.Fingerprint)
	}
}

func TestIsMalformed(t *testing.T) {
	if IsMalformed(nil) || IsMalformed(errors.New("broker down")) {
		t.Fatal("IsMalformed true for a non-decode error")
	}
	wrapped := errors.Join(errors.New("context"), decodeErr(ErrBadMagic, "", nil))
	if !IsMalformed(wrapped) {
		t.Fatal("IsMalformed false through wrapping")
	}
}

func TestEncodeErrors(t *testing.T) {
	fx := newFixture(t)
	if _, err := fx.format.Encode(MustParseSchema(`"long"`), int64(1)); !errors.Is(err, ErrUnknownSchema) {
		t.Fatalf("unregistered schema: %v", err)
	}
	if _, err := fx.format.Encode(fx.v1, map[string]any{"id": 1}); err == nil {
		t.Fatal("bad datum encoded")
	}
	if _, err := fx.format.Encode(nil, nil); err == nil {
		t.Fatal("nil schema encoded")
	}
}

func TestDecodedValueDoesNotAliasInput(t *testing.T) {
	fx := newFixture(t)
	b, err := fx.format.Encode(fx.sink, sinkDatum())
	if err != nil {
		t.Fatal(err)
	}
	_, v, err := fx.format.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0
	}
	if got := v.(map[string]any)["raw"].([]byte); !reflect.DeepEqual(got, []byte{0, 1, 2, 0xff}) {
		t.Fatalf("raw changed with the input buffer: % x", got)
	}
}

func TestParseSchemaRefuses(t *testing.T) {
	cases := map[string]string{
		"not json":       `{`,
		"recursive":      `{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]}]}`,
		"array of null":  `{"type":"array","items":"null"}`,
		"array of empty": `{"type":"array","items":{"type":"record","name":"E","fields":[]}}`,
		"decimal":        `{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}`,
		"unknown type":   `{"type":"record","name":"R","fields":[{"name":"a","type":"Nope"}]}`,
		"fixed size 0":   `{"type":"fixed","name":"F","size":0}`,
		"bad default":    `{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]}`,
	}
	for name, text := range cases {
		if _, err := ParseSchema(text); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRegistry(t *testing.T) {
	fx := newFixture(t)
	if s, ok := fx.reg.Latest("cartstream.codectest.Thing"); !ok || s != fx.v2 {
		t.Fatalf("Latest = %v", s)
	}
	if s, ok := fx.reg.ByFingerprint(fx.v1.Fingerprint()); !ok || s != fx.v1 {
		t.Fatalf("ByFingerprint = %v", s)
	}
	if _, ok := fx.reg.Latest("nope"); ok {
		t.Fatal("Latest of unknown name")
	}
	if _, err := NewRegistry(fx.v1, fx.v1); err == nil {
		t.Fatal("duplicate schema accepted")
	}
	if got := naturalCompare("thing.v10.avsc", "thing.v2.avsc"); got != 1 {
		t.Fatalf("naturalCompare v10 vs v2 = %d", got)
	}
}

func TestConcurrentDecode(t *testing.T) {
	fx := newFixture(t)
	b, err := fx.format.Encode(fx.v1, thingV1())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if _, _, err := DecodeLatest(fx.format, fx.reg, b); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestLoadFSOrderAndErrors(t *testing.T) {
	rec := func(extra string) []byte {
		return []byte(`{"type":"record","name":"V","fields":[{"name":"a","type":"int"}` + extra + `]}`)
	}
	fsys := fstest.MapFS{
		"s/v.v10.avsc": {Data: rec(`,{"name":"c","type":"int","default":0}`)},
		"s/v.v2.avsc":  {Data: rec(`,{"name":"b","type":"int","default":0}`)},
		"s/v.v1.avsc":  {Data: rec(``)},
	}
	ss, err := LoadFS(fsys, "s/*.avsc")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := NewRegistry(ss...)
	if err != nil {
		t.Fatal(err)
	}
	latest, _ := reg.Latest("V")
	if latest != ss[2] || !strings.Contains(latest.Text(), `"c"`) {
		t.Fatalf("v10 is not the newest: %s", latest.Text())
	}
	fsys["s/bad.avsc"] = &fstest.MapFile{Data: []byte(`{`)}
	if _, err := LoadFS(fsys, "s/*.avsc"); err == nil || !strings.Contains(err.Error(), "bad.avsc") {
		t.Fatalf("bad file: %v", err)
	}
}
