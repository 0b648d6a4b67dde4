package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/lestrrat-go/httprc/v3"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/cartstream/cartstream/cart"
)

// Defaults of Config.
const (
	DefaultClockSkew     = 30 * time.Second
	DefaultCustomerClaim = "sub"
	DefaultRolesClaim    = "roles"
	DefaultOperatorRole  = "operator"
	// DefaultMinRefresh is the shortest interval between two fetches of a
	// JWKS URL (the cache follows the response's Cache-Control within
	// [DefaultMinRefresh, 24h]).
	DefaultMinRefresh = 5 * time.Minute
)

// Config of a Verifier. Either DevMode, or JWKS, Issuer and Audience.
type Config struct {
	// DevMode turns authentication off: no token is needed or checked,
	// and the request names its customer. For `make run` only.
	DevMode bool
	// JWKS is where the signing keys are: a file path, or an https URL
	// fetched at start and refreshed in the background.
	JWKS string
	// Issuer and Audience must equal the token's iss and one of its aud.
	Issuer   string
	Audience string
	// ClockSkew tolerated on exp, nbf and iat; default DefaultClockSkew.
	ClockSkew time.Duration
	// CustomerClaim names the claim holding the customer id; default
	// DefaultCustomerClaim ("sub").
	CustomerClaim string
	// RolesClaim names the claim listing the caller's roles (a JSON array
	// of strings, or one space-separated string); default "roles".
	RolesClaim string
	// OperatorRole is the role that may read any cart; default "operator".
	OperatorRole string
	// MinRefresh: see DefaultMinRefresh.
	MinRefresh time.Duration
	// HTTPClient fetches a JWKS URL; default: the library's client, with
	// timeouts and redirect limits.
	HTTPClient *http.Client
	// Clock checks exp and nbf; default time.Now.
	Clock func() time.Time
	// Logger; default: discard.
	Logger *slog.Logger
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	if c.DevMode {
		if c.JWKS != "" {
			return errors.New("auth: development mode and a JWKS: choose one (development mode checks no token)")
		}
		return nil
	}
	var errs []error
	if c.JWKS == "" {
		errs = append(errs, errors.New("auth: JWKS: empty (a file path or an https URL; or choose development mode)"))
	} else if isURL(c.JWKS) {
		if u, err := url.Parse(c.JWKS); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("auth: JWKS URL %q: want https://host/path", c.JWKS))
		}
	}
	if c.Issuer == "" {
		errs = append(errs, errors.New("auth: issuer: empty"))
	}
	if c.Audience == "" {
		errs = append(errs, errors.New("auth: audience: empty"))
	}
	if c.ClockSkew < 0 || c.MinRefresh < 0 {
		errs = append(errs, errors.New("auth: clock skew and refresh interval must not be negative"))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.ClockSkew == 0 {
		c.ClockSkew = DefaultClockSkew
	}
	if c.CustomerClaim == "" {
		c.CustomerClaim = DefaultCustomerClaim
	}
	if c.RolesClaim == "" {
		c.RolesClaim = DefaultRolesClaim
	}
	if c.OperatorRole == "" {
		c.OperatorRole = DefaultOperatorRole
	}
	if c.MinRefresh == 0 {
		c.MinRefresh = DefaultMinRefresh
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func isURL(s string) bool { return strings.Contains(s, "://") }

// keySource yields the current key set.
type keySource interface {
	keys(ctx context.Context) (jwk.Set, error)
	close(ctx context.Context) error
}

// Verifier checks bearer tokens. It is safe for concurrent use; Close it
// to stop the background refresh of a JWKS URL.
type Verifier struct {
	cfg Config
	src keySource // nil in development mode
}

// New checks cfg and loads the keys: it reads the JWKS file, or fetches
// the URL once within ctx and keeps refreshing it until Close.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	v := &Verifier{cfg: cfg}
	if cfg.DevMode {
		return v, nil
	}
	src, err := newKeySource(ctx, cfg)
	if err != nil {
		return nil, err
	}
	v.src = src
	return v, nil
}

// Dev returns a development-mode Verifier.
func Dev() *Verifier { return &Verifier{cfg: Config{DevMode: true}.withDefaults()} }

// DevMode reports whether v checks no token.
func (v *Verifier) DevMode() bool { return v.src == nil }

// Close stops the background refresh of a JWKS URL.
func (v *Verifier) Close(ctx context.Context) error {
	if v.src == nil {
		return nil
	}
	return v.src.close(ctx)
}

// Describe says how v authenticates, for the start log.
func (v *Verifier) Describe() []any {
	if v.DevMode() {
		return []any{"mode", "development"}
	}
	return []any{"mode", "jwt", "jwks", v.cfg.JWKS, "issuer", v.cfg.Issuer, "audience", v.cfg.Audience,
		"customer_claim", v.cfg.CustomerClaim, "operator", v.cfg.RolesClaim + " contains " + v.cfg.OperatorRole}
}

// Verify checks a bearer token (the value after "Bearer ") and returns its
// caller. Errors are *TokenError (ErrUnauthenticated) or
// ErrKeysUnavailable.
func (v *Verifier) Verify(ctx context.Context, token string) (Caller, error) {
	if v.DevMode() {
		return Caller{Dev: true}, nil
	}
	if token == "" {
		return Caller{}, &TokenError{Problem: ProblemMissing}
	}
	set, err := v.src.keys(ctx)
	if err != nil {
		return Caller{}, err
	}
	tok, err := jwt.ParseString(token,
		// A key must match the token's kid; its algorithm comes from the
		// key ("alg", or its type where a JWKS omits "alg"), never from
		// the token alone.
		jwt.WithKeySet(set, jws.WithInferAlgorithmFromKey(true)),
		jwt.WithValidate(true),
		jwt.WithIssuer(v.cfg.Issuer),
		jwt.WithAudience(v.cfg.Audience),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
		jwt.WithAcceptableSkew(v.cfg.ClockSkew),
		jwt.WithClock(jwt.ClockFunc(v.cfg.Clock)),
	)
	if err != nil {
		return Caller{}, &TokenError{Problem: problemOf(err), Err: err}
	}
	return v.callerOf(tok)
}

func (v *Verifier) callerOf(tok jwt.Token) (Caller, error) {
	var customer string
	if err := tok.Get(v.cfg.CustomerClaim, &customer); err != nil || !validID(customer) {
		return Caller{}, &TokenError{Problem: ProblemCustomer, Err: fmt.Errorf("claim %q: want 1..%d of [A-Za-z0-9._-]", v.cfg.CustomerClaim, cart.MaxIDLength)}
	}
	return Caller{Customer: cart.CustomerID(customer), Operator: hasRole(tok, v.cfg.RolesClaim, v.cfg.OperatorRole)}, nil
}

// hasRole reads a roles claim as a JSON array of strings or as one
// space-separated string (the OAuth "scope" shape).
func hasRole(tok jwt.Token, claim, role string) bool {
	var raw any
	if err := tok.Get(claim, &raw); err != nil {
		return false
	}
	switch r := raw.(type) {
	case string:
		for _, f := range strings.Fields(r) {
			if f == role {
				return true
			}
		}
	case []any:
		for _, x := range r {
			if s, ok := x.(string); ok && s == role {
				return true
			}
		}
	case []string:
		for _, s := range r {
			if s == role {
				return true
			}
		}
	}
	return false
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

func validID(s string) bool { return len(s) <= cart.MaxIDLength && idPattern.MatchString(s) }

// problemOf classifies the library's error. Its errors nest (a verify
// error wraps a parse error, and jwt.ParseError wraps everything), so the
// most specific classes come first.
func problemOf(err error) Problem {
	switch {
	case errors.Is(err, jwt.TokenExpiredError()):
		return ProblemExpired
	case errors.Is(err, jwt.TokenNotYetValidError()), errors.Is(err, jwt.InvalidIssuedAtError()):
		return ProblemNotYetValid
	case errors.Is(err, jwt.InvalidIssuerError()):
		return ProblemIssuer
	case errors.Is(err, jwt.InvalidAudienceError()):
		return ProblemAudience
	case errors.Is(err, jwt.MissingRequiredClaimError()), errors.Is(err, jwt.ValidateError()):
		return ProblemInvalid
	case errors.Is(err, jws.ParseError()):
		return ProblemMalformed
	case errors.Is(err, jws.VerificationError()), errors.Is(err, jws.VerifyError()):
		return ProblemSignature
	case errors.Is(err, jwt.ParseError()):
		return ProblemMalformed
	default:
		return ProblemInvalid
	}
}

// fileKeys is a JWKS read once at start: rotate keys by restarting (or
// use a URL, which refreshes).
type fileKeys struct{ set jwk.Set }

func (f fileKeys) keys(context.Context) (jwk.Set, error) { return f.set, nil }
func (fileKeys) close(context.Context) error             { return nil }

// urlKeys is a JWKS URL in the library's cache, refreshed in the
// background; a failed refresh keeps the last good set.
type urlKeys struct {
	cache *jwk.Cache
	url   string
}

func (u urlKeys) keys(ctx context.Context) (jwk.Set, error) {
	set, err := u.cache.Lookup(ctx, u.url)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrKeysUnavailable, u.url, err)
	}
	return set, nil
}

