package line

import (
	"time"

	"github.com/sip-phone-api/sipphone"
)

// KeyPressed implements sipphone.CallFacts, and takes the presses the
// call's media finds (RFC 4733 and in-band): it publishes each press once,
// whichever way it came.
func (m *Manager) KeyPressed(callID string, p sipphone.KeyPress) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.live(callID)
	if c == nil || c.media == nil {
		return
	}
	now := m.now()
	l := c.line
	if !c.keys.First(p, now) {
		m.log.Debug("key press already reported by another method", "line", l.id, "digit", p.Digit, "flash", p.Flash, "method", p.Method)
		return
	}
	ev := sipphone.Event{Line: l.id, CallID: callID, Method: p.Method}
	switch {
	case p.Flash:
		if p.Begin {
			return
		}
		ev.Type = sipphone.EventFlash
	case p.Begin:
		ev.Type, ev.Digit = sipphone.EventDTMFStart, p.Digit
	default:
		ev.Type, ev.Digit = sipphone.EventDTMF, p.Digit
		ms := int(p.Duration / time.Millisecond)
		ev.DurationMS = &ms
		l.lastDTMF, l.lastDTMFAt = p.Digit, now
	}
	m.log.Info("key", "line", l.id, "call_id", callID, "type", ev.Type, "digit", p.Digit, "method", p.Method, "duration", p.Duration)
	m.publish(ev)
}
