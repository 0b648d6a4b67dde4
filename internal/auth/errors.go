package auth

import (
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Sentinels of the package; classify with errors.Is.
var (
	// ErrUnauthenticated matches every *TokenError: the call has no
	// valid token.
	ErrUnauthenticated = errors.New("auth: unauthenticated")
	// ErrKeysUnavailable is a JWKS that cannot be had right now (its URL
	// never answered): not the caller's fault, retry later.
	ErrKeysUnavailable = errors.New("auth: signing keys unavailable")
)

// Problem is what is wrong with a call's credentials. It is a closed set.
type Problem int

// The problems. Their String is the error_description a client sees.
const (
	ProblemMissing Problem = iota + 1
	ProblemMalformed
	ProblemSignature
	ProblemExpired
	ProblemNotYetValid
	ProblemIssuer
	ProblemAudience
	ProblemCustomer
	ProblemInvalid
)

func (p Problem) String() string {
	switch p {
	case ProblemMissing:
		return "no bearer token"
	case ProblemMalformed:
		return "the token is not a well-formed JWT"
	case ProblemSignature:
		return "the token's signature does not verify with a trusted key"
	case ProblemExpired:
		return "the token has expired"
	case ProblemNotYetValid:
		return "the token is not valid yet"
	case ProblemIssuer:
		return "the token is from another issuer"
	case ProblemAudience:
		return "the token is for another audience"
	case ProblemCustomer:
		return "the token names no usable customer id"
	case ProblemInvalid:
		return "the token is invalid"
	default:
		return fmt.Sprintf("problem(%d)", int(p))
	}
}

// TokenError is a call refused for its credentials. It matches
// ErrUnauthenticated and unwraps to the library's error, which may name
// claims but never carries the token.
type TokenError struct {
	Problem Problem
	Err     error
}

func (e *TokenError) Error() string {
	if e.Err == nil {
		return "auth: " + e.Problem.String()
	}
	return fmt.Sprintf("auth: %s: %v", e.Problem, e.Err)
}

func (e *TokenError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnauthenticated) true.
func (e *TokenError) Is(target error) bool { return target == ErrUnauthenticated }

// Realm names the protected space in WWW-Authenticate.
const Realm = "cartstream"

// HeaderWWWAuthenticate is the response metadata key of the challenge
// (grpc-gateway turns it into the HTTP header of the same name).
const HeaderWWWAuthenticate = "www-authenticate"

// Challenge is the RFC 6750 WWW-Authenticate value for err: no error
// attribute when no token came (the client should authenticate),
// invalid_token with a description otherwise.
func Challenge(err error) string {
	var te *TokenError
	if !errors.As(err, &te) || te.Problem == ProblemMissing {
		return fmt.Sprintf("Bearer realm=%q", Realm)
	}
	return fmt.Sprintf("Bearer realm=%q, error=\"invalid_token\", error_description=%q", Realm, te.Problem.String())
}

// StatusOf maps the package's errors to gRPC status errors:
// UNAUTHENTICATED (with a google.rpc.ErrorInfo naming the problem) for a
// *TokenError, UNAVAILABLE for ErrKeysUnavailable, else INTERNAL. The
// message is the problem's description, never the library's text.
func StatusOf(err error) error {
	var te *TokenError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te):
		st := status.New(codes.Unauthenticated, "unauthenticated: "+te.Problem.String())
		info := &errdetails.ErrorInfo{Reason: reasonOf(te.Problem), Domain: Realm}
		if d, derr := st.WithDetails(info); derr == nil {
			st = d
		}
		return st.Err()
	case errors.Is(err, ErrKeysUnavailable):
		return status.Error(codes.Unavailable, "the token cannot be checked now: the signing keys are unavailable; retry")
	default:
		return status.Error(codes.Internal, "internal error")
	}
}

func reasonOf(p Problem) string {
	switch p {
	case ProblemMissing:
		return "MISSING_TOKEN"
	case ProblemExpired:
		return "TOKEN_EXPIRED"
	case ProblemMalformed, ProblemSignature, ProblemNotYetValid, ProblemIssuer, ProblemAudience, ProblemCustomer, ProblemInvalid:
		return "INVALID_TOKEN"
	default:
		return "INVALID_TOKEN"
	}
}
