package cart_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/cartstream/cartstream/cart"
)

func TestCommandValidateListsEveryViolation(t *testing.T) {
	cases := []struct {
		cmd  cart.Command
		want []string
	}{
		{cart.AddItem{}, []string{"cart_id", "request_id", "customer_id", "requested_at", "sku", "quantity"}},
		{cart.RemoveItem{}, []string{"cart_id", "request_id", "requested_at", "sku"}},
		{cart.ChangeQuantity{CartID: "c1", RequestID: "r1", RequestedAt: t0, SKU: "x", Quantity: 0}, []string{"quantity"}},
		{cart.Checkout{CartID: cart.CartID(strings.Repeat("c", cart.MaxIDLength+1)), RequestID: "r/1", CustomerID: "ü", RequestedAt: t0}, []string{"cart_id", "request_id", "customer_id"}},
		{nil, []string{"command"}},
		{(*cart.Checkout)(nil), []string{"command"}},
	}
	for _, tc := range cases {
		err := cart.ValidateCommand(tc.cmd)
		if !cart.IsInvalidArgument(err) {
			t.Fatalf("%T: %v is not an invalid argument", tc.cmd, err)
		}
		var got []string
		for _, v := range cart.FieldViolations(err) {
			got = append(got, v.Field)
			if v.Description == "" {
				t.Errorf("%T: %s has no description", tc.cmd, v.Field)
			}
		}
		mustEqual(t, "fields", got, tc.want)
	}
	ok := []cart.Command{add("apple", 1), remove("apple"), change("apple", cart.MaxQuantity), checkout(),
		cart.AddItem{CartID: cart.CartID(strings.Repeat("A", 64)), RequestID: "0.1_2-3-4", CustomerID: "u", SKU: "s", Quantity: 1, RequestedAt: t0}}
	for _, c := range ok {
		if err := cart.ValidateCommand(c); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

func TestIDValidate(t *testing.T) {
	for _, err := range []error{cart.CartID("").Validate(), cart.RequestID("a b").Validate(), cart.CustomerID("x\n").Validate(), cart.SKU(strings.Repeat("s", 65)).Validate(), cart.ValidateQuantity(0)} {
		if !cart.IsInvalidArgument(err) || len(cart.FieldViolations(err)) != 1 {
			t.Errorf("%v: want one violation", err)
		}
	}
	if err := cart.SKU("SKU-1_red.L-2").Validate(); err != nil {
		t.Error(err)
	}
	// ':' is refused: HTTP routes end in ":checkout" and ":watch", and a
	// colon inside a cart id would make those paths ambiguous.
	if err := cart.CartID("a:b").Validate(); err == nil {
		t.Error("a cart id with ':' was accepted")
	}
}

func TestKindAndEventTypes(t *testing.T) {
	cmds := map[cart.Kind]cart.Command{cart.KindAddItem: add("a", 1), cart.KindRemoveItem: remove("a"), cart.KindChangeQuantity: change("a", 1), cart.KindCheckout: checkout()}
	names := map[cart.Kind][3]string{
		cart.KindAddItem:        {"AddItemRequest", "AddItemValidatedRequest", "AddItemInvalidRequest"},
		cart.KindRemoveItem:     {"RemoveItemRequest", "RemoveItemValidatedRequest", "RemoveItemInvalidRequest"},
		cart.KindChangeQuantity: {"ChangeQuantityRequest", "ChangeQuantityValidatedRequest", "ChangeQuantityInvalidRequest"},
		cart.KindCheckout:       {"CheckoutRequest", "CartCheckedOut", "CheckoutInvalidRequest"},
	}
	for k, c := range cmds {
		mustEqual(t, "kind", c.Kind(), k)
		mustEqual(t, "request name", c.EventType().String(), names[k][0])
		inv := cart.InvalidRequest{Kind: k}
		mustEqual(t, "invalid name", inv.EventType().String(), names[k][2])
		for i, n := range names[k] {
			et, err := cart.ParseEventType(n)
			if err != nil {
				t.Fatal(err)
			}
			mustEqual(t, "kind of "+n, et.Kind(), k)
			mustEqual(t, "class of "+n, [3]bool{et.IsRequest(), et.IsValidated(), et.IsInvalid()}, [3]bool{i == 0, i == 1, i == 2})
		}
		pk, err := cart.ParseKind(k.String())
		if err != nil || pk != k {
			t.Fatalf("ParseKind(%v) = %v, %v", k, pk, err)
		}
	}
}

type textEnum interface {
	String() string
	MarshalText() ([]byte, error)
}

func TestEnumsRoundTrip(t *testing.T) {
	for r := cart.Reason(0); r.Valid(); r++ {
		p, err := cart.ParseReason(r.String())
		if err != nil || p != r {
			t.Errorf("ParseReason(%v) = %v, %v", r, p, err)
		}
		var u cart.Reason
		b, _ := r.MarshalText()
		if err := u.UnmarshalText(b); err != nil || u != r {
			t.Errorf("text round trip of %v: %v, %v", r, u, err)
		}
	}
	if r, err := cart.ParseReason(""); err != nil || r != cart.ReasonNone {
		t.Errorf("empty reason: %v, %v", r, err)
	}
	for s := cart.Status(0); s.Valid(); s++ {
		var u cart.Status
		b, _ := s.MarshalText()
		if err := u.UnmarshalText(b); err != nil || u != s {
			t.Errorf("status %v: %v, %v", s, u, err)
		}
	}
	for et := cart.EventTypeUnspecified; et <= cart.EventTypeCheckoutInvalidRequest; et++ {
		var u cart.EventType
		b, _ := et.MarshalText()
		if err := u.UnmarshalText(b); err != nil || u != et {
			t.Errorf("event type %v: %v, %v", et, u, err)
		}
	}
	for _, bad := range []textEnum{cart.Reason(200), cart.Kind(30), cart.EventType(77), cart.Status(3)} {
		if _, err := bad.MarshalText(); !errors.Is(err, cart.ErrUnknownName) {
			t.Errorf("%v: MarshalText err %v", bad, err)
		}
		if !strings.Contains(bad.String(), "(") {
			t.Errorf("%v: want a diagnostic name", bad)
		}
	}
	for _, err := range []error{
		func() error { _, err := cart.ParseReason("unknown_sku"); return err }(),
		func() error { _, err := cart.ParseKind("addItem"); return err }(),
		func() error { _, err := cart.ParseEventType("CartCheckedout"); return err }(),
		func() error { _, err := cart.ParseStatus("open"); return err }(),
		func() error { var k cart.Kind; return k.UnmarshalText([]byte("x")) }(),
	} {
		if !errors.Is(err, cart.ErrUnknownName) {
			t.Errorf("err %v, want ErrUnknownName", err)
		}
	}
	mustEqual(t, "disposition", cart.DispositionDuplicate.String(), "DUPLICATE")
	mustEqual(t, "reason list", len(cart.Reasons()), 20)
}

func TestMoney(t *testing.T) {
	if _, err := cart.NewMoney(1, "eur"); !errors.Is(err, cart.ErrInvalidCurrency) {
		t.Errorf("lower-case code: %v", err)
	}
	if _, err := cart.NewMoney(1, "EURO"); !errors.Is(err, cart.ErrInvalidCurrency) {
		t.Errorf("long code: %v", err)
	}
	m, err := cart.NewMoney(1999, "EUR")
	if err != nil || m.String() != "1999 EUR" {
		t.Fatalf("NewMoney: %v, %v", m, err)
	}
	cases := []struct {
		name string
		op   func() (cart.Money, error)
		want cart.Money
		err  error
	}{
		{"add", func() (cart.Money, error) { return eur(1).Add(eur(2)) }, eur(3), nil},
		{"add overflow", func() (cart.Money, error) { return eur(math.MaxInt64).Add(eur(1)) }, cart.Money{}, cart.ErrAmountOverflow},
		{"add underflow", func() (cart.Money, error) { return eur(math.MinInt64).Add(eur(-1)) }, cart.Money{}, cart.ErrAmountOverflow},
		{"add currencies", func() (cart.Money, error) { return eur(1).Add(usd(1)) }, cart.Money{}, cart.ErrCurrencyMismatch},
		{"sub", func() (cart.Money, error) { return eur(1).Sub(eur(3)) }, eur(-2), nil},
		{"sub overflow", func() (cart.Money, error) { return eur(math.MinInt64).Sub(eur(1)) }, cart.Money{}, cart.ErrAmountOverflow},
		{"sub currencies", func() (cart.Money, error) { return eur(1).Sub(usd(1)) }, cart.Money{}, cart.ErrCurrencyMismatch},
		{"mul", func() (cart.Money, error) { return eur(250).Mul(4) }, eur(1000), nil},
		{"mul zero", func() (cart.Money, error) { return eur(math.MaxInt64).Mul(0) }, eur(0), nil},
		{"mul overflow", func() (cart.Money, error) { return eur(math.MaxInt64/2 + 1).Mul(2) }, cart.Money{}, cart.ErrAmountOverflow},
		{"mul min by -1", func() (cart.Money, error) { return eur(math.MinInt64).Mul(-1) }, cart.Money{}, cart.ErrAmountOverflow},
		{"mul -1 by min", func() (cart.Money, error) { return eur(-1).Mul(math.MinInt64) }, cart.Money{}, cart.ErrAmountOverflow},
	}
	for _, tc := range cases {
		got, err := tc.op()
		if !errors.Is(err, tc.err) || got != tc.want {
			t.Errorf("%s: %v, %v; want %v, %v", tc.name, got, err, tc.want, tc.err)
		}
		if tc.err == cart.ErrAmountOverflow && !cart.IsOverflow(err) {
			t.Errorf("%s: IsOverflow false", tc.name)
		}
	}
}

func TestLimits(t *testing.T) {
	mustEqual(t, "defaults", cart.Limits{}.WithDefaults(), cart.Limits{MaxLines: cart.DefaultMaxLines, MaxQuantityPerLine: cart.DefaultMaxQuantityPerLine})
	if err := (cart.Limits{}).Validate(); err != nil {
		t.Fatal(err)
	}
	err := cart.Limits{MaxLines: -1, MaxQuantityPerLine: cart.MaxQuantity + 1}.Validate()
	if !errors.Is(err, cart.ErrInvalidLimits) || strings.Count(err.Error(), "invalid limits") != 2 {
		t.Fatalf("want both problems, got %v", err)
	}
	mustEqual(t, "clamped", cart.Limits{MaxLines: 1 << 20, MaxQuantityPerLine: -4}.WithDefaults(),
		cart.Limits{MaxLines: cart.MaxLinesCeiling, MaxQuantityPerLine: cart.DefaultMaxQuantityPerLine})
	mustEqual(t, "product cap", cart.Limits{}.QuantityCap(cart.Product{MaxQuantityPerLine: 3}), int32(3))
	mustEqual(t, "default cap", cart.Limits{MaxQuantityPerLine: 7}.QuantityCap(cart.Product{}), int32(7))
}

func TestNewMapCatalogReportsEveryProblem(t *testing.T) {
	_, err := cart.NewMapCatalog(
		cart.Product{SKU: "a", Name: "A", UnitPrice: eur(1)},
		cart.Product{SKU: "a", Name: "A", UnitPrice: eur(1)},
		cart.Product{SKU: "", Name: "", UnitPrice: cart.Money{Amount: -1}, MaxQuantityPerLine: -1},
	)
	if !errors.Is(err, cart.ErrInvalidProduct) {
		t.Fatalf("err %v", err)
	}
	for _, want := range []string{"duplicate sku a", "product 2", "name", "unit price", "max quantity"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestCartStateValidate(t *testing.T) {
	good := run(t, testCatalog(t), add("apple", 2), add("pear", 1))
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (cart.CartState{}).Validate(); err != nil {
		t.Fatalf("zero state: %v", err)
	}
	broken := []func(s *cart.CartState){
		func(s *cart.CartState) { s.CartID = "" },
		func(s *cart.CartState) { s.CartID = "a b" },
		func(s *cart.CartState) { s.CustomerID = "" },
		func(s *cart.CartState) { s.Status = 9 },
		func(s *cart.CartState) { s.Version = -1 },
		func(s *cart.CartState) { s.Version = 0 },
		func(s *cart.CartState) { s.Version = math.MaxInt64 },
		func(s *cart.CartState) { s.Lines[1].SKU = s.Lines[0].SKU },
		func(s *cart.CartState) { s.Lines[0].SKU = "" },
		func(s *cart.CartState) { s.Lines[0].Quantity = 0 },
		func(s *cart.CartState) { s.Lines[0].UnitPrice.Amount = -1 },
		func(s *cart.CartState) { s.Lines[0].UnitPrice.Currency = "usd" },
		func(s *cart.CartState) { s.Lines[0].UnitPrice.Currency = "USD" },
		func(s *cart.CartState) { s.Currency = "USD" },
		func(s *cart.CartState) { s.ItemCount++ },
		func(s *cart.CartState) { s.Subtotal.Amount++ },
		func(s *cart.CartState) {
			s.Lines = nil
			s.Status = cart.StatusCheckedOut
			s.Currency = ""
			s.Subtotal = cart.Money{}
			s.ItemCount = 0
		},
		func(s *cart.CartState) { s.Lines[0].UnitPrice.Amount = math.MaxInt64 },
	}
	for i, b := range broken {
		s := good.Clone()
		b(&s)
		if err := s.Validate(); !errors.Is(err, cart.ErrInvalidState) {
			t.Errorf("case %d: err %v", i, err)
		}
	}
}

func TestRejectionError(t *testing.T) {
	var err error = cart.Rejection{Reason: cart.ReasonEmptyCart, Message: "cart is empty"}
	var r cart.Rejection
	if !errors.As(err, &r) || r.Reason != cart.ReasonEmptyCart {
		t.Fatal("Rejection does not travel as an error")
	}
	mustEqual(t, "text", err.Error(), "cart: rejected: EMPTY_CART: cart is empty")
}

// embedded satisfies Command through promotion but is not one of the four
// commands; the domain must refuse it rather than guess.
type embedded struct{ cart.AddItem }

func TestForeignAndPointerCommands(t *testing.T) {
	a, r, c, k := add("apple", 1), remove("apple"), change("apple", 2), checkout()
	s := run(t, testCatalog(t), add("apple", 1))
	for _, cmd := range []cart.Command{&r, &c, &k} {
		if d := cart.Decide(s, cmd, testCatalog(t), cart.Limits{}, t0); !d.Accepted() {
			t.Errorf("%T: %v", cmd, d.Rejection)
		}
		if cart.FingerprintOf(cmd) == 0 {
			t.Errorf("%T: no fingerprint", cmd)
		}
	}
	for _, cmd := range []cart.Command{embedded{a}, (*cart.RemoveItem)(nil), (*cart.ChangeQuantity)(nil), (*cart.Checkout)(nil)} {
		if d := cart.Decide(s, cmd, testCatalog(t), cart.Limits{}, t0); d.Rejection.Reason != cart.ReasonMalformed {
			t.Errorf("%T: %v", cmd, d.Rejection)
		}
	}
	for _, ev := range []cart.Event{(*cart.AddItemValidatedRequest)(nil), (*cart.RemoveItemValidatedRequest)(nil), (*cart.ChangeQuantityValidatedRequest)(nil)} {
		if _, err := cart.Apply(s, ev); !errors.Is(err, cart.ErrInvalidEvent) {
			t.Errorf("%T: %v", ev, err)
		}
	}
	ev := addEv(2, "pear", eur(5), 1)
	if _, err := cart.Apply(s, &ev); err != nil {
		t.Errorf("pointer event: %v", err)
	}
}

func TestSmallAccessors(t *testing.T) {
	err := cart.ValidateCommand(cart.RemoveItem{CartID: "c1", RequestID: "r", RequestedAt: t0})
	mustEqual(t, "error text", err.Error(), "cart: invalid argument: sku must be 1 to 64 characters of A-Z a-z 0-9 . _ -")
	if cart.FieldViolations(errors.New("other")) != nil {
		t.Error("violations from a foreign error")
	}
	if !(cart.Money{}).IsZero() || eur(0).IsZero() {
		t.Error("IsZero")
	}
	o := cart.RequestOutcome{Reason: cart.ReasonEmptyCart, Message: "m"}
	mustEqual(t, "rejection", o.Rejection(), cart.Rejection{Reason: cart.ReasonEmptyCart, Message: "m"})
	mustEqual(t, "kind of unspecified", cart.EventTypeUnspecified.Kind(), cart.KindUnspecified)
	var r cart.Reason
	if err := r.UnmarshalText([]byte("nope")); !errors.Is(err, cart.ErrUnknownName) {
		t.Error(err)
	}
	ae := &cart.ApplyError{Type: cart.EventTypeCartCheckedOut, Version: 3, Err: cart.ErrEmptyCart}
	mustEqual(t, "apply error text", ae.Error(), "cart: apply CartCheckedOut at version 3: cart: cart is empty")
}
