package codec

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

// TestEvolutionOldWriterNewReader: a record written with v1, read by code
// that knows v2, shows v2's new fields with their defaults and loses the
// field v2 dropped.
func TestEvolutionOldWriterNewReader(t *testing.T) {
	fx := newFixture(t)
	b, err := fx.format.Encode(fx.v1, thingV1())
	if err != nil {
		t.Fatal(err)
	}
	reader, got, err := DecodeLatest(fx.format, fx.reg, b)
	if err != nil {
		t.Fatalf("DecodeLatest: %v", err)
	}
	if reader != fx.v2 {
		t.Fatalf("reader = %s, want v2", reader)
	}
	want := map[string]any{
		"id":       "t-1",
		"count":    int32(7),
		"tags":     []any{"x", "y"},
		"status":   "ACTIVE",
		"note":     "none",                  // default
		"priority": nil,                     // union default null
		"seenAt":   time.UnixMilli(0).UTC(), // logical default, as goavro decodes it
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("v1 read as v2:\n got %#v\nwant %#v", got, want)
	}
	// The v2 reader's value encodes with v2: it is a valid v2 datum.
	if _, err := fx.format.Encode(fx.v2, got); err != nil {
		t.Fatalf("re-encode as v2: %v", err)
	}
}

// TestEvolutionNewWriterOldReader: a v2 record read by v1 code drops the
// new fields, fills the field v2 dropped from v1's default, and maps the
// enum symbol v1 does not know to v1's enum default.
func TestEvolutionNewWriterOldReader(t *testing.T) {
	fx := newFixture(t)
	b, err := fx.format.Encode(fx.v2, thingV2())
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeAs(fx.format, fx.reg, b, fx.v1)
	if err != nil {
		t.Fatalf("DecodeAs v1: %v", err)
	}
	want := map[string]any{
		"id":     "t-2",
		"count":  int32(8),
		"tags":   []any{},
		"status": "UNKNOWN", // PAUSED is v2-only; v1's enum default
		"legacy": "from-v1-default",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("v2 read as v1:\n got %#v\nwant %#v", got, want)
	}
	if err := fx.reg.Compatible(fx.v2, fx.v1); err != nil {
		t.Fatalf("Compatible(v2, v1): %v", err)
	}
	if err := fx.reg.Compatible(fx.v1, fx.v2); err != nil {
		t.Fatalf("Compatible(v1, v2): %v", err)
	}
}

