package bot

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/sip-phone-api/sipphone"
)

// Config configures the bridges.
type Config struct {
	// AccountSID is sent as start.accountSid: "AC" and 32 hex digits.
	// Default: one derived from nothing, AC followed by 32 zeros.
	AccountSID string
	// ErrorTone is what the phone hears when the bot fails.
	ErrorTone Tone
	// DialTimeout bounds the TwiML request plus the WebSocket handshake.
	// Default 10s.
	DialTimeout time.Duration
	// WriteTimeout cuts off a bot that takes no message for this long.
	// Default 5s.
	WriteTimeout time.Duration
	// HTTPClient makes the TwiML request and the WebSocket handshake
	// (its Transport's TLS settings apply). Default http.DefaultClient.
	HTTPClient *http.Client
	// OnOffHook maps a line id to the bot connected whenever the handset
	// is lifted on that line (a call from the phone).
	OnOffHook map[string]Request
	Logger    *slog.Logger
}

// DefaultAccountSID is start.accountSid when none is configured.
const DefaultAccountSID = "AC00000000000000000000000000000000"

var sidRE = regexp.MustCompile(`^AC[0-9a-f]{32}$`)

// Deps are what the bridges need of the rest of the server.
type Deps struct {
	Lines  Attacher
	Hangup Hanger
	Events Subscriber
	Bus    Publisher
}

// Manager owns the bridges: it starts them on request, on ring answer and
// on off-hook, and stops them all on Close.
type Manager struct {
	cfg  Config
	att  Attacher
	hang Hanger
	sub  Subscriber
	pub  Publisher
	log  *slog.Logger

	mu      sync.Mutex
	byID    map[string]*bridge
	byLine  map[string]*bridge
	pending map[string]pendingRing // ring id -> bot to connect on answer
	closed  bool
	closing chan struct{}
	wg      sync.WaitGroup
}

type pendingRing struct {
	req   Request
	until time.Time
}

// New returns a manager; Start begins watching for answers and off-hooks.
func New(cfg Config, d Deps) (*Manager, error) {
	if cfg.AccountSID == "" {
		cfg.AccountSID = DefaultAccountSID
	}
	if !sidRE.MatchString(cfg.AccountSID) {
		return nil, fmt.Errorf("account_sid %q: use AC followed by 32 lower-case hex digits", cfg.AccountSID)
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 5 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	for line, r := range cfg.OnOffHook {
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("line %q on_off_hook.connect: %w", line, err)
		}
		cfg.OnOffHook[line] = r
	}
	return &Manager{cfg: cfg, att: d.Lines, hang: d.Hangup, sub: d.Events, pub: d.Bus, log: cfg.Logger.With("component", "bot"),
		byID: map[string]*bridge{}, byLine: map[string]*bridge{}, pending: map[string]pendingRing{}, closing: make(chan struct{})}, nil
}

// Start watches off_hook events: a ring answered with a pending connect,
// or a handset lifted on a line with on_off_hook.connect, starts a bridge.
func (m *Manager) Start() {
	events, cancel := m.sub.Subscribe([]string{sipphone.EventOffHook, sipphone.EventRingStop})
	m.wg.Add(2)
	go func() {
		defer m.wg.Done()
		<-m.closing
		cancel()
	}()
	go func() {
		defer m.wg.Done()
		for e := range events {
			m.watch(*e)
		}
	}()
}

func (m *Manager) watch(e sipphone.Event) {
	var req *Request
	m.mu.Lock()
	switch {
	case e.Type == sipphone.EventRingStop && e.Reason != string(sipphone.RingAnswered):
		delete(m.pending, e.RingID)
	case e.Type == sipphone.EventOffHook && e.RingID != "":
		if p, ok := m.pending[e.RingID]; ok {
			req = &p.req
			delete(m.pending, e.RingID)
		}
	case e.Type == sipphone.EventOffHook && e.Direction == sipphone.FromPhone:
		if r, ok := m.cfg.OnOffHook[e.Line]; ok {
			req = &r
		}
	}
	now := time.Now()
	for id, p := range m.pending {
		if now.After(p.until) {
			delete(m.pending, id)
		}
	}
	m.mu.Unlock()
	if req == nil {
		return
	}
	if _, err := m.Connect(e.Line, *req); err != nil {
		m.log.Warn("cannot connect the call to its bot", "line", e.Line, "err", err)
		m.pub.Publish(sipphone.Event{Type: sipphone.EventBotDisconnected, Line: e.Line, CallID: e.CallID, Reason: "not_started", Detail: err.Error()})
	}
}

// ConnectOnAnswer connects the bot when ring ringID is answered.
func (m *Manager) ConnectOnAnswer(ringID string, r Request) error {
	if err := r.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return sipphone.ErrShuttingDown
	}
	m.pending[ringID] = pendingRing{req: r, until: time.Now().Add(15 * time.Minute)}
	return nil
}

// Connection describes a bridge.
type Connection struct {
	ConnectionID  string `json:"connection_id" doc:"Also the stream_id of the bridge's audio stream and of its bot_connected and bot_disconnected events"`
	Line          string `json:"line"`
	CallID        string `json:"call_id"`
	Protocol      string `json:"protocol" enum:"twilio,sipphone"`
	URL           string `json:"url,omitempty" doc:"The bot's WebSocket URL (after the TwiML step, once connected)"`
	TwiMLURL      string `json:"twiml_url,omitempty"`
	StreamSID     string `json:"stream_sid,omitempty" doc:"protocol twilio: the streamSid sent to the bot"`
	CallSID       string `json:"call_sid,omitempty" doc:"protocol twilio: the callSid sent to the bot"`
	State         string `json:"state" enum:"connecting,connected"`
	HangupOnClose bool   `json:"hangup_on_close"`
}

