package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/cartstream/cartstream/catalog"
	"github.com/cartstream/cartstream/cmd/cartstream/app"
	"github.com/cartstream/cartstream/internal/auth"
	"github.com/cartstream/cartstream/internal/kafkatest"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

const (
	authIssuer   = "https://id.example.test/"
	authAudience = "cartstream-it"
)

// idp is a test identity provider: an ES256 key made in the test, its
// public half in a JWKS file.
type idp struct {
	priv     jwk.Key
	jwksPath string
}

func newIDP(t *testing.T) *idp {
	t.Helper()
	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := jwk.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := priv.Set(jwk.KeyIDKey, "it-1"); err != nil {
		t.Fatal(err)
	}
	if err := priv.Set(jwk.AlgorithmKey, jwa.ES256()); err != nil {
		t.Fatal(err)
	}
	pub, err := priv.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	set := jwk.NewSet()
	if err := set.AddKey(pub); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return &idp{priv: priv, jwksPath: p}
}

// token is a signed token for customer, valid until exp, with roles.
func (i *idp) token(t *testing.T, customer string, exp time.Time, roles ...string) string {
	t.Helper()
	return i.tokenFor(t, authAudience, customer, exp, roles...)
}

func (i *idp) tokenFor(t *testing.T, audience, customer string, exp time.Time, roles ...string) string {
	t.Helper()
	b := jwt.NewBuilder().Subject(customer).Issuer(authIssuer).Audience([]string{audience}).IssuedAt(time.Now()).Expiration(exp)
	if len(roles) > 0 {
		b = b.Claim("roles", roles)
	}
	tok, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256(), i.priv))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

