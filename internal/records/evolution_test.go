package records

import (
	"encoding/binary"
	"errors"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/cartstream/cartstream/cart"

	"github.com/cartstream/cartstream/internal/codec"
)

// evolution builds the three readers of an evolution test from the real
// embedded schemas plus a test-only v2 of one record type:
//
//   - oldOnly: today's Codec, which has never seen v2;
//   - oldReader: code still written for v1 (reads and writes v1) that was
//     shipped the v2 schema, as readers must be before a writer uses it;
//   - newReader: code written for v2.
func evolution(t *testing.T, v2file string) (v1, v2 *codec.Schema, oldOnly, oldReader, newReader *Codec) {
	t.Helper()
	return evolutionOf(t, parseFile(t, os.ReadFile, v2file))
}

// evolutionOf is evolution with the v2 schema already parsed.
func evolutionOf(t *testing.T, v2 *codec.Schema) (v1, _ *codec.Schema, oldOnly, oldReader, newReader *Codec) {
	t.Helper()
	all := append(embeddedSchemas(t), v2)
	cur := currentSchemas(t)
	newCur := make([]*codec.Schema, len(cur))
	for i, s := range cur {
		newCur[i] = s
		if s.FullName() == v2.FullName() {
			v1, newCur[i] = s, v2
		}
	}
	if v1 == nil {
		t.Fatalf("no current version of %s", v2.FullName())
	}
	var err error
	if oldReader, err = newCodec(Config{}, all, cur); err != nil {
		t.Fatal(err)
	}
	if newReader, err = newCodec(Config{}, all, newCur); err != nil {
		t.Fatal(err)
	}
	return v1, v2, newTestCodec(t), oldReader, newReader
}

func writerFP(b []byte) uint64 { return binary.LittleEndian.Uint64(b[2:10]) }

func TestEvolutionProduct(t *testing.T) {
	v1, v2, oldOnly, oldReader, newReader := evolution(t, "testdata/evolution/product.v2.avsc")
	p := testProduct()

	// Old writer -> new reader: the added field takes its default.
	b1, err := oldOnly.EncodeProduct(p)
	if err != nil {
		t.Fatal(err)
	}
	if writerFP(b1) != v1.Fingerprint() {
		t.Fatal("old writer did not write v1")
	}
	if got, err := newReader.DecodeProduct(b1); err != nil || !reflect.DeepEqual(got, p) {
		t.Fatalf("v1 record read by v2 code: %#v, %v", got, err)
	}
	native, err := codec.DecodeAs(newReader.format, newReader.reg, b1, v2)
	if err != nil {
		t.Fatal(err)
	}
	if tc := native.(map[string]any)["tax_category"]; tc != "standard" {
		t.Fatalf("tax_category = %#v, want the default", tc)
	}

	// New writer -> old reader: the field the old code does not know is
	// dropped.
	rec := native.(map[string]any)
	rec["tax_category"] = "reduced"
	b2, err := newReader.format.Encode(v2, rec)
	if err != nil {
		t.Fatal(err)
	}
	if writerFP(b2) != v2.Fingerprint() {
		t.Fatal("new writer did not write v2")
	}
	if got, err := oldReader.DecodeProduct(b2); err != nil || !reflect.DeepEqual(got, p) {
		t.Fatalf("v2 record read by v1 code: %#v, %v", got, err)
	}
	// And v2 code reads its own records.
	if got, err := newReader.DecodeProduct(b2); err != nil || !reflect.DeepEqual(got, p) {
		t.Fatalf("v2 record read by v2 code: %#v, %v", got, err)
	}

	// A reader never given v2 cannot read it: single-object encoding
	// carries the writer's fingerprint, not its schema. Schemas go to the
	// readers before a writer uses them.
	if _, err := oldOnly.DecodeProduct(b2); !errors.Is(err, codec.ErrUnknownSchema) || !IsMalformed(err) {
		t.Fatalf("unknown writer schema: %v", err)
	}
}

// TestEvolutionSnapshot: fields added at the top level and inside the
// window's array items resolve both ways.
func TestEvolutionSnapshot(t *testing.T) {
	v1, v2, oldOnly, oldReader, newReader := evolution(t, "testdata/evolution/cart_snapshot.v2.avsc")
	snap := buildSnapshot(t, 5, 20, false)

	b1, err := oldOnly.EncodeSnapshot(snap)
	if err != nil {
		t.Fatal(err)
	}
	if writerFP(b1) != v1.Fingerprint() {
		t.Fatal("old writer did not write v1")
	}
	if got, err := newReader.DecodeSnapshot(b1); err != nil || !reflect.DeepEqual(got, snap) {
		t.Fatalf("v1 record read by v2 code: %v", err)
	}
	native, err := codec.DecodeAs(newReader.format, newReader.reg, b1, v2)
	if err != nil {
		t.Fatal(err)
	}
	rec := native.(map[string]any)
	if rec["written_by"] != nil {
		t.Fatalf("written_by = %#v, want the default null", rec["written_by"])
	}
	for i, o := range rec["window"].([]any) {
		o := o.(map[string]any)
		if o["latency_micros"] != int64(-1) {
			t.Fatalf("window %d: latency_micros = %#v, want the default", i, o["latency_micros"])
		}
		o["latency_micros"] = int64(1000 + i)
	}
	rec["written_by"] = map[string]any{"string": "manager-0"}
	b2, err := newReader.format.Encode(v2, rec)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := oldReader.DecodeSnapshot(b2); err != nil || !reflect.DeepEqual(got, snap) {
		t.Fatalf("v2 record read by v1 code: %v", err)
	}
	if _, err := oldOnly.DecodeSnapshot(b2); !errors.Is(err, codec.ErrUnknownSchema) {
		t.Fatalf("unknown writer schema: %v", err)
	}
}

