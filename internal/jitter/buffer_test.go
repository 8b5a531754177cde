package jitter

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// pkt is one arriving packet in a table case.
type pkt struct {
	at   float64 // arrival, milliseconds after t0
	seq  uint16
	ts   uint32 // zero: seq*samples + tsBase of the case
	ssrc uint32 // zero: 1
	n    int    // payload length; zero: the case's samples per frame, -1: empty
	want PushResult
}

// harness drives a Buffer the way the RTP receiver does: Push each packet
// at its arrival, Pop until nothing is ready, and Pop at NextDeadline
// between arrivals.
type harness struct {
	t      *testing.T
	b      *Buffer
	frames []released
}

type released struct {
	Frame
	at      time.Time
	payload []byte // copy of Payload
}

func (h *harness) popAll(now time.Time) {
	h.t.Helper()
	for range 10000 {
		f, ok := h.b.Pop(now)
		if !ok {
			h.checkBound(now)
			return
		}
		if !f.Lost && f.Samples != len(f.Payload) {
			h.t.Errorf("frame %d: Samples %d, payload %d bytes", f.Seq, f.Samples, len(f.Payload))
		}
		h.frames = append(h.frames, released{Frame: f, at: now, payload: append([]byte(nil), f.Payload...)})
	}
	h.t.Fatal("Pop never returned false")
}

// checkBound asserts the hard bound: after Pop has drained what is ready,
// the audio held never exceeds MaxDelay.
func (h *harness) checkBound(now time.Time) {
	h.t.Helper()
	if s := h.b.Stats(); s.Buffered > h.b.maxDelay {
		h.t.Fatalf("at %v: %v buffered, more than MaxDelay %v", now.Sub(t0), s.Buffered, h.b.maxDelay)
	}
}

// until pops at every deadline up to and including now.
func (h *harness) until(now time.Time) {
	h.t.Helper()
	for range 10000 {
		d, ok := h.b.NextDeadline()
		if !ok || d.After(now) {
			return
		}
		n := len(h.frames)
		h.popAll(d)
		if len(h.frames) == n {
			h.t.Fatalf("nothing released at the deadline %v", d.Sub(t0))
		}
	}
	h.t.Fatal("deadlines never ended")
}

func (h *harness) push(p pkt, samples int, tsBase uint32) PushResult {
	h.t.Helper()
	at := t0.Add(time.Duration(p.at * float64(time.Millisecond)))
	h.until(at)
	if p.ts == 0 {
		p.ts = tsBase + uint32(p.seq)*uint32(samples)
	}
	if p.ssrc == 0 {
		p.ssrc = 1
	}
	switch {
	case p.n == 0:
		p.n = samples
	case p.n < 0: // an empty payload
		p.n = 0
	}
	payload := make([]byte, p.n)
	for i := range payload {
		payload[i] = byte(p.seq)
	}
	res := h.b.Push(p.seq, p.ts, p.ssrc, payload, at)
	for i := range payload {
		payload[i] = 0xEE // the buffer must have copied it
	}
	h.popAll(at)
	return res
}

// run feeds the packets and drains the buffer a second after the last.
func (h *harness) run(pkts []pkt, samples int, tsBase uint32) []PushResult {
	var res []PushResult
	var last float64
	for _, p := range pkts {
		res = append(res, h.push(p, samples, tsBase))
		last = p.at
	}
	h.until(t0.Add(time.Duration(last*float64(time.Millisecond)) + time.Second))
	return res
}

