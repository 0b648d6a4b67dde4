package gateway

import (
	"context"
	"errors"
	"fmt"
	"github.com/cartstream/cartstream/internal/grpcerr"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cartstream/cartstream/cart"
)

// Sentinels of the gateway. Callers classify with errors.Is; [statusOf] is
// the one place that turns them into gRPC codes.
var (
	// ErrUnavailable marks a command Kafka did not confirm: the broker is
	// unreachable, the delivery failed or timed out, or the producer is
	// closing. The client retries with the same request id.
	ErrUnavailable = errors.New("gateway: kafka unavailable")
	// ErrClosed is a produce after the producer began closing; it matches
	// ErrUnavailable too.
	ErrClosed = fmt.Errorf("%w: producer closed", ErrUnavailable)
	// ErrNotServed is an RPC whose backing part is not wired into this
	// process (the read path, for the query RPCs).
	ErrNotServed = errors.New("gateway: not served by this process")
	// ErrEncode is a command the request encoder could not encode.
	ErrEncode = errors.New("gateway: cannot encode request")
)

// DeliveryError is a record Kafka did not acknowledge. It matches
// ErrUnavailable and unwraps to the client's error (a kafka.Error for
// librdkafka), so callers can look deeper with errors.As.
type DeliveryError struct {
	Topic string
	Err   error
}

func (e *DeliveryError) Error() string {
	return fmt.Sprintf("gateway: deliver to %s: %v", e.Topic, e.Err)
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnavailable) true for every DeliveryError.
func (e *DeliveryError) Is(target error) bool { return target == ErrUnavailable }

// IsUnavailable reports whether err means Kafka did not confirm a command,
// so a retry with the same request id is the right answer.
func IsUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }

// Client-facing messages. They never carry the error's text where that text
// comes from an infrastructure client: the log has the details.
const (
	msgUnavailable = "the command was not recorded: Kafka is unavailable; retry with the same request_id"
	msgDeadline    = "deadline exceeded before the server could answer; a command may have been recorded: retry with the same request_id"
	msgCanceled    = "the call was canceled"
	msgInternal    = "internal error"
)

// statusOf is the one mapping from domain and infrastructure errors to gRPC
// status errors. It classifies with errors.Is/As, so wrapped errors keep
// their code. nil stays nil; an error that carries a gRPC status (from a
// delegated Reader or Outcomes) and matches nothing above keeps its status.
func statusOf(err error) error {
	if err == nil {
		return nil
	}
	var carrier interface{ GRPCStatus() *status.Status }
	switch {
	case cart.IsInvalidArgument(err):
		return grpcerr.InvalidArgument(err)
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, msgDeadline)
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, msgCanceled)
	case errors.Is(err, ErrUnavailable):
		return status.Error(codes.Unavailable, msgUnavailable)
	case errors.Is(err, ErrNotServed):
		return status.Error(codes.Unimplemented, err.Error())
	case errors.As(err, &carrier):
		// A wrapped status from a delegate keeps its code and message.
		return carrier.GRPCStatus().Err()
	default:
		return status.Error(codes.Internal, msgInternal)
	}
}
