package codec

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/linkedin/goavro/v2"
)

// Schema resolution (Avro specification, "Schema Resolution") on goavro's
// native form. goavro v2.15.0 decodes only with the schema that wrote the
// data, so a reader decodes with the writer schema named by the record and
// then converts the datum into the shape of the reader schema it asked for.
// A plan is compiled once per (writer, reader) pair; applying it allocates
// the new containers only.

// convFn converts one writer-shaped native value into the reader's shape.
type convFn func(v any) (any, error)

func identity(v any) (any, error) { return v, nil }

// plan converts whole records from one writer schema to one reader schema.
type plan struct {
	conv convFn
	err  error // set if the pair cannot be resolved at all
}

func compilePlan(writer, reader *Schema) *plan {
	if writer.Fingerprint() == reader.Fingerprint() {
		return &plan{conv: identity}
	}
	conv, err := compile(writer.root, reader.root, reader.fullName)
	return &plan{conv: conv, err: err}
}

func incompatible(path, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrIncompatible, path, fmt.Sprintf(format, args...))
}

// compile builds the conversion from writer node w to reader node r. path
// names the position for error messages.
func compile(w, r *node, path string) (convFn, error) {
	if w.kind == kUnion {
		return compileFromUnion(w, r, path)
	}
	if r.kind == kUnion {
		return compileToUnion(w, r, path)
	}
	if w.logical != r.logical {
		// Logical types map to different Go types (time.Time vs int64);
		// converting between them is not worth the surface yet.
		return nil, incompatible(path, "logical type %q cannot be read as %q", w.logical, r.logical)
	}
	switch {
	case w.kind == r.kind && isPrimitive(w.kind):
		return identity, nil
	case isPrimitive(w.kind) && isPrimitive(r.kind):
		if f := promotion(w.kind, r.kind); f != nil {
			return f, nil
		}
		return nil, incompatible(path, "%s cannot be read as %s", w.kind, r.kind)
	case w.kind != r.kind:
		return nil, incompatible(path, "%s cannot be read as %s", w.kind, r.kind)
	}
	switch w.kind {
	case kRecord:
		return compileRecord(w, r, path)
	case kEnum:
		return compileEnum(w, r, path)
	case kFixed:
		if !namesMatch(w, r) {
			return nil, incompatible(path, "fixed %q cannot be read as %q", w.name, r.name)
		}
		if w.size != r.size {
			return nil, incompatible(path, "fixed %q size %d cannot be read as size %d", w.name, w.size, r.size)
		}
		return identity, nil
	case kArray:
		items, err := compile(w.items, r.items, path+"[]")
		if err != nil {
			return nil, err
		}
		return func(v any) (any, error) {
			in, ok := v.([]any)
			if !ok {
				return nil, incompatible(path, "array value of Go type %T", v)
			}
			out := make([]any, len(in))
			for i, x := range in {
				y, err := items(x)
				if err != nil {
					return nil, err
				}
				out[i] = y
			}
			return out, nil
		}, nil
	case kMap:
		values, err := compile(w.items, r.items, path+"{}")
		if err != nil {
			return nil, err
		}
		return func(v any) (any, error) {
			in, ok := v.(map[string]any)
			if !ok {
				return nil, incompatible(path, "map value of Go type %T", v)
			}
			out := make(map[string]any, len(in))
			for k, x := range in {
				y, err := values(x)
				if err != nil {
					return nil, err
				}
				out[k] = y
			}
			return out, nil
		}, nil
	}
	return nil, incompatible(path, "unexpected %s", w.kind)
}

func isPrimitive(k kind) bool { return k <= kString }

