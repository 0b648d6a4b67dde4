package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// shopper is one browser context (its own localStorage: its own cart and
// customer) on the storefront.
type shopper struct {
	t    *testing.T
	name string
	ctx  context.Context
}

func (s shopper) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	s.t.Helper()
	if err := chromedp.Do(s.ctx, steps...); err != nil {
		s.t.Fatalf("%s: %s: %v", s.name, what, err)
	}
}

// until waits for a JavaScript condition on the shopper's page.
func (s shopper) until(what, cond string) {
	s.t.Helper()
	if _, err := chromedp.Run(s.ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		s.t.Fatalf("%s: waiting for %s (%s): %v", s.name, what, cond, err)
	}
}

func (s shopper) eval(js string) string {
	s.t.Helper()
	v, err := chromedp.Run(s.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		s.t.Fatalf("%s: %s: %v", s.name, js, err)
	}
	return v
}

// putJSON sends an admin call (development mode: no token needed).
func putJSON(t *testing.T, url string, body any) {
	t.Helper()
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPut, url, bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT %s: HTTP %d", url, resp.StatusCode)
	}
}

// Two shoppers, each in a browser context of their own, race for the last
// mug: both see "only 1 left", both add it, both check out at once. The
// stock saga grants exactly one: that page shows its order id, the other
// an OUT_OF_STOCK rejection with the line named and the cart still open;
// then both show the mug out of stock.
func TestStorefrontRaceForTheLastUnit(t *testing.T) {
	chromium := chromiumPath(t)
	a := startOneProcess(t)
	base := "http://" + a.HTTPAddr()
	const sku = "MUG-STONEWARE"
	putJSON(t, base+"/v1/admin/stock/"+sku, map[string]any{"requestId": "race-stock-1", "available": 1})

	allocCtx, cancelAlloc := browserAllocator(t, chromium)
	defer cancelAlloc()
	first, cancelFirst := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	defer cancelFirst()
	alice := shopper{t, "alice", first}
	alice.do("open the storefront", chromedp.Navigate(base+"/")) // starts the browser
	// A browser context of its own: its own localStorage, so its own cart.
	second, cancelSecond := chromedp.NewContext(first, chromedp.WithNewBrowserContext())
	defer cancelSecond()
	shoppers := []shopper{alice, {t, "bob", second}}
	for _, s := range shoppers {
		s.do("open the storefront", chromedp.Navigate(base+"/"), chromedp.WaitVisible(`[data-testid="add-`+sku+`"]`))
		s.until("only 1 left", fmt.Sprintf(`(() => { const b = document.querySelector('[data-testid="stock-%s"]'); return b !== null && !b.hidden && b.dataset.available === "1" && b.textContent === "only 1 left"; })()`, sku))
		s.do("add the mug", chromedp.Click(`[data-testid="add-`+sku+`"]`))
		s.until("the mug in the cart", `document.querySelector('[data-testid="line-`+sku+`"]') !== null && !document.getElementById("checkout").disabled`)
	}
	if a, b := shoppers[0].eval(`localStorage.getItem("cartstream.cartId")`), shoppers[1].eval(`localStorage.getItem("cartstream.cartId")`); a == b {
		t.Fatalf("both shoppers have cart %s: the browser contexts share storage", a)
	}

	var wg sync.WaitGroup
	for _, s := range shoppers {
		wg.Add(1)
		go func() { defer wg.Done(); s.do("check out", chromedp.Click(`[data-testid="checkout"]`)) }()
	}
	wg.Wait()
	const decided = `document.querySelector('[data-testid="cart-status"]').dataset.status === "CART_STATUS_CHECKED_OUT" ||
		document.querySelector('[data-testid="notice"]').dataset.reason === "REASON_CODE_OUT_OF_STOCK"`
	won := 0
	for _, s := range shoppers {
		s.until("the checkout's decision", decided)
		if s.eval(`document.querySelector('[data-testid="cart-status"]').dataset.status`) == "CART_STATUS_CHECKED_OUT" {
			won++
			s.until("the order id", `document.querySelector('[data-testid="order-id"]').textContent.startsWith("ord-")`)
			continue
		}
		s.until("the refused line named, the cart open", `document.querySelector('[data-testid="line-`+sku+`"]').dataset.short === "true" &&
			document.querySelector('[data-testid="notice"]').textContent.includes("`+sku+`") &&
			document.querySelector('[data-testid="cart-status"]').dataset.status === "CART_STATUS_OPEN"`)
	}
	if won != 1 {
		t.Fatalf("%d checkouts won the last unit, want exactly 1", won)
	}
	for _, s := range shoppers {
		s.until("the mug out of stock", `document.querySelector('[data-testid="stock-`+sku+`"]').textContent === "out of stock"`)
	}
}