// out renders the released frames: "5" for frame 5, "5L" when lost.
func (h *harness) out() string {
	var parts []string
	for _, f := range h.frames {
		s := fmt.Sprint(f.Seq)
		if f.Lost {
			s += "L"
		} else if len(f.payload) == 0 || f.payload[0] != byte(f.Seq) {
			s += "?" // payload not the one pushed
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// seqs returns packets seq first..last arriving every ptime ms from at.
func seqs(at float64, ptime float64, first, last uint16) []pkt {
	var ps []pkt
	for s := first; ; s++ {
		ps = append(ps, pkt{at: at, seq: s})
		at += ptime
		if s == last {
			return ps
		}
	}
}

func cat(parts ...[]pkt) []pkt {
	var all []pkt
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

func TestBuffer(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		samples int    // per frame; zero means 160 (20 ms)
		tsBase  uint32 // added to seq*samples
		pkts    []pkt
		want    string // frames released in order
		stats   Stats  // counters compared when non-zero
		// maxWait bounds the time any received frame waited (zero: not
		// checked; a nanosecond: released on arrival).
		maxWait time.Duration
	}{
		{
			name:    "in order: released on arrival",
			pkts:    seqs(0, 20, 0, 9),
			want:    "0 1 2 3 4 5 6 7 8 9",
			stats:   Stats{Received: 10},
			maxWait: time.Nanosecond,
		},
		{
			name: "reordered by 1",
			pkts: []pkt{{at: 0, seq: 0}, {at: 20, seq: 1}, {at: 40, seq: 3}, {at: 41, seq: 2}, {at: 60, seq: 4}},
			want: "0 1 2 3 4", stats: Stats{Reordered: 1},
		},
		{
			name: "reordered by 2",
			pkts: []pkt{{at: 0, seq: 0}, {at: 20, seq: 2}, {at: 22, seq: 3}, {at: 24, seq: 1}, {at: 60, seq: 4}},
			want: "0 1 2 3 4", stats: Stats{Reordered: 1},
		},
		{
			name: "reordered by 3",
			pkts: []pkt{{at: 0, seq: 0}, {at: 20, seq: 2}, {at: 22, seq: 3}, {at: 24, seq: 4}, {at: 26, seq: 1}, {at: 80, seq: 5}},
			want: "0 1 2 3 4 5", stats: Stats{Reordered: 1, Lost: 0},
		},
		{
			name: "reordered by 3 packet times with a 60 ms minimum wait",
			cfg:  Config{MinDelay: 60 * time.Millisecond},
			pkts: []pkt{{at: 0, seq: 0}, {at: 20, seq: 2}, {at: 40, seq: 3}, {at: 60, seq: 4}, {at: 70, seq: 1}, {at: 80, seq: 5}},
			want: "0 1 2 3 4 5", stats: Stats{Reordered: 1},
		},
		{
			name: "duplicates: held and already released",
			pkts: []pkt{
				{at: 0, seq: 0}, {at: 20, seq: 1}, {at: 21, seq: 1, want: Duplicate},
				{at: 40, seq: 3}, {at: 41, seq: 3, want: Duplicate}, {at: 42, seq: 2}, {at: 43, seq: 0, want: Duplicate},
			},
			want: "0 1 2 3", stats: Stats{Duplicates: 3, Received: 4},
		},
		{
			name:    "single loss: concealed after the minimum wait",
			pkts:    cat(seqs(0, 20, 0, 1), seqs(60, 20, 3, 5)),
			want:    "0 1 2L 3 4 5",
			stats:   Stats{Lost: 1},
			maxWait: DefaultMinDelay,
		},
		{
			name:  "burst loss",
			pkts:  cat(seqs(0, 20, 0, 1), seqs(100, 20, 5, 6)),
			want:  "0 1 2L 3L 4L 5 6",
			stats: Stats{Lost: 3},
		},
		{
			name: "late arrival after concealment",
			pkts: []pkt{{at: 0, seq: 0}, {at: 40, seq: 2}, {at: 75, seq: 1, want: Late}, {at: 80, seq: 4}, {at: 81, seq: 3}},
			want: "0 1L 2 3 4", stats: Stats{Lost: 1, Late: 1, Reordered: 1},
		},
		{
			name: "sequence number wrap",
			pkts: seqs(0, 20, 65533, 2),
			want: "65533 65534 65535 0 1 2",
		},
		{
			name: "loss and reordering across the sequence wrap",
			pkts: []pkt{{at: 0, seq: 65534}, {at: 40, seq: 0}, {at: 41, seq: 1}, {at: 60, seq: 3}, {at: 61, seq: 2}},
			want: "65534 65535L 0 1 2 3", stats: Stats{Lost: 1, Reordered: 1},
		},
		{
			name:   "timestamp wrap",
			tsBase: 0xFFFFFF00,
			pkts:   []pkt{{at: 0, seq: 0}, {at: 20, seq: 1}, {at: 40, seq: 2}, {at: 60, seq: 4}, {at: 80, seq: 5}},
			want:   "0 1 2 3L 4 5", stats: Stats{Lost: 1},
		},
		{
			name: "SSRC change resynchronises",
			pkts: []pkt{
				{at: 0, seq: 100}, {at: 20, seq: 102}, // 101 missing, 102 held
				{at: 25, seq: 7000, ts: 5, ssrc: 2, want: Reset},
				{at: 45, seq: 7001, ts: 165, ssrc: 2},
			},
			want:  "100 7000 7001",
			stats: Stats{Resets: 1, Flushed: 1},
		},
		{
			name: "sequence jump confirmed by the next packet",
			pkts: []pkt{
				{at: 0, seq: 10}, {at: 20, seq: 11},
				{at: 40, seq: 30000, want: Probation}, {at: 60, seq: 30001, want: Reset}, {at: 80, seq: 30002},
			},
			want:  "10 11 30000 30001 30002",
			stats: Stats{Resets: 1, Stray: 1},
		},
		{
			name: "single stray packet is dropped",
			pkts: []pkt{
				{at: 0, seq: 10}, {at: 20, seq: 11}, {at: 21, seq: 9000, want: Probation},
				{at: 40, seq: 12}, {at: 41, seq: 9001, want: Probation}, {at: 60, seq: 13},
			},
			want:  "10 11 12 13",
			stats: Stats{Stray: 2},
		},
		{
			name: "old stream far behind needs two packets to restart",
			pkts: []pkt{
				{at: 0, seq: 5000}, {at: 20, seq: 5001},
				{at: 40, seq: 100, want: Probation}, {at: 60, seq: 101, want: Reset},
			},
			want: "5000 5001 100 101", stats: Stats{Resets: 1},
		},
		{
			name:    "burst: several packets at the same instant",
			pkts:    cat(seqs(0, 20, 0, 1), seqs(100, 0, 2, 6), seqs(120, 20, 7, 8)),
			want:    "0 1 2 3 4 5 6 7 8",
			maxWait: time.Nanosecond,
		},
		{
			name: "burst out of order at one instant",
			pkts: []pkt{{at: 0, seq: 0}, {at: 100, seq: 3}, {at: 100, seq: 1}, {at: 100, seq: 4}, {at: 100, seq: 2}},
			want: "0 1 2 3 4", stats: Stats{Reordered: 2},
		},
		{
			name: "depth never exceeds MaxDelay: gap released when 60 ms are held",
			cfg:  Config{MinDelay: 60 * time.Millisecond},
			// 1 never comes; 2, 3, 4 fill 60 ms behind it, 5 would be 80 ms.
			pkts: []pkt{{at: 0, seq: 0}, {at: 20, seq: 2}, {at: 21, seq: 3}, {at: 22, seq: 4}, {at: 23, seq: 5}, {at: 24, seq: 1, want: Late}},
			want: "0 1L 2 3 4 5", stats: Stats{Lost: 1, Late: 1},
			maxWait: 3 * time.Millisecond,
		},
		{
			name: "long outage inside the window: lost frames up to the depth bound",
			pkts: []pkt{{at: 0, seq: 0}, {at: 200, seq: 10}, {at: 220, seq: 11}},
			want: "0 1L 2L 3L 4L 5L 6L 7L 8L 9L 10 11",
		},
		{
			name: "empty payload is invalid",
			pkts: []pkt{{at: 0, seq: 0}, {at: 20, seq: 1, n: -1, want: Invalid}, {at: 40, seq: 2}},
			want: "0 1L 2", stats: Stats{Invalid: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			samples := tc.samples
			if samples == 0 {
				samples = 160
			}
			h := &harness{t: t, b: New(tc.cfg)}
			res := h.run(tc.pkts, samples, tc.tsBase)
			for i, r := range res {
				if r != tc.pkts[i].want {
					t.Errorf("packet %d (seq %d): %v, want %v", i, tc.pkts[i].seq, r, tc.pkts[i].want)
				}
			}
			if got := h.out(); got != tc.want {
				t.Errorf("released %q\nwant     %q", got, tc.want)
			}
			checkStats(t, h.b.Stats(), tc.stats)
			if tc.maxWait > 0 {
				for _, f := range h.frames {
					if !f.Lost && f.at.Sub(f.Arrival) > tc.maxWait {
						t.Errorf("frame %d waited %v, want <= %v", f.Seq, f.at.Sub(f.Arrival), tc.maxWait)
					}
				}
			}
			if _, ok := h.b.NextDeadline(); ok || h.b.Stats().Buffered != 0 {
				t.Errorf("buffer not empty at the end: %+v", h.b.Stats())
			}
		})
	}
}

func checkStats(t *testing.T, got, want Stats) {
	t.Helper()
	type field struct {
		name      string
		got, want uint64
	}
	for _, f := range []field{
		{"Received", got.Received, want.Received},
		{"Duplicates", got.Duplicates, want.Duplicates},
		{"Late", got.Late, want.Late},
		{"Lost", got.Lost, want.Lost},
		{"Reordered", got.Reordered, want.Reordered},
		{"Resets", got.Resets, want.Resets},
		{"Flushed", got.Flushed, want.Flushed},
		{"Stray", got.Stray, want.Stray},
		{"Invalid", got.Invalid, want.Invalid},
	} {
		if f.want != 0 && f.got != f.want {
			t.Errorf("Stats.%s = %d, want %d (all: %+v)", f.name, f.got, f.want, got)
		}
	}
}

func TestPacketTimes(t *testing.T) {
	for _, ptime := range []int{10, 20, 30, 60} {
		t.Run(fmt.Sprintf("ptime %d ms", ptime), func(t *testing.T) {
			samples := 8 * ptime
			maxHeld := 60 / ptime // frames MaxDelay allows behind a gap
			// Frame 5 is lost; frames 9 and 8 are swapped.
			var pkts []pkt
			for s := range uint16(14) {
				at := float64(int(s) * ptime)
				switch s {
				case 5:
					continue
				case 8:
					at += float64(ptime) + 1
				}
				pkts = append(pkts, pkt{at: at, seq: s})
			}
			sortByArrival(pkts)
			h := &harness{t: t, b: New(Config{})}
			h.run(pkts, samples, 1000)
			if got, want := h.out(), "0 1 2 3 4 5L 6 7 8 9 10 11 12 13"; got != want {
				t.Fatalf("released %q, want %q", got, want)
			}
			lost := h.frames[5]
			if lost.TS != 1000+uint32(5*samples) || lost.Samples != samples {
				t.Errorf("lost frame TS %d, %d samples; want %d, %d", lost.TS, lost.Samples, 1000+5*samples, samples)
			}
			if got := h.b.maxFrames(); got != maxHeld {
				t.Errorf("frames held at most %d, want %d", got, maxHeld)
			}
			// Frame 6 waited for 5: the target delay, or less when the
			// 60 ms bound forced the loss earlier.
			if w := h.frames[6].at.Sub(h.frames[6].Arrival); w > DefaultMinDelay {
				t.Errorf("frame 6 waited %v for the lost frame, want <= %v", w, DefaultMinDelay)
			}
			if s := h.b.Stats(); s.Lost != 1 || s.Late != 0 || s.Reordered != 1 {
				t.Errorf("stats %+v, want 1 lost, 1 reordered", s)
			}
		})
	}
}

// TestTargetAdapts injects arrival jitter and checks that the target delay
// grows with it and returns to the minimum once the path is clean again.
func TestTargetAdapts(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	b := New(Config{})
	h := &harness{t: t, b: b}
	const n = 400
	// Phase 1: every packet arrives up to 15 ms early or late (uniform);
	// packets are pushed in arrival order, so neighbours may swap.
	var noisy []pkt
	for i := range n {
		noisy = append(noisy, pkt{at: float64(i*20) + 15 + (rng.Float64()*30 - 15), seq: uint16(i)})
	}
	sortByArrival(noisy)
	for _, p := range noisy {
		h.push(p, 160, 0)
	}
	s := b.Stats()
	// |D| of two uniform ±15 ms variables averages 10 ms.
	if s.Jitter < 6*time.Millisecond || s.Jitter > 14*time.Millisecond {
		t.Errorf("jitter %v under ±15 ms noise, want about 10 ms", s.Jitter)
	}
	if s.Target < 20*time.Millisecond || s.Target > DefaultMaxDelay {
		t.Errorf("target %v under ±15 ms noise, want 20-60 ms", s.Target)
	}
	if s.Lost > n/50 {
		t.Errorf("%d frames lost of %d under ±15 ms noise, want < 2%%", s.Lost, n)
	}
	t.Logf("under ±15 ms noise: jitter %v, target %v, lost %d, reordered %d", s.Jitter, s.Target, s.Lost, s.Reordered)
	noisyTarget := s.Target

	// Phase 2: a clean path.
	start := float64(n*20) + 100
	for i := range n {
		h.push(pkt{at: start + float64(i*20), seq: uint16(n + i)}, 160, 0)
	}
	s = b.Stats()
	if s.Target != DefaultMinDelay || s.Jitter > time.Millisecond {
		t.Errorf("after a clean second: target %v, jitter %v; want target %v (was %v)", s.Target, s.Jitter, DefaultMinDelay, noisyTarget)
	}
	if s.Received != 2*n {
		t.Errorf("received %d packets, want %d", s.Received, 2*n)
	}
}

func sortByArrival(ps []pkt) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].at < ps[j-1].at; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		min, max time.Duration
	}{
		{"zero value", Config{}, DefaultMinDelay, DefaultMaxDelay},
		{"no minimum", Config{MinDelay: -1}, 0, DefaultMaxDelay},
		{"minimum above maximum", Config{MinDelay: 80 * time.Millisecond, MaxDelay: 40 * time.Millisecond}, 40 * time.Millisecond, 40 * time.Millisecond},
		{"maximum capped", Config{MaxDelay: time.Hour}, DefaultMinDelay, MaxMaxDelay},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := New(tc.cfg)
			if b.minDelay != tc.min || b.maxDelay != tc.max || b.Target() != tc.min {
				t.Errorf("min %v max %v target %v; want %v, %v", b.minDelay, b.maxDelay, b.Target(), tc.min, tc.max)
			}
			if frames := int(b.maxDelay / minFrame); len(b.slots) < 2*frames {
				t.Errorf("%d slots for %d frames", len(b.slots), frames)
			}
		})
	}
}

