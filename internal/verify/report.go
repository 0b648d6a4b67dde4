package verify

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/cartstream/cartstream/cart"
)

// Kind classifies a violation. The set is closed; names are stable (they
// appear in JSON reports and in scripts that grep them).
type Kind uint8

// The violation kinds.
const (
	KindUnspecified Kind = iota
	// KindMissingOutcome: a request that needs an outcome has none.
	KindMissingOutcome
	// KindDuplicateOutcome: a request has more than one outcome, or a
	// retry (which must have none) has one.
	KindDuplicateOutcome
	// KindOrphanOutcome: an outcome whose request id is not among its
	// cart's requests in that partition.
	KindOrphanOutcome
	// KindOutcomeMismatch: an outcome that does not fit its request: the
	// wrong event type or kind, a DUPLICATE_REQUEST rejection where none is
	// due (or a missing one where it is), a cart id that differs from the
	// record key.
	KindOutcomeMismatch
	// KindOutOfOrder: an outcome that appears, in its topic, after the
	// outcome of a later request of the same cart.
	KindOutOfOrder
	// KindVersionGap: a validated event whose version skips ahead.
	KindVersionGap
	// KindVersionRepeat: a validated event whose version is not above the
	// previous one of its cart.
	KindVersionRepeat
	// KindFoldFailed: cart.Apply refuses a validated event.
	KindFoldFailed
	// KindSnapshotMismatch: the latest snapshot's cart differs from the
	// fold of the cart's validated events.
	KindSnapshotMismatch
	// KindSnapshotOffset: the latest snapshot's RequestOffset is not the
	// offset of the cart's last request.
	KindSnapshotOffset
	// KindSnapshotWindow: the latest snapshot's request window differs
	// from the one the cart's requests imply.
	KindSnapshotWindow
	// KindMissingSnapshot: a cart with requests has no snapshot.
	KindMissingSnapshot
	// KindOrphanSnapshot: a snapshot for a cart without requests.
	KindOrphanSnapshot
	// KindMalformedCount: the MALFORMED rejections of a partition and key
	// do not match its undecodable requests one for one.
	KindMalformedCount
	// KindUndecodable: an outcome or snapshot record that does not decode.
	KindUndecodable
	// KindMissingOrder: an accepted checkout (CartCheckedOut) without its
	// OrderPlaced on the orders topic.
	KindMissingOrder
	// KindDuplicateOrder: more than one OrderPlaced with one order id.
	KindDuplicateOrder
	// KindOrphanOrder: an OrderPlaced whose order id no accepted checkout
	// derives (a rejected or aborted checkout's order).
	KindOrphanOrder
	// KindOrderMismatch: an OrderPlaced that differs from the order its
	// checkout places (lines, totals, customer, key).
	KindOrderMismatch
	// KindMergeMismatch: an accepted MergeCarts (CartMerged) without
	// exactly one MergeInto request for its target, or a MergeInto request
	// no accepted merge handed on (docs/decisions/0013-cart-lifecycle.md).
	KindMergeMismatch
	// KindNegativeStock: a stock level on inventory.stock below zero.
	KindNegativeStock
	// KindReservationAnswer: a reservation without exactly one answer, an
	// answer without its reservation, or an answer the replay of the
	// inventory's requests does not give.
	KindReservationAnswer
	// KindReservationRelease: a release of a reservation never granted or
	// released twice, a failed checkout's grant never released, or a
	// successful checkout's reservation released.
	KindReservationRelease
	// KindUndecidedCheckout: a checkout that reserved stock and has no
	// outcome (neither its CartCheckedOut nor its rejection).
	KindUndecidedCheckout
	// KindStockMismatch: a SKU's latest level differs from the replay of
	// its inventory requests.
	KindStockMismatch
	numKinds
)

var kindNames = []string{
	"Unspecified",
	"MissingOutcome",
	"DuplicateOutcome",
	"OrphanOutcome",
	"OutcomeMismatch",
	"OutOfOrder",
	"VersionGap",
	"VersionRepeat",
	"FoldFailed",
	"SnapshotMismatch",
	"SnapshotOffset",
	"SnapshotWindow",
	"MissingSnapshot",
	"OrphanSnapshot",
	"MalformedCount",
	"Undecodable",
	"MissingOrder",
	"DuplicateOrder",
	"OrphanOrder",
	"OrderMismatch",
	"MergeMismatch",
	"NegativeStock",
	"ReservationAnswer",
	"ReservationRelease",
	"UndecidedCheckout",
	"StockMismatch",
}

