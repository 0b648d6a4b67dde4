package catalog

import (
	"github.com/cartstream/cartstream/cart"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// FromPB is the domain's product of the API's: the one mapping that the
// catalog file (Parse), the admin API and cartctl share. It does not
// validate (cart.Product.Validate does).
func FromPB(p *cartv1.Product) cart.Product {
	return cart.Product{
		SKU:                cart.SKU(p.GetSku()),
		Name:               p.GetName(),
		UnitPrice:          cart.Money{Amount: p.GetUnitPrice().GetAmountMinor(), Currency: cart.Currency(p.GetUnitPrice().GetCurrencyCode())},
		Active:             p.GetActive(),
		MaxQuantityPerLine: p.GetMaxQuantityPerLine(),
	}
}

// ToPB is the API's product of the domain's, as stored: a zero per-line
// cap stays zero (the read side shows the default in its place).
func ToPB(p cart.Product) *cartv1.Product {
	return &cartv1.Product{
		Sku: string(p.SKU), Name: p.Name, Active: p.Active, MaxQuantityPerLine: p.MaxQuantityPerLine,
		UnitPrice: &cartv1.Money{AmountMinor: p.UnitPrice.Amount, CurrencyCode: string(p.UnitPrice.Currency)},
	}
}