// Defaults are fresh per record: mutating one decoded record must not leak
// into the next.
func TestDefaultsNotShared(t *testing.T) {
	w := MustParseSchema(`{"type":"record","name":"R","fields":[]}`)
	r := MustParseSchema(`{"type":"record","name":"R","fields":[
		{"name":"m","type":{"type":"map","values":"bytes"},"default":{"k":"\u00ff"}}]}`)
	reg, err := NewRegistry(w, r)
	if err != nil {
		t.Fatal(err)
	}
	a, err := reg.Resolve(w, r, map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	a.(map[string]any)["m"].(map[string]any)["k"] = []byte("changed")
	b, err := reg.Resolve(w, r, map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.(map[string]any)["m"].(map[string]any)["k"]; !reflect.DeepEqual(got, []byte{0xff}) {
		t.Fatalf("default leaked: %v", got)
	}
}

func TestResolvePromotionsAndUnions(t *testing.T) {
	rec := func(typ string) string {
		return `{"type":"record","name":"P","namespace":"x","fields":[{"name":"v","type":` + typ + `}]}`
	}
	cases := []struct {
		name       string
		wType, rTy string
		in, want   any
	}{
		{"int->long", `"int"`, `"long"`, int32(-5), int64(-5)},
		{"int->float", `"int"`, `"float"`, int32(3), float32(3)},
		{"int->double", `"int"`, `"double"`, int32(3), float64(3)},
		{"long->float", `"long"`, `"float"`, int64(1 << 20), float32(1 << 20)},
		{"long->double", `"long"`, `"double"`, int64(-9), float64(-9)},
		{"float->double", `"float"`, `"double"`, float32(0.5), float64(0.5)},
		{"string->bytes", `"string"`, `"bytes"`, "hé", []byte("hé")},
		{"bytes->string", `"bytes"`, `"string"`, []byte("ab"), "ab"},
		{"int->[null,long]", `"int"`, `["null","long"]`, int32(4), map[string]any{"long": int64(4)}},
		{"int->[null,int,long] exact first", `"int"`, `["null","long","int"]`, int32(4), map[string]any{"int": int32(4)}},
		{"[null,int]->long", `["null","int"]`, `"long"`, map[string]any{"int": int32(2)}, int64(2)},
		{"[null,int]->[null,long] null", `["null","int"]`, `["null","long"]`, nil, nil},
		{"[null,int]->[null,long] value", `["null","int"]`, `["null","long"]`, map[string]any{"int": int32(2)}, map[string]any{"long": int64(2)}},
		{"[string,long]->[long,string]", `["string","long"]`, `["long","string"]`, map[string]any{"string": "s"}, map[string]any{"string": "s"}},
		{"array int->long", `{"type":"array","items":"int"}`, `{"type":"array","items":"long"}`, []any{int32(1), int32(2)}, []any{int64(1), int64(2)}},
		{"map float->double", `{"type":"map","values":"float"}`, `{"type":"map","values":"double"}`, map[string]any{"a": float32(1)}, map[string]any{"a": float64(1)}},
		{"timestamp same", `{"type":"long","logicalType":"timestamp-millis"}`, `{"type":"long","logicalType":"timestamp-millis"}`, time.UnixMilli(5).UTC(), time.UnixMilli(5).UTC()},
		{"nested record field added", `{"type":"record","name":"N","fields":[{"name":"a","type":"int"}]}`,
			`{"type":"record","name":"N","fields":[{"name":"a","type":"long"},{"name":"b","type":["null","string"],"default":null},{"name":"c","type":["string","null"],"default":"d"}]}`,
			map[string]any{"a": int32(1)}, map[string]any{"a": int64(1), "b": nil, "c": map[string]any{"string": "d"}}},
		{"field alias", `{"type":"record","name":"N","fields":[{"name":"old","type":"int"}]}`,
			`{"type":"record","name":"N","fields":[{"name":"new","aliases":["old"],"type":"int"}]}`,
			map[string]any{"old": int32(1)}, map[string]any{"new": int32(1)}},
		{"renamed record by alias", `{"type":"record","name":"Old","fields":[{"name":"a","type":"int"}]}`,
			`{"type":"record","name":"New","aliases":["Old"],"fields":[{"name":"a","type":"int"}]}`,
			map[string]any{"a": int32(1)}, map[string]any{"a": int32(1)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := MustParseSchema(rec(tc.wType))
			r := MustParseSchema(rec(tc.rTy))
			schemas := []*Schema{w, r}
			if w.Fingerprint() == r.Fingerprint() {
				r, schemas = w, schemas[:1]
			}
			reg, err := NewRegistry(schemas...)
			if err != nil {
				t.Fatal(err)
			}
			f, err := NewSingleObject(reg, Config{})
			if err != nil {
				t.Fatal(err)
			}
			// Through real bytes: encode with the writer, read as the reader.
			b, err := f.Encode(w, map[string]any{"v": tc.in})
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			got, err := DecodeAs(f, reg, b, r)
			if err != nil {
				t.Fatalf("DecodeAs: %v", err)
			}
			want := map[string]any{"v": tc.want}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %#v, want %#v", got, want)
			}
			// What the reader sees is a valid datum of the reader schema.
			if _, err := r.codec.BinaryFromNative(nil, got); err != nil {
				t.Fatalf("reader cannot encode its own view: %v", err)
			}
		})
	}
}

func TestResolveIncompatible(t *testing.T) {
	rec := func(fields string) *Schema {
		return MustParseSchema(`{"type":"record","name":"I","fields":[` + fields + `]}`)
	}
	cases := []struct {
		name string
		w, r *Schema
	}{
		{"long->int", rec(`{"name":"a","type":"long"}`), rec(`{"name":"a","type":"int"}`)},
		{"missing without default", rec(`{"name":"a","type":"int"}`), rec(`{"name":"a","type":"int"},{"name":"b","type":"int"}`)},
		{"string->int", rec(`{"name":"a","type":"string"}`), rec(`{"name":"a","type":"int"}`)},
		{"logical differs", rec(`{"name":"a","type":"long"}`), rec(`{"name":"a","type":{"type":"long","logicalType":"timestamp-millis"}}`)},
		{"fixed size", rec(`{"name":"a","type":{"type":"fixed","name":"F","size":2}}`), rec(`{"name":"a","type":{"type":"fixed","name":"F","size":3}}`)},
		{"no union branch", rec(`{"name":"a","type":"string"}`), rec(`{"name":"a","type":["null","int"]}`)},
		{"other record", MustParseSchema(`{"type":"record","name":"A","fields":[]}`), MustParseSchema(`{"type":"record","name":"B","fields":[]}`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg, err := NewRegistry(tc.w, tc.r)
			if err != nil {
				t.Fatal(err)
			}
			if err := reg.Compatible(tc.w, tc.r); !errors.Is(err, ErrIncompatible) {
				t.Fatalf("Compatible = %v, want ErrIncompatible", err)
			}
		})
	}

	// A union branch the reader cannot read fails per record, not per pair.
	w := rec(`{"name":"a","type":["null","string"]}`)
	r := rec(`{"name":"a","type":"string"}`)
	reg, err := NewRegistry(w, r)
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewSingleObject(reg, Config{})
	if err != nil {
		t.Fatal(err)
	}
	ok, err := f.Encode(w, map[string]any{"a": map[string]any{"string": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeAs(f, reg, ok, r); err != nil || !reflect.DeepEqual(got, map[string]any{"a": "x"}) {
		t.Fatalf("string branch: %v %v", got, err)
	}
	bad, err := f.Encode(w, map[string]any{"a": nil})
	if err != nil {
		t.Fatal(err)
	}
	_, err = DecodeAs(f, reg, bad, r)
	mustDecodeErr(t, err, ErrIncompatible)

	// An enum symbol unknown to a reader without a default.
	we := MustParseSchema(`{"type":"enum","name":"E","symbols":["A","B"]}`)
	re := MustParseSchema(`{"type":"enum","name":"E","symbols":["A"]}`)
	reg, err = NewRegistry(we, re)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Resolve(we, re, "B"); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("unknown enum symbol: %v", err)
	}
}

// TestDefaults: a field the writer lacks takes the reader's default, in
// goavro's native form for the field's type.
func TestDefaults(t *testing.T) {
	cases := []struct {
		name, typ, def string
		want           any
	}{
		{"boolean", `"boolean"`, `true`, true},
		{"int", `"int"`, `-7`, int32(-7)},
		{"long exact", `"long"`, `9007199254740993`, int64(9007199254740993)},
		{"float", `"float"`, `1.5`, float32(1.5)},
		{"double", `"double"`, `2.25`, 2.25},
		{"string", `"string"`, `"s"`, "s"},
		{"bytes code points", `"bytes"`, `"\u0000\u00ff"`, []byte{0, 0xff}},
		{"fixed", `{"type":"fixed","name":"F2","size":2}`, `"ab"`, []byte("ab")},
		{"enum", `{"type":"enum","name":"E","symbols":["A","B"]}`, `"B"`, "B"},
		{"array", `{"type":"array","items":"long"}`, `[1,2]`, []any{int64(1), int64(2)}},
		{"map", `{"type":"map","values":"int"}`, `{"a":1}`, map[string]any{"a": int32(1)}},
		{"record with inner default", `{"type":"record","name":"In","fields":[{"name":"x","type":"int"},{"name":"y","type":"string","default":"dy"}]}`,
			`{"x":3}`, map[string]any{"x": int32(3), "y": "dy"}},
		{"union first non-null", `["string","null"]`, `"u"`, map[string]any{"string": "u"}},
		{"union null", `["null","string"]`, `null`, nil},
		{"date", `{"type":"int","logicalType":"date"}`, `1`, time.Unix(86400, 0).UTC()},
		{"time-millis", `{"type":"int","logicalType":"time-millis"}`, `1500`, 1500 * time.Millisecond},
		{"timestamp-micros", `{"type":"long","logicalType":"timestamp-micros"}`, `1000001`, time.Unix(1, 1000).UTC()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := MustParseSchema(`{"type":"record","name":"D","fields":[]}`)
			r, err := ParseSchema(`{"type":"record","name":"D","fields":[{"name":"f","type":` + tc.typ + `,"default":` + tc.def + `}]}`)
			if err != nil {
				t.Fatal(err)
			}
			reg, err := NewRegistry(w, r)
			if err != nil {
				t.Fatal(err)
			}
			got, err := reg.Resolve(w, r, map[string]any{})
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if want := map[string]any{"f": tc.want}; !reflect.DeepEqual(got, want) {
				t.Fatalf("got %#v, want %#v", got, want)
			}
			if _, err := r.codec.BinaryFromNative(nil, got); err != nil {
				t.Fatalf("default is not a valid datum: %v", err)
			}
		})
	}

	// Defaults that do not fit their type make the pair incompatible (goavro
	// does not check defaults inside complex types).
	bad := map[string]string{
		"array item":     `{"type":"array","items":"int"}, "default": ["x"]`,
		"map value":      `{"type":"map","values":"int"}, "default": {"a": "x"}`,
		"record field":   `{"type":"record","name":"In","fields":[{"name":"x","type":"int"}]}, "default": {}`,
		"bytes > 0xff":   `"bytes", "default": "\u0100"`,
		"fixed size":     `{"type":"fixed","name":"F3","size":3}, "default": "ab"`,
		"enum symbol":    `{"type":"enum","name":"E2","symbols":["A"]}, "default": "Z"`,
		"int range":      `"int", "default": 3000000000`,
		"union not null": `["null","int"], "default": 1`,
	}
	for name, field := range bad {
		t.Run("bad "+name, func(t *testing.T) {
			w := MustParseSchema(`{"type":"record","name":"D","fields":[]}`)
			r, err := ParseSchema(`{"type":"record","name":"D","fields":[{"name":"f","type":` + field + `}]}`)
			if err != nil {
				return // refused at parse: fine too
			}
			reg, err := NewRegistry(w, r)
			if err != nil {
				t.Fatal(err)
			}
			if err := reg.Compatible(w, r); !errors.Is(err, ErrIncompatible) {
				t.Fatalf("Compatible = %v", err)
			}
		})
	}
}