// TestPushPopDoesNotAllocate runs in-order packets, a loss concealed at
// its deadline and a swapped pair through a warmed-up buffer.
func TestPushPopDoesNotAllocate(t *testing.T) {
	b := New(Config{})
	payload := make([]byte, 160)
	var seq uint16
	now := t0
	step := func(skip bool) {
		if !skip {
			b.Push(seq, uint32(seq)*160, 7, payload, now)
		}
		seq++
		now = now.Add(20 * time.Millisecond)
		for {
			if _, ok := b.Pop(now); !ok {
				break
			}
		}
	}
	cycle := func() {
		for range 5 {
			step(false)
		}
		step(true) // lost: concealed at the next Pop after the deadline
		step(false)
		// swapped pair
		b.Push(seq+1, uint32(seq+1)*160, 7, payload, now)
		b.Push(seq, uint32(seq)*160, 7, payload, now)
		seq += 2
		for {
			if _, ok := b.Pop(now); !ok {
				break
			}
		}
		if d, ok := b.NextDeadline(); ok {
			b.Pop(d)
		}
	}
	cycle() // warm up the slot buffers
	if allocs := testing.AllocsPerRun(200, cycle); allocs != 0 {
		t.Errorf("%v allocations per cycle, want 0", allocs)
	}
	if s := b.Stats(); s.Lost == 0 || s.Reordered == 0 {
		t.Errorf("cycle did not exercise loss and reordering: %+v", s)
	}
}

func BenchmarkPushPop(b *testing.B) {
	for _, bc := range []struct {
		name    string
		swapped bool
		paced   bool
	}{{"in order", false, false}, {"every 10th pair swapped", true, false}, {"paced in order", false, true}, {"paced every 10th pair swapped", true, true}} {
		b.Run(bc.name, func(b *testing.B) {
			buf := New(Config{Paced: bc.paced})
			payload := make([]byte, 160)
			now := t0
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				seq := uint16(i)
				if bc.swapped && i%10 == 8 {
					seq++
				} else if bc.swapped && i%10 == 9 {
					seq--
				}
				buf.Push(seq, uint32(seq)*160, 7, payload, now)
				for {
					if _, ok := buf.Pop(now); !ok {
						break
					}
				}
				now = now.Add(20 * time.Millisecond)
			}
		})
	}
}
