package line

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/events"
	"github.com/sip-phone-api/sipphone/internal/media"
	"github.com/sip-phone-api/sipphone/internal/rtp"
	"github.com/sip-phone-api/sipphone/internal/state"
)

// LineConfig is a configured line.
type LineConfig struct {
	ID, User, DisplayName string
}

// MediaConfig is how the owner runs a call's media.
type MediaConfig struct {
	Ports *rtp.Ports // the RTP port range; required
	// Clock sends every call's RTP from one goroutine; nil gives each call
	// a ticker of its own.
	Clock *media.Clock
	// JitterMax bounds the receive jitter buffer; RTPTimeout ends a call
	// whose phone sends no RTP for that long (0: never).
	JitterMax, RTPTimeout time.Duration
	// InbandDTMF runs the in-band DTMF detector on every call.
	InbandDTMF bool
	// ObserveCapture and ObservePlayback receive every audio latency
	// sample of every call (metrics); nil for none. They must not block.
	ObserveCapture, ObservePlayback func(time.Duration)
}

// Config configures a Manager.
type Config struct {
	Lines        []LineConfig // configured lines; empty means any user may become a line
	AutoDial     string       // the Offhook Auto-Dial target: an INVITE to it is not a dialed number
	RingTimeout  time.Duration
	RingPatterns map[string]string // pattern name -> Alert-Info value
	StatePath    string            // "" disables persistence
	Media        MediaConfig
	Logger       *slog.Logger
	Bus          *events.Bus
	Now          func() time.Time
}

type lineState struct {
	id, user, displayName string
	configured            bool
	reg                   *sipphone.Registration
	state                 sipphone.LineState
	cur                   *call // the line's call: a ring of ours, or a call being answered or up
	lastDTMF              string
	lastDTMFAt            time.Time
	expiry                *time.Timer
	streams               map[string]*Stream
}

// Manager is the single owner of line and call state.
type Manager struct {
	cfg Config
	log *slog.Logger
	bus *events.Bus
	now func() time.Time

	// mu guards every field below and every lineState and call. See the
	// package doc for the lock order.
	mu      sync.Mutex
	lines   []*lineState // in order: configured first, then by first registration
	byUser  map[string]*lineState
	byID    map[string]*lineState
	calls   map[string]*call      // SIP Call-ID -> call: the one registry of calls
	streams map[string]*lineState // audio stream id -> line
	ended   []endedStream         // streams stopped lately, oldest first (stopstreams.go)
	sig     sipphone.Signaller
	closed  bool          // shutting down: no new calls or rings
	drained chan struct{} // closed when closed and no call is left

	dirty    chan struct{}    // wakes the worker to persist; buffered 1
	finished chan playbackEnd // playbacks whose audio has been sent
	timeouts chan string      // Call-IDs whose phone stopped sending RTP
	stop     chan struct{}
	ctx      context.Context // cancelled by Close: BYEs still waiting give up
	cancel   context.CancelFunc
	wg       sync.WaitGroup // the worker and every BYE goroutine
}

// New builds a manager. It starts no goroutine until Start.
func New(cfg Config) (*Manager, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RingTimeout <= 0 {
		cfg.RingTimeout = 30 * time.Second
	}
	if cfg.Media.Ports == nil {
		return nil, fmt.Errorf("line: Media.Ports is required")
	}
	m := &Manager{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "line"),
		bus:      cfg.Bus,
		now:      cfg.Now,
		byUser:   map[string]*lineState{},
		byID:     map[string]*lineState{},
		calls:    map[string]*call{},
		streams:  map[string]*lineState{},
		drained:  make(chan struct{}),
		dirty:    make(chan struct{}, 1),
		finished: make(chan playbackEnd, 256),
		timeouts: make(chan string, 64),
		stop:     make(chan struct{}),
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	for _, lc := range cfg.Lines {
		m.add(&lineState{id: lc.ID, user: lc.User, displayName: lc.DisplayName, configured: true, state: sipphone.StateUnregistered})
	}
	return m, nil
}

func (m *Manager) add(l *lineState) {
	m.lines = append(m.lines, l)
	m.byUser[l.user] = l
	m.byID[l.id] = l
}

