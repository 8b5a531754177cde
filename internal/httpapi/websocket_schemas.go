package httpapi

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"sync"

	"github.com/danielgtaylor/huma/v2"

	"github.com/sip-phone-api/sipphone"
)

// The WebSocket messages as JSON Schemas (2020-12, the dialect of OpenAPI
// 3.1), in the OpenAPI document's top-level x-websockets extension (with the
// endpoints they belong to) and as one standalone JSON Schema document
// (WebSocketSchemaHandler) that type generators take:
//
//	/ws          server → client: WebSocketEvent (one of Event*, by type)
//	/audio/{id}  client → server: AudioClientMessage (clear, mark)
//	             server → client: AudioServerMessage (mark, error)
//
// Every event schema lists all of its fields and allows no others, so a
// field added to an event without a line here fails TestWebSocketMessages
// (internal/app), which validates every message of a call against these.

// Names of the message schemas in components/schemas.
const (
	SchemaWebSocketEvent     = "WebSocketEvent"
	SchemaAudioClientMessage = "AudioClientMessage"
	SchemaAudioServerMessage = "AudioServerMessage"
)

// eventDoc describes one event type: its schema name, what it means, and
// its fields beyond the common type, seq and timestamp.
type eventDoc struct {
	typ, schema, description string
	required, optional       []string
	example                  string // JSON
}

