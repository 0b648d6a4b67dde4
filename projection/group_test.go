package projection

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// A replica asked for a partition it does not serve answers UNAVAILABLE
// naming the owner it last heard of, which a router passes over.
func TestReplicaAnswersNotOwnedWithTheOwner(t *testing.T) {
	r, err := NewReplica(ReplicaConfig{ID: "r1", Endpoint: "127.0.0.1:1",
		Projection: Config{Client: kafka.ConfigMap{"bootstrap.servers": "unused:1"}, Records: nopDecoder{}}})
	if err != nil {
		t.Fatal(err)
	}
	s := &ReplicaServer{r: r}
	if _, err := s.GetCart(context.Background(), &cartv1.GetCartRequest{CartId: "cart-1"}); status.Code(err) != codes.Unavailable {
		t.Fatalf("before Run: %v, want UNAVAILABLE", err)
	}
	routes := newRoutes([]seenMember{{Member: Member{ID: "r2", Endpoint: "owner:1", Partitions: 1, Owned: []int32{0}, Ready: []int32{0}}, seen: time.Now()}}, time.Minute)
	r.view.routes.Store(&routes)
	r.partitions = 1
	_, err = s.GetCart(context.Background(), &cartv1.GetCartRequest{CartId: "cart-1"})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "owner owner:1") {
		t.Fatalf("not owned: %v, want UNAVAILABLE naming the owner", err)
	}
	if _, err := s.GetCart(context.Background(), &cartv1.GetCartRequest{CartId: ""}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("empty cart id: %v, want INVALID_ARGUMENT", err)
	}
}
