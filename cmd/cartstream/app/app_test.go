package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/cartstream/cartstream/catalog"
	"github.com/cartstream/cartstream/cmd/cartstream/app"
	"github.com/cartstream/cartstream/internal/topics"
)

// The hermetic tier of `make run`: the one-process backend on the embedded
// broker, driven over HTTP/JSON and gRPC like a storefront would.

type running struct {
	app  *app.App
	base string // http://127.0.0.1:port
	stop func() // cancels Run and waits for it; fails the test on an error
}

func start(t *testing.T, dataDir string, adjust ...func(*app.Config)) *running {
	t.Helper()
	ps, err := catalog.Demo()
	if err != nil {
		t.Fatal(err)
	}
	cfg := app.Config{
		DevBroker:       app.DevBrokerConfig{DataDir: dataDir},
		TopicConfig:     topics.Config{Partitions: 2},
		Catalog:         ps,
		GRPCAddr:        "127.0.0.1:0",
		HTTPAddr:        "127.0.0.1:0",
		ShutdownTimeout: 5 * time.Second,
		Logger:          testLogger(t),
	}
	for _, f := range adjust {
		f(&cfg)
	}
	a, err := app.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop := func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run after shutdown: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("Run did not return within 60s of shutdown")
		}
	}
	t.Cleanup(stop)
	select {
	case <-a.Ready():
	case err := <-done:
		done <- nil // for the cleanup's wait
		t.Fatalf("Run ended before ready: %v", err)
	case <-time.After(90 * time.Second):
		t.Fatal("not ready within 90s")
	}
	return &running{app: a, base: "http://" + a.HTTPAddr(), stop: stop}
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

// call sends one HTTP/JSON request and decodes the answer into out.
func call(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, url, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

type money struct {
	AmountMinor  string `json:"amountMinor"`
	CurrencyCode string `json:"currencyCode"`
}

type cartJSON struct {
	CartID string `json:"cartId"`
	Status string `json:"status"`
	Lines  []struct {
		SKU      string `json:"sku"`
		Quantity int    `json:"quantity"`
	} `json:"lines"`
	Subtotal  money  `json:"subtotal"`
	ItemCount int    `json:"itemCount"`
	Version   string `json:"version"`
}

type commandResp struct {
	ConsistencyToken struct {
		Partition int    `json:"partition"`
		Offset    string `json:"offset"`
	} `json:"consistencyToken"`
	Outcome *struct {
		Accepted  bool `json:"accepted"`
		Rejection *struct {
			Reason  string `json:"reason"`
			Message string `json:"message"`
		} `json:"rejection"`
		Cart cartJSON `json:"cart"`
	} `json:"outcome"`
}

func addItem(t *testing.T, r *running, cartID, reqID, sku string, qty int) commandResp {
	t.Helper()
	var out commandResp
	body := fmt.Sprintf(`{"requestId":%q,"customerId":"cust-1","sku":%q,"quantity":%d,"waitForOutcome":true}`, reqID, sku, qty)
	if code := call(t, "POST", r.base+"/v1/carts/"+cartID+"/items", body, &out); code != http.StatusOK {
		t.Fatalf("AddItem %s: HTTP %d %+v", sku, code, out)
	}
	if out.Outcome == nil {
		t.Fatalf("AddItem %s with waitForOutcome: no outcome: %+v", sku, out)
	}
	return out
}

func TestOneProcessOnEmbeddedBroker(t *testing.T) {
	r := start(t, "")

	// Health: HTTP and gRPC, for the whole process.
	var h map[string]string
	if code := call(t, "GET", r.base+"/healthz", "", &h); code != http.StatusOK || h["status"] != "SERVING" {
		t.Fatalf("/healthz: %d %v", code, h)
	}
	conn, err := grpc.NewClient(r.app.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hr, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("gRPC health: %v %v", hr, err)
	}

	// The demo catalog was seeded.
	var products struct {
		Products []struct {
			SKU    string `json:"sku"`
			Active bool   `json:"active"`
		} `json:"products"`
	}
	if code := call(t, "GET", r.base+"/v1/products?includeInactive=true&pageSize=500", "", &products); code != http.StatusOK {
		t.Fatalf("ListProducts: HTTP %d", code)
	}
	demo, _ := catalog.Demo()
	if len(products.Products) != len(demo) {
		t.Fatalf("ListProducts: %d products, want the %d of the demo catalog", len(products.Products), len(demo))
	}

	// A command over HTTP/JSON, waiting for its outcome.
	out := addItem(t, r, "cart-h1", "req-1", "BEAN-ESPRESSO-250", 2)
	if !out.Outcome.Accepted || out.Outcome.Cart.ItemCount != 2 || out.Outcome.Cart.Subtotal != (money{"2580", "EUR"}) {
		t.Fatalf("AddItem: %+v", out.Outcome)
	}
	// A rejection is an answer, not an error.
	out = addItem(t, r, "cart-h1", "req-2", "DRIPPER-IMPORT-US", 1)
	if out.Outcome.Accepted || out.Outcome.Rejection == nil || out.Outcome.Rejection.Reason != "REASON_CODE_CURRENCY_MISMATCH" {
		t.Fatalf("AddItem in USD to a EUR cart: %+v", out.Outcome)
	}
	// A syntax error is 400 with the field named.
	var bad struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if code := call(t, "POST", r.base+"/v1/carts/cart-h1/items", `{"requestId":"req-3","customerId":"c","sku":"X","quantity":0}`, &bad); code != http.StatusBadRequest || bad.Code != 3 {
		t.Fatalf("quantity 0: HTTP %d %+v", code, bad)
	}

	// /metrics: the registry of the separate services, with the outcomes
	// just committed. The waits above return once the read side sees an
	// outcome, which can be a moment before the manager's counters take
	// the commit in: poll, with a deadline.
	wants := []string{
		`cartstream_manager_requests_total{disposition="accepted"} 1`,
		`cartstream_manager_rejections_total{reason="CURRENCY_MISMATCH"} 1`,
		`cartstream_projection_ready 1`,
		`cartstream_grpc_server_handled_total{code="InvalidArgument",method="AddItem",service="cartstream.cart.v1.CartService"} 1`,
		`go_goroutines `,
		`cartstream_inventory_serving 1`, // the in-process inventory processor
		`cartstream_inventory_transactions_aborted_total 0`,
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		metricsPage := get(t, r.base+"/metrics")
		var missing []string
		for _, want := range wants {
			if !strings.Contains(metricsPage, want) {
				missing = append(missing, want)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, m := range missing {
				t.Errorf("/metrics lacks %s", m)
			}
			break
		}
		time.Sleep(50 * time.Millisecond) // polling the counters with a deadline
	}

	// The page is served.
	resp, err := http.Get(r.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `data-testid="cart"`) {
		t.Fatalf("GET /: %d", resp.StatusCode)
	}
}

// WatchCart over HTTP really streams: two updates arrive on one response,
// the second caused by a command sent after the first was read.
func TestWatchCartStreamsOverHTTP(t *testing.T) {
	r := start(t, "")
	addItem(t, r, "cart-w1", "req-1", "MUG-STONEWARE", 1)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", r.base+"/v1/carts/cart-w1:watch", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("watch: HTTP %d", resp.StatusCode)
	}
	lines := bufio.NewScanner(resp.Body)
	next := func() cartJSON {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("watch: stream ended: %v", lines.Err())
		}
		var msg struct {
			Result struct {
				Cart cartJSON `json:"cart"`
			} `json:"result"`
			Error any `json:"error"`
		}
		if err := json.Unmarshal(lines.Bytes(), &msg); err != nil || msg.Error != nil {
			t.Fatalf("watch: line %q: %v", lines.Text(), err)
		}
		return msg.Result.Cart
	}
	if c := next(); c.Version != "1" || c.ItemCount != 1 {
		t.Fatalf("first message: %+v", c)
	}
	addItem(t, r, "cart-w1", "req-2", "MUG-STONEWARE", 2) // sent after the first message was read
	if c := next(); c.Version != "2" || c.ItemCount != 3 {
		t.Fatalf("second message: %+v", c)
	}
	// Checkout ends the stream with the checked-out cart.
	var co commandResp
	call(t, "POST", r.base+"/v1/carts/cart-w1:checkout", `{"requestId":"req-3","customerId":"cust-1","waitForOutcome":true}`, &co)
	if c := next(); c.Status != "CART_STATUS_CHECKED_OUT" {
		t.Fatalf("third message: %+v", c)
	}
	if lines.Scan() {
		t.Fatalf("stream goes on after checkout: %q", lines.Text())
	}
}