var eventDocs = []eventDoc{
	{sipphone.EventState, "EventState", "Sent first to every client connecting without ?since=: the state of every line. Its seq is the last event's, so ?since=seq resumes right after it.",
		nil, []string{"lines"}, `{"type":"state","seq":41,"timestamp":"2026-06-01T18:30:00.000Z","lines":[{"id":"kitchen","user":"phone1","registered":true,"state":"on_hook","off_hook":false,"audio_streaming":false}]}`},
	{sipphone.EventGap, "EventGap", "With ?since=SEQ, when the server no longer holds some of the events after SEQ (replay buffer exceeded, or a restart): events with seq from..to are lost; fetch GET /status.",
		[]string{"from", "to"}, nil, `{"type":"gap","seq":1200,"timestamp":"2026-06-01T18:30:00.000Z","from":42,"to":175}`},
	{sipphone.EventRegistered, "EventRegistered", "A line registered (a new binding, not a refresh).",
		[]string{"line", "contact"}, []string{"user_agent"}, `{"type":"registered","line":"kitchen","seq":42,"timestamp":"2026-06-01T18:30:00.000Z","contact":"sip:phone1@192.168.1.40:5060","user_agent":"Grandstream HT802 1.0.53.2"}`},
	{sipphone.EventUnregistered, "EventUnregistered", "A line's registration was removed or expired.",
		[]string{"line", "reason"}, nil, `{"type":"unregistered","line":"kitchen","seq":43,"timestamp":"2026-06-01T18:30:00.000Z","reason":"expired"}`},
	{sipphone.EventOffHook, "EventOffHook", "A call is up: the handset was lifted (direction from_phone) or a ring was answered (direction to_phone, answered true, with the ring_id).",
		[]string{"line", "call_id", "direction"}, []string{"ring_id", "answered"}, `{"type":"off_hook","line":"kitchen","seq":47,"timestamp":"2026-06-01T18:30:00.000Z","call_id":"3f2a9c1e@sipphone","ring_id":"r12","answered":true,"direction":"to_phone"}`},
	{sipphone.EventOnHook, "EventOnHook", "The call ended by the phone (reason bye, cancel) or for lack of RTP (rtp_timeout); the handset is down.",
		[]string{"line", "call_id", "reason"}, nil, `{"type":"on_hook","line":"kitchen","seq":52,"timestamp":"2026-06-01T18:30:00.000Z","call_id":"3f2a9c1e@sipphone","reason":"bye"}`},
	{sipphone.EventHangup, "EventHangup", "The server ended the call (reason api, shutdown); the line's hook state is unknown until the next SIP event.",
		[]string{"line", "call_id", "reason"}, nil, `{"type":"hangup","line":"kitchen","seq":52,"timestamp":"2026-06-01T18:30:00.000Z","call_id":"3f2a9c1e@sipphone","reason":"api"}`},
	{sipphone.EventRingStart, "EventRingStart", "The INVITE of a ring left for the phone.",
		[]string{"line", "ring_id", "call_id"}, []string{"caller_id", "pattern"}, `{"type":"ring_start","line":"kitchen","seq":44,"timestamp":"2026-06-01T18:30:00.000Z","ring_id":"r12","call_id":"3f2a9c1e@sipphone","caller_id":{"name":"Front door","number":"100"},"pattern":"ring2"}`},
	{sipphone.EventRingProgress, "EventRingProgress", "The phone answered 180 Ringing: it is really ringing.",
		[]string{"line", "ring_id", "call_id"}, nil, `{"type":"ring_progress","line":"kitchen","seq":45,"timestamp":"2026-06-01T18:30:00.000Z","ring_id":"r12","call_id":"3f2a9c1e@sipphone"}`},
	{sipphone.EventRingStop, "EventRingStop", "A ring ended; reason says how, detail gives the SIP status when there is one.",
		[]string{"line", "ring_id", "reason"}, []string{"call_id", "detail"}, `{"type":"ring_stop","line":"kitchen","seq":46,"timestamp":"2026-06-01T18:30:00.000Z","ring_id":"r12","call_id":"3f2a9c1e@sipphone","reason":"timeout","detail":"480 Temporarily Unavailable"}`},
	{sipphone.EventBotConnected, "EventBotConnected", "A voice bot's WebSocket is open and its start message was sent; stream_id is the connection id.",
		[]string{"line", "stream_id", "call_id"}, nil, `{"type":"bot_connected","line":"kitchen","seq":60,"timestamp":"2026-06-01T18:30:00.000Z","stream_id":"c41f0a","call_id":"3f2a9c1e@sipphone"}`},
	{sipphone.EventBotDisconnected, "EventBotDisconnected", "A voice-bot bridge ended; reason: unreachable, tls_error, twiml_error, closed, connection_lost, malformed_message, too_slow, call_ended, stopped, shutdown or not_started.",
		[]string{"line", "reason"}, []string{"stream_id", "call_id", "detail"}, `{"type":"bot_disconnected","line":"kitchen","seq":61,"timestamp":"2026-06-01T18:30:00.000Z","stream_id":"c41f0a","call_id":"3f2a9c1e@sipphone","reason":"closed","detail":"the bot closed the connection (1000)"}`},
	{sipphone.EventAnnounceStart, "EventAnnounceStart", "An announce began ringing the phone; duration_ms is the message's length (times its repeats).",
		[]string{"line", "ring_id", "duration_ms"}, []string{"caller_id", "pattern"}, `{"type":"announce_start","line":"kitchen","seq":70,"timestamp":"2026-06-01T18:30:00.000Z","ring_id":"r13","caller_id":{"name":"Doorbell","number":"100"},"pattern":"ring3","duration_ms":4200}`},
	{sipphone.EventAnnounceDone, "EventAnnounceDone", "An announce ended; reason: played, no_answer, hung_up_early or failed.",
		[]string{"line", "ring_id", "reason"}, []string{"call_id"}, `{"type":"announce_done","line":"kitchen","seq":75,"timestamp":"2026-06-01T18:30:00.000Z","ring_id":"r13","call_id":"3f2a9c1e@sipphone","reason":"played"}`},
	{sipphone.EventDialed, "EventDialed", "The number dialed on the phone, when it is not the auto-dial target.",
		[]string{"line", "call_id", "number"}, nil, `{"type":"dialed","line":"kitchen","seq":48,"timestamp":"2026-06-01T18:30:00.000Z","call_id":"8d1e@192.168.1.40","number":"123"}`},
	{sipphone.EventDTMF, "EventDTMF", "A key press ended (one event per press, whichever way it arrived).",
		[]string{"line", "call_id", "digit", "method", "duration_ms"}, nil, `{"type":"dtmf","line":"kitchen","seq":49,"timestamp":"2026-06-01T18:30:00.000Z","call_id":"3f2a9c1e@sipphone","digit":"5","method":"rfc4733","duration_ms":120}`},
	{sipphone.EventDTMFStart, "EventDTMFStart", "A key went down (RFC 4733 and in-band only; dtmf follows when it is released).",
		[]string{"line", "call_id", "digit", "method"}, nil, `{"type":"dtmf_start","line":"kitchen","seq":48,"timestamp":"2026-06-01T18:30:00.000Z","call_id":"3f2a9c1e@sipphone","digit":"5","method":"rfc4733"}`},
	{sipphone.EventFlash, "EventFlash", "A hook flash.",
		[]string{"line", "call_id", "method"}, nil, `{"type":"flash","line":"kitchen","seq":50,"timestamp":"2026-06-01T18:30:00.000Z","call_id":"3f2a9c1e@sipphone","method":"rfc4733"}`},
	{sipphone.EventAudioStart, "EventAudioStart", "An audio stream (POST /audio/start) was attached to the line's call.",
		[]string{"line", "stream_id", "call_id", "direction", "format", "sample_rate"}, nil, `{"type":"audio_start","line":"kitchen","seq":51,"timestamp":"2026-06-01T18:30:00.000Z","stream_id":"s7","call_id":"3f2a9c1e@sipphone","direction":"both","format":"pcm16","sample_rate":16000}`},
	{sipphone.EventAudioStop, "EventAudioStop", "An audio stream ended (reason stopped, call_ended, client_gone, not_connected).",
		[]string{"line", "stream_id", "reason"}, nil, `{"type":"audio_stop","line":"kitchen","seq":53,"timestamp":"2026-06-01T18:30:00.000Z","stream_id":"s7","reason":"call_ended"}`},
	{sipphone.EventPlaybackDone, "EventPlaybackDone", "A WAV file (POST /lines/{id}/play) has been played (reason finished) or was cut short.",
		[]string{"line", "playback_id", "reason"}, nil, `{"type":"playback_done","line":"kitchen","seq":54,"timestamp":"2026-06-01T18:30:00.000Z","playback_id":"p3","reason":"finished"}`},
	{sipphone.EventAudioLevel, "EventAudioLevel", "Audio levels of a call, every audio.level_events while it lasts (when configured).",
		[]string{"line", "call_id", "level_in", "level_out"}, nil, `{"type":"audio_level","line":"kitchen","seq":55,"timestamp":"2026-06-01T18:30:00.000Z","call_id":"3f2a9c1e@sipphone","level_in":{"rms_dbfs":-28.5,"peak_dbfs":-12.1},"level_out":{"rms_dbfs":-120,"peak_dbfs":-120}}`},
}

