package cart_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cartstream/cartstream/cart"
)

type decideCase struct {
	name   string
	state  func(tb testing.TB) cart.CartState
	cmd    cart.Command
	cat    func(tb testing.TB) cart.Catalog
	limits cart.Limits
	want   cart.Reason // ReasonNone: accepted
	check  func(tb testing.TB, before, after cart.CartState)
}

func empty(testing.TB) cart.CartState { return cart.CartState{} }

func fold(cmds ...cart.Command) func(tb testing.TB) cart.CartState {
	return func(tb testing.TB) cart.CartState {
		tb.Helper()
		return run(tb, testCatalog(tb), cmds...)
	}
}

func catalog(tb testing.TB) cart.Catalog { return testCatalog(tb) }

func catalogWith(p cart.Product) func(tb testing.TB) cart.Catalog {
	return func(tb testing.TB) cart.Catalog { return with(testCatalog(tb), p) }
}

func catalogWithout(sku cart.SKU) func(tb testing.TB) cart.Catalog {
	return func(tb testing.TB) cart.Catalog { return without(testCatalog(tb), sku) }
}

func lineOf(tb testing.TB, s cart.CartState, sku cart.SKU) cart.Line {
	tb.Helper()
	l, ok := s.Line(sku)
	if !ok {
		tb.Fatalf("no line %s in %+v", sku, s.Lines)
	}
	return l
}