// promotion returns the conversion for the Avro spec's promotions: int to
// long, float or double; long to float or double; float to double; string
// to bytes and back. nil means the pair does not promote.
func promotion(from, to kind) convFn {
	switch {
	case from == kInt && to == kLong:
		return func(v any) (any, error) { return int64(v.(int32)), nil }
	case from == kInt && to == kFloat:
		return func(v any) (any, error) { return float32(v.(int32)), nil }
	case from == kInt && to == kDouble:
		return func(v any) (any, error) { return float64(v.(int32)), nil }
	case from == kLong && to == kFloat:
		return func(v any) (any, error) { return float32(v.(int64)), nil }
	case from == kLong && to == kDouble:
		return func(v any) (any, error) { return float64(v.(int64)), nil }
	case from == kFloat && to == kDouble:
		return func(v any) (any, error) { return float64(v.(float32)), nil }
	case from == kString && to == kBytes:
		return func(v any) (any, error) { return []byte(v.(string)), nil }
	case from == kBytes && to == kString:
		return func(v any) (any, error) { return string(v.([]byte)), nil }
	}
	return nil
}

// namesMatch: the spec resolves named types by unqualified name, or by
// one of the reader's aliases.
func namesMatch(w, r *node) bool {
	if w.name == r.name || unqualified(w.name) == unqualified(r.name) {
		return true
	}
	for _, a := range r.aliases {
		if a == w.name {
			return true
		}
	}
	return false
}

func unqualified(full string) string {
	if i := strings.LastIndex(full, "."); i >= 0 {
		return full[i+1:]
	}
	return full
}

// matches reports whether writer type w can be read as reader branch r,
// exactly (same type) or through a promotion. Used to pick a union branch.
func matches(w, r *node, exact bool) bool {
	if w.logical != r.logical {
		return false
	}
	if w.kind == r.kind {
		switch w.kind {
		case kRecord, kEnum, kFixed:
			return namesMatch(w, r)
		}
		return true
	}
	return !exact && isPrimitive(w.kind) && isPrimitive(r.kind) && promotion(w.kind, r.kind) != nil
}

// compileToUnion: a non-union writer read as a union resolves against the
// first reader branch that matches, preferring an exact match over a
// promotion (as Avro's Java implementation does).
func compileToUnion(w, r *node, path string) (convFn, error) {
	for _, exact := range []bool{true, false} {
		for _, b := range r.members {
			if !matches(w, b, exact) {
				continue
			}
			if b.kind == kNull {
				return func(any) (any, error) { return nil, nil }, nil
			}
			conv, err := compile(w, b, path)
			if err != nil {
				return nil, err
			}
			name := b.branchName()
			return func(v any) (any, error) {
				y, err := conv(v)
				if err != nil {
					return nil, err
				}
				return goavro.Union(name, y), nil
			}, nil
		}
	}
	return nil, incompatible(path, "%s matches no branch of the reader's union", w.branchName())
}

// compileFromUnion: each writer branch resolves on its own; a branch the
// reader cannot read fails only when a record actually uses it, as the
// spec says.
func compileFromUnion(w, r *node, path string) (convFn, error) {
	byName := make(map[string]convFn, len(w.members))
	branchErr := make(map[string]error)
	var nullConv convFn
	var nullErr error
	resolved := 0
	for _, b := range w.members {
		conv, err := compile(b, r, path)
		if err == nil {
			resolved++
		}
		if b.kind == kNull {
			nullConv, nullErr = conv, err
			continue
		}
		byName[b.branchName()], branchErr[b.branchName()] = conv, err
	}
	if resolved == 0 {
		return nil, incompatible(path, "no branch of the writer's union can be read as %s", r.branchName())
	}
	return func(v any) (any, error) {
		if v == nil {
			if nullErr != nil {
				return nil, nullErr
			}
			if nullConv == nil {
				return nil, incompatible(path, "null value for a union without null")
			}
			return nullConv(nil)
		}
		m, ok := v.(map[string]any)
		if !ok || len(m) != 1 {
			return nil, incompatible(path, "union value of Go type %T", v)
		}
		for name, x := range m {
			if err := branchErr[name]; err != nil {
				return nil, err
			}
			conv, ok := byName[name]
			if !ok {
				return nil, incompatible(path, "union branch %q not in writer schema", name)
			}
			return conv(x)
		}
		panic("unreachable")
	}, nil
}

