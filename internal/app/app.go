// Package app assembles a running sipphone from its configuration: the
// event bus, the line owner, the SIP server, the RTP port range and the
// REST and WebSocket listeners. It owns their lifecycle: New builds without
// side effects, Start opens everything (closing what it opened if a later
// step fails), Shutdown ends calls and closes listeners within a deadline.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/sip-phone-api/sipphone/internal/bot"
	"github.com/sip-phone-api/sipphone/internal/config"
	"github.com/sip-phone-api/sipphone/internal/events"
	"github.com/sip-phone-api/sipphone/internal/httpapi"
	"github.com/sip-phone-api/sipphone/internal/line"
	"github.com/sip-phone-api/sipphone/internal/media"
	"github.com/sip-phone-api/sipphone/internal/metrics"
	"github.com/sip-phone-api/sipphone/internal/rtp"
	"github.com/sip-phone-api/sipphone/internal/sipserver"
	"github.com/sip-phone-api/sipphone/internal/state"
)

// App is one running server.
type App struct {
	cfg     *config.Config
	log     *slog.Logger
	version string

	Bus   *events.Bus
	Lines *line.Manager
	SIP   *sipserver.Server
	Ports *rtp.Ports
	// Clock sends every call's RTP from one goroutine.
	Clock *media.Clock

	// Clients are the open WebSocket connections.
	Clients *httpapi.Clients
	// Metrics are the Prometheus metrics (built by New, before anything
	// that reports to them runs).
	Metrics *metrics.Metrics
	// Bots are the voice-bot bridges (started by Start).
	Bots *bot.Manager

	rest, ws     *http.Server
	restLn, wsLn net.Listener
	shutdown     chan struct{}
	mq           mqttParts // announce and MQTT (mqtt.go)
	wg           sync.WaitGroup
	stopOnce     sync.Once
}

// replaySize is how many events are kept for clients reconnecting with
// ?since=SEQ.
const replaySize = 1024

// New builds the server from a validated configuration.
func New(cfg *config.Config, log *slog.Logger, version string) (*App, error) {
	a := &App{cfg: cfg, log: log, version: version, shutdown: make(chan struct{}), Clients: httpapi.NewClients()}
	st := &state.File{}
	if cfg.Server.StateFile != "" {
		var err error
		if st, err = state.Load(cfg.Server.StateFile); err != nil {
			return nil, fmt.Errorf("server.state_file: %w", err)
		}
	}
	a.Bus = events.New(replaySize, st.LastSeq)
	a.Bus.Restore(st.Events) // the last events of the previous run, for ?since=
	sipHost, err := parseHost(cfg.Server.EffectiveSIPHost())
	if err != nil {
		return nil, fmt.Errorf("server.sip_host: %w", err)
	}
	var advertise netip.Addr
	if cfg.Server.AdvertiseAddr != "" {
		if advertise, err = netip.ParseAddr(cfg.Server.AdvertiseAddr); err != nil {
			return nil, fmt.Errorf("server.advertise_address: %w", err)
		}
	}
	rtpHost := sipHost
	a.Ports = rtp.NewPorts(rtpHost, cfg.Audio.RTPPorts.Min, cfg.Audio.RTPPorts.Max)
	a.Clock = media.NewClock(time.Duration(cfg.Audio.PTime) * time.Millisecond)
	var lines []line.LineConfig
	for _, l := range cfg.Lines {
		lines = append(lines, line.LineConfig{ID: l.ID, User: l.User, DisplayName: l.DisplayName})
	}
	a.Lines, err = line.New(line.Config{
		Lines: lines, AutoDial: cfg.HT802.AutoDial, RingTimeout: time.Duration(cfg.HT802.RingTimeout),
		RingPatterns: cfg.HT802.RingPatterns, StatePath: cfg.Server.StateFile, Logger: log, Bus: a.Bus,
		Media: line.MediaConfig{Ports: a.Ports, Clock: a.Clock, JitterMax: time.Duration(cfg.Audio.JitterMax),
			RTPTimeout: time.Duration(cfg.Audio.RTPTimeout), InbandDTMF: cfg.Audio.InbandDTMF,
			ObserveCapture: a.observeCapture, ObservePlayback: a.observePlayback},
	})
	if err != nil {
		return nil, err
	}
	a.Lines.Restore(st)
	a.Metrics = metrics.New(a.Bus, a.Lines.Status)
	allow := cfg.HT802.Host
	if err := allow.Resolve(nil); err != nil {
		log.Warn("cannot resolve an ht802.host entry; it matches nothing until restart", "err", err)
	}
	a.SIP, err = sipserver.New(sipserver.Config{
		Host: sipHost, Port: cfg.Server.SIPPort, Transports: cfg.Server.SIPTransports, Advertise: advertise,
		Allowed: allow.Allows,
		// The adapter itself is never banned: anyone on the LAN could forge
		// its UDP source address to get it banned.
		Ban:           sipserver.BanPolicy{Exempt: func(ip netip.Addr) bool { return !allow.Empty() && allow.Contains(ip) }},
		AuthEnabled:   cfg.HT802.AuthEnabled,
		Realm:         cfg.HT802.Realm,
		NonceLifetime: time.Duration(cfg.HT802.NonceLifetime),
		Password:      passwords(cfg),
		MinExpires:    cfg.HT802.RegisterMinExpires, MaxExpires: cfg.HT802.RegisterMaxExpires,
		Codec: cfg.Audio.Codec, PTime: cfg.Audio.PTime,
		Lines: a.Lines, Logger: log, Name: "sipphone/" + version,
	})
	if err != nil {
		return nil, err
	}
	a.Lines.SetSignaller(a.SIP)
	return a, nil
}

