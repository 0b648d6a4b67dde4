package integration

import (
	"errors"
	"testing"
	"time"

	"github.com/cartstream/cartstream/internal/kafkatest"
	"github.com/cartstream/cartstream/internal/topics"
)

func TestEnsureTopicsCreatesAndChecks(t *testing.T) {
	c := kafkatest.Get(t)
	admin := c.Admin(t)
	set := topics.DefaultSet().WithPrefix(kafkatest.UniqueName(t, ""))
	c.DeleteOnCleanup(t, set.All()...)
	ctx := withTimeout(t, time.Minute)

	n, err := topics.Ensure(ctx, admin, set, topics.Config{Partitions: 4})
	if err != nil {
		t.Fatalf("ensure: %v", err)
	}
	if n != 4 {
		t.Fatalf("partitions = %d, want 4", n)
	}
	// A second service starting later finds the topics and keeps them.
	if n, err := topics.Ensure(ctx, admin, set, topics.Config{Partitions: 8}); err != nil || n != 4 {
		t.Fatalf("second ensure = %d, %v; want 4, nil", n, err)
	}
}

func TestCheckRejectsTopicsThatAreNotCoPartitioned(t *testing.T) {
	c := kafkatest.Get(t)
	admin := c.Admin(t)
	set := topics.DefaultSet().WithPrefix(kafkatest.UniqueName(t, ""))
	c.DeleteOnCleanup(t, set.All()...)
	ctx := withTimeout(t, time.Minute)

	// cart.validated made by hand with another count, as a careless operator might.
	specs := set.Specs(topics.Config{Partitions: 3})
	specs[1].NumPartitions = 5
	if _, err := admin.CreateTopics(ctx, specs); err != nil {
		t.Fatal(err)
	}
	_, err := topics.Ensure(ctx, admin, set, topics.Config{Partitions: 3})
	if !errors.Is(err, topics.ErrNotCoPartitioned) {
		t.Fatalf("ensure = %v, want ErrNotCoPartitioned", err)
	}
}

func TestCheckRejectsAStateTopicThatIsNotCompacted(t *testing.T) {
	c := kafkatest.Get(t)
	admin := c.Admin(t)
	set := topics.DefaultSet().WithPrefix(kafkatest.UniqueName(t, ""))
	c.DeleteOnCleanup(t, set.All()...)
	ctx := withTimeout(t, time.Minute)

	specs := set.Specs(topics.Config{Partitions: 2})
	specs[3].Config = map[string]string{"cleanup.policy": "delete"}
	if _, err := admin.CreateTopics(ctx, specs); err != nil {
		t.Fatal(err)
	}
	_, err := topics.Ensure(ctx, admin, set, topics.Config{Partitions: 2})
	if !errors.Is(err, topics.ErrNotCompacted) {
		t.Fatalf("ensure = %v, want ErrNotCompacted", err)
	}
}

func TestCheckReportsMissingTopics(t *testing.T) {
	c := kafkatest.Get(t)
	set := topics.DefaultSet().WithPrefix(kafkatest.UniqueName(t, ""))
	_, err := topics.Check(withTimeout(t, 30*time.Second), c.Admin(t), set)
	if !errors.Is(err, topics.ErrMissing) {
		t.Fatalf("check = %v, want ErrMissing", err)
	}
}
