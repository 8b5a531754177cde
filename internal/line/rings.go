package line

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sip-phone-api/sipphone"
)

// Ring implements sipphone.Lines: it rings a line and returns the ring id
// at once. The RTP port is reserved and the INVITE built before it returns,
// so a ring that cannot start fails here; progress is published as
// ring_start (the INVITE left), ring_progress (the phone rings), ring_stop
// and off_hook events.
func (m *Manager) Ring(lineID string, o sipphone.RingOptions) (string, string, error) {
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
	// Check before reserving a port, so a refused ring costs nothing.
	m.mu.Lock()
	l, err := m.ringableLocked(lineID)
	m.mu.Unlock()
	if err != nil {
		return "", l, err
	}
	conn, port, err := m.reservePort()
	if err != nil {
		return "", l, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, err = m.ringableLocked(lineID); err != nil {
		m.cfg.Media.Ports.Release(conn)
		return "", l, err
	}
	line := m.byID[l]
	if line == nil {
		line = m.lines[0]
	}
	ring := &sipphone.RingStatus{ID: newID(), Since: sipphone.Timestamp(m.now()), Pattern: o.Pattern, Timeout: o.Timeout.Seconds()}
	if o.CallerID != (sipphone.CallerID{}) {
		cid := o.CallerID
		ring.CallerID = &cid
	}
	c := &call{id: newID() + newID() + "@sipphone", line: line, conn: conn, ring: ring}
	c.dialog, err = m.sig.Ring(sipphone.RingRequest{CallID: c.id, RingID: ring.ID, LineID: line.id, User: line.user, Reg: *line.reg,
		CallerID: o.CallerID, AlertInfo: alert, Timeout: o.Timeout, RTPPort: port})
	if err != nil {
		m.cfg.Media.Ports.Release(conn)
		return "", line.id, fmt.Errorf("%w: line %q: %v", sipphone.ErrNotRegistered, line.id, err)
	}
	m.calls[c.id] = c
	line.cur = c
	line.state = sipphone.StateRinging
	m.log.Info("ringing", "line", line.id, "ring_id", ring.ID, "call_id", c.id, "pattern", o.Pattern, "caller", o.CallerID.Number)
	return ring.ID, line.id, nil
}

// ringableLocked resolves lineID to a line that may be rung now, returning
// its id.
func (m *Manager) ringableLocked(lineID string) (string, error) {
	if lineID == "" && len(m.lines) == 0 {
		return "", fmt.Errorf("%w: no phone has registered yet; set the adapter's SIP server to this machine and run `sipphone check`", sipphone.ErrNotRegistered)
	}
	l, err := m.resolve(lineID)
	if err != nil {
		return "", err
	}
	switch {
	case m.closed:
		return l.id, sipphone.ErrShuttingDown
	case l.reg == nil:
		return l.id, fmt.Errorf("%w: line %q has no registration; check the adapter's SIP server setting and GET /diagnostics", sipphone.ErrNotRegistered, l.id)
	case l.cur != nil && l.cur.ring != nil:
		return l.id, fmt.Errorf("%w: line %q is already ringing (ring %s)", sipphone.ErrLineBusy, l.id, l.cur.ring.ID)
	case l.cur != nil:
		return l.id, fmt.Errorf("%w: line %q is off-hook in call %s", sipphone.ErrLineBusy, l.id, l.cur.id)
	}
	return l.id, nil
}

// StopRing implements sipphone.Lines: it cancels the ring on a line.
func (m *Manager) StopRing(lineID string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.resolve(lineID)
	if err != nil {
		return "", err
	}
	if l.cur == nil || l.cur.ring == nil {
		return l.id, fmt.Errorf("%w: line %q", sipphone.ErrNotRinging, l.id)
	}
	m.sig.CancelRing(l.cur.dialog, sipphone.RingStopped)
	return l.id, nil
}

// ringLocked returns the ring in progress of call id, or nil.
func (m *Manager) ringLocked(callID string) *call {
	if c := m.live(callID); c != nil && c.ring != nil {
		return c
	}
	return nil
}

// RingSent implements sipphone.CallFacts: our INVITE left.
func (m *Manager) RingSent(callID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.ringLocked(callID); c != nil {
		r := c.ring
		m.publish(sipphone.Event{Type: sipphone.EventRingStart, Line: c.line.id, RingID: r.ID, CallID: callID, CallerID: r.CallerID, Pattern: r.Pattern})
	}
}

// RingProgress implements sipphone.CallFacts: the phone answered 180.
func (m *Manager) RingProgress(callID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.ringLocked(callID); c != nil && !c.ringing {
		c.ringing = true
		m.publish(sipphone.Event{Type: sipphone.EventRingProgress, Line: c.line.id, RingID: c.ring.ID, CallID: callID})
	}
}

// RingEnded implements sipphone.CallFacts: the ring ended unanswered.
func (m *Manager) RingEnded(callID string, outcome sipphone.RingOutcome, detail string) {
	m.mu.Lock()
	c := m.ringLocked(callID)
	if c == nil {
		m.mu.Unlock()
		return
	}
	r := c.ring
	c.ring = nil
	m.forgetLocked(c)
	l := c.line
	l.state = sipphone.StateOnHook
	if l.reg == nil {
		l.state = sipphone.StateUnregistered
	}
	m.log.Info("ring ended", "line", l.id, "ring_id", r.ID, "reason", outcome, "detail", detail)
	m.publish(sipphone.Event{Type: sipphone.EventRingStop, Line: l.id, RingID: r.ID, CallID: callID, Reason: string(outcome), Detail: detail})
	m.mu.Unlock()
	c.releaseMedia(m.cfg.Media.Ports)
}