func strSchema(desc string) *huma.Schema { return &huma.Schema{Type: "string", Description: desc} }

func enumSchema(desc string, values ...any) *huma.Schema {
	return &huma.Schema{Type: "string", Description: desc, Enum: values}
}

func intSchema(desc string) *huma.Schema {
	zero := 0.0
	return &huma.Schema{Type: "integer", Format: "int64", Minimum: &zero, Description: desc}
}

// eventFields are the fields events may carry, as in sipphone.Event.
func eventFields() map[string]*huma.Schema {
	return map[string]*huma.Schema{
		"line":        strSchema("Line id"),
		"seq":         intSchema("Strictly increasing event number (across restarts); reconnect with ?since=seq to replay what was missed"),
		"timestamp":   {Type: "string", Format: "date-time", Description: "When it happened: RFC 3339 UTC with milliseconds"},
		"call_id":     strSchema("SIP Call-ID of the call"),
		"ring_id":     strSchema("The ring_id POST /ring answered"),
		"reason":      strSchema("Why it happened"),
		"detail":      strSchema("More about the reason, e.g. the SIP status"),
		"number":      strSchema("Digits dialed"),
		"answered":    {Type: "boolean", Description: "true when the call is a ring the phone answered"},
		"direction":   enumSchema("Call direction (off_hook) or stream direction (audio_start)", "from_phone", "to_phone", "in", "out", "both"),
		"caller_id":   {Ref: "#/components/schemas/CallerID"},
		"pattern":     strSchema("Ring pattern name"),
		"digit":       {Type: "string", Pattern: "^[0-9*#A-D]$", Description: "The key: 0-9, *, #, A-D"},
		"method":      enumSchema("How the key arrived", sipphone.MethodRFC4733, sipphone.MethodSIPInfo, sipphone.MethodInband),
		"duration_ms": intSchema("How long the key was held, in milliseconds (0 when the method does not say)"),
		"stream_id":   strSchema("Audio stream id (POST /audio/start)"),
		"playback_id": strSchema("Playback id (POST /lines/{id}/play)"),
		"format":      enumSchema("Audio format of the stream", "pcm16", "ulaw", "alaw"),
		"sample_rate": intSchema("Sample rate of the stream, Hz"),
		"level_in":    {Ref: "#/components/schemas/Level", Description: "The phone's microphone"},
		"level_out":   {Ref: "#/components/schemas/Level", Description: "What the phone hears"},
		"contact":     strSchema("Contact URI the line registered"),
		"user_agent":  strSchema("The adapter's User-Agent"),
		"lines":       {Type: "array", Items: &huma.Schema{Ref: "#/components/schemas/LineStatus"}, Description: "Every line, as GET /lines (absent when none is configured)"},
		"from":        intSchema("First lost seq"),
		"to":          intSchema("Last lost seq"),
	}
}