func bearerCtx(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// startAuthenticatedProcess runs the one-process backend on the real
// broker with token authentication on, and returns a gRPC client of it.
func startAuthenticatedProcess(t *testing.T, jwksPath string, adjust ...func(*app.Config)) cartv1.CartServiceClient {
	t.Helper()
	a := startOneProcess(t, append([]func(*app.Config){func(c *app.Config) {
		c.InstanceID = "auth-test"
		c.Auth = auth.Config{JWKS: jwksPath, Issuer: authIssuer, Audience: authAudience}
	}}, adjust...)...)
	return cartv1.NewCartServiceClient(dialOneProcess(t, a))
}

func activeSKU(t *testing.T) string {
	t.Helper()
	demo, err := catalog.Demo()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range demo {
		if p.Active {
			return string(p.SKU)
		}
	}
	t.Fatal("no active product in the demo catalog")
	return ""
}

func wantCode(t *testing.T, what string, err error, code codes.Code) {
	t.Helper()
	if status.Code(err) != code {
		t.Errorf("%s: %v, want %v", what, err, code)
	}
}

// Issue 12, item 5, end to end on the real broker: two customers, one
// cart each. Bob, holding a valid token of his own and alice's cart id,
// can neither change nor read her cart; expired, foreign-audience, forged
// and missing tokens are refused; an operator reads her cart; her cart is as
// she left it.
func TestAuthStolenCartIDRefusedEndToEnd(t *testing.T) {
	provider := newIDP(t)
	client := startAuthenticatedProcess(t, provider.jwksPath)
	sku := activeSKU(t)
	exp := time.Now().Add(time.Hour)
	alice := bearerCtx(t.Context(), provider.token(t, "alice", exp))
	bob := bearerCtx(t.Context(), provider.token(t, "bob", exp))
	ops := bearerCtx(t.Context(), provider.token(t, "ops-1", exp, "operator"))
	cartA, cartB := kafkatest.UniqueName(t, "cart-a"), kafkatest.UniqueName(t, "cart-b")

	// Each creates a cart; the customer comes from the token.
	for _, c := range []struct {
		ctx      context.Context
		cart, id string
	}{{alice, cartA, "alice"}, {bob, cartB, "bob"}} {
		ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
		resp, err := client.AddItem(ctx, &cartv1.AddItemRequest{CartId: c.cart, RequestId: "r-" + c.id, Sku: sku, Quantity: 1, WaitForOutcome: true})
		cancel()
		if err != nil {
			t.Fatalf("%s's AddItem: %v", c.id, err)
		}
		if !resp.GetOutcome().GetAccepted() || resp.GetOutcome().GetCart().GetCustomerId() != c.id {
			t.Fatalf("%s's AddItem outcome: %v", c.id, resp.GetOutcome())
		}
	}

	// The stolen id: every command and every read of bob's on alice's cart.
	_, err := client.AddItem(bob, &cartv1.AddItemRequest{CartId: cartA, RequestId: "b1", Sku: sku, Quantity: 5})
	wantCode(t, "bob's AddItem on alice's cart", err, codes.PermissionDenied)
	_, err = client.RemoveItem(bob, &cartv1.RemoveItemRequest{CartId: cartA, RequestId: "b2", Sku: sku})
	wantCode(t, "bob's RemoveItem", err, codes.PermissionDenied)
	_, err = client.ChangeQuantity(bob, &cartv1.ChangeQuantityRequest{CartId: cartA, RequestId: "b3", Sku: sku, Quantity: 9})
	wantCode(t, "bob's ChangeQuantity", err, codes.PermissionDenied)
	_, err = client.Checkout(bob, &cartv1.CheckoutRequest{CartId: cartA, RequestId: "b4"})
	wantCode(t, "bob's Checkout", err, codes.PermissionDenied)
	_, err = client.GetCart(bob, &cartv1.GetCartRequest{CartId: cartA})
	wantCode(t, "bob's GetCart", err, codes.NotFound)
	_, err = client.GetCartHistory(bob, &cartv1.GetCartHistoryRequest{CartId: cartA})
	wantCode(t, "bob's GetCartHistory", err, codes.NotFound)
	stream, err := client.WatchCart(bob, &cartv1.WatchCartRequest{CartId: cartA})
	if err == nil {
		_, err = stream.Recv()
	}
	wantCode(t, "bob's WatchCart", err, codes.NotFound)
	// Not found alike: bob learns nothing from reading alice's cart id.
	_, unknown := client.GetCart(bob, &cartv1.GetCartRequest{CartId: cartA + "x"})
	_, stolen := client.GetCart(bob, &cartv1.GetCartRequest{CartId: cartA})
	if status.Convert(stolen).Message() != status.Convert(unknown).Message()[:len(status.Convert(unknown).Message())-1] {
		t.Errorf("stolen %q and unknown %q differ beyond the id", status.Convert(stolen).Message(), status.Convert(unknown).Message())
	}

	// Bad credentials.
	_, err = client.GetCart(t.Context(), &cartv1.GetCartRequest{CartId: cartA})
	wantCode(t, "no token", err, codes.Unauthenticated)
	expired := bearerCtx(t.Context(), provider.token(t, "alice", time.Now().Add(-time.Hour)))
	_, err = client.GetCart(expired, &cartv1.GetCartRequest{CartId: cartA})
	wantCode(t, "expired token", err, codes.Unauthenticated)
	_, err = client.AddItem(expired, &cartv1.AddItemRequest{CartId: cartA, RequestId: "e1", Sku: sku, Quantity: 1})
	wantCode(t, "expired token's command", err, codes.Unauthenticated)
	otherAPI := bearerCtx(t.Context(), provider.tokenFor(t, "another-api", "alice", exp))
	_, err = client.GetCart(otherAPI, &cartv1.GetCartRequest{CartId: cartA})
	wantCode(t, "token for another audience", err, codes.Unauthenticated)
	forged := bearerCtx(t.Context(), newIDP(t).token(t, "alice", exp)) // another key, same kid
	_, err = client.GetCart(forged, &cartv1.GetCartRequest{CartId: cartA})
	wantCode(t, "token signed by another key", err, codes.Unauthenticated)

	// The operator reads alice's cart; alice finds it as she left it.
	for _, c := range []struct {
		name string
		ctx  context.Context
	}{{"operator", ops}, {"alice", alice}} {
		resp, err := client.GetCart(c.ctx, &cartv1.GetCartRequest{CartId: cartA})
		if err != nil {
			t.Fatalf("%s's GetCart: %v", c.name, err)
		}
		got := resp.GetCart()
		if got.GetCustomerId() != "alice" || got.GetVersion() != 1 || got.GetItemCount() != 1 {
			t.Fatalf("%s sees %v: want alice's cart unchanged (version 1, one item)", c.name, got)
		}
	}
	if _, err := client.GetCart(bob, &cartv1.GetCartRequest{CartId: cartB}); err != nil {
		t.Fatalf("bob's own cart: %v", err)
	}
}

// Issue 12, item 6, end to end on the real broker: with a bound of two
// open carts per customer, carol's third new cart is refused
// RESOURCE_EXHAUSTED naming the limit and nothing is recorded for it;
// her existing carts still take items; another customer is not affected;
// and checking one cart out frees the slot (the bound counts open carts).
func TestAuthCartBoundEndToEnd(t *testing.T) {
	provider := newIDP(t)
	client := startAuthenticatedProcess(t, provider.jwksPath, func(c *app.Config) {
		c.MaxCartsPerCustomer = 2
		c.NoReservations = true // a checkout closes the cart at once
	})
	sku := activeSKU(t)
	exp := time.Now().Add(time.Hour)
	carol := bearerCtx(t.Context(), provider.token(t, "carol", exp))
	dave := bearerCtx(t.Context(), provider.token(t, "dave", exp))
	cart1, cart2, cart3 := kafkatest.UniqueName(t, "c1"), kafkatest.UniqueName(t, "c2"), kafkatest.UniqueName(t, "c3")

	add := func(ctx context.Context, cartID, req string) (*cartv1.AddItemResponse, error) {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return client.AddItem(cctx, &cartv1.AddItemRequest{CartId: cartID, RequestId: req, Sku: sku, Quantity: 1, WaitForOutcome: true})
	}
	mustAccept := func(what string, resp *cartv1.AddItemResponse, err error) {
		t.Helper()
		if err != nil || !resp.GetOutcome().GetAccepted() {
			t.Fatalf("%s: %v, %v; want accepted", what, resp.GetOutcome(), err)
		}
	}
	resp, err := add(carol, cart1, "r1")
	mustAccept("carol's first cart", resp, err)
	resp, err = add(carol, cart2, "r2")
	mustAccept("carol's second cart", resp, err)

	_, err = add(carol, cart3, "r3")
	if st := status.Convert(err); st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "at most 2 open carts") {
		t.Fatalf("carol's third cart: %v, want RESOURCE_EXHAUSTED naming the limit 2", err)
	}
	if _, err := client.GetCart(carol, &cartv1.GetCartRequest{CartId: cart3}); status.Code(err) != codes.NotFound {
		t.Fatalf("the refused cart exists: %v", err)
	}
	resp, err = add(carol, cart1, "r4")
	mustAccept("an item into carol's existing cart at the bound", resp, err)
	if n := resp.GetOutcome().GetCart().GetItemCount(); n != 2 {
		t.Fatalf("carol's first cart holds %d items, want 2", n)
	}
	resp, err = add(dave, kafkatest.UniqueName(t, "d1"), "r1")
	mustAccept("dave's cart", resp, err)

	cctx, cancel := context.WithTimeout(carol, 30*time.Second)
	co, err := client.Checkout(cctx, &cartv1.CheckoutRequest{CartId: cart2, RequestId: "r5", WaitForOutcome: true})
	cancel()
	if err != nil || !co.GetOutcome().GetAccepted() {
		t.Fatalf("carol checks out her second cart: %v, %v", co.GetOutcome(), err)
	}
	// The read side lists open carts; once it has folded the checkout, the
	// third cart fits. A refusal records nothing, so retrying is safe.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err = add(carol, cart3, "r3")
		if err == nil {
			mustAccept("carol's third cart after a checkout", resp, err)
			break
		}
		if status.Code(err) != codes.ResourceExhausted || time.Now().After(deadline) {
			t.Fatalf("carol's third cart after a checkout: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // polling the read side with a deadline
	}
}
