package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of Config and LineConfig, mostly the HT802's factory settings.
const (
	DefaultUserAgent     = "Grandstream HT802 1.0.53.2 (simulated)"
	DefaultAutoDial      = "100"
	DefaultExpires       = time.Hour        // Register Expiration: 60 minutes
	DefaultRetryInterval = 20 * time.Second // retry after a failed registration
	DefaultRingTimeout   = 60 * time.Second // Ring Timeout
	DefaultTelephonePT   = 101
	DefaultDigitDuration = 100 * time.Millisecond
	DefaultDigitGap      = 100 * time.Millisecond
	maxLines             = 2
	eventBuffer          = 256
	quietTimeout         = time.Second // bound of each hang-up done by Close
)

// Event types published on Phone.Events.
const (
	EventRegistered         = "registered"          // a REGISTER (or refresh) was accepted
	EventRegistrationFailed = "registration_failed" // a REGISTER was refused (Status) or unanswered (0)
	EventUnregistered       = "unregistered"        // Unregister was accepted
	EventRinging            = "ringing"             // an INVITE rings the line (caller ID, Alert-Info)
	EventAnswered           = "answered"            // the line answered the ringing call (200 and ACK)
	EventCancelled          = "cancelled"           // the caller cancelled the ringing call
	EventRingTimeout        = "ring_timeout"        // nobody answered within the Ring Timeout (480 sent)
	EventHangupByServer     = "hangup_by_server"    // BYE received; the user hears reorder tone
	EventRingback           = "ringback"            // the called side rings (180/183 to our INVITE)
	EventCallFailed         = "call_failed"         // our INVITE got a final error response (Status)
	EventCallEstablished    = "call_established"    // our INVITE was answered (200 and ACK sent)
)

// Line states returned by Phone.State.
const (
	StateUnregistered = "unregistered" // no registration (and Config.NoRegister unset)
	StateIdle         = "idle"         // on-hook, no call
	StateRinging      = "ringing"      // an incoming call rings
	StateCalling      = "calling"      // our INVITE awaits its final response
	StateInCall       = "in_call"      // a call is up
	StateOffHook      = "off_hook"     // handset still lifted after the call ended or failed (reorder tone)
)

// Errors callers may branch on.
var (
	// ErrNoLine means the line index is outside Config.Lines.
	ErrNoLine = errors.New("no such line")
	// ErrLineBusy means the line already has a call.
	ErrLineBusy = errors.New("line busy")
	// ErrNotRinging means Answer was called while the line does not ring.
	ErrNotRinging = errors.New("line is not ringing")
	// ErrNoCall means the line has no established call.
	ErrNoCall = errors.New("no call on line")
	// ErrClosed means the phone was closed (or not started).
	ErrClosed = errors.New("phone closed")

	errCallEnded = errors.New("call ended")
)

// StatusError is a SIP final response that refused a request.
type StatusError struct {
	Method string
	Code   int
	Reason string
}

// Error describes the refusal, e.g. "INVITE refused: 486 Busy Here".
func (e *StatusError) Error() string {
	return fmt.Sprintf("%s refused: %d %s", e.Method, e.Code, e.Reason)
}

// AnswerMode is what a line does when it rings.
type AnswerMode int

// Answer modes.
const (
	// AnswerAuto lifts the handset after the line's answer delay; when the
	// server later hangs up, the simulated person puts it down again.
	AnswerAuto AnswerMode = iota
	// AnswerNever lets it ring until cancelled, answered by Answer, or the
	// Ring Timeout.
	AnswerNever
	// AnswerBusy refuses with 486 Busy Here without ringing.
	AnswerBusy
	// AnswerReject rings, then refuses with 603 Decline after the delay.
	AnswerReject
)

var answerModeNames = [...]string{"auto", "never", "busy", "reject"}

// String returns the mode's name as ParseAnswerMode accepts it.
func (m AnswerMode) String() string {
	if m >= 0 && int(m) < len(answerModeNames) {
		return answerModeNames[m]
	}
	return "AnswerMode(" + strconv.Itoa(int(m)) + ")"
}

// ParseAnswerMode parses "auto", "never", "busy" or "reject".
func ParseAnswerMode(s string) (AnswerMode, error) {
	for i, n := range answerModeNames {
		if strings.EqualFold(s, n) {
			return AnswerMode(i), nil
		}
	}
	return 0, fmt.Errorf("unknown answer mode %q (want auto, never, busy or reject)", s)
}