// TestExtraSchemas: a Codec built with a newer schema in Config.ExtraSchemas
// reads records written with it (as v1, the fields it does not know
// dropped) and still writes v1; the default Codec cannot read them.
func TestExtraSchemas(t *testing.T) {
	text, err := os.ReadFile("testdata/evolution/cart_snapshot.v2.avsc")
	if err != nil {
		t.Fatal(err)
	}
	_, v2, oldOnly, _, newReader := evolution(t, "testdata/evolution/cart_snapshot.v2.avsc")
	snap := buildSnapshot(t, 3, 5, false)
	b1, err := oldOnly.EncodeSnapshot(snap)
	if err != nil {
		t.Fatal(err)
	}
	native, err := codec.DecodeAs(newReader.format, newReader.reg, b1, v2)
	if err != nil {
		t.Fatal(err)
	}
	native.(map[string]any)["written_by"] = map[string]any{"string": "manager-v2"}
	b2, err := newReader.format.Encode(v2, native)
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := New(Config{ExtraSchemas: []string{string(text)}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := shipped.DecodeSnapshot(b2); err != nil || !reflect.DeepEqual(got, snap) {
		t.Fatalf("v2 record read by a codec shipped v2: %v", err)
	}
	if again, err := shipped.EncodeSnapshot(snap); err != nil || !reflect.DeepEqual(again, b1) {
		t.Fatalf("a codec shipped v2 must still write v1: %v", err)
	}
	if _, err := oldOnly.DecodeSnapshot(b2); !errors.Is(err, codec.ErrUnknownSchema) {
		t.Fatalf("default codec read v2: %v", err)
	}
	if _, err := New(Config{ExtraSchemas: []string{"{not a schema"}}); err == nil {
		t.Fatal("a broken extra schema was accepted")
	}
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/cart_snapshot.v2.avsc", text, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := LoadSchemaDir(dir); err != nil || len(got) != 1 || got[0] != string(text) {
		t.Fatalf("LoadSchemaDir: %d schemas, %v", len(got), err)
	}
	if _, err := LoadSchemaDir(t.TempDir()); err == nil {
		t.Fatal("an empty schema directory was accepted")
	}
}

func testOrder() cart.OrderPlaced {
	at := time.Date(2026, 12, 2, 10, 0, 0, 123, time.UTC)
	return cart.OrderOf(cart.CartCheckedOut{
		CartID: "cart-1", RequestID: "req-9", Version: 3, RequestedAt: at, DecidedAt: at.Add(time.Millisecond), CustomerID: "cust-1",
		Lines:    []cart.Line{{SKU: "SKU-A", Name: "Cup", UnitPrice: cart.Money{Amount: 1999, Currency: "EUR"}, Quantity: 2}},
		Subtotal: cart.Money{Amount: 3998, Currency: "EUR"}, ItemCount: 2,
	})
}

// Issue 14: OrderPlaced round-trips, refuses an order id its cart and
// checkout do not derive, and evolves both ways.
func TestOrderRecord(t *testing.T) {
	v1, v2, oldOnly, oldReader, newReader := evolution(t, "testdata/evolution/order_placed.v2.avsc")
	o := testOrder()
	b1, err := oldOnly.EncodeOrder(o)
	if err != nil {
		t.Fatal(err)
	}
	if writerFP(b1) != v1.Fingerprint() {
		t.Fatal("not written as v1")
	}
	if got, err := oldOnly.DecodeOrder(b1); err != nil || !reflect.DeepEqual(got, o) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	forged := o
	forged.OrderID = "ord-forged"
	if _, err := oldOnly.EncodeOrder(forged); !errors.Is(err, ErrInvalid) {
		t.Fatalf("forged order id: %v", err)
	}
	if got, err := newReader.DecodeOrder(b1); err != nil || !reflect.DeepEqual(got, o) {
		t.Fatalf("v1 read by v2 code: %v", err)
	}
	native, err := codec.DecodeAs(newReader.format, newReader.reg, b1, v2)
	if err != nil {
		t.Fatal(err)
	}
	if native.(map[string]any)["channel"] != "web" {
		t.Fatalf("channel = %#v, want the default", native.(map[string]any)["channel"])
	}
	native.(map[string]any)["channel"] = "app"
	b2, err := newReader.format.Encode(v2, native)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := oldReader.DecodeOrder(b2); err != nil || !reflect.DeepEqual(got, o) {
		t.Fatalf("v2 read by v1 code: %v", err)
	}
	if _, err := oldOnly.DecodeValidated(b1); !errors.Is(err, ErrWrongType) {
		t.Fatalf("an order decoded as an event: %v", err)
	}
}
