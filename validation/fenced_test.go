package validation

import (
	"errors"
	"fmt"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

func TestFencedRecognisesTheConsumersFatalError(t *testing.T) {
	fence := kafka.NewError(kafka.ErrFencedInstanceID, "Fatal consumer error: Broker: Static consumer fenced by other consumer with same group.instance.id", true)
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"as the poller wraps it", fmt.Errorf("%w: consumer: %w", errSessionFatal, fence), true},
		{"from a restore", fmt.Errorf("%w: restore assigned partitions: %w", errSessionFatal, fmt.Errorf("committed: %w", fence)), true},
		{"another fatal error", fmt.Errorf("%w: %w", errSessionFatal, kafka.NewError(kafka.ErrProducerFenced, "fenced producer", true)), false},
		{"an injected fault", fmt.Errorf("%w: consumer: %w", errSessionFatal, &injectedError{fault: FaultFatal}), false},
		{"none", nil, false},
		{"plain", errors.New("x"), false},
	} {
		if got := fenced(tc.err); got != tc.want {
			t.Errorf("%s: fenced(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestOffsetsRefusedAsFencedRebuildTheSession(t *testing.T) {
	fence := kafka.NewError(kafka.ErrFencedInstanceID, "Broker: Static consumer fenced by other consumer with same group.instance.id", false)
	if err := abortedErr(fmt.Errorf("send offsets: %w", fence)); !errors.Is(err, errSessionFatal) || errors.Is(err, errAborted) {
		t.Errorf("offsets refused as fenced: %v, want a session-fatal error", err)
	}
	for _, other := range []error{
		kafka.NewError(kafka.ErrIllegalGeneration, "a rebalance moved on", false),
		kafka.NewError(kafka.ErrUnknownMemberID, "a rebalance moved on", false),
		&injectedError{fault: FaultAbortable},
	} {
		if err := abortedErr(fmt.Errorf("send offsets: %w", other)); !errors.Is(err, errAborted) || errors.Is(err, errSessionFatal) {
			t.Errorf("%v: %v, want an abort to retry", other, err)
		}
	}
}