// Config describes the simulated adapter. Zero fields take the defaults.
type Config struct {
	Server    string        // "host:port" of the SIP server (Primary SIP Server)
	Transport string        // "udp" (default) or "tcp"
	Local     string        // local bind IP, default "127.0.0.1"; ports come from the OS
	Lines     []LineConfig  // 1 or 2 ports; default one line with user "phone1"
	AutoDial  string        // Offhook Auto-Dial number, default "100"
	Expires   time.Duration // Register Expiration, default 1h
	Logger    *slog.Logger  // nil discards

	// NoRegister leaves the lines unregistered (the adapter's "SIP
	// Registration: No"): Start only binds. Calls still work.
	NoRegister bool
	// RetryInterval is the wait after a failed registration (default 20 s;
	// after 403 Forbidden the adapter waits a full Expires).
	RetryInterval time.Duration
	// RingTimeout ends an unanswered incoming call with 480 (default 60 s).
	RingTimeout time.Duration
	// UserAgent is the User-Agent header (default DefaultUserAgent).
	UserAgent string
}

// LineConfig is one FXS port's account and behaviour.
type LineConfig struct {
	User             string     // SIP User ID
	AuthUser         string     // Authenticate ID, default User
	Password         string     // digest password
	DisplayName      string     // name in From
	DTMF             DTMFMethod // default rfc2833
	TelephoneEventPT uint8      // offered telephone-event type, default 101

	DigitDuration time.Duration // how long a key is held, default 100 ms
	DigitGap      time.Duration // pause between keys, default 100 ms
	Answer        AnswerMode    // initial answer mode, default AnswerAuto
	AnswerDelay   time.Duration // delay of AnswerAuto and AnswerReject
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Transport == "" {
		c.Transport = "udp"
	}
	c.Transport = strings.ToLower(c.Transport)
	if c.Local == "" {
		c.Local = "127.0.0.1"
	}
	if len(c.Lines) == 0 {
		c.Lines = []LineConfig{{User: "phone1"}}
	}
	c.Lines = append([]LineConfig(nil), c.Lines...)
	for i := range c.Lines {
		l := &c.Lines[i]
		if l.AuthUser == "" {
			l.AuthUser = l.User
		}
		if l.DTMF == "" {
			l.DTMF = DTMFRFC2833
		}
		if l.TelephoneEventPT == 0 {
			l.TelephoneEventPT = DefaultTelephonePT
		}
		if l.DigitDuration == 0 {
			l.DigitDuration = DefaultDigitDuration
		}
		if l.DigitGap == 0 {
			l.DigitGap = DefaultDigitGap
		}
	}
	if c.AutoDial == "" {
		c.AutoDial = DefaultAutoDial
	}
	if c.Expires == 0 {
		c.Expires = DefaultExpires
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = DefaultRetryInterval
	}
	if c.RingTimeout == 0 {
		c.RingTimeout = DefaultRingTimeout
	}
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	return c
}

// Validate reports the first invalid setting by its key, after defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	host, port, err := net.SplitHostPort(c.Server)
	if err != nil || host == "" {
		return fmt.Errorf("server: want host:port, got %q", c.Server)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return fmt.Errorf("server: bad port in %q", c.Server)
	}
	if c.Transport != "udp" && c.Transport != "tcp" {
		return fmt.Errorf("transport: want udp or tcp, got %q", c.Transport)
	}
	if _, err := netip.ParseAddr(c.Local); err != nil {
		return fmt.Errorf("local: want an IP address, got %q", c.Local)
	}
	if len(c.Lines) > maxLines {
		return fmt.Errorf("lines: an HT802 has %d ports, got %d", maxLines, len(c.Lines))
	}
	for i, l := range c.Lines {
		if l.User == "" || strings.ContainsAny(l.User, "@:; <>\"") {
			return fmt.Errorf("lines[%d].user: invalid SIP user %q", i, l.User)
		}
		switch l.DTMF {
		case DTMFRFC2833, DTMFInfo, DTMFInband:
		default:
			return fmt.Errorf("lines[%d].dtmf: want rfc2833, info or inband, got %q", i, l.DTMF)
		}
		if l.TelephoneEventPT < 96 || l.TelephoneEventPT > 127 {
			return fmt.Errorf("lines[%d].telephone_event_pt: want 96-127, got %d", i, l.TelephoneEventPT)
		}
		if l.DigitDuration < 0 || l.DigitGap < 0 || l.AnswerDelay < 0 {
			return fmt.Errorf("lines[%d]: durations must not be negative", i)
		}
		if l.Answer < AnswerAuto || l.Answer > AnswerReject {
			return fmt.Errorf("lines[%d].answer: unknown mode %d", i, l.Answer)
		}
	}
	if c.AutoDial == "" || strings.ContainsAny(c.AutoDial, "@:; <>\"") {
		return fmt.Errorf("auto_dial: invalid number %q", c.AutoDial)
	}
	if c.Expires < time.Second {
		return fmt.Errorf("expires: want at least 1s, got %s", c.Expires)
	}
	if c.RetryInterval < 0 || c.RingTimeout < 0 {
		return errors.New("retry_interval, ring_timeout: must not be negative")
	}
	return nil
}

