package line

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/dtmf/press"
	"github.com/sip-phone-api/sipphone/internal/media"
	"github.com/sip-phone-api/sipphone/internal/rtp"
)

// call is one call in the registry, from the INVITE (ours or the phone's)
// to its end. Its fields are guarded by Manager.mu; dialog, id, line and
// conn are set before the call enters the registry and never change.
type call struct {
	id     string // SIP Call-ID
	line   *lineState
	dialog sipphone.Dialog
	conn   *net.UDPConn // the reserved RTP port; the media session owns it once started

	ring    *sipphone.RingStatus // while our INVITE rings the phone
	ringing bool                 // the phone answered 180
	status  *sipphone.CallStatus // once answered
	media   *media.Call          // running media once answered
	keys    press.Log            // presses reported on this call
	// ending: our BYE is on its way. The call is off its line and its
	// media released; it stays in the registry only so that the SIP side
	// still finds its dialog (the ACK of our 2xx, a BYE crossing ours).
	ending  bool
	release sync.Once // releaseMedia runs once
}

// releaseMedia closes the call's media and returns its RTP port. Run without
// Manager.mu held: Close waits for the media goroutines, which may be
// waiting for mu to report a key.
func (c *call) releaseMedia(ports *rtp.Ports) {
	c.release.Do(func() {
		if c.media != nil {
			c.media.Close()
		}
		ports.Release(c.conn)
	})
}

// live returns the call with that Call-ID unless it is unknown or ending.
func (m *Manager) live(callID string) *call {
	if c := m.calls[callID]; c != nil && !c.ending {
		return c
	}
	return nil
}

// reservePort opens the call's RTP socket from the range.
func (m *Manager) reservePort() (*net.UDPConn, int, error) {
	conn, err := m.cfg.Media.Ports.Open()
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v; widen audio.rtp_port_min/max or end other calls", sipphone.ErrNoResources, err)
	}
	return conn, conn.LocalAddr().(*net.UDPAddr).Port, nil
}

// IncomingCall implements sipphone.CallFacts.
func (m *Manager) IncomingCall(in sipphone.IncomingCall) (string, int, error) {
	conn, port, err := m.reservePort()
	if err != nil {
		return "", 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.byUser[in.User]
	switch {
	case l == nil:
		err = sipphone.ErrLineNotFound
	case m.closed:
		err = sipphone.ErrShuttingDown
	case l.reg == nil:
		err = sipphone.ErrNotRegistered
	case l.cur != nil:
		err = sipphone.ErrLineBusy
	case m.calls[in.CallID] != nil:
		err = fmt.Errorf("%w: call %s exists", sipphone.ErrLineBusy, in.CallID)
	}
	if err != nil {
		m.cfg.Media.Ports.Release(conn)
		if l == nil {
			return "", 0, err
		}
		return l.id, 0, err
	}
	dialed := in.Dialed
	if m.isAutoDial(dialed) {
		dialed = ""
	}
	c := &call{id: in.CallID, line: l, dialog: in.Dialog, conn: conn,
		status: &sipphone.CallStatus{ID: in.CallID, Direction: sipphone.FromPhone, Dialed: dialed}}
	m.calls[c.id] = c
	l.cur = c
	return l.id, port, nil
}

// isAutoDial reports whether a Request-URI user is the Offhook Auto-Dial
// target rather than digits the user dialed. A direct IP call (*47...) or an
// empty user is the auto-dial too.
func (m *Manager) isAutoDial(user string) bool {
	return user == "" || user == m.cfg.AutoDial || strings.HasPrefix(user, "*47")
}

// CallAnswered implements sipphone.CallFacts: the call's media starts and
// the line is off-hook.
func (m *Manager) CallAnswered(callID string, p sipphone.MediaParams) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.live(callID)
	if c == nil {
		return fmt.Errorf("%w: call %s is not known", sipphone.ErrNoCall, callID)
	}
	if c.media != nil {
		return nil // a repeated report
	}
	if err := m.startMediaLocked(c, p); err != nil {
		return err
	}
	l := c.line
	now := m.now()
	if c.status == nil {
		c.status = &sipphone.CallStatus{ID: callID, Direction: sipphone.ToPhone}
	}
	c.status.Since = sipphone.Timestamp(now)
	c.status.Codec, c.status.LocalRTP, c.status.RemoteRTP, c.status.DTMFPT = p.Codec, p.Local.String(), p.Remote.String(), max(p.EventPT, 0)
	l.state = sipphone.StateOffHook
	if r := c.ring; r != nil {
		c.ring = nil
		m.log.Info("ring answered", "line", l.id, "ring_id", r.ID, "call_id", callID, "codec", p.Codec)
		m.publish(sipphone.Event{Type: sipphone.EventRingStop, Line: l.id, RingID: r.ID, Reason: string(sipphone.RingAnswered)})
		m.publish(sipphone.Event{Type: sipphone.EventOffHook, Line: l.id, CallID: callID, RingID: r.ID, Answered: true, Direction: sipphone.ToPhone})
		return nil
	}
	m.log.Info("off hook", "line", l.id, "call_id", callID, "dialed", c.status.Dialed, "codec", p.Codec)
	m.publish(sipphone.Event{Type: sipphone.EventOffHook, Line: l.id, CallID: callID, Direction: sipphone.FromPhone})
	if c.status.Dialed != "" {
		m.publish(sipphone.Event{Type: sipphone.EventDialed, Line: l.id, CallID: callID, Number: c.status.Dialed})
	}
	return nil
}

