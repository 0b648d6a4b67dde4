package records

import (
	"fmt"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/codec"
)

// EncodeProduct encodes a catalog entry for catalog.products. The product
// is validated first (Product.Validate): an invalid one is an error
// wrapping ErrInvalid and cart.ErrInvalidProduct.
func (c *Codec) EncodeProduct(p cart.Product) ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("records: encode product: %w: %w", ErrInvalid, err)
	}
	native := map[string]any{
		"sku":                   string(p.SKU),
		"name":                  p.Name,
		"unit_price":            money(p.UnitPrice),
		"active":                p.Active,
		"max_quantity_per_line": p.MaxQuantityPerLine,
	}
	return c.encode("product", c.product, native)
}

// DecodeProduct decodes a catalog.products value and validates it
// (Product.Validate).
func (c *Codec) DecodeProduct(value []byte) (cart.Product, error) {
	w, native, err := c.read(value)
	if err == nil {
		var p cart.Product
		if p, err = c.productFrom(w, native); err == nil {
			return p, nil
		}
	}
	return cart.Product{}, fmt.Errorf("records: decode product: %w", err)
}

func (c *Codec) productFrom(w *codec.Schema, native any) (cart.Product, error) {
	r, err := c.as(w, native, c.product)
	if err != nil {
		return cart.Product{}, err
	}
	var d dec
	p := cart.Product{
		SKU:                cart.SKU(d.str(r, "sku")),
		Name:               d.str(r, "name"),
		UnitPrice:          d.money(r, "unit_price"),
		Active:             d.boolean(r, "active"),
		MaxQuantityPerLine: d.int(r, "max_quantity_per_line"),
	}
	if d.err != nil {
		return cart.Product{}, d.err
	}
	if err := p.Validate(); err != nil {
		return cart.Product{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return p, nil
}
