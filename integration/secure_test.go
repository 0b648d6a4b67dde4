package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/acls"
	"github.com/cartstream/cartstream/internal/gateway"
	"github.com/cartstream/cartstream/internal/kafkatest"
	"github.com/cartstream/cartstream/internal/records"
	"github.com/cartstream/cartstream/internal/replay"
	"github.com/cartstream/cartstream/internal/topics"
	"github.com/cartstream/cartstream/internal/verify"
	"github.com/cartstream/cartstream/inventory"
	"github.com/cartstream/cartstream/projection"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
	"github.com/cartstream/cartstream/validation"
)

// TestSecure runs cartstream on the secured broker (SASL_SSL, SCRAM-SHA-512,
// ACLs enforced, nothing allowed that no ACL allows) with every service under
// its own principal and only the grants of internal/acls, and proves the
// boundaries of docs/security-kafka.md. One broker serves every subtest: it
// is the package's only second JVM, so the subtests share it and one
// deployment.
func TestSecure(t *testing.T) {
	waitBound(t)
	began := time.Now()
	c := kafkatest.StartForTest(t, kafkatest.Options{Secure: true})
	t.Logf("secured broker up in %s", time.Since(began).Round(time.Millisecond))
	e := newSecureEnv(t, c, 2)

	t.Run("Flow", func(t *testing.T) { secureFlow(t, e) })
	t.Run("OperatorTools", func(t *testing.T) { secureOperatorTools(t, e) })
	t.Run("GatewayCannotReadStateOrWriteOutcomes", func(t *testing.T) { secureGatewayBoundaries(t, e) })
	t.Run("ProjectionWritesNothing", func(t *testing.T) { secureProjectionWritesNothing(t, e) })
	t.Run("ManagerOutsideItsTransactionalIDPrefixFailsAtStart", func(t *testing.T) { secureRogueManager(t, e) })
	// A second deployment on the same broker: the stock saga and a
	// projection group, each service under its own principal.
	t.Run("ReservedCheckoutOnAProjectionGroup", func(t *testing.T) { secureReservedCheckout(t, c) })
}

// newSecureEnv is one deployment on the secured cluster c: its ACLs applied
// as the admin, its topics created by the operator principal (the services
// may not create topics), and each service's client its own principal's.
// adjust, if given, changes the deployment's grants first (a projection
// group's).
func newSecureEnv(t *testing.T, c *kafkatest.Cluster, partitions int, adjust ...func(*acls.Deployment)) *cartEnv {
	t.Helper()
	set := topics.DefaultSet().WithPrefix(kafkatest.UniqueName(t, ""))
	group := kafkatest.UniqueName(t, "manager")
	// The inventory group is the env's (cartEnv.inventoryGroup).
	dep := acls.Deployment{Topics: set, ManagerGroup: group, InventoryGroup: group + "-inventory"}
	for _, f := range adjust {
		f(&dep)
	}
	admin := c.Admin(t)
	if err := acls.Apply(withTimeout(t, time.Minute), admin, dep); err != nil {
		t.Fatalf("apply ACLs: %v", err)
	}
	waitACLs(t, admin, dep)
	c.DeleteOnCleanup(t, set.All()...)

	opAdmin := newAdmin(t, c.ClientConfig(t, kafkatest.PrincipalOperator, nil))
	if _, err := topics.Ensure(withTimeout(t, time.Minute), opAdmin, set, topics.Config{Partitions: partitions}); err != nil {
		t.Fatalf("the operator creates the topics: %v", err)
	}
	rec, err := records.New(records.Config{})
	if err != nil {
		t.Fatalf("records codec: %v", err)
	}
	e := &cartEnv{c: c, set: set, rec: rec, partitions: partitions, group: group}
	e.clock.Store(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC).UnixMilli())
	e.clientOf = func(service string) kafka.ConfigMap { return c.ClientConfig(t, service, nil) }
	return e
}

