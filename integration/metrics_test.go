package integration

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cartstream/cartstream/internal/gateway"
	"github.com/cartstream/cartstream/internal/metrics"
	"github.com/cartstream/cartstream/projection"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
	"github.com/cartstream/cartstream/validation"
)

// statsInterval is librdkafka's statistics interval in this test: short,
// so the cartstream_kafka_* gauges appear within the test's deadlines.
const statsInterval = 500 * time.Millisecond

// serveMetrics serves set on a loopback port until the test ends and
// returns its /metrics URL.
func serveMetrics(t *testing.T, set *metrics.Set) string {
	t.Helper()
	s, err := metrics.Listen("127.0.0.1:0", set.Handler())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("metrics server: %v", err)
		}
	})
	return "http://" + s.Addr().String() + "/metrics"
}

// scrape is one parsed scrape of a /metrics endpoint.
type scrape map[string]*dto.MetricFamily

func scrapeMetrics(t *testing.T, url string) scrape {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return mfs
}

// samples are the samples of name whose labels include want.
func (s scrape) samples(name string, want map[string]string) []*dto.Metric {
	var out []*dto.Metric
	mf := s[name]
	if mf == nil {
		return nil
	}
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		ok := true
		for k, v := range want {
			ok = ok && have[k] == v
		}
		if ok {
			out = append(out, m)
		}
	}
	return out
}

// value is the one sample's value (a histogram's count), or an error.
func (s scrape) value(name string, want map[string]string) (float64, error) {
	ms := s.samples(name, want)
	if len(ms) != 1 {
		return 0, fmt.Errorf("%s%v: %d samples, want 1", name, want, len(ms))
	}
	m := ms[0]
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue(), nil
	case m.Gauge != nil:
		return m.Gauge.GetValue(), nil
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount()), nil
	}
	return 0, fmt.Errorf("%s%v: untyped", name, want)
}

// check is one expectation on a scrape.
type check struct {
	name   string
	labels map[string]string
	ok     func(float64) bool
	want   string // for the failure message
}

func eq(v float64) (func(float64) bool, string) {
	return func(x float64) bool { return x == v }, fmt.Sprint("= ", v)
}
func gt(v float64) (func(float64) bool, string) {
	return func(x float64) bool { return x > v }, fmt.Sprint("> ", v)
}
func ge(v float64) (func(float64) bool, string) {
	return func(x float64) bool { return x >= v }, fmt.Sprint(">= ", v)
}

func expect(name string, labels map[string]string, cond func(float64) (func(float64) bool, string), v float64) check {
	ok, want := cond(v)
	return check{name, labels, ok, want}
}

// failing returns the first check the scrape fails, or "".
func (s scrape) failing(checks []check) string {
	for _, c := range checks {
		v, err := s.value(c.name, c.labels)
		if err != nil {
			return err.Error()
		}
		if !c.ok(v) {
			return fmt.Sprintf("%s%v = %v, want %s", c.name, c.labels, v, c.want)
		}
	}
	return ""
}

// eventually scrapes url until every check holds and every validator
// returns "": committed counters, the offset probe and librdkafka's
// statistics all settle within a few intervals of the workload's end.
func eventually(t *testing.T, service, url string, checks []check, validators ...func(scrape) string) scrape {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		s := scrapeMetrics(t, url)
		bad := s.failing(checks)
		for _, v := range validators {
			if bad == "" {
				bad = v(s)
			}
		}
		if bad == "" {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s /metrics after 60s: %s", service, bad)
		}
		time.Sleep(100 * time.Millisecond) // polling the endpoint with a deadline
	}
}

type labels = map[string]string