// With a data directory the embedded broker keeps carts (and the catalog,
// not seeded twice) across a restart of the process.
func TestCartsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	r := start(t, dir)
	addItem(t, r, "cart-r1", "req-1", "TEA-SENCHA-100", 3)
	r.stop()

	r = start(t, dir)
	var got struct {
		Cart cartJSON `json:"cart"`
	}
	if code := call(t, "GET", r.base+"/v1/carts/cart-r1", "", &got); code != http.StatusOK {
		t.Fatalf("GetCart after restart: HTTP %d", code)
	}
	if got.Cart.ItemCount != 3 || got.Cart.Version != "1" {
		t.Fatalf("cart after restart: %+v", got.Cart)
	}
	// The write side has its state back too: the next command builds on it,
	// and a retried request id is answered from the restored window.
	out := addItem(t, r, "cart-r1", "req-2", "TEA-SENCHA-100", 1)
	if !out.Outcome.Accepted || out.Outcome.Cart.ItemCount != 4 || out.Outcome.Cart.Version != "2" {
		t.Fatalf("AddItem after restart: %+v", out.Outcome)
	}
	retry := addItem(t, r, "cart-r1", "req-1", "TEA-SENCHA-100", 3)
	if !retry.Outcome.Accepted || retry.Outcome.Cart.Version != "2" {
		t.Fatalf("retry of req-1 after restart: %+v", retry.Outcome)
	}
	var products struct {
		Products []json.RawMessage `json:"products"`
	}
	call(t, "GET", r.base+"/v1/products?includeInactive=true&pageSize=500", "", &products)
	demo, _ := catalog.Demo()
	if len(products.Products) != len(demo) {
		t.Fatalf("%d products after restart, want %d", len(products.Products), len(demo))
	}
}

// get returns the body of a GET that must answer 200.
func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(body)
}

// A start that fails before the servers own the ports releases them: Run's
// one error path (the split of Run into steps must keep it).
func TestFailedStartReleasesThePorts(t *testing.T) {
	a, err := app.New(app.Config{
		Brokers:      "127.0.0.1:1", // nothing listens: the topic check fails
		StartTimeout: 2 * time.Second,
		GRPCAddr:     "127.0.0.1:0",
		HTTPAddr:     "127.0.0.1:0",
		Logger:       testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	grpcAddr, httpAddr := a.GRPCAddr(), a.HTTPAddr()
	if err := a.Run(context.Background()); err == nil {
		t.Fatal("Run with no broker: nil error")
	}
	for _, addr := range []string{grpcAddr, httpAddr} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("%s still held after a failed start: %v", addr, err)
			continue
		}
		_ = l.Close()
	}
}
