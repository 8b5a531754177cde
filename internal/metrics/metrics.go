// Package metrics exposes sipphone's Prometheus metrics: counters of what
// happened (registrations, calls and how they ended, rings by outcome, key
// presses by method), per-line state and call media statistics read at
// scrape time, the server's added audio latency, and the API's WebSocket
// clients and authentication failures. It owns a private registry; nothing
// is registered globally.
//
// Event counters are fed from the event bus by one goroutine that New
// starts and Close stops. Line and media gauges are not stored: they are
// read from the line owner when /metrics is scraped, so they cannot go
// stale.
package metrics

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/events"
)

// namespace prefixes every metric name.
const namespace = "sipphone"

// busQueue is the event queue of the counting goroutine. Counting is a few
// map lookups per event, so the queue only overflows when the process is
// starved; the goroutine then resubscribes and replays what it missed.
const busQueue = 4096

// Metrics holds the collectors of one server. The latency histograms are
// observed by the media path; counts the API and SIP server keep already
// are read through [Sources]; the rest is fed from the event bus and the
// line owner.
type Metrics struct {
	// CaptureLatency is the server-added latency from an RTP packet's
	// arrival to the client's WebSocket frame carrying its audio, jitter
	// buffer included. Observe does not allocate.
	CaptureLatency *Latency
	// PlaybackLatency is the server-added latency from client audio
	// arriving (into an empty queue) to the RTP packet carrying it.
	PlaybackLatency *Latency

	reg *prometheus.Registry

	events        *prometheus.CounterVec // type
	registrations *prometheus.CounterVec // line
	unregs        *prometheus.CounterVec // line, reason
	calls         *prometheus.CounterVec // line, direction
	dialed        *prometheus.CounterVec // line
	callEnds      *prometheus.CounterVec // line, by, reason
	rings         *prometheus.CounterVec // line
	ringOutcomes  *prometheus.CounterVec // line, outcome
	dtmf          *prometheus.CounterVec // line, method
	flashes       *prometheus.CounterVec // line
	audioStarts   *prometheus.CounterVec // line
	audioStops    *prometheus.CounterVec // line
	playbacks     *prometheus.CounterVec // line
	eventsMissed  prometheus.Counter

	// sources holds the funcs read at scrape time; nil funcs read 0.
	sources atomic.Pointer[Sources]

	bus       *events.Bus
	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Latency is a histogram of durations in seconds. A nil *Latency ignores
// observations, so a media path built without metrics needs no checks.
type Latency struct {
	h prometheus.Histogram
}

// Observe records d. It does not allocate.
func (l *Latency) Observe(d time.Duration) {
	if l == nil {
		return
	}
	l.h.Observe(d.Seconds())
}

// Histogram returns the underlying Prometheus histogram.
func (l *Latency) Histogram() prometheus.Histogram { return l.h }

// latencyBuckets are sipphone.LatencyBuckets in seconds: 0.1 ms to 1 s, the
// same bounds as the per-call histograms in /status.
func latencyBuckets() []float64 {
	b := make([]float64, len(sipphone.LatencyBuckets))
	for i, d := range sipphone.LatencyBuckets {
		b[i] = d.Seconds()
	}
	return b
}

// New returns the metrics of a server whose events are published on bus
// and whose lines are reported by lines (usually line.Manager.Status). It
// starts one goroutine counting bus events; Close stops it. bus and lines
// may be nil (then those metrics stay empty).
func New(bus *events.Bus, lines func() []sipphone.LineStatus) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), bus: bus, done: make(chan struct{})}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help})
	}
	vec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
	}
	m.events = vec("events_total", "Events published on the event bus, by type.", "type")
	m.registrations = vec("registrations_total", "Lines that registered (not counting refreshes).", "line")
	m.unregs = vec("unregistrations_total", "Registrations that ended, by reason: unregistered or expired.", "line", "reason")
	m.calls = vec("calls_total", "Calls that began (handset lifted or ring answered), by direction: from_phone or to_phone.", "line", "direction")
	m.dialed = vec("dialed_total", "Numbers dialed on the phone other than the auto-dial target.", "line")
	m.callEnds = vec("call_ends_total", "Calls or call attempts that ended, by who ended them (phone: on_hook with reason bye or cancel; server: hangup with reason api, shutdown or no_ack).", "line", "by", "reason")
	m.rings = vec("rings_total", "Rings started.", "line")
	m.ringOutcomes = vec("ring_outcomes_total", "Rings that ended, by outcome: answered, stopped, timeout, busy, rejected or failed.", "line", "outcome")
	m.dtmf = vec("dtmf_total", "Key presses, by detection method (rfc4733, sip_info, inband).", "line", "method")
	m.flashes = vec("flashes_total", "Hook flashes.", "line")
	m.audioStarts = vec("audio_streams_started_total", "Audio streams started.", "line")
	m.audioStops = vec("audio_streams_stopped_total", "Audio streams stopped.", "line")
	m.playbacks = vec("playbacks_done_total", "Audio playbacks to the phone that finished.", "line")
	m.eventsMissed = counter("metrics_events_missed_total", "Events the metrics could not count because they fell out of the replay buffer before being read.")

	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "audio_latency_seconds",
		Help: "Latency the server adds to call audio, by direction: phone_to_client (RTP arrival to WebSocket frame, " +
			"jitter buffer included) and client_to_phone (client audio into an empty queue to the RTP packet).",
		Buckets: latencyBuckets(),
	}, []string{"direction"})
	// Resolve the labelled children once: Observe then is a plain atomic
	// histogram update with no label lookup.
	m.CaptureLatency = &Latency{h: latency.WithLabelValues("phone_to_client").(prometheus.Histogram)}
	m.PlaybackLatency = &Latency{h: latency.WithLabelValues("client_to_phone").(prometheus.Histogram)}

	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.events, m.registrations, m.unregs, m.calls, m.dialed, m.callEnds, m.rings, m.ringOutcomes,
		m.dtmf, m.flashes, m.audioStarts, m.audioStops, m.playbacks, m.eventsMissed,
		latency, newSourcesCollector(&m.sources),
	)
	if lines != nil {
		m.reg.MustRegister(newLineCollector(lines))
	}
	if bus != nil {
		// Subscribe before returning so that no event published after New
		// is missed.
		sub, _ := bus.Subscribe(events.Filter{}, busQueue, nil)
		m.wg.Add(1)
		go m.count(sub)
	}
	return m
}