// Restore applies a persisted state: lines learned dynamically come back in
// their order, and bindings that have not expired are live again so the
// phone can be rung at once after a restart.
func (m *Manager) Restore(f *state.File) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for _, pl := range f.Lines {
		l := m.byUser[pl.User]
		if l == nil {
			if len(m.cfg.Lines) > 0 {
				continue // no longer configured
			}
			l = &lineState{id: pl.ID, user: pl.User, state: sipphone.StateUnregistered}
			if m.byID[l.id] != nil {
				continue
			}
			m.add(l)
		}
		if !l.configured && pl.DisplayName != "" {
			l.displayName = pl.DisplayName
		}
		if pl.Registration != nil && pl.Registration.Expires.After(now) {
			reg := *pl.Registration
			l.reg = &reg
			l.state = sipphone.StateOnHook
			if pl.State == sipphone.StateUnknown { // we ended its call before the restart
				l.state = sipphone.StateUnknown
			}
			m.armExpiry(l)
			m.log.Info("restored registration", "line", l.id, "contact", reg.Contact, "expires", reg.Expires)
		}
	}
}

// SetSignaller connects the SIP side. Call before Start.
func (m *Manager) SetSignaller(s sipphone.Signaller) {
	m.mu.Lock()
	m.sig = s
	m.mu.Unlock()
}

// Start runs the manager's worker goroutine.
func (m *Manager) Start() {
	m.wg.Add(1)
	go m.work()
}

// Shutdown takes no new calls, stops every ring, ends every call with BYE
// (publishing hangup {reason: shutdown} first) and waits until the rings
// have ended and the BYEs were answered, or ctx ends.
func (m *Manager) Shutdown(ctx context.Context) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	var ended, unanswered []*call
	for _, c := range m.calls {
		switch {
		case c.ring != nil:
			m.sig.CancelRing(c.dialog, sipphone.RingStopped)
		case c.media == nil: // the phone's INVITE not answered yet: it gets 503
			m.forgetLocked(c)
			unanswered = append(unanswered, c)
		case c.ending: // its BYE is on its way already
		default:
			c.ending = true
			m.endCallLocked(c, sipphone.StateUnknown, sipphone.EventHangup, "shutdown")
			ended = append(ended, c)
		}
	}
	m.checkDrainedLocked()
	m.mu.Unlock()
	for _, c := range unanswered {
		c.releaseMedia(m.cfg.Media.Ports)
	}
	var wg sync.WaitGroup
	for _, c := range ended {
		c.releaseMedia(m.cfg.Media.Ports)
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.sig.Hangup(ctx, c.dialog)
			m.mu.Lock()
			m.removeLocked(c)
			m.mu.Unlock()
		}()
	}
	wg.Wait()
	select {
	case <-m.drained:
	case <-ctx.Done():
	}
}

func (m *Manager) checkDrainedLocked() {
	if m.closed && len(m.calls) == 0 {
		select {
		case <-m.drained:
		default:
			close(m.drained)
		}
	}
}

// Close stops timers and the worker after a final save. Call it after
// Shutdown and after the SIP side stopped; calls still known are released.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	var left []*call
	for _, c := range m.calls {
		c.ending = false
		m.forgetLocked(c)
		left = append(left, c)
	}
	for _, l := range m.lines {
		if l.expiry != nil {
			l.expiry.Stop()
		}
	}
	select {
	case <-m.stop:
		m.mu.Unlock()
		return
	default:
		close(m.stop)
	}
	m.mu.Unlock()
	m.cancel()
	for _, c := range left {
		c.releaseMedia(m.cfg.Media.Ports)
	}
	m.wg.Wait()
}

// work is the manager's goroutine: it writes the state file when it
// changed, finishes playbacks and ends calls whose RTP stopped (both
// noticed by media goroutines, which must not wait for the manager).
func (m *Manager) work() {
	defer m.wg.Done()
	for {
		select {
		case <-m.dirty:
			m.save()
		case p := <-m.finished:
			m.finishPlayback(p)
		case id := <-m.timeouts:
			m.rtpTimeout(id)
		case <-m.stop:
			m.save()
			return
		}
	}
}

func (m *Manager) markDirty() {
	select {
	case m.dirty <- struct{}{}:
	default:
	}
}

