package metrics_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cartstream/cartstream/internal/metrics"
)

// recorder is a Registerer that keeps what is registered, so a test can
// list every metric name, whether or not it has a sample yet.
type recorder struct{ cs []prometheus.Collector }

func (r *recorder) Register(c prometheus.Collector) error   { r.cs = append(r.cs, c); return nil }
func (r *recorder) MustRegister(cs ...prometheus.Collector) { r.cs = append(r.cs, cs...) }
func (r *recorder) Unregister(prometheus.Collector) bool    { return false }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// definedNames are the names of every cartstream_ metric the package
// defines (a histogram's series add _bucket, _sum and _count).
func definedNames(t *testing.T) map[string]bool {
	r := &recorder{}
	metrics.NewGRPC(r)
	metrics.NewGateway(r)
	metrics.NewManager(r)
	metrics.NewProjection(r)
	metrics.NewInventory(r)
	metrics.NewKafkaStats(r)
	names := map[string]bool{}
	for _, c := range r.cs {
		ch := make(chan *prometheus.Desc, 64)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			m := fqName.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("desc without a name: %s", d)
			}
			if !strings.HasPrefix(m[1], "cartstream_") {
				t.Errorf("%s: not prefixed cartstream_", m[1])
			}
			names[m[1]] = true
		}
	}
	return names
}

var usedName = regexp.MustCompile(`cartstream_[a-z0-9_]+`)

// The dashboard, the alerts and the operations guide name only metrics
// that exist: a renamed metric breaks this test, not a dashboard in
// production.
func TestDashboardAlertsAndDocsNameDefinedMetrics(t *testing.T) {
	defined := definedNames(t)
	for _, file := range []string{
		"../../deploy/observability/grafana-dashboard.json",
		"../../deploy/observability/alerts.yml",
		"../../deploy/observability/README.md",
		"../../docs/operations.md",
	} {
		body, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range usedName.FindAllString(string(body), -1) {
			if strings.HasSuffix(name, "_") {
				continue // a family: cartstream_kafka_*
			}
			base := name
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(name, suffix); ok && defined[b] {
					base = b
				}
			}
			if !defined[base] {
				t.Errorf("%s names %s, which internal/metrics does not define", file, name)
			}
		}
	}
}