// Event is something that happened on a line, as a test or a user sees it.
type Event struct {
	Line         int    // line index (0-based)
	Type         string // one of the Event* constants
	CallerName   string // ringing: From display name
	CallerNumber string // ringing: From user part
	AlertInfo    string // ringing: Alert-Info header value
	Status       int    // SIP status of the response behind the event, if any
}

// Phone is a simulated HT802. Its methods are safe for concurrent use.
type Phone struct {
	cfg    Config
	log    *slog.Logger
	lines  []*line
	events chan Event

	ctx     context.Context // cancelled by Close: stops loops, ringing and requests
	cancel  context.CancelFunc
	closing <-chan struct{} // ctx.Done()
	loops   sync.WaitGroup  // registration loops
	wg      sync.WaitGroup  // SIP request handlers

	mu       sync.Mutex // guards started, closed, evClosed; lock order: Phone.mu before line.mu
	started  bool
	closed   bool
	evClosed bool
}

// New validates cfg and builds a phone without touching the network.
func New(cfg Config) (*Phone, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sim config: %w", err)
	}
	cfg = cfg.withDefaults()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "sim")
	ctx, cancel := context.WithCancel(context.Background())
	p := &Phone{
		cfg:     cfg,
		log:     log,
		events:  make(chan Event, eventBuffer),
		ctx:     ctx,
		cancel:  cancel,
		closing: ctx.Done(),
	}
	ip := netip.MustParseAddr(cfg.Local)
	host, portStr, _ := net.SplitHostPort(cfg.Server)
	port, _ := strconv.Atoi(portStr)
	for i, lc := range cfg.Lines {
		p.lines = append(p.lines, newLine(p, i, lc, ip, host, port))
	}
	return p, nil
}

// Start binds each line's SIP port, begins answering requests, and registers
// every line (unless Config.NoRegister). It returns when all lines are
// registered, or the first registration error; lines that failed keep
// retrying like the adapter. If binding fails everything is stopped.
func (p *Phone) Start(ctx context.Context) error {
	p.mu.Lock()
	if p.started || p.closed {
		p.mu.Unlock()
		return errors.New("sim: already started or closed")
	}
	p.started = true
	p.mu.Unlock()

	for _, l := range p.lines {
		if err := l.bind(); err != nil {
			_ = p.Close()
			return fmt.Errorf("sim: line %d: %w", l.idx+1, err)
		}
	}
	for _, l := range p.lines {
		p.loops.Add(1)
		go l.refreshLoop()
	}
	if p.cfg.NoRegister {
		return nil
	}
	var errs []error
	for _, l := range p.lines {
		if err := l.register(ctx); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", l.idx+1, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("sim: register: %w", errors.Join(errs...))
	}
	return nil
}

// Close hangs up calls without publishing events (each hang-up bounded to a
// second), stops every goroutine, frees the sockets and closes Events. It
// does not unregister, like an adapter losing power. Close is idempotent.
func (p *Phone) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.cancel()

	// Hang up while the user agents still work, then stop them (handlers
	// waiting on transactions return), then free the sockets.
	var wg sync.WaitGroup
	for _, l := range p.lines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.hangupQuietly()
		}()
	}
	wg.Wait()
	p.loops.Wait()
	var errs []error
	for _, l := range p.lines {
		if err := l.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	p.wg.Wait()
	for _, l := range p.lines {
		if err := l.release(); err != nil {
			errs = append(errs, err)
		}
	}

	p.mu.Lock()
	p.evClosed = true
	close(p.events)
	p.mu.Unlock()
	return errors.Join(errs...)
}

// track registers a goroutine doing work for the phone (a SIP handler);
// it fails once Close began, so Close can wait for all of them.
func (p *Phone) track() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	return true
}

// emit publishes ev without blocking: when the buffer is full it is dropped.
func (p *Phone) emit(ev Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.evClosed {
		return
	}
	select {
	case p.events <- ev:
	default:
		p.log.Warn("event dropped: buffer full", "line", ev.Line, "type", ev.Type)
	}
}

// isClosing reports whether Close began.
func (p *Phone) isClosing() bool {
	select {
	case <-p.closing:
		return true
	default:
		return false
	}
}

// Events returns the buffered event stream. It is closed by Close; events
// that find the buffer full are dropped.
func (p *Phone) Events() <-chan Event { return p.events }

func (p *Phone) line(i int) (*line, error) {
	if i < 0 || i >= len(p.lines) {
		return nil, fmt.Errorf("line %d: %w", i+1, ErrNoLine)
	}
	return p.lines[i], nil
}

func (p *Phone) running(i int) (*line, error) {
	l, err := p.line(i)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	ok := p.started && !p.closed
	p.mu.Unlock()
	if !ok || !l.bound() {
		return nil, ErrClosed
	}
	return l, nil
}

