package codec

import (
	"os"
	"testing"
	"time"
)

// testSchemas loads every schema under testdata/schemas, in version order.
func testSchemas(tb testing.TB) []*Schema {
	tb.Helper()
	ss, err := LoadFS(os.DirFS("testdata"), "schemas/*.avsc")
	if err != nil {
		tb.Fatalf("LoadFS: %v", err)
	}
	if len(ss) == 0 {
		tb.Fatal("no test schemas")
	}
	return ss
}

type fixture struct {
	reg    *Registry
	format *SingleObject
	v1, v2 *Schema // cartstream.codectest.Thing versions
	sink   *Schema
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	reg, err := NewRegistry(testSchemas(tb)...)
	if err != nil {
		tb.Fatalf("NewRegistry: %v", err)
	}
	f, err := NewSingleObject(reg, Config{})
	if err != nil {
		tb.Fatalf("NewSingleObject: %v", err)
	}
	vs := reg.Versions("cartstream.codectest.Thing")
	if len(vs) != 2 {
		tb.Fatalf("Thing versions = %d, want 2", len(vs))
	}
	sink, ok := reg.Latest("cartstream.codectest.Sink")
	if !ok {
		tb.Fatal("no Sink schema")
	}
	return &fixture{reg: reg, format: f, v1: vs[0], v2: vs[1], sink: sink}
}

func sinkDatum() map[string]any {
	money := map[string]any{"minor": int64(1999), "currency": "EUR"}
	return map[string]any{
		"id":     "cart-1",
		"seq":    int64(1) << 40,
		"qty":    int32(-3),
		"ok":     true,
		"ratio":  0.25,
		"weight": float32(1.5),
		"raw":    []byte{0, 1, 2, 0xff},
		"digest": []byte("0123456789abcdef"),
		"at":     time.UnixMilli(1_700_000_000_123).UTC(),
		"kind":   "B",
		"money":  money,
		"lines": []any{
			map[string]any{"sku": "SKU-1", "price": money, "attrs": map[string]any{"color": "red"}},
			map[string]any{"sku": "SKU-2", "price": map[string]any{"minor": int64(5), "currency": "USD"}, "attrs": map[string]any{}},
		},
		"counts": map[string]any{"a": int64(1), "b": int64(-2)},
		"maybe":  map[string]any{"string": "hello"},
		"choice": map[string]any{"cartstream.codectest.Money": money},
	}
}

func thingV1() map[string]any {
	return map[string]any{
		"id":     "t-1",
		"count":  int32(7),
		"tags":   []any{"x", "y"},
		"status": "ACTIVE",
		"legacy": "kept-by-v1",
	}
}

func thingV2() map[string]any {
	return map[string]any{
		"id":       "t-2",
		"count":    int32(8),
		"tags":     []any{},
		"status":   "PAUSED",
		"note":     "new in v2",
		"priority": map[string]any{"long": int64(3)},
		"seenAt":   time.UnixMilli(1_700_000_000_000).UTC(),
	}
}
