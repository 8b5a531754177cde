package sipphone

import "time"

// MediaStats are a call's media statistics as /status shows them.
type MediaStats struct {
	RTP             RTPStats          `json:"rtp"`
	Jitter          JitterStats       `json:"jitter_buffer"`
	Concealed       uint64            `json:"concealed_frames"`
	LevelIn         Level             `json:"level_in" doc:"The phone's microphone"`
	LevelOut        Level             `json:"level_out" doc:"What the phone hears"`
	CaptureLatency  HistogramSnapshot `json:"latency_phone_to_client" doc:"Server-added latency from RTP arrival to the client's WebSocket frame, jitter buffer included"`
	PlaybackLatency HistogramSnapshot `json:"latency_client_to_phone" doc:"Server-added latency from client audio (into an empty queue) to the RTP packet"`
	Listeners       int               `json:"listeners"`
	Speakers        int               `json:"speakers"`
	Loopback        bool              `json:"loopback"`
}

// RTPStats are the RTP statistics of a call (RFC 3550 section 6.4).
type RTPStats struct {
	PacketsReceived uint64    `json:"packets_received"`
	BytesReceived   uint64    `json:"bytes_received"`
	Lost            int64     `json:"lost" doc:"Expected minus received (RFC 3550 A.3); negative with duplicates"`
	Duplicates      uint64    `json:"duplicates"`
	JitterMS        float64   `json:"jitter_ms" doc:"Interarrival jitter, RFC 3550 A.8"`
	Foreign         uint64    `json:"foreign_dropped" doc:"Packets from other sources, dropped"`
	Malformed       uint64    `json:"malformed_dropped"`
	PacketsSent     uint64    `json:"packets_sent"`
	BytesSent       uint64    `json:"bytes_sent"`
	LastReceived    time.Time `json:"last_received,omitzero"`
}

// JitterStats is the receive jitter buffer's state.
type JitterStats struct {
	Received   uint64  `json:"received"`
	Duplicates uint64  `json:"duplicates"`
	Late       uint64  `json:"late" doc:"Arrived after their frame was concealed"`
	Lost       uint64  `json:"lost" doc:"Frames concealed"`
	Reordered  uint64  `json:"reordered"`
	TargetMS   float64 `json:"target_ms" doc:"Current wait for a missing packet; adapts to the measured jitter"`
	JitterMS   float64 `json:"jitter_ms"`
	BufferedMS float64 `json:"buffered_ms"`
}

// HistogramSnapshot is a latency histogram's state for /status.
type HistogramSnapshot struct {
	Count  uint64    `json:"count"`
	MeanMS float64   `json:"mean_ms"`
	P50MS  float64   `json:"p50_ms" doc:"Upper bound of the bucket holding the median"`
	P99MS  float64   `json:"p99_ms" doc:"Upper bound of the bucket holding the 99th percentile"`
	Counts []uint64  `json:"counts" doc:"Per bucket; bounds in bucket_bounds_ms, the last bucket is above 1 s"`
	Bounds []float64 `json:"bucket_bounds_ms"`
}

// Quantile returns the upper bound, in ms, of the bucket holding quantile
// q (1000 for the overflow bucket, 0 when empty).
func (s HistogramSnapshot) Quantile(q float64) float64 {
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

// LatencyBuckets are the upper bounds of the latency histograms.
var LatencyBuckets = []time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
	20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second,
}
