package app

import (
	"errors"
	"fmt"
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"log/slog"
	"time"

	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/auth"
	"github.com/cartstream/cartstream/internal/gateway"
	"github.com/cartstream/cartstream/internal/tlsconf"
	"github.com/cartstream/cartstream/internal/topics"
	"github.com/cartstream/cartstream/validation"
)

// Defaults of Config.
const (
	DefaultGRPCAddr        = "127.0.0.1:50051"
	DefaultHTTPAddr        = "127.0.0.1:8080"
	DefaultInstanceID      = "cartstream-1"
	DefaultStartTimeout    = 2 * time.Minute
	DefaultShutdownTimeout = 10 * time.Second
)

// Config of the one-process backend. The zero value plus a Logger is
// `make run`'s setup without the demo catalog.
type Config struct {
	// Brokers are the Kafka bootstrap servers. Empty: start the embedded
	// development broker (DevBroker) and use it.
	Brokers string
	// Kafka holds further librdkafka properties of every client (TLS,
	// SASL: the -kafka-config file), used with Brokers.
	Kafka kafka.ConfigMap
	// DevBroker configures the embedded broker; ignored when Brokers is
	// set.
	DevBroker DevBrokerConfig
	// Topics are the deployment's topics; default topics.DefaultSet().
	Topics topics.Set
	// TopicConfig says how absent topics are created.
	TopicConfig topics.Config
	// Catalog, if not nil, is written to the catalog topic at start when
	// that topic has never had a record.
	Catalog []cart.Product
	// GRPCAddr and HTTPAddr are the listen addresses; defaults
	// DefaultGRPCAddr and DefaultHTTPAddr. Port 0 picks a free port (see
	// App.GRPCAddr, App.HTTPAddr).
	GRPCAddr string
	HTTPAddr string
	// GRPCTLS and HTTPTLS serve the gRPC and HTTP listeners over TLS, or
	// mutual TLS with a client CA (internal/tlsconf); zero: plaintext. The
	// HTTP side reaches gRPC in memory, so it needs no client certificate.
	GRPCTLS tlsconf.Server
	HTTPTLS tlsconf.Server
	// InstanceID names the manager replica (static group member id and
	// transactional.id suffix): stable across restarts, unique among live
	// replicas. Default DefaultInstanceID.
	InstanceID string
	// GroupID is the manager's consumer group; default
	// validation.DefaultGroupID.
	GroupID string
	// NoReservations turns the stock saga off: checkouts close carts at
	// once and no inventory processor runs. By default checkouts reserve
	// stock through the in-process inventory processor (decision 12).
	NoReservations bool
	// Auth says how the gateway authenticates callers. Without a JWKS it
	// is development mode (the one-process binary is `make run`'s), which
	// the log, /healthz and the storefront say loudly.
	Auth auth.Config
	// RateLimits bound the commands the gateway accepts; the zero value
	// none (the cartstream binary's flags default to
	// gateway.DefaultCustomerRate per customer).
	RateLimits gateway.RateLimits
	// MaxCartsPerCustomer bounds a customer's open carts (the gateway's
	// soft bound, counted on the in-process projection); 0 none (the
	// cartstream binary's flag defaults to
	// gateway.DefaultMaxCartsPerCustomer).
	MaxCartsPerCustomer int
	// Limits are the business limits of the manager (and the caps the
	// catalog reports).
	Limits cart.Limits
	// CartTTL is how long a cart may stay untouched before the manager
	// expires it; 0 means validation.DefaultCartTTL.
	CartTTL time.Duration
	// StartTimeout bounds everything until ready; ShutdownTimeout each
	// stage of the stop.
	StartTimeout    time.Duration
	ShutdownTimeout time.Duration
	// KafkaStatsInterval is librdkafka's statistics.interval.ms for the
	// cartstream_kafka_* metrics; 0: statistics off.
	KafkaStatsInterval time.Duration
	// Logger; default: discard.
	Logger *slog.Logger
}

// DevBrokerConfig configures the embedded development broker.
type DevBrokerConfig struct {
	// Port on 127.0.0.1; 0 picks a free one.
	Port int
	// DataDir keeps the broker's state between runs; empty: in memory.
	DataDir string
}

func (c Config) withDefaults() Config {
	if c.Topics == (topics.Set{}) {
		c.Topics = topics.DefaultSet()
	}
	if c.GRPCAddr == "" {
		c.GRPCAddr = DefaultGRPCAddr
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = DefaultHTTPAddr
	}
	if c.InstanceID == "" {
		c.InstanceID = DefaultInstanceID
	}
	if c.GroupID == "" {
		c.GroupID = validation.DefaultGroupID
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Auth.JWKS == "" {
		c.Auth.DevMode = true
	}
	return c
}

// Validate reports every problem at once (after defaults are applied).
func (c Config) Validate() error {
	c = c.withDefaults()
	errs := []error{c.Topics.Validate(), c.TopicConfig.Validate(), c.Limits.Validate(), c.Auth.Validate(), c.RateLimits.Validate()}
	if c.MaxCartsPerCustomer < 0 || c.MaxCartsPerCustomer > gateway.MaxCartsBoundCeiling {
		errs = append(errs, fmt.Errorf("max carts per customer %d: want 0 (off) to %d", c.MaxCartsPerCustomer, gateway.MaxCartsBoundCeiling))
	}
	if c.DevBroker.Port < 0 || c.DevBroker.Port > 65535 {
		errs = append(errs, fmt.Errorf("dev broker port %d: want 0..65535", c.DevBroker.Port))
	}
	for _, p := range c.Catalog {
		if err := p.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("catalog: %s: %w", p.SKU, err))
		}
	}
	if c.StartTimeout < 0 || c.ShutdownTimeout < 0 || c.KafkaStatsInterval < 0 {
		errs = append(errs, errors.New("start and shutdown timeouts and the kafka stats interval must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cartstream: %w", err)
	}
	return nil
}
