package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/announce"
	"github.com/sip-phone-api/sipphone/internal/bot"
	"github.com/sip-phone-api/sipphone/internal/console"
	"github.com/sip-phone-api/sipphone/internal/webdocs"
)

// routes registers every REST endpoint; wsRoutes below the WebSocket ones.
// Handlers live in the file of their topic.
func routes(api huma.API, mux *http.ServeMux, d Deps) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if d.Ready != nil && !d.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"status":"not ready"}` + "\n"))
			return
		}
		w.Write([]byte(`{"status":"ready"}` + "\n"))
	})

	docs := webdocs.Handler("openapi.json")
	mux.Handle("GET /docs", docs)
	mux.Handle("GET /docs/", docs)
	mux.Handle("GET /console/", console.Handler()) // the web console; "GET /console" redirects here
	mux.Handle("GET "+WebSocketSchemaPath, WebSocketSchemaHandler(api.OpenAPI()))
	if d.Metrics != nil {
		mux.Handle("GET /metrics", d.Metrics)
	}

	huma.Register(api, huma.Operation{OperationID: "get-status", Method: http.MethodGet, Path: "/status",
		Summary: "Status of every line", Tags: []string{"Lines"},
		Description: "Every line with its registration, hook state, call and last key. The top-level off_hook, " +
			"last_dtmf and audio_streaming fields describe the first line, for clients of the original API; off_hook is null " +
			"when the first line's hook state is unknown, or no line is known yet."},
		statusHandler(d))
	huma.Register(api, huma.Operation{OperationID: "list-lines", Method: http.MethodGet, Path: "/lines",
		Summary: "List lines", Tags: []string{"Lines"}}, listLines(d))
	huma.Register(api, huma.Operation{OperationID: "get-line", Method: http.MethodGet, Path: "/lines/{id}",
		Summary: "Get one line", Tags: []string{"Lines"}}, getLine(d))
	huma.Register(api, huma.Operation{OperationID: "delete-line", Method: http.MethodDelete, Path: "/lines/{id}",
		Summary: "Forget a learned line", Tags: []string{"Lines"}, DefaultStatus: http.StatusNoContent,
		Description: "Forgets a line learned from REGISTER (when no lines are configured): it leaves /lines, /status and the state file, " +
			"and an unregistered {reason: deleted} event is published if it was registered. A port that registers again comes back as a line. " +
			"404 unknown line, 409 while the line rings or has a call, 422 for a configured line (remove it from the configuration instead)."},
		deleteLine(d))

	ringOp := func(id, path, summary string) huma.Operation {
		return huma.Operation{OperationID: id, Method: http.MethodPost, Path: path, Summary: summary, Tags: []string{"Ringing"},
			DefaultStatus: http.StatusAccepted,
			Description: "Sends an INVITE to the line's registered contact and answers at once with a ring_id. " +
				"The RTP port is reserved and the INVITE built before the answer, so a ring that cannot start fails here: " +
				"503 when no phone has registered yet, the line is not registered, or no RTP port is free (the detail says which). " +
				"Progress arrives as events: ring_start when the INVITE left (caller_id and pattern always present, null when not given), " +
				"ring_progress when the phone answered 180 (it is really ringing), then ring_stop {reason, detail: the SIP status or local cause} " +
				"or off_hook {answered: true}. 404 unknown line, 409 line ringing or off-hook, 422 unknown pattern."}
	}
	huma.Register(api, ringOp("ring", "/ring", "Ring the phone"), ringHandler(d))
	huma.Register(api, ringOp("ring-line", "/lines/{id}/ring", "Ring a line"), ringLineHandler(d))

	stopDesc := "Stops a ring in progress with CANCEL; a ring_stop {reason: stopped} event follows. 409 when the line is not ringing."
	huma.Register(api, huma.Operation{OperationID: "stop-ring", Method: http.MethodDelete, Path: "/ring",
		Summary: "Stop ringing", Description: stopDesc, Tags: []string{"Ringing"}, DefaultStatus: http.StatusAccepted}, stopRingQuery(d))
	huma.Register(api, huma.Operation{OperationID: "stop-ring-post", Method: http.MethodPost, Path: "/ring/stop",
		Summary: "Stop ringing (POST form)", Description: stopDesc, Tags: []string{"Ringing"}, DefaultStatus: http.StatusAccepted}, stopRingBody(d))
	huma.Register(api, huma.Operation{OperationID: "stop-ring-line", Method: http.MethodDelete, Path: "/lines/{id}/ring",
		Summary: "Stop ringing a line", Description: stopDesc, Tags: []string{"Ringing"}, DefaultStatus: http.StatusAccepted}, stopRingLine(d))

	hangDesc := "Ends the active call with BYE (or stops a ring). The adapter then plays reorder tone and does not " +
		"report when the handset is put down, so the line's state becomes unknown until the next SIP event; a hangup event is published. " +
		"409 when the line has no call."
	huma.Register(api, huma.Operation{OperationID: "hangup", Method: http.MethodPost, Path: "/hangup",
		Summary: "Hang up", Description: hangDesc, Tags: []string{"Calls"}, DefaultStatus: http.StatusAccepted}, hangupHandler(d))
	huma.Register(api, huma.Operation{OperationID: "hangup-line", Method: http.MethodPost, Path: "/lines/{id}/hangup",
		Summary: "Hang up a line", Description: hangDesc, Tags: []string{"Calls"}, DefaultStatus: http.StatusAccepted}, hangupLine(d))

	// Audio
	huma.Register(api, huma.Operation{OperationID: "audio-start", Method: http.MethodPost, Path: "/audio/start",
		Summary: "Start an audio stream", Tags: []string{"Audio"}, DefaultStatus: http.StatusCreated,
		Description: "Attaches a stream to the line's call and returns its ws_url. On that WebSocket the server sends one binary " +
			"frame per frame_ms of the phone's audio in the chosen format; binary frames the client sends (any length, same format) are " +
			"queued (up to 120 s) and played to the phone at real time. Text messages: {\"type\":\"clear\"} drops queued audio; " +
			"{\"type\":\"mark\",\"name\":\"x\"} is echoed back when the audio before it has been played. A client connecting late starts at live audio " +
			"(what was queued before it connected is dropped). format accepts PCMU/PCMA for ulaw/alaw; sample_rate any rate from 8000 to 48000 Hz. " +
			"409 when the line has no call, 422 for a format or rate that cannot be served."}, audioStart(d))
	huma.Register(api, huma.Operation{OperationID: "audio-stop", Method: http.MethodPost, Path: "/audio/stop",
		Summary: "Stop an audio stream", Tags: []string{"Audio"},
		Description: "Ends a stream; its WebSocket is closed and an audio_stop event {reason: stopped} is published. The body is optional: " +
			"stream_id stops that stream, line (body or query) stops every stream of the line, and with neither the only stream running is stopped " +
			"(422 when several run). A stream that already ended in the last 10 minutes answers 200 with the reason it ended " +
			"(call_ended, client_gone, not_connected, stopped) and already_ended true. 404 when nothing matches."}, audioStop(d))
	huma.Register(api, huma.Operation{OperationID: "loopback", Method: http.MethodPost, Path: "/lines/{id}/loopback",
		Summary: "Audio loopback test", Tags: []string{"Audio"},
		Description: "With enabled true (the default: no body, or {}, switches loopback on) the phone hears its own microphone " +
			"(after the server's receive path): a test of both audio directions. {\"enabled\": false} switches it off. 409 without a call."}, loopback(d))
	huma.Register(api, huma.Operation{OperationID: "play", Method: http.MethodPost, Path: "/lines/{id}/play",
		Summary: "Play a WAV file into the call", Tags: []string{"Audio"}, DefaultStatus: http.StatusAccepted, MaxBodyBytes: maxWAV,
		Description: "The body is a WAV file (16-bit PCM at any rate, mu-law or A-law; mono or stereo, downmixed), resampled to 8 kHz and " +
			"mixed into what the phone hears at real time. A playback_done event follows when it has been played. 409 without a call, 422 for a file that cannot be read."}, play(d))

	// Operations
	huma.Register(api, huma.Operation{OperationID: "diagnostics", Method: http.MethodGet, Path: "/diagnostics",
		Summary: "Diagnostics", Tags: []string{"Operations"},
		Description: "The last SIP messages (first lines; whole messages while tracing), registrations, RTP statistics of calls, " +
			"WebSocket connections, and the effective configuration with secrets redacted."}, diagnostics(d))
	huma.Register(api, huma.Operation{OperationID: "sip-trace", Method: http.MethodPost, Path: "/diagnostics/sip-trace",
		Summary: "Switch SIP message tracing", Tags: []string{"Operations"},
		Description: "With enabled true (the default: no body, or {}, switches tracing on), /diagnostics keeps whole SIP messages (they include the adapter's digest responses " +
			"but never passwords) and they are logged at debug level. {\"enabled\": false} switches it off."}, sipTrace(d))

	// Announcements (internal/announce: POST /lines/{id}/announce)
	if d.Announce != nil {
		announce.Register(api, d.Announce, httpError)
	}

	// Voice bots (internal/bot: POST/DELETE /lines/{id}/connect, /connections)
	if d.Bots != nil {
		bot.Register(api, d.Bots)
	}
}

// wsRoutes registers the WebSocket endpoints (port 8001, and the REST port
// when both are one).
func wsRoutes(mux *http.ServeMux, d Deps) {
	mux.HandleFunc("GET /ws", eventsWS(d))
	mux.HandleFunc("GET /audio/{id}", audioWS(d))
}

// LineQuery selects a line by query parameter; empty means the first line.
type LineQuery struct {
	Line string `query:"line" doc:"Line id; the first line when omitted" maxLength:"64"`
}

// LinePath selects a line by path.
type LinePath struct {
	ID string `path:"id" doc:"Line id" maxLength:"64"`
}

// StatusBody is the answer of GET /status.
type StatusBody struct {
	Lines          []sipphone.LineStatus `json:"lines"`
	OffHook        *bool                 `json:"off_hook" doc:"First line: true off-hook, false on-hook, null unknown (also when no line is known yet)"`
	LastDTMF       string                `json:"last_dtmf" doc:"First line: last key pressed"`
	AudioStreaming bool                  `json:"audio_streaming" doc:"First line: an audio stream is active"`
	Version        string                `json:"version"`
	UptimeS        float64               `json:"uptime_s"`
	Auth           string                `json:"auth" enum:"enabled,disabled"`
}

type statusOutput struct{ Body StatusBody }

func statusHandler(d Deps) func(context.Context, *struct{}) (*statusOutput, error) {
	return func(ctx context.Context, _ *struct{}) (*statusOutput, error) {
		lines := d.Lines.Status()
		b := StatusBody{Lines: lines, Version: d.Version, UptimeS: time.Since(d.Started).Round(time.Millisecond).Seconds(), Auth: "enabled"}
		if d.AuthDisabled {
			b.Auth = "disabled"
		}
		if len(lines) > 0 {
			b.OffHook, b.LastDTMF, b.AudioStreaming = lines[0].OffHook, lines[0].LastDTMF, lines[0].AudioStreaming
		} // no line yet: the hook state is unknown (null)
		return &statusOutput{Body: b}, nil
	}
}

type linesOutput struct {
	Body []sipphone.LineStatus
}

type deleteLineOutput struct{}

func deleteLine(d Deps) func(context.Context, *LinePath) (*deleteLineOutput, error) {
	return func(ctx context.Context, in *LinePath) (*deleteLineOutput, error) {
		if err := d.Lines.DeleteLine(in.ID); err != nil {
			return nil, httpError(err)
		}
		return &deleteLineOutput{}, nil
	}
}

func listLines(d Deps) func(context.Context, *struct{}) (*linesOutput, error) {
	return func(ctx context.Context, _ *struct{}) (*linesOutput, error) {
		return &linesOutput{Body: d.Lines.Status()}, nil
	}
}

type lineOutput struct{ Body sipphone.LineStatus }

func getLine(d Deps) func(context.Context, *LinePath) (*lineOutput, error) {
	return func(ctx context.Context, in *LinePath) (*lineOutput, error) {
		st, err := d.Lines.Line(in.ID)
		if err != nil {
			return nil, httpError(err)
		}
		return &lineOutput{Body: st}, nil
	}
}

// RingBody is the optional body of a ring request.
type RingBody struct {
	Line     string             `json:"line,omitempty" doc:"Line id; the first line when omitted (the query parameter line works too)" maxLength:"64"`
	CallerID *sipphone.CallerID `json:"caller_id,omitempty" doc:"Caller ID sent to the phone"`
	Pattern  string             `json:"pattern,omitempty" doc:"Ring pattern name, mapped to an Alert-Info header (see ht802.ring_patterns: ring1-ring10, bellcore-dr1-dr5 by default)" maxLength:"32"`
	TimeoutS float64            `json:"timeout_s,omitempty" doc:"Seconds to ring before giving up (default ht802.ring_timeout, 30)" minimum:"1" maximum:"600"`
	Connect  *bot.Request       `json:"connect,omitempty" doc:"Connect the call to this voice bot when the phone answers (as the body of POST /lines/{id}/connect)"`
}

// RingResult answers a ring request.
type RingResult struct {
	RingID string `json:"ring_id"`
	Line   string `json:"line"`
}

type ringInput struct {
	LineQuery
	Body *RingBody
}

type ringOutput struct{ Body RingResult }

func doRing(d Deps, lineID string, b *RingBody) (*ringOutput, error) {
	var o sipphone.RingOptions
	if b != nil {
		if b.CallerID != nil {
			o.CallerID = *b.CallerID
		}
		o.Pattern = b.Pattern
		o.Timeout = time.Duration(b.TimeoutS * float64(time.Second))
		if b.Connect != nil {
			if d.Bots == nil {
				return nil, huma.Error503ServiceUnavailable("connect: the voice-bot bridge is not running")
			}
			if err := b.Connect.Validate(); err != nil {
				return nil, httpError(fmt.Errorf("connect: %w", err))
			}
		}
	}
	id, l, err := d.Lines.Ring(lineID, o)
	if err != nil {
		return nil, httpError(err)
	}
	if b != nil && b.Connect != nil {
		if err := d.Bots.ConnectOnAnswer(id, *b.Connect); err != nil {
			return nil, httpError(err)
		}
	}
	return &ringOutput{Body: RingResult{RingID: id, Line: l}}, nil
}

func ringHandler(d Deps) func(context.Context, *ringInput) (*ringOutput, error) {
	return func(ctx context.Context, in *ringInput) (*ringOutput, error) {
		lineID := in.Line
		if in.Body != nil && in.Body.Line != "" {
			lineID = in.Body.Line
		}
		return doRing(d, lineID, in.Body)
	}
}

type ringLineInput struct {
	LinePath
	Body *RingBody
}

func ringLineHandler(d Deps) func(context.Context, *ringLineInput) (*ringOutput, error) {
	return func(ctx context.Context, in *ringLineInput) (*ringOutput, error) {
		return doRing(d, in.ID, in.Body)
	}
}

// LineBody names a line in a JSON body.
type LineBody struct {
	Line string `json:"line,omitempty" doc:"Line id; the first line when omitted" maxLength:"64"`
}

// Accepted answers requests whose effect follows as events.
type Accepted struct {
	Line   string `json:"line"`
	Status string `json:"status" doc:"What was started: stopping, hanging_up"`
}

type acceptedOutput struct{ Body Accepted }

func stopRing(d Deps, lineID string) (*acceptedOutput, error) {
	l, err := d.Lines.StopRing(lineID)
	if err != nil {
		return nil, httpError(err)
	}
	return &acceptedOutput{Body: Accepted{Line: l, Status: "stopping"}}, nil
}

func stopRingQuery(d Deps) func(context.Context, *LineQuery) (*acceptedOutput, error) {
	return func(ctx context.Context, in *LineQuery) (*acceptedOutput, error) { return stopRing(d, in.Line) }
}

type lineBodyInput struct {
	LineQuery
	Body *LineBody
}

func (in *lineBodyInput) line() string {
	if in.Body != nil && in.Body.Line != "" {
		return in.Body.Line
	}
	return in.Line
}

func stopRingBody(d Deps) func(context.Context, *lineBodyInput) (*acceptedOutput, error) {
	return func(ctx context.Context, in *lineBodyInput) (*acceptedOutput, error) { return stopRing(d, in.line()) }
}

func stopRingLine(d Deps) func(context.Context, *LinePath) (*acceptedOutput, error) {
	return func(ctx context.Context, in *LinePath) (*acceptedOutput, error) { return stopRing(d, in.ID) }
}

func hangup(d Deps, lineID string) (*acceptedOutput, error) {
	l, err := d.Lines.Hangup(lineID)
	if err != nil {
		return nil, httpError(err)
	}
	return &acceptedOutput{Body: Accepted{Line: l, Status: "hanging_up"}}, nil
}

func hangupHandler(d Deps) func(context.Context, *lineBodyInput) (*acceptedOutput, error) {
	return func(ctx context.Context, in *lineBodyInput) (*acceptedOutput, error) { return hangup(d, in.line()) }
}

func hangupLine(d Deps) func(context.Context, *LinePath) (*acceptedOutput, error) {
	return func(ctx context.Context, in *LinePath) (*acceptedOutput, error) { return hangup(d, in.ID) }
}