// Connect bridges the line's call to the bot and returns at once; the
// outcome follows as bot_connected or bot_disconnected. It fails with
// sipphone.ErrNoCall without a call, ErrLineBusy when the line already
// has a bot, ErrInvalid for a bad request.
func (m *Manager) Connect(lineID string, r Request) (Connection, error) {
	if err := r.Validate(); err != nil {
		return Connection{}, err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return Connection{}, sipphone.ErrShuttingDown
	}
	if b := m.byLine[lineID]; b != nil {
		m.mu.Unlock()
		return Connection{}, fmt.Errorf("%w: line %q is already connected to a bot (connection %s); DELETE /lines/%s/connect first", sipphone.ErrLineBusy, lineID, b.id, lineID)
	}
	m.mu.Unlock()

	f := Format{Encoding: "ulaw", Rate: 8000, FrameMS: 20}
	if r.Protocol == "sipphone" {
		f = Format{Encoding: "pcm16", Rate: r.SampleRate, FrameMS: 20}
	}
	b := &bridge{m: m, req: r, format: f, ctl: make(chan ctlMsg, 256), wake: make(chan struct{}, 1),
		stopReq: make(chan string, 1), readErr: make(chan error, 1), toneDone: make(chan struct{}), done: make(chan struct{})}
	media, err := m.att.Attach(lineID, f, b.onMark)
	if err != nil {
		return Connection{}, err
	}
	b.media, b.id, b.call = media, media.StreamID(), media.Call()
	b.toneMark = "sipphone-error-tone-" + b.id
	b.log = m.log.With("line", media.LineID(), "connection_id", b.id)
	params := maps.Clone(r.Parameters)
	if params == nil {
		params = map[string]string{}
	}
	params["line"], params["from"], params["to"], params["direction"] = media.LineID(), b.call.From, b.call.To, string(b.call.Direction)
	if r.Protocol == "twilio" {
		b.tw = newTwilio(m.cfg.AccountSID, callSID(b.call.ID), params)
		b.tw.logBad = func(ev string) { b.log.Debug("bot sent an unknown event; ignored", "event", ev) }
		b.proto = b.tw
	} else {
		b.proto = &native{streamID: b.id, callID: b.call.ID, rate: r.SampleRate, params: params}
	}

	m.mu.Lock()
	if m.closed || m.byLine[media.LineID()] != nil {
		busy := m.byLine[media.LineID()]
		m.mu.Unlock()
		media.Stop("not_connected")
		if busy != nil {
			return Connection{}, fmt.Errorf("%w: line %q is already connected to a bot (connection %s)", sipphone.ErrLineBusy, media.LineID(), busy.id)
		}
		return Connection{}, sipphone.ErrShuttingDown
	}
	m.byID[b.id], m.byLine[media.LineID()] = b, b
	m.wg.Add(1)
	m.mu.Unlock()
	// Subscribe before dialing, so keys pressed meanwhile are not lost.
	events, cancel := m.sub.Subscribe([]string{sipphone.EventDTMF})
	go func() {
		defer m.wg.Done()
		b.run(events, cancel)
	}()
	b.log.Info("connecting to bot", "url", r.URL, "twiml_url", r.TwiMLURL, "protocol", r.Protocol)
	return b.info(), nil
}

func (b *bridge) info() Connection {
	c := Connection{ConnectionID: b.id, Line: b.media.LineID(), CallID: b.call.ID, Protocol: b.req.Protocol,
		TwiMLURL: b.req.TwiMLURL, State: "connecting", HangupOnClose: b.req.hangupOnClose(), URL: b.req.URL}
	if b.tw != nil {
		c.StreamSID, c.CallSID = b.tw.streamSID, b.tw.callSID
	}
	if b.connected.Load() {
		c.State, c.URL = "connected", b.url
	}
	return c
}

// callSID derives a stable Twilio-style call id from the SIP Call-ID.
func callSID(sipCallID string) string {
	h := sha256.Sum256([]byte(sipCallID))
	return "CA" + hex.EncodeToString(h[:16])
}

func (m *Manager) remove(b *bridge) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byID[b.id] == b {
		delete(m.byID, b.id)
	}
	if m.byLine[b.media.LineID()] == b {
		delete(m.byLine, b.media.LineID())
	}
}

// Disconnect ends a bridge, found by connection id or, when id is "",
// by line id; the bot gets a stop message and the call goes on.
func (m *Manager) Disconnect(lineID, id string) (Connection, error) {
	m.mu.Lock()
	b := m.byID[id]
	if id == "" {
		b = m.byLine[lineID]
	}
	m.mu.Unlock()
	if b == nil {
		what := "connection " + id
		if id == "" {
			what = "a bot connection on line " + lineID
		}
		return Connection{}, fmt.Errorf("%w: no %s", sipphone.ErrNotFound, what)
	}
	b.stop("stopped")
	return b.info(), nil
}

// Connections lists the bridges, ordered by line.
func (m *Manager) Connections() []Connection {
	m.mu.Lock()
	bs := make([]*bridge, 0, len(m.byID))
	for _, b := range m.byID {
		bs = append(bs, b)
	}
	m.mu.Unlock()
	out := make([]Connection, 0, len(bs))
	for _, b := range bs {
		out = append(out, b.info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Line < out[j].Line })
	return out
}

// Close ends every bridge (the bots get stop and a 1001 close) and the
// watcher, and waits for their goroutines.
func (m *Manager) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	close(m.closing)
	bs := make([]*bridge, 0, len(m.byID))
	for _, b := range m.byID {
		bs = append(bs, b)
	}
	m.mu.Unlock()
	for _, b := range bs {
		b.stop("shutdown")
	}
	m.wg.Wait()
}
