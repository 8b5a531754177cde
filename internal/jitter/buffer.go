package jitter

import (
	"time"
)

// Defaults and limits of [Config].
const (
	DefaultClockRate = 8000
	// DefaultMinDelay is the shortest wait for a missing packet: enough
	// for a packet that was merely swapped with its neighbour. It costs
	// nothing while no packet is missing.
	DefaultMinDelay = 10 * time.Millisecond
	// DefaultMaxDelay bounds the wait for a missing packet and the audio
	// held behind it.
	DefaultMaxDelay = 60 * time.Millisecond
	// MaxMaxDelay is the largest MaxDelay accepted.
	MaxMaxDelay = time.Second
)

const (
	// jitterFactor sets the target delay to this many times the measured
	// interarrival jitter: the mean deviation times 3 covers most of the
	// spread of arrival times.
	jitterFactor = 3
	// historyLen is how many released sequence numbers are remembered to
	// tell a duplicate from a late packet.
	historyLen = 64
	// minSlots is the smallest ring; with 20 ms frames it spans 640 ms.
	// A packet further ahead than the ring is a restart candidate.
	minSlots = 32
	// minFrame is the shortest frame the ring is sized for.
	minFrame = 5 * time.Millisecond
	// maxFrame bounds the frame length inferred for a lost frame from
	// the timestamps around it; beyond it the timestamps jumped.
	maxFrame = 200 * time.Millisecond
)

// Config configures a [Buffer]. The zero value means the defaults.
type Config struct {
	// ClockRate is the RTP clock of the stream in Hz; zero means 8000.
	ClockRate int
	// MinDelay is the shortest time a packet behind a gap waits for the
	// missing one. Zero means DefaultMinDelay; a negative value means no
	// minimum, so a gap waits only as long as the measured jitter asks.
	MinDelay time.Duration
	// MaxDelay is the longest such wait and the most audio held behind a
	// gap. Zero means DefaultMaxDelay; it is capped at MaxMaxDelay and is
	// never below MinDelay.
	MaxDelay time.Duration
	// Paced releases frames on a playout clock (see playout.go): one
	// frame per frame time whatever the network does, a missing frame
	// concealed when its slot passes even with nothing held behind it, a
	// packet arriving after its slot dropped as Late, and the slot delay
	// following the measured lateness of arrivals. On a clean path a
	// packet is still released on arrival.
	Paced bool
}

// PushResult says what [Buffer.Push] did with a packet.
type PushResult uint8

// The results of [Buffer.Push].
const (
	// Accepted: the packet is in the buffer.
	Accepted PushResult = iota
	// Duplicate: a packet with this sequence number is held or was
	// released; this one is dropped.
	Duplicate
	// Late: its frame was already released as lost; dropped.
	Late
	// Reset: the stream restarted (new SSRC, or a sequence jump confirmed
	// by this packet); held packets of the old stream were discarded and
	// this packet (with the one that announced the jump) is accepted.
	Reset
	// Probation: the sequence number is far from the expected one; the
	// packet is set aside and becomes the start of a new stream if the
	// next packet follows it, and is dropped otherwise.
	Probation
	// Invalid: the payload is empty; dropped.
	Invalid
)

// String returns the lower-case name of the result.
func (r PushResult) String() string {
	switch r {
	case Accepted:
		return "accepted"
	case Duplicate:
		return "duplicate"
	case Late:
		return "late"
	case Reset:
		return "reset"
	case Probation:
		return "probation"
	case Invalid:
		return "invalid"
	}
	return "unknown"
}

// Frame is one frame released by [Buffer.Pop].
type Frame struct {
	// Payload is the packet's payload, or nil for a lost frame. It points
	// into the buffer and is valid until the next call on the Buffer.
	Payload []byte
	Seq     uint16
	// TS is the RTP timestamp; for a lost frame it is interpolated
	// between the frames around it.
	TS uint32
	// Samples is the frame's length in clock ticks: the payload length
	// (G.711 carries one sample per byte), or for a lost frame the
	// interpolated length to conceal.
	Samples int
	// Lost means the packet never came in time: the caller conceals
	// Samples samples.
	Lost bool
	// Arrival is when the packet arrived; zero for a lost frame.
	Arrival time.Time
}

