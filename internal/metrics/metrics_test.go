package metrics

import (
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/events"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// scrape fetches h's metrics in the Prometheus text format and parses them.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type = %q, want text/plain", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value returns the value of the series of family name whose labels are
// exactly labels ("k=v" pairs), and whether it exists.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	want := append([]string(nil), labels...)
	sort.Strings(want)
	for _, m := range f.Metric {
		var got []string
		for _, lp := range m.Label {
			got = append(got, lp.GetName()+"="+lp.GetValue())
		}
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// waitFor scrapes until the series has the wanted value or a deadline
// passes: events are counted by another goroutine.
func waitFor(t *testing.T, h http.Handler, want float64, name string, labels ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, ok := value(scrape(t, h), name, labels...)
		if ok && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v (present %v), want %v", name, labels, got, ok, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestEventCounters(t *testing.T) {
	bus := events.New(64, 0)
	m := New(bus, nil)
	defer m.Close()
	ms := func(n int) *int { return &n }
	for _, e := range []sipphone.Event{
		{Type: sipphone.EventRegistered, Line: "kitchen"},
		{Type: sipphone.EventRegistered, Line: "hall"},
		{Type: sipphone.EventUnregistered, Line: "hall", Reason: "expired"},
		{Type: sipphone.EventOffHook, Line: "kitchen", Direction: sipphone.FromPhone},
		{Type: sipphone.EventDialed, Line: "kitchen", Number: "123"},
		{Type: sipphone.EventDTMF, Line: "kitchen", Digit: "1", Method: "rfc4733", DurationMS: ms(100)},
		{Type: sipphone.EventDTMF, Line: "kitchen", Digit: "2", Method: "rfc4733"},
		{Type: sipphone.EventDTMF, Line: "kitchen", Digit: "3", Method: "sip_info"},
		{Type: sipphone.EventFlash, Line: "kitchen", Method: "sip_info"},
		{Type: sipphone.EventOnHook, Line: "kitchen", Reason: "bye"},
		{Type: sipphone.EventRingStart, Line: "kitchen"},
		{Type: sipphone.EventRingStop, Line: "kitchen", Reason: string(sipphone.RingAnswered)},
		{Type: sipphone.EventOffHook, Line: "kitchen", Direction: sipphone.ToPhone, Answered: true},
		{Type: sipphone.EventAudioStart, Line: "kitchen", StreamID: "s1"},
		{Type: sipphone.EventPlaybackDone, Line: "kitchen"},
		{Type: sipphone.EventAudioStop, Line: "kitchen", StreamID: "s1"},
		{Type: sipphone.EventHangup, Line: "kitchen", Reason: "api"},
		{Type: sipphone.EventRingStart, Line: "kitchen"},
		{Type: sipphone.EventRingStop, Line: "kitchen", Reason: string(sipphone.RingTimeout)},
		{Type: "something_new", Line: "kitchen"},
	} {
		bus.Publish(e)
	}
	h := m.Handler()
	// The last event counted means all were: the bus delivers in order.
	waitFor(t, h, 1, "sipphone_events_total", "type=other")
	fams := scrape(t, h)
	tests := []struct {
		name   string
		metric string
		labels []string
		want   float64
	}{
		{"registration", "sipphone_registrations_total", []string{"line=kitchen"}, 1},
		{"expiry", "sipphone_unregistrations_total", []string{"line=hall", "reason=expired"}, 1},
		{"call from phone", "sipphone_calls_total", []string{"line=kitchen", "direction=from_phone"}, 1},
		{"call to phone", "sipphone_calls_total", []string{"line=kitchen", "direction=to_phone"}, 1},
		{"dialed", "sipphone_dialed_total", []string{"line=kitchen"}, 1},
		{"dtmf rfc4733", "sipphone_dtmf_total", []string{"line=kitchen", "method=rfc4733"}, 2},
		{"dtmf sip info", "sipphone_dtmf_total", []string{"line=kitchen", "method=sip_info"}, 1},
		{"flash", "sipphone_flashes_total", []string{"line=kitchen"}, 1},
		{"phone hung up", "sipphone_call_ends_total", []string{"line=kitchen", "by=phone", "reason=bye"}, 1},
		{"server hung up", "sipphone_call_ends_total", []string{"line=kitchen", "by=server", "reason=api"}, 1},
		{"rings", "sipphone_rings_total", []string{"line=kitchen"}, 2},
		{"ring answered", "sipphone_ring_outcomes_total", []string{"line=kitchen", "outcome=answered"}, 1},
		{"ring timeout", "sipphone_ring_outcomes_total", []string{"line=kitchen", "outcome=timeout"}, 1},
		{"audio start", "sipphone_audio_streams_started_total", []string{"line=kitchen"}, 1},
		{"audio stop", "sipphone_audio_streams_stopped_total", []string{"line=kitchen"}, 1},
		{"playback", "sipphone_playbacks_done_total", []string{"line=kitchen"}, 1},
		{"events by type", "sipphone_events_total", []string{"type=dtmf"}, 3},
		{"nothing missed", "sipphone_metrics_events_missed_total", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := value(fams, tt.metric, tt.labels...)
			if !ok || got != tt.want {
				t.Errorf("%s%v = %v (present %v), want %v", tt.metric, tt.labels, got, ok, tt.want)
			}
		})
	}
}

// TestResubscribesAfterOverflow drops the counting subscription and checks
// that the replay fills in what was queued behind it, without counting
// anything twice, and that what the replay buffer lost is counted missed.
func TestResubscribesAfterOverflow(t *testing.T) {
	tests := []struct {
		name       string
		replay     int
		publish    int
		wantDTMF   float64
		wantMissed float64
	}{
		{"replay covers the loss", 64, 10, 10, 0},
		{"replay too short", 3, 10, 4, 6}, // seq 1 queued, 2..7 gone, 8..10 replayed
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bus := events.New(tt.replay, 0)
			m := New(nil, nil) // no goroutine yet: start it by hand on a tiny queue
			m.bus = bus
			sub, _ := bus.Subscribe(events.Filter{}, 1, nil)
			for i := 0; i < tt.publish; i++ {
				bus.Publish(sipphone.Event{Type: sipphone.EventDTMF, Line: "l", Method: "inband"})
			}
			m.wg.Add(1)
			go m.count(sub)
			defer m.Close()
			h := m.Handler()
			waitFor(t, h, tt.wantDTMF, "sipphone_dtmf_total", "line=l", "method=inband")
			waitFor(t, h, tt.wantMissed, "sipphone_metrics_events_missed_total")
			// Later events are counted once, on the new subscription.
			bus.Publish(sipphone.Event{Type: sipphone.EventDTMF, Line: "l", Method: "inband"})
			waitFor(t, h, tt.wantDTMF+1, "sipphone_dtmf_total", "line=l", "method=inband")
		})
	}
}