func (m *Manager) save() {
	if m.cfg.StatePath == "" {
		return
	}
	f := m.snapshotState()
	if err := state.Save(m.cfg.StatePath, f); err != nil {
		m.log.Error("cannot persist state; bindings will be lost on restart", "path", m.cfg.StatePath, "err", err)
	}
}

func (m *Manager) snapshotState() *state.File {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := &state.File{LastSeq: m.lastSeq()}
	if m.bus != nil {
		f.Events = m.bus.Recent(persistedEvents)
	}
	for _, l := range m.lines {
		pl := state.Line{ID: l.id, User: l.user, DisplayName: l.displayName}
		if l.state == sipphone.StateUnknown {
			pl.State = l.state
		}
		if l.reg != nil {
			r := *l.reg
			pl.Registration = &r
		}
		f.Lines = append(f.Lines, pl)
	}
	return f
}

func (m *Manager) lastSeq() uint64 {
	if m.bus == nil {
		return 0
	}
	return m.bus.LastSeq()
}

// Flush writes the state file now (used at shutdown and by tests).
func (m *Manager) Flush() { m.save() }

func (m *Manager) publish(e sipphone.Event) {
	if m.bus != nil {
		m.bus.Publish(e)
	}
}

var idUnsafe = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// lineForUser returns the line of a SIP user, creating it when lines are
// learned dynamically. It returns nil when the user is not a line.
func (m *Manager) lineForUser(user string) *lineState {
	if l := m.byUser[user]; l != nil {
		return l
	}
	if len(m.cfg.Lines) > 0 || user == "" {
		return nil
	}
	id := idUnsafe.ReplaceAllString(user, "_")
	if len(id) > 64 {
		id = id[:64]
	}
	for base, i := id, 2; m.byID[id] != nil; i++ {
		id = fmt.Sprintf("%s-%d", base, i)
	}
	l := &lineState{id: id, user: user, state: sipphone.StateUnregistered}
	m.add(l)
	return l
}

// IsLine implements sipphone.CallFacts.
func (m *Manager) IsLine(user string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byUser[user] != nil || (len(m.cfg.Lines) == 0 && user != "")
}

// RegisteredFrom implements sipphone.CallFacts.
func (m *Manager) RegisteredFrom(addr string) bool {
	y, err := netip.ParseAddrPort(addr)
	if err != nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range m.lines {
		if l.reg == nil {
			continue
		}
		if x, err := netip.ParseAddrPort(l.reg.Source); err == nil && x.Addr().Unmap() == y.Addr().Unmap() && x.Port() == y.Port() {
			return true
		}
	}
	return false
}

// Register implements sipphone.CallFacts: a REGISTER with a non-zero expiry.
func (m *Manager) Register(user string, reg sipphone.Registration) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.lineForUser(user)
	if l == nil {
		return "", sipphone.ErrLineNotFound
	}
	fresh := l.reg == nil || l.reg.Contact != reg.Contact || l.reg.Source != reg.Source
	if !fresh {
		reg.Since = l.reg.Since
	} else {
		reg.Since = m.now()
	}
	l.reg = &reg
	m.armExpiry(l)
	if l.state == sipphone.StateUnregistered && l.cur == nil {
		l.state = sipphone.StateOnHook
	}
	if fresh {
		m.log.Info("line registered", "line", l.id, "contact", reg.Contact, "user_agent", reg.UserAgent, "expires", reg.Expires.Sub(m.now()).Round(time.Second))
		m.publish(sipphone.Event{Type: sipphone.EventRegistered, Line: l.id, Contact: reg.Contact, UserAgent: reg.UserAgent})
	}
	m.markDirty()
	return l.id, nil
}

func (m *Manager) armExpiry(l *lineState) {
	if l.expiry != nil {
		l.expiry.Stop()
	}
	reg := l.reg
	l.expiry = time.AfterFunc(reg.Expires.Sub(m.now()), func() { m.expire(l, reg) })
}

func (m *Manager) expire(l *lineState, reg *sipphone.Registration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l.reg != reg || m.closed { // refreshed or replaced since
		return
	}
	m.log.Warn("registration expired", "line", l.id, "contact", reg.Contact)
	m.unregisterLocked(l, "expired")
}

