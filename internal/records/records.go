package records

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/cartstream/cartstream/internal/codec"
)

// Record header names every producer of the cart topics sets.
const (
	// HeaderRequestID carries the request id of the command a record is
	// about (empty for an undecodable request).
	HeaderRequestID = "request-id"
	// HeaderEventType carries the record's cart.EventType name, e.g.
	// "AddItemValidatedRequest".
	HeaderEventType = "event-type"
	// HeaderTraceparent carries the W3C trace context of the request.
	HeaderTraceparent = "traceparent"
)

// Sentinels of this package. Decode errors wrap one of them or one of
// internal/codec's; classify with IsMalformed or errors.Is.
var (
	// ErrWrongType is a well-formed record of another type than the
	// decoder reads.
	ErrWrongType = errors.New("records: record of another type")
	// ErrInvalid is a value the domain refuses: a decoded record that is
	// semantically impossible, or a value that cannot be encoded.
	ErrInvalid = errors.New("records: invalid value")
)

// IsMalformed reports whether a decode error says the record itself can
// never be read by this reader: undecodable bytes (codec.IsMalformed), a
// record of another type, or an impossible value. A consumer routes such a
// record to its MALFORMED stream and moves on.
func IsMalformed(err error) bool {
	return codec.IsMalformed(err) || errors.Is(err, ErrWrongType) || errors.Is(err, ErrInvalid) ||
		errors.Is(err, codec.ErrIncompatible)
}

//go:embed schemas/*.avsc
var embedded embed.FS

// SchemaFS returns the embedded schema files (schemas/*.avsc), e.g. for a
// tool that registers them with a schema registry.
func SchemaFS() fs.FS { return embedded }

// current names the schema each record type is written with and read as:
// the version this package's mapping code is written for. Older and newer
// versions of the same record found under schemas/ are readable through
// resolution; a newer one is never written until its file is named here.
var current = [...]string{
	"schemas/cart_request.v2.avsc",
	"schemas/add_item_validated_request.v1.avsc",
	"schemas/remove_item_validated_request.v1.avsc",
	"schemas/change_quantity_validated_request.v1.avsc",
	"schemas/cart_checked_out.v1.avsc",
	"schemas/invalid_request.v2.avsc",
	"schemas/cart_snapshot.v2.avsc",
	"schemas/product.v1.avsc",
	"schemas/order_placed.v1.avsc",
	"schemas/cart_cleared.v1.avsc",
	"schemas/cart_expired.v1.avsc",
	"schemas/cart_merged.v1.avsc",
	"schemas/cart_merged_into.v1.avsc",
	"schemas/cart_merge_returned.v1.avsc",
	"schemas/inventory_request.v2.avsc",
	"schemas/stock_level.v2.avsc",
	"schemas/reservation_answer.v1.avsc",
}

// snapshotPendingFile is the snapshot version written only for a cart
// with a pending checkout (EncodeSnapshot): every other snapshot keeps the
// current v2 (and its fast path), so readers that do not know v3 yet read
// all carts but those waiting for their reservations.
const snapshotPendingFile = "schemas/cart_snapshot.v3.avsc"

// Full names of the record types.
const (
	nameRequest        = "cartstream.v1.CartRequest"
	nameAddItem        = "cartstream.v1.AddItemValidatedRequest"
	nameRemoveItem     = "cartstream.v1.RemoveItemValidatedRequest"
	nameChangeQuantity = "cartstream.v1.ChangeQuantityValidatedRequest"
	nameCheckedOut     = "cartstream.v1.CartCheckedOut"
	nameInvalid        = "cartstream.v1.InvalidRequest"
	nameSnapshot       = "cartstream.v1.CartSnapshot"
	nameProduct        = "cartstream.v1.Product"
	nameOrder          = "cartstream.v1.OrderPlaced"
	nameCleared        = "cartstream.v1.CartCleared"
	nameExpired        = "cartstream.v1.CartExpired"
	nameMerged         = "cartstream.v1.CartMerged"
	nameMergedInto     = "cartstream.v1.CartMergedInto"
	nameMergeReturned  = "cartstream.v1.CartMergeReturned"
	nameInventory      = "cartstream.v1.InventoryRequest"
	nameStockLevel     = "cartstream.v1.StockLevel"
	nameAnswer         = "cartstream.v1.ReservationAnswer"
)

