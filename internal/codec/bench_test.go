package codec

import (
	"testing"
	"time"
)

// benchSchema is a ~10-field record shaped like a cart event.
const benchSchema = `{"type":"record","name":"ItemAdded","namespace":"cartstream.bench","fields":[
	{"name":"cartId","type":"string"},
	{"name":"requestId","type":"string"},
	{"name":"sku","type":"string"},
	{"name":"quantity","type":"int"},
	{"name":"unitPriceMinor","type":"long"},
	{"name":"currency","type":"string"},
	{"name":"version","type":"long"},
	{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},
	{"name":"status","type":{"type":"enum","name":"Status","symbols":["OPEN","CHECKED_OUT"]}},
	{"name":"note","type":["null","string"],"default":null}
]}`

// benchSchemaV0 is the same record without "note": decoding v0 bytes as
// the latest version measures resolution.
const benchSchemaV0 = `{"type":"record","name":"ItemAdded","namespace":"cartstream.bench","fields":[
	{"name":"cartId","type":"string"},
	{"name":"requestId","type":"string"},
	{"name":"sku","type":"string"},
	{"name":"quantity","type":"int"},
	{"name":"unitPriceMinor","type":"long"},
	{"name":"currency","type":"string"},
	{"name":"version","type":"long"},
	{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},
	{"name":"status","type":{"type":"enum","name":"Status","symbols":["OPEN","CHECKED_OUT"]}}
]}`

func benchDatum() map[string]any {
	return map[string]any{
		"cartId": "cart-0001-abcdef", "requestId": "req-7f3e2a1b", "sku": "SKU-12345",
		"quantity": int32(3), "unitPriceMinor": int64(1999), "currency": "EUR",
		"version": int64(42), "at": time.UnixMilli(1_700_000_000_000).UTC(),
		"status": "OPEN", "note": map[string]any{"string": "gift wrap"},
	}
}

func benchSetup(b *testing.B) (*SingleObject, *Registry, *Schema, *Schema) {
	b.Helper()
	v0, v1 := MustParseSchema(benchSchemaV0), MustParseSchema(benchSchema)
	reg, err := NewRegistry(v0, v1)
	if err != nil {
		b.Fatal(err)
	}
	f, err := NewSingleObject(reg, Config{})
	if err != nil {
		b.Fatal(err)
	}
	return f, reg, v0, v1
}

func BenchmarkEncode(b *testing.B) {
	f, _, _, s := benchSetup(b)
	d := benchDatum()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Encode(s, d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	f, reg, v0, v1 := benchSetup(b)
	same, err := f.Encode(v1, benchDatum())
	if err != nil {
		b.Fatal(err)
	}
	d0 := benchDatum()
	delete(d0, "note")
	old, err := f.Encode(v0, d0)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("writer=reader", func(b *testing.B) {
		b.SetBytes(int64(len(same)))
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := DecodeLatest(f, reg, same); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("resolved", func(b *testing.B) {
		b.SetBytes(int64(len(old)))
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := DecodeLatest(f, reg, old); err != nil {
				b.Fatal(err)
			}
		}
	})
}
