// Package integration holds the tests that run against a real Apache Kafka
// broker (see internal/kafkatest for where it comes from). Nothing here
// mocks the broker.
package integration

import (
	"testing"

	"github.com/cartstream/cartstream/internal/kafkatest"
)

func TestMain(m *testing.M) { kafkatest.Main(m) }
