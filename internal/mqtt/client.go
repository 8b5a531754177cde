package mqtt

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/sip-phone-api/sipphone"
)

// Lines is what the client needs from the line owner (*line.Manager).
type Lines interface {
	Status() []sipphone.LineStatus
	Ring(lineID string, o RingOptions) (ringID, line string, err error)
	StopRing(lineID string) (string, error)
	Hangup(lineID string) (string, error)
}

// RingOptions are a ring's caller ID, pattern and timeout (the fields of
// the line owner's ring options).
type RingOptions struct {
	CallerID sipphone.CallerID
	Pattern  string
	Timeout  time.Duration
}

// Events is the event source. Subscribe returns a queue of every event
// from now on, and a func ending the subscription. The source closes the
// channel when the subscriber fell queueLen events behind; the client then
// subscribes again and republishes the state.
type Events interface {
	Subscribe(queueLen int) (<-chan *sipphone.Event, func())
}

// Announcer starts an announce from a command payload (the JSON body of
// POST /lines/{id}/announce with audio_url). It returns once the announce
// has started or failed to; its progress is reported as events.
type Announcer interface {
	Announce(lineID string, payload []byte) error
}

// Connector connects a line's call to a voice bot from a command payload
// (the JSON body of POST /lines/{id}/connect), and ends it.
type Connector interface {
	Connect(lineID string, payload []byte) error
	Disconnect(lineID string) error
}

// Config configures a Client.
type Config struct {
	// URL is the broker: mqtt://host:1883, mqtts://host:8883 (also tcp://,
	// ssl://, tls://, ws://, wss://).
	URL      string
	Username string
	Password string
	ClientID string
	// TLS is used for mqtts:// (nil: system roots).
	TLS *tls.Config
	// Connector serves connect/set; nil: no voice bots.
	Connector Connector
	// TopicPrefix roots every topic, e.g. "sipphone".
	TopicPrefix string
	// Discovery publishes Home Assistant device discovery under
	// DiscoveryPrefix (e.g. "homeassistant").
	Discovery       bool
	DiscoveryPrefix string
	// Patterns are the ring pattern names (the ring siren's tones).
	Patterns []string
	// Version is the software version shown in Home Assistant.
	Version string
	Logger  *slog.Logger
	// QueueLen bounds the events waiting to be published. Default 512.
	QueueLen int
	// WriteTimeout bounds one publish. Default 5s.
	WriteTimeout time.Duration
	// MaxReconnectInterval caps the reconnect backoff. Default 1 minute.
	MaxReconnectInterval time.Duration
}

// Stats are the client's counters, for /diagnostics and /metrics.
type Stats struct {
	Broker      string `json:"broker"`
	Connected   bool   `json:"connected"`
	Reconnects  uint64 `json:"reconnects" doc:"Connections made after the first"`
	MessagesIn  uint64 `json:"messages_in"`
	MessagesOut uint64 `json:"messages_out"`
	Dropped     uint64 `json:"dropped" doc:"Messages not published: broker away, queue full or publish failed"`
}

// Client is a connection to the broker that mirrors the lines and takes
// commands. It reconnects for ever until Close.
type Client struct {
	cfg      Config
	log      *slog.Logger
	topics   Topics
	disc     discovery
	lines    Lines
	events   Events
	announce Announcer
	pc       paho.Client

	republish chan struct{} // wakes the worker to republish everything; buffered 1
	commands  chan paho.Message
	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once

	connected                  atomic.Bool
	connects, in, out, dropped atomic.Uint64

	// Owned by the worker goroutine.
	lastState  map[string][]byte // line -> retained state last published
	lastDisc   map[string][]byte // discovery node -> payload last published
	lastDialed map[string]string // line -> last number dialed
	discLines  map[string]bool   // lines whose device was published
}

// errorEvent is published on a line's event topic when a command fails:
// the problem fields the REST API answers with, plus the command.
type errorEvent struct {
	Type      string             `json:"type"`
	Line      string             `json:"line,omitempty"`
	Timestamp sipphone.Timestamp `json:"timestamp"`
	Command   string             `json:"command"`
	Topic     string             `json:"topic"`
	Title     string             `json:"title"`
	Status    int                `json:"status"`
	Detail    string             `json:"detail"`
}

// EventError is the type of the event published for a failed command.
const EventError = "error"