func decideCases() []decideCase {
	otherCustomer := add("pear", 1)
	otherCustomer.CustomerID = "u2"
	otherCheckout := checkout()
	otherCheckout.CustomerID = "u2"
	otherCart := add("apple", 1)
	otherCart.CartID = "c2"
	badIDs := add("apple", 1)
	badIDs.CartID, badIDs.RequestID = "", "has space"
	var nilAdd *cart.AddItem
	corrupt := func(tb testing.TB) cart.CartState {
		s := run(tb, testCatalog(tb), add("apple", 2))
		s.Lines[0].Quantity = -1
		return s
	}
	checkedOut := fold(add("apple", 1), checkout())

	cases := []decideCase{
		// Accepted paths and the repricing policy.
		{name: "add new line", state: empty, cmd: add("apple", 2), cat: catalog,
			check: func(tb testing.TB, _, s cart.CartState) {
				mustEqual(tb, "lines", s.Lines, []cart.Line{{SKU: "apple", Name: "Apple", UnitPrice: eur(100), Quantity: 2}})
				mustEqual(tb, "subtotal", s.Subtotal, eur(200))
				mustEqual(tb, "currency", s.Currency, cart.Currency("EUR"))
				mustEqual(tb, "customer", s.CustomerID, cart.CustomerID("u1"))
				mustEqual(tb, "version", s.Version, int64(1))
			}},
		{name: "add grows existing line", state: fold(add("apple", 2)), cmd: add("apple", 3), cat: catalog,
			check: func(tb testing.TB, _, s cart.CartState) {
				mustEqual(tb, "quantity", lineOf(tb, s, "apple").Quantity, int32(5))
				mustEqual(tb, "lines", len(s.Lines), 1)
			}},
		{name: "re-add reprices the whole line", state: fold(add("apple", 2)), cmd: add("apple", 1),
			cat: catalogWith(cart.Product{SKU: "apple", Name: "Apple (new)", UnitPrice: eur(120), Active: true, MaxQuantityPerLine: 10}),
			check: func(tb testing.TB, _, s cart.CartState) {
				mustEqual(tb, "line", lineOf(tb, s, "apple"), cart.Line{SKU: "apple", Name: "Apple (new)", UnitPrice: eur(120), Quantity: 3})
				mustEqual(tb, "subtotal", s.Subtotal, eur(360))
			}},
		{name: "lines keep insertion order", state: fold(add("pear", 1), add("apple", 1)), cmd: add("pear", 1), cat: catalog,
			check: func(tb testing.TB, _, s cart.CartState) {
				mustEqual(tb, "first", s.Lines[0].SKU, cart.SKU("pear"))
				mustEqual(tb, "second", s.Lines[1].SKU, cart.SKU("apple"))
			}},
		{name: "add up to the product cap exactly", state: fold(add("apple", 9)), cmd: add("apple", 1), cat: catalog},
		{name: "add up to the default cap exactly", state: empty, cmd: add("pear", cart.DefaultMaxQuantityPerLine), cat: catalog},
		{name: "limits raise the default cap", state: empty, cmd: add("pear", 500), cat: catalog, limits: cart.Limits{MaxQuantityPerLine: 500}},
		{name: "remove line", state: fold(add("apple", 1), add("pear", 2)), cmd: remove("apple"), cat: catalog,
			check: func(tb testing.TB, _, s cart.CartState) {
				mustEqual(tb, "lines", s.Lines, []cart.Line{{SKU: "pear", Name: "Pear", UnitPrice: eur(250), Quantity: 2}})
				mustEqual(tb, "subtotal", s.Subtotal, eur(500))
			}},
		{name: "removing the last line frees the currency", state: fold(add("apple", 1), remove("apple")), cmd: add("bagel", 1), cat: catalog,
			check: func(tb testing.TB, _, s cart.CartState) { mustEqual(tb, "currency", s.Currency, cart.Currency("USD")) }},
		{name: "change down keeps the line's price without the catalog", state: fold(add("apple", 5)), cmd: change("apple", 2),
			cat: catalogWithout("apple"),
			check: func(tb testing.TB, _, s cart.CartState) {
				mustEqual(tb, "line", lineOf(tb, s, "apple"), cart.Line{SKU: "apple", Name: "Apple", UnitPrice: eur(100), Quantity: 2})
			}},
		{name: "change up reprices", state: fold(add("apple", 1)), cmd: change("apple", 4),
			cat: catalogWith(cart.Product{SKU: "apple", Name: "Apple", UnitPrice: eur(90), Active: true, MaxQuantityPerLine: 10}),
			check: func(tb testing.TB, _, s cart.CartState) {
				mustEqual(tb, "line", lineOf(tb, s, "apple"), cart.Line{SKU: "apple", Name: "Apple", UnitPrice: eur(90), Quantity: 4})
				mustEqual(tb, "subtotal", s.Subtotal, eur(360))
			}},
		{name: "change of the only line may switch currency", state: fold(add("apple", 1)), cmd: change("apple", 1),
			cat:   catalogWith(cart.Product{SKU: "apple", Name: "Apple", UnitPrice: usd(110), Active: true}),
			check: func(tb testing.TB, _, s cart.CartState) { mustEqual(tb, "currency", s.Currency, cart.Currency("USD")) }},
		{name: "checkout", state: fold(add("apple", 2), add("pear", 1)), cmd: checkout(), cat: catalog,
			check: func(tb testing.TB, before, s cart.CartState) {
				mustEqual(tb, "status", s.Status, cart.StatusCheckedOut)
				mustEqual(tb, "lines", s.Lines, before.Lines)
				mustEqual(tb, "subtotal", s.Subtotal, eur(450))
				mustEqual(tb, "items", s.ItemCount, int64(3))
				if s.CheckedOutAt.IsZero() {
					tb.Fatal("CheckedOutAt not set")
				}
			}},
		{name: "pointer command", state: empty, cmd: func() cart.Command { c := add("apple", 1); return &c }(), cat: catalog},

		// One rejection per rule.
		{name: "nil command", state: empty, cmd: nil, cat: catalog, want: cart.ReasonMalformed},
		{name: "nil pointer command", state: empty, cmd: nilAdd, cat: catalog, want: cart.ReasonMalformed},
		{name: "malformed ids", state: empty, cmd: badIDs, cat: catalog, want: cart.ReasonMalformed},
		{name: "missing requested_at", state: empty, cmd: cart.Checkout{CartID: "c1", RequestID: "r", CustomerID: "u1"}, cat: catalog, want: cart.ReasonMalformed},
		{name: "quantity zero", state: empty, cmd: add("apple", 0), cat: catalog, want: cart.ReasonQuantityOutOfRange},
		{name: "quantity negative", state: fold(add("apple", 1)), cmd: change("apple", -3), cat: catalog, want: cart.ReasonQuantityOutOfRange},
		{name: "quantity above hard ceiling", state: empty, cmd: add("pear", cart.MaxQuantity+1), cat: catalog, want: cart.ReasonQuantityOutOfRange},
		{name: "quantity above product cap", state: empty, cmd: add("apple", 11), cat: catalog, want: cart.ReasonQuantityOutOfRange},
		{name: "quantity above default cap", state: empty, cmd: add("pear", cart.DefaultMaxQuantityPerLine+1), cat: catalog, want: cart.ReasonQuantityOutOfRange},
		{name: "add pushes line past cap", state: fold(add("apple", 8)), cmd: add("apple", 3), cat: catalog, want: cart.ReasonQuantityOutOfRange},
		{name: "add to a cap-one line", state: fold(add("single", 1)), cmd: add("single", 1), cat: catalog, want: cart.ReasonQuantityOutOfRange},
		{name: "change above cap", state: fold(add("apple", 1)), cmd: change("apple", 11), cat: catalog, want: cart.ReasonQuantityOutOfRange},
		{name: "unknown sku", state: empty, cmd: add("kiwi", 1), cat: catalog, want: cart.ReasonUnknownSKU},
		{name: "nil catalog", state: empty, cmd: add("apple", 1), cat: func(testing.TB) cart.Catalog { return nil }, want: cart.ReasonUnknownSKU},
		{name: "nil map catalog", state: empty, cmd: add("apple", 1), cat: func(testing.TB) cart.Catalog { return cart.MapCatalog(nil) }, want: cart.ReasonUnknownSKU},
		{name: "change up of a withdrawn product", state: fold(add("apple", 1)), cmd: change("apple", 2), cat: catalogWithout("apple"), want: cart.ReasonUnknownSKU},
		{name: "checkout with a withdrawn product", state: fold(add("apple", 1)), cmd: checkout(), cat: catalogWithout("apple"), want: cart.ReasonUnknownSKU},
		{name: "inactive sku", state: empty, cmd: add("plum", 1), cat: catalog, want: cart.ReasonInactiveSKU},
		{name: "checkout with a deactivated product", state: fold(add("apple", 1)), cmd: checkout(),
			cat: catalogWith(cart.Product{SKU: "apple", Name: "Apple", UnitPrice: eur(100), MaxQuantityPerLine: 10}), want: cart.ReasonInactiveSKU},
		{name: "change up of a deactivated product", state: fold(add("apple", 1)), cmd: change("apple", 2),
			cat: catalogWith(cart.Product{SKU: "apple", Name: "Apple", UnitPrice: eur(100)}), want: cart.ReasonInactiveSKU},
		{name: "catalog entry with negative price", state: empty, cmd: add("apple", 1),
			cat: catalogWith(cart.Product{SKU: "apple", Name: "Apple", UnitPrice: eur(-1), Active: true}), want: cart.ReasonInvalidProduct},
		{name: "catalog entry with bad currency", state: empty, cmd: add("apple", 1),
			cat: catalogWith(cart.Product{SKU: "apple", Name: "Apple", UnitPrice: cart.Money{Amount: 1, Currency: "eur"}, Active: true}), want: cart.ReasonInvalidProduct},
		{name: "catalog entry under another sku", state: empty, cmd: add("apple", 1),
			cat: func(tb testing.TB) cart.Catalog {
				c := testCatalog(tb)
				c["apple"] = c["pear"]
				return c
			}, want: cart.ReasonInvalidProduct},
		{name: "zero product from catalog", state: empty, cmd: add("apple", 1),
			cat: func(testing.TB) cart.Catalog { return cart.MapCatalog{"apple": {}} }, want: cart.ReasonInvalidProduct},
		{name: "line limit", state: fold(add("apple", 1), add("pear", 1)), cmd: add("single", 1), cat: catalog,
			limits: cart.Limits{MaxLines: 2}, want: cart.ReasonLineLimit},
		{name: "line limit does not stop growing a line", state: fold(add("apple", 1), add("pear", 1)), cmd: add("apple", 1), cat: catalog,
			limits: cart.Limits{MaxLines: 2}},
		{name: "default line limit", state: func(tb testing.TB) cart.CartState {
			cat := testCatalog(tb)
			var cmds []cart.Command
			for i := range cart.DefaultMaxLines {
				sku := cart.SKU("sku-" + string(rune('a'+i/26)) + string(rune('a'+i%26)))
				cat[sku] = cart.Product{SKU: sku, Name: "N", UnitPrice: eur(1), Active: true}
				cmds = append(cmds, add(sku, 1))
			}
			return run(tb, cat, cmds...)
		}, cmd: add("apple", 1), cat: catalog, want: cart.ReasonLineLimit},
		{name: "add to checked-out cart", state: checkedOut, cmd: add("pear", 1), cat: catalog, want: cart.ReasonCartCheckedOut},
		{name: "remove from checked-out cart", state: checkedOut, cmd: remove("apple"), cat: catalog, want: cart.ReasonCartCheckedOut},
		{name: "change in checked-out cart", state: checkedOut, cmd: change("apple", 2), cat: catalog, want: cart.ReasonCartCheckedOut},
		{name: "checkout twice", state: checkedOut, cmd: checkout(), cat: catalog, want: cart.ReasonCartCheckedOut},
		{name: "checkout of a new cart", state: empty, cmd: checkout(), cat: catalog, want: cart.ReasonEmptyCart},
		{name: "checkout of an emptied cart", state: fold(add("apple", 1), remove("apple")), cmd: checkout(), cat: catalog, want: cart.ReasonEmptyCart},
		{name: "remove missing line", state: fold(add("apple", 1)), cmd: remove("pear"), cat: catalog, want: cart.ReasonItemNotInCart},
		{name: "remove from new cart", state: empty, cmd: remove("pear"), cat: catalog, want: cart.ReasonItemNotInCart},
		{name: "change missing line", state: fold(add("apple", 1)), cmd: change("pear", 1), cat: catalog, want: cart.ReasonItemNotInCart},
		{name: "currency mismatch on add", state: fold(add("apple", 1)), cmd: add("bagel", 1), cat: catalog, want: cart.ReasonCurrencyMismatch},
		{name: "currency mismatch on re-add", state: fold(add("apple", 1), add("pear", 1)), cmd: add("apple", 1),
			cat: catalogWith(cart.Product{SKU: "apple", Name: "Apple", UnitPrice: usd(100), Active: true}), want: cart.ReasonCurrencyMismatch},
		{name: "currency mismatch on change up", state: fold(add("apple", 1), add("pear", 1)), cmd: change("apple", 2),
			cat: catalogWith(cart.Product{SKU: "apple", Name: "Apple", UnitPrice: usd(100), Active: true}), want: cart.ReasonCurrencyMismatch},
		{name: "line total overflow", state: empty, cmd: add("gold", 4), cat: catalog, want: cart.ReasonAmountOverflow},
		{name: "subtotal overflow", state: fold(add("gold", 3)), cmd: add("pear", 1),
			cat: catalogWith(cart.Product{SKU: "pear", Name: "Pear", UnitPrice: eur(math.MaxInt64 - 3<<61 + 1), Active: true}), want: cart.ReasonAmountOverflow},
		{name: "wrong cart", state: fold(add("apple", 1)), cmd: otherCart, cat: catalog, want: cart.ReasonWrongCart},
		{name: "add by another customer", state: fold(add("apple", 1)), cmd: otherCustomer, cat: catalog, want: cart.ReasonCustomerMismatch},
		{name: "checkout by another customer", state: fold(add("apple", 1)), cmd: otherCheckout, cat: catalog, want: cart.ReasonCustomerMismatch},
		{name: "price changed before checkout", state: fold(add("apple", 1)), cmd: checkout(),
			cat: catalogWith(cart.Product{SKU: "apple", Name: "Apple", UnitPrice: eur(101), Active: true}), want: cart.ReasonPriceChanged},
		{name: "corrupt state", state: corrupt, cmd: add("pear", 1), cat: catalog, want: cart.ReasonInvalidState},
		// The soft stock check (cart/stock.go).
		{name: "add beyond stock", state: fold(add("apple", 2)), cmd: add("apple", 2), cat: stocked("apple", 3), want: cart.ReasonOutOfStock},
		{name: "add within stock", state: fold(add("apple", 2)), cmd: add("apple", 1), cat: stocked("apple", 3)},
		{name: "add of untracked sku", state: empty, cmd: add("pear", 5), cat: stocked("apple", 0)},
		{name: "raise beyond stock", state: fold(add("apple", 2)), cmd: change("apple", 4), cat: stocked("apple", 3), want: cart.ReasonOutOfStock},
		{name: "lower below stock needs none", state: fold(add("apple", 5)), cmd: change("apple", 4), cat: stocked("apple", 0)},
	}
	return append(cases, lifecycleCases()...)
}

