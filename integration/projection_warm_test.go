package integration

import (
	"fmt"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/topics"
	"github.com/cartstream/cartstream/projection"
)

// withCheckpoint gives a projection the checkpoint directory dir; the
// interval is long so that what a restart finds is the shutdown's batch.
func withCheckpoint(dir string) func(*projection.Config) {
	return func(c *projection.Config) {
		c.CheckpointDir = dir
		c.CheckpointInterval = time.Hour
	}
}

// warmCommands adds items to carts prefix-0..prefix-(carts-1), round
// making the request ids unique.
func warmCommands(e *cartEnv, prefix string, round, n, carts int) []cart.Command {
	skus := []string{"SKU-A", "SKU-B", "SKU-C", "SKU-NOPE"}
	cmds := make([]cart.Command, n)
	for i := range cmds {
		id := fmt.Sprintf("%s-%d", prefix, i%carts)
		cmds[i] = e.add(id, fmt.Sprintf("%s-%d-%d", prefix, round, i), skus[(i/carts+round)%len(skus)], 1)
	}
	return cmds
}

// waitHolds waits until the projection holds exactly want's carts, each
// at least as recent as want's snapshot.
func waitHolds(t *testing.T, run *projectionRun, want map[cart.CartID]cart.Snapshot, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		behind := 0
		for id, w := range want {
			if s, err := run.p.Cart(id); err != nil || s.RequestOffset < w.RequestOffset {
				behind++
			}
		}
		carts := run.p.Stats().Carts
		if behind == 0 && carts == len(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s the projection holds %d carts (want %d), %d behind cart.state", timeout, carts, len(want), behind)
		}
		time.Sleep(20 * time.Millisecond) // polling the projection with a deadline
	}
}

// sameCarts checks that the projection serves exactly want's snapshots.
func sameCarts(t *testing.T, run *projectionRun, want map[cart.CartID]cart.Snapshot) {
	t.Helper()
	if got := run.p.Stats().Carts; got != len(want) {
		t.Errorf("projection holds %d carts, cart.state %d", got, len(want))
	}
	for id, w := range want {
		got, err := run.p.Cart(id)
		if err != nil {
			t.Errorf("cart %s: %v", id, err)
			continue
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("cart %s:\nprojection %+v\ncart.state %+v", id, got, w)
		}
	}
}

// A replica stopped gracefully restarts from its checkpoint: it serves the
// same carts, reads only what was written while it was down, and catches
// up with it. Deleting the checkpoint costs only a full rebuild.
func TestProjectionWarmRestartResumesFromTheCheckpoint(t *testing.T) {
	e := newCartEnv(t, 3)
	e.seedCatalog(t, demoProducts()...)
	e.startManager(t, e.managerConfig(t, "m1"))
	dir := t.TempDir()

	first := e.startProjectionWith(t, withCheckpoint(dir))
	first.waitServing(t, time.Minute)
	e.send(t, warmCommands(e, "warm", 0, 300, 60)...)
	e.waitDrained(t, time.Minute)
	before := e.snapshots(t)
	waitHolds(t, first, before, time.Minute)
	recordsBefore := first.p.Stats().StateRecords
	first.stop()

	// Written while the replica is down: new versions of half the carts
	// and carts it never saw.
	e.send(t, warmCommands(e, "warm", 1, 30, 30)...)
	e.send(t, warmCommands(e, "late", 1, 20, 10)...)
	e.waitDrained(t, time.Minute)
	want := e.snapshots(t)

	second := e.startProjectionWith(t, withCheckpoint(dir))
	second.waitServing(t, time.Minute)
	st := second.p.Stats()
	if st.RestoredCarts != int64(len(before)) {
		t.Errorf("restored %d carts from the checkpoint, want %d", st.RestoredCarts, len(before))
	}
	if st.StateRecords == 0 || st.StateRecords >= recordsBefore {
		t.Errorf("read %d cart.state records after the restore; want some, and fewer than the %d of the cold start", st.StateRecords, recordsBefore)
	}
	sameCarts(t, second, want)

	// Caught up, it follows: a command now reaches it.
	e.send(t, warmCommands(e, "warm", 2, 1, 1)...)
	e.waitDrained(t, time.Minute)
	want = e.snapshots(t)
	waitHolds(t, second, want, time.Minute)
	second.stop()

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	third := e.startProjectionWith(t, withCheckpoint(dir))
	third.waitServing(t, time.Minute)
	if got := third.p.Stats().RestoredCarts; got != 0 {
		t.Errorf("restored %d carts from a deleted checkpoint", got)
	}
	sameCarts(t, third, want)
}