// Stats are the counters and the delay estimate of a [Buffer].
type Stats struct {
	Received   uint64 // packets accepted
	Duplicates uint64 // packets dropped as duplicates
	Late       uint64 // packets dropped because their frame was already released as lost
	Lost       uint64 // frames released as lost
	Reordered  uint64 // accepted packets that arrived after a later one
	Resets     uint64 // stream restarts: new SSRC or confirmed sequence jump
	Flushed    uint64 // held packets discarded by a restart
	Stray      uint64 // packets far from the expected sequence number (Probation)
	Resyncs    uint64 // timestamp jumps that restarted the jitter estimate
	Invalid    uint64 // packets with an empty payload

	// Target is the current wait for a missing packet.
	Target time.Duration
	// Jitter is the RFC 3550 interarrival jitter estimate.
	Jitter time.Duration
	// JitterUnits is the same estimate in timestamp units, as RTCP
	// receiver reports carry it (RFC 3550 section 6.4.1).
	JitterUnits uint32
	// Buffered is the audio held now, waiting behind a gap.
	Buffered time.Duration
}

// slot holds one packet.
type slot struct {
	buf     []byte // payload copy; its capacity is reused
	arrival time.Time
	ts      uint32
	seq     uint16
	full    bool
}

// Buffer is the jitter buffer of one RTP stream. Create it with [New]; a
// Buffer is not safe for concurrent use.
type Buffer struct {
	clockRate int64
	minDelay  time.Duration
	maxDelay  time.Duration
	maxUnits  int64 // maxDelay in timestamp units

	slots []slot // ring indexed by sequence number
	mask  uint16

	started bool
	ssrc    uint32
	next    uint16 // sequence number of the next frame to release
	highest uint16 // highest sequence number held, valid while held > 0
	held    int    // full slots

	// The last frame released, for interpolating lost frames.
	prevValid   bool
	prevSeq     uint16
	prevTS      uint32
	prevSamples int
	// frameSamples is the latest packet's frame length.
	frameSamples int

	// hist bit k-1 tells whether frame next-k was received (1) or
	// released as lost (0); histLen bits are valid.
	hist    uint64
	histLen int

	// RFC 3550 appendix A.8 jitter estimate, in timestamp units.
	epoch        time.Time // arrival times count from here
	transitValid bool
	lastTransit  uint32
	jitter       float64

	// A packet far from the expected sequence number, kept until the next
	// packet tells whether the stream restarted (RFC 3550 appendix A.1).
	probe      slot
	probeValid bool

	paced bool
	pl    playout

	stats Stats
}

// New returns an empty Buffer configured by cfg (see [Config] for the
// defaults and limits).
func New(cfg Config) *Buffer {
	if cfg.ClockRate <= 0 {
		cfg.ClockRate = DefaultClockRate
	}
	switch {
	case cfg.MinDelay == 0:
		cfg.MinDelay = DefaultMinDelay
	case cfg.MinDelay < 0:
		cfg.MinDelay = 0
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = DefaultMaxDelay
	}
	cfg.MaxDelay = min(cfg.MaxDelay, MaxMaxDelay)
	cfg.MinDelay = min(cfg.MinDelay, cfg.MaxDelay)

	// The ring holds twice the frames MaxDelay allows at the shortest
	// frame length, so every packet the depth bound admits has a slot.
	n := minSlots
	for n < int(2*cfg.MaxDelay/minFrame) {
		n *= 2
	}
	b := &Buffer{
		clockRate: int64(cfg.ClockRate),
		minDelay:  cfg.MinDelay,
		maxDelay:  cfg.MaxDelay,
		slots:     make([]slot, n),
		mask:      uint16(n - 1),
		paced:     cfg.Paced,
	}
	b.maxUnits = b.units(cfg.MaxDelay)
	return b
}

