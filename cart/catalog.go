package cart

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// MaxProductNameLength bounds a product name in bytes; names are copied into
// every AddItemValidatedRequest and every snapshot line.
const MaxProductNameLength = 256

// Product is the domain's view of a catalog entry: what Decide needs to
// accept an item and to enrich the event with its name and price.
type Product struct {
	SKU       SKU
	Name      string
	UnitPrice Money
	// Active is false for a product that is listed but not for sale.
	Active bool
	// MaxQuantityPerLine caps one cart line of this product; 0 means the
	// default of Limits.MaxQuantityPerLine.
	MaxQuantityPerLine int32
}

// Validate reports every problem of p, joined; each wraps ErrInvalidProduct.
func (p Product) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidProduct}, args...)...))
	}
	if !validID(string(p.SKU)) {
		bad("sku %s", idRule)
	}
	if p.Name == "" || len(p.Name) > MaxProductNameLength || !utf8.ValidString(p.Name) {
		bad("name must be 1 to %d bytes of UTF-8", MaxProductNameLength)
	}
	if err := p.UnitPrice.Currency.Validate(); err != nil {
		bad("unit price: %v", err)
	}
	if p.UnitPrice.Amount < 0 {
		bad("unit price must not be negative")
	}
	if p.MaxQuantityPerLine < 0 || p.MaxQuantityPerLine > MaxQuantity {
		bad("max quantity per line must be between 0 and %d", MaxQuantity)
	}
	return errors.Join(errs...)
}

// Catalog looks products up by SKU. Decide calls it synchronously from the
// caller's goroutine and never retains the result; an implementation shared
// between goroutines must be safe for concurrent reads. A lookup has no
// error: the write side reads the whole catalog topic into memory first, so
// "not found" is the only outcome besides a product.
type Catalog interface {
	Product(sku SKU) (Product, bool)
}

// MapCatalog is a Catalog over a map. Lookups on a nil MapCatalog find
// nothing. It is safe for concurrent reads while nobody writes to it.
type MapCatalog map[SKU]Product

// Product implements Catalog.
func (c MapCatalog) Product(sku SKU) (Product, bool) {
	p, ok := c[sku]
	return p, ok
}

// NewMapCatalog validates products and indexes them by SKU. It reports every
// invalid product and every duplicate SKU at once.
func NewMapCatalog(products ...Product) (MapCatalog, error) {
	c := make(MapCatalog, len(products))
	var errs []error
	for i, p := range products {
		if err := p.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("product %d: %w", i, err))
			continue
		}
		if _, dup := c[p.SKU]; dup {
			errs = append(errs, fmt.Errorf("product %d: %w: duplicate sku %s", i, ErrInvalidProduct, p.SKU))
			continue
		}
		c[p.SKU] = p
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}
