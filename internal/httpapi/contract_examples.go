package httpapi

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/sip-phone-api/sipphone"
)

// Examples of every request and success answer in the OpenAPI document,
// keyed by operation id (and status). They are values of the handler
// types, so they marshal as the handlers answer; TestContractExamples
// checks that every operation has them and that each validates against its
// schema, so a new operation fails that test until it gets its examples here.

// exampleAt is the moment every example happens.
var exampleAt = time.Date(2026, 6, 1, 18, 30, 0, 0, time.UTC)

func exampleTS(d time.Duration) sipphone.Timestamp { return sipphone.Timestamp(exampleAt.Add(d)) }

// exampleRegistration is the kitchen port's binding.
var exampleRegistration = &sipphone.Registration{
	Contact: "sip:phone1@192.168.1.40:5060", Source: "192.168.1.40:5060", Transport: "udp",
	UserAgent: "Grandstream HT802 1.0.53.2", Expires: exampleAt.Add(50 * time.Minute), Since: exampleAt.Add(-2 * time.Hour),
}

func exampleBool(b bool) *bool { return &b }

// exampleLines: the kitchen phone in a call, the hall phone idle.
func exampleLines() []sipphone.LineStatus {
	return []sipphone.LineStatus{
		{ID: "kitchen", User: "phone1", DisplayName: "Kitchen", Registered: true, Registration: exampleRegistration,
			Contact: exampleRegistration.Contact, UserAgent: exampleRegistration.UserAgent,
			State: sipphone.StateOffHook, OffHook: exampleBool(true), LastDTMF: "5", LastDTMFAt: ptr(exampleTS(-3 * time.Second)),
			Call: &sipphone.CallStatus{ID: "3f2a9c1e@192.168.1.40", Direction: sipphone.ToPhone, Since: exampleTS(-40 * time.Second),
				Codec: "PCMU", LocalRTP: "192.168.1.10:10002", RemoteRTP: "192.168.1.40:5004", DTMFPT: 101},
			AudioStreaming: true},
		{ID: "hall", User: "phone2", Registered: true, Registration: &sipphone.Registration{
			Contact: "sip:phone2@192.168.1.40:5062", Source: "192.168.1.40:5062", Transport: "udp",
			UserAgent: "Grandstream HT802 1.0.53.2", Expires: exampleAt.Add(50 * time.Minute), Since: exampleAt.Add(-2 * time.Hour)},
			State: sipphone.StateOnHook, OffHook: exampleBool(false)},
	}
}

func ptr[T any](v T) *T { return &v }

// exampleMedia is a call's media after a minute.
var exampleMedia = &sipphone.MediaStats{
	RTP: sipphone.RTPStats{PacketsReceived: 3000, BytesReceived: 516000, Lost: 2, JitterMS: 1.4,
		PacketsSent: 3000, BytesSent: 516000, LastReceived: exampleAt.Add(-20 * time.Millisecond)},
	Jitter:    sipphone.JitterStats{Received: 2998, Lost: 2, TargetMS: 20, JitterMS: 1.4, BufferedMS: 20},
	Concealed: 2,
	LevelIn:   sipphone.Level{RMS: -28.5, Peak: -12.1}, LevelOut: sipphone.Level{RMS: -120, Peak: -120},
	CaptureLatency: sipphone.HistogramSnapshot{Count: 2990, MeanMS: 21.3, P50MS: 50, P99MS: 50,
		Counts: []uint64{0, 0, 0, 0, 0, 0, 10, 1500, 1480, 0, 0, 0, 0, 0}, Bounds: []float64{0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 250, 500, 1000}},
	PlaybackLatency: sipphone.HistogramSnapshot{Counts: make([]uint64, 14), Bounds: []float64{0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 250, 500, 1000}},
	Listeners:       1,
}

// requestExamples are the JSON request bodies, by operation id.
var requestExamples = map[string]any{
	"ring":           RingBody{Line: "kitchen", CallerID: &sipphone.CallerID{Name: "Front door", Number: "100"}, Pattern: "ring2", TimeoutS: 20},
	"ring-line":      RingBody{CallerID: &sipphone.CallerID{Name: "Front door", Number: "100"}, Pattern: "ring2", TimeoutS: 20},
	"stop-ring-post": LineBody{Line: "kitchen"},
	"hangup":         LineBody{Line: "kitchen"},
	"audio-start":    AudioStartBody{Line: "kitchen", Direction: "both", Format: "pcm16", SampleRate: 16000, FrameMS: 20},
	"audio-stop":     AudioStopBody{StreamID: "s7"},
	"loopback":       LoopbackBody{Enabled: &yes},
	"sip-trace":      TraceBody{Enabled: &yes},
}

var yes = true

// binaryRequestExamples describe request bodies that are not JSON (a WAV
// file): how to send one.
var binaryRequestExamples = map[string]*huma.Example{
	"play": {Summary: "A WAV file, e.g. 16 kHz 16-bit mono PCM",
		Description: "Send the file as the body: curl -X POST --data-binary @doorbell.wav -H 'Content-Type: audio/wav' http://sipphone:8000/lines/kitchen/play"},
}