// Config configures a Codec. The zero value is valid.
type Config struct {
	// MaxRecordBytes is the largest record encoded or decoded; 0 means
	// codec.DefaultMaxRecordBytes (about Kafka's default message size).
	MaxRecordBytes int
	// ExtraSchemas are more schema versions (Avro JSON texts) this Codec
	// reads through resolution, beside the embedded ones. A rolling upgrade
	// ships a newer schema to every reader this way before any writer uses
	// it: a reader that has the writer's schema reads the record (dropping
	// the fields its code does not know), one that has not cannot read it
	// at all (single-object encoding names the writer's schema by
	// fingerprint only), and the manager then quarantines the cart.
	ExtraSchemas []string
}

// Validate reports every problem of c.
func (c Config) Validate() error {
	return codec.Config{MaxRecordBytes: c.MaxRecordBytes}.Validate()
}

// LoadSchemaDir reads every *.avsc file of dir, for Config.ExtraSchemas.
func LoadSchemaDir(dir string) ([]string, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.avsc"))
	if err != nil {
		return nil, fmt.Errorf("records: schemas in %s: %w", dir, err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("records: no *.avsc file in %s", dir)
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("records: %w", err)
		}
		out = append(out, string(b))
	}
	return out, nil
}

// Codec encodes and decodes every cartstream record. Build it once with New
// and share it: it is immutable and safe for concurrent use.
type Codec struct {
	format *codec.SingleObject
	reg    *codec.Registry

	// The current schema of each record type.
	request, addItem, removeItem, changeQuantity, checkedOut, invalid, snapshot, product, order *codec.Schema
	// The cart lifecycle's events.
	cleared, expired, merged, mergedInto, mergeReturned *codec.Schema
	inventory, stockLevel, answer                       *codec.Schema
	// snapshotPending writes snapshots with a pending checkout.
	snapshotPending *codec.Schema

	// Which record types take the hand-written paths (fastenc.go).
	fast fastPaths
}

// New builds the Codec from the embedded schemas.
func New(cfg Config) (*Codec, error) {
	all, err := codec.LoadFS(embedded, "schemas/*.avsc")
	if err != nil {
		return nil, fmt.Errorf("records: %w", err)
	}
	cur := make([]*codec.Schema, 0, len(current))
	for _, name := range current {
		b, err := embedded.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("records: %w", err)
		}
		s, err := codec.ParseSchema(string(b))
		if err != nil {
			return nil, fmt.Errorf("records: %s: %w", name, err)
		}
		cur = append(cur, s)
	}
	for i, text := range cfg.ExtraSchemas {
		s, err := codec.ParseSchema(text)
		if err != nil {
			return nil, fmt.Errorf("records: extra schema %d: %w", i, err)
		}
		if !slices.ContainsFunc(all, func(o *codec.Schema) bool { return o.Fingerprint() == s.Fingerprint() }) {
			all = append(all, s)
		}
	}
	return newCodec(cfg, all, cur)
}

