package service

import (
	"errors"
	"flag"
	"fmt"

	"github.com/cartstream/cartstream/internal/auth"
	"github.com/cartstream/cartstream/internal/gateway"
)

// CallerFlags are the flags of a process that serves the cart API to
// callers: how they are authenticated (docs/security.md) and how many
// commands they may send.
type CallerFlags struct {
	Auth  auth.Config
	Rates gateway.RateLimits
	// MaxCarts bounds a customer's open carts (gateway.Options.MaxCartsPerCustomer).
	MaxCarts int

	devDefault bool
}

// Register adds the flags to e. devDefault is development mode's default:
// true for `make run`'s one-process binary, false for a deployable gateway,
// which must be told how to authenticate.
func (c *CallerFlags) Register(e *EnvFlags, devDefault bool) {
	c.devDefault = devDefault
	a := &c.Auth
	e.String(&a.JWKS, "auth-jwks", "CARTSTREAM_AUTH_JWKS", "", "signing keys of callers' bearer tokens: a JWKS file, or an https URL refreshed in the background")
	e.String(&a.Issuer, "auth-issuer", "CARTSTREAM_AUTH_ISSUER", "", "required iss of a token")
	e.String(&a.Audience, "auth-audience", "CARTSTREAM_AUTH_AUDIENCE", "", "required aud of a token")
	e.String(&a.CustomerClaim, "auth-customer-claim", "CARTSTREAM_AUTH_CUSTOMER_CLAIM", auth.DefaultCustomerClaim, "claim holding the customer id (1..64 of [A-Za-z0-9._-])")
	e.String(&a.RolesClaim, "auth-roles-claim", "CARTSTREAM_AUTH_ROLES_CLAIM", auth.DefaultRolesClaim, "claim listing the caller's roles (array, or space-separated string)")
	e.String(&a.OperatorRole, "auth-operator-role", "CARTSTREAM_AUTH_OPERATOR_ROLE", auth.DefaultOperatorRole, "role that may read any cart")
	e.Duration(&a.ClockSkew, "auth-clock-skew", "CARTSTREAM_AUTH_CLOCK_SKEW", auth.DefaultClockSkew, "clock skew tolerated on exp and nbf")
	devUsage := "DEVELOPMENT ONLY: check no token; the request names its customer and anyone reads any cart"
	if devDefault {
		devUsage += " (on unless -auth-jwks is set)"
	}
	e.Bool(&a.DevMode, "auth-dev-mode", "CARTSTREAM_AUTH_DEV_MODE", devDefault, devUsage)
	r := &c.Rates
	e.Float64(&r.PerCustomer, "rate-customer", "CARTSTREAM_RATE_CUSTOMER", gateway.DefaultCustomerRate, "commands per second per customer; 0: no limit")
	e.Int(&r.PerCustomerBurst, "rate-customer-burst", "CARTSTREAM_RATE_CUSTOMER_BURST", gateway.DefaultCustomerBurst, "commands a customer may send at once")
	e.Float64(&r.Global, "rate-global", "CARTSTREAM_RATE_GLOBAL", 0, "commands per second of this replica, all customers; 0: no limit")
	e.Int(&r.GlobalBurst, "rate-global-burst", "CARTSTREAM_RATE_GLOBAL_BURST", 0, "global burst; 0: twice the global rate")
	e.Int(&c.MaxCarts, "max-carts-per-customer", "CARTSTREAM_MAX_CARTS_PER_CUSTOMER", gateway.DefaultMaxCartsPerCustomer,
		fmt.Sprintf("open carts a customer may have: a command creating one more is refused RESOURCE_EXHAUSTED (a soft bound, counted on the read side); 0: no limit; at most %d", gateway.MaxCartsBoundCeiling))
}

// Finish settles the flags after fs.Parse and reports every problem. A
// JWKS turns a defaulted development mode off; asking for both is an
// error.
func (c *CallerFlags) Finish(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "auth-dev-mode" })
	if v, ok := lookup("CARTSTREAM_AUTH_DEV_MODE"); ok && v != "" {
		explicit = true
	}
	if c.devDefault && !explicit && c.Auth.JWKS != "" {
		c.Auth.DevMode = false
	}
	var errs []error
	if err := c.Auth.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("authentication: set -auth-jwks, -auth-issuer and -auth-audience, or -auth-dev-mode for development: %w", err))
	}
	if c.MaxCarts < 0 || c.MaxCarts > gateway.MaxCartsBoundCeiling {
		errs = append(errs, fmt.Errorf("max carts per customer %d: want 0 (off) to %d", c.MaxCarts, gateway.MaxCartsBoundCeiling))
	}
	return errors.Join(append(errs, c.Rates.Validate())...)
}
