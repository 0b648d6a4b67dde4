package codec

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/linkedin/goavro/v2"
)

// Schema is one parsed Avro schema. It is immutable and safe for
// concurrent use.
type Schema struct {
	codec    *goavro.Codec
	root     *node
	fullName string
}

// ParseSchema parses an Avro schema from its JSON text. Besides what Avro
// requires, it refuses schemas this package cannot decode safely (see the
// package documentation): recursive types, arrays of zero-byte items, and
// the decimal and validated-string logical types.
func ParseSchema(text string) (s *Schema, err error) {
	// goavro type-asserts parts of a schema (e.g. decimal precision) without
	// checking; a malformed schema file must be an error, not a crash.
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("codec: parse schema: goavro panicked: %v", r)
		}
	}()
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber() // keep long defaults exact
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("codec: parse schema: %w", err)
	}
	p := &parser{named: map[string]*node{}, defining: map[string]bool{}}
	root, err := p.parse(raw, "")
	if err != nil {
		return nil, fmt.Errorf("codec: parse schema: %w", err)
	}
	if err := checkArrays(root, map[*node]bool{}); err != nil {
		return nil, fmt.Errorf("codec: parse schema: %w", err)
	}
	c, err := goavro.NewCodec(text)
	if err != nil {
		return nil, fmt.Errorf("codec: parse schema: goavro: %w", err)
	}
	name := root.name
	if name == "" {
		name = root.kind.String()
	}
	return &Schema{codec: c, root: root, fullName: name}, nil
}

// MustParseSchema is ParseSchema for schemas compiled into the program,
// where an error is a programming mistake.
func MustParseSchema(text string) *Schema {
	s, err := ParseSchema(text)
	if err != nil {
		panic(err)
	}
	return s
}

// Fingerprint is the CRC-64-AVRO (Rabin) fingerprint of the Parsing
// Canonical Form: the identity single-object encoding writes.
func (s *Schema) Fingerprint() uint64 { return s.codec.Rabin }

// Canonical is the schema's Parsing Canonical Form.
func (s *Schema) Canonical() string { return s.codec.CanonicalSchema() }

// FullName is the full name of a named top-level type (record, enum,
// fixed), or the type name ("int", "array", "union", ...) otherwise.
// Versions of one record share a full name.
func (s *Schema) FullName() string { return s.fullName }

// Text is the schema JSON as given to ParseSchema.
func (s *Schema) Text() string { return s.codec.Schema() }

// String names the schema for logs.
func (s *Schema) String() string { return fmt.Sprintf("%s@%#016x", s.fullName, s.Fingerprint()) }

// kind is the closed set of Avro types.
type kind uint8

const (
	kNull kind = iota
	kBoolean
	kInt
	kLong
	kFloat
	kDouble
	kBytes
	kString
	kRecord
	kEnum
	kArray
	kMap
	kFixed
	kUnion
)

var kindNames = [...]string{"null", "boolean", "int", "long", "float", "double", "bytes", "string", "record", "enum", "array", "map", "fixed", "union"}

func (k kind) String() string { return kindNames[k] }

var primitives = map[string]kind{
	"null": kNull, "boolean": kBoolean, "int": kInt, "long": kLong,
	"float": kFloat, "double": kDouble, "bytes": kBytes, "string": kString,
}

// node is this package's model of a schema, used for resolution and for the
// safety checks; goavro's own model is not exported.
type node struct {
	kind    kind
	logical string // logical type goavro applies ("" if none); see logicalTypes
	raw     any    // the JSON of this type, for leaf codecs built from it

	name    string   // full name (record, enum, fixed)
	aliases []string // full names
	fields  []field  // record
	symbols []string // enum
	enumDef *string  // enum default symbol
	size    int      // fixed
	items   *node    // array items, map values
	members []*node  // union branches
}

type field struct {
	name       string
	aliases    []string
	typ        *node
	def        any // JSON default, valid if hasDefault
	hasDefault bool
}