// ringReasons are the reasons of ring_stop.
var ringReasons = []any{
	string(sipphone.RingAnswered), string(sipphone.RingStopped), string(sipphone.RingTimeout),
	string(sipphone.RingBusy), string(sipphone.RingRejected), string(sipphone.RingFailed),
}

func eventSchema(d eventDoc, fields map[string]*huma.Schema) *huma.Schema {
	s := &huma.Schema{Type: "object", Title: d.typ + " event", Description: d.description, AdditionalProperties: false,
		Properties: map[string]*huma.Schema{"type": enumSchema("Event type", d.typ), "seq": fields["seq"], "timestamp": fields["timestamp"]},
		Required:   append([]string{"type", "seq", "timestamp"}, d.required...), Examples: []any{json.RawMessage(d.example)}}
	for _, f := range append(append([]string{}, d.required...), d.optional...) {
		s.Properties[f] = fields[f]
	}
	if d.typ == sipphone.EventRingStart {
		// Always present, null when the ring was not given them.
		s.Properties["caller_id"] = &huma.Schema{AnyOf: []*huma.Schema{fields["caller_id"], {Type: "null"}}, Description: "Caller ID sent to the phone; null when none was given"}
		s.Properties["pattern"] = &huma.Schema{Type: "string", Nullable: true, Description: "Ring pattern name; null for the adapter's default ring"}
	}
	if d.typ == sipphone.EventRingStop {
		s.Properties["reason"] = enumSchema("How the ring ended", ringReasons...)
	}
	if d.typ == sipphone.EventOffHook {
		s.Properties["direction"] = enumSchema("from_phone: the handset was lifted; to_phone: a ring was answered", string(sipphone.FromPhone), string(sipphone.ToPhone))
	}
	if d.typ == sipphone.EventAudioStart {
		s.Properties["direction"] = enumSchema("in: phone to client; out: client to phone; both", "in", "out", "both")
	}
	return s
}