// responseExamples are the success answers, by operation id and status.
var responseExamples = map[string]map[int]any{
	"get-status": {200: StatusBody{Lines: exampleLines(), OffHook: exampleBool(true), LastDTMF: "5", AudioStreaming: true,
		Version: "1.4.0", UptimeS: 7260.5, Auth: "enabled"}},
	"list-lines":     {200: exampleLines()},
	"get-line":       {200: exampleLines()[0]},
	"ring":           {202: RingResult{RingID: "r12", Line: "kitchen"}},
	"ring-line":      {202: RingResult{RingID: "r12", Line: "kitchen"}},
	"stop-ring":      {202: Accepted{Line: "kitchen", Status: "stopping"}},
	"stop-ring-post": {202: Accepted{Line: "kitchen", Status: "stopping"}},
	"stop-ring-line": {202: Accepted{Line: "kitchen", Status: "stopping"}},
	"hangup":         {202: Accepted{Line: "kitchen", Status: "hanging_up"}},
	"hangup-line":    {202: Accepted{Line: "kitchen", Status: "hanging_up"}},
	"audio-start": {201: AudioStream{StreamID: "s7", Line: "kitchen", WSURL: "ws://sipphone.local:8001/audio/s7",
		Direction: "both", Format: "pcm16", SampleRate: 16000, FrameMS: 20}},
	"audio-stop": {200: AudioStopped{StreamID: "s7", Reason: "stopped"}},
	"loopback":   {200: LoopbackState{Line: "kitchen", Loopback: true}},
	"play":       {202: Playback{PlaybackID: "p3", Line: "kitchen", DurationS: 2.5}},
	"diagnostics": {200: Diagnostics{Version: "1.4.0", UptimeS: 7260.5, SIPTracing: false,
		SIPMessages: []sipphone.SIPMessage{
			{Time: exampleAt.Add(-41 * time.Second), Direction: "out", Transport: "udp", Peer: "192.168.1.40:5060", FirstLine: "INVITE sip:phone1@192.168.1.40:5060 SIP/2.0", Size: 912},
			{Time: exampleAt.Add(-40 * time.Second), Direction: "in", Transport: "udp", Peer: "192.168.1.40:5060", FirstLine: "SIP/2.0 200 OK", Size: 788},
		},
		Registrations: []RegistrationInfo{{Line: "kitchen", User: "phone1", Registration: exampleRegistration, ExpiresInS: 3000}},
		RTP: []RTPInfo{{Line: "kitchen", CallID: "3f2a9c1e@192.168.1.40", Codec: "PCMU", Local: "192.168.1.10:10002",
			Remote: "192.168.1.40:5004", Media: exampleMedia}},
		WebSockets: []ClientInfo{
			{Kind: "events", Peer: "192.168.1.20:51544", Since: exampleAt.Add(-time.Hour), Types: []string{"off_hook", "on_hook", "dtmf"}},
			{Kind: "audio", Peer: "192.168.1.20:51602", Since: exampleAt.Add(-30 * time.Second), StreamID: "s7", QueueDepth: 1},
		},
		Config: json.RawMessage(`{"server":{"host":"0.0.0.0","sip_port":5060,"rest_port":8000,"websocket_port":8001},"lines":[{"id":"kitchen","user":"phone1","password":"<redacted>"}]}`),
	}},
	"sip-trace": {200: TraceState{SIPTracing: true}},
}

// parameterExamples are the path and query parameters, by name.
var parameterExamples = map[string]any{
	"id":   "kitchen",
	"line": "kitchen",
}

// documentExamplesAndMessages adds the examples above to every operation
// and the WebSocket message schemas (websocket_schemas.go) to the document.
func documentExamplesAndMessages(oapi *huma.OpenAPI) {
	for _, item := range oapi.Paths {
		for _, op := range []*huma.Operation{item.Get, item.Post, item.Put, item.Patch, item.Delete} {
			if op != nil {
				documentExamples(op)
			}
		}
	}
	documentMessages(oapi)
}

// documentExamples puts the examples above into one operation.
func documentExamples(op *huma.Operation) {
	for _, p := range op.Parameters {
		if ex, ok := parameterExamples[p.Name]; ok && p.Example == nil {
			p.Example = ex
		}
	}
	if rb := op.RequestBody; rb != nil {
		for ct, mt := range rb.Content {
			switch {
			case mt.Example != nil || len(mt.Examples) > 0:
			case isJSON(ct):
				if ex, ok := requestExamples[op.OperationID]; ok {
					mt.Example = ex
				}
			default:
				if ex, ok := binaryRequestExamples[op.OperationID]; ok {
					mt.Examples = map[string]*huma.Example{"file": ex}
				}
			}
		}
	}
	for code, r := range op.Responses {
		if len(code) != 3 || code[0] != '2' {
			continue
		}
		status, _ := strconv.Atoi(code)
		ex, ok := responseExamples[op.OperationID][status]
		if !ok {
			continue
		}
		for ct, mt := range r.Content {
			if isJSON(ct) && mt.Example == nil {
				mt.Example = ex
			}
		}
	}
}

func isJSON(contentType string) bool {
	return contentType == "application/json" || strings.HasSuffix(contentType, "+json")
}