func TestLineCollector(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	lines := []sipphone.LineStatus{
		{ID: "kitchen", Registered: true, State: sipphone.StateOffHook, Call: &sipphone.CallStatus{
			ID: "c1", Direction: sipphone.FromPhone, Since: sipphone.Timestamp(since),
			Media: &sipphone.MediaStats{
				RTP:       sipphone.RTPStats{PacketsReceived: 500, BytesReceived: 80000, Lost: 3, Duplicates: 1, JitterMS: 2.5, Foreign: 4, Malformed: 5, PacketsSent: 499, BytesSent: 79840},
				Jitter:    sipphone.JitterStats{Late: 2, Lost: 3, Reordered: 1, TargetMS: 40, JitterMS: 3, BufferedMS: 20},
				Concealed: 3,
				LevelIn:   sipphone.Level{RMS: -30, Peak: -12},
				LevelOut:  sipphone.Level{RMS: -120, Peak: -120},
				Listeners: 2, Speakers: 1,
			},
		}},
		{ID: "hall", State: sipphone.StateUnregistered},
	}
	m := New(nil, func() []sipphone.LineStatus { return lines })
	defer m.Close()
	fams := scrape(t, m.Handler())
	tests := []struct {
		name   string
		metric string
		labels []string
		want   float64
	}{
		{"line count", "sipphone_lines", nil, 2},
		{"registered", "sipphone_line_registered", []string{"line=kitchen"}, 1},
		{"not registered", "sipphone_line_registered", []string{"line=hall"}, 0},
		{"current state", "sipphone_line_state", []string{"line=kitchen", "state=off_hook"}, 1},
		{"other state", "sipphone_line_state", []string{"line=kitchen", "state=on_hook"}, 0},
		{"unregistered state", "sipphone_line_state", []string{"line=hall", "state=unregistered"}, 1},
		{"call start", "sipphone_call_start_time_seconds", []string{"line=kitchen", "direction=from_phone"}, float64(since.Unix())},
		{"packets received", "sipphone_call_rtp_packets_total", []string{"line=kitchen", "direction=received"}, 500},
		{"packets sent", "sipphone_call_rtp_packets_total", []string{"line=kitchen", "direction=sent"}, 499},
		{"bytes received", "sipphone_call_rtp_bytes_total", []string{"line=kitchen", "direction=received"}, 80000},
		{"lost", "sipphone_call_rtp_lost_packets", []string{"line=kitchen"}, 3},
		{"duplicates", "sipphone_call_rtp_duplicate_packets_total", []string{"line=kitchen"}, 1},
		{"foreign", "sipphone_call_rtp_dropped_packets_total", []string{"line=kitchen", "reason=foreign"}, 4},
		{"malformed", "sipphone_call_rtp_dropped_packets_total", []string{"line=kitchen", "reason=malformed"}, 5},
		{"jitter", "sipphone_call_rtp_jitter_seconds", []string{"line=kitchen"}, 0.0025},
		{"jb target", "sipphone_call_jitter_buffer_target_seconds", []string{"line=kitchen"}, 0.04},
		{"jb buffered", "sipphone_call_jitter_buffer_buffered_seconds", []string{"line=kitchen"}, 0.02},
		{"jb late", "sipphone_call_jitter_buffer_late_packets_total", []string{"line=kitchen"}, 2},
		{"concealed", "sipphone_call_concealed_frames_total", []string{"line=kitchen"}, 3},
		{"level in rms", "sipphone_call_audio_level_dbfs", []string{"line=kitchen", "direction=in", "measure=rms"}, -30},
		{"level in peak", "sipphone_call_audio_level_dbfs", []string{"line=kitchen", "direction=in", "measure=peak"}, -12},
		{"listeners", "sipphone_call_audio_listeners", []string{"line=kitchen"}, 2},
		{"speakers", "sipphone_call_audio_speakers", []string{"line=kitchen"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := value(fams, tt.metric, tt.labels...)
			if !ok || got != tt.want {
				t.Errorf("%s%v = %v (present %v), want %v", tt.metric, tt.labels, got, ok, tt.want)
			}
		})
	}
	if _, ok := value(fams, "sipphone_call_rtp_jitter_seconds", "line=hall"); ok {
		t.Error("a line without a call has call media series")
	}
	// The state changes at the next scrape: nothing is cached.
	lines[0] = sipphone.LineStatus{ID: "kitchen", Registered: true, State: sipphone.StateOnHook}
	fams = scrape(t, m.Handler())
	if got, _ := value(fams, "sipphone_line_state", "line=kitchen", "state=on_hook"); got != 1 {
		t.Errorf("after hang-up on_hook = %v, want 1", got)
	}
	if _, ok := value(fams, "sipphone_call_rtp_packets_total", "line=kitchen", "direction=received"); ok {
		t.Error("call media series remain after the call ended")
	}
}

