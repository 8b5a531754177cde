package rfc4733

import (
	"time"
)

// Timeout policy for a press whose end packets were all lost. The sender
// repeats the state of an open event every packet interval (RFC 4733
// section 2.5.1.2 suggests 50 ms), so silence of four intervals means the
// end packets are gone. The interval is measured per stream; the timeout
// never falls below MinTimeout, which covers the usual 50 ms updates and a
// little jitter, and never exceeds MaxTimeout, so a stuck key is released.
const (
	MinTimeout      = 200 * time.Millisecond
	MaxTimeout      = time.Second
	timeoutInterval = 4 // packet intervals of silence that end a press

	defaultInterval = 50 * time.Millisecond // RFC 4733 section 2.5.1.2
	// minInterval separates the update interval from packets sent
	// back-to-back (retransmitted end packets, bursts after a stall).
	minInterval = 5 * time.Millisecond

	// segmentStep is the timestamp distance between the segments of a
	// long event: each segment but the last reports the maximum duration
	// 0xFFFF and the next begins where it ended (section 2.5.1.3).
	segmentStep = 0xFFFF

	// staleWindow is how far back (in timestamp units) a packet counts as
	// a late copy of an earlier press rather than a sender whose timestamps
	// started over. 2^24 is about 35 minutes at 8 kHz.
	staleWindow = 1 << 24
)

// Kind tells whether an [Event] begins or ends a press.
type Kind uint8

// The kinds of [Event].
const (
	Start Kind = iota + 1 // the first packet of a press arrived
	End                   // the press is over; reported exactly once per press
)

// String returns "start" or "end".
func (k Kind) String() string {
	switch k {
	case Start:
		return "start"
	case End:
		return "end"
	}
	return "invalid"
}

// Event is the beginning or end of one key press.
type Event struct {
	Code  uint8 // event code, 0-16
	Digit byte  // '0'-'9', '*', '#', 'A'-'D'; 0 for the hook flash
	Flash bool  // the press is a hook flash (event 16)
	Kind  Kind
	// Duration is the length of the press as reported by the sender: the
	// duration field of the latest packet, plus the earlier segments of a
	// long press. For Start it is usually zero.
	Duration time.Duration
	// Volume is the tone's power level in dBm0 with the sign dropped (0-63,
	// larger is quieter), from the latest packet.
	Volume int
	// TS is the RTP timestamp of the press: of its first segment, which
	// identifies the press.
	TS uint32
	// Timeout reports, on End, that no end packet arrived: the press was
	// ended by the receiver's timeout, by a newer press, or by Reset.
	Timeout bool
}

// Stats counts what a [Receiver] saw.
type Stats struct {
	Presses    uint64 // presses ended (End events emitted)
	TimedOut   uint64 // of those, ended without an end packet
	Packets    uint64 // telephone-event blocks of known events processed
	Duplicates uint64 // blocks for a press that had already ended
	Stale      uint64 // blocks older than the latest press (reordered, late)
	Ignored    uint64 // blocks of events other than 0-16, or of a different event under an open press's timestamp
	Malformed  uint64 // payloads shorter than one block
}

// Receiver turns the telephone-event packets of one RTP stream into key
// presses. The zero value is not usable; call [NewReceiver]. Calls must be
// serialised by the caller.
type Receiver struct {
	clockRate int64

	// have is set once a press was seen; lastTS is then the RTP timestamp
	// of the latest segment seen and open tells whether its press is in
	// progress (the fields below describe that press).
	have   bool
	open   bool
	lastTS uint32

	code       uint8
	volume     uint8
	pressTS    uint32 // timestamp of the first segment
	base       int64  // timestamp units of the completed segments
	dur        uint16 // longest duration seen in the current segment
	lastPacket time.Time

	interval time.Duration // smoothed interval between a press's packets
	stats    Stats
}

// NewReceiver returns a Receiver for a stream whose RTP clock runs at
// clockRate Hz (8000 for telephone-event with G.711; a value <= 0 means
// 8000).
func NewReceiver(clockRate int) *Receiver {
	if clockRate <= 0 {
		clockRate = 8000
	}
	return &Receiver{clockRate: int64(clockRate), interval: defaultInterval}
}

