package auth

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// DefaultPublicServices need no token: health checks come from
// orchestrators and load balancers, reflection describes a public API, and
// the catalog is the shop window.
var DefaultPublicServices = []string{
	"grpc.health.v1.Health",
	"grpc.reflection.v1.ServerReflection",
	"grpc.reflection.v1alpha.ServerReflection",
	"cartstream.cart.v1.CatalogService",
}

// public reports whether fullMethod ("/pkg.Service/Method") belongs to a
// public service. Every other method is protected: fail closed.
func public(fullMethod string) bool {
	svc, _, _ := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	for _, p := range DefaultPublicServices {
		if svc == p {
			return true
		}
	}
	return false
}

// authenticate returns ctx with the caller of a protected method, or the
// status error to answer (having set the WWW-Authenticate metadata).
func (v *Verifier) authenticate(ctx context.Context, fullMethod string) (context.Context, error) {
	if public(fullMethod) {
		return ctx, nil
	}
	c, err := v.Verify(ctx, bearer(ctx))
	if err != nil {
		// The reason goes to the client; the log says which method, never
		// the token.
		v.cfg.Logger.DebugContext(ctx, "auth: call refused", "method", fullMethod, "error", err)
		_ = grpc.SetHeader(ctx, metadata.Pairs(HeaderWWWAuthenticate, Challenge(err)))
		return ctx, StatusOf(err)
	}
	return NewContext(ctx, c), nil
}

// bearer is the token of the call's "authorization: Bearer …" metadata;
// empty when there is none (the scheme is case-insensitive, RFC 7235).
func bearer(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, h := range md.Get("authorization") {
		scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
		if ok && strings.EqualFold(scheme, "bearer") {
			return strings.TrimSpace(tok)
		}
	}
	return ""
}

// UnaryInterceptor authenticates unary calls.
func (v *Verifier) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := v.authenticate(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamInterceptor authenticates streams (WatchCart).
func (v *Verifier) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := v.authenticate(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, &callerStream{ServerStream: ss, ctx: ctx})
	}
}

// callerStream is a stream whose Context carries the caller.
type callerStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *callerStream) Context() context.Context { return s.ctx }