// audioMessages are the audio WebSocket's text messages.
func audioMessages() map[string]*huma.Schema {
	obj := func(title, desc, example string, props map[string]*huma.Schema, required ...string) *huma.Schema {
		return &huma.Schema{Type: "object", Title: title, Description: desc, AdditionalProperties: false, Properties: props, Required: required,
			Examples: []any{json.RawMessage(example)}}
	}
	one := 1
	maxName := maxMarkName
	name := &huma.Schema{Type: "string", MinLength: &one, MaxLength: &maxName, Description: "The mark's name, echoed back"}
	return map[string]*huma.Schema{
		"AudioClear": obj("clear", "Client → server: drop the audio queued for the phone. Queued marks are answered with cleared true.", `{"type":"clear"}`,
			map[string]*huma.Schema{"type": enumSchema("", "clear")}, "type"),
		"AudioMark": obj("mark", "Client → server: answer with a mark message of this name once the audio sent before it has been played.", `{"type":"mark","name":"greeting-done"}`,
			map[string]*huma.Schema{"type": enumSchema("", "mark"), "name": name}, "type", "name"),
		"AudioMarkReached": obj("mark reached", "Server → client: the audio before the client's mark has been played (or dropped by clear: cleared true).", `{"type":"mark","name":"greeting-done"}`,
			map[string]*huma.Schema{"type": enumSchema("", "mark"), "name": name,
				"cleared": {Type: "boolean", Description: "true when a clear dropped the audio before the mark"}}, "type", "name"),
		"AudioError": obj("error", "Server → client: a client message could not be used (not JSON, unknown type, mark without name, audio on an in stream); the stream goes on.", `{"type":"error","message":"mark needs a name"}`,
			map[string]*huma.Schema{"type": enumSchema("", "error"), "message": strSchema("What was wrong and what is expected")}, "type", "message"),
		SchemaAudioClientMessage: oneOf("Text messages a client sends on /audio/{id} (its binary messages are audio in the stream's format).",
			"AudioClear", "AudioMark"),
		SchemaAudioServerMessage: oneOf("Text messages the server sends on /audio/{id} (its binary messages are audio, one per frame_ms).",
			"AudioMarkReached", "AudioError"),
	}
}

func oneOf(desc string, names ...string) *huma.Schema {
	s := &huma.Schema{Description: desc}
	for _, n := range names {
		s.OneOf = append(s.OneOf, &huma.Schema{Ref: wsSchemaBase + n})
	}
	return s
}

// wsSchemaBase is where the message schemas sit in the OpenAPI document.
const wsSchemaBase = "#/x-websockets/schemas/"

// documentMessages adds the x-websockets extension: the WebSocket
// endpoints, which messages flow each way, and the message schemas. They
// are not in components/schemas, which holds what the REST operations use
// (linters flag components no operation refers to); they may refer to
// components (LineStatus, CallerID, Level). The same schemas are served as
// one standalone JSON Schema document by WebSocketSchemaHandler.
func documentMessages(oapi *huma.OpenAPI) {
	if oapi.Components != nil && oapi.Components.Schemas != nil {
		// Timestamp marshals as an RFC 3339 string; reflection sees a struct.
		if ts, ok := oapi.Components.Schemas.Map()["Timestamp"]; ok {
			*ts = huma.Schema{Type: "string", Format: "date-time", Description: "RFC 3339 UTC with milliseconds, e.g. 2026-06-01T18:30:00.000Z"}
		}
	}
	schemas := messageSchemas()
	if oapi.Extensions == nil {
		oapi.Extensions = map[string]any{}
	}
	oapi.Extensions["x-websockets"] = map[string]any{
		"description": "The WebSocket endpoints are served on server.websocket_port (8001 by default; the REST port too when both are equal). " +
			"Their JSON text messages are described by the schemas below (JSON Schema 2020-12), also served as one standalone document at " + WebSocketSchemaPath + ".",
		"channels": map[string]any{
			"/ws": map[string]any{
				"description": "Events. Query: types=a,b (event types), line=x,y (line ids), since=SEQ (replay after SEQ instead of the state snapshot), " +
					"token=API token when auth is on. The server sends one JSON text message per event and ignores what the client sends.",
				"serverMessages": map[string]any{"$ref": wsSchemaBase + SchemaWebSocketEvent},
			},
			"/audio/{id}": map[string]any{
				"description":    "One audio stream, started with POST /audio/start (connect to its ws_url). Binary messages both ways are audio in the stream's format; text messages are JSON.",
				"clientMessages": map[string]any{"$ref": wsSchemaBase + SchemaAudioClientMessage},
				"serverMessages": map[string]any{"$ref": wsSchemaBase + SchemaAudioServerMessage},
			},
		},
		"schemas": schemas,
	}
	if oapi.Info != nil {
		oapi.Info.Description += " The WebSocket messages (events on /ws, audio control on /audio/{id}) are described in x-websockets and at " + WebSocketSchemaPath + "."
	}
}