// Push adds a packet that arrived at arrival and reports what became of
// it. It copies payload and does not keep the slice. After a Push, call
// Pop until it returns false; MaxDelay bounds the audio held only then.
//
// seq, ts and ssrc come from the RTP fixed header, RFC 3550 section 5.1
// (https://www.rfc-editor.org/rfc/rfc3550#section-5.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|V=2|P|X|  CC   |M|     PT      |       sequence number (seq)   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                           timestamp (ts)                      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           synchronization source (SSRC) identifier            |
//	+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
//
// and payload is what follows the header, CSRCs, extension and padding
// (pion/rtp's Packet.Payload).
func (b *Buffer) Push(seq uint16, ts uint32, ssrc uint32, payload []byte, arrival time.Time) PushResult {
	if len(payload) == 0 {
		b.stats.Invalid++
		return Invalid
	}
	if !b.started || ssrc != b.ssrc {
		res := Accepted
		if b.started {
			res = Reset
			b.stats.Resets++
		}
		b.restart(seq, ssrc)
		b.accept(seq, ts, payload, arrival)
		return res
	}
	diff := int(int16(seq - b.next))
	if b.paced && diff > -historyLen && diff < len(b.slots) {
		if b.paused() {
			if int32(ts-b.pl.lastTS) <= 0 {
				// Older than what was played before the pause: it must
				// not restart the clock in the past.
				b.stats.Late++
				return Late
			}
			// The first packet after a pause: play resumes at it, and the
			// frames missed meanwhile are lost, not concealed late.
			if diff > 0 {
				b.stats.Lost += uint64(diff)
			}
			b.rewind(seq)
			b.pl.start(b, ts, arrival)
			b.probeValid = false
			b.accept(seq, ts, payload, arrival)
			return Accepted
		}
		b.pl.measure(b, ts, arrival)
	}
	switch {
	case diff < 0 && -diff <= historyLen:
		if back := -diff; back <= b.histLen && b.hist>>(back-1)&1 != 0 {
			b.stats.Duplicates++
			return Duplicate
		}
		if b.paced && b.pl.resumes(b, ts) {
			// Audio later than anything played, under a sequence number
			// the playout clock already used for concealment: the sender
			// resumed after a pause. Play it.
			b.rewind(seq)
			b.accept(seq, ts, payload, arrival)
			return Accepted
		}
		b.stats.Late++
		return Late
	case diff < 0 || diff >= len(b.slots):
		return b.stray(seq, ts, payload, arrival)
	}

	if b.slots[seq&b.mask].full {
		b.stats.Duplicates++
		return Duplicate
	}
	if b.held > 0 && seqBefore(seq, b.highest) {
		b.stats.Reordered++
	}
	b.probeValid = false
	b.accept(seq, ts, payload, arrival)
	return Accepted
}

// stray handles a packet far from the expected sequence number (RFC 3550
// appendix A.1): one such packet is set aside; if the next one follows
// it, the sender restarted and the stream resynchronises on the pair.
func (b *Buffer) stray(seq uint16, ts uint32, payload []byte, arrival time.Time) PushResult {
	if b.probeValid && seq == b.probe.seq+1 {
		b.stats.Resets++
		b.restart(b.probe.seq, b.ssrc)
		b.accept(b.probe.seq, b.probe.ts, b.probe.buf, b.probe.arrival)
		b.accept(seq, ts, payload, arrival)
		return Reset
	}
	b.stats.Stray++
	b.probe.buf = append(b.probe.buf[:0], payload...)
	b.probe.seq, b.probe.ts, b.probe.arrival = seq, ts, arrival
	b.probeValid = true
	return Probation
}

