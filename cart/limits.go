package cart

import (
	"errors"
	"fmt"
)

// Defaults and ceilings of Limits.
const (
	// DefaultMaxLines is the number of distinct lines a cart may hold.
	DefaultMaxLines = 50
	// MaxLinesCeiling bounds Limits.MaxLines so a snapshot stays small
	// enough for one Kafka record.
	MaxLinesCeiling = 500
	// DefaultMaxQuantityPerLine caps a line whose product sets no cap.
	DefaultMaxQuantityPerLine int32 = 99
)

// Limits are the operator-tunable business limits Decide enforces. The zero
// value means the defaults. Apply does not look at Limits: a change of
// limits applies to new requests and never makes the existing log
// unreplayable.
type Limits struct {
	// MaxLines is the number of distinct SKUs a cart may hold;
	// 0 means DefaultMaxLines, at most MaxLinesCeiling.
	MaxLines int
	// MaxQuantityPerLine caps a line whose product has no cap of its own;
	// 0 means DefaultMaxQuantityPerLine, at most MaxQuantity.
	MaxQuantityPerLine int32
}

// Validate reports every out-of-range field at once; each error wraps
// ErrInvalidLimits. Call it where configuration is loaded.
func (l Limits) Validate() error {
	var errs []error
	if l.MaxLines < 0 || l.MaxLines > MaxLinesCeiling {
		errs = append(errs, fmt.Errorf("%w: max lines must be between 0 (default) and %d", ErrInvalidLimits, MaxLinesCeiling))
	}
	if l.MaxQuantityPerLine < 0 || l.MaxQuantityPerLine > MaxQuantity {
		errs = append(errs, fmt.Errorf("%w: max quantity per line must be between 0 (default) and %d", ErrInvalidLimits, MaxQuantity))
	}
	return errors.Join(errs...)
}

// WithDefaults returns l with zero fields set to their defaults. Decide uses
// it and, so that it stays total, also treats negative fields as zero and
// clamps fields above their ceiling.
func (l Limits) WithDefaults() Limits {
	if l.MaxLines <= 0 {
		l.MaxLines = DefaultMaxLines
	}
	l.MaxLines = min(l.MaxLines, MaxLinesCeiling)
	if l.MaxQuantityPerLine <= 0 {
		l.MaxQuantityPerLine = DefaultMaxQuantityPerLine
	}
	l.MaxQuantityPerLine = min(l.MaxQuantityPerLine, MaxQuantity)
	return l
}

// QuantityCap is the most units of p one line may hold under l.
func (l Limits) QuantityCap(p Product) int32 {
	if p.MaxQuantityPerLine > 0 {
		return min(p.MaxQuantityPerLine, MaxQuantity)
	}
	return l.WithDefaults().MaxQuantityPerLine
}
