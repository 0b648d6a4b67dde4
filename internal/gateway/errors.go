package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/auth"
	"github.com/cartstream/cartstream/internal/grpcerr"
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
	// ErrOverloaded is a command shed because the producer's queue is full
	// (librdkafka's queue.buffering.max.messages): nothing was recorded,
	// and waiting a moment lets the queue drain.
	ErrOverloaded = errors.New("gateway: overloaded: the producer queue is full")
	// ErrPermissionDenied is a command on a cart of another customer, or
	// naming another customer than the caller's token.
	ErrPermissionDenied = errors.New("gateway: permission denied")
	// ErrCartNotFound is a cart the caller may not see: unknown to the
	// read side, or another customer's (the two answer alike, so a read
	// tells nobody whether someone else's cart exists).
	ErrCartNotFound = errors.New("gateway: cart not found")
	// ErrNotFound is something else the caller asked for that does not
	// exist (a SKU's stock level).
	ErrNotFound = errors.New("gateway: not found")
)

// ShedRetryAfter is the retry hint of a command shed for overload.
const ShedRetryAfter = time.Second

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
	msgOverloaded  = "the command was not recorded: the gateway is overloaded; retry after the delay in google.rpc.RetryInfo with the same request_id"
	msgRateLimited = "too many commands: the %s rate limit is reached; retry after the delay in google.rpc.RetryInfo"
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
	case errors.Is(err, auth.ErrUnauthenticated), errors.Is(err, auth.ErrKeysUnavailable):
		return auth.StatusOf(err)
	case errors.Is(err, ErrPermissionDenied):
		return status.Error(codes.PermissionDenied, err.Error())
	case errors.Is(err, ErrCartNotFound), errors.Is(err, ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.As(err, new(*RateLimitError)):
		return rateLimited(err)
	case errors.As(err, new(*CartBoundError)):
		return tooManyCarts(err)
	case errors.Is(err, ErrOverloaded):
		return withRetry(status.New(codes.Unavailable, msgOverloaded), ShedRetryAfter)
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

func rateLimited(err error) error {
	var rl *RateLimitError
	errors.As(err, &rl)
	st := status.New(codes.ResourceExhausted, fmt.Sprintf(msgRateLimited, rl.Limit))
	quota := &errdetails.QuotaFailure{Violations: []*errdetails.QuotaFailure_Violation{{
		Subject: string(rl.Limit), Description: "commands per second",
	}}}
	return withRetry(st, rl.RetryAfter, quota)
}

// withRetry adds a google.rpc.RetryInfo (and more details) to st. A
// client that honours RetryInfo waits at least that long.
func withRetry(st *status.Status, after time.Duration, more ...protoadapt.MessageV1) error {
	details := append([]protoadapt.MessageV1{&errdetails.RetryInfo{RetryDelay: durationpb.New(after)}}, more...)
	if d, err := st.WithDetails(details...); err == nil {
		return d.Err()
	}
	return st.Err() // only a marshalling bug gets here; the code holds
}
