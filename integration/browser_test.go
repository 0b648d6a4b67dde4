package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cartstream/cartstream/catalog"
	"github.com/cartstream/cartstream/cmd/cartstream/app"
	"github.com/cartstream/cartstream/internal/kafkatest"
	"github.com/cartstream/cartstream/internal/topics"
)

// chromiumPath is Debian's chromium, or CARTSTREAM_CHROMIUM.
func chromiumPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("CARTSTREAM_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(p); err != nil {
		// Fail, not skip: a missing browser must not turn the storefront's
		// only end-to-end proof green.
		t.Fatalf("chromium not found at %s (%v): run scripts/browser/ensure-chromium.sh as root "+
			"(it apt-get installs Debian's chromium), or set CARTSTREAM_CHROMIUM", p, err)
	}
	return p
}

// artifactsDir is $CARTSTREAM_ARTIFACTS/<test> if set, else a temp dir.
func artifactsDir(t *testing.T) string {
	t.Helper()
	base := os.Getenv("CARTSTREAM_ARTIFACTS")
	if base == "" {
		return t.TempDir()
	}
	dir := filepath.Join(base, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startOneProcess runs the `make run` backend (cmd/cartstream/app) against
// the real broker, on this test's own topics, with the demo catalog;
// adjust, when set, changes its configuration first (authentication, ...).
func startOneProcess(t *testing.T, adjust ...func(*app.Config)) *app.App {
	t.Helper()
	c := kafkatest.Get(t)
	set := topics.DefaultSet().WithPrefix(kafkatest.UniqueName(t, ""))
	c.DeleteOnCleanup(t, set.All()...)
	demo, err := catalog.Demo()
	if err != nil {
		t.Fatal(err)
	}
	cfg := app.Config{
		Brokers: c.Brokers(), Topics: set, TopicConfig: topics.Config{Partitions: 2}, Catalog: demo,
		GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		GroupID: kafkatest.UniqueName(t, "manager"), InstanceID: "one-process-test",
		ShutdownTimeout: 10 * time.Second, Logger: testLogger(t),
	}
	for _, f := range adjust {
		f(&cfg)
	}
	a, err := app.New(cfg)
	if err != nil {
		t.Fatalf("app: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("app.Run after shutdown: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("app.Run did not return within 60s of shutdown")
		}
	})
	select {
	case <-a.Ready():
	case err := <-done:
		done <- nil // for the cleanup's wait
		t.Fatalf("app.Run ended before ready: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("one-process backend not ready within 2m")
	}
	return a
}

// dialOneProcess is a gRPC connection to a's API, closed when the test ends.
func dialOneProcess(t *testing.T, a *app.App) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestStorefrontInBrowser drives the storefront page in headless Chromium
// against the one-process backend on a real Apache Kafka broker: add two
// items, see the total, change a quantity, see a rejection and its reason,
// see a command from elsewhere arrive live (WatchCart), remove a line,
// check out, reload and find the checked-out cart.
func TestStorefrontInBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	a := startOneProcess(t)
	base := "http://" + a.HTTPAddr()
	artifacts := artifactsDir(t)

	allocCtx, cancelAlloc := browserAllocator(t, chromium)
	defer cancelAlloc()
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	defer cancelTab()
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelTimeout()

	// Collect the page's uncaught exceptions: any fails the test.
	var (
		mu         sync.Mutex
		exceptions []string
	)
	consoleCtx, stopConsole := context.WithCancel(ctx)
	messages := chromedp.Console(consoleCtx) // starts the browser
	consoleDone := make(chan struct{})
	go func() {
		defer close(consoleDone)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() {
				mu.Lock()
				exceptions = append(exceptions, m.String())
				mu.Unlock()
			}
		}
	}()
	defer func() {
		stopConsole()
		<-consoleDone
		mu.Lock()
		defer mu.Unlock()
		for _, e := range exceptions {
			t.Errorf("page exception: %s", e)
		}
	}()

	tid := func(id string) chromedp.CSS { return chromedp.CSS(fmt.Sprintf(`[data-testid=%q]`, id)) }
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			shot(t, ctx, artifacts, "failure.png")
			t.Fatalf("%s: %v", what, err)
		}
	}
	// until waits for a JavaScript condition on the page.
	until := func(what, cond string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			shot(t, ctx, artifacts, "failure.png")
			t.Fatalf("waiting for %s (%s): %v", what, cond, err)
		}
	}
	subtotalIs := func(minor string) string {
		return fmt.Sprintf(`document.querySelector('[data-testid="cart-subtotal"]').dataset.amountMinor === %q`, minor)
	}

	do("open the storefront",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(tid("add-BEAN-ESPRESSO-250")),
	)
	until("the catalog with prices", `document.querySelectorAll('[data-testid^="product-"]').length >= 20 &&
		document.querySelector('[data-testid="price-BEAN-ESPRESSO-250"]').textContent.includes("12.90")`)

	// Add two items: the total follows.
	do("add espresso beans", chromedp.Click(tid("add-BEAN-ESPRESSO-250")))
	until("the first line", subtotalIs("1290"))
	do("add a mug", chromedp.Click(tid("add-MUG-STONEWARE")))
	until("the total of two lines", subtotalIs("2740")+` && document.querySelectorAll('[data-testid^="line-"][data-quantity]').length === 2`)
	until("the total shown", `document.querySelector('[data-testid="cart-subtotal"]').textContent.includes("27.40")`)

	// Change a quantity.
	do("one more bag of beans", chromedp.Click(tid("inc-BEAN-ESPRESSO-250")))
	until("quantity 2 and the new total", subtotalIs("4030")+` && document.querySelector('[data-testid="line-BEAN-ESPRESSO-250"]').dataset.quantity === "2"`)

	// Rejections show their reason; the cart does not change.
	do("add a product priced in USD", chromedp.Click(tid("add-DRIPPER-IMPORT-US")))
	until("the currency rejection", `document.querySelector('[data-testid="notice"]').dataset.reason === "REASON_CODE_CURRENCY_MISMATCH" &&
		document.querySelector('[data-testid="notice"]').textContent.includes("another currency")`)
	shot(t, ctx, artifacts, "storefront.png") // the one docs/ shows: a cart and a rejection
	do("add an inactive product", chromedp.Click(tid("add-MUG-LIMITED-2025")))
	until("the inactive rejection", `document.querySelector('[data-testid="notice"]').dataset.reason === "REASON_CODE_INACTIVE_SKU"`)
	until("the cart unchanged", subtotalIs("4030"))

	// A command from elsewhere (another tab, a gRPC client) arrives live
	// through WatchCart, without any action on the page.
	ids, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](
		`({cart: localStorage.getItem("cartstream.cartId"), customer: localStorage.getItem("cartstream.customerId")})`))
	if err != nil {
		t.Fatalf("read the page's ids: %v", err)
	}
	postJSON(t, base+"/v1/carts/"+ids["cart"]+"/items", map[string]any{
		"requestId": "browser-test-external-1", "customerId": ids["customer"], "sku": "TEA-SENCHA-100", "quantity": 1, "waitForOutcome": true,
	})
	until("the live update", `document.querySelector('[data-testid="line-TEA-SENCHA-100"]') !== null && `+subtotalIs("4920"))

	// Remove a line.
	do("remove the tea", chromedp.Click(tid("remove-TEA-SENCHA-100")))
	until("the line gone", `document.querySelector('[data-testid="line-TEA-SENCHA-100"]') === null && `+subtotalIs("4030"))
	shot(t, ctx, artifacts, "storefront-cart.png")

	// Check out.
	do("check out", chromedp.Click(tid("checkout")))
	until("the checked-out cart", `document.querySelector('[data-testid="cart-status"]').dataset.status === "CART_STATUS_CHECKED_OUT" &&
		!document.querySelector('[data-testid="checked-out-note"]').hidden`)
	do("add after checkout is refused on the page",
		chromedp.WaitVisible(tid("add-BEAN-ESPRESSO-250")))
	until("add buttons disabled", `document.querySelector('[data-testid="add-BEAN-ESPRESSO-250"]').disabled`)
	until("the order id", `!document.getElementById("order-line").hidden &&
		document.querySelector('[data-testid="order-id"]').textContent.startsWith("ord-")`)
	orderID, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="order-id"]').textContent`))
	if err != nil {
		t.Fatalf("read the order id: %v", err)
	}

	// Reload: the same cart, checked out, from localStorage and GetCart.
	do("reload", chromedp.Reload())
	until("the checked-out cart after reload", `document.querySelector('[data-testid="cart-id"]').textContent === `+jsString(ids["cart"])+` &&
		document.querySelector('[data-testid="cart-status"]').dataset.status === "CART_STATUS_CHECKED_OUT" && `+subtotalIs("4030")+` &&
		document.querySelector('[data-testid="line-MUG-STONEWARE"]') !== null`)
	until("the order id after reload", `document.querySelector('[data-testid="order-id"]').textContent === `+jsString(orderID))
	shot(t, ctx, artifacts, "storefront-checked-out.png")

	// A new cart, listed among the customer's open carts (ListCarts), then
	// emptied (ClearCart).
	do("start a new cart", chromedp.Click(tid("new-cart")))
	do("add beans to it", chromedp.Click(tid("add-BEAN-ESPRESSO-250")))
	until("the new cart's line", subtotalIs("1290")+` && document.querySelector('[data-testid="cart-id"]').textContent !== `+jsString(ids["cart"]))
	until("the new cart among the open carts", `document.querySelector('[data-testid="my-carts"] [data-current="true"]') !== null &&
		document.querySelector('[data-testid="my-cart-`+ids["cart"]+`"]') === null`)
	do("empty the cart", chromedp.Click(tid("clear-cart")))
	until("the emptied cart", `document.querySelectorAll('[data-testid^="line-"][data-quantity]').length === 0 &&
		!document.querySelector('[data-testid="cart-empty"]').hidden &&
		document.querySelector('[data-testid="cart-status"]').dataset.status === "CART_STATUS_OPEN"`)

	if os.Getenv("CARTSTREAM_UPDATE_SCREENSHOT") != "" {
		data, err := os.ReadFile(filepath.Join(artifacts, "storefront.png"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("..", "docs", "storefront.png"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("updated docs/storefront.png")
	}
	t.Logf("screenshots in %s", artifacts)
}

// browserAllocator starts headless Chromium for one test.
func browserAllocator(t *testing.T, chromium string) (context.Context, context.CancelFunc) {
	return chromedp.NewExecAllocator(t.Context(),
		append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(chromium),
			chromedp.Headless,
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.NoFirstRun,
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.Flag("disable-quic", true),
			chromedp.Flag("lang", "en-US"),
			chromedp.UserDataDir(t.TempDir()),
			chromedp.WindowSize(1280, 900),
		)...)
}

// shot saves a PNG of the page's top (1280x860) in dir.
func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1280, 860),
		chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`),
	); err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Logf("screenshot %s: %v", name, err)
	}
}

func postJSON(t *testing.T, url string, body any) {
	t.Helper()
	data, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	var out struct {
		Outcome struct {
			Accepted bool `json:"accepted"`
		} `json:"outcome"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || !out.Outcome.Accepted {
		t.Fatalf("POST %s: HTTP %d, accepted %v, %v", url, resp.StatusCode, out.Outcome.Accepted, err)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