func compileEnum(w, r *node, path string) (convFn, error) {
	if !namesMatch(w, r) {
		return nil, incompatible(path, "enum %q cannot be read as %q", w.name, r.name)
	}
	known := make(map[string]bool, len(r.symbols))
	for _, s := range r.symbols {
		known[s] = true
	}
	def := r.enumDef
	return func(v any) (any, error) {
		s, ok := v.(string)
		if !ok {
			return nil, incompatible(path, "enum value of Go type %T", v)
		}
		if known[s] {
			return s, nil
		}
		if def != nil {
			return *def, nil
		}
		return nil, incompatible(path, "enum symbol %q unknown to the reader, which has no default", s)
	}, nil
}

func compileRecord(w, r *node, path string) (convFn, error) {
	if !namesMatch(w, r) {
		return nil, incompatible(path, "record %q cannot be read as %q", w.name, r.name)
	}
	type step struct {
		out, in string // reader and writer field names
		conv    convFn
		def     any // reader default, used when in == ""
	}
	steps := make([]step, 0, len(r.fields))
	for _, rf := range r.fields {
		fpath := path + "." + rf.name
		wf := findField(w, rf)
		if wf != nil {
			conv, err := compile(wf.typ, rf.typ, fpath)
			if err != nil {
				return nil, err
			}
			steps = append(steps, step{out: rf.name, in: wf.name, conv: conv})
			continue
		}
		if !rf.hasDefault {
			return nil, incompatible(fpath, "field missing from the writer and has no default")
		}
		def, err := defaultValue(rf.typ, rf.def, fpath)
		if err != nil {
			return nil, err
		}
		steps = append(steps, step{out: rf.name, def: def})
	}
	// Fields only the writer has are dropped: nothing to do.
	return func(v any) (any, error) {
		in, ok := v.(map[string]any)
		if !ok {
			return nil, incompatible(path, "record value of Go type %T", v)
		}
		out := make(map[string]any, len(steps))
		for _, s := range steps {
			if s.in == "" {
				out[s.out] = cloneNative(s.def) // callers own what they get
				continue
			}
			x, ok := in[s.in]
			if !ok {
				return nil, incompatible(path, "writer datum lacks field %q", s.in)
			}
			y, err := s.conv(x)
			if err != nil {
				return nil, err
			}
			out[s.out] = y
		}
		return out, nil
	}, nil
}

func findField(w *node, rf field) *field {
	for i := range w.fields {
		if w.fields[i].name == rf.name {
			return &w.fields[i]
		}
	}
	for _, a := range rf.aliases {
		for i := range w.fields {
			if w.fields[i].name == a {
				return &w.fields[i]
			}
		}
	}
	return nil
}

// cloneNative deep-copies the mutable parts of a native value.
func cloneNative(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = cloneNative(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = cloneNative(x)
		}
		return out
	case []byte:
		return append([]byte(nil), t...)
	}
	return v
}

