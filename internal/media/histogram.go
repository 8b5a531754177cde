package media

import (
	"github.com/sip-phone-api/sipphone"

	"sync/atomic"
	"time"
)

// Histogram counts durations into sipphone.LatencyBuckets (plus one overflow
// bucket). Observe is lock-free and allocation-free.
type Histogram struct {
	counts [14]atomic.Uint64
	sum    atomic.Int64 // nanoseconds
}

// Observe records d.
func (h *Histogram) Observe(d time.Duration) {
	i := 0
	for i < len(sipphone.LatencyBuckets) && d > sipphone.LatencyBuckets[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// Snapshot returns the histogram's counts and percentiles.
func (h *Histogram) Snapshot() sipphone.HistogramSnapshot {
	s := sipphone.HistogramSnapshot{Counts: make([]uint64, len(h.counts)), Bounds: make([]float64, len(sipphone.LatencyBuckets))}
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
		s.Count += s.Counts[i]
	}
	for i, b := range sipphone.LatencyBuckets {
		s.Bounds[i] = float64(b) / float64(time.Millisecond)
	}
	if s.Count == 0 {
		return s
	}
	s.MeanMS = float64(h.sum.Load()) / float64(s.Count) / float64(time.Millisecond)
	s.P50MS = s.Quantile(0.5)
	s.P99MS = s.Quantile(0.99)
	return s
}