// Sources are counts other parts of the server keep, read when /metrics
// is scraped. Each func must be safe for concurrent use; a nil func reads
// as 0.
type Sources struct {
	// WSClients is the number of connected WebSocket clients (events and
	// audio): sipphone_websocket_clients.
	WSClients func() int
	// EventsDropped counts WebSocket event clients disconnected for falling
	// behind; the events they had not received were dropped (they may
	// replay them with ?since=): sipphone_websocket_event_drops_total.
	EventsDropped func() uint64
	// APIAuthFailures counts REST and WebSocket requests refused for a
	// missing or wrong bearer token: sipphone_api_auth_failures_total.
	APIAuthFailures func() uint64
	// SIPAuthFailures counts SIP requests with wrong digest credentials:
	// sipphone_sip_auth_failures_total.
	SIPAuthFailures func() uint64
	// WSRefused counts WebSocket connections refused at api.max_clients
	// or api.max_clients_per_address: sipphone_websocket_refused_total.
	WSRefused func() uint64
}

// SetSources sets the funcs read at scrape time. It may be called at any
// time, for example once the API is built.
func (m *Metrics) SetSources(s Sources) { m.sources.Store(&s) }

// Registry returns the private registry, for collectors added by other
// parts of the server.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler returns the /metrics handler: the Prometheus text format (or
// OpenMetrics when asked for), gzip when accepted.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, EnableOpenMetrics: true})
}

// Close stops counting events. It is safe to call more than once.
func (m *Metrics) Close() error {
	m.closeOnce.Do(func() {
		close(m.done)
		m.wg.Wait()
	})
	return nil
}

// count reads events until Close. When the bus drops the subscription
// because its queue overflowed, it resubscribes from the last event it
// counted and counts the replayed ones, so nothing is counted twice; what
// the replay buffer no longer holds is counted as missed.
func (m *Metrics) count(sub *events.Subscription) {
	defer m.wg.Done()
	var last uint64
	seen := false
	for {
		select {
		case <-m.done:
			sub.Close()
			return
		case e, ok := <-sub.C():
			if ok {
				m.observe(e)
				last, seen = e.Seq, true
				continue
			}
		}
		// The queue overflowed: pick up where we left off.
		var since *uint64
		if seen {
			since = &last
		}
		var replay []sipphone.Event
		sub, replay = m.bus.Subscribe(events.Filter{}, busQueue, since)
		for i := range replay {
			m.observe(&replay[i])
			if replay[i].Type != sipphone.EventGap {
				last, seen = replay[i].Seq, true
			}
		}
	}
}