// passwords returns the digest password lookup: a line's own password for
// its Authenticate ID, or the shared ht802.credentials for any line.
func passwords(cfg *config.Config) func(aor, authUser string) (string, bool) {
	return func(aor, authUser string) (string, bool) {
		if l, ok := cfg.LineByUser(aor); ok && l.Password != "" {
			au := l.AuthUser
			if au == "" {
				au = l.User
			}
			if au == authUser {
				return l.Password, true
			}
		}
		c := cfg.HT802.Credentials
		if c.Username != "" && c.Password != "" && c.Username == authUser {
			return c.Password, true
		}
		return "", false
	}
}

func parseHost(h string) (netip.Addr, error) {
	if h == "" {
		return netip.IPv4Unspecified(), nil
	}
	a, err := netip.ParseAddr(h)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", h)
	}
	return a, nil
}

// Start opens every listener and starts serving.
func (a *App) Start() (err error) {
	defer func() {
		if err != nil {
			a.Shutdown(context.Background())
		}
	}()
	a.Lines.Start()
	if err := a.SIP.Start(); err != nil {
		return err
	}
	if err := a.startBots(); err != nil {
		return err
	}
	if err := a.startMQTT(); err != nil { // after the bots: connect/set uses them
		return err
	}
	apiHost := a.cfg.Server.EffectiveAPIHost()
	deps := httpapi.Deps{
		Lines: a.Lines, Bus: a.Bus, Version: a.version, Logger: a.log, Ready: a.Ready, Started: time.Now(),
		Shutdown:          a.shutdown,
		DefaultSampleRate: a.cfg.Audio.SampleRate, DefaultFrameMS: a.cfg.Audio.FrameMS(), Origins: a.cfg.API.Origins,
		SIP: a.SIP, Clients: a.Clients, Config: a.redactedConfig, Metrics: a.Metrics.Handler(), Bots: a.Bots,
		Announce: a.Announcer(), MQTT: a.MQTTStats,
	}
	auth, authOff, err := a.authenticator() // apiauth.go
	if err != nil {
		return err
	}
	deps.AuthDisabled = authOff
	a.Metrics.SetSources(metrics.Sources{WSClients: a.Clients.Count, EventsDropped: a.Clients.Dropped.Load,
		APIAuthFailures: auth.Failures.Load, SIPAuthFailures: a.SIP.AuthFailures.Load, WSRefused: a.Clients.Refused.Load})
	a.Clients.SetLimits(a.cfg.API.MaxClients, a.cfg.API.MaxClientsPerAddress)
	a.restLn, err = net.Listen(tcpNetwork(apiHost), net.JoinHostPort(apiHost, strconv.Itoa(a.cfg.Server.RESTPort)))
	if err != nil {
		return fmt.Errorf("server.rest_port: listen: %w", err)
	}
	shared := a.cfg.Server.WebSocketPort == a.cfg.Server.RESTPort && a.cfg.Server.RESTPort != 0
	if !shared {
		a.wsLn, err = net.Listen(tcpNetwork(apiHost), net.JoinHostPort(apiHost, strconv.Itoa(a.cfg.Server.WebSocketPort)))
		if err != nil {
			return fmt.Errorf("server.websocket_port: listen: %w", err)
		}
	}
	deps.WSPort = a.WSAddr().(*net.TCPAddr).Port
	if err := a.listenTLS(); err != nil {
		return err
	}
	deps.TLS = a.cfg.Server.TLS.Enabled()
	deps.RESTPort = a.restLn.Addr().(*net.TCPAddr).Port
	restH := auth.Wrap(httpapi.NewREST(deps))
	wsH := auth.Wrap(httpapi.NewWS(deps))
	// The WebSocket endpoints are served on the REST port too, so a page
	// served there (the console) reaches them on its own origin.
	mux := http.NewServeMux()
	mux.Handle("GET /ws", wsH)
	mux.Handle("GET /audio/{id}", wsH)
	mux.Handle("/", restH)
	restH = mux
	errLog := slog.NewLogLogger(a.log.With("component", "http").Handler(), slog.LevelDebug)
	if !shared {
		a.ws = &http.Server{Handler: wsH, ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
		a.serve(a.ws, a.wsLn)
	}
	a.rest = &http.Server{Handler: restH, ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
	a.serve(a.rest, a.restLn)
	if iv := time.Duration(a.cfg.Audio.LevelEvents); iv > 0 {
		a.wg.Add(1)
		go a.levelEvents(iv)
	}
	a.log.Info("sipphone started", "version", a.version, "sip", a.SIP.UDPAddr().String(), "rest", a.restLn.Addr().String(), "websocket", a.WSAddr().String(),
		"console", a.scheme()+"://"+a.restLn.Addr().String()+"/console",
		"config", a.cfg.Source, "state_file", a.cfg.Server.StateFile)
	return nil
}

func (a *App) serve(s *http.Server, l net.Listener) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := s.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("HTTP server stopped", "addr", l.Addr(), "err", err)
		}
	}()
}

