package codec

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Registry is an immutable set of schemas: by fingerprint (to find a
// record's writer) and by full name with versions (to pick a reader). The
// resolution plans between all versions of a name are compiled when the
// registry is built, so lookups and decodes take no locks and allocate no
// plans. A Registry is safe for concurrent use.
type Registry struct {
	byFP     map[uint64]*Schema
	versions map[string][]*Schema // oldest first
	plans    map[[2]uint64]*plan  // (writer, reader) fingerprints
}

// NewRegistry builds a registry. Schemas of one full name are versions of
// it, oldest first in argument order; the last one is the newest and the
// default reader. Registering the same canonical schema twice is an error,
// as it would make version order ambiguous.
func NewRegistry(schemas ...*Schema) (*Registry, error) {
	r := &Registry{
		byFP:     make(map[uint64]*Schema, len(schemas)),
		versions: make(map[string][]*Schema),
		plans:    make(map[[2]uint64]*plan),
	}
	var errs []error
	for _, s := range schemas {
		if s == nil {
			errs = append(errs, errors.New("codec: nil schema"))
			continue
		}
		if old, dup := r.byFP[s.Fingerprint()]; dup {
			errs = append(errs, fmt.Errorf("codec: schema %s registered twice (also as %s)", s, old))
			continue
		}
		r.byFP[s.Fingerprint()] = s
		r.versions[s.fullName] = append(r.versions[s.fullName], s)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, vs := range r.versions {
		for _, w := range vs {
			for _, rd := range vs {
				r.plans[[2]uint64{w.Fingerprint(), rd.Fingerprint()}] = compilePlan(w, rd)
			}
		}
	}
	return r, nil
}

// LoadFS parses every file of fsys matching one of the glob patterns (for
// example an embed.FS and "schemas/*.avsc"). Files are returned in natural
// order of their paths ("v2" before "v10"), so naming versions
// cart.v1.avsc, cart.v2.avsc gives NewRegistry the right version order.
func LoadFS(fsys fs.FS, patterns ...string) ([]*Schema, error) {
	var paths []string
	for _, p := range patterns {
		m, err := fs.Glob(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("codec: load schemas: %w", err)
		}
		paths = append(paths, m...)
	}
	slices.SortFunc(paths, naturalCompare)
	paths = slices.Compact(paths)
	out := make([]*Schema, 0, len(paths))
	var errs []error
	for _, p := range paths {
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			errs = append(errs, fmt.Errorf("codec: load %s: %w", p, err))
			continue
		}
		s, err := ParseSchema(string(b))
		if err != nil {
			errs = append(errs, fmt.Errorf("codec: load %s: %w", path.Clean(p), err))
			continue
		}
		out = append(out, s)
	}
	return out, errors.Join(errs...)
}

// ByFingerprint returns the schema with that fingerprint.
func (r *Registry) ByFingerprint(fp uint64) (*Schema, bool) {
	s, ok := r.byFP[fp]
	return s, ok
}

// Latest returns the newest registered version of a full name.
func (r *Registry) Latest(fullName string) (*Schema, bool) {
	vs := r.versions[fullName]
	if len(vs) == 0 {
		return nil, false
	}
	return vs[len(vs)-1], true
}

// Versions returns every registered version of a full name, oldest first.
// The slice is a copy.
func (r *Registry) Versions(fullName string) []*Schema {
	return slices.Clone(r.versions[fullName])
}

// Compatible reports whether data written with writer can be read as
// reader (nil), or why not (an error wrapping ErrIncompatible). A union
// branch or enum symbol the reader lacks can still fail per record.
func (r *Registry) Compatible(writer, reader *Schema) error {
	return r.plan(writer, reader).err
}

// Resolve presents native, decoded with writer, in the shape of reader
// (Avro schema resolution). Errors wrap ErrIncompatible.
func (r *Registry) Resolve(writer, reader *Schema, native any) (any, error) {
	p := r.plan(writer, reader)
	if p.err != nil {
		return nil, p.err
	}
	return p.conv(native)
}

func (r *Registry) plan(writer, reader *Schema) *plan {
	if p, ok := r.plans[[2]uint64{writer.Fingerprint(), reader.Fingerprint()}]; ok {
		return p
	}
	// A pair outside the registry (e.g. a reader schema not registered):
	// compile on demand rather than cache, so the registry stays immutable.
	return compilePlan(writer, reader)
}

// naturalCompare orders strings with digit runs compared as numbers.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, errA := strconv.ParseUint(a[:da], 10, 64)
			nb, errB := strconv.ParseUint(b[:db], 10, 64)
			if errA == nil && errB == nil && na != nb {
				if na < nb {
					return -1
				}
				return 1
			}
			if c := strings.Compare(a[:da], b[:db]); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return strings.Compare(a[:1], b[:1])
		}
		a, b = a[1:], b[1:]
	}
	return strings.Compare(a, b)
}

func digitRun(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}
