package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sip-phone-api/sipphone"
)

// lineStates are the states the line state gauge enumerates: each line has
// one series per state, 1 for the current one.
var lineStates = []sipphone.LineState{
	sipphone.StateUnregistered, sipphone.StateOnHook, sipphone.StateRinging,
	sipphone.StateOffHook, sipphone.StateUnknown,
}

// lineCollector reads line state and call media statistics at scrape time.
// Call media counters restart at zero with every call (Prometheus' rate
// treats that as a counter reset) and disappear when the call ends.
type lineCollector struct {
	lines func() []sipphone.LineStatus

	lineCount, registered, state, callStart *prometheus.Desc

	rtpPackets, rtpBytes, rtpLost, rtpDup, rtpDropped, rtpJitter *prometheus.Desc

	jbTarget, jbBuffered, jbJitter, jbLate, jbLost, jbReordered, concealed *prometheus.Desc

	level, listeners, speakers *prometheus.Desc
}

func newLineCollector(lines func() []sipphone.LineStatus) *lineCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
	}
	return &lineCollector{
		lines:      lines,
		lineCount:  d("lines", "Lines known to the server (configured, or registered when none are configured)."),
		registered: d("line_registered", "1 when the line has a live registration, else 0.", "line"),
		state: d("line_state", "1 for the line's current state (unregistered, on_hook, ringing, off_hook, unknown), 0 for the others.",
			"line", "state"),
		callStart: d("call_start_time_seconds", "Unix time the line's current call began.", "line", "direction"),

		rtpPackets: d("call_rtp_packets_total", "RTP packets of the line's current call, by direction (received, sent).", "line", "direction"),
		rtpBytes:   d("call_rtp_bytes_total", "RTP payload bytes of the line's current call, by direction (received, sent).", "line", "direction"),
		rtpLost: d("call_rtp_lost_packets", "Packets lost in the line's current call: expected minus received (RFC 3550 A.3); "+
			"negative with duplicates.", "line"),
		rtpDup:     d("call_rtp_duplicate_packets_total", "Duplicate RTP packets received in the line's current call.", "line"),
		rtpDropped: d("call_rtp_dropped_packets_total", "RTP packets dropped in the line's current call, by reason (foreign source, malformed).", "line", "reason"),
		rtpJitter:  d("call_rtp_jitter_seconds", "Interarrival jitter of the line's current call (RFC 3550 A.8).", "line"),

		jbTarget:    d("call_jitter_buffer_target_seconds", "How long the jitter buffer waits for a missing packet; adapts to the measured jitter.", "line"),
		jbBuffered:  d("call_jitter_buffer_buffered_seconds", "Audio held in the jitter buffer.", "line"),
		jbJitter:    d("call_jitter_buffer_jitter_seconds", "Jitter measured by the jitter buffer.", "line"),
		jbLate:      d("call_jitter_buffer_late_packets_total", "Packets that arrived after their frame was concealed.", "line"),
		jbLost:      d("call_jitter_buffer_lost_frames_total", "Frames the jitter buffer had to conceal.", "line"),
		jbReordered: d("call_jitter_buffer_reordered_packets_total", "Packets that arrived out of order.", "line"),
		concealed:   d("call_concealed_frames_total", "Audio frames replaced by loss concealment in the line's current call.", "line"),

		level: d("call_audio_level_dbfs", "Audio level of the line's current call in dBFS, by direction (in: the phone's microphone; "+
			"out: what the phone hears) and measure (rms of the last frame; peak since the previous read of the statistics).",
			"line", "direction", "measure"),
		listeners: d("call_audio_listeners", "Clients receiving the line's call audio.", "line"),
		speakers:  d("call_audio_speakers", "Clients sending audio into the line's call.", "line"),
	}
}

// Describe implements prometheus.Collector.
func (c *lineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.lineCount, c.registered, c.state, c.callStart,
		c.rtpPackets, c.rtpBytes, c.rtpLost, c.rtpDup, c.rtpDropped, c.rtpJitter,
		c.jbTarget, c.jbBuffered, c.jbJitter, c.jbLate, c.jbLost, c.jbReordered, c.concealed,
		c.level, c.listeners, c.speakers,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *lineCollector) Collect(ch chan<- prometheus.Metric) {
	lines := c.lines()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	count := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(c.lineCount, float64(len(lines)))
	for i := range lines {
		l := &lines[i]
		gauge(c.registered, b2f(l.Registered), l.ID)
		for _, s := range lineStates {
			gauge(c.state, b2f(l.State == s), l.ID, string(s))
		}
		if l.Call == nil {
			continue
		}
		gauge(c.callStart, float64(l.Call.Since.Time().UnixMilli())/1e3, l.ID, string(l.Call.Direction))
		ms := l.Call.Media
		if ms == nil {
			continue
		}
		count(c.rtpPackets, ms.RTP.PacketsReceived, l.ID, "received")
		count(c.rtpPackets, ms.RTP.PacketsSent, l.ID, "sent")
		count(c.rtpBytes, ms.RTP.BytesReceived, l.ID, "received")
		count(c.rtpBytes, ms.RTP.BytesSent, l.ID, "sent")
		gauge(c.rtpLost, float64(ms.RTP.Lost), l.ID)
		count(c.rtpDup, ms.RTP.Duplicates, l.ID)
		count(c.rtpDropped, ms.RTP.Foreign, l.ID, "foreign")
		count(c.rtpDropped, ms.RTP.Malformed, l.ID, "malformed")
		gauge(c.rtpJitter, ms.RTP.JitterMS/1e3, l.ID)
		gauge(c.jbTarget, ms.Jitter.TargetMS/1e3, l.ID)
		gauge(c.jbBuffered, ms.Jitter.BufferedMS/1e3, l.ID)
		gauge(c.jbJitter, ms.Jitter.JitterMS/1e3, l.ID)
		count(c.jbLate, ms.Jitter.Late, l.ID)
		count(c.jbLost, ms.Jitter.Lost, l.ID)
		count(c.jbReordered, ms.Jitter.Reordered, l.ID)
		count(c.concealed, ms.Concealed, l.ID)
		gauge(c.level, ms.LevelIn.RMS, l.ID, "in", "rms")
		gauge(c.level, ms.LevelIn.Peak, l.ID, "in", "peak")
		gauge(c.level, ms.LevelOut.RMS, l.ID, "out", "rms")
		gauge(c.level, ms.LevelOut.Peak, l.ID, "out", "peak")
		gauge(c.listeners, float64(ms.Listeners), l.ID)
		gauge(c.speakers, float64(ms.Speakers), l.ID)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
