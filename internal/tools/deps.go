//go:build tools

// Package tools pins modules that later issues import, so go.mod keeps them
// until real code does. Remove an import here once production code uses it.
package tools

import (
	_ "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	_ "github.com/linkedin/goavro/v2"
	_ "github.com/ory/dockertest/v3"
	_ "github.com/twmb/franz-go/pkg/kfake"
	_ "google.golang.org/protobuf/proto"
)