// startMediaLocked runs the call's RTP and audio on its reserved port.
func (m *Manager) startMediaLocked(c *call, p sipphone.MediaParams) error {
	mc := m.cfg.Media
	callID := c.id
	med, err := media.Start(media.Config{
		Session:         rtp.NewSession(c.conn, p.Remote, p.Peer),
		Codec:           p.Codec,
		PT:              p.PT,
		EventPT:         p.EventPT,
		PTime:           p.PTime,
		JitterMax:       mc.JitterMax,
		Timeout:         mc.RTPTimeout,
		InbandDTMF:      mc.InbandDTMF,
		Clock:           mc.Clock,
		ObserveCapture:  mc.ObserveCapture,
		ObservePlayback: mc.ObservePlayback,
		Logger:          m.log.With("component", "media", "line", c.line.id, "call_id", callID),
		OnPress:         func(p sipphone.KeyPress) { m.KeyPressed(callID, p) },
		OnTimeout: func() {
			select {
			case m.timeouts <- callID:
			default: // 64 calls timing out at once: the rest end at their BYE or shutdown
				m.log.Warn("RTP timeout not handled: too many at once", "call_id", callID)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("starting media: %w", err)
	}
	c.media = med
	return nil
}

// forgetLocked takes c off its line, stopping its streams, and out of the
// registry unless it is ending (then the BYE's goroutine removes it). The
// caller releases c's media (after unlocking: media.Call.Close waits for
// the media goroutines); a call without media is released here.
func (m *Manager) forgetLocked(c *call) {
	if c.media == nil {
		// Without media the release only closes the RTP socket: done
		// here, so no one sees the call gone and its port still held.
		c.releaseMedia(m.cfg.Media.Ports)
	}
	if m.calls[c.id] == c && !c.ending {
		delete(m.calls, c.id)
	}
	l := c.line
	if l.cur == c {
		l.cur = nil
		for _, st := range l.streams {
			m.stopStreamLocked(l, st, "call_ended")
		}
	}
	m.checkDrainedLocked()
}

// endCallLocked forgets c, moves its line to state (or unregistered when
// the binding went meanwhile) and publishes event type typ with reason.
func (m *Manager) endCallLocked(c *call, state sipphone.LineState, typ, reason string) {
	m.forgetLocked(c)
	l := c.line
	if state == sipphone.StateOnHook && l.reg == nil {
		state = sipphone.StateUnregistered
	}
	l.state = state
	m.log.Info("call ended", "line", l.id, "call_id", c.id, "event", typ, "reason", reason)
	m.publish(sipphone.Event{Type: typ, Line: l.id, CallID: c.id, Reason: reason})
}

// CallEnded implements sipphone.CallFacts: the phone hung up ("bye": the
// handset is down), gave up before we answered ("cancel"), or the call
// failed before it was up.
func (m *Manager) CallEnded(callID, reason string) {
	m.mu.Lock()
	c := m.live(callID)
	if c == nil || c.ring != nil {
		m.mu.Unlock()
		return
	}
	if c.media == nil {
		// Never answered: the line goes back to where it was, no event.
		m.forgetLocked(c)
		if l := c.line; l.reg == nil {
			l.state = sipphone.StateUnregistered
		}
		m.mu.Unlock()
		c.releaseMedia(m.cfg.Media.Ports)
		return
	}
	m.endCallLocked(c, sipphone.StateOnHook, sipphone.EventOnHook, reason)
	m.mu.Unlock()
	c.releaseMedia(m.cfg.Media.Ports)
}

// ServerEndedCall implements sipphone.CallFacts: we end the call (no ACK
// to our 200 OK); the hook state becomes unknown. The SIP side sends BYE.
func (m *Manager) ServerEndedCall(callID, reason string) {
	m.mu.Lock()
	c := m.live(callID)
	if c == nil || c.ring != nil {
		m.mu.Unlock()
		return
	}
	m.endCallLocked(c, sipphone.StateUnknown, sipphone.EventHangup, reason)
	m.mu.Unlock()
	c.releaseMedia(m.cfg.Media.Ports)
}

// rtpTimeout ends a call whose phone stopped sending RTP, as the phone
// hanging up would (on_hook, reason rtp_timeout), and sends BYE. Run by the
// worker.
func (m *Manager) rtpTimeout(callID string) {
	m.mu.Lock()
	c := m.live(callID)
	if c == nil || c.media == nil {
		m.mu.Unlock()
		return
	}
	c.ending = true
	m.endCallLocked(c, sipphone.StateOnHook, sipphone.EventOnHook, "rtp_timeout")
	m.byeLocked(c)
	m.mu.Unlock()
	c.releaseMedia(m.cfg.Media.Ports)
}

// byeLocked sends BYE for the ending call c from a goroutine the manager
// owns, then removes c from the registry.
func (m *Manager) byeLocked(c *call) {
	select {
	case <-m.stop:
		delete(m.calls, c.id)
		return
	default:
	}
	sig, d := m.sig, c.dialog
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		ctx, cancel := context.WithTimeout(m.ctx, 32*time.Second)
		defer cancel()
		sig.Hangup(ctx, d)
		m.mu.Lock()
		m.removeLocked(c)
		m.mu.Unlock()
	}()
}

// removeLocked takes an ending call out of the registry.
func (m *Manager) removeLocked(c *call) {
	if m.calls[c.id] == c {
		delete(m.calls, c.id)
	}
	m.checkDrainedLocked()
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
	c := l.cur
	switch {
	case c == nil || (c.ring == nil && c.media == nil):
		m.mu.Unlock()
		return l.id, fmt.Errorf("%w: line %q is not in a call", sipphone.ErrNoCall, l.id)
	case c.ring != nil:
		m.sig.CancelRing(c.dialog, sipphone.RingStopped)
		m.mu.Unlock()
		return l.id, nil
	}
	c.ending = true
	m.endCallLocked(c, sipphone.StateUnknown, sipphone.EventHangup, "api")
	m.byeLocked(c)
	m.mu.Unlock()
	c.releaseMedia(m.cfg.Media.Ports)
	return l.id, nil
}

// Dialog implements sipphone.CallFacts.
func (m *Manager) Dialog(callID string) (sipphone.Dialog, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.calls[callID]
	if c == nil {
		return nil, false
	}
	return c.dialog, true
}