// maxPayload bounds a command payload.
const maxPayload = 64 << 10

// New builds a client; it connects on Start. announce may be nil (the
// announce command then fails with an error event).
func New(cfg Config, lines Lines, events Events, announce Announcer) (*Client, error) {
	if cfg.URL == "" {
		return nil, errors.New("mqtt.url is empty")
	}
	if cfg.TopicPrefix == "" {
		cfg.TopicPrefix = "sipphone"
	}
	if cfg.DiscoveryPrefix == "" {
		cfg.DiscoveryPrefix = "homeassistant"
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 512
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 5 * time.Second
	}
	if cfg.MaxReconnectInterval <= 0 {
		cfg.MaxReconnectInterval = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	t := Topics{Prefix: cfg.TopicPrefix, DiscoveryPrefix: cfg.DiscoveryPrefix}
	c := &Client{
		cfg: cfg, log: cfg.Logger.With("component", "mqtt"), topics: t,
		disc:  discovery{topics: t, instance: cfg.TopicPrefix, version: cfg.Version, patterns: cfg.Patterns},
		lines: lines, events: events, announce: announce,
		republish: make(chan struct{}, 1), commands: make(chan paho.Message, 64), stop: make(chan struct{}),
		lastState: map[string][]byte{}, lastDisc: map[string][]byte{}, lastDialed: map[string]string{}, discLines: map[string]bool{},
	}
	o := paho.NewClientOptions().AddBroker(cfg.URL).SetClientID(cfg.ClientID).
		SetUsername(cfg.Username).SetPassword(cfg.Password).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).SetMaxReconnectInterval(cfg.MaxReconnectInterval).
		SetConnectTimeout(10*time.Second).SetWriteTimeout(cfg.WriteTimeout).SetKeepAlive(30*time.Second).
		SetOrderMatters(false).
		SetWill(t.Status(), "offline", 1, true).
		SetOnConnectHandler(c.onConnect).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			c.connected.Store(false)
			c.log.Warn("MQTT connection lost; reconnecting", "broker", cfg.URL, "err", err)
		})
	if cfg.TLS != nil {
		o.SetTLSConfig(cfg.TLS)
	}
	c.pc = paho.NewClient(o)
	return c, nil
}

// Start connects in the background (retrying for ever) and starts
// publishing. It returns at once.
func (c *Client) Start() {
	c.wg.Add(1)
	go c.run()
	c.pc.Connect() // with ConnectRetry the token completes only once connected
	c.log.Info("MQTT client started", "broker", c.cfg.URL, "topic_prefix", c.cfg.TopicPrefix, "discovery", c.cfg.Discovery)
}

// Close publishes "offline", disconnects and waits for the client's
// goroutines.
func (c *Client) Close() {
	c.closeOnce.Do(func() {
		close(c.stop)
		c.wg.Wait()
		if c.pc.IsConnectionOpen() {
			c.pc.Publish(c.topics.Status(), 1, true, "offline").WaitTimeout(time.Second)
		}
		c.pc.Disconnect(250)
		c.connected.Store(false)
	})
}

// Stats returns the counters.
func (c *Client) Stats() Stats {
	n := c.connects.Load()
	if n > 0 {
		n--
	}
	return Stats{Broker: c.cfg.URL, Connected: c.connected.Load(), Reconnects: n,
		MessagesIn: c.in.Load(), MessagesOut: c.out.Load(), Dropped: c.dropped.Load()}
}

// Connected reports whether the broker connection is up.
func (c *Client) Connected() bool { return c.connected.Load() }

// Reconnects counts connections made after the first.
func (c *Client) Reconnects() uint64 { return c.Stats().Reconnects }

// MessagesIn counts messages received.
func (c *Client) MessagesIn() uint64 { return c.in.Load() }

// MessagesOut counts messages published.
func (c *Client) MessagesOut() uint64 { return c.out.Load() }

// Dropped counts messages not published.
func (c *Client) Dropped() uint64 { return c.dropped.Load() }

// Topics returns the client's topic names.
func (c *Client) Topics() Topics { return c.topics }

