package cart

import (
	"fmt"
	"math"
)

// Currency is an ISO 4217 alphabetic code such as "EUR". The package checks
// the shape (three upper-case ASCII letters), not membership in the ISO list,
// which changes over time and belongs to the catalog's owner.
type Currency string

// Validate reports whether c has the shape of an ISO 4217 code.
func (c Currency) Validate() error {
	if len(c) != 3 {
		return fmt.Errorf("%w: want three upper-case letters", ErrInvalidCurrency)
	}
	for i := 0; i < 3; i++ {
		if c[i] < 'A' || c[i] > 'Z' {
			return fmt.Errorf("%w: want three upper-case letters", ErrInvalidCurrency)
		}
	}
	return nil
}

// Money is an amount in the currency's minor units (cents for EUR, yen for
// JPY) plus its currency. Floats never appear: they cannot represent most
// decimal prices exactly and rounding would differ between services.
//
// The zero value (0 with no currency) is the subtotal of an empty cart.
type Money struct {
	Amount   int64
	Currency Currency
}

// NewMoney returns amount minor units of cur, or ErrInvalidCurrency.
func NewMoney(amount int64, cur Currency) (Money, error) {
	if err := cur.Validate(); err != nil {
		return Money{}, err
	}
	return Money{Amount: amount, Currency: cur}, nil
}

// String prints minor units and the code, e.g. "1999 EUR"; it does not guess
// the currency's exponent.
func (m Money) String() string { return fmt.Sprintf("%d %s", m.Amount, m.Currency) }

// IsZero reports whether m is the zero value.
func (m Money) IsZero() bool { return m == Money{} }

// Add returns m+o. Both must be in the same currency.
func (m Money) Add(o Money) (Money, error) {
	if m.Currency != o.Currency {
		return Money{}, fmt.Errorf("%w: %s and %s", ErrCurrencyMismatch, m.Currency, o.Currency)
	}
	if (o.Amount > 0 && m.Amount > math.MaxInt64-o.Amount) ||
		(o.Amount < 0 && m.Amount < math.MinInt64-o.Amount) {
		return Money{}, fmt.Errorf("%w: %d + %d", ErrAmountOverflow, m.Amount, o.Amount)
	}
	return Money{Amount: m.Amount + o.Amount, Currency: m.Currency}, nil
}

// Sub returns m-o. Both must be in the same currency.
func (m Money) Sub(o Money) (Money, error) {
	if m.Currency != o.Currency {
		return Money{}, fmt.Errorf("%w: %s and %s", ErrCurrencyMismatch, m.Currency, o.Currency)
	}
	if (o.Amount < 0 && m.Amount > math.MaxInt64+o.Amount) ||
		(o.Amount > 0 && m.Amount < math.MinInt64+o.Amount) {
		return Money{}, fmt.Errorf("%w: %d - %d", ErrAmountOverflow, m.Amount, o.Amount)
	}
	return Money{Amount: m.Amount - o.Amount, Currency: m.Currency}, nil
}

// Mul returns m*n, as a line total is a unit price times a quantity.
func (m Money) Mul(n int64) (Money, error) {
	if m.Amount == 0 || n == 0 {
		return Money{Amount: 0, Currency: m.Currency}, nil
	}
	p := m.Amount * n
	// Division undoes the multiplication exactly unless it wrapped; the one
	// case division cannot see is MinInt64 * -1.
	if p/n != m.Amount || (m.Amount == -1 && n == math.MinInt64) || (n == -1 && m.Amount == math.MinInt64) {
		return Money{}, fmt.Errorf("%w: %d * %d", ErrAmountOverflow, m.Amount, n)
	}
	return Money{Amount: p, Currency: m.Currency}, nil
}
