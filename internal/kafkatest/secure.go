package kafkatest

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/internal/kafkaconf"
)

// A secured cluster (Options.Secure) has these principals, each with a
// SCRAM-SHA-512 password and a client properties file that
// scripts/kafka/secure.sh writes: admin is a super user (the broker's own
// identity, and what the harness connects as); the others are the
// services', allowed only what ACLs grant them (internal/acls).
const (
	PrincipalAdmin      = "admin"
	PrincipalGateway    = "gateway"
	PrincipalManager    = "manager"
	PrincipalProjection = "projection"
	PrincipalOperator   = "operator"
	PrincipalInventory  = "inventory"
)

// Secure reports whether the cluster is the secured broker.
func (c *Cluster) Secure() bool { return len(c.admin) > 0 }

// PropertiesFile returns the path of principal's client properties file on
// a secured cluster: what a binary takes with -kafka-config.
func (c *Cluster) PropertiesFile(tb testing.TB, principal string) string {
	tb.Helper()
	if !c.Secure() {
		tb.Fatalf("kafkatest: the cluster is not secured: start it with Options{Secure: true}")
	}
	path := c.nodes.propertiesFile(principal)
	if _, err := os.Stat(path); err != nil {
		tb.Fatalf("kafkatest: no client properties for principal %q: %v", principal, err)
	}
	return path
}

// ClientConfig returns a client configuration that connects as principal:
// its properties file loaded as a service loads -kafka-config. extra is
// added on top.
func (c *Cluster) ClientConfig(tb testing.TB, principal string, extra kafka.ConfigMap) kafka.ConfigMap {
	tb.Helper()
	cfg, err := kafkaconf.Load(c.PropertiesFile(tb, principal))
	if err != nil {
		tb.Fatalf("kafkatest: client properties of %s: %v", principal, err)
	}
	cm := cfg.Client(c.brokers, true)
	maps.Copy(cm, extra)
	return cm
}

func (j *jarNodes) propertiesFile(principal string) string {
	return filepath.Join(j.dir, "client-"+principal+".properties")
}

// clientSecurity is principal's properties file without bootstrap.servers:
// the part the harness adds to every client it makes.
func (j *jarNodes) clientSecurity(principal string) (kafka.ConfigMap, error) {
	cfg, err := kafkaconf.Load(j.propertiesFile(principal))
	if err != nil {
		return nil, fmt.Errorf("client properties of %s: %w", principal, err)
	}
	delete(cfg.Props, "bootstrap.servers")
	if len(cfg.Props) == 0 {
		return nil, fmt.Errorf("client properties of %s: empty", principal)
	}
	return cfg.Props, nil
}
