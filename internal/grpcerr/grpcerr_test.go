package grpcerr

import (
	"errors"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cartstream/cartstream/cart"
)

func TestInvalidArgumentListsEveryViolation(t *testing.T) {
	err := (cart.AddItem{Quantity: -1}).Validate()
	st := status.Convert(InvalidArgument(err))
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("code %v", st.Code())
	}
	var fields []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	if len(fields) != len(cart.FieldViolations(err)) || len(fields) < 3 {
		t.Fatalf("violations %v, want one per domain violation (%d)", fields, len(cart.FieldViolations(err)))
	}
	if plain := status.Convert(InvalidArgument(errors.New("x"))); plain.Code() != codes.InvalidArgument || len(plain.Details()) != 0 {
		t.Fatalf("an error without violations: %v", plain)
	}
}
