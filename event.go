package sipphone

import (
	"encoding/json"
	"time"
)

// Event types published on the WebSocket event stream.
const (
	EventState        = "state" // snapshot sent first to every new client
	EventRegistered   = "registered"
	EventUnregistered = "unregistered"
	EventOffHook      = "off_hook"
	EventOnHook       = "on_hook"
	EventRingStart    = "ring_start"
	EventRingStop     = "ring_stop"
	EventRingProgress = "ring_progress" // the phone answered 180: it is really ringing
	EventDialed       = "dialed"
	EventDTMF         = "dtmf"
	EventDTMFStart    = "dtmf_start"
	EventFlash        = "flash"
	EventAudioStart   = "audio_start"
	EventAudioStop    = "audio_stop"
	EventPlaybackDone = "playback_done"
	EventAudioLevel   = "audio_level"
	EventHangup       = "hangup" // we ended the call; hook state unknown
	EventGap          = "gap"    // replay could not cover the requested range
)

// EventTypes lists every type a client may filter on.
var EventTypes = []string{
	EventRegistered, EventUnregistered, EventOffHook, EventOnHook,
	EventRingStart, EventRingProgress, EventRingStop, EventDialed, EventHangup, EventDTMF, EventDTMFStart,
	EventFlash, EventAudioStart, EventAudioStop, EventPlaybackDone, EventAudioLevel,
}

// Event is one thing that happened, as sent to clients: one JSON object with
// the common fields type, line, seq and timestamp, plus the fields of its type.
// Seq is assigned by the event bus and strictly increases.
type Event struct {
	Type      string    `json:"type"`
	Line      string    `json:"line,omitempty"`
	Seq       uint64    `json:"seq"`
	Timestamp Timestamp `json:"timestamp"`

	CallID     string    `json:"call_id,omitempty"`
	RingID     string    `json:"ring_id,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Detail     string    `json:"detail,omitempty"`
	Number     string    `json:"number,omitempty"`
	Answered   bool      `json:"answered,omitempty"`
	Direction  Direction `json:"direction,omitempty"`
	CallerID   *CallerID `json:"caller_id,omitempty"`
	Pattern    string    `json:"pattern,omitempty"`
	Digit      string    `json:"digit,omitempty"`
	Method     string    `json:"method,omitempty"`
	DurationMS *int      `json:"duration_ms,omitempty"`
	StreamID   string    `json:"stream_id,omitempty"`
	PlaybackID string    `json:"playback_id,omitempty"`
	Format     string    `json:"format,omitempty"`
	SampleRate int       `json:"sample_rate,omitempty"`
	// Levels of an audio_level event, in dBFS.
	LevelIn   *Level       `json:"level_in,omitempty"`
	LevelOut  *Level       `json:"level_out,omitempty"`
	Contact   string       `json:"contact,omitempty"`
	UserAgent string       `json:"user_agent,omitempty"`
	Lines     []LineStatus `json:"lines,omitempty"`
	// From and To bound a gap: events with seq in [From, To] were lost.
	From uint64 `json:"from,omitempty"`
	To   uint64 `json:"to,omitempty"`
}

// MarshalJSON implements json.Marshaler. A ring_start event always carries
// caller_id and pattern, null when the ring did not set them, and a state
// snapshot always carries lines ([] when none), so clients can rely on the
// keys; other events omit empty fields.
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event // no methods: no recursion
	// In the structs below the outer fields shadow the embedded ones of
	// the same JSON name.
	switch e.Type {
	case EventRingStart:
		var pattern *string
		if e.Pattern != "" {
			pattern = &e.Pattern
		}
		return json.Marshal(struct {
			plain
			CallerID *CallerID `json:"caller_id"`
			Pattern  *string   `json:"pattern"`
		}{plain(e), e.CallerID, pattern})
	case EventState:
		lines := e.Lines
		if lines == nil {
			lines = []LineStatus{}
		}
		return json.Marshal(struct {
			plain
			Lines []LineStatus `json:"lines"`
		}{plain(e), lines})
	}
	return json.Marshal(plain(e))
}

// Level is an audio level in dBFS (-120 for silence).
type Level struct {
	RMS  float64 `json:"rms_dbfs"`
	Peak float64 `json:"peak_dbfs"`
}

// Timestamp marshals as RFC 3339 UTC with milliseconds, e.g.
// "2025-01-29T12:00:00.000Z".
type Timestamp time.Time

// TimestampLayout is the wire format of Timestamp.
const TimestampLayout = "2006-01-02T15:04:05.000Z07:00"

// MarshalJSON implements json.Marshaler.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(TimestampLayout)+2)
	b = append(b, '"')
	b = time.Time(t).UTC().AppendFormat(b, TimestampLayout)
	return append(b, '"'), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	v, err := time.Parse(`"`+time.RFC3339Nano+`"`, string(b))
	if err != nil {
		return err
	}
	*t = Timestamp(v)
	return nil
}

// Time returns the timestamp as a time.Time.
func (t Timestamp) Time() time.Time { return time.Time(t) }

// LineStatus is the state of one line as reported by GET /status, GET /lines
// and the state snapshot event.
type LineStatus struct {
	ID             string        `json:"id"`
	User           string        `json:"user"`
	DisplayName    string        `json:"display_name,omitempty"`
	Registered     bool          `json:"registered"`
	Registration   *Registration `json:"registration,omitempty"`
	Contact        string        `json:"contact,omitempty"`
	UserAgent      string        `json:"user_agent,omitempty"`
	State          LineState     `json:"state" enum:"unregistered,on_hook,ringing,off_hook,unknown"`
	OffHook        *bool         `json:"off_hook" doc:"true off-hook, false on-hook, null when unknown (after a server-side hang-up)"`
	LastDTMF       string        `json:"last_dtmf,omitempty"`
	LastDTMFAt     *Timestamp    `json:"last_dtmf_at,omitempty"`
	Call           *CallStatus   `json:"call,omitempty"`
	Ring           *RingStatus   `json:"ring,omitempty"`
	AudioStreaming bool          `json:"audio_streaming"`
}

// CallStatus describes the active call of a line.
type CallStatus struct {
	ID        string    `json:"id" doc:"SIP Call-ID"`
	Direction Direction `json:"direction" enum:"from_phone,to_phone"`
	Dialed    string    `json:"dialed,omitempty" doc:"Number dialed on the phone, when not the auto-dial target"`
	Since     Timestamp `json:"since"`
	Codec     string    `json:"codec,omitempty" doc:"Negotiated codec: PCMU or PCMA"`
	LocalRTP  string    `json:"local_rtp,omitempty" doc:"Our RTP address (host:port)"`
	RemoteRTP string    `json:"remote_rtp,omitempty" doc:"The phone's RTP address from its SDP"`
	DTMFPT    int       `json:"telephone_event_pt,omitempty" doc:"Negotiated RFC 4733 payload type, 0 when none"`
	// Media holds RTP statistics, audio levels and latency histograms.
	Media *MediaStats `json:"media,omitempty"`
}

// RingStatus describes a ring in progress.
type RingStatus struct {
	ID       string    `json:"id"`
	Since    Timestamp `json:"since"`
	CallerID *CallerID `json:"caller_id,omitempty"`
	Pattern  string    `json:"pattern,omitempty"`
	Timeout  float64   `json:"timeout_s"`
}