// restart forgets the stream and expects seq next.
func (b *Buffer) restart(seq uint16, ssrc uint32) {
	if b.held > 0 {
		for i := range b.slots {
			if b.slots[i].full {
				b.slots[i].full = false
				b.stats.Flushed++
			}
		}
		b.held = 0
	}
	b.started, b.ssrc, b.next = true, ssrc, seq
	b.prevValid = false
	b.hist, b.histLen = 0, 0
	b.transitValid = false
	b.probeValid = false
	b.pl.valid = false
}

// rewind makes seq the next frame to release, forgetting which frames
// were released (the paced clock's resume after a pause).
func (b *Buffer) rewind(seq uint16) {
	b.next = seq
	b.hist, b.histLen = 0, 0
	b.prevValid = false
}

// accept stores a packet whose sequence number is in the window.
func (b *Buffer) accept(seq uint16, ts uint32, payload []byte, arrival time.Time) {
	b.observe(ts, arrival)
	s := &b.slots[seq&b.mask]
	s.buf = append(s.buf[:0], payload...)
	s.arrival, s.ts, s.seq, s.full = arrival, ts, seq, true
	if b.held == 0 || seqBefore(b.highest, seq) {
		b.highest = seq
	}
	b.held++
	b.frameSamples = len(payload)
	b.stats.Received++
	if b.paced {
		b.pl.accepted(b, ts, arrival)
	}
}

// observe updates the interarrival jitter, RFC 3550 appendix A.8:
// D = (arrival - ts) - (previous arrival - previous ts), J += (|D| - J)/16.
func (b *Buffer) observe(ts uint32, arrival time.Time) {
	if b.epoch.IsZero() {
		b.epoch = arrival
	}
	transit := uint32(b.units(arrival.Sub(b.epoch))) - ts
	if b.transitValid {
		d := int64(int32(transit - b.lastTransit))
		if d < 0 {
			d = -d
		}
		if d > b.clockRate {
			// A second off: the timestamps jumped (a new timeline under
			// the same SSRC), not the network. Start over from here.
			b.stats.Resyncs++
		} else {
			b.jitter += (float64(d) - b.jitter) / 16
		}
	}
	b.lastTransit, b.transitValid = transit, true
}

// units converts a duration to timestamp units.
func (b *Buffer) units(d time.Duration) int64 {
	sec, ns := int64(d/time.Second), int64(d%time.Second)
	return sec*b.clockRate + ns*b.clockRate/int64(time.Second)
}

// duration converts timestamp units to a duration.
func (b *Buffer) duration(units float64) time.Duration {
	return time.Duration(units * float64(time.Second) / float64(b.clockRate))
}

// Pop returns the next frame that is ready at now, or false when none is:
// the next frame in sequence once it is there, or the missing next frame
// as Lost when the packets held behind it have waited the target delay or
// exceed MaxDelay. Call it until it returns false after each Push, and at
// NextDeadline. The payload is valid until the next call on the Buffer.
func (b *Buffer) Pop(now time.Time) (Frame, bool) {
	if b.paced {
		return b.popPaced(now)
	}
	if b.held == 0 {
		return Frame{}, false
	}
	if s := &b.slots[b.next&b.mask]; s.full {
		return b.release(s), true
	}
	if b.depth() <= b.maxFrames() && now.Before(b.oldestArrival().Add(b.Target())) {
		return Frame{}, false
	}
	return b.conceal(), true
}

// NextDeadline returns when Pop will next have a frame without another
// Push: when the wait for a missing packet ends. The time is already past
// when a frame is ready at once (Pop was not called after a Push, or more
// than MaxDelay is held); it returns false when nothing is held.
func (b *Buffer) NextDeadline() (time.Time, bool) {
	if b.paced {
		return b.pacedDeadline()
	}
	if b.held == 0 {
		return time.Time{}, false
	}
	if s := &b.slots[b.next&b.mask]; s.full {
		return s.arrival, true
	}
	oldest := b.oldestArrival()
	if b.depth() > b.maxFrames() {
		return oldest, true
	}
	return oldest.Add(b.Target()), true
}

