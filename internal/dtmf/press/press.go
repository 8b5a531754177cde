// Package press holds the one-event-per-press rule: an adapter set to send
// keys by more than one method (RFC 4733 and in-audio, or SIP INFO) reports
// one press several times, each method with its own timing. A [Log] keeps
// the presses already reported on a call and recognises the same press
// arriving by another method.
package press

import (
	"time"

	"github.com/sip-phone-api/sipphone"
)

// Window is how far apart the same key seen by two methods may be and still
// be one press.
const Window = 300 * time.Millisecond

// keep is how long a reported press is remembered.
const keep = 2 * time.Second

type record struct {
	key        string // digit, or "flash"
	method     string
	start, end time.Time
	begin      bool // a press beginning (dtmf_start)
}

// Log is the presses recently reported on one call. The zero value is
// ready; it is not safe for concurrent use (its owner's lock guards it).
type Log struct {
	recent []record
}

// First reports whether p is a new press (true) or one already reported by
// another method at overlapping times (false), and remembers it when new.
// now is the time p was received.
func (l *Log) First(p sipphone.KeyPress, now time.Time) bool {
	key := p.Digit
	if p.Flash {
		key = "flash"
	}
	start := p.Start
	if start.IsZero() {
		start = now.Add(-p.Duration)
	}
	end := start.Add(p.Duration)
	kept := l.recent[:0]
	dup := false
	for _, r := range l.recent {
		if now.Sub(r.end) > keep {
			continue
		}
		kept = append(kept, r)
		if r.key == key && r.begin == p.Begin && r.method != p.Method &&
			!start.After(r.end.Add(Window)) && !r.start.After(end.Add(Window)) {
			dup = true
		}
	}
	l.recent = kept
	if dup {
		return false
	}
	l.recent = append(l.recent, record{key: key, method: p.Method, start: start, end: end, begin: p.Begin})
	return true
}