func newAdmin(t *testing.T, cm kafka.ConfigMap) *kafka.AdminClient {
	t.Helper()
	a, err := kafka.NewAdminClient(&cm)
	if err != nil {
		t.Fatalf("admin client: %v", err)
	}
	t.Cleanup(a.Close)
	return a
}

// waitACLs waits until the broker serves every binding of dep: ACLs are
// committed by the controller and reach the broker's authorizer through
// the metadata log a moment later. (Deployments on one broker share some
// bindings, so a count would not do.)
func waitACLs(t *testing.T, admin *kafka.AdminClient, dep acls.Deployment) {
	t.Helper()
	filter := kafka.ACLBindingFilter{
		Type: kafka.ResourceAny, ResourcePatternType: kafka.ResourcePatternTypeAny,
		Operation: kafka.ACLOperationAny, PermissionType: kafka.ACLPermissionTypeAny,
	}
	key := func(b kafka.ACLBinding) string {
		return fmt.Sprintf("%v|%v|%s|%s|%v", b.Type, b.ResourcePatternType, b.Name, b.Principal, b.Operation)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := admin.DescribeACLs(withTimeout(t, 10*time.Second), filter)
		missing := -1
		if err == nil {
			served := map[string]bool{}
			for _, b := range res.ACLBindings {
				served[key(b)] = true
			}
			missing = 0
			for _, b := range dep.Bindings("") {
				if !served[key(b)] {
					missing++
				}
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the broker does not serve the deployment's ACLs after 30s (%d missing; last: %v)", missing, err)
		}
		time.Sleep(50 * time.Millisecond) // polling the broker with a deadline
	}
}

// secureFlow: a command through the gateway is validated by the manager,
// folded by the projection and read back, each service as its principal.
func secureFlow(t *testing.T, e *cartEnv) {
	began := time.Now()
	e.seedCatalog(t, demoProducts()...)
	e.startManager(t, e.managerConfig(t, "m1"))
	proj := e.startProjection(t)
	proj.waitServing(t, time.Minute)
	srv := projection.NewServer(proj.p)
	gw := e.startGatewayWith(t, srv, srv, proj.p.RegisterCatalog)

	add := func(req, sku string, q int32) *cartv1.CommandOutcome {
		t.Helper()
		resp, err := gw.AddItem(rpcCtx(t, 20*time.Second), &cartv1.AddItemRequest{
			CartId: "secure-1", RequestId: req, CustomerId: "cust-1", Sku: sku, Quantity: q, WaitForOutcome: true})
		if err != nil {
			t.Fatalf("AddItem %s: %v", req, err)
		}
		if resp.GetOutcome() == nil {
			t.Fatalf("AddItem %s: no outcome within the call", req)
		}
		return resp.GetOutcome()
	}
	if out := add("r1", "SKU-A", 2); !out.GetAccepted() || len(out.GetCart().GetLines()) != 1 {
		t.Fatalf("AddItem SKU-A: want accepted with one line, got %v", out)
	}
	if out := add("r2", "SKU-OFF", 1); out.GetAccepted() || out.GetRejection().GetReason() != cartv1.ReasonCode_REASON_CODE_INACTIVE_SKU {
		t.Fatalf("AddItem SKU-OFF: want rejected INACTIVE_SKU (cart.invalid), got %v", out)
	}
	resp, err := gw.Checkout(rpcCtx(t, 20*time.Second), &cartv1.CheckoutRequest{CartId: "secure-1", RequestId: "r3", CustomerId: "cust-1", WaitForOutcome: true})
	if err != nil || !resp.GetOutcome().GetAccepted() || resp.GetOutcome().GetOrderId() == "" {
		t.Fatalf("Checkout: want accepted with an order (orders.placed), got %v, %v", resp.GetOutcome(), err)
	}
	got, err := gw.GetCart(rpcCtx(t, 20*time.Second), &cartv1.GetCartRequest{CartId: "secure-1", ConsistencyToken: resp.GetConsistencyToken()})
	if err != nil || got.GetCart().GetStatus() != cartv1.CartStatus_CART_STATUS_CHECKED_OUT {
		t.Fatalf("GetCart: want the checked-out cart, got %v, %v", got.GetCart(), err)
	}
	t.Logf("whole flow on the secured broker in %s", time.Since(began).Round(time.Millisecond))
}

// secureOperatorTools: what cartctl does as the operator works on the
// deployment the flow wrote: topics status with the manager group's lag, a
// replay fold, and the exactly-once verifier.
func secureOperatorTools(t *testing.T, e *cartEnv) {
	cm := e.client(kafkatest.PrincipalOperator)
	rcfg := replay.Config{Client: cm, Topics: e.set, Decoder: e.rec, Logger: testLogger(t), IdleTimeout: time.Minute, RequestTimeout: 20 * time.Second}
	rep, err := replay.Status(withTimeout(t, time.Minute), rcfg, replay.StatusOptions{ManagerGroup: e.group, SampleInterval: 100 * time.Millisecond})
	if err != nil || len(rep.Groups) == 0 {
		t.Fatalf("topics status as the operator: %v (groups %v)", err, rep.Groups)
	}
	if _, err := replay.Fold(withTimeout(t, time.Minute), rcfg, replay.Scope{}); err != nil {
		t.Fatalf("replay as the operator: %v", err)
	}
	in, err := verify.Read(withTimeout(t, time.Minute), verify.Config{Client: cm, Topics: e.set, Decoder: e.rec, IdleTimeout: time.Minute, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("verify as the operator: %v", err)
	}
	if r := verify.Check(in); !r.Clean() {
		t.Errorf("verifier on the secured flow: %d violations: %v", len(r.Violations), r.Violations)
	}
}

// secureGatewayBoundaries: the gateway's principal can neither read
// cart.state nor write cart.validated.
func secureGatewayBoundaries(t *testing.T, e *cartEnv) {
	cm := e.client("gateway")
	if err := readErr(t, cm, e.set.State); !isCode(err, kafka.ErrTopicAuthorizationFailed) {
		t.Errorf("gateway reads %s: want TOPIC_AUTHORIZATION_FAILED, got %v", e.set.State, err)
	}
	if err := produceErr(t, cm, e.set.Validated); !isCode(err, kafka.ErrTopicAuthorizationFailed) {
		t.Errorf("gateway writes %s: want TOPIC_AUTHORIZATION_FAILED, got %v", e.set.Validated, err)
	}
}

// secureProjectionWritesNothing: the projection's principal may write no
// topic of the deployment and use no transactional id.
func secureProjectionWritesNothing(t *testing.T, e *cartEnv) {
	cm := e.client("projection")
	for _, topic := range e.set.All() {
		if err := produceErr(t, cm, topic); !isCode(err, kafka.ErrTopicAuthorizationFailed) {
			t.Errorf("projection writes %s: want TOPIC_AUTHORIZATION_FAILED, got %v", topic, err)
		}
	}
	tcm := kafka.ConfigMap{"transactional.id": e.group + "-projection"}
	for k, v := range cm {
		tcm[k] = v
	}
	p, err := kafka.NewProducer(&tcm)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer p.Close()
	if err := p.InitTransactions(withTimeout(t, 30*time.Second)); !isCode(err, kafka.ErrTransactionalIDAuthorizationFailed) {
		t.Errorf("projection starts transactions in the manager's prefix: want TRANSACTIONAL_ID_AUTHORIZATION_FAILED, got %v", err)
	}
}

// secureRogueManager: a manager whose transactional.id lies outside the
// prefix its principal is granted stops at start with an error naming the
// id, instead of rebuilding its session for ever.
func secureRogueManager(t *testing.T, e *cartEnv) {
	cfg := e.managerConfig(t, "rogue")
	cfg.GroupID = "elsewhere-" + e.group // transactional.id elsewhere-<group>-rogue
	m, err := validation.New(cfg)
	if err != nil {
		t.Fatalf("new manager: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	began := time.Now()
	err = m.Run(ctx)
	took := time.Since(began)
	switch {
	case ctx.Err() != nil:
		t.Fatalf("manager still running after %s: want it to stop at start (restarts %d, last err %v)", took, m.Stats().Restarts.Load(), err)
	case !errors.Is(err, validation.ErrNotAuthorized):
		t.Fatalf("manager Run: want ErrNotAuthorized, got %v", err)
	case !strings.Contains(err.Error(), cfg.TransactionalID()) || !isCode(err, kafka.ErrTransactionalIDAuthorizationFailed):
		t.Errorf("manager Run: want the error to name %s and TRANSACTIONAL_ID_AUTHORIZATION_FAILED, got %v", cfg.TransactionalID(), err)
	case m.Stats().Restarts.Load() != 0:
		t.Errorf("manager rebuilt its session %d times before giving up; want 0", m.Stats().Restarts.Load())
	}
	t.Logf("rogue manager stopped after %s: %v", took.Round(time.Millisecond), err)
}

func isCode(err error, code kafka.ErrorCode) bool {
	var ke kafka.Error
	return errors.As(err, &ke) && ke.Code() == code
}

// readErr assigns partition 0 of topic from the beginning and returns the
// first error the consumer reports about the topic, or nil if it reads a
// record.
func readErr(t *testing.T, cm kafka.ConfigMap, topic string) error {
	t.Helper()
	ccm := kafka.ConfigMap{"group.id": "secure-test-reader", "enable.auto.commit": false}
	for k, v := range cm {
		ccm[k] = v
	}
	cons, err := kafka.NewConsumer(&ccm)
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	defer cons.Close()
	if err := cons.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: 0, Offset: kafka.OffsetBeginning}}); err != nil {
		t.Fatalf("assign: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		switch ev := cons.Poll(200).(type) {
		case *kafka.Message:
			if ev.TopicPartition.Error == nil {
				return nil
			}
			if isCode(ev.TopicPartition.Error, kafka.ErrTopicAuthorizationFailed) {
				return ev.TopicPartition.Error
			}
			last = ev.TopicPartition.Error
		case kafka.Error:
			// The group is not this principal's either; wait for the
			// topic's own refusal.
			if ev.Code() == kafka.ErrTopicAuthorizationFailed {
				return ev
			}
			last = ev
		}
	}
	return errors.Join(errors.New("no record and no authorization error within 30s"), last)
}

// produceErr produces one record to topic and returns its delivery error.
func produceErr(t *testing.T, cm kafka.ConfigMap, topic string) error {
	t.Helper()
	pcm := kafka.ConfigMap{"message.timeout.ms": 30000}
	for k, v := range cm {
		pcm[k] = v
	}
	p, err := kafka.NewProducer(&pcm)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer p.Close()
	dr := make(chan kafka.Event, 1)
	if err := p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny}, Key: []byte("k"), Value: []byte("v")}, dr); err != nil {
		return err
	}
	select {
	case ev := <-dr:
		return ev.(*kafka.Message).TopicPartition.Error
	case <-time.After(40 * time.Second):
		return errors.New("no delivery report within 40s")
	}
}

