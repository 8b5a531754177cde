// Package line owns the state of every line: registration binding, hook
// state, the call or ring in progress, and the last key pressed. The SIP side
// reports facts to it and asks it for decisions; the API asks it to ring and
// hang up. Every change is made under one mutex and published as an event in
// the same critical section, so events and state never disagree and event
// order matches state order.
package line

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/events"
	"github.com/sip-phone-api/sipphone/internal/state"
	"github.com/sip-phone-api/sipphone/internal/stream"
)

// Signaller is what the manager needs from the SIP side. Its methods return
// at once; outcomes come back through the manager's RingAnswered, RingEnded
// and CallEnded methods.
type Signaller interface {
	// Ring sends an INVITE for r. It must report exactly one of
	// RingAnswered or RingEnded for r.ID.
	Ring(r RingRequest)
	// CancelRing stops ring id with CANCEL; the outcome is reported with
	// RingEnded(id, RingStopped) (or RingAnswered when the answer crossed).
	CancelRing(id string)
	// Hangup ends call id with BYE.
	Hangup(callID string)
}

// RingRequest is a ring the SIP side is asked to place.
type RingRequest struct {
	ID        string
	LineID    string
	User      string
	Reg       sipphone.Registration
	CallerID  sipphone.CallerID
	AlertInfo string
	Timeout   time.Duration
}

// RingOptions are the caller's wishes for a ring.
type RingOptions struct {
	CallerID sipphone.CallerID
	Pattern  string // ring pattern name, "" for the adapter's default ring
	Timeout  time.Duration
}

// LineConfig is a configured line.
type LineConfig struct {
	ID, User, DisplayName string
}

// Config configures a Manager.
type Config struct {
	Lines        []LineConfig // configured lines; empty means any user may become a line
	AutoDial     string       // the Offhook Auto-Dial target: an INVITE to it is not a dialed number
	RingTimeout  time.Duration
	RingPatterns map[string]string // pattern name -> Alert-Info value
	StatePath    string            // "" disables persistence
	Logger       *slog.Logger
	Bus          *events.Bus
	Now          func() time.Time
}

type lineState struct {
	id, user, displayName string
	configured            bool
	reg                   *sipphone.Registration
	state                 sipphone.LineState
	call                  *sipphone.CallStatus
	ring                  *sipphone.RingStatus
	lastDTMF              string
	lastDTMFAt            time.Time
	expiry                *time.Timer
	media                 *stream.Call
	streams               map[string]*Stream
	presses               []pressRecord // recent key presses, for de-duplication
}

// Manager is the single owner of line state.
type Manager struct {
	cfg Config
	log *slog.Logger
	bus *events.Bus
	now func() time.Time

	// mu guards every field below. Lock order: mu, then the bus's lock
	// (Publish is called with mu held and never blocks). mu is never held
	// across network or file I/O; the Signaller is called after unlocking.
	mu      sync.Mutex
	lines   []*lineState // in order: configured first, then by first registration
	byUser  map[string]*lineState
	byID    map[string]*lineState
	calls   map[string]*lineState // Call-ID -> line
	rings   map[string]*lineState // ring id -> line
	streams map[string]*lineState // audio stream id -> line
	sig     Signaller
	closed  bool

	dirty    chan struct{}    // wakes the persister; buffered 1
	finished chan playbackEnd // playbacks whose audio has been sent
	stop     chan struct{}
	wg       sync.WaitGroup
}

// New builds a manager and restores persisted lines from cfg.StatePath.
// It starts no goroutine until Start.
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
	m := &Manager{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "line"),
		bus:      cfg.Bus,
		now:      cfg.Now,
		byUser:   map[string]*lineState{},
		byID:     map[string]*lineState{},
		calls:    map[string]*lineState{},
		rings:    map[string]*lineState{},
		streams:  map[string]*lineState{},
		dirty:    make(chan struct{}, 1),
		finished: make(chan playbackEnd, 256),
		stop:     make(chan struct{}),
	}
	for _, lc := range cfg.Lines {
		l := &lineState{id: lc.ID, user: lc.User, displayName: lc.DisplayName, configured: true, state: sipphone.StateUnregistered}
		m.add(l)
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
			m.armExpiry(l)
			m.log.Info("restored registration", "line", l.id, "contact", reg.Contact, "expires", reg.Expires)
		}
	}
}

