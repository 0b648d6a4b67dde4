package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

const (
	testIssuer   = "https://id.example.test/"
	testAudience = "cartstream-api"
)

var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// signer is a test identity provider: one key pair, made in the test.
type signer struct {
	priv jwk.Key
	pub  jwk.Key
}

func newSigner(tb testing.TB, kid string) signer {
	tb.Helper()
	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	priv, err := jwk.Import(raw)
	if err != nil {
		tb.Fatal(err)
	}
	for _, k := range []struct {
		name string
		v    any
	}{{jwk.KeyIDKey, kid}, {jwk.AlgorithmKey, jwa.ES256()}} {
		if err := priv.Set(k.name, k.v); err != nil {
			tb.Fatal(err)
		}
	}
	pub, err := priv.PublicKey()
	if err != nil {
		tb.Fatal(err)
	}
	return signer{priv: priv, pub: pub}
}

// jwks is the JSON of a set of the signers' public keys.
func jwks(tb testing.TB, ss ...signer) []byte {
	tb.Helper()
	set := jwk.NewSet()
	for _, s := range ss {
		if err := set.AddKey(s.pub); err != nil {
			tb.Fatal(err)
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func writeJWKS(tb testing.TB, ss ...signer) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "jwks.json")
	if err := os.WriteFile(p, jwks(tb, ss...), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// claims are a token's claims; zero fields take good defaults.
type claims struct {
	sub   string
	iss   string
	aud   string
	exp   time.Time
	noExp bool
	extra map[string]any
}

func (s signer) token(tb testing.TB, c claims) string {
	tb.Helper()
	b := jwt.NewBuilder().Subject(c.sub).Issuer(c.iss).Audience([]string{c.aud}).IssuedAt(testNow.Add(-time.Minute))
	if c.sub == "" {
		b = b.Subject("alice")
	}
	if c.iss == "" {
		b = b.Issuer(testIssuer)
	}
	if c.aud == "" {
		b = b.Audience([]string{testAudience})
	}
	if !c.noExp {
		exp := c.exp
		if exp.IsZero() {
			exp = testNow.Add(time.Hour)
		}
		b = b.Expiration(exp)
	}
	for k, v := range c.extra {
		b = b.Claim(k, v)
	}
	tok, err := b.Build()
	if err != nil {
		tb.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256(), s.priv))
	if err != nil {
		tb.Fatal(err)
	}
	return string(signed)
}

func newTestVerifier(tb testing.TB, jwksPath string, mutate ...func(*Config)) *Verifier {
	tb.Helper()
	cfg := Config{JWKS: jwksPath, Issuer: testIssuer, Audience: testAudience, Clock: func() time.Time { return testNow }}
	for _, m := range mutate {
		m(&cfg)
	}
	v, err := New(tb.Context(), cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() { _ = v.Close(tb.Context()) })
	return v
}
