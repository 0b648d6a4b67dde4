package app

import (
	"context"
	"log/slog"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"google.golang.org/grpc"

	"github.com/cartstream/cartstream/internal/gateway"
	"github.com/cartstream/cartstream/internal/metrics"
	"github.com/cartstream/cartstream/internal/records"
	"github.com/cartstream/cartstream/projection"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// readSide is the projection and the servers over it.
type readSide struct {
	proj    *projection.Projection
	server  *projection.Server
	catalog *projection.CatalogServer
}

func newReadSide(client kafka.ConfigMap, cfg Config, codec *records.Codec, obs *metrics.Set, log *slog.Logger) (*readSide, error) {
	pc := projection.Config{
		Client: client, Topics: cfg.Topics, TopicConfig: cfg.TopicConfig, Records: codec,
		DefaultMaxQuantityPerLine: cfg.Limits.WithDefaults().MaxQuantityPerLine,
		StartTimeout:              cfg.StartTimeout, Logger: log,
		TokenWaited: obs.Projection.TokenWaited,
	}
	if cfg.KafkaStatsInterval > 0 {
		pc.KafkaStats, pc.KafkaStatsInterval = obs.Kafka.Func("projection-"), cfg.KafkaStatsInterval
	}
	p, err := projection.New(pc)
	if err != nil {
		return nil, err
	}
	return &readSide{proj: p, server: projection.NewServer(p), catalog: projection.NewCatalogServer(p)}, nil
}

func (r *readSide) Run(ctx context.Context) error   { return r.proj.Run(ctx) }
func (r *readSide) Ready() <-chan struct{}          { return r.proj.Ready() }
func (r *readSide) Reader() gateway.Reader          { return r.server }
func (r *readSide) Outcomes() gateway.Outcomes      { return r.server }
func (r *readSide) Products() gateway.ProductReader { return r.catalog }
func (r *readSide) Register(reg grpc.ServiceRegistrar) {
	cartv1.RegisterCatalogServiceServer(reg, r.catalog)
}