// SetSignaller connects the SIP side. Call before Start.
func (m *Manager) SetSignaller(s Signaller) {
	m.mu.Lock()
	m.sig = s
	m.mu.Unlock()
}

// Start runs the persister.
func (m *Manager) Start() {
	m.wg.Add(1)
	go m.persist()
}

// Close stops timers and the persister after a final save. Calls are not
// touched: the SIP side hangs them up before.
func (m *Manager) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	for _, l := range m.lines {
		if l.expiry != nil {
			l.expiry.Stop()
		}
	}
	m.mu.Unlock()
	close(m.stop)
	m.wg.Wait()
}

func (m *Manager) markDirty() {
	select {
	case m.dirty <- struct{}{}:
	default:
	}
}

// persist is the manager's one goroutine: it writes the state file when
// it changed, and finishes playbacks (whose end is noticed by the media
// send loop, which must not take the manager's lock).
func (m *Manager) persist() {
	defer m.wg.Done()
	for {
		select {
		case <-m.dirty:
			m.save()
		case p := <-m.finished:
			m.finishPlayback(p)
		case <-m.stop:
			m.save()
			return
		}
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
	for _, l := range m.lines {
		pl := state.Line{ID: l.id, User: l.user, DisplayName: l.displayName}
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

// IsLine reports whether user is (or may become) a line.
func (m *Manager) IsLine(user string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byUser[user] != nil || (len(m.cfg.Lines) == 0 && user != "")
}

// Register records a binding for user (a REGISTER with a non-zero expiry).
// It returns the line id, or ErrLineNotFound when user is not a line.
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
	if l.state == sipphone.StateUnregistered {
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
	d := reg.Expires.Sub(m.now())
	l.expiry = time.AfterFunc(d, func() { m.expire(l, reg) })
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

// Unregister removes user's binding (REGISTER with Expires 0 or Contact *).
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
	if l.call == nil && l.ring == nil {
		l.state = sipphone.StateUnregistered
	}
	m.publish(sipphone.Event{Type: sipphone.EventUnregistered, Line: l.id, Reason: reason})
	m.markDirty()
}

// CallInfo describes a call the SIP side set up.
type CallInfo struct {
	ID        string
	Direction sipphone.Direction
	Dialed    string // the Request-URI user of an INVITE from the phone
	Codec     string
	LocalRTP  string
	RemoteRTP string
	EventPT   int
	// Media is the call's running media, nil when it has none.
	Media *stream.Call
}

// AcceptPhoneCall decides whether an INVITE from user may be answered. It
// returns the line id, ErrLineNotFound for a user that is not a line,
// ErrNotRegistered when the line has no binding, ErrLineBusy when the line
// already has a call or is being rung.
func (m *Manager) AcceptPhoneCall(user string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.byUser[user]
	switch {
	case l == nil:
		return "", sipphone.ErrLineNotFound
	case l.reg == nil:
		return l.id, sipphone.ErrNotRegistered
	case l.call != nil || l.ring != nil:
		return l.id, sipphone.ErrLineBusy
	case m.closed:
		return l.id, sipphone.ErrShuttingDown
	}
	return l.id, nil
}

// PhoneCallStarted records a call the phone placed and we answered: the
// handset is off-hook. When the number dialed is not the auto-dial target,
// the number is reported as a dialed event too.
func (m *Manager) PhoneCallStarted(lineID string, c CallInfo) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.byID[lineID]
	if l == nil {
		return sipphone.ErrLineNotFound
	}
	if l.call != nil || l.ring != nil {
		return sipphone.ErrLineBusy
	}
	c.Direction = sipphone.FromPhone
	if m.isAutoDial(c.Dialed) {
		c.Dialed = ""
	}
	m.startCallLocked(l, c)
	m.log.Info("off hook", "line", l.id, "call_id", c.ID, "dialed", c.Dialed, "codec", c.Codec)
	m.publish(sipphone.Event{Type: sipphone.EventOffHook, Line: l.id, CallID: c.ID, Direction: sipphone.FromPhone})
	if c.Dialed != "" {
		m.publish(sipphone.Event{Type: sipphone.EventDialed, Line: l.id, CallID: c.ID, Number: c.Dialed})
	}
	return nil
}

// isAutoDial reports whether a Request-URI user is the Offhook Auto-Dial
// target rather than digits the user dialed. A direct IP call (*47...) or an
// empty user is the auto-dial too.
func (m *Manager) isAutoDial(user string) bool {
	return user == "" || user == m.cfg.AutoDial || strings.HasPrefix(user, "*47")
}

func (m *Manager) startCallLocked(l *lineState, c CallInfo) {
	l.call = &sipphone.CallStatus{ID: c.ID, Direction: c.Direction, Dialed: c.Dialed, Since: sipphone.Timestamp(m.now()),
		Codec: c.Codec, LocalRTP: c.LocalRTP, RemoteRTP: c.RemoteRTP, DTMFPT: max(c.EventPT, 0)}
	l.state = sipphone.StateOffHook
	l.media = c.Media
	m.calls[c.ID] = l
}

// endCallLocked forgets the line's call and stops its streams.
func (m *Manager) endCallLocked(l *lineState) {
	l.call = nil
	l.media = nil
	for _, st := range l.streams {
		m.stopStreamLocked(l, st, "call_ended")
	}
}

// CallEnded records the end of call id. reason is "bye" when the phone hung
// up (the handset is down: on_hook), "cancel" when the phone gave up before
// we answered, or another word for calls ended by failures.
func (m *Manager) CallEnded(callID, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.calls[callID]
	if l == nil {
		return
	}
	delete(m.calls, callID)
	if l.call == nil || l.call.ID != callID {
		return
	}
	m.endCallLocked(l)
	l.state = sipphone.StateOnHook
	if l.reg == nil {
		l.state = sipphone.StateUnregistered
	}
	m.log.Info("on hook", "line", l.id, "call_id", callID, "reason", reason)
	m.publish(sipphone.Event{Type: sipphone.EventOnHook, Line: l.id, CallID: callID, Reason: reason})
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

// Ring rings a line. It returns the ring id at once; progress is published
// as ring_start, ring_stop and off_hook events.
func (m *Manager) Ring(lineID string, o RingOptions) (string, string, error) {
	alert := ""
	if o.Pattern != "" {
		v, ok := m.cfg.RingPatterns[o.Pattern]
		if !ok {
			names := make([]string, 0, len(m.cfg.RingPatterns))
			for k := range m.cfg.RingPatterns {
				names = append(names, k)
			}
			return "", "", fmt.Errorf("%w: unknown ring pattern %q; configured patterns: %s", sipphone.ErrInvalid, o.Pattern, strings.Join(slices.Sorted(slices.Values(names)), ", "))
		}
		alert = v
	}
	if o.Timeout <= 0 {
		o.Timeout = m.cfg.RingTimeout
	}
	m.mu.Lock()
	l, err := m.resolve(lineID)
	if err != nil {
		m.mu.Unlock()
		return "", "", err
	}
	switch {
	case m.closed:
		m.mu.Unlock()
		return "", l.id, sipphone.ErrShuttingDown
	case l.reg == nil:
		m.mu.Unlock()
		return "", l.id, fmt.Errorf("%w: line %q has no registration; check the adapter's SIP server setting and GET /diagnostics", sipphone.ErrNotRegistered, l.id)
	case l.ring != nil:
		m.mu.Unlock()
		return "", l.id, fmt.Errorf("%w: line %q is already ringing (ring %s)", sipphone.ErrLineBusy, l.id, l.ring.ID)
	case l.call != nil:
		m.mu.Unlock()
		return "", l.id, fmt.Errorf("%w: line %q is off-hook in call %s", sipphone.ErrLineBusy, l.id, l.call.ID)
	}
	id := newID()
	cid := o.CallerID
	l.ring = &sipphone.RingStatus{ID: id, Since: sipphone.Timestamp(m.now()), Pattern: o.Pattern, Timeout: o.Timeout.Seconds()}
	if cid != (sipphone.CallerID{}) {
		l.ring.CallerID = &cid
	}
	l.state = sipphone.StateRinging
	m.rings[id] = l
	req := RingRequest{ID: id, LineID: l.id, User: l.user, Reg: *l.reg, CallerID: cid, AlertInfo: alert, Timeout: o.Timeout}
	m.log.Info("ringing", "line", l.id, "ring_id", id, "pattern", o.Pattern, "caller", cid.Number)
	m.publish(sipphone.Event{Type: sipphone.EventRingStart, Line: l.id, RingID: id, CallerID: l.ring.CallerID, Pattern: o.Pattern})
	sig := m.sig
	m.mu.Unlock()
	sig.Ring(req)
	return id, l.id, nil
}

// StopRing cancels the ring on a line.
func (m *Manager) StopRing(lineID string) (string, error) {
	m.mu.Lock()
	l, err := m.resolve(lineID)
	if err != nil {
		m.mu.Unlock()
		return "", err
	}
	if l.ring == nil {
		m.mu.Unlock()
		return l.id, fmt.Errorf("%w: line %q", sipphone.ErrNotRinging, l.id)
	}
	id, sig := l.ring.ID, m.sig
	m.mu.Unlock()
	sig.CancelRing(id)
	return l.id, nil
}

// RingAnswered records that the phone answered ring id: the handset is
// off-hook in the call described by c.
func (m *Manager) RingAnswered(id string, c CallInfo) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.rings[id]
	if l == nil {
		return
	}
	delete(m.rings, id)
	l.ring = nil
	c.Direction = sipphone.ToPhone
	m.startCallLocked(l, c)
	m.log.Info("ring answered", "line", l.id, "ring_id", id, "call_id", c.ID)
	m.publish(sipphone.Event{Type: sipphone.EventRingStop, Line: l.id, RingID: id, Reason: string(sipphone.RingAnswered)})
	m.publish(sipphone.Event{Type: sipphone.EventOffHook, Line: l.id, CallID: c.ID, RingID: id, Answered: true, Direction: sipphone.ToPhone})
}

// RingEnded records that ring id ended unanswered.
func (m *Manager) RingEnded(id string, outcome sipphone.RingOutcome, detail string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.rings[id]
	if l == nil {
		return
	}
	delete(m.rings, id)
	l.ring = nil
	if l.call == nil {
		switch {
		case l.reg == nil:
			l.state = sipphone.StateUnregistered
		default:
			l.state = sipphone.StateOnHook
		}
	}
	m.log.Info("ring ended", "line", l.id, "ring_id", id, "reason", outcome, "detail", detail)
	m.publish(sipphone.Event{Type: sipphone.EventRingStop, Line: l.id, RingID: id, Reason: string(outcome)})
}

// Hangup ends the line's call with BYE, or stops its ring. After a BYE of
// ours the hook state is unknown: the adapter plays reorder tone and says
// nothing when the handset is put down.
func (m *Manager) Hangup(lineID string) (string, error) {
	m.mu.Lock()
	l, err := m.resolve(lineID)
	if err != nil {
		m.mu.Unlock()
		return "", err
	}
	if l.ring != nil && l.call == nil {
		id, sig := l.ring.ID, m.sig
		m.mu.Unlock()
		sig.CancelRing(id)
		return l.id, nil
	}
	if l.call == nil {
		m.mu.Unlock()
		return l.id, fmt.Errorf("%w: line %q is not in a call", sipphone.ErrNoCall, l.id)
	}
	callID := l.call.ID
	delete(m.calls, callID)
	m.endCallLocked(l)
	l.state = sipphone.StateUnknown
	m.log.Info("hung up by request", "line", l.id, "call_id", callID)
	m.publish(sipphone.Event{Type: sipphone.EventHangup, Line: l.id, CallID: callID, Reason: "api"})
	sig := m.sig
	m.mu.Unlock()
	sig.Hangup(callID)
	return l.id, nil
}

// ServerEndedCall records a call we ended for a reason other than an API
// request (shutdown, media timeout): like Hangup, the hook state becomes
// unknown.
func (m *Manager) ServerEndedCall(callID, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.calls[callID]
	if l == nil || l.call == nil || l.call.ID != callID {
		return
	}
	delete(m.calls, callID)
	m.endCallLocked(l)
	l.state = sipphone.StateUnknown
	m.publish(sipphone.Event{Type: sipphone.EventHangup, Line: l.id, CallID: callID, Reason: reason})
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
	if l.call != nil {
		c := *l.call
		if l.media != nil {
			ms := l.media.Stats()
			c.Media = &ms
		}
		s.Call = &c
	}
	if l.ring != nil {
		r := *l.ring
		s.Ring = &r
	}
	return s
}

func ptr[T any](v T) *T { return &v }

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
