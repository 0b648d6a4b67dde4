// Package catalog holds the demo product catalog that `make run` seeds into
// catalog.products when that topic is empty: demo.json, embedded in the
// binary, in the API's own JSON shape (a cartstream.cart.v1
// ListProductsResponse, protobuf JSON mapping).
//
// The demo has active and inactive products, per-line caps on a few, and
// products priced in other currencies than EUR, so a storefront can show
// every common rejection (INACTIVE_SKU, QUANTITY_OUT_OF_RANGE,
// CURRENCY_MISMATCH).
package catalog

import (
	_ "embed"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cartstream/cartstream/cart"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

//go:embed demo.json
var demoJSON []byte

// DemoJSON returns the embedded demo catalog file as it is in the repo.
func DemoJSON() []byte { return append([]byte(nil), demoJSON...) }

// Demo returns the embedded demo catalog, validated.
func Demo() ([]cart.Product, error) { return Parse(demoJSON) }

// Parse decodes a catalog file (a ListProductsResponse in protobuf JSON)
// and validates every product with cart.Product.Validate. It reports every
// bad product and every duplicated SKU at once.
func Parse(data []byte) ([]cart.Product, error) {
	var resp cartv1.ListProductsResponse
	if err := protojson.Unmarshal(data, &resp); err != nil {
		return nil, fmt.Errorf("catalog: decode: %w", err)
	}
	var errs []error
	seen := map[cart.SKU]bool{}
	out := make([]cart.Product, 0, len(resp.GetProducts()))
	for i, p := range resp.GetProducts() {
		prod := FromPB(p)
		if err := prod.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("catalog: product %d (%q): %w", i, p.GetSku(), err))
			continue
		}
		if seen[prod.SKU] {
			errs = append(errs, fmt.Errorf("catalog: product %d: sku %q listed twice", i, prod.SKU))
			continue
		}
		seen[prod.SKU] = true
		out = append(out, prod)
	}
	if len(out) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("catalog: no products"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}
