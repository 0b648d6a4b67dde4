package replay

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cartstream/cartstream/cart"
)

// DiffKind classifies a difference between the fold and the snapshots. The
// set is closed; the names are stable.
type DiffKind uint8

// The difference kinds.
const (
	DiffUnspecified DiffKind = iota
	// DiffMissing: the cart has events but no snapshot (or a tombstone).
	DiffMissing
	// DiffExtra: a snapshot holds a non-empty cart that has no events.
	DiffExtra
	// DiffMismatch: the snapshot's cart differs from the fold.
	DiffMismatch
	// DiffUndecodable: the cart's latest snapshot record does not decode.
	DiffUndecodable
	// DiffUnfoldable: the cart's events could not be folded (see the
	// replay's problems), so the snapshot cannot be checked.
	DiffUnfoldable
	numDiffKinds
)

var diffNames = []string{"Unspecified", "Missing", "Extra", "Mismatch", "Undecodable", "Unfoldable"}

func (k DiffKind) String() string {
	if int(k) < len(diffNames) {
		return diffNames[k]
	}
	return fmt.Sprintf("DiffKind(%d)", uint8(k))
}

// MarshalText encodes k by name.
func (k DiffKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// FieldDiff is one field in which a snapshot's cart differs from the fold.
type FieldDiff struct {
	Field    string `json:"field"`
	Snapshot string `json:"snapshot"`
	Replayed string `json:"replayed"`
}

func (d FieldDiff) String() string {
	return fmt.Sprintf("%s: snapshot %s, replayed %s", d.Field, d.Snapshot, d.Replayed)
}

// Difference is one cart whose snapshot is not the fold of its events.
type Difference struct {
	Kind      DiffKind    `json:"kind"`
	CartID    cart.CartID `json:"cart_id"`
	Partition int32       `json:"partition"`
	// SnapshotOffset is the offset of the cart's latest snapshot record,
	// -1 when there is none.
	SnapshotOffset int64       `json:"snapshot_offset"`
	Fields         []FieldDiff `json:"fields,omitempty"`
	Detail         string      `json:"detail,omitempty"`
}

// Summary is the field-level diff in one line.
func (d Difference) Summary() string {
	if len(d.Fields) == 0 {
		return d.Detail
	}
	parts := make([]string, len(d.Fields))
	for i, f := range d.Fields {
		parts[i] = f.String()
	}
	s := strings.Join(parts, "; ")
	if d.Detail != "" {
		s = d.Detail + ": " + s
	}
	return s
}

// Compare lists every cart whose snapshot in current is not the fold in
// res: missing, extra, differing, undecodable and unfoldable carts, ordered
// by partition and cart id. Carts are compared as values with nil and empty
// line slices alike and times in UTC. A snapshot of a cart without events is
// consistent when its cart is empty (every request of the cart was
// rejected). An empty result means the snapshots are exactly the fold.
func Compare(res Result, current map[cart.CartID]*Current) []Difference {
	var out []Difference
	seen := map[cart.CartID]bool{}
	problems := map[cart.CartID]string{}
	for _, p := range res.Problems {
		if _, ok := problems[p.CartID]; !ok {
			problems[p.CartID] = p.String()
		}
	}
	for id, f := range res.Carts {
		seen[id] = true
		cur := current[id]
		d := Difference{CartID: id, Partition: f.Partition, SnapshotOffset: -1}
		if cur != nil {
			d.SnapshotOffset = cur.Offset
		}
		switch {
		case f.Broken:
			d.Kind, d.Detail = DiffUnfoldable, "the events do not fold: "+problems[id]
		case cur != nil && cur.Undecodable != nil:
			d.Kind, d.Detail = DiffUndecodable, "the latest snapshot does not decode: "+cur.Undecodable.Error()
		case f.State.Version == 0 && (cur == nil || !cur.HasSnapshot):
			// The fold ended with a CartExpired (a cart with events has a
			// version otherwise): no snapshot is right.
			continue
		case f.State.Version == 0:
			d.Kind, d.Detail = DiffMismatch, "the cart expired, yet cart.state still holds a snapshot"
		case cur == nil || !cur.HasSnapshot:
			d.Kind, d.Detail = DiffMissing, fmt.Sprintf("%d events, no snapshot", f.Events)
			if cur != nil && cur.Deleted {
				d.Detail = fmt.Sprintf("%d events, snapshot deleted by a tombstone", f.Events)
			}
		default:
			fields := DiffCart(cur.Snapshot.Cart, f.State)
			if len(fields) == 0 {
				continue
			}
			d.Kind, d.Fields = DiffMismatch, fields
		}
		out = append(out, d)
	}
	for id, cur := range current {
		if seen[id] {
			continue
		}
		d := Difference{CartID: id, Partition: cur.Partition, SnapshotOffset: cur.Offset}
		switch {
		case cur.Undecodable != nil:
			d.Kind, d.Detail = DiffUndecodable, "the latest snapshot does not decode: "+cur.Undecodable.Error()
		case cur.HasSnapshot:
			fields := DiffCart(cur.Snapshot.Cart, cart.CartState{CartID: id})
			if len(fields) == 0 {
				continue // every request rejected: an empty cart, rightly
			}
			d.Kind, d.Detail, d.Fields = DiffExtra, "snapshot of a cart without events", fields
		default:
			continue // a tombstone of a cart without events
		}
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Difference) int {
		return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.CartID, b.CartID))
	})
	return out
}

