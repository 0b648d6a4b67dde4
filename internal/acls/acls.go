// Package acls states the least-privilege Kafka ACLs of one cartstream
// deployment: for each service's principal, the operations it needs on the
// deployment's topics, consumer groups and transactional ids, each with the
// reason it is needed, and applies them with an admin client.
//
// The list is derived from a topic set and the manager's group, so several
// deployments (and every integration test, with its own topic prefix) share
// a cluster without one's principals reaching another's topics: topics are
// granted by LITERAL name, never by a prefix that could match a stranger.
// docs/security-kafka.md prints the table for the default deployment
// (`cartctl acls print`) and says why each grant is there.
package acls

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/internal/topics"
)

// Role is a cartstream service that connects to Kafka as its own principal.
type Role string

// The roles, in the order Rules lists them.
const (
	Gateway    Role = "gateway"
	Manager    Role = "manager"
	Projection Role = "projection"
	Operator   Role = "operator"
	// Inventory is the inventory processor (decision 12).
	Inventory Role = "inventory"
)

// Roles lists every role.
func Roles() []Role { return []Role{Gateway, Manager, Projection, Operator, Inventory} }

// Group names the services derive themselves; they are stated here because
// a grant must name them (integration/secure_test.go proves each one).
const (
	// DefaultManagerGroup is validation.DefaultGroupID.
	DefaultManagerGroup = "cartstream-additem-manager"
	// DefaultInventoryGroup is the inventory processor's group.
	DefaultInventoryGroup = "cartstream-inventory"
	// ProjectionGroupPrefix starts the group.id of every projection
	// consumer (projection/config.go consumerConfig): assigned, never
	// joined, never committed.
	ProjectionGroupPrefix = "cartstream-projection-"
	// GlobalTableGroupPrefix + the catalog topic is the group.id of the
	// catalog reader (internal/globaltable), in the manager and the
	// projection: assigned, never joined.
	GlobalTableGroupPrefix = "cartstream-globaltable-"
	// RestoreGroupInfix: the manager's state restore consumer uses
	// group.id <group>-restore-<instance> (validation/restore.go).
	RestoreGroupInfix = "-restore-"
	// Operator groups and transactional ids (cartctl, cartverify).
	ReplayGroupPrefix     = "cartctl-"
	VerifyGroupPrefix     = "cartverify-"
	RewriteTxnPrefix      = "cartctl-rewrite."
	ManagerTxnIDSeparator = "-" // transactional.id = <group>-<instance>[-p<k>]
)

// ResourceTransactionalID is librdkafka's RD_KAFKA_RESOURCE_TRANSACTIONAL_ID
// (rdkafka.h): confluent-kafka-go v2.11 names no constant for it, but passes
// the value through to librdkafka, which sends it as Kafka's TRANSACTIONAL_ID.
const ResourceTransactionalID = kafka.ResourceType(5)

// Deployment is what the grants are derived from.
type Deployment struct {
	Topics topics.Set
	// ManagerGroup is the manager replicas' consumer group (-group); its
	// name + "-" prefixes their transactional ids. Default
	// DefaultManagerGroup.
	ManagerGroup string
	// Users maps a role to its principal's user name; a role not in the
	// map is User:<role>.
	Users map[Role]string
	// ProjectionGroup is the consumer group of projection replicas that
	// share cart.state's partitions (cart-projection -group); empty: the
	// replicas do not, and none of the group's grants is made.
	ProjectionGroup string
	// MembersTopic is that group's membership topic
	// (<prefix>cart.projection.members); required with ProjectionGroup.
	MembersTopic string
	// InventoryGroup is the inventory processor replicas' consumer group
	// (inventory-processor -group); its name + "-" prefixes their
	// transactional ids. Default DefaultInventoryGroup.
	InventoryGroup string
}

// MembersReaderGroup is the group.id of every membership topic reader
// (projection/members_kafka.go): assigned, never joined.
const MembersReaderGroup = "cartstream-projection-members"

// Principal returns the Kafka principal of role r: "User:<name>".
func (d Deployment) Principal(r Role) string {
	if u, ok := d.Users[r]; ok && u != "" {
		return "User:" + u
	}
	return "User:" + string(r)
}