// Kinds returns every violation kind, in order.
func Kinds() []Kind {
	out := make([]Kind, 0, numKinds-1)
	for k := KindUnspecified + 1; k < numKinds; k++ {
		out = append(out, k)
	}
	return out
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// MarshalText encodes k by name.
func (k Kind) MarshalText() ([]byte, error) {
	if k == KindUnspecified || k >= numKinds {
		return nil, fmt.Errorf("verify: unknown violation kind %d", uint8(k))
	}
	return []byte(k.String()), nil
}

// UnmarshalText decodes a name produced by MarshalText.
func (k *Kind) UnmarshalText(b []byte) error {
	i := slices.Index(kindNames, string(b))
	if i <= 0 {
		return fmt.Errorf("verify: unknown violation kind %q", b)
	}
	*k = Kind(i)
	return nil
}

// Violation is one broken guarantee, located as precisely as the records
// allow.
type Violation struct {
	Kind      Kind           `json:"kind"`
	CartID    cart.CartID    `json:"cart_id,omitempty"`
	RequestID cart.RequestID `json:"request_id,omitempty"`
	// Partition is the partition of every record named here (the cart
	// topics are co-partitioned).
	Partition int32 `json:"partition"`
	// RequestOffset is the offset of the request in cart.requests; -1
	// when no single request is concerned.
	RequestOffset int64 `json:"request_offset"`
	// Topic and Offsets name the offending records (outcomes or
	// snapshots); empty when the violation is an absence.
	Topic   string  `json:"topic,omitempty"`
	Offsets []int64 `json:"offsets,omitempty"`
	Detail  string  `json:"detail"`
}

func (v Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s partition=%d", v.Kind, v.Partition)
	if v.CartID != "" {
		fmt.Fprintf(&b, " cart=%s", v.CartID)
	}
	if v.RequestID != "" {
		fmt.Fprintf(&b, " request=%s", v.RequestID)
	}
	if v.RequestOffset >= 0 {
		fmt.Fprintf(&b, " request_offset=%d", v.RequestOffset)
	}
	if v.Topic != "" && len(v.Offsets) > 0 {
		fmt.Fprintf(&b, " %s@%v", v.Topic, v.Offsets)
	}
	b.WriteString(": ")
	b.WriteString(v.Detail)
	return b.String()
}

// Summary counts what was checked and what was found.
type Summary struct {
	Requests  int `json:"requests"`
	Carts     int `json:"carts"`
	Validated int `json:"validated"`
	Invalid   int `json:"invalid"`
	// Malformed counts requests that do not decode (or whose key is not
	// their cart id).
	Malformed int `json:"malformed"`
	// Retries counts requests the window recognises as retries (no
	// outcome expected).
	Retries int `json:"retries"`
	// Reused counts requests whose id the window holds for another command
	// (a DUPLICATE_REQUEST rejection expected).
	Reused    int `json:"reused"`
	Snapshots int `json:"snapshots"`
	// Orders counts OrderPlaced records read (when the orders topic was).
	Orders int `json:"orders"`
	// Reservations counts the reservations read (inventory.requests);
	// Undecided the reservations of checkouts without an outcome.
	Reservations int `json:"reservations"`
	Undecided    int `json:"undecided_checkouts"`
	// Violations counts the violations by kind; absent kinds are zero.
	Violations map[Kind]int `json:"violations"`
}

// Report is the verdict of Check.
type Report struct {
	Summary    Summary     `json:"summary"`
	Violations []Violation `json:"violations"`
	Warnings   []string    `json:"warnings,omitempty"`
}

// Clean reports whether no violation was found.
func (r Report) Clean() bool { return len(r.Violations) == 0 }

// Count returns the number of violations of kind k.
func (r Report) Count(k Kind) int { return r.Summary.Violations[k] }

// WriteText writes a human-readable report to w: the summary, the warnings
// and at most limit violations (all of them when limit <= 0).
func (r Report) WriteText(w io.Writer, limit int) error {
	var b strings.Builder
	s := r.Summary
	verdict := "CLEAN"
	if !r.Clean() {
		verdict = fmt.Sprintf("%d VIOLATIONS", len(r.Violations))
	}
	fmt.Fprintf(&b, "exactly-once verification: %s\n", verdict)
	fmt.Fprintf(&b, "  requests   %d (carts %d, malformed %d, retries %d, reused ids %d)\n", s.Requests, s.Carts, s.Malformed, s.Retries, s.Reused)
	fmt.Fprintf(&b, "  validated  %d\n  invalid    %d\n  snapshots  %d\n", s.Validated, s.Invalid, s.Snapshots)
	if s.Orders > 0 {
		fmt.Fprintf(&b, "  orders     %d\n", s.Orders)
	}
	for _, k := range Kinds() {
		if n := s.Violations[k]; n > 0 {
			fmt.Fprintf(&b, "  %-17s %d\n", k.String()+":", n)
		}
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", warn)
	}
	for i, v := range r.Violations {
		if limit > 0 && i == limit {
			fmt.Fprintf(&b, "... %d more violations (use -o json for all)\n", len(r.Violations)-limit)
			break
		}
		b.WriteString(v.String())
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}
