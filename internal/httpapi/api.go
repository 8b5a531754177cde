// Package httpapi is the REST and WebSocket face of sipphone: it translates
// HTTP requests into calls on the line owner and streams events to
// WebSocket clients. It holds no business logic beyond that translation and
// knows nothing of SIP. The OpenAPI document is generated from the handler
// types, so it cannot drift from what the handlers do.
//
// It is somewhat over 1,000 lines: one file per topic (routes, status, audio, events, diagnostics,
// auth, clients) of one concern, the HTTP face.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/announce"
	"github.com/sip-phone-api/sipphone/internal/bot"
	"github.com/sip-phone-api/sipphone/internal/events"
	"github.com/sip-phone-api/sipphone/internal/line"
	"github.com/sip-phone-api/sipphone/internal/mqtt"
)

// LineOwner is the line owner as the API uses it: the domain's commands
// (sipphone.Lines) plus audio streams and the event subscription.
type LineOwner interface {
	sipphone.Lines
	StartStream(lineID string, o line.StreamOptions) (*line.Stream, error)
	Stream(id string) (*line.Stream, bool)
	StopStream(id, reason string) error
	// StopStreams stops a stream by id, a line's streams, or the only one.
	StopStreams(streamID, lineID, reason string) ([]line.StoppedStream, error)
	// DeleteLine forgets a learned line.
	DeleteLine(id string) error
	// Subscribe returns, atomically, a subscription, the state snapshot and
	// the replayed events after since.
	Subscribe(f events.Filter, queueLen int, since *uint64) (*events.Subscription, sipphone.Event, []sipphone.Event)
}

// Deps are what the API needs.
type Deps struct {
	Lines   LineOwner
	Bus     *events.Bus
	Version string
	Logger  *slog.Logger
	// Ready reports whether every listener is up (for /readyz).
	Ready func() bool
	// WSPort is the WebSocket listener's port, for the ws_url of streams.
	WSPort int
	// RESTPort is the REST listener's port: pages it serves may open
	// WebSockets (their Origin is allowed).
	RESTPort int
	Started  time.Time
	// DefaultSampleRate and DefaultFrameMS apply to streams that do not say.
	DefaultSampleRate, DefaultFrameMS int
	// Origins are the WebSocket Origin patterns accepted besides the
	// server's own host (api.allowed_origins).
	Origins []string
	// EventQueue is each WebSocket client's event queue length.
	EventQueue int
	// Shutdown is closed when the server stops: WebSocket clients are
	// closed with 1001 (going away).
	Shutdown <-chan struct{}
	// SIP gives diagnostics access to the SIP side.
	SIP SIPDiagnostics
	// Clients tracks WebSocket connections.
	Clients *Clients
	// Config returns the effective configuration, secrets redacted, as JSON.
	Config func() (json.RawMessage, error)
	// Metrics serves /metrics (Prometheus); nil for none.
	Metrics http.Handler
	// AuthDisabled is reported in /status when no API token is configured.
	AuthDisabled bool
	// Bots are the voice-bot bridges; nil serves no /lines/{id}/connect.
	Bots *bot.Manager
	// TLS says the listeners serve TLS: ws_url is wss://.
	TLS bool
	// Announce serves POST /lines/{id}/announce; MQTT reports the MQTT
	// connection in /diagnostics (nil when MQTT is off).
	Announce *announce.Announcer
	MQTT     func() *mqtt.Stats
}

// NewREST returns the REST API handler (port 8000).
func NewREST(d Deps) http.Handler {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	cfg := huma.DefaultConfig("sipphone API", d.Version)
	cfg.CreateHooks = nil // no $schema links in bodies: keep responses plain
	cfg.DocsPath = ""     // /docs is served from embedded assets (no CDN on a home LAN)
	cfg.Info.Description = "Control an analog phone on a Grandstream HT802: line state, ringing, hang-up, " +
		"audio streams and DTMF. Events stream on the WebSocket port at /ws."
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer",
			Description: "Required on every endpoint but /healthz, /readyz and the docs when api.tokens (or API_TOKEN) is set."},
	}
	cfg.Security = []map[string][]string{{"bearer": {}}}
	api := humago.New(mux, cfg)
	routes(api, mux, d)
	documentContract(api.OpenAPI())
	return withVersion(d.Version, problemErrors(withHost(jsonByDefault(mux))))
}

// withVersion names the server's version in every answer (X-Sipphone-Version),
// so a client learns it from any call, errors included.
func withVersion(version string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Sipphone-Version", version)
		h.ServeHTTP(w, r)
	})
}

type hostKey struct{}

// withHost makes the request's Host available to handlers, which build
// URLs (ws_url) the client can reach.
func withHost(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), hostKey{}, r.Host)))
	})
}

func requestHost(ctx context.Context) string {
	h, _ := ctx.Value(hostKey{}).(string)
	return h
}

// jsonByDefault reads request bodies as JSON when the client did not say
// otherwise: `curl -d '{...}'` sends application/x-www-form-urlencoded, and
// a body that is not JSON still gets a clear 400 from the decoder.
func jsonByDefault(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch ct := r.Header.Get("Content-Type"); {
		case ct == "", strings.HasPrefix(ct, "application/x-www-form-urlencoded"), strings.HasPrefix(ct, "text/plain"):
			if r.ContentLength != 0 {
				r.Header.Set("Content-Type", "application/json")
			}
		}
		h.ServeHTTP(w, r)
	})
}

// wsURL returns the WebSocket base URL for a client that reached the REST
// API at host (its Host header).
func (d Deps) wsURL(host string) string {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	if h == "" {
		h = "localhost"
	}
	scheme := "ws://"
	if d.TLS {
		scheme = "wss://"
	}
	return scheme + net.JoinHostPort(h, strconv.Itoa(d.WSPort))
}

// httpError maps domain errors to HTTP problems, in one place.
func httpError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case errors.Is(err, sipphone.ErrLineNotFound), errors.Is(err, sipphone.ErrNotFound):
		return huma.Error404NotFound(msg)
	case errors.Is(err, sipphone.ErrLineBusy), errors.Is(err, sipphone.ErrNoCall), errors.Is(err, sipphone.ErrNotRinging):
		return huma.Error409Conflict(msg)
	case errors.Is(err, sipphone.ErrNotRegistered), errors.Is(err, sipphone.ErrShuttingDown), errors.Is(err, sipphone.ErrNoResources):
		return huma.Error503ServiceUnavailable(msg)
	case errors.Is(err, sipphone.ErrInvalid):
		return huma.Error422UnprocessableEntity(msg)
	}
	return huma.Error500InternalServerError(msg)
}