// onConnect runs on paho's goroutine after every (re)connection:
// subscribe, then have the worker republish everything.
func (c *Client) onConnect(pc paho.Client) {
	n := c.connects.Add(1)
	c.connected.Store(true)
	c.log.Info("MQTT connected", "broker", c.cfg.URL, "reconnect", n > 1)
	subs := map[string]byte{c.topics.CommandFilter(): 1}
	if c.cfg.Discovery {
		subs[c.topics.HAStatus()] = 1
	}
	tok := pc.SubscribeMultiple(subs, c.onMessage)
	if !tok.WaitTimeout(c.cfg.WriteTimeout) || tok.Error() != nil {
		c.log.Warn("MQTT subscribe failed", "err", tok.Error())
	}
	c.wakeRepublish()
}

func (c *Client) wakeRepublish() {
	select {
	case c.republish <- struct{}{}:
	default:
	}
}

// onMessage runs on paho's goroutine: hand over to the worker, never wait.
func (c *Client) onMessage(_ paho.Client, m paho.Message) {
	c.in.Add(1)
	if m.Topic() == c.topics.HAStatus() {
		if string(m.Payload()) == "online" {
			c.log.Info("Home Assistant is online; republishing discovery")
			c.wakeRepublish()
		}
		return
	}
	select {
	case c.commands <- m:
	default:
		c.dropped.Add(1)
		c.log.Warn("MQTT command queue full; command dropped", "topic", m.Topic())
	}
}

// run is the worker: it owns publishing of state, events and discovery.
func (c *Client) run() {
	defer c.wg.Done()
	evs, cancel := c.events.Subscribe(c.cfg.QueueLen)
	defer func() { cancel() }()
	for {
		select {
		case <-c.stop:
			return
		case e, ok := <-evs:
			if !ok {
				// Fell behind: count it, start over, recompute the state.
				c.dropped.Add(1)
				c.log.Warn("MQTT publisher fell behind the events; resubscribing")
				evs, cancel = c.events.Subscribe(c.cfg.QueueLen)
				c.sync(false)
				continue
			}
			c.event(*e)
		case m := <-c.commands:
			c.command(m)
		case <-c.republish:
			if c.pc.IsConnectionOpen() {
				c.publish(c.topics.Status(), true, []byte("online"))
				c.sync(true)
			}
		}
	}
}

// event publishes one event and the state it changed.
func (c *Client) event(e sipphone.Event) {
	if e.Line == "" {
		return
	}
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	c.publish(c.topics.Event(e.Line), false, b)
	switch e.Type {
	case sipphone.EventDTMF:
		k := keyEvent{EventType: e.Digit, Method: e.Method, DurationMS: e.DurationMS, CallID: e.CallID, Seq: e.Seq}
		kb, _ := json.Marshal(k)
		c.publish(c.topics.Key(e.Line), false, kb)
	case sipphone.EventFlash:
		kb, _ := json.Marshal(keyEvent{EventType: "flash", CallID: e.CallID, Seq: e.Seq})
		c.publish(c.topics.Key(e.Line), false, kb)
	case sipphone.EventDialed:
		c.lastDialed[e.Line] = e.Number
	case sipphone.EventAudioLevel, sipphone.EventDTMFStart:
		return // no state change
	}
	c.sync(false)
}

// keyEvent is the payload of the key topic, the shape Home Assistant's MQTT
// event entity reads (event_type, other keys become attributes).
type keyEvent struct {
	EventType  string `json:"event_type"`
	Method     string `json:"method,omitempty"`
	DurationMS *int   `json:"duration_ms,omitempty"`
	CallID     string `json:"call_id,omitempty"`
	Seq        uint64 `json:"seq,omitempty"`
}

// LineState is the retained state of a line: the line as GET /lines/{id}
// shows it (without the call's media statistics), plus ringing and the
// last number dialed.
type LineState struct {
	sipphone.LineStatus
	Ringing    bool   `json:"ringing"`
	LastDialed string `json:"last_dialed,omitempty"`
}

func (c *Client) lineState(l sipphone.LineStatus) []byte {
	if l.Call != nil {
		call := *l.Call
		call.Media = nil
		l.Call = &call
		if call.Dialed != "" {
			c.lastDialed[l.ID] = call.Dialed
		}
	}
	b, _ := json.Marshal(LineState{LineStatus: l, Ringing: l.State == sipphone.StateRinging, LastDialed: c.lastDialed[l.ID]})
	return b
}

