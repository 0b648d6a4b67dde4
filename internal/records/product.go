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
	if c.fast.product {
		w, body, err := c.format.DecodeHeader(value)
		if err != nil {
			return cart.Product{}, fmt.Errorf("records: decode product: %w", err)
		}
		if w.Fingerprint() == fastProductFP {
			p, err := decodeProductBody(w, body)
			if err != nil {
				return cart.Product{}, fmt.Errorf("records: decode product: %w", err)
			}
			return p, nil
		}
	}
	return c.decodeProductReference(value)
}

// decodeProductReference is DecodeProduct through goavro's native form and
// schema resolution: the reference the fast path is tested against, and
// the path of every writer schema but the pinned one.
func (c *Codec) decodeProductReference(value []byte) (cart.Product, error) {
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
		return cart.Product{}, errInvalidProduct(err)
	}
	return p, nil
}

// errInvalidProduct is the error of a decoded product the domain refuses.
func errInvalidProduct(err error) error { return fmt.Errorf("%w: %w", ErrInvalid, err) }