// logicalTypes are the logical types goavro decodes into a different Go
// type, keyed by underlying type. goavro ignores any other logicalType, so
// this package does too.
var logicalTypes = map[string]map[kind]bool{
	"timestamp-millis": {kLong: true},
	"timestamp-micros": {kLong: true},
	"time-millis":      {kInt: true},
	"time-micros":      {kLong: true},
	"date":             {kInt: true},
}

// branchName is the key goavro uses for a non-null union branch.
func (n *node) branchName() string {
	switch {
	case n.name != "":
		return n.name
	case n.logical != "":
		return n.kind.String() + "." + n.logical
	}
	return n.kind.String()
}

type parser struct {
	named    map[string]*node
	defining map[string]bool // named types whose definition is open: a reference to one is recursion
}

func (p *parser) parse(v any, ns string) (*node, error) {
	switch t := v.(type) {
	case string:
		return p.ref(t, ns)
	case []any:
		n := &node{kind: kUnion, raw: v}
		seen := map[string]bool{}
		for _, m := range t {
			b, err := p.parse(m, ns)
			if err != nil {
				return nil, err
			}
			if b.kind == kUnion {
				return nil, errors.New("union directly inside a union")
			}
			key := b.branchName()
			if b.kind == kNull {
				key = "null"
			}
			if seen[key] {
				return nil, fmt.Errorf("union has %q twice", key)
			}
			seen[key] = true
			n.members = append(n.members, b)
		}
		if len(n.members) == 0 {
			return nil, errors.New("empty union")
		}
		return n, nil
	case map[string]any:
		return p.parseMap(t, ns)
	}
	return nil, fmt.Errorf("schema element of JSON type %T", v)
}

func (p *parser) ref(name, ns string) (*node, error) {
	if k, ok := primitives[name]; ok {
		return &node{kind: k, raw: name}, nil
	}
	candidates := []string{name}
	if !strings.Contains(name, ".") && ns != "" {
		candidates = []string{ns + "." + name, name}
	}
	for _, c := range candidates {
		if p.defining[c] {
			return nil, fmt.Errorf("recursive type %q is not supported", c)
		}
		if n, ok := p.named[c]; ok {
			return n, nil
		}
	}
	return nil, fmt.Errorf("unknown type %q", name)
}

func fullName(name, namespace, enclosing string) (full, ns string) {
	if i := strings.LastIndex(name, "."); i >= 0 {
		return name, name[:i]
	}
	if namespace == "" {
		namespace = enclosing
	}
	if namespace == "" {
		return name, ""
	}
	return namespace + "." + name, namespace
}

func (p *parser) parseMap(m map[string]any, ns string) (*node, error) {
	typ, ok := m["type"]
	if !ok {
		return nil, errors.New("schema object without type")
	}
	tname, isString := typ.(string)
	if !isString {
		// {"type": {...}} or {"type": [...]}: a wrapped type.
		return p.parse(typ, ns)
	}
	lt, _ := m["logicalType"].(string)
	if lt == "decimal" || lt == "validated-string" {
		return nil, fmt.Errorf("logical type %q is not supported", lt)
	}
	switch tname {
	case "record", "error", "enum", "fixed":
		return p.parseNamed(tname, m, ns, lt)
	case "array", "map":
		key := "items"
		k := kArray
		if tname == "map" {
			key, k = "values", kMap
		}
		sub, ok := m[key]
		if !ok {
			return nil, fmt.Errorf("%s without %s", tname, key)
		}
		items, err := p.parse(sub, ns)
		if err != nil {
			return nil, err
		}
		return &node{kind: k, items: items, raw: m}, nil
	}
	if k, ok := primitives[tname]; ok {
		n := &node{kind: k, raw: m}
		if logicalTypes[lt][k] {
			n.logical = lt
		}
		return n, nil
	}
	// {"type": "SomeNamedType"}
	return p.ref(tname, ns)
}