// A known workload through gateway, manager and projection, then a scrape
// of each service's /metrics: the values, not only the names.
func TestMetricsOfEveryServiceAfterAKnownWorkload(t *testing.T) {
	const partitions = 3
	e := newCartEnv(t, partitions)
	e.seedCatalog(t, demoProducts()...)

	mgrSet, projSet, gwSet := metrics.ForManager(), metrics.ForProjection(), metrics.ForGateway()
	mgrURL, projURL, gwURL := serveMetrics(t, mgrSet), serveMetrics(t, projSet), serveMetrics(t, gwSet)

	mcfg := e.managerConfig(t, "m1")
	mcfg.Observer = mgrSet.Manager
	mcfg.KafkaStats, mcfg.KafkaStatsInterval = mgrSet.Kafka.Func("manager-"), statsInterval
	m, _ := e.startManager(t, mcfg)
	mgrSet.Manager.Attach(m)

	proj := e.startProjection(t, func(c *projection.Config, so *projection.ServeOptions) {
		c.TokenWaited = projSet.Projection.TokenWaited
		c.KafkaStats, c.KafkaStatsInterval = projSet.Kafka.Func("projection-"), statsInterval
		c.OffsetProbeInterval = 200 * time.Millisecond
		so.ServerOptions = projSet.GRPC.ServerOptions()
	})
	projSet.Projection.Attach(proj.p)
	proj.waitServing(t, time.Minute)
	srv := projection.NewServer(proj.p)
	gw := e.startGatewayWith(t, srv, srv, nil, func(o *gateway.Options) {
		o.Instrument = gwSet.Gateway.Instrument(gwSet.GRPC)
		o.Kafka.Stats = func(doc string) { gwSet.Kafka.Observe("gateway-producer", doc) }
		o.Kafka.StatsInterval = statsInterval
	})

	// 10 commands over 5 carts: 8 accepted, 1 UNKNOWN_SKU, 1 INACTIVE_SKU;
	// then one refused by the gateway's syntax check (nothing produced).
	skus := []string{"SKU-A", "SKU-B", "SKU-C", "SKU-D", "SKU-NOPE", "SKU-A", "SKU-B", "SKU-OFF", "SKU-C", "SKU-D"}
	var last *cartv1.AddItemResponse
	for i, sku := range skus {
		cartID := fmt.Sprintf("metrics-cart-%d", i%5)
		resp, err := gw.AddItem(rpcCtx(t, 30*time.Second), &cartv1.AddItemRequest{
			CartId: cartID, RequestId: fmt.Sprintf("metrics-r%d", i), CustomerId: "cust-1", Sku: sku, Quantity: 1, WaitForOutcome: true,
		})
		if err != nil || resp.GetOutcome() == nil {
			t.Fatalf("AddItem %d (%s): %v %v", i, sku, resp, err)
		}
		last = resp
	}
	if _, err := gw.AddItem(rpcCtx(t, 10*time.Second), &cartv1.AddItemRequest{CartId: "metrics-cart-0", RequestId: "metrics-bad", CustomerId: "cust-1", Sku: "SKU-A"}); codeOf(err).String() != "InvalidArgument" {
		t.Fatalf("AddItem with quantity 0: %v, want InvalidArgument", err)
	}
	if _, err := gw.GetCart(rpcCtx(t, 10*time.Second), &cartv1.GetCartRequest{CartId: "metrics-cart-4", ConsistencyToken: last.GetConsistencyToken()}); err != nil {
		t.Fatalf("GetCart with a token: %v", err)
	}

	t.Run("manager", func(t *testing.T) { checkManagerMetrics(t, mgrURL, partitions) })
	t.Run("projection", func(t *testing.T) { checkProjectionMetrics(t, projURL, partitions) })
	t.Run("gateway", func(t *testing.T) { checkGatewayMetrics(t, gwURL) })
}