func (d Deployment) inventoryGroup() string {
	if d.InventoryGroup == "" {
		return DefaultInventoryGroup
	}
	return d.InventoryGroup
}

func (d Deployment) group() string {
	if d.ManagerGroup == "" {
		return DefaultManagerGroup
	}
	return d.ManagerGroup
}

// Validate reports every problem at once.
func (d Deployment) Validate() error {
	var errs []error
	if err := d.Topics.Validate(); err != nil {
		errs = append(errs, err)
	}
	for r, u := range d.Users {
		if !slices.Contains(Roles(), r) {
			errs = append(errs, fmt.Errorf("user of unknown role %q", r))
		}
		if strings.ContainsAny(u, " \t,;") {
			errs = append(errs, fmt.Errorf("user %q of %s: no spaces, commas or semicolons", u, r))
		}
	}
	if strings.TrimSpace(d.group()) == "" {
		errs = append(errs, errors.New("manager group: empty"))
	}
	if strings.TrimSpace(d.inventoryGroup()) == "" {
		errs = append(errs, errors.New("inventory group: empty"))
	}
	if d.ProjectionGroup != "" && d.MembersTopic == "" {
		errs = append(errs, errors.New("projection group: its membership topic is not named"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("acls: %w", err)
	}
	return nil
}

// Rule is one ALLOW grant and the reason for it.
type Rule struct {
	Role      Role
	Principal string
	Resource  kafka.ResourceType
	Pattern   kafka.ResourcePatternType
	Name      string
	Operation kafka.ACLOperation
	Why       string
}

// Binding is the rule as the admin API takes it: ALLOW from any host.
func (r Rule) Binding() kafka.ACLBinding {
	return kafka.ACLBinding{
		Type: r.Resource, Name: r.Name, ResourcePatternType: r.Pattern,
		Principal: r.Principal, Host: "*", Operation: r.Operation,
		PermissionType: kafka.ACLPermissionTypeAllow,
	}
}

// String is the rule on one line, as `cartctl acls print` shows it.
func (r Rule) String() string {
	return fmt.Sprintf("%s %s %s:%s:%s", r.Principal, r.Operation, r.Resource, strings.ToLower(r.Pattern.String()), r.Name)
}

// Rules returns every grant of the deployment: each role's, in Roles
// order. Nothing else is allowed (the broker runs with
// allow.everyone.if.no.acl.found=false). Write, Read, Delete and Alter
// imply Describe on the same resource, so Describe is granted alone only
// where nothing else is.
func (d Deployment) Rules() []Rule {
	t, g, ig := d.Topics, d.group(), d.inventoryGroup()
	var out []Rule
	add := func(r Role, res kafka.ResourceType, pat kafka.ResourcePatternType, name string, op kafka.ACLOperation, why string) {
		out = append(out, Rule{Role: r, Principal: d.Principal(r), Resource: res, Pattern: pat, Name: name, Operation: op, Why: why})
	}
	topic := func(r Role, name string, op kafka.ACLOperation, why string) {
		add(r, kafka.ResourceTopic, kafka.ResourcePatternTypeLiteral, name, op, why)
	}
	group := func(r Role, pat kafka.ResourcePatternType, name string, op kafka.ACLOperation, why string) {
		add(r, kafka.ResourceGroup, pat, name, op, why)
	}
	const (
		lit = kafka.ResourcePatternTypeLiteral
		pre = kafka.ResourcePatternTypePrefixed
	)
	// The start-up topic check (topics.Check) every service runs: each
	// topic's metadata, and the tables' cleanup.policy.
	check := func(r Role, describe ...string) {
		for _, name := range describe {
			topic(r, name, kafka.ACLOperationDescribe, "start-up check: the topic exists, partition counts match")
		}
		topic(r, t.State, kafka.ACLOperationDescribeConfigs, "start-up check: cart.state is compacted")
		topic(r, t.Catalog, kafka.ACLOperationDescribeConfigs, "start-up check: catalog.products is compacted")
		topic(r, t.Stock, kafka.ACLOperationDescribeConfigs, "start-up check: inventory.stock is compacted")
		for _, name := range []string{t.Inventory, t.Stock} {
			if !slices.Contains(describe, name) {
				topic(r, name, kafka.ACLOperationDescribe, "start-up check: the stock side's topics exist, partition counts match")
			}
		}
	}

	// Gateway: produces commands and catalog changes, reads nothing.
	topic(Gateway, t.Requests, kafka.ACLOperationWrite, "produces every cart command (idempotent producer: Write on a topic also allows InitProducerId, KIP-679)")
	topic(Gateway, t.Catalog, kafka.ACLOperationWrite, "CatalogAdminService writes products (operator callers only; the gateway checks the role)")
	topic(Gateway, t.Inventory, kafka.ACLOperationWrite, "InventoryAdminService writes stock changes (operator callers only)")
	topic(Gateway, t.Stock, kafka.ACLOperationRead, "InventoryAdminService.GetStock reads a sku's level")
	group(Gateway, lit, "cartstream-gateway-stock", kafka.ACLOperationDescribe, "GetStock's reader's group.id (assigned, never joined)")
	check(Gateway, t.Validated, t.Invalid, t.State, t.Catalog, t.Orders)

	// Manager: consumes requests in its group, writes outcomes in
	// transactions, restores from cart.state, reads the catalog.
	topic(Manager, t.Requests, kafka.ACLOperationRead, "consumes cart commands in its group")
	topic(Manager, t.Catalog, kafka.ACLOperationRead, "reads the whole catalog (global table)")
	topic(Manager, t.State, kafka.ACLOperationRead, "restores its partitions' carts at assignment")
	for _, name := range []string{t.Validated, t.Invalid, t.State, t.Orders, t.Inventory} {
		topic(Manager, name, kafka.ACLOperationWrite, "writes outcomes, snapshots, orders and reservations in its transactions")
	}
	topic(Manager, t.Requests, kafka.ACLOperationWrite, "writes its own requests in its transactions: a merge's second half (MergeInto, MergeReturned) and expiries (ExpireCart)")
	topic(Manager, t.Stock, kafka.ACLOperationRead, "reads the stock levels (global table) for the soft check")
	group(Manager, lit, GlobalTableGroupPrefix+t.Stock, kafka.ACLOperationDescribe, "the stock reader's group.id (assigned, never joined): coordinator lookup only")
	check(Manager)
	group(Manager, lit, g, kafka.ACLOperationRead, "joins the group and commits offsets in its transactions (SendOffsetsToTransaction)")
	group(Manager, pre, g+RestoreGroupInfix, kafka.ACLOperationDescribe, "the restore consumer's group.id (assigned, never joined): coordinator lookup only")
	group(Manager, lit, GlobalTableGroupPrefix+t.Catalog, kafka.ACLOperationDescribe, "the catalog reader's group.id (assigned, never joined): coordinator lookup only")
	add(Manager, ResourceTransactionalID, pre, g+ManagerTxnIDSeparator, kafka.ACLOperationWrite,
		"its transactional ids are <group>-<instance>[-p<k>]; another prefix is refused at start")

	// Projection: reads the state, the history and the catalog; writes
	// nothing, commits nothing.
	for _, name := range []string{t.State, t.Validated, t.Invalid, t.Catalog} {
		topic(Projection, name, kafka.ACLOperationRead, "rebuilds and follows carts, history and the catalog")
	}
	check(Projection, t.Requests, t.Orders)
	group(Projection, pre, ProjectionGroupPrefix, kafka.ACLOperationDescribe, "its consumers' group.id (assigned, never joined): coordinator lookup only")
	group(Projection, lit, GlobalTableGroupPrefix+t.Catalog, kafka.ACLOperationDescribe, "the catalog reader's group.id (assigned, never joined): coordinator lookup only")
	topic(Projection, t.Stock, kafka.ACLOperationRead, "follows the stock levels (global table): the catalog's available units")
	group(Projection, lit, GlobalTableGroupPrefix+t.Stock, kafka.ACLOperationDescribe, "the stock reader's group.id (assigned, never joined): coordinator lookup only")

	// A projection group: replicas join it, publish and read membership;
	// gateways route by it.
	if pg, mt := d.ProjectionGroup, d.MembersTopic; pg != "" {
		group(Projection, lit, pg, kafka.ACLOperationRead, "joins the replicas' group, which shares cart.state's partitions (commits nothing)")
		topic(Projection, mt, kafka.ACLOperationCreate, "creates the membership topic if absent (replicas and routers race to)")
		topic(Projection, mt, kafka.ACLOperationWrite, "publishes its endpoint and partitions")
		topic(Projection, mt, kafka.ACLOperationRead, "reads the other replicas' records: standbys and hand-over")
		topic(Gateway, mt, kafka.ACLOperationRead, "routes queries to the replica serving the cart's partition")
		group(Gateway, lit, MembersReaderGroup, kafka.ACLOperationDescribe, "the membership reader's group.id (assigned, never joined): coordinator lookup only")
	}
	// Inventory processor: consumes inventory.requests in its group,
	// writes levels and answers (to cart.requests) in its transactions.
	topic(Inventory, t.Inventory, kafka.ACLOperationRead, "consumes reservations and stock changes in its group")
	topic(Inventory, t.Stock, kafka.ACLOperationRead, "restores its partitions' levels at assignment")
	topic(Inventory, t.Stock, kafka.ACLOperationWrite, "writes levels in its transactions")
	topic(Inventory, t.Requests, kafka.ACLOperationWrite, "writes reservation answers to the carts' partitions in its transactions")
	check(Inventory, t.Requests, t.Validated, t.Invalid, t.State, t.Catalog, t.Orders)
	group(Inventory, lit, ig, kafka.ACLOperationRead, "joins the group and commits offsets in its transactions")
	group(Inventory, pre, ig+RestoreGroupInfix, kafka.ACLOperationDescribe, "the restore consumer's group.id (assigned, never joined)")
	add(Inventory, ResourceTransactionalID, pre, ig+ManagerTxnIDSeparator, kafka.ACLOperationWrite, "its transactional id is <group>-<instance>")

	// Operator: cartctl and cartverify. Creates the topics (the services
	// do not: they only check), reads everything, rewrites snapshots.
	for _, name := range t.All() {
		topic(Operator, name, kafka.ACLOperationCreate, "cartctl topics create")
		topic(Operator, name, kafka.ACLOperationDescribeConfigs, "cartctl topics check")
		topic(Operator, name, kafka.ACLOperationRead, "cartctl replay, verify, topics status")
	}
	topic(Operator, t.State, kafka.ACLOperationWrite, "cartctl replay --rewrite writes corrected snapshots")
	group(Operator, pre, ReplayGroupPrefix, kafka.ACLOperationRead, "cartctl's readers and the rewrite's progress group")
	group(Operator, pre, VerifyGroupPrefix, kafka.ACLOperationDescribe, "cartverify's reader's group.id (assigned, never joined)")
	group(Operator, lit, g, kafka.ACLOperationDescribe, "cartctl topics status: the manager group's lag; replay --rewrite checks the managers are stopped")
	add(Operator, ResourceTransactionalID, pre, RewriteTxnPrefix, kafka.ACLOperationWrite, "replay --rewrite commits each batch in a transaction")
	return out
}

// Bindings returns the rules of role r as bindings, or of every role when r
// is "".
func (d Deployment) Bindings(r Role) kafka.ACLBindings {
	var out kafka.ACLBindings
	for _, rule := range d.Rules() {
		if r == "" || rule.Role == r {
			out = append(out, rule.Binding())
		}
	}
	return out
}

// Admin is what Apply needs of a Kafka admin client.
type Admin interface {
	CreateACLs(ctx context.Context, aclBindings kafka.ACLBindings, options ...kafka.CreateACLsAdminOption) ([]kafka.CreateACLResult, error)
}

var _ Admin = (*kafka.AdminClient)(nil)

// Apply creates every binding of the deployment (idempotent: an existing
// ACL is kept). The admin client's principal must be allowed to Alter the
// cluster (a super user, on the test broker).
func Apply(ctx context.Context, admin Admin, d Deployment) error {
	if err := d.Validate(); err != nil {
		return err
	}
	rules := d.Rules()
	bindings := d.Bindings("")
	res, err := admin.CreateACLs(ctx, bindings)
	if err != nil {
		return fmt.Errorf("acls: create %d bindings: %w", len(bindings), err)
	}
	var errs []error
	for i, r := range res {
		if r.Error.Code() != kafka.ErrNoError {
			errs = append(errs, fmt.Errorf("acls: create %s: %w", rules[i], r.Error))
		}
	}
	return errors.Join(errs...)
}
