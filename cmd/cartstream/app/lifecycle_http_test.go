package app_test

import (
	"net/http"
	"slices"
	"testing"
)

// Issue 14 item 4 over HTTP/JSON (docs/decisions/0004): ListCarts,
// ClearCart and MergeCarts have their routes, and answer like the other
// commands.
func TestLifecycleOverHTTP(t *testing.T) {
	r := start(t, "")
	addItem(t, r, "cart-l1", "req-1", "BEAN-ESPRESSO-250", 1)
	addItem(t, r, "cart-l2", "req-2", "BEAN-ESPRESSO-250", 2)

	var list struct {
		Carts []cartJSON `json:"carts"`
	}
	ids := func() []string {
		t.Helper()
		list.Carts = nil
		if code := call(t, "GET", r.base+"/v1/customers/cust-1/carts", "", &list); code != http.StatusOK {
			t.Fatalf("ListCarts: HTTP %d", code)
		}
		var out []string
		for _, c := range list.Carts {
			out = append(out, c.CartID)
		}
		slices.Sort(out)
		return out
	}
	if got := ids(); !slices.Equal(got, []string{"cart-l1", "cart-l2"}) {
		t.Fatalf("ListCarts = %v", got)
	}

	var out commandResp
	if code := call(t, "POST", r.base+"/v1/carts/cart-l1:clear", `{"requestId":"req-3","customerId":"cust-1","waitForOutcome":true}`, &out); code != http.StatusOK ||
		out.Outcome == nil || !out.Outcome.Accepted || len(out.Outcome.Cart.Lines) != 0 {
		t.Fatalf("ClearCart: HTTP %d %+v", code, out.Outcome)
	}
	out = commandResp{}
	if code := call(t, "POST", r.base+"/v1/carts/cart-l2:merge", `{"requestId":"req-4","customerId":"cust-1","targetCartId":"cart-l1","waitForOutcome":true}`, &out); code != http.StatusOK ||
		out.Outcome == nil || !out.Outcome.Accepted || out.Outcome.Cart.Status != "CART_STATUS_MERGED" {
		t.Fatalf("MergeCarts: HTTP %d %+v", code, out.Outcome)
	}
	if got := ids(); !slices.Equal(got, []string{"cart-l1"}) {
		t.Fatalf("ListCarts after the merge = %v, want the target only", got)
	}
	var bad struct {
		Code int `json:"code"`
	}
	if code := call(t, "GET", r.base+"/v1/customers/no%20such/carts", "", &bad); code != http.StatusBadRequest || bad.Code != 3 {
		t.Fatalf("ListCarts of a malformed id: HTTP %d %+v", code, bad)
	}
}