func checkManagerMetrics(t *testing.T, url string, partitions int) {
	checks := []check{
		expect("cartstream_manager_requests_total", labels{"disposition": "accepted"}, eq, 8),
		expect("cartstream_manager_requests_total", labels{"disposition": "rejected"}, eq, 2),
		expect("cartstream_manager_requests_total", labels{"disposition": "malformed"}, eq, 0),
		expect("cartstream_manager_rejections_total", labels{"reason": "UNKNOWN_SKU"}, eq, 1),
		expect("cartstream_manager_rejections_total", labels{"reason": "INACTIVE_SKU"}, eq, 1),
		expect("cartstream_manager_rejections_total", labels{"reason": "LINE_LIMIT"}, eq, 0),
		expect("cartstream_manager_transactions_committed_total", nil, gt, 0),
		expect("cartstream_manager_transactions_aborted_total", nil, eq, 0),
		expect("cartstream_manager_session_rebuilds_total", nil, eq, 0),
		expect("cartstream_manager_owned_partitions", nil, eq, float64(partitions)),
		expect("cartstream_manager_restore_seconds", nil, gt, 0),
		expect("cartstream_manager_commit_seconds", nil, gt, 0),
		expect("cartstream_kafka_broker_rtt_seconds", labels{"client": "manager-producer-0", "stat": "avg"}, ge, 0),
		expect("cartstream_kafka_broker_up", labels{"client": "manager-consumer"}, eq, 1),
	}
	s := eventually(t, "manager", url, checks, noLag)
	// Every request of a committed transaction is in exactly one batch.
	batches := s.samples("cartstream_manager_batch_requests", nil)
	if len(batches) != 1 || batches[0].GetHistogram().GetSampleSum() != 10 {
		t.Errorf("batch_requests: %v, want a sum of 10 requests", batches)
	}
	commits, _ := s.value("cartstream_manager_transactions_committed_total", nil)
	if n, _ := s.value("cartstream_manager_batch_requests", nil); n != commits {
		t.Errorf("batches observed %v != transactions committed %v", n, commits)
	}
	checkRuntime(t, s)
}

func checkProjectionMetrics(t *testing.T, url string, partitions int) {
	checks := []check{
		expect("cartstream_projection_ready", nil, eq, 1),
		expect("cartstream_projection_history_ready", nil, eq, 1),
		expect("cartstream_projection_carts", nil, eq, 5),
		expect("cartstream_projection_rebuild_progress_ratio", nil, eq, 1),
		expect("cartstream_projection_token_wait_seconds", labels{"result": "ok"}, gt, 0),
		expect("cartstream_projection_watch_subscribers", nil, eq, 0),
		expect("cartstream_grpc_server_handled_total", labels{"service": "grpc.health.v1.Health", "method": "Check", "code": "OK"}, gt, 0),
		expect("cartstream_kafka_broker_rtt_seconds", labels{"client": "projection-state", "stat": "avg"}, ge, 0),
	}
	for p := range partitions {
		part := labels{"partition": fmt.Sprint(p)}
		checks = append(checks,
			expect("cartstream_projection_staleness_offsets", part, eq, 0),
			expect("cartstream_projection_open_transaction_offsets", part, eq, 0))
	}
	s := eventually(t, "projection", url, checks, stateWritten, caughtUp(partitions))
	checkRuntime(t, s)
}

// caughtUp: applied is the last stable offset, partition by partition
// (staleness alone reads 0 too while the probe trails the follower).
func caughtUp(partitions int) func(scrape) string {
	return func(s scrape) string {
		for p := range partitions {
			part := labels{"partition": fmt.Sprint(p)}
			applied, err := s.value("cartstream_projection_applied_offset", part)
			if err != nil {
				return err.Error()
			}
			stable, err := s.value("cartstream_projection_last_stable_offset", part)
			if err != nil {
				return err.Error()
			}
			if applied != stable {
				return fmt.Sprintf("partition %d: applied %v, last stable %v", p, applied, stable)
			}
		}
		return ""
	}
}

