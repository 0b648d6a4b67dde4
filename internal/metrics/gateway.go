package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cartstream/cartstream/internal/gateway"
)

// Gateway are the gateway's own metrics: its writes to Kafka.
type Gateway struct {
	produce  *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

// NewGateway registers the gateway's metrics on reg.
func NewGateway(reg prometheus.Registerer) *Gateway {
	g := &Gateway{
		produce: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "gateway", Name: "produce_seconds",
			Help: "Time from handing a record to the producer to the broker's acknowledgement, by result (ok, error).",
			// acks=all on a healthy cluster is a few ms; retries reach
			// delivery.timeout.ms (30 s).
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"result"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "gateway", Name: "produce_in_flight",
			Help: "Records handed to the producer and not yet acknowledged.",
		}),
	}
	reg.MustRegister(g.produce, g.inFlight)
	return g
}

// Instrument is what gateway.Options.Instrument needs: grpc observes the
// server (nil: not observed), and every produce is timed.
func (g *Gateway) Instrument(grpc *GRPC) gateway.Instrument {
	in := gateway.Instrument{Producer: g.WrapProducer}
	if grpc != nil {
		in.Unary, in.Stream = grpc.UnaryInterceptor(), grpc.StreamInterceptor()
	}
	return in
}

// WrapProducer times p's produces.
func (g *Gateway) WrapProducer(p gateway.Producer) gateway.Producer {
	return &timedProducer{next: p, g: g}
}

type timedProducer struct {
	next gateway.Producer
	g    *Gateway
}

func (t *timedProducer) Produce(ctx context.Context, rec gateway.Record) (gateway.Position, error) {
	t.g.inFlight.Inc()
	defer t.g.inFlight.Dec()
	began := time.Now()
	pos, err := t.next.Produce(ctx, rec)
	result := "ok"
	if err != nil {
		result = "error"
	}
	t.g.produce.WithLabelValues(result).Observe(time.Since(began).Seconds())
	return pos, err
}
