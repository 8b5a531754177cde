package httpapi

import (
	"context"
	"encoding/json"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/mqtt"
)

// SIPDiagnostics is what the API needs from the SIP side for diagnostics.
type SIPDiagnostics interface {
	Messages() []sipphone.SIPMessage
	SetTracing(on bool)
	Tracing() bool
}

// Diagnostics is the answer of GET /diagnostics.
type Diagnostics struct {
	Version       string                `json:"version"`
	UptimeS       float64               `json:"uptime_s"`
	SIPTracing    bool                  `json:"sip_tracing" doc:"Whole SIP messages are kept (POST /diagnostics/sip-trace)"`
	SIPMessages   []sipphone.SIPMessage `json:"sip_messages" doc:"The last 200 SIP messages, oldest first"`
	Registrations []RegistrationInfo    `json:"registrations"`
	RTP           []RTPInfo             `json:"rtp" doc:"Media statistics of every call in progress"`
	WebSockets    []ClientInfo          `json:"websockets"`
	EventsDropped uint64                `json:"event_clients_dropped" doc:"Event clients disconnected for being too slow"`
	Config        json.RawMessage       `json:"config" doc:"The effective configuration, secrets redacted"`
	MQTT          *mqtt.Stats           `json:"mqtt,omitempty" doc:"The MQTT connection, when mqtt.url is set"`
}

// RegistrationInfo is one line's registration.
type RegistrationInfo struct {
	Line         string                 `json:"line"`
	User         string                 `json:"user"`
	Registration *sipphone.Registration `json:"registration"`
	ExpiresInS   float64                `json:"expires_in_s,omitempty"`
}

// RTPInfo is one call's media.
type RTPInfo struct {
	Line   string               `json:"line"`
	CallID string               `json:"call_id"`
	Codec  string               `json:"codec"`
	Local  string               `json:"local_rtp"`
	Remote string               `json:"remote_rtp"`
	Media  *sipphone.MediaStats `json:"media"`
}

type diagnosticsOutput struct{ Body Diagnostics }

// TraceBody switches SIP tracing.
type TraceBody struct {
	Enabled *bool `json:"enabled,omitempty" doc:"true (the default, also with no body) keeps whole messages; false stops"`
}

// TraceState answers a tracing switch.
type TraceState struct {
	SIPTracing bool `json:"sip_tracing"`
}

type traceInput struct{ Body *TraceBody }
type traceOutput struct{ Body TraceState }

func diagnostics(d Deps) func(context.Context, *struct{}) (*diagnosticsOutput, error) {
	return func(ctx context.Context, _ *struct{}) (*diagnosticsOutput, error) {
		b := Diagnostics{Version: d.Version, UptimeS: time.Since(d.Started).Round(time.Millisecond).Seconds(),
			Registrations: []RegistrationInfo{}, RTP: []RTPInfo{}, WebSockets: []ClientInfo{}, SIPMessages: []sipphone.SIPMessage{}}
		if d.SIP != nil {
			b.SIPTracing, b.SIPMessages = d.SIP.Tracing(), d.SIP.Messages()
		}
		for _, l := range d.Lines.Status() {
			ri := RegistrationInfo{Line: l.ID, User: l.User, Registration: l.Registration}
			if l.Registration != nil {
				ri.ExpiresInS = time.Until(l.Registration.Expires).Round(time.Second).Seconds()
			}
			b.Registrations = append(b.Registrations, ri)
			if l.Call != nil {
				b.RTP = append(b.RTP, RTPInfo{Line: l.ID, CallID: l.Call.ID, Codec: l.Call.Codec, Local: l.Call.LocalRTP,
					Remote: l.Call.RemoteRTP, Media: l.Call.Media})
			}
		}
		if d.Clients != nil {
			b.WebSockets = d.Clients.List()
			b.EventsDropped = d.Clients.Dropped.Load()
		}
		if d.MQTT != nil {
			b.MQTT = d.MQTT()
		}
		b.Config = json.RawMessage("{}")
		if d.Config != nil {
			if c, err := d.Config(); err == nil {
				b.Config = c
			}
		}
		return &diagnosticsOutput{Body: b}, nil
	}
}

func sipTrace(d Deps) func(context.Context, *traceInput) (*traceOutput, error) {
	return func(ctx context.Context, in *traceInput) (*traceOutput, error) {
		if d.SIP == nil {
			return nil, huma.Error503ServiceUnavailable("SIP server not available")
		}
		d.SIP.SetTracing(in.Body == nil || in.Body.Enabled == nil || *in.Body.Enabled)
		return &traceOutput{Body: TraceState{SIPTracing: d.SIP.Tracing()}}, nil
	}
}