func checkGatewayMetrics(t *testing.T, url string) {
	addItem := labels{"service": "cartstream.cart.v1.CartService", "method": "AddItem"}
	with := func(l labels, k, v string) labels {
		out := labels{k: v}
		for a, b := range l {
			out[a] = b
		}
		return out
	}
	s := eventually(t, "gateway", url, []check{
		expect("cartstream_grpc_server_handled_total", with(addItem, "code", "OK"), eq, 10),
		expect("cartstream_grpc_server_handled_total", with(addItem, "code", "InvalidArgument"), eq, 1),
		expect("cartstream_grpc_server_handling_seconds", addItem, eq, 11),
		expect("cartstream_grpc_server_in_flight", addItem, eq, 0),
		expect("cartstream_grpc_server_handled_total", labels{"method": "GetCart", "code": "OK"}, eq, 1),
		// Only the 10 valid commands reached Kafka.
		expect("cartstream_gateway_produce_seconds", labels{"result": "ok"}, eq, 10),
		expect("cartstream_gateway_produce_in_flight", nil, eq, 0),
		expect("cartstream_kafka_broker_rtt_seconds", labels{"client": "gateway-producer", "stat": "avg"}, ge, 0),
	})
	if ms := s.samples("cartstream_gateway_produce_seconds", labels{"result": "error"}); len(ms) != 0 {
		t.Errorf("produce errors recorded: %v", ms)
	}
	checkRuntime(t, s)
}

// noLag: the manager's consumer has consumed every request. librdkafka
// reports a lag only for partitions it has a position in (a partition no
// request went to has none), so at least one must be there.
func noLag(s scrape) string {
	ms := s.samples("cartstream_kafka_consumer_lag", labels{"client": "manager-consumer"})
	if len(ms) == 0 {
		return "no consumer lag of the manager yet"
	}
	for _, m := range ms {
		if v := m.GetGauge().GetValue(); v != 0 {
			return fmt.Sprintf("manager consumer lag %v: %v", m.GetLabel(), v)
		}
	}
	return ""
}

// stateWritten: the probe has seen the snapshots the workload wrote.
func stateWritten(s scrape) string {
	var sum float64
	for _, m := range s.samples("cartstream_projection_last_stable_offset", nil) {
		sum += m.GetGauge().GetValue()
	}
	if sum < 10 { // 10 requests, a snapshot each, plus the commit markers
		return fmt.Sprintf("cart.state last stable offsets sum to %v, want >= 10", sum)
	}
	return ""
}

// checkRuntime: every service exports the Go runtime and process metrics.
func checkRuntime(t *testing.T, s scrape) {
	t.Helper()
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if len(s.samples(name, nil)) == 0 {
			t.Errorf("no %s", name)
		}
	}
}

// Aborted transactions are processed again; the counters count each
// request once, when its transaction finally commits.
func TestMetricsCountAbortedBatchesOnce(t *testing.T) {
	e := newCartEnv(t, 1)
	e.seedCatalog(t, demoProducts()...)
	set := metrics.ForManager()
	url := serveMetrics(t, set)
	plan := newFaultPlan()
	plan.arm(&faultRule{at: validation.FaultCommit, fault: validation.FaultAbortable, times: 2})
	m, _ := e.startFaulty(t, "m1", plan, func(c *validation.Config) { c.Observer = set.Manager })
	set.Manager.Attach(m)

	e.send(t,
		e.add("abort-cart", "abort-r1", "SKU-A", 1),
		e.add("abort-cart", "abort-r2", "SKU-B", 1),
		e.add("abort-cart", "abort-r3", "SKU-NOPE", 1),
		e.add("abort-cart", "abort-r4", "SKU-C", 1))
	e.waitDrained(t, time.Minute)
	if n := plan.count(validation.FaultCommit); n != 2 {
		t.Fatalf("commit faults struck %d times, want 2", n)
	}
	s := eventually(t, "manager", url, []check{
		expect("cartstream_manager_transactions_aborted_total", nil, eq, 2),
		expect("cartstream_manager_requests_total", labels{"disposition": "accepted"}, eq, 3),
		expect("cartstream_manager_requests_total", labels{"disposition": "rejected"}, eq, 1),
		expect("cartstream_manager_rejections_total", labels{"reason": "UNKNOWN_SKU"}, eq, 1),
	})
	batches := s.samples("cartstream_manager_batch_requests", nil)
	if len(batches) != 1 || batches[0].GetHistogram().GetSampleSum() != 4 {
		t.Errorf("batch_requests: %v, want a sum of 4 requests (aborted batches not observed)", batches)
	}
}