// stocked is the test catalog with units of sku available.
func stocked(sku cart.SKU, units int64) func(tb testing.TB) cart.Catalog {
	return func(tb testing.TB) cart.Catalog {
		return cart.StockCatalog{MapCatalog: testCatalog(tb), Units: map[cart.SKU]int64{sku: units}}
	}
}

func TestDecide(t *testing.T) {
	for _, tc := range decideCases() {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.state(t)
			snapshot := before.Clone()
			d := cart.Decide(before, tc.cmd, tc.cat(t), tc.limits, t0.Add(time.Minute))
			mustEqual(t, "input state untouched", before, snapshot)
			if tc.want != cart.ReasonNone {
				if d.Accepted() || len(d.Events) != 0 {
					t.Fatalf("accepted with %d events, want %v", len(d.Events), tc.want)
				}
				mustEqual(t, "reason", d.Rejection.Reason, tc.want)
				if d.Rejection.Message == "" || strings.Contains(d.Rejection.Message, "u1") {
					t.Fatalf("message %q: want human text without customer ids", d.Rejection.Message)
				}
				return
			}
			if !d.Accepted() || len(d.Events) != 1 {
				t.Fatalf("rejected: %v", d.Rejection)
			}
			after, err := cart.Apply(before, d.Events[0])
			if err != nil {
				t.Fatalf("Apply of a decided event: %v", err)
			}
			if err := after.Validate(); err != nil {
				t.Fatalf("state after Apply: %v", err)
			}
			mustEqual(t, "version", after.Version, before.Version+1)
			mustEqual(t, "updated at", after.UpdatedAt, t0.Add(time.Minute))
			if tc.check != nil {
				tc.check(t, before, after)
			}
		})
	}
}