func (a *App) observeCapture(d time.Duration)  { a.Metrics.CaptureLatency.Observe(d) }
func (a *App) observePlayback(d time.Duration) { a.Metrics.PlaybackLatency.Observe(d) }

// redactedConfig renders the effective configuration, secrets replaced,
// as JSON for /diagnostics.
func (a *App) redactedConfig() (json.RawMessage, error) {
	y, err := yaml.Marshal(a.cfg.Redacted())
	if err != nil {
		return nil, err
	}
	j, err := yaml.YAMLToJSON(y)
	return json.RawMessage(j), err
}

// levelEvents publishes audio_level events until shutdown.
func (a *App) levelEvents(every time.Duration) {
	defer a.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			a.Lines.PublishLevels()
		case <-a.shutdown:
			return
		}
	}
}

// Ready reports whether the SIP, REST and WebSocket listeners are up.
func (a *App) Ready() bool {
	select {
	case <-a.shutdown:
		return false
	default:
	}
	return a.SIP.Ready() && a.restLn != nil
}

// RESTAddr returns the REST listener address.
func (a *App) RESTAddr() net.Addr { return a.restLn.Addr() }

// WSAddr returns the WebSocket listener address.
func (a *App) WSAddr() net.Addr {
	if a.wsLn == nil {
		return a.restLn.Addr()
	}
	return a.wsLn.Addr()
}

// Shutdown stops taking calls, ends rings and calls (hangup events, CANCEL
// and BYE), stops the SIP side, closes WebSocket clients with 1001, stops
// the HTTP servers and persists state, all within ctx's deadline.
func (a *App) Shutdown(ctx context.Context) error {
	var err error
	a.stopOnce.Do(func() {
		a.stopBots()
		a.Lines.Shutdown(ctx)
		err = a.SIP.Shutdown(ctx)
		close(a.shutdown)
		a.stopMQTT() // after the calls' last events: the hub sees them
		for _, s := range []*http.Server{a.rest, a.ws} {
			if s != nil {
				if e := s.Shutdown(ctx); e != nil {
					s.Close()
				}
			}
		}
		a.wg.Wait()
		if a.Metrics != nil {
			a.Metrics.Close()
		}
		a.Lines.Close()
		a.Clock.Close()
		a.log.Info("sipphone stopped")
	})
	return err
}
