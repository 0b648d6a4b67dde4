// Package grpcerr turns the domain's field violations into the gRPC status
// every cartstream API answers bad input with: INVALID_ARGUMENT carrying a
// google.rpc.BadRequest that lists every violation. Each service keeps its
// own mapping of the rest of its errors; this is the part they share.
package grpcerr

import (
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cartstream/cartstream/cart"
)

// InvalidArgument returns INVALID_ARGUMENT for err with one BadRequest field
// violation per cart.FieldViolation in it (none when err has none).
func InvalidArgument(err error) error {
	vs := cart.FieldViolations(err)
	st := status.New(codes.InvalidArgument, message(vs))
	if len(vs) == 0 {
		return st.Err()
	}
	br := &errdetails.BadRequest{FieldViolations: make([]*errdetails.BadRequest_FieldViolation, len(vs))}
	for i, v := range vs {
		br.FieldViolations[i] = &errdetails.BadRequest_FieldViolation{Field: v.Field, Description: v.Description}
	}
	withDetails, derr := st.WithDetails(br)
	if derr != nil {
		// Only a marshalling bug gets here; the code and message still hold.
		return st.Err()
	}
	return withDetails.Err()
}

func message(vs []cart.FieldViolation) string {
	if len(vs) == 0 {
		return "invalid argument"
	}
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = v.Field + " " + v.Description
	}
	return "invalid argument: " + strings.Join(parts, "; ")
}