// TestEveryReasonReachable fails when a reason code is added without a rule
// that produces it (DUPLICATE_REQUEST is Process's, CHECKOUT_IN_PROGRESS
// ProcessReserving's, tested there).
func TestEveryReasonReachable(t *testing.T) {
	seen := map[cart.Reason]bool{cart.ReasonDuplicateRequest: true, cart.ReasonCheckoutInProgress: true}
	for _, tc := range decideCases() {
		seen[tc.want] = true
	}
	for _, r := range cart.Reasons() {
		if !seen[r] {
			t.Errorf("no decide case produces %v", r)
		}
	}
}

func TestDecideEventContent(t *testing.T) {
	s := run(t, testCatalog(t), add("pear", 1))
	cmd := add("apple", 3)
	cmd.RequestedAt = time.Date(2025, 3, 1, 13, 0, 0, 0, time.FixedZone("CET", 3600))
	decided := t0.Add(time.Hour)
	d := cart.Decide(s, cmd, testCatalog(t), cart.Limits{}, decided)
	if !d.Accepted() {
		t.Fatal(d.Rejection)
	}
	mustEqual[cart.Event](t, "event", d.Events[0], cart.AddItemValidatedRequest{
		CartID: "c1", RequestID: cmd.RequestID, Version: 2,
		RequestedAt: cmd.RequestedAt.UTC(), DecidedAt: decided,
		CustomerID: "u1", SKU: "apple", Name: "Apple", UnitPrice: eur(100), Quantity: 3,
	})
	mustEqual(t, "event type", d.Events[0].EventType(), cart.EventTypeAddItemValidatedRequest)
}

func TestDecideMalformedMessageNamesFieldsOnly(t *testing.T) {
	cmd := cart.AddItem{CartID: "bad cart", RequestID: "", CustomerID: "alice@example.com!", SKU: "apple", Quantity: 1, RequestedAt: t0}
	d := cart.Decide(cart.CartState{}, cmd, testCatalog(t), cart.Limits{}, t0)
	mustEqual(t, "reason", d.Rejection.Reason, cart.ReasonMalformed)
	if strings.Contains(d.Rejection.Message, "alice") || !strings.Contains(d.Rejection.Message, "customer_id") {
		t.Fatalf("message %q", d.Rejection.Message)
	}
}