func (p *parser) parseNamed(tname string, m map[string]any, ns, lt string) (*node, error) {
	name, _ := m["name"].(string)
	if name == "" {
		return nil, fmt.Errorf("%s without name", tname)
	}
	namespace, _ := m["namespace"].(string)
	full, innerNS := fullName(name, namespace, ns)
	if _, dup := p.named[full]; dup || p.defining[full] {
		return nil, fmt.Errorf("type %q defined twice", full)
	}
	n := &node{name: full, raw: m}
	if as, ok := m["aliases"].([]any); ok {
		for _, a := range as {
			if s, ok := a.(string); ok {
				af, _ := fullName(s, "", innerNS)
				n.aliases = append(n.aliases, af)
			}
		}
	}
	switch tname {
	case "enum":
		n.kind = kEnum
		syms, _ := m["symbols"].([]any)
		for _, s := range syms {
			str, ok := s.(string)
			if !ok {
				return nil, fmt.Errorf("enum %q: symbol of JSON type %T", full, s)
			}
			n.symbols = append(n.symbols, str)
		}
		if d, ok := m["default"].(string); ok {
			n.enumDef = &d
		}
		p.named[full] = n
		return n, nil
	case "fixed":
		n.kind = kFixed
		sz, _ := m["size"].(json.Number)
		size, err := sz.Int64()
		if err != nil || size <= 0 {
			return nil, fmt.Errorf("fixed %q: size must be a positive integer", full)
		}
		n.size = int(size)
		p.named[full] = n
		return n, nil
	}
	n.kind = kRecord
	fs, ok := m["fields"].([]any)
	if !ok {
		return nil, fmt.Errorf("record %q without fields", full)
	}
	p.defining[full] = true
	for i, f := range fs {
		fm, ok := f.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("record %q field %d is not an object", full, i)
		}
		fname, _ := fm["name"].(string)
		if fname == "" {
			return nil, fmt.Errorf("record %q field %d without name", full, i)
		}
		ft, ok := fm["type"]
		if !ok {
			return nil, fmt.Errorf("record %q field %q without type", full, fname)
		}
		typ, err := p.parse(ft, innerNS)
		if err != nil {
			return nil, fmt.Errorf("record %q field %q: %w", full, fname, err)
		}
		fld := field{name: fname, typ: typ}
		fld.def, fld.hasDefault = fm["default"]
		if as, ok := fm["aliases"].([]any); ok {
			for _, a := range as {
				if s, ok := a.(string); ok {
					fld.aliases = append(fld.aliases, s)
				}
			}
		}
		n.fields = append(n.fields, fld)
	}
	delete(p.defining, full)
	p.named[full] = n
	return n, nil
}

// zeroBytes reports whether a value of n can encode to zero bytes.
func zeroBytes(n *node) bool {
	switch n.kind {
	case kNull:
		return true
	case kRecord:
		for _, f := range n.fields {
			if !zeroBytes(f.typ) {
				return false
			}
		}
		return true
	}
	return false
}

// checkArrays refuses arrays whose items can encode to zero bytes: with
// them a handful of bytes could claim billions of items and the decoder
// would build them all. Every other item costs at least one byte, so the
// record size bounds the item count.
func checkArrays(n *node, seen map[*node]bool) error {
	if seen[n] {
		return nil
	}
	seen[n] = true
	if n.kind == kArray && zeroBytes(n.items) {
		return fmt.Errorf("array of %s: items that encode to zero bytes are not supported", n.items.branchName())
	}
	for _, f := range n.fields {
		if err := checkArrays(f.typ, seen); err != nil {
			return err
		}
	}
	for _, m := range n.members {
		if err := checkArrays(m, seen); err != nil {
			return err
		}
	}
	if n.items != nil {
		return checkArrays(n.items, seen)
	}
	return nil
}