func (u urlKeys) close(ctx context.Context) error {
	if err := u.cache.Shutdown(ctx); err != nil {
		return fmt.Errorf("auth: stop the JWKS refresh: %w", err)
	}
	return nil
}

func newKeySource(ctx context.Context, cfg Config) (keySource, error) {
	if !isURL(cfg.JWKS) {
		data, err := os.ReadFile(cfg.JWKS)
		if err != nil {
			return nil, fmt.Errorf("auth: JWKS file: %w", err)
		}
		set, err := parsePublicSet(data)
		if err != nil {
			return nil, fmt.Errorf("auth: JWKS file %s: %w", cfg.JWKS, err)
		}
		return fileKeys{set: set}, nil
	}
	// The cache's goroutines live until Close (Shutdown), not until the
	// start's ctx ends.
	cache, err := jwk.NewCache(context.WithoutCancel(ctx), httprc.NewClient())
	if err != nil {
		return nil, fmt.Errorf("auth: JWKS cache: %w", err)
	}
	opts := []jwk.RegisterOption{jwk.WithMinInterval(cfg.MinRefresh), jwk.WithWaitReady(true)}
	if cfg.HTTPClient != nil {
		opts = append(opts, jwk.WithHTTPClient(cfg.HTTPClient))
	}
	if err := cache.Register(ctx, cfg.JWKS, opts...); err != nil {
		_ = cache.Shutdown(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("auth: JWKS URL %s: %w", cfg.JWKS, err)
	}
	return urlKeys{cache: cache, url: cfg.JWKS}, nil
}

// parsePublicSet parses a JWKS and refuses private or symmetric keys: a
// verifier needs public keys only, and a secret in a config file is one
// more secret to keep.
func parsePublicSet(data []byte) (jwk.Set, error) {
	set, err := jwk.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if set.Len() == 0 {
		return nil, errors.New("no keys")
	}
	for i := range set.Len() {
		k, _ := set.Key(i)
		if _, isPrivate := k.(interface{ D() ([]byte, bool) }); isPrivate || k.KeyType().String() == "oct" {
			kid, _ := k.KeyID()
			return nil, fmt.Errorf("key %d (kid %q): a private or symmetric key; publish public keys only", i, kid)
		}
	}
	return set, nil
}