func TestSourcesAndLatency(t *testing.T) {
	m := New(nil, nil)
	defer m.Close()
	h := m.Handler()
	// Every series exists before the sources are set, at 0.
	before := scrape(t, h)
	for _, name := range []string{"sipphone_websocket_clients", "sipphone_websocket_event_drops_total",
		"sipphone_api_auth_failures_total", "sipphone_sip_auth_failures_total"} {
		if got, ok := value(before, name); !ok || got != 0 {
			t.Errorf("%s before SetSources = %v (present %v), want 0", name, got, ok)
		}
	}
	clients := 3
	var drops, apiFail, sipFail atomic.Uint64
	drops.Add(1)
	apiFail.Add(2)
	sipFail.Add(4)
	m.SetSources(Sources{
		WSClients:       func() int { return clients },
		EventsDropped:   drops.Load,
		APIAuthFailures: apiFail.Load,
		SIPAuthFailures: sipFail.Load,
	})
	m.CaptureLatency.Observe(3 * time.Millisecond)
	m.CaptureLatency.Observe(300 * time.Microsecond)
	m.PlaybackLatency.Observe(2 * time.Second)
	fams := scrape(t, h)
	tests := []struct {
		name   string
		metric string
		labels []string
		want   float64
	}{
		{"websocket clients", "sipphone_websocket_clients", nil, 3},
		{"slow client drops", "sipphone_websocket_event_drops_total", nil, 1},
		{"api auth", "sipphone_api_auth_failures_total", nil, 2},
		{"sip auth", "sipphone_sip_auth_failures_total", nil, 4},
		{"capture latency count", "sipphone_audio_latency_seconds", []string{"direction=phone_to_client"}, 2},
		{"playback latency count", "sipphone_audio_latency_seconds", []string{"direction=client_to_phone"}, 1},
		{"go collector", "go_goroutines", nil, -1},
		{"process collector", "process_open_fds", nil, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := value(fams, tt.metric, tt.labels...)
			if !ok || (tt.want >= 0 && got != tt.want) {
				t.Errorf("%s%v = %v (present %v), want %v", tt.metric, tt.labels, got, ok, tt.want)
			}
		})
	}
	// Bucket placement: 0.3 ms is in le=0.0005 but not le=0.00025; 3 ms is in le=0.005.
	h0 := histogram(t, fams, "phone_to_client")
	cum := map[float64]uint64{}
	for _, b := range h0.Bucket {
		cum[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	for le, want := range map[float64]uint64{0.00025: 0, 0.0005: 1, 0.002: 1, 0.005: 2, 1: 2} {
		if cum[le] != want {
			t.Errorf("bucket le=%v = %d, want %d", le, cum[le], want)
		}
	}
	if got, want := h0.GetSampleSum(), 0.0033; got < want-1e-9 || got > want+1e-9 {
		t.Errorf("sum = %v, want %v", got, want)
	}
	// Read at scrape time, not copied.
	clients = 1
	sipFail.Add(1)
	fams = scrape(t, h)
	if got, _ := value(fams, "sipphone_websocket_clients"); got != 1 {
		t.Errorf("websocket clients after change = %v, want 1", got)
	}
	if got, _ := value(fams, "sipphone_sip_auth_failures_total"); got != 5 {
		t.Errorf("sip auth failures after change = %v, want 5", got)
	}
}

func histogram(t *testing.T, fams map[string]*dto.MetricFamily, direction string) *dto.Histogram {
	t.Helper()
	for _, m := range fams["sipphone_audio_latency_seconds"].GetMetric() {
		for _, lp := range m.Label {
			if lp.GetName() == "direction" && lp.GetValue() == direction {
				return m.Histogram
			}
		}
	}
	t.Fatalf("no latency histogram for %s", direction)
	return nil
}

func TestEveryMetricIsPrefixedAndDocumented(t *testing.T) {
	m := New(nil, func() []sipphone.LineStatus { return nil })
	defer m.Close()
	m.CaptureLatency.Observe(time.Millisecond)
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range fams {
		name := f.GetName()
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") || strings.HasPrefix(name, "promhttp_") {
			continue
		}
		n++
		if !strings.HasPrefix(name, "sipphone_") {
			t.Errorf("%s: not prefixed sipphone_", name)
		}
		if f.GetHelp() == "" {
			t.Errorf("%s: no help text", name)
		}
		if f.GetType() == dto.MetricType_COUNTER && !strings.HasSuffix(name, "_total") {
			t.Errorf("%s: a counter not ending in _total", name)
		}
	}
	if n < 5 {
		t.Errorf("only %d sipphone metrics gathered", n)
	}
}

