package line

import (
	"time"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/stream"
)

// dupWindow is how far apart the same key seen by two methods may be and
// still be one press: the adapter sends RFC 4733 and in-audio (or SIP
// INFO) for one press, each with its own timing.
const dupWindow = 300 * time.Millisecond

// pressRecord is a press already reported on a line.
type pressRecord struct {
	key        string // digit, or "flash"
	method     string
	start, end time.Time
	begin      bool // a dtmf_start record
}

// RecordPress publishes a key press (or flash) found on a call once,
// whichever way it came: when the same key arrives by another method at
// overlapping times it is the same press and is not reported again.
func (m *Manager) RecordPress(lineID, callID string, p stream.Press) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.byID[lineID]
	if l == nil || l.call == nil || l.call.ID != callID {
		return
	}
	key := p.Digit
	if p.Flash {
		key = "flash"
	}
	start := p.Start
	if start.IsZero() {
		start = m.now().Add(-p.Duration)
	}
	end := start.Add(p.Duration)
	now := m.now()
	kept := l.presses[:0]
	dup := false
	for _, r := range l.presses {
		if now.Sub(r.end) > 2*time.Second {
			continue
		}
		kept = append(kept, r)
		if r.key == key && r.begin == p.Begin && r.method != p.Method &&
			!start.After(r.end.Add(dupWindow)) && !r.start.After(end.Add(dupWindow)) {
			dup = true
		}
	}
	l.presses = kept
	if dup {
		m.log.Debug("key press already reported by another method", "line", l.id, "key", key, "method", p.Method)
		return
	}
	l.presses = append(l.presses, pressRecord{key: key, method: p.Method, start: start, end: end, begin: p.Begin})
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
