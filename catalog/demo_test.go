package catalog_test

import (
	"strings"
	"testing"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/catalog"
)

// The demo must show what a storefront demo needs: enough products, some
// inactive, some capped, and another currency than the carts' EUR.
func TestDemoCatalog(t *testing.T) {
	ps, err := catalog.Demo()
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) < 20 || len(ps) > 50 {
		t.Errorf("%d products, want 20..50", len(ps))
	}
	var inactive, capped, foreign int
	for _, p := range ps {
		if !p.Active {
			inactive++
		}
		if p.MaxQuantityPerLine > 0 {
			capped++
		}
		if p.UnitPrice.Currency != cart.Currency("EUR") {
			foreign++
		}
	}
	if inactive < 2 || capped < 2 || foreign < 1 {
		t.Errorf("inactive %d (want >= 2), capped %d (want >= 2), other currency %d (want >= 1)", inactive, capped, foreign)
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	_, err := catalog.Parse([]byte(`{"products":[
	  {"sku":"a:b","name":"x","unitPrice":{"amountMinor":"1","currencyCode":"EUR"}},
	  {"sku":"ok","name":"x","unitPrice":{"amountMinor":"1","currencyCode":"eur"}},
	  {"sku":"dup","name":"x","unitPrice":{"amountMinor":"1","currencyCode":"EUR"}},
	  {"sku":"dup","name":"x","unitPrice":{"amountMinor":"1","currencyCode":"EUR"}}]}`))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`"a:b"`, `"ok"`, `"dup" listed twice`} {
		if !contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if _, err := catalog.Parse([]byte(`{}`)); err == nil {
		t.Error("empty catalog: no error")
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