// Packet handles the payload of one telephone-event RTP packet with RTP
// timestamp ts and marker bit marker, received at now. It calls emit (which
// may be nil) with Start when a press begins and End when it ends; both can
// come from one packet.
//
// A payload shorter than four bytes is counted as malformed and ignored;
// blocks of event codes above 16 are ignored. A payload carrying several
// blocks is read as consecutive events packed into one packet (RFC 4733
// section 2.5.1.5): each block starts where the previous one's duration
// ended; trailing bytes short of a block are ignored. The marker bit is
// informational only: a press is identified by its timestamp (section
// 2.5.1.1), so a lost or repeated start packet changes nothing. Packet
// does not keep payload.
func (r *Receiver) Packet(ts uint32, marker bool, payload []byte, now time.Time, emit func(Event)) {
	if len(payload) < PayloadSize {
		r.stats.Malformed++
		return
	}
	for len(payload) >= PayloadSize {
		p, _ := ParsePayload(payload)
		r.block(ts, p, now, emit)
		ts += uint32(p.Duration)
		payload = payload[PayloadSize:]
	}
}

// block handles one event block whose event began at ts.
func (r *Receiver) block(ts uint32, p Payload, now time.Time, emit func(Event)) {
	if p.Event > MaxCode {
		r.stats.Ignored++
		return
	}
	if r.have {
		d := int64(int32(ts - r.lastTS))
		switch {
		case d == 0:
			if !r.open {
				// A repeated end packet, or an update that arrives after
				// the end or after the timeout: the press already counted.
				r.stats.Duplicates++
				return
			}
			if p.Event != r.code {
				r.stats.Ignored++
				return
			}
			r.stats.Packets++
			r.update(p, now, emit)
			return
		case d < 0 && d > -staleWindow:
			r.stats.Stale++
			return
		case r.open && p.Event == r.code && d == segmentStep:
			// The next segment of a long event (section 2.5.1.3): the
			// previous segment lasted 0xFFFF units and the press goes on.
			r.stats.Packets++
			r.base += segmentStep
			r.lastTS = ts
			r.dur = 0
			r.update(p, now, emit)
			return
		case r.open:
			// A newer event begins, so the open one is over (section
			// 2.5.2.2); its end packets were lost or are still to come and
			// will be dropped as stale.
			r.finish(true, emit)
		}
	}
	r.stats.Packets++
	r.have, r.open = true, true
	r.lastTS, r.pressTS = ts, ts
	r.code, r.volume = p.Event, p.Volume
	r.base, r.dur = 0, p.Duration
	r.lastPacket = now
	if emit != nil {
		emit(r.event(Start, false))
	}
	if p.End {
		r.finish(false, emit)
	}
}

// update applies a packet of the open press.
func (r *Receiver) update(p Payload, now time.Time, emit func(Event)) {
	if gap := now.Sub(r.lastPacket); gap >= minInterval && gap <= MaxTimeout {
		r.interval += (gap - r.interval) / 4
	}
	r.lastPacket = now
	// Reordered updates may carry a shorter duration: keep the longest.
	if p.Duration > r.dur {
		r.dur = p.Duration
	}
	r.volume = p.Volume
	if p.End {
		r.finish(false, emit)
	}
}

// finish ends the open press.
func (r *Receiver) finish(timeout bool, emit func(Event)) {
	r.open = false
	r.stats.Presses++
	if timeout {
		r.stats.TimedOut++
	}
	if emit != nil {
		emit(r.event(End, timeout))
	}
}

func (r *Receiver) event(kind Kind, timeout bool) Event {
	units := r.base + int64(r.dur)
	return Event{
		Code:     r.code,
		Digit:    Digit(r.code),
		Flash:    r.code == CodeFlash,
		Kind:     kind,
		Duration: time.Duration(units * int64(time.Second) / r.clockRate),
		Volume:   int(r.volume),
		TS:       r.pressTS,
		Timeout:  timeout,
	}
}

// Timeout returns how long a press may go without packets before [Tick]
// ends it: four measured packet intervals, at least [MinTimeout] and at
// most [MaxTimeout].
func (r *Receiver) Timeout() time.Duration {
	return min(max(timeoutInterval*r.interval, MinTimeout), MaxTimeout)
}

// NextDeadline returns when [Tick] would end the open press, and false
// when no press is open.
func (r *Receiver) NextDeadline() (time.Time, bool) {
	if !r.open {
		return time.Time{}, false
	}
	return r.lastPacket.Add(r.Timeout()), true
}

// Tick ends, with Timeout set, a press that has had no packet for
// [Receiver.Timeout] by now. Call it every 20-50 ms while a press is open,
// or at [Receiver.NextDeadline].
func (r *Receiver) Tick(now time.Time, emit func(Event)) {
	if r.open && now.Sub(r.lastPacket) >= r.Timeout() {
		r.finish(true, emit)
	}
}

// Reset ends an open press (as if timed out) and forgets the timestamps
// seen, for a new RTP stream (new SSRC) or the end of a call.
func (r *Receiver) Reset(emit func(Event)) {
	if r.open {
		r.finish(true, emit)
	}
	r.have = false
}

// Stats returns the counters.
func (r *Receiver) Stats() Stats { return r.stats }