// newCodec builds a Codec that knows every schema of all and writes and
// reads as cur, one schema per record type (matched by fingerprint against
// all). Tests use it to pin other versions.
func newCodec(cfg Config, all, cur []*codec.Schema) (*Codec, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("records: %w", err)
	}
	reg, err := codec.NewRegistry(all...)
	if err != nil {
		return nil, fmt.Errorf("records: %w", err)
	}
	f, err := codec.NewSingleObject(reg, codec.Config{MaxRecordBytes: cfg.MaxRecordBytes})
	if err != nil {
		return nil, fmt.Errorf("records: %w", err)
	}
	c := &Codec{format: f, reg: reg}
	slots := map[string]**codec.Schema{
		nameRequest: &c.request, nameAddItem: &c.addItem, nameRemoveItem: &c.removeItem,
		nameChangeQuantity: &c.changeQuantity, nameCheckedOut: &c.checkedOut,
		nameInvalid: &c.invalid, nameSnapshot: &c.snapshot, nameProduct: &c.product, nameOrder: &c.order,
		nameCleared: &c.cleared, nameExpired: &c.expired, nameMerged: &c.merged, nameMergedInto: &c.mergedInto,
		nameMergeReturned: &c.mergeReturned,
		nameInventory:     &c.inventory, nameStockLevel: &c.stockLevel, nameAnswer: &c.answer,
	}
	var errs []error
	for _, s := range cur {
		slot, ok := slots[s.FullName()]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("records: schema %s is not a cartstream record", s))
			continue
		case *slot != nil:
			errs = append(errs, fmt.Errorf("records: two current versions of %s", s.FullName()))
			continue
		}
		rs, ok := reg.ByFingerprint(s.Fingerprint())
		if !ok {
			errs = append(errs, fmt.Errorf("records: current schema %s is not registered", s))
			continue
		}
		*slot = rs
	}
	for name, slot := range slots {
		if *slot == nil {
			errs = append(errs, fmt.Errorf("records: no current schema for %s", name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c.fast = newFastPaths(c)
	if b, err := embedded.ReadFile(snapshotPendingFile); err == nil {
		if s, err := codec.ParseSchema(string(b)); err == nil {
			c.snapshotPending, _ = reg.ByFingerprint(s.Fingerprint())
		}
	}
	if c.snapshotPending == nil {
		return nil, fmt.Errorf("records: %s is not registered", snapshotPendingFile)
	}
	return c, nil
}

// encode frames native with s.
func (c *Codec) encode(what string, s *codec.Schema, native map[string]any) ([]byte, error) {
	b, err := c.format.Encode(s, native)
	if err != nil {
		return nil, fmt.Errorf("records: encode %s: %w", what, err)
	}
	return b, nil
}

// read decodes value with its writer schema.
func (c *Codec) read(value []byte) (*codec.Schema, any, error) {
	return c.format.Decode(value)
}

// as presents native, decoded with writer, as a record of reader's shape.
// A writer of another record type is ErrWrongType.
func (c *Codec) as(writer *codec.Schema, native any, reader *codec.Schema) (rec map[string]any, err error) {
	if writer.Fingerprint() != reader.Fingerprint() {
		if writer.FullName() != reader.FullName() {
			return nil, fmt.Errorf("%w: %s, want %s", ErrWrongType, writer.FullName(), reader.FullName())
		}
		// Resolution type-asserts on values goavro built with writer, so it
		// cannot fail on them; the recover keeps a bug there from taking a
		// consumer down.
		defer func() {
			if r := recover(); r != nil {
				rec, err = nil, fmt.Errorf("%w: resolving %s as %s panicked: %v", codec.ErrIncompatible, writer, reader, r)
			}
		}()
		native, err = c.reg.Resolve(writer, reader, native)
		if err != nil {
			return nil, err
		}
	}
	m, ok := native.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: %s decoded as Go type %T", ErrInvalid, reader, native)
	}
	return m, nil
}

// decode reads value as a record of reader's type.
func (c *Codec) decode(value []byte, reader *codec.Schema) (map[string]any, error) {
	w, native, err := c.read(value)
	if err != nil {
		return nil, err
	}
	return c.as(w, native, reader)
}

// DecodeAny decodes any cartstream record by its writer schema's type, for
// tools that dump topics: the result is a cart.Command, cart.Event,
// cart.InvalidRequest, cart.Snapshot or cart.Product, validated as the
// typed decoders validate it.
func (c *Codec) DecodeAny(value []byte) (any, error) {
	w, native, err := c.read(value)
	if err != nil {
		return nil, fmt.Errorf("records: decode: %w", err)
	}
	var v any
	switch w.FullName() {
	case nameRequest:
		v, err = c.requestFrom(w, native)
	case nameAddItem, nameRemoveItem, nameChangeQuantity, nameCheckedOut, nameCleared, nameExpired, nameMerged, nameMergedInto, nameMergeReturned:
		v, err = c.eventFrom(w, native)
	case nameInvalid:
		v, err = c.invalidFrom(w, native)
	case nameSnapshot:
		v, err = c.snapshotFrom(w, native)
	case nameProduct:
		v, err = c.productFrom(w, native)
	default:
		err = fmt.Errorf("%w: %s is not a cartstream record", ErrWrongType, w.FullName())
	}
	if err != nil {
		return nil, fmt.Errorf("records: decode %s: %w", w.FullName(), err)
	}
	return v, nil
}

// NewFromDir is New with every *.avsc file of dir as Config.ExtraSchemas;
// an empty dir means none. Services take dir from -schema-dir.
func NewFromDir(cfg Config, dir string) (*Codec, error) {
	if dir != "" {
		extra, err := LoadSchemaDir(dir)
		if err != nil {
			return nil, err
		}
		cfg.ExtraSchemas = append(cfg.ExtraSchemas, extra...)
	}
	return New(cfg)
}
