package stream

import (
	"sync/atomic"
	"time"
)

// LatencyBuckets are the upper bounds of the latency histograms.
var LatencyBuckets = []time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
	20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second,
}

// Histogram counts durations into LatencyBuckets (plus one overflow
// bucket). Observe is lock-free and allocation-free.
type Histogram struct {
	counts [14]atomic.Uint64
	sum    atomic.Int64 // nanoseconds
}

// Observe records d.
func (h *Histogram) Observe(d time.Duration) {
	i := 0
	for i < len(LatencyBuckets) && d > LatencyBuckets[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// HistogramSnapshot is a histogram's state for /status.
type HistogramSnapshot struct {
	Count  uint64    `json:"count"`
	MeanMS float64   `json:"mean_ms"`
	P50MS  float64   `json:"p50_ms" doc:"Upper bound of the bucket holding the median"`
	P99MS  float64   `json:"p99_ms" doc:"Upper bound of the bucket holding the 99th percentile"`
	Counts []uint64  `json:"counts" doc:"Per bucket; bounds in bucket_bounds_ms, the last bucket is above 1 s"`
	Bounds []float64 `json:"bucket_bounds_ms"`
}

// Snapshot returns the histogram's counts and percentiles.
func (h *Histogram) Snapshot() HistogramSnapshot {
	s := HistogramSnapshot{Counts: make([]uint64, len(h.counts)), Bounds: make([]float64, len(LatencyBuckets))}
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
		s.Count += s.Counts[i]
	}
	for i, b := range LatencyBuckets {
		s.Bounds[i] = float64(b) / float64(time.Millisecond)
	}
	if s.Count == 0 {
		return s
	}
	s.MeanMS = float64(h.sum.Load()) / float64(s.Count) / float64(time.Millisecond)
	s.P50MS = s.quantile(0.5)
	s.P99MS = s.quantile(0.99)
	return s
}

func (s HistogramSnapshot) quantile(q float64) float64 {
	target := uint64(q*float64(s.Count) + 0.5)
	var seen uint64
	for i, c := range s.Counts {
		seen += c
		if seen >= target && c > 0 {
			if i < len(s.Bounds) {
				return s.Bounds[i]
			}
			return 1000
		}
	}
	return 0
}