// release hands out the packet in the head slot s.
func (b *Buffer) release(s *slot) Frame {
	s.full = false
	b.held--
	b.advance(true, s.seq, s.ts, len(s.buf))
	return Frame{Payload: s.buf, Seq: s.seq, TS: s.ts, Samples: len(s.buf), Arrival: s.arrival}
}

// conceal releases the missing head frame as lost. Its timestamp and
// length are interpolated between the last frame released and the first
// frame held, so a change of packet time is followed.
func (b *Buffer) conceal() Frame {
	seq := b.next
	step := int64(b.frameSamples)
	if b.held == 0 {
		// Paced: nothing behind the gap yet; continue the last frame.
		ts := b.prevTS + uint32(b.prevSamples)
		b.advance(false, seq, ts, b.prevSamples)
		b.stats.Lost++
		return Frame{Seq: seq, TS: ts, Samples: b.prevSamples, Lost: true}
	}
	h := b.firstHeld()
	ts := h.ts - uint32(step*int64(uint16(h.seq-seq)))
	if b.prevValid {
		ts = b.prevTS + uint32(b.prevSamples)
		gapFrames := int64(uint16(h.seq - b.prevSeq))
		if s := int64(int32(h.ts-b.prevTS)) / gapFrames; s > 0 && s <= b.units(maxFrame) {
			step, ts = s, b.prevTS+uint32(s)
		}
	}
	b.advance(false, seq, ts, int(step))
	b.stats.Lost++
	return Frame{Seq: seq, TS: ts, Samples: int(step), Lost: true}
}

// advance moves the head past the frame just released.
func (b *Buffer) advance(received bool, seq uint16, ts uint32, samples int) {
	b.next = seq + 1
	b.hist <<= 1
	if received {
		b.hist |= 1
	}
	b.histLen = min(b.histLen+1, historyLen)
	b.prevValid, b.prevSeq, b.prevTS, b.prevSamples = true, seq, ts, samples
}

// depth is the number of frames from the head to the last packet held.
func (b *Buffer) depth() int {
	if b.held == 0 {
		return 0
	}
	return int(uint16(b.highest - b.next))
}

// maxFrames is how many frames behind the head MaxDelay lets the buffer
// hold at the current frame length.
func (b *Buffer) maxFrames() int {
	return min(int(b.maxUnits)/max(b.frameSamples, 1), len(b.slots)/2)
}

// firstHeld returns the first full slot after the empty head; held > 0.
func (b *Buffer) firstHeld() *slot {
	for i := uint16(1); ; i++ {
		if s := &b.slots[(b.next+i)&b.mask]; s.full {
			return s
		}
	}
}

// oldestArrival returns the earliest arrival among the held packets.
func (b *Buffer) oldestArrival() time.Time {
	var oldest time.Time
	for i, n := 0, b.depth(); i <= n; i++ {
		if s := &b.slots[(b.next+uint16(i))&b.mask]; s.full && (oldest.IsZero() || s.arrival.Before(oldest)) {
			oldest = s.arrival
		}
	}
	return oldest
}

// Target returns the current wait for a missing packet: three times the
// measured jitter, within [MinDelay, MaxDelay].
func (b *Buffer) Target() time.Duration {
	if b.paced && b.pl.valid {
		return b.pl.target
	}
	return min(max(b.duration(jitterFactor*b.jitter), b.minDelay), b.maxDelay)
}

// Stats returns the counters and current estimates.
func (b *Buffer) Stats() Stats {
	s := b.stats
	s.Target = b.Target()
	s.Jitter = b.duration(b.jitter)
	s.JitterUnits = uint32(b.jitter)
	s.Buffered = b.duration(float64(b.held * b.frameSamples))
	return s
}

// seqBefore reports whether sequence number a comes before b, modulo 2^16.
func seqBefore(a, b uint16) bool { return int16(a-b) < 0 }
