package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cartstream/cartstream/cart"
)

func TestGatewayStatusOfMapsByClassNotIdentity(t *testing.T) {
	invalid := &cart.ValidationError{Violations: []cart.FieldViolation{{Field: "quantity", Description: "must be between 1 and 999"}}}
	kafkaErr := kafka.NewError(kafka.ErrMsgTimedOut, "Local: Message timed out", false)
	for _, tc := range []struct {
		name string
		err  error
		want codes.Code
	}{
		{"nil", nil, codes.OK},
		{"validation error", invalid, codes.InvalidArgument},
		{"wrapped validation error", fmt.Errorf("submit: %w", invalid), codes.InvalidArgument},
		{"bare invalid-argument sentinel", fmt.Errorf("encode: %w", cart.ErrInvalidArgument), codes.InvalidArgument},
		{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded},
		{"wrapped deadline", fmt.Errorf("await delivery: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{"canceled", fmt.Errorf("await delivery: %w", context.Canceled), codes.Canceled},
		{"delivery error", &DeliveryError{Topic: "t", Err: kafkaErr}, codes.Unavailable},
		{"wrapped delivery error", fmt.Errorf("produce: %w", &DeliveryError{Topic: "t", Err: kafkaErr}), codes.Unavailable},
		{"closed", fmt.Errorf("enqueue: %w", ErrClosed), codes.Unavailable},
		{"unavailable sentinel", fmt.Errorf("%w: metadata", ErrUnavailable), codes.Unavailable},
		{"joined with unavailable", errors.Join(errors.New("x"), ErrUnavailable), codes.Unavailable},
		{"not served", notServed("GetCart"), codes.Unimplemented},
		{"encode", fmt.Errorf("%w: boom", ErrEncode), codes.Internal},
		{"status from a delegate", status.Error(codes.NotFound, "no cart"), codes.NotFound},
		{"wrapped status from a delegate", fmt.Errorf("reader: %w", status.Error(codes.FailedPrecondition, "x")), codes.FailedPrecondition},
		{"domain error with no API meaning", cart.ErrInvalidState, codes.Internal},
		{"a bare kafka error", kafkaErr, codes.Internal},
		{"unknown", errors.New("surprise"), codes.Internal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := statusOf(tc.err)
			if status.Code(got) != tc.want {
				t.Fatalf("statusOf(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestGatewayDeliveryErrorKeepsTheClientError(t *testing.T) {
	err := fmt.Errorf("produce: %w", &DeliveryError{Topic: "t", Err: kafka.NewError(kafka.ErrMsgTimedOut, "timed out", false)})
	var ke kafka.Error
	if !errors.As(err, &ke) || ke.Code() != kafka.ErrMsgTimedOut {
		t.Fatalf("errors.As kafka.Error through DeliveryError failed: %v", err)
	}
	if !IsUnavailable(err) {
		t.Fatal("a delivery error is not unavailable")
	}
}

func TestGatewayKafkaConfig(t *testing.T) {
	err := KafkaConfig{Linger: -1, Extra: kafka.ConfigMap{"partitioner": "consistent_random", "acks": "1", "linger.ms": 100}}.Validate()
	if err == nil {
		t.Fatal("Validate accepted overrides of the fixed properties")
	}
	for _, want := range []string{"brokers", "linger", `"partitioner"`, `"acks"`} {
		if !contains(err.Error(), want) {
			t.Errorf("Validate() = %v, missing %q", err, want)
		}
	}
	cm := KafkaConfig{Brokers: "b:9092", Extra: kafka.ConfigMap{"security.protocol": "SSL"}}.withDefaults().configMap()
	for k, want := range map[string]kafka.ConfigValue{
		"bootstrap.servers": "b:9092", "enable.idempotence": true, "acks": "all", "partitioner": "murmur2_random",
		"linger.ms": 0, "delivery.timeout.ms": 30000, "client.id": "cart-gateway", "security.protocol": "SSL",
	} {
		if got := (*cm)[k]; got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