// A checkpoint of another topic (another deployment's prefix, or the same
// name recreated) is discarded: the replica rebuilds from its own topic and
// serves none of the checkpoint's carts.
func TestProjectionWarmCheckpointOfAnotherTopicIsDiscarded(t *testing.T) {
	dir := t.TempDir()
	a := newCartEnv(t, 3)
	a.seedCatalog(t, demoProducts()...)
	_, stopA := a.startManager(t, a.managerConfig(t, "m1"))
	a.send(t, warmCommands(a, "old", 0, 40, 20)...)
	a.waitDrained(t, time.Minute)
	run := a.startProjectionWith(t, withCheckpoint(dir))
	run.waitServing(t, time.Minute)
	waitHolds(t, run, a.snapshots(t), time.Minute)
	run.stop()

	b := newCartEnv(t, 3)
	b.seedCatalog(t, demoProducts()...)
	b.startManager(t, b.managerConfig(t, "m1"))
	b.send(t, warmCommands(b, "new", 0, 10, 5)...)
	b.waitDrained(t, time.Minute)
	other := b.startProjectionWith(t, withCheckpoint(dir))
	other.waitServing(t, time.Minute)
	if got := other.p.Stats().RestoredCarts; got != 0 {
		t.Errorf("restored %d carts of another topic", got)
	}
	sameCarts(t, other, b.snapshots(t))
	other.stop()

	// A's cart.state deleted and created again: same name, new topic id.
	stopA()
	recreateTopic(t, a, a.set.State)
	again := a.startProjectionWith(t, withCheckpoint(dir))
	again.waitServing(t, time.Minute)
	if st := again.p.Stats(); st.RestoredCarts != 0 || st.Carts != 0 {
		t.Errorf("after the topic was recreated: restored %d carts, holds %d; want none", st.RestoredCarts, st.Carts)
	}
}

// recreateTopic deletes topic and creates it again, polling until the
// broker has finished the deletion and the topic has a new id.
func recreateTopic(t *testing.T, e *cartEnv, topic string) {
	t.Helper()
	admin := e.c.Admin(t)
	old := topicID(t, admin, topic)
	res, err := admin.DeleteTopics(withTimeout(t, time.Minute), []string{topic})
	if err != nil || res[0].Error.Code() != kafka.ErrNoError {
		t.Fatalf("delete %s: %v %v", topic, err, res)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := topics.Ensure(withTimeout(t, 10*time.Second), admin, e.set, topics.Config{Partitions: e.partitions})
		if err == nil {
			if id := topicID(t, admin, topic); id != "" && id != old {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("recreate %s: %v", topic, err)
		}
		time.Sleep(200 * time.Millisecond) // polling the broker's deletion with a deadline
	}
}

// topicID is the topic's id, "" while it does not exist.
func topicID(t *testing.T, admin *kafka.AdminClient, topic string) string {
	t.Helper()
	res, err := admin.DescribeTopics(withTimeout(t, 10*time.Second), kafka.NewTopicCollectionOfTopicNames([]string{topic}))
	if err != nil || len(res.TopicDescriptions) != 1 || res.TopicDescriptions[0].Error.Code() != kafka.ErrNoError {
		return ""
	}
	return res.TopicDescriptions[0].TopicID.String()
}