// secureReservedCheckout: a checkout with reservations end to end on its
// own deployment, each service under its own principal: the manager
// (reservations on), the inventory processor (its group and transactional
// ids), a projection group of two replicas (the group's grants: join,
// membership topic) and a gateway routing to them (reads membership only).
// Then the inventory principal's boundaries.
func secureReservedCheckout(t *testing.T, c *kafkatest.Cluster) {
	began := time.Now()
	pgroup := kafkatest.UniqueName(t, "readers")
	var members string
	e := newSecureEnv(t, c, 2, func(d *acls.Deployment) {
		members = strings.TrimSuffix(d.Topics.Requests, "cart.requests") + projection.DefaultMembersTopic
		d.ProjectionGroup, d.MembersTopic = pgroup, members
	})
	c.DeleteOnCleanup(t, members)
	e.seedCatalog(t, demoProducts()...)
	// Two replicas under the projection principal share cart.state; they
	// join their group while the write side starts.
	for _, id := range []string{"a", "b"} {
		secureReplica(t, e, pgroup, members, id)
	}
	e.startInventory(t, e.inventoryConfig(t, "inv1"))
	e.startManager(t, e.reservingConfig(t, "m1"))
	e.setStock(t, map[cart.SKU]int64{"SKU-A": 5, "SKU-B": 1})
	e.waitStock(t, func(l map[cart.SKU]inventory.Level) bool {
		return l["SKU-A"].Available == 5 && l["SKU-B"].Available == 1
	})
	view, err := projection.NewMemberView(projection.MemberViewConfig{Client: e.client("gateway"), Topic: members})
	if err != nil {
		t.Fatalf("membership view: %v", err)
	}
	vctx, stopView := context.WithCancel(context.Background())
	viewDone := make(chan error, 1)
	go func() { viewDone <- view.Run(vctx) }()
	t.Cleanup(func() {
		stopView()
		if err := <-viewDone; err != nil {
			t.Errorf("the gateway's membership view: %v", err)
		}
	})
	router, err := projection.NewRouter(projection.RouterConfig{View: view, Logger: testLogger(t), Dial: func(ep string) (*grpc.ClientConn, error) {
		return grpc.NewClient(ep, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}})
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	t.Cleanup(func() { _ = router.Close() })
	waitFor(t, time.Minute, "both replicas to own and serve a partition each, as the gateway's view says", func() bool {
		now := time.Now()
		owners := map[string]bool{}
		served := 0
		for _, m := range view.Routes().Members(now) {
			for _, p := range m.Owned {
				if slices.Contains(m.Ready, p) {
					owners[m.ID], served = true, served+1
				}
			}
		}
		return served == e.partitions && len(owners) == 2
	})
	// The bound on open carts counts through the router: ListCarts fans
	// out to the replicas' partitions.
	gw := e.startGatewayWith(t, router, router, nil, func(o *gateway.Options) { o.MaxCartsPerCustomer = 2 })

	// Two carts, one per partition's worth of luck: each line reserved on
	// the stock side, the checkouts decided through the saga.
	add := func(cartID, req, sku string, q int32) {
		t.Helper()
		resp, err := gw.AddItem(rpcCtx(t, 30*time.Second), &cartv1.AddItemRequest{
			CartId: cartID, RequestId: req, CustomerId: "cust-1", Sku: sku, Quantity: q, WaitForOutcome: true})
		if err != nil || !resp.GetOutcome().GetAccepted() {
			t.Fatalf("AddItem %s/%s: %v, %v; want accepted", cartID, req, resp.GetOutcome(), err)
		}
	}
	checkout := func(cartID, req string) *cartv1.CheckoutResponse {
		t.Helper()
		resp, err := gw.Checkout(rpcCtx(t, 30*time.Second), &cartv1.CheckoutRequest{CartId: cartID, RequestId: req, CustomerId: "cust-1", WaitForOutcome: true})
		if err != nil || resp.GetOutcome() == nil {
			t.Fatalf("Checkout %s: %v, %v; want the decision within the call", cartID, resp.GetOutcome(), err)
		}
		return resp
	}
	add("sec-saga-1", "r1", "SKU-A", 2)
	add("sec-saga-1", "r2", "SKU-B", 1)
	add("sec-saga-2", "r1", "SKU-B", 1)
	won := checkout("sec-saga-1", "co")
	if out := won.GetOutcome(); !out.GetAccepted() || out.GetOrderId() != string(cart.OrderIDOf("sec-saga-1", "co")) {
		t.Fatalf("the first checkout: %v, want accepted with its order", out)
	}
	lost := checkout("sec-saga-2", "co")
	if out := lost.GetOutcome(); out.GetAccepted() || out.GetRejection().GetReason() != cartv1.ReasonCode_REASON_CODE_OUT_OF_STOCK {
		t.Fatalf("the second checkout of the last SKU-B: %v, want OUT_OF_STOCK", out)
	}
	got, err := gw.GetCart(rpcCtx(t, 30*time.Second), &cartv1.GetCartRequest{CartId: "sec-saga-1", ConsistencyToken: won.GetConsistencyToken()})
	if err != nil || got.GetCart().GetStatus() != cartv1.CartStatus_CART_STATUS_CHECKED_OUT {
		t.Fatalf("GetCart through the group: %v, %v; want CHECKED_OUT", got.GetCart(), err)
	}
	listed, err := gw.ListCarts(rpcCtx(t, 30*time.Second), &cartv1.ListCartsRequest{CustomerId: "cust-1"})
	if err != nil || len(listed.GetCarts()) != 1 || listed.GetCarts()[0].GetCartId() != "sec-saga-2" {
		t.Fatalf("ListCarts through the group: %v, %v; want the open sec-saga-2 alone", listed.GetCarts(), err)
	}
	// cust-1 has one open cart (the checked-out one does not count): a
	// second may be created, a third may not.
	add("sec-saga-3", "r1", "SKU-A", 1)
	_, err = gw.AddItem(rpcCtx(t, 30*time.Second), &cartv1.AddItemRequest{CartId: "sec-saga-4", RequestId: "r1", CustomerId: "cust-1", Sku: "SKU-A", Quantity: 1, WaitForOutcome: true})
	if codeOf(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "at most 2 open carts") {
		t.Fatalf("cust-1's third open cart through the group: %v, want RESOURCE_EXHAUSTED naming the limit", err)
	}
	add("sec-saga-2", "r2", "SKU-A", 1) // an existing cart still takes items
	e.waitStock(t, func(l map[cart.SKU]inventory.Level) bool {
		return l["SKU-A"].Available == 3 && l["SKU-A"].Reserved == 2 && l["SKU-B"].Available == 0 && l["SKU-B"].Reserved == 1
	})
	// The read side follows the stock levels too (the catalog's available
	// units), which needs its own grant on inventory.stock.
	waitFor(t, 30*time.Second, "the projection group's catalog to show SKU-A's 3 available units", func() bool {
		p, err := router.GetProduct(rpcCtx(t, 10*time.Second), &cartv1.GetProductRequest{Sku: "SKU-A"})
		return err == nil && p.GetProduct().AvailableUnits != nil && p.GetProduct().GetAvailableUnits() == 3
	})
	t.Logf("reserved checkout on a projection group, secured, in %s", time.Since(began).Round(time.Millisecond))

	t.Run("InventoryCannotReadStateOrWriteOutcomes", func(t *testing.T) {
		cm := e.client(kafkatest.PrincipalInventory)
		if err := readErr(t, cm, e.set.State); !isCode(err, kafka.ErrTopicAuthorizationFailed) {
			t.Errorf("inventory reads %s: want TOPIC_AUTHORIZATION_FAILED, got %v", e.set.State, err)
		}
		for _, topic := range []string{e.set.Validated, e.set.State, e.set.Orders} {
			if err := produceErr(t, cm, topic); !isCode(err, kafka.ErrTopicAuthorizationFailed) {
				t.Errorf("inventory writes %s: want TOPIC_AUTHORIZATION_FAILED, got %v", topic, err)
			}
		}
	})
}

// secureReplica serves a projection replica of group under the projection
// principal on a loopback port until the test ends.
func secureReplica(t *testing.T, e *cartEnv, group, members, id string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	r, err := projection.NewReplica(projection.ReplicaConfig{
		ID: id, Endpoint: lis.Addr().String(), GroupID: group, MembersTopic: members, SessionTimeout: 6 * time.Second,
		Projection: projection.Config{Client: e.client(kafkatest.PrincipalProjection), Topics: e.set, Records: e.rec, Logger: testLogger(t).With("replica", id)},
	})
	if err != nil {
		_ = lis.Close()
		t.Fatalf("replica %s: %v", id, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- projection.ServeReplica(ctx, r, projection.ServeOptions{Listener: lis, ShutdownTimeout: 5 * time.Second, Logger: testLogger(t)})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("replica %s: %v", id, err)
		}
	})
}
