package records

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/cartstream/cartstream/internal/codec"
)

// TestCurrentFingerprints pins the fingerprint of every current schema. A
// published schema never changes: a change is a new version file
// (name.v2.avsc) with resolution tests, and this table gains a line.
func TestCurrentFingerprints(t *testing.T) {
	want := map[string]uint64{
		nameRequest:        0x6537d1ed0d5391c8, // v2 (v1: 0x926387c121d18eb8)
		nameAddItem:        0x378dc517f1210ba7,
		nameRemoveItem:     0xf9836e95de31bcd9,
		nameChangeQuantity: 0x9a8842709e838d48,
		nameCheckedOut:     0x1246e4f20453bf7c,
		nameInvalid:        0x968f964ee18a3214, // v2 (v1: 0xb9fcf664490dce97)
		nameSnapshot:       0x55fb562830e2e789, // v2 (v1: 0x54d1417e4ee147b9)
		nameProduct:        0x17031b8839c69b21,
		nameInventory:      0x4aaa756ed14b8b74, // v2 (v1: 0xde674387c7fced9d)
		nameStockLevel:     0x438775f54366b6bf, // v2 (v1: 0xee85e87853472b33)
		nameAnswer:         0xdfce6cc1b049def0,
	}
	c := newTestCodec(t)
	got := map[string]uint64{}
	for _, s := range []*codec.Schema{c.request, c.addItem, c.removeItem, c.changeQuantity, c.checkedOut, c.invalid, c.snapshot, c.product, c.inventory, c.stockLevel, c.answer} {
		got[s.FullName()] = s.Fingerprint()
	}
	if !reflect.DeepEqual(got, want) {
		for name, fp := range got {
			t.Logf("%s: %#016x", name, fp)
		}
		t.Fatal("a current schema changed: add a new version instead")
	}
}

// namedTypes collects the JSON definition of every named type in a schema
// file, keyed by full name.
func namedTypes(v any, ns string, out map[string]map[string]any) {
	switch t := v.(type) {
	case []any:
		for _, x := range t {
			namedTypes(x, ns, out)
		}
	case map[string]any:
		typ, _ := t["type"].(string)
		name, _ := t["name"].(string)
		if (typ == "record" || typ == "enum" || typ == "fixed") && name != "" {
			if n, ok := t["namespace"].(string); ok {
				ns = n
			}
			out[ns+"."+name] = t
		}
		if _, isType := t["type"]; isType {
			for _, k := range []string{"type", "items", "values", "fields"} {
				if k == "type" && typ != "" {
					continue
				}
				namedTypes(t[k], ns, out)
			}
		}
		if fs, ok := t["fields"].([]any); ok {
			for _, f := range fs {
				if fm, ok := f.(map[string]any); ok {
					namedTypes(fm["type"], ns, out)
				}
			}
		}
	}
}

// TestSharedTypesAgree: a named type defined in several files (Money,
// Line, RequestKind) has one definition, and every event schema starts
// with the same meta fields.
func TestSharedTypesAgree(t *testing.T) {
	// The current versions must agree among themselves; an older version
	// of a record (cart_request.v1 beside v2) differs from its successor
	// by design, and resolution, tested in evolution_test.go, bridges them.
	files := current[:]
	defs := map[string]map[string]any{} // full name -> JSON definition
	where := map[string]string{}
	for _, f := range files {
		b, err := embedded.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		types := map[string]map[string]any{}
		namedTypes(doc, "", types)
		top := ""
		if m, ok := doc.(map[string]any); ok {
			top, _ = m["namespace"].(string)
			name, _ := m["name"].(string)
			top += "." + name
		}
		for full, def := range types {
			if full == top {
				continue // a file's own record differs between its versions (name.v2.avsc)
			}
			// Definitions are compared as JSON, docs included: a copy
			// that drifts in any way is a mistake.
			if prev, ok := defs[full]; ok && !reflect.DeepEqual(prev, def) {
				t.Errorf("%s is defined differently in %s and %s", full, where[full], f)
			}
			defs[full], where[full] = def, f
		}
	}
	for _, n := range []string{"cartstream.v1.Money", "cartstream.v1.Line", "cartstream.v1.RequestKind"} {
		if _, ok := defs[n]; !ok {
			t.Errorf("%s not found", n)
		}
	}

	var meta []any
	for _, f := range []string{current[1], current[2], current[3], current[4]} {
		b, _ := embedded.ReadFile(f)
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		head := doc["fields"].([]any)[:5]
		if meta == nil {
			meta = head
		} else if !reflect.DeepEqual(head, meta) {
			t.Errorf("%s: meta fields differ: %v", f, head)
		}
	}
}
