package codec

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/linkedin/goavro/v2"
)

// The binary primitives against goavro, which is the reference they must
// match byte for byte.

func goavroBinary(tb testing.TB, schema string, v any) []byte {
	tb.Helper()
	c, err := goavro.NewCodec(schema)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := c.BinaryFromNative(nil, v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestAppendMatchesGoavro(t *testing.T) {
	longs := []int64{0, 1, -1, 63, -64, 64, -65, 8191, 8192, math.MaxInt32, math.MinInt32, math.MaxInt64, math.MinInt64}
	for i := range 64 {
		longs = append(longs, int64(1)<<i, -(int64(1) << i), int64(1)<<i-1)
	}
	for _, v := range longs {
		want := goavroBinary(t, `"long"`, v)
		if got := AppendLong(nil, v); !bytes.Equal(got, want) || LongSize(v) != len(want) {
			t.Errorf("long %d: % x (size %d), goavro % x", v, got, LongSize(v), want)
		}
		if v == int64(int32(v)) {
			if got, want := AppendInt(nil, int32(v)), goavroBinary(t, `"int"`, int32(v)); !bytes.Equal(got, want) {
				t.Errorf("int %d: % x, goavro % x", v, got, want)
			}
		}
	}
	for _, s := range []string{"", "a", "héllo", strings.Repeat("x", 127), strings.Repeat("y", 128), strings.Repeat("z", 70000), "\xff\xfe"} {
		want := goavroBinary(t, `"string"`, s)
		if got := AppendString(nil, s); !bytes.Equal(got, want) || StringSize(len(s)) != len(want) {
			t.Errorf("string of %d bytes: sizes %d, %d, %d", len(s), len(got), StringSize(len(s)), len(want))
		}
		if got, want := AppendBytes(nil, []byte(s)), goavroBinary(t, `"bytes"`, []byte(s)); !bytes.Equal(got, want) {
			t.Errorf("bytes of %d bytes differ", len(s))
		}
	}
	for _, b := range []bool{false, true} {
		if got, want := AppendBoolean(nil, b), goavroBinary(t, `"boolean"`, b); !bytes.Equal(got, want) {
			t.Errorf("boolean %t: % x, goavro % x", b, got, want)
		}
	}
}

// TestArrayBlocksMatchGoavro: goavro splits an array into blocks of
// MaxBlockCount items; so does AppendArrayBlock.
func TestArrayBlocksMatchGoavro(t *testing.T) {
	if goavro.MaxBlockCount != MaxBlockItems {
		t.Fatalf("goavro.MaxBlockCount = %d, want %d", goavro.MaxBlockCount, MaxBlockItems)
	}
	sizes := []int{0, 1, 2, 100}
	if !testing.Short() {
		sizes = append(sizes, MaxBlockItems, MaxBlockItems+1, 2*MaxBlockItems+3)
	}
	for _, n := range sizes {
		items := make([]any, n)
		var got []byte
		for i := range n {
			items[i] = int64(i % 300)
			got = AppendArrayBlock(got, i, n)
			got = AppendLong(got, int64(i%300))
		}
		got = AppendLong(got, 0)
		want := goavroBinary(t, `{"type":"array","items":"long"}`, items)
		if !bytes.Equal(got, want) {
			t.Errorf("array of %d: %d bytes, goavro %d", n, len(got), len(want))
		}
		headers := len(got)
		for i := range n {
			headers -= LongSize(int64(i % 300))
		}
		if ArrayHeadersSize(n) != headers {
			t.Errorf("array of %d: ArrayHeadersSize %d, want %d", n, ArrayHeadersSize(n), headers)
		}
	}
}

// readerSchema has a field of every type BodyReader reads.
const readerSchema = `{"type":"record","name":"R","namespace":"cartstream.codectest","fields":[
	{"name":"l","type":"long"},
	{"name":"i","type":"int"},
	{"name":"b","type":"boolean"},
	{"name":"s","type":"string"},
	{"name":"f","type":{"type":"fixed","name":"F","size":3}},
	{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","C"]}},
	{"name":"u","type":["null","string"]},
	{"name":"a","type":{"type":"array","items":"long"}}
]}`

// readWithReader decodes a readerSchema body with BodyReader into
// goavro's native form.
func readWithReader(s *Schema, body []byte) (any, error) {
	r := NewBodyReader(s, string(body))
	m := map[string]any{
		"l": r.Long(),
		"i": r.Int(),
		"b": r.Boolean(),
		"s": r.String(),
		"f": []byte(r.Fixed(3)),
		"e": []string{"A", "B", "C"}[r.Index(3)],
	}
	if r.Index(2) == 1 {
		m["u"] = map[string]any{"string": r.String()}
	} else {
		m["u"] = nil
	}
	a := []any{}
	for n := r.ArrayBlock(); n > 0; n = r.ArrayBlock() {
		for i := 0; i < n && r.Err() == nil; i++ {
			a = append(a, r.Long())
		}
	}
	m["a"] = a
	if err := r.Finish(); err != nil {
		return nil, err
	}
	return m, nil
}

// FuzzBodyReader: BodyReader accepts exactly the bodies goavro accepts,
// with the same values, and never panics.
func FuzzBodyReader(f *testing.F) {
	s := MustParseSchema(readerSchema)
	seed := goavroBinary(f, readerSchema, map[string]any{
		"l": int64(-5), "i": int32(300), "b": true, "s": "hé", "f": []byte("abc"), "e": "C",
		"u": map[string]any{"string": "x"}, "a": []any{int64(1), int64(-2), int64(1 << 40)},
	})
	f.Add(seed)
	// The array as a negative-count block with its byte size, then a
	// second block.
	neg := bytes.Clone(seed[:len(seed)-9])
	neg = append(neg, AppendLong(AppendLong(nil, -1), 1)...)
	neg = append(neg, 2, 2, 4, 0)
	f.Add(neg)
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := readWithReader(s, b)
		want, rest, wantErr := s.codec.NativeFromBinary(b)
		if wantErr == nil && len(rest) != 0 {
			wantErr = fmt.Errorf("%d trailing bytes", len(rest))
		}
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("reader error %v, goavro error %v", err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("reader %#v\ngoavro %#v", got, want)
		}
	})
}
