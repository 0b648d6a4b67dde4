package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/internal/acls"
	"github.com/cartstream/cartstream/projection"
)

const aclsHelp = `
Usage: cartctl acls print|apply [flags]

  print    the least-privilege ACLs of one deployment (its topic prefix and
           manager group): one ALLOW per line, with why (docs/security-kafka.md).
           Needs no broker.
  apply    creates them (existing ones are kept). Run it as a principal that
           may alter the cluster's ACLs (-kafka-config with an admin's
           properties).

Each service's principal is User:<role> unless --user-<role> names another.

Examples:
  cartctl acls print --topic-prefix shop1.
  cartctl acls apply -kafka-config /tmp/cartstream-kafka-9092/client-admin.properties
`

func runACLs(e env, args []string) int {
	var c common
	var managerGroup string
	users := map[acls.Role]*string{}
	fs := newFlagSet(e, "acls", aclsHelp)
	c.register(fs)
	fs.StringVar(&managerGroup, "manager-group", acls.DefaultManagerGroup, "the AddItemManager's consumer group (-group); its name + \"-\" prefixes the managers' transactional ids")
	var projectionGroup, inventoryGroup string
	fs.StringVar(&inventoryGroup, "inventory-group", acls.DefaultInventoryGroup, "the inventory processors' consumer group (inventory-processor -group); its name + \"-\" prefixes their transactional ids")
	fs.StringVar(&projectionGroup, "projection-group", "", "the projection replicas' consumer group (cart-projection -group), if they share partitions: grants the group and its membership topic")
	for _, r := range acls.Roles() {
		users[r] = fs.String("user-"+string(r), string(r), "the "+string(r)+"'s SASL user name")
	}
	pos, code, ok := parse(e, fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintf(e.stderr, "cartctl acls: want one subcommand: print or apply\n")
		return exitOperational
	}
	log, ok := c.setup(e, "acls")
	if !ok {
		return exitOperational
	}
	dep := acls.Deployment{Topics: c.topics(), ManagerGroup: managerGroup, InventoryGroup: inventoryGroup, Users: map[acls.Role]string{}}
	if projectionGroup != "" {
		dep.ProjectionGroup, dep.MembersTopic = projectionGroup, c.prefix+projection.DefaultMembersTopic
	}
	for r, u := range users {
		dep.Users[r] = *u
	}
	if err := dep.Validate(); err != nil {
		fmt.Fprintf(e.stderr, "cartctl acls: %v\n", err)
		return exitOperational
	}
	switch pos[0] {
	case "print":
		writeACLs(e, c.output, dep.Rules())
		return exitOK
	case "apply":
		ctx, cancel := signalContext(e, log)
		defer cancel()
		cm := c.client()
		adm, err := kafka.NewAdminClient(&cm)
		if err != nil {
			fmt.Fprintf(e.stderr, "cartctl acls: admin client: %v\n", err)
			return exitOperational
		}
		defer adm.Close()
		if err := acls.Apply(ctx, adm, dep); err != nil {
			fmt.Fprintf(e.stderr, "cartctl acls: %s\n", c.kc.Redact(err.Error()))
			return exitOperational
		}
		fmt.Fprintf(e.stdout, "applied %d ACLs for %s\n", len(dep.Rules()), strings.Join(dep.Topics.All(), ", "))
		return exitOK
	default:
		fmt.Fprintf(e.stderr, "cartctl acls: unknown subcommand %q: want print or apply\n", pos[0])
		return exitOperational
	}
}

func writeACLs(e env, output string, rules []acls.Rule) {
	if output == "json" {
		type row struct {
			Principal, Resource, Pattern, Name, Operation, Why string
		}
		rows := make([]row, len(rules))
		for i, r := range rules {
			rows[i] = row{r.Principal, r.Resource.String(), r.Pattern.String(), r.Name, r.Operation.String(), r.Why}
		}
		writeJSON(e, rows)
		return
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PRINCIPAL\tOPERATION\tRESOURCE\tPATTERN\tNAME\tWHY")
	for _, r := range rules {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Principal, r.Operation, r.Resource, r.Pattern, r.Name, r.Why)
	}
	_ = tw.Flush()
}