// DiffCart lists the fields in which snapshot differs from replayed; nil
// when they are equal (nil and empty line slices alike, times compared as
// instants).
func DiffCart(snapshot, replayed cart.CartState) []FieldDiff {
	var out []FieldDiff
	add := func(field, s, r string) {
		if s != r {
			out = append(out, FieldDiff{Field: field, Snapshot: s, Replayed: r})
		}
	}
	add("cart_id", string(snapshot.CartID), string(replayed.CartID))
	add("customer_id", string(snapshot.CustomerID), string(replayed.CustomerID))
	add("status", snapshot.Status.String(), replayed.Status.String())
	add("currency", string(snapshot.Currency), string(replayed.Currency))
	out = append(out, diffLines(snapshot.Lines, replayed.Lines)...)
	add("subtotal", moneyString(snapshot.Subtotal), moneyString(replayed.Subtotal))
	add("item_count", strconv.FormatInt(snapshot.ItemCount, 10), strconv.FormatInt(replayed.ItemCount, 10))
	add("version", strconv.FormatInt(snapshot.Version, 10), strconv.FormatInt(replayed.Version, 10))
	add("updated_at", timeString(snapshot.UpdatedAt), timeString(replayed.UpdatedAt))
	add("checked_out_at", timeString(snapshot.CheckedOutAt), timeString(replayed.CheckedOutAt))
	return out
}

func diffLines(snap, rep []cart.Line) []FieldDiff {
	var out []FieldDiff
	bySKU := func(ls []cart.Line) map[cart.SKU]cart.Line {
		m := make(map[cart.SKU]cart.Line, len(ls))
		for _, l := range ls {
			m[l.SKU] = l
		}
		return m
	}
	s, r := bySKU(snap), bySKU(rep)
	var skus []cart.SKU
	for _, l := range snap {
		skus = append(skus, l.SKU)
	}
	for _, l := range rep {
		if _, ok := s[l.SKU]; !ok {
			skus = append(skus, l.SKU)
		}
	}
	for _, sku := range skus {
		field := "lines[" + string(sku) + "]"
		sl, inS := s[sku]
		rl, inR := r[sku]
		switch {
		case !inR:
			out = append(out, FieldDiff{Field: field, Snapshot: lineString(sl), Replayed: "absent"})
		case !inS:
			out = append(out, FieldDiff{Field: field, Snapshot: "absent", Replayed: lineString(rl)})
		default:
			if sl.Name != rl.Name {
				out = append(out, FieldDiff{Field: field + ".name", Snapshot: strconv.Quote(sl.Name), Replayed: strconv.Quote(rl.Name)})
			}
			if sl.UnitPrice != rl.UnitPrice {
				out = append(out, FieldDiff{Field: field + ".unit_price", Snapshot: moneyString(sl.UnitPrice), Replayed: moneyString(rl.UnitPrice)})
			}
			if sl.Quantity != rl.Quantity {
				out = append(out, FieldDiff{Field: field + ".quantity", Snapshot: strconv.Itoa(int(sl.Quantity)), Replayed: strconv.Itoa(int(rl.Quantity))})
			}
		}
	}
	if len(out) == 0 && len(snap) == len(rep) {
		for i := range snap {
			if snap[i].SKU != rep[i].SKU {
				out = append(out, FieldDiff{Field: "lines.order", Snapshot: skuList(snap), Replayed: skuList(rep)})
				break
			}
		}
	}
	return out
}

func skuList(ls []cart.Line) string {
	s := make([]string, len(ls))
	for i, l := range ls {
		s[i] = string(l.SKU)
	}
	return strings.Join(s, ",")
}

func lineString(l cart.Line) string {
	return fmt.Sprintf("%d x %s %q", l.Quantity, moneyString(l.UnitPrice), l.Name)
}

func moneyString(m cart.Money) string {
	if m.IsZero() {
		return "0"
	}
	return m.String()
}

func timeString(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}
