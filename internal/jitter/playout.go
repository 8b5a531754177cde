package jitter

import "time"

// The paced mode ([Config.Paced]) releases frames on a playout clock kept
// in the sender's timestamps:
//
//   - anchor is when a frame with timestamp tsRef would have arrived over
//     the fastest path seen lately (the smallest transit time over the last
//     one to two windows); a frame with timestamp ts is expected at
//     anchor + (ts - tsRef) / clock rate.
//   - lateness is how long after that expected time a packet arrives. The
//     largest lateness over the last one to two windows, plus a small
//     margin, within [MinDelay, MaxDelay], is the target delay.
//   - play is anchor plus the playout delay in force; it follows
//     anchor + target by at most half a frame later or a quarter frame
//     earlier per frame, so a change of delay never makes a gap in the
//     output. A frame's slot is play + (ts - tsRef) / clock rate.
//
// A frame is released at its slot, or up to min(delay, one frame) before
// it once its packet is there: on a clean path (delay no more than a
// frame) a packet is released on arrival, and under jitter the output
// moves by at most a frame from the clock. Two frames out are then at
// most 2.5 frames apart (50 ms at 20 ms: one frame, one frame of early
// release, half a frame of delay growth), under the 60 ms a listener
// counts as a stall. A frame whose packet is
// not there at its slot is concealed, even with nothing held behind it,
// for up to the target plus pauseAfter after the last arrival (then the clock pauses until
// the next packet, and the frames missed meanwhile are counted lost, not
// concealed). A packet of a frame already concealed is dropped as Late,
// unless its timestamp is later than everything released (the sender
// resumed after a pause without a sequence gap): then play resumes at it.
type playout struct {
	valid       bool
	tsRef       uint32
	anchor      time.Time
	play        time.Time
	target      time.Duration
	lastArrival time.Time
	lastTS      uint32 // timestamp of the last packet stored

	// Lateness relative to anchor over the current window and the one
	// before: the largest sets the target, the smallest above zero moves
	// anchor later (the path, or the sender's clock, became slower).
	winStart         time.Time
	curMax, curMin   time.Duration
	prevMax, prevMin time.Duration
	prevSet          bool
}

const (
	// lateWindow is how long a lateness stays in the target: the target
	// falls back between one and two windows after the jitter ends.
	lateWindow = 2 * time.Second
	// lateMargin is added to the largest lateness seen.
	lateMargin = 2 * time.Millisecond
	// pauseAfter is how long after the last arrival and the target delay
	// the playout clock keeps concealing with nothing held (the
	// concealment has faded to silence by then); then it pauses until the
	// next packet. It covers a few consecutive losses.
	pauseAfter = 100 * time.Millisecond
	// resyncLateness: a lateness beyond a second is a jump of the
	// timestamps, not the network; the clock starts again from the packet.
	resyncLateness = time.Second
)

// expected is when a frame with timestamp ts is expected over the fastest path.
func (p *playout) expected(b *Buffer, ts uint32) time.Time {
	return p.anchor.Add(b.duration(float64(int32(ts - p.tsRef))))
}

// slot is when the frame with timestamp ts is due.
func (p *playout) slot(b *Buffer, ts uint32) time.Time {
	return p.play.Add(b.duration(float64(int32(ts - p.tsRef))))
}

// early is how long before its slot a frame that is there may go.
func (p *playout) early(b *Buffer) time.Duration {
	return max(0, min(p.play.Sub(p.anchor), b.duration(float64(b.frameSamples))))
}

// start begins the clock at a packet of timestamp ts that arrived at arrival.
func (p *playout) start(b *Buffer, ts uint32, arrival time.Time) {
	delay := min(max(p.target, b.minDelay), b.maxDelay)
	if p.valid {
		delay = p.play.Sub(p.anchor)
	}
	p.valid, p.tsRef, p.anchor, p.play = true, ts, arrival, arrival.Add(delay)
	p.target = min(max(p.target, b.minDelay), b.maxDelay)
	p.winStart, p.curMax, p.curMin, p.prevSet = arrival, 0, 0, false
}

