package acls

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/internal/topics"
	"github.com/cartstream/cartstream/projection"
)

func deployment() Deployment {
	return Deployment{Topics: topics.DefaultSet().WithPrefix("shop1."), ManagerGroup: "shop1-manager"}
}

// allowed reports whether role may do op on the literal resource name, by
// the rules: a LITERAL rule of that name, or a PREFIXED one it starts with.
// Write, Read, Delete and Alter imply Describe, as the broker has it.
func allowed(rules []Rule, role Role, res kafka.ResourceType, name string, op kafka.ACLOperation) bool {
	for _, r := range rules {
		if r.Role != role || r.Resource != res {
			continue
		}
		match := r.Name == name || (r.Pattern == kafka.ResourcePatternTypePrefixed && strings.HasPrefix(name, r.Name))
		implied := op == kafka.ACLOperationDescribe && slices.Contains([]kafka.ACLOperation{
			kafka.ACLOperationRead, kafka.ACLOperationWrite, kafka.ACLOperationDelete, kafka.ACLOperationAlter}, r.Operation)
		if match && (r.Operation == op || implied) {
			return true
		}
	}
	return false
}

// The boundaries docs/security-kafka.md promises, checked on the list
// itself (integration/secure_test.go checks them on the broker).
func TestBoundaries(t *testing.T) {
	d := deployment()
	rules := d.Rules()
	ts := d.Topics
	write, read := kafka.ACLOperationWrite, kafka.ACLOperationRead
	topic := kafka.ResourceTopic
	for _, c := range []struct {
		role Role
		name string
		op   kafka.ACLOperation
		want bool
	}{
		{Gateway, ts.Requests, write, true},
		{Gateway, ts.State, read, false},
		{Gateway, ts.Requests, read, false},
		{Gateway, ts.Validated, write, false},
		{Manager, ts.Requests, read, true},
		{Manager, ts.Requests, write, true}, // its own requests: merges, expiries
		{Manager, ts.Catalog, write, false},
		{Manager, ts.Validated, read, false},
		{Projection, ts.State, read, true},
		{Operator, ts.Requests, write, false},
		{Operator, ts.State, write, true},
		{Manager, ts.Inventory, write, true},
		{Manager, ts.Stock, write, false},
		{Inventory, ts.Inventory, read, true},
		{Inventory, ts.Stock, write, true},
		{Inventory, ts.Requests, write, true},
		{Inventory, ts.State, read, false},
		{Inventory, ts.Validated, write, false},
		{Gateway, ts.Inventory, write, true},
		{Gateway, ts.Stock, write, false},
	} {
		if got := allowed(rules, c.role, topic, c.name, c.op); got != c.want {
			t.Errorf("%s %s %s: allowed %v, want %v", c.role, c.op, c.name, got, c.want)
		}
	}
	for _, name := range ts.All() {
		if allowed(rules, Projection, topic, name, write) {
			t.Errorf("projection may write %s", name)
		}
		for _, role := range Roles() {
			if !allowed(rules, role, topic, name, kafka.ACLOperationDescribe) {
				t.Errorf("%s cannot describe %s: its start-up check would fail", role, name)
			}
		}
	}
	if !allowed(rules, Manager, ResourceTransactionalID, "shop1-manager-m1-p3", write) {
		t.Error("the manager may not use its own transactional ids")
	}
	if allowed(rules, Manager, ResourceTransactionalID, "other-manager-m1", write) {
		t.Error("the manager may use a transactional id outside its prefix")
	}
	if !allowed(rules, Manager, kafka.ResourceGroup, "shop1-manager-restore-m1", kafka.ACLOperationDescribe) {
		t.Error("the manager's restore consumer may not find its coordinator")
	}
	for _, r := range rules {
		if r.Resource == topic && r.Pattern != kafka.ResourcePatternTypeLiteral {
			t.Errorf("%s: topics are granted by literal name, so no grant reaches another deployment's", r)
		}
		if r.Resource == kafka.ResourceBroker {
			t.Errorf("%s: no cluster-wide grant is needed", r)
		}
		if r.Why == "" {
			t.Errorf("%s: no reason given", r)
		}
	}
}

// A projection group's grants exist only when the deployment has one: the
// replicas join it and write the membership topic, the gateways read it,
// and nothing else may write it.
func TestProjectionGroupGrants(t *testing.T) {
	const members = "shop1.cart.projection.members"
	if allowed(deployment().Rules(), Projection, kafka.ResourceGroup, "shop1-readers", kafka.ACLOperationRead) {
		t.Error("a deployment without a projection group grants one")
	}
	d := deployment()
	d.ProjectionGroup, d.MembersTopic = "shop1-readers", members
	rules := d.Rules()
	for _, c := range []struct {
		role Role
		res  kafka.ResourceType
		name string
		op   kafka.ACLOperation
		want bool
	}{
		{Projection, kafka.ResourceGroup, "shop1-readers", kafka.ACLOperationRead, true},
		{Projection, kafka.ResourceTopic, members, kafka.ACLOperationWrite, true},
		{Projection, kafka.ResourceTopic, members, kafka.ACLOperationRead, true},
		{Gateway, kafka.ResourceTopic, members, kafka.ACLOperationRead, true},
		{Gateway, kafka.ResourceTopic, members, kafka.ACLOperationWrite, false},
		{Gateway, kafka.ResourceGroup, MembersReaderGroup, kafka.ACLOperationDescribe, true},
		{Manager, kafka.ResourceTopic, members, kafka.ACLOperationRead, false},
	} {
		if got := allowed(rules, c.role, c.res, c.name, c.op); got != c.want {
			t.Errorf("%s %s %s: allowed %v, want %v", c.role, c.op, c.name, got, c.want)
		}
	}
	if MembersReaderGroup != projection.MembersReaderGroup || !strings.HasSuffix(members, projection.DefaultMembersTopic) {
		t.Errorf("the grants name the group %q and topic %q; the projection uses %q and %q",
			MembersReaderGroup, members, projection.MembersReaderGroup, projection.DefaultMembersTopic)
	}
	d.MembersTopic = ""
	if err := d.Validate(); err == nil {
		t.Error("a projection group without its membership topic validated")
	}
}