// observe counts one event.
func (m *Metrics) observe(e *sipphone.Event) {
	if e.Type == sipphone.EventGap {
		if e.To >= e.From {
			m.eventsMissed.Add(float64(e.To - e.From + 1))
		}
		return
	}
	m.events.WithLabelValues(eventType(e.Type)).Inc()
	switch e.Type {
	case sipphone.EventRegistered:
		m.registrations.WithLabelValues(e.Line).Inc()
	case sipphone.EventUnregistered:
		m.unregs.WithLabelValues(e.Line, e.Reason).Inc()
	case sipphone.EventOffHook:
		m.calls.WithLabelValues(e.Line, string(e.Direction)).Inc()
	case sipphone.EventDialed:
		m.dialed.WithLabelValues(e.Line).Inc()
	case sipphone.EventOnHook:
		m.callEnds.WithLabelValues(e.Line, "phone", e.Reason).Inc()
	case sipphone.EventHangup:
		m.callEnds.WithLabelValues(e.Line, "server", e.Reason).Inc()
	case sipphone.EventRingStart:
		m.rings.WithLabelValues(e.Line).Inc()
	case sipphone.EventRingStop:
		m.ringOutcomes.WithLabelValues(e.Line, e.Reason).Inc()
	case sipphone.EventDTMF:
		m.dtmf.WithLabelValues(e.Line, e.Method).Inc()
	case sipphone.EventFlash:
		m.flashes.WithLabelValues(e.Line).Inc()
	case sipphone.EventAudioStart:
		m.audioStarts.WithLabelValues(e.Line).Inc()
	case sipphone.EventAudioStop:
		m.audioStops.WithLabelValues(e.Line).Inc()
	case sipphone.EventPlaybackDone:
		m.playbacks.WithLabelValues(e.Line).Inc()
	}
}

// knownTypes are the event types counted under their own label value; any
// other is "other", so a new type cannot grow the label set unboundedly.
var knownTypes = func() map[string]bool {
	k := map[string]bool{sipphone.EventState: true}
	for _, t := range sipphone.EventTypes {
		k[t] = true
	}
	return k
}()

func eventType(t string) string {
	if knownTypes[t] {
		return t
	}
	return "other"
}

// sourcesCollector reports the Sources' counts. Every series is present
// from the start (0 until a func is set), so rate() works from the first
// scrape.
type sourcesCollector struct {
	sources                                    *atomic.Pointer[Sources]
	wsClients, drops, apiFailures, sipFailures *prometheus.Desc
	wsRefused                                  *prometheus.Desc
}

func newSourcesCollector(s *atomic.Pointer[Sources]) *sourcesCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, nil, nil)
	}
	return &sourcesCollector{
		sources:   s,
		wsClients: d("websocket_clients", "Connected WebSocket clients (events and audio)."),
		drops: d("websocket_event_drops_total", "WebSocket event clients disconnected for falling behind; "+
			"the events they had not received were dropped (they may replay them with ?since=)."),
		apiFailures: d("api_auth_failures_total", "REST and WebSocket requests refused for a missing or wrong bearer token."),
		sipFailures: d("sip_auth_failures_total", "SIP requests with wrong digest credentials."),
		wsRefused:   d("websocket_refused_total", "WebSocket connections refused at api.max_clients or api.max_clients_per_address (503)."),
	}
}

// Describe implements prometheus.Collector.
func (c *sourcesCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.wsClients
	ch <- c.drops
	ch <- c.apiFailures
	ch <- c.sipFailures
	ch <- c.wsRefused
}

// Collect implements prometheus.Collector.
func (c *sourcesCollector) Collect(ch chan<- prometheus.Metric) {
	var s Sources
	if p := c.sources.Load(); p != nil {
		s = *p
	}
	var clients float64
	if s.WSClients != nil {
		clients = float64(s.WSClients())
	}
	ch <- prometheus.MustNewConstMetric(c.wsClients, prometheus.GaugeValue, clients)
	count := func(d *prometheus.Desc, f func() uint64) {
		var v float64
		if f != nil {
			v = float64(f())
		}
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	count(c.drops, s.EventsDropped)
	count(c.apiFailures, s.APIAuthFailures)
	count(c.sipFailures, s.SIPAuthFailures)
	count(c.wsRefused, s.WSRefused)
}
