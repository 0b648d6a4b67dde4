package metrics_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// value returns the value of the sample of name whose labels include
// want ("k=v" pairs), and whether there is one. A histogram's value is its
// sample count.
func value(tb testing.TB, g prometheus.Gatherer, name string, want ...string) (float64, bool) {
	tb.Helper()
	mfs, err := g.Gather()
	if err != nil {
		tb.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if hasLabels(m, want) {
				return sampleValue(m), true
			}
		}
	}
	return 0, false
}

func mustValue(tb testing.TB, g prometheus.Gatherer, name string, want ...string) float64 {
	tb.Helper()
	v, ok := value(tb, g, name, want...)
	if !ok {
		tb.Fatalf("no sample %s%v", name, want)
	}
	return v
}

func hasLabels(m *dto.Metric, want []string) bool {
	have := map[string]string{}
	for _, l := range m.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	for _, kv := range want {
		k, v, _ := strings.Cut(kv, "=")
		if have[k] != v {
			return false
		}
	}
	return true
}

func sampleValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}