// messageSchemas are the WebSocket message schemas by name.
func messageSchemas() map[string]*huma.Schema {
	out := audioMessages()
	fields := eventFields()
	ev := oneOf("One JSON text message of /ws: an event, told apart by its type field.")
	ev.Discriminator = &huma.Discriminator{PropertyName: "type", Mapping: map[string]string{}}
	for _, d := range eventDocs {
		out[d.schema] = eventSchema(d, fields)
		ref := wsSchemaBase + d.schema
		ev.OneOf = append(ev.OneOf, &huma.Schema{Ref: ref})
		ev.Discriminator.Mapping[d.typ] = ref
	}
	out[SchemaWebSocketEvent] = ev
	return out
}

// WebSocketSchemaPath is where WebSocketSchemaHandler is meant to be served.
const WebSocketSchemaPath = "/schemas/websocket.json"

// WebSocketSchemaHandler serves the WebSocket message schemas as one JSON
// Schema 2020-12 document: its $defs hold the message schemas and the REST
// components they refer to; the document itself accepts any message
// (event or audio control), and #/$defs/WebSocketEvent,
// #/$defs/AudioClientMessage, #/$defs/AudioServerMessage are the ones of
// each direction. Tools such as quicktype or go-jsonschema generate types
// from it.
func WebSocketSchemaHandler(oapi *huma.OpenAPI) http.Handler {
	var (
		once sync.Once
		body []byte
		err  error
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Built on first use: the document is complete once every route is registered.
		once.Do(func() { body, err = websocketSchemaDocument(oapi) })
		if err != nil {
			problem(w, http.StatusInternalServerError, "building the WebSocket schema: "+err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/schema+json")
		w.Write(body)
	})
}

func websocketSchemaDocument(oapi *huma.OpenAPI) ([]byte, error) {
	defs := map[string]*huma.Schema{}
	if oapi.Components != nil && oapi.Components.Schemas != nil {
		maps.Copy(defs, oapi.Components.Schemas.Map())
	}
	maps.Copy(defs, messageSchemas())
	doc := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         WebSocketSchemaPath,
		"title":       "sipphone WebSocket messages",
		"description": "Text messages of /ws (WebSocketEvent) and /audio/{id} (AudioClientMessage from the client, AudioServerMessage from the server).",
		"anyOf": []any{
			map[string]any{"$ref": "#/$defs/" + SchemaWebSocketEvent},
			map[string]any{"$ref": "#/$defs/" + SchemaAudioClientMessage},
			map[string]any{"$ref": "#/$defs/" + SchemaAudioServerMessage},
		},
		"$defs": defs,
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	b = bytes.ReplaceAll(b, []byte(`"#/components/schemas/`), []byte(`"#/$defs/`))
	b = bytes.ReplaceAll(b, []byte(`"`+wsSchemaBase), []byte(`"#/$defs/`))
	return b, nil
}
