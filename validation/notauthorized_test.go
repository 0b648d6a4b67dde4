package validation

import (
	"errors"
	"fmt"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// An ACL refusal ends Run; every other broker error keeps the rebuild loop.
func TestNotAuthorized(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("init transactions of g-m1: %w", kafka.NewError(kafka.ErrTransactionalIDAuthorizationFailed, "refused", true)), true},
		{kafka.NewError(kafka.ErrTopicAuthorizationFailed, "refused", false), true},
		{kafka.NewError(kafka.ErrGroupAuthorizationFailed, "refused", false), true},
		{kafka.NewError(kafka.ErrClusterAuthorizationFailed, "refused", false), true},
		{kafka.NewError(kafka.ErrFenced, "fenced", true), false},
		{kafka.NewError(kafka.ErrTransport, "down", false), false},
		{errors.New("plain"), false},
		{nil, false},
	} {
		if got := notAuthorized(c.err); got != c.want {
			t.Errorf("notAuthorized(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