// Register sends a REGISTER for the line now (answering a digest challenge)
// and keeps refreshing it before it expires.
func (p *Phone) Register(ctx context.Context, line int) error {
	l, err := p.running(line)
	if err != nil {
		return err
	}
	return l.register(ctx)
}

// Unregister stops refreshing and sends REGISTER with "Contact: *" and
// "Expires: 0".
func (p *Phone) Unregister(ctx context.Context, line int) error {
	l, err := p.running(line)
	if err != nil {
		return err
	}
	return l.unregister(ctx)
}

// OffHook lifts the handset: the line sends an INVITE to the Offhook
// Auto-Dial number. It returns once the call is answered and acknowledged,
// or with the error of the attempt (a *StatusError for a final response).
// OnHook, or cancelling ctx, while it waits sends CANCEL.
func (p *Phone) OffHook(ctx context.Context, line int) error {
	return p.Dial(ctx, line, p.cfg.AutoDial)
}

// Dial lifts the handset and dials digits: the INVITE goes to
// sip:<digits>@server, as the adapter sends after '#' (a trailing '#' is
// the send key and not part of the number).
func (p *Phone) Dial(ctx context.Context, line int, digits string) error {
	l, err := p.running(line)
	if err != nil {
		return err
	}
	number := strings.TrimSuffix(strings.TrimSpace(digits), "#")
	if number == "" || strings.ContainsAny(number, "@:; <>\"") {
		return fmt.Errorf("dial: invalid number %q", digits)
	}
	return l.dial(ctx, number)
}

// OnHook puts the handset down: BYE for a call that is up, CANCEL for one
// still ringing out; nothing is sent when no call is up.
func (p *Phone) OnHook(ctx context.Context, line int) error {
	l, err := p.running(line)
	if err != nil {
		return err
	}
	return l.onHook(ctx)
}

// SetAnswer sets what the line does when it rings next.
func (p *Phone) SetAnswer(line int, mode AnswerMode, delay time.Duration) {
	l, err := p.line(line)
	if err != nil {
		return
	}
	l.mu.Lock()
	l.mode, l.delay = mode, max(delay, 0)
	l.mu.Unlock()
}

// Answer lifts the handset while the line rings; it returns once the 200 OK
// was acknowledged.
func (p *Phone) Answer(ctx context.Context, line int) error {
	l, err := p.running(line)
	if err != nil {
		return err
	}
	return l.answerRinging(ctx)
}

// SendDigits presses keys during a call by the line's DTMF method; 'F' or
// '!' is a hook flash. It returns after the last key was sent.
func (p *Phone) SendDigits(ctx context.Context, line int, digits string) error {
	l, err := p.running(line)
	if err != nil {
		return err
	}
	keys, err := parseKeys(digits)
	if err != nil {
		return err
	}
	return l.sendKeys(ctx, keys)
}

// PlayTone replaces the line's outgoing audio by a sine of freq Hz at dBm0
// (freq 0 = silence). It applies to the current and later calls.
func (p *Phone) PlayTone(line int, freq, dBm0 float64) {
	if l, err := p.line(line); err == nil {
		l.src.setTone(freq, dBm0)
	}
}

// PlaySamples replaces the outgoing audio by 8 kHz samples, then silence.
func (p *Phone) PlaySamples(line int, pcm []int16) {
	if l, err := p.line(line); err == nil {
		l.src.setSamples(pcm)
	}
}

// PlayWAV replaces the outgoing audio by an 8 kHz WAV file (16-bit PCM,
// A-law or µ-law; the first channel), then silence.
func (p *Phone) PlayWAV(line int, r io.Reader) error {
	l, err := p.line(line)
	if err != nil {
		return err
	}
	pcm, err := readWAV(r)
	if err != nil {
		return err
	}
	l.src.setSamples(pcm)
	return nil
}

// ReceivedAudio returns a copy of the decoded audio received in the current
// or last call: at most its last 60 seconds.
func (p *Phone) ReceivedAudio(line int) []int16 {
	l, err := p.line(line)
	if err != nil {
		return nil
	}
	return l.rx.samples()
}

// Received summarises the RTP of the current or last call.
func (p *Phone) Received(line int) RxStats {
	l, err := p.line(line)
	if err != nil {
		return RxStats{LastPayloadType: -1}
	}
	return l.rx.stats()
}

// State returns the line's state: one of the State* constants ("" for an
// unknown line).
func (p *Phone) State(line int) string {
	l, err := p.line(line)
	if err != nil {
		return ""
	}
	return l.state()
}

// ContactAddr returns the line's local SIP address (the host:port of its
// Contact), or "" before Start.
func (p *Phone) ContactAddr(line int) string {
	l, err := p.line(line)
	if err != nil || !l.bound() {
		return ""
	}
	return l.contactAddr()
}