// Binding implements sipphone.CallFacts.
func (m *Manager) Binding(user string) (sipphone.Registration, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l := m.byUser[user]; l != nil && l.reg != nil {
		return *l.reg, true
	}
	return sipphone.Registration{}, false
}

// Unregister implements sipphone.CallFacts (Expires 0 or Contact *).
func (m *Manager) Unregister(user, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.byUser[user]
	if l == nil || l.reg == nil {
		return
	}
	m.log.Info("line unregistered", "line", l.id, "reason", reason)
	m.unregisterLocked(l, reason)
}

func (m *Manager) unregisterLocked(l *lineState, reason string) {
	if l.expiry != nil {
		l.expiry.Stop()
		l.expiry = nil
	}
	l.reg = nil
	// A call in progress is not torn down here: the adapter ends it by BYE
	// (or the media timeout does). The line is only unreachable for rings.
	if l.cur == nil {
		l.state = sipphone.StateUnregistered
	}
	m.publish(sipphone.Event{Type: sipphone.EventUnregistered, Line: l.id, Reason: reason})
	m.markDirty()
}

// resolve returns the line for an API line id; "" means the first line.
func (m *Manager) resolve(id string) (*lineState, error) {
	if id == "" {
		if len(m.lines) == 0 {
			return nil, fmt.Errorf("%w: no line has registered yet and none is configured", sipphone.ErrLineNotFound)
		}
		return m.lines[0], nil
	}
	l := m.byID[id]
	if l == nil {
		return nil, fmt.Errorf("%w: %q (known lines: %s)", sipphone.ErrLineNotFound, id, strings.Join(m.idsLocked(), ", "))
	}
	return l, nil
}

func (m *Manager) idsLocked() []string {
	ids := make([]string, 0, len(m.lines))
	for _, l := range m.lines {
		ids = append(ids, l.id)
	}
	if len(ids) == 0 {
		return []string{"none yet"}
	}
	return ids
}

// Status returns every line, in order.
func (m *Manager) Status() []sipphone.LineStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.statusLocked()
}

func (m *Manager) statusLocked() []sipphone.LineStatus {
	out := make([]sipphone.LineStatus, 0, len(m.lines))
	for _, l := range m.lines {
		out = append(out, l.status())
	}
	return out
}

// Line returns one line's status; "" means the first line.
func (m *Manager) Line(id string) (sipphone.LineStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.resolve(id)
	if err != nil {
		return sipphone.LineStatus{}, err
	}
	return l.status(), nil
}

// Subscribe registers an event subscriber and returns, atomically with it,
// the state snapshot every new client receives first, and the replayed
// events when since is set. The snapshot is consistent with the events
// that follow: nothing is missed or counted twice.
func (m *Manager) Subscribe(f events.Filter, queueLen int, since *uint64) (*events.Subscription, sipphone.Event, []sipphone.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sub, replay := m.bus.Subscribe(f, queueLen, since)
	snap := sipphone.Event{Type: sipphone.EventState, Seq: m.bus.LastSeq(), Timestamp: sipphone.Timestamp(m.now()), Lines: m.statusLocked()}
	return sub, snap, replay
}

func (l *lineState) status() sipphone.LineStatus {
	s := sipphone.LineStatus{ID: l.id, User: l.user, DisplayName: l.displayName, Registered: l.reg != nil, State: l.state,
		LastDTMF: l.lastDTMF, AudioStreaming: len(l.streams) > 0}
	if l.reg != nil {
		r := *l.reg
		s.Registration = &r
		s.Contact, s.UserAgent = r.Contact, r.UserAgent
	}
	if !l.lastDTMFAt.IsZero() {
		ts := sipphone.Timestamp(l.lastDTMFAt)
		s.LastDTMFAt = &ts
	}
	switch l.state {
	case sipphone.StateOffHook:
		s.OffHook = ptr(true)
	case sipphone.StateUnknown:
	default:
		s.OffHook = ptr(false)
	}
	if c := l.cur; c != nil {
		if c.status != nil {
			cs := *c.status
			if c.media != nil {
				ms := c.media.Stats()
				cs.Media = &ms
			}
			s.Call = &cs
		}
		if c.ring != nil {
			r := *c.ring
			s.Ring = &r
		}
	}
	return s
}

func ptr[T any](v T) *T { return &v }

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
