package bench

import (
	"slices"
	"time"
)

// Percentiles of a latency sample, in milliseconds.
type Percentiles struct {
	N    int     `json:"n"`
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentiles uses the nearest-rank method.
func percentiles(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(q float64) time.Duration {
		i := int(q*float64(len(s))+0.999999) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	var total time.Duration
	for _, d := range s {
		total += d
	}
	return Percentiles{
		N: len(s), P50: ms(rank(0.50)), P99: ms(rank(0.99)), P999: ms(rank(0.999)),
		Max: ms(s[len(s)-1]), Mean: ms(total / time.Duration(len(s))),
	}
}
