package auth

import (
	"context"

	"github.com/cartstream/cartstream/cart"
)

// Caller is who makes a call.
type Caller struct {
	// Customer is the verified customer id; empty in development mode,
	// where the request names its customer.
	Customer cart.CustomerID
	// Operator may read any cart.
	Operator bool
	// Dev marks a caller of a development-mode server: nothing about it was
	// verified, and the gateway applies no ownership rule.
	Dev bool
}

type callerKey struct{}

// NewContext returns ctx carrying c.
func NewContext(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// FromContext returns the caller the interceptors put in ctx.
func FromContext(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}