func TestLatencyObserveDoesNotAllocate(t *testing.T) {
	m := New(nil, nil)
	defer m.Close()
	d := 1500 * time.Microsecond
	if n := testing.AllocsPerRun(1000, func() { m.CaptureLatency.Observe(d) }); n != 0 {
		t.Errorf("Observe allocates %v times per call, want 0", n)
	}
	var none *Latency
	none.Observe(d) // a nil Latency is a no-op
}

func TestCloseStopsCounting(t *testing.T) {
	bus := events.New(8, 0)
	m := New(bus, nil)
	if bus.Subscribers() != 1 {
		t.Fatalf("subscribers = %d, want 1", bus.Subscribers())
	}
	m.Close()
	m.Close()
	if bus.Subscribers() != 0 {
		t.Errorf("subscribers after Close = %d, want 0", bus.Subscribers())
	}
}

func BenchmarkLatencyObserve(b *testing.B) {
	m := New(nil, nil)
	defer m.Close()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m.CaptureLatency.Observe(time.Duration(i%1000) * time.Microsecond)
	}
}

func BenchmarkScrape(b *testing.B) {
	lines := []sipphone.LineStatus{
		{ID: "a", Registered: true, State: sipphone.StateOffHook, Call: &sipphone.CallStatus{Media: &sipphone.MediaStats{}}},
		{ID: "b", Registered: true, State: sipphone.StateOnHook},
	}
	m := New(nil, func() []sipphone.LineStatus { return lines })
	defer m.Close()
	h := m.Handler()
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	}
}