// sync publishes every line's state and discovery that changed (all of
// them when force), and removes the devices of lines that are gone.
func (c *Client) sync(force bool) {
	if !c.pc.IsConnectionOpen() {
		return // everything is republished on connect
	}
	st := c.lines.Status()
	seen := make(map[string]bool, len(st))
	if c.cfg.Discovery {
		hub := c.disc.hub()
		c.retain(c.topics.Discovery(c.disc.hubNode()), hub, c.lastDisc, c.disc.hubNode(), force)
	}
	for _, l := range st {
		seen[l.ID] = true
		if c.cfg.Discovery {
			node := c.disc.lineNode(l.ID)
			if c.retain(c.topics.Discovery(node), c.disc.line(l), c.lastDisc, node, force) {
				c.discLines[l.ID] = true
			}
		}
		c.retain(c.topics.State(l.ID), c.lineState(l), c.lastState, l.ID, force)
	}
	for id := range c.lastState {
		if seen[id] {
			continue
		}
		if c.publish(c.topics.State(id), true, nil) {
			delete(c.lastState, id)
		}
	}
	for id := range c.discLines {
		if seen[id] {
			continue
		}
		node := c.disc.lineNode(id)
		if c.publish(c.topics.Discovery(node), true, nil) {
			delete(c.discLines, id)
			delete(c.lastDisc, node)
			c.log.Info("line removed from Home Assistant", "line", id)
		}
	}
}

// retain publishes a retained payload unless last[key] already holds it;
// it reports whether the payload is now published.
func (c *Client) retain(topic string, b []byte, last map[string][]byte, key string, force bool) bool {
	if !force && string(last[key]) == string(b) {
		return true
	}
	if !c.publish(topic, true, b) {
		delete(last, key)
		return false
	}
	last[key] = b
	return true
}

// publish sends one message with QoS 1. While the broker is away nothing
// waits: non-retained messages are dropped (and counted), retained ones
// are republished on reconnect.
func (c *Client) publish(topic string, retained bool, b []byte) bool {
	if !c.pc.IsConnectionOpen() {
		if !retained {
			c.dropped.Add(1)
		}
		return false
	}
	tok := c.pc.Publish(topic, 1, retained, b)
	t := time.NewTimer(c.cfg.WriteTimeout)
	defer t.Stop()
	select {
	case <-tok.Done():
	case <-t.C:
	case <-c.stop: // closing: do not hold up the shutdown
	}
	if !isDone(tok) || tok.Error() != nil {
		c.dropped.Add(1)
		c.log.Debug("MQTT publish failed", "topic", topic, "err", tok.Error())
		return false
	}
	c.out.Add(1)
	return true
}

// publishError publishes a failed command as an error event. Safe from
// any goroutine.
func (c *Client) publishError(line, cmd, topic string, err error) {
	status, title := problem(err)
	c.log.Info("MQTT command failed", "line", line, "command", cmd, "status", status, "err", err)
	b, _ := json.Marshal(errorEvent{Type: EventError, Line: line, Timestamp: sipphone.Timestamp(time.Now()),
		Command: cmd, Topic: topic, Title: title, Status: status, Detail: err.Error()})
	if line == "" {
		line = "_"
	}
	c.publish(c.topics.Event(line), false, b)
}

// problem maps a domain error to the HTTP status and title the REST API
// answers with.
func problem(err error) (int, string) {
	s := 500
	switch {
	case errors.Is(err, sipphone.ErrLineNotFound), errors.Is(err, sipphone.ErrNotFound):
		s = 404
	case errors.Is(err, sipphone.ErrLineBusy), errors.Is(err, sipphone.ErrNoCall), errors.Is(err, sipphone.ErrNotRinging):
		s = 409
	case errors.Is(err, sipphone.ErrNotRegistered), errors.Is(err, sipphone.ErrShuttingDown):
		s = 503
	case errors.Is(err, sipphone.ErrInvalid):
		s = 422
	}
	return s, statusText[s]
}

var statusText = map[int]string{404: "Not Found", 409: "Conflict", 422: "Unprocessable Entity", 500: "Internal Server Error", 503: "Service Unavailable"}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sipphone.ErrInvalid}, args...)...)
}

func isDone(t paho.Token) bool {
	select {
	case <-t.Done():
		return true
	default:
		return false
	}
}