// measure records the lateness of a packet of the stream, accepted or not.
func (p *playout) measure(b *Buffer, ts uint32, arrival time.Time) {
	if !p.valid {
		return
	}
	p.lastArrival = arrival // the sender is alive, even if this packet is late
	l := arrival.Sub(p.expected(b, ts))
	if l > resyncLateness || l < -resyncLateness {
		b.stats.Resyncs++
		p.start(b, ts, arrival)
		return
	}
	if l < 0 {
		// Faster than any packet before: the fastest path is faster (or
		// the sender sent ahead of its clock). The delay in force grows,
		// but never beyond MaxDelay.
		p.shift(l)
		l = 0
		if p.play.Sub(p.anchor) > b.maxDelay {
			p.play = p.anchor.Add(b.maxDelay)
		}
	}
	if arrival.Sub(p.winStart) >= lateWindow {
		p.prevMax, p.prevMin, p.prevSet = p.curMax, p.curMin, true
		p.curMax, p.curMin, p.winStart = l, l, arrival
		if lo := min(p.prevMin, p.curMin); lo > 0 {
			p.shift(lo) // no packet was that fast for a window or two
			l -= lo
		}
	} else {
		p.curMax, p.curMin = max(p.curMax, l), min(p.curMin, l)
	}
	late := p.curMax
	if p.prevSet {
		late = max(late, p.prevMax)
	}
	p.target = min(max(late+lateMargin, b.minDelay), b.maxDelay)
}

// shift moves anchor by d; the recorded lateness is relative to it. play
// does not move: the delay in force changes and follows the target.
func (p *playout) shift(d time.Duration) {
	p.anchor = p.anchor.Add(d)
	p.curMax, p.curMin = p.curMax-d, p.curMin-d
	p.prevMax, p.prevMin = p.prevMax-d, p.prevMin-d
}

// accepted is called for every packet stored.
func (p *playout) accepted(b *Buffer, ts uint32, arrival time.Time) {
	if !p.valid {
		p.start(b, ts, arrival)
	}
	p.lastArrival, p.lastTS = arrival, ts
}

// step moves play towards anchor + target after a frame is released.
func (p *playout) step(b *Buffer) {
	frame := b.duration(float64(b.frameSamples))
	d := p.anchor.Add(p.target).Sub(p.play)
	p.play = p.play.Add(min(max(d, -frame/4), frame/2))
}

// resumes reports whether a packet under an already used sequence number
// carries audio later than everything released.
func (p *playout) resumes(b *Buffer, ts uint32) bool {
	return p.valid && b.prevValid && int32(ts-(b.prevTS+uint32(b.prevSamples))) >= 0
}

// headTS is the timestamp of the next frame to release when its packet is
// missing; ok is false when there is none to conceal.
func (b *Buffer) headTS() (uint32, bool) {
	if b.prevValid {
		return b.prevTS + uint32(b.prevSamples), true
	}
	if b.held == 0 {
		return 0, false
	}
	h := b.firstHeld()
	return h.ts - uint32(b.frameSamples*int(uint16(h.seq-b.next))), true
}

// paused reports whether the clock waits for the next packet: nothing is
// held and the next slot is more than pauseAfter after the last arrival.
func (b *Buffer) paused() bool {
	if !b.pl.valid || b.held > 0 {
		return false
	}
	ts, ok := b.headTS()
	return !ok || b.pl.slot(b, ts).Sub(b.pl.lastArrival) > b.pl.target+pauseAfter
}

func (b *Buffer) popPaced(now time.Time) (Frame, bool) {
	if !b.pl.valid {
		return Frame{}, false
	}
	if s := &b.slots[b.next&b.mask]; s.full {
		if now.Before(b.pl.slot(b, s.ts).Add(-b.pl.early(b))) && b.depth() <= b.maxFrames() {
			return Frame{}, false
		}
		f := b.release(s)
		b.pl.step(b)
		return f, true
	}
	if b.paused() {
		return Frame{}, false
	}
	ts, _ := b.headTS()
	if now.Before(b.pl.slot(b, ts)) && (b.held == 0 || b.depth() <= b.maxFrames()) {
		return Frame{}, false
	}
	f := b.conceal()
	b.pl.step(b)
	return f, true
}

func (b *Buffer) pacedDeadline() (time.Time, bool) {
	if !b.pl.valid {
		return time.Time{}, false
	}
	if s := &b.slots[b.next&b.mask]; s.full {
		if b.depth() > b.maxFrames() {
			return s.arrival, true
		}
		return b.pl.slot(b, s.ts).Add(-b.pl.early(b)), true
	}
	if b.paused() {
		return time.Time{}, false
	}
	if b.held > 0 && b.depth() > b.maxFrames() {
		return b.oldestArrival(), true
	}
	ts, _ := b.headTS()
	return b.pl.slot(b, ts), true
}