// defaultValue turns a field default from schema JSON into goavro's native
// form for type n. Per the spec a union default belongs to the first branch,
// and bytes and fixed defaults are strings of code points 0-255.
func defaultValue(n *node, v any, path string) (any, error) {
	bad := func() error {
		return incompatible(path, "default %v does not fit type %s", v, n.branchName())
	}
	if n.logical != "" {
		// Build the primitive, then let goavro apply the logical type, so a
		// default looks exactly like a decoded value.
		prim, err := defaultValue(&node{kind: n.kind}, v, path)
		if err != nil {
			return nil, err
		}
		return applyLogical(n, prim, path)
	}
	switch n.kind {
	case kNull:
		if v != nil {
			return nil, bad()
		}
		return nil, nil
	case kBoolean:
		b, ok := v.(bool)
		if !ok {
			return nil, bad()
		}
		return b, nil
	case kInt, kLong:
		num, ok := v.(json.Number)
		if !ok {
			return nil, bad()
		}
		i, err := num.Int64()
		if err != nil {
			return nil, bad()
		}
		if n.kind == kInt {
			if i < math.MinInt32 || i > math.MaxInt32 {
				return nil, bad()
			}
			return int32(i), nil
		}
		return i, nil
	case kFloat, kDouble:
		num, ok := v.(json.Number)
		if !ok {
			return nil, bad()
		}
		f, err := num.Float64()
		if err != nil {
			return nil, bad()
		}
		if n.kind == kFloat {
			return float32(f), nil
		}
		return f, nil
	case kString:
		s, ok := v.(string)
		if !ok {
			return nil, bad()
		}
		return s, nil
	case kBytes, kFixed:
		s, ok := v.(string)
		if !ok {
			return nil, bad()
		}
		b := make([]byte, 0, len(s))
		for len(s) > 0 {
			r, size := utf8.DecodeRuneInString(s)
			if r > 0xFF {
				return nil, bad()
			}
			b = append(b, byte(r))
			s = s[size:]
		}
		if n.kind == kFixed && len(b) != n.size {
			return nil, bad()
		}
		return b, nil
	case kEnum:
		s, ok := v.(string)
		if !ok {
			return nil, bad()
		}
		for _, sym := range n.symbols {
			if sym == s {
				return s, nil
			}
		}
		return nil, bad()
	case kArray:
		in, ok := v.([]any)
		if !ok {
			return nil, bad()
		}
		out := make([]any, len(in))
		for i, x := range in {
			y, err := defaultValue(n.items, x, path+"[]")
			if err != nil {
				return nil, err
			}
			out[i] = y
		}
		return out, nil
	case kMap:
		in, ok := v.(map[string]any)
		if !ok {
			return nil, bad()
		}
		out := make(map[string]any, len(in))
		for k, x := range in {
			y, err := defaultValue(n.items, x, path+"{}")
			if err != nil {
				return nil, err
			}
			out[k] = y
		}
		return out, nil
	case kRecord:
		in, ok := v.(map[string]any)
		if !ok {
			return nil, bad()
		}
		out := make(map[string]any, len(n.fields))
		for _, f := range n.fields {
			x, ok := in[f.name]
			if !ok {
				if !f.hasDefault {
					return nil, bad()
				}
				x = f.def
			}
			y, err := defaultValue(f.typ, x, path+"."+f.name)
			if err != nil {
				return nil, err
			}
			out[f.name] = y
		}
		return out, nil
	case kUnion:
		first := n.members[0]
		if first.kind == kNull {
			if v != nil {
				return nil, bad()
			}
			return nil, nil
		}
		y, err := defaultValue(first, v, path)
		if err != nil {
			return nil, err
		}
		return goavro.Union(first.branchName(), y), nil
	}
	return nil, bad()
}

// applyLogical converts a primitive into goavro's native form for the
// logical type of n by round-tripping it through goavro: encode with the
// plain primitive codec, decode with the logical one.
func applyLogical(n *node, prim any, path string) (any, error) {
	plain, err := goavro.NewCodec(fmt.Sprintf("%q", n.kind.String()))
	if err != nil {
		return nil, err
	}
	logical, err := goavro.NewCodec(fmt.Sprintf(`{"type":%q,"logicalType":%q}`, n.kind.String(), n.logical))
	if err != nil {
		return nil, err
	}
	bin, err := plain.BinaryFromNative(nil, prim)
	if err != nil {
		return nil, incompatible(path, "default: %v", err)
	}
	v, _, err := logical.NativeFromBinary(bin)
	if err != nil {
		return nil, incompatible(path, "default: %v", err)
	}
	return v, nil
}
