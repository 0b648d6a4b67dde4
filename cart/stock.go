package cart

// Stock tells how many units of a SKU are available for sale: on hand,
// less what reservations hold. A Catalog that also implements Stock gives
// Decide a soft stock check: AddItem and ChangeQuantity (raising a line)
// are rejected with OUT_OF_STOCK when the line would hold more than is
// available. The check is soft because the number is the latest one the
// caller knows and nothing is held for the cart; the checkout reserves for
// real (ProcessReserving). A SKU whose stock is unknown is not limited.
type Stock interface {
	Available(sku SKU) (units int64, known bool)
}

// inStock reports whether a line of units of sku fits the available stock,
// or the OUT_OF_STOCK rejection that says it does not.
func (d decider) inStock(sku SKU, units int64) (Decision, bool) {
	s, ok := d.catalog.(Stock)
	if !ok {
		return Decision{}, true
	}
	avail, known := s.Available(sku)
	if !known || units <= avail {
		return Decision{}, true
	}
	return rejected(ReasonOutOfStock, "sku %s: %d wanted, %d available", sku, units, max(avail, 0)), false
}

// StockCatalog is a Catalog with stock levels: a MapCatalog and a map of
// available units by SKU (a SKU missing from Units is not limited). It is
// the simple implementation, for tests and tools.
type StockCatalog struct {
	MapCatalog
	Units map[SKU]int64
}

// Available implements Stock.
func (c StockCatalog) Available(sku SKU) (int64, bool) {
	n, ok := c.Units[sku]
	return n, ok
}