// The inventory processor's grants follow its group (-group): the group,
// its restore consumers and its transactional ids; the default group is
// no longer granted once another is named.
func TestInventoryGroupGrants(t *testing.T) {
	d := deployment()
	if !allowed(d.Rules(), Inventory, kafka.ResourceGroup, DefaultInventoryGroup, kafka.ACLOperationRead) {
		t.Fatal("the default inventory group is not granted")
	}
	d.InventoryGroup = "shop1-inventory"
	rules := d.Rules()
	for _, c := range []struct {
		res  kafka.ResourceType
		name string
		op   kafka.ACLOperation
		want bool
	}{
		{kafka.ResourceGroup, "shop1-inventory", kafka.ACLOperationRead, true},
		{kafka.ResourceGroup, "shop1-inventory-restore-i1", kafka.ACLOperationDescribe, true},
		{ResourceTransactionalID, "shop1-inventory-i1", kafka.ACLOperationWrite, true},
		{kafka.ResourceGroup, DefaultInventoryGroup, kafka.ACLOperationRead, false},
		{ResourceTransactionalID, DefaultInventoryGroup + "-i1", kafka.ACLOperationWrite, false},
		{ResourceTransactionalID, "shop1-manager-i1", kafka.ACLOperationWrite, false},
	} {
		if got := allowed(rules, Inventory, c.res, c.name, c.op); got != c.want {
			t.Errorf("inventory %s %s: allowed %v, want %v", c.op, c.name, got, c.want)
		}
	}
}

// Regression: the projection follows inventory.stock for the catalog's
// available units, and without a grant its stock table stayed empty on a
// secured broker.
func TestProjectionReadsStock(t *testing.T) {
	d := deployment()
	rules := d.Rules()
	if !allowed(rules, Projection, kafka.ResourceTopic, d.Topics.Stock, kafka.ACLOperationRead) ||
		!allowed(rules, Projection, kafka.ResourceGroup, GlobalTableGroupPrefix+d.Topics.Stock, kafka.ACLOperationDescribe) {
		t.Error("the projection may not follow inventory.stock")
	}
	if allowed(rules, Projection, kafka.ResourceTopic, d.Topics.Stock, kafka.ACLOperationWrite) {
		t.Error("the projection may write inventory.stock")
	}
}

func TestUsersAndValidate(t *testing.T) {
	d := deployment()
	d.Users = map[Role]string{Gateway: "gw-prod"}
	if got := d.Principal(Gateway); got != "User:gw-prod" {
		t.Errorf("Principal(gateway) = %q", got)
	}
	if got := d.Principal(Manager); got != "User:manager" {
		t.Errorf("Principal(manager) = %q", got)
	}
	for _, b := range d.Bindings(Gateway) {
		if b.Principal != "User:gw-prod" || b.Host != "*" || b.PermissionType != kafka.ACLPermissionTypeAllow {
			t.Errorf("gateway binding %+v", b)
		}
	}
	d.Users["cashier"] = "x"
	d.Users[Manager] = "a b"
	err := d.Validate()
	if err == nil || !strings.Contains(err.Error(), "cashier") || !strings.Contains(err.Error(), "a b") {
		t.Errorf("Validate = %v, want both problems", err)
	}
}

type fakeAdmin struct {
	got  kafka.ACLBindings
	fail map[int]kafka.ErrorCode
}

func (f *fakeAdmin) CreateACLs(_ context.Context, b kafka.ACLBindings, _ ...kafka.CreateACLsAdminOption) ([]kafka.CreateACLResult, error) {
	f.got = b
	out := make([]kafka.CreateACLResult, len(b))
	for i := range b {
		out[i].Error = kafka.NewError(f.fail[i], "", false)
	}
	return out, nil
}

func TestApply(t *testing.T) {
	d := deployment()
	a := &fakeAdmin{}
	if err := Apply(context.Background(), a, d); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if len(a.got) != len(d.Rules()) {
		t.Fatalf("Apply created %d bindings, want %d", len(a.got), len(d.Rules()))
	}
	a.fail = map[int]kafka.ErrorCode{0: kafka.ErrClusterAuthorizationFailed}
	err := Apply(context.Background(), a, d)
	if err == nil || !strings.Contains(err.Error(), d.Rules()[0].String()) {
		t.Fatalf("Apply with a refused binding = %v, want it named", err)
	}
}
