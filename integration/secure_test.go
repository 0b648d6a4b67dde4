package integration

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/internal/acls"
	"github.com/cartstream/cartstream/internal/kafkatest"
	"github.com/cartstream/cartstream/internal/records"
	"github.com/cartstream/cartstream/internal/replay"
	"github.com/cartstream/cartstream/internal/topics"
	"github.com/cartstream/cartstream/internal/verify"
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
	began := time.Now()
	c := kafkatest.StartForTest(t, kafkatest.Options{Secure: true})
	t.Logf("secured broker up in %s", time.Since(began).Round(time.Millisecond))
	e := newSecureEnv(t, c, 2)

	t.Run("Flow", func(t *testing.T) { secureFlow(t, e) })
	t.Run("OperatorTools", func(t *testing.T) { secureOperatorTools(t, e) })
	t.Run("GatewayCannotReadStateOrWriteOutcomes", func(t *testing.T) { secureGatewayBoundaries(t, e) })
	t.Run("ProjectionWritesNothing", func(t *testing.T) { secureProjectionWritesNothing(t, e) })
	t.Run("ManagerOutsideItsTransactionalIDPrefixFailsAtStart", func(t *testing.T) { secureRogueManager(t, e) })
}

// newSecureEnv is one deployment on the secured cluster c: its ACLs applied
// as the admin, its topics created by the operator principal (the services
// may not create topics), and each service's client its own principal's.
func newSecureEnv(t *testing.T, c *kafkatest.Cluster, partitions int) *cartEnv {
	t.Helper()
	set := topics.DefaultSet().WithPrefix(kafkatest.UniqueName(t, ""))
	group := kafkatest.UniqueName(t, "manager")
	dep := acls.Deployment{Topics: set, ManagerGroup: group}
	admin := c.Admin(t)
	if err := acls.Apply(withTimeout(t, time.Minute), admin, dep); err != nil {
		t.Fatalf("apply ACLs: %v", err)
	}
	waitACLs(t, admin, len(dep.Rules()))
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

// waitACLs waits until the broker serves at least want ALLOW bindings: ACLs
// are committed by the controller and reach the broker's authorizer through
// the metadata log a moment later.
func waitACLs(t *testing.T, admin *kafka.AdminClient, want int) {
	t.Helper()
	filter := kafka.ACLBindingFilter{
		Type: kafka.ResourceAny, ResourcePatternType: kafka.ResourcePatternTypeAny,
		Operation: kafka.ACLOperationAny, PermissionType: kafka.ACLPermissionTypeAny,
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := admin.DescribeACLs(withTimeout(t, 10*time.Second), filter)
		if err == nil && len(res.ACLBindings) >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the broker does not serve the %d ACLs after 30s (last: %v)", want, err)
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
