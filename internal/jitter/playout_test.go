package jitter

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// netSim is a sender of 20 ms frames through a network that delays each
// packet by a random 0..jitter and drops it with probability loss; the
// receiver pushes each packet at its arrival and pops at every deadline,
// as the media receive loop does. All times are explicit.
type netSim struct {
	jitter time.Duration
	loss   float64
	frames int
	seed   uint64
	paced  bool
	max    time.Duration // Config.MaxDelay; zero: 60 ms
}

// simResult is what a listener of the buffer's output sees.
type simResult struct {
	released, lost, late int
	maxGap               time.Duration // longest time between two frames out
	stalls               int           // gaps over 60 ms
	p50, p99             time.Duration // send to release, received frames
	outOfOrder           bool
}

const simFrame = 20 * time.Millisecond

func (s netSim) run(t *testing.T) simResult {
	t.Helper()
	rng := rand.New(rand.NewPCG(s.seed, 7))
	type arr struct {
		at  time.Time
		seq uint16
	}
	var arrivals []arr
	for k := range s.frames {
		if rng.Float64() < s.loss {
			continue
		}
		d := time.Duration(rng.Int64N(int64(s.jitter) + 1))
		arrivals = append(arrivals, arr{at: t0.Add(time.Duration(k)*simFrame + d), seq: uint16(k)})
	}
	slices.SortStableFunc(arrivals, func(a, b arr) int { return a.at.Compare(b.at) })
	b := New(Config{MaxDelay: s.max, Paced: s.paced})
	payload := make([]byte, 160)
	var res simResult
	var outs []time.Time
	var lat []time.Duration
	lastSeq := -1
	pop := func(now time.Time) {
		for range 1000 {
			f, ok := b.Pop(now)
			if !ok {
				return
			}
			if int(f.Seq) <= lastSeq {
				res.outOfOrder = true
			}
			lastSeq = int(f.Seq)
			outs = append(outs, now)
			if f.Lost {
				res.lost++
			} else {
				lat = append(lat, now.Sub(t0.Add(time.Duration(f.Seq)*simFrame)))
			}
		}
		t.Fatal("Pop never returned false")
	}
	until := func(now time.Time) {
		for range 100000 {
			d, ok := b.NextDeadline()
			if !ok || d.After(now) {
				return
			}
			pop(d)
		}
		t.Fatal("deadlines never ended")
	}
	for _, a := range arrivals {
		until(a.at)
		payload[0] = byte(a.seq)
		if r := b.Push(a.seq, uint32(a.seq)*160, 1, payload, a.at); r == Late {
			res.late++
		}
		pop(a.at)
	}
	until(t0.Add(time.Duration(s.frames)*simFrame + time.Second))
	res.released = len(outs)
	for i := 1; i < len(outs); i++ {
		gap := outs[i].Sub(outs[i-1])
		res.maxGap = max(res.maxGap, gap)
		if gap > 60*time.Millisecond {
			res.stalls++
		}
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		res.p50, res.p99 = lat[len(lat)/2], lat[(len(lat)*99+99)/100-1]
	}
	return res
}

// TestPacedBadNetwork is the table in the small: for every row,
// the paced buffer gives the listener a frame at least every 50 ms (no
// stall over 60 ms), a frame for every frame sent (concealment fills what
// was lost or came too late), in order, with p99 latency within J + 20 ms.
// The buffer without pacing fails it: each loss under jitter holds the
// output back and releases it in a burst.
func TestPacedBadNetwork(t *testing.T) {
	rows := []struct {
		jitter time.Duration
		loss   float64
	}{{0, 0}, {20 * time.Millisecond, 0}, {20 * time.Millisecond, 0.01}, {0, 0.05}, {40 * time.Millisecond, 0.05}}
	const frames = 3000 // one minute
	for _, row := range rows {
		t.Run(fmt.Sprintf("J=%v L=%v", row.jitter, row.loss), func(t *testing.T) {
			sim := netSim{jitter: row.jitter, loss: row.loss, frames: frames, seed: 1, paced: true}
			r := sim.run(t)
			old := sim
			old.paced = false
			o := old.run(t)
			t.Logf("paced: %d frames, %d concealed, %d late, max gap %v, %d stalls, p50 %v p99 %v; unpaced: max gap %v, %d stalls, p99 %v",
				r.released, r.lost, r.late, r.maxGap, r.stalls, r.p50, r.p99, o.maxGap, o.stalls, o.p99)
			if row.jitter == 40*time.Millisecond && o.stalls == 0 {
				t.Error("the unpaced buffer had no stalls either: this table cannot tell pacing from bursts")
			}
			// The last frames sent may be lost with nothing behind them:
			// the clock conceals them too, up to pauseAfter.
			if r.released < frames-1 || r.released > frames+int((pauseAfter+DefaultMaxDelay)/simFrame) {
				t.Errorf("%d frames out for %d sent", r.released, frames)
			}
			if r.outOfOrder {
				t.Error("frames out of order")
			}
			if r.maxGap > 50*time.Millisecond || r.stalls != 0 {
				t.Errorf("longest gap %v, %d stalls; want at most 50 ms", r.maxGap, r.stalls)
			}
			if r.p99 > row.jitter+20*time.Millisecond {
				t.Errorf("p99 %v, want <= %v", r.p99, row.jitter+20*time.Millisecond)
			}
			if row.jitter == 0 && r.p99 != r.p50 {
				t.Errorf("clean path: p50 %v p99 %v, want every packet released on arrival", r.p50, r.p99)
			}
			if row.jitter == 0 && r.late != 0 {
				t.Errorf("clean path: %d late packets", r.late)
			}
			// Audio: at most a few per cent of the packets that arrived
			// are dropped as late while the target learns the jitter.
			if arrived := frames - r.lost - r.late; r.late > arrived/50+5 {
				t.Errorf("%d packets late of about %d", r.late, arrived)
			}
		})
	}
}

// TestPacedCleanPathNoDelay: in order and on time, every frame goes out
// the moment its packet arrives, even with jitter_buffer_max at 500 ms.
func TestPacedCleanPathNoDelay(t *testing.T) {
	b := New(Config{Paced: true, MaxDelay: 500 * time.Millisecond})
	payload := make([]byte, 160)
	for k := range 500 {
		at := t0.Add(time.Duration(k) * simFrame)
		if _, ok := b.NextDeadline(); ok {
			if d, _ := b.NextDeadline(); !d.After(at) {
				t.Fatalf("frame %d: a deadline at %v before its packet", k, d.Sub(t0))
			}
		}
		b.Push(uint16(k), uint32(k*160), 1, payload, at)
		f, ok := b.Pop(at)
		if !ok || f.Lost || f.Seq != uint16(k) {
			t.Fatalf("frame %d not released on arrival: %+v %v", k, f, ok)
		}
		if _, ok := b.Pop(at); ok {
			t.Fatal("two frames for one packet")
		}
	}
}

// TestPacedLossWithNothingBehind: a packet lost while the next one is
// still on its way is concealed at its slot, not when the next arrives.
func TestPacedLossWithNothingBehind(t *testing.T) {
	b := New(Config{Paced: true})
	payload := make([]byte, 160)
	for k := range 10 {
		at := t0.Add(time.Duration(k) * simFrame)
		b.Push(uint16(k), uint32(k*160), 1, payload, at)
		b.Pop(at)
	}
	// Frame 10 is lost, 11 will arrive 35 ms late.
	d, ok := b.NextDeadline()
	slot10 := t0.Add(10*simFrame + DefaultMinDelay)
	if !ok || !d.Equal(slot10) {
		t.Fatalf("deadline %v %v, want frame 10's slot at %v", d.Sub(t0), ok, slot10.Sub(t0))
	}
	f, ok := b.Pop(d)
	if !ok || !f.Lost || f.Seq != 10 || f.Samples != 160 || f.TS != 1600 {
		t.Fatalf("at the slot: %+v %v, want frame 10 concealed", f, ok)
	}
	// Frame 11's slot passes too.
	d, _ = b.NextDeadline()
	if f, ok := b.Pop(d); !ok || !f.Lost || f.Seq != 11 {
		t.Fatalf("frame 11 at its slot: %+v %v", f, ok)
	}
	if r := b.Push(11, 11*160, 1, payload, t0.Add(11*simFrame+35*time.Millisecond)); r != Late {
		t.Fatalf("frame 11 after its slot: %v, want late", r)
	}
	if s := b.Stats(); s.Late != 1 || s.Lost != 2 || s.Target < 35*time.Millisecond {
		t.Fatalf("stats %+v, want 1 late, 2 lost and a target above 35 ms", s)
	}
}

// TestPacedPauseAndResume: the sender stops (silence suppression or a
// long outage); the clock conceals for pauseAfter then waits, and resumes
// at the next packet whether its sequence number continues or jumped.
func TestPacedPauseAndResume(t *testing.T) {
	for _, tc := range []struct {
		name string
		seq  uint16 // first packet after the pause
	}{{"sequence continues", 10}, {"sequence jumped", 40}} {
		t.Run(tc.name, func(t *testing.T) {
			b := New(Config{Paced: true})
			payload := make([]byte, 160)
			for k := range 10 {
				at := t0.Add(time.Duration(k) * simFrame)
				b.Push(uint16(k), uint32(k*160), 1, payload, at)
				b.Pop(at)
			}
			concealed := 0
			for {
				d, ok := b.NextDeadline()
				if !ok {
					break
				}
				if f, ok := b.Pop(d); !ok || !f.Lost {
					t.Fatalf("at %v: %+v %v", d.Sub(t0), f, ok)
				}
				concealed++
				if concealed > 100 {
					t.Fatal("concealing without end")
				}
			}
			if want := int((pauseAfter + DefaultMinDelay) / simFrame); concealed < want-1 || concealed > want+1 {
				t.Fatalf("%d frames concealed before the pause, want about %d", concealed, want)
			}
			// Two seconds later the sender resumes; its timestamps kept
			// running with its clock.
			at := t0.Add(2*time.Second + 9*simFrame)
			ts := uint32(2*8000 + 9*160)
			if r := b.Push(tc.seq, ts, 1, payload, at); r != Accepted {
				t.Fatalf("resume: %v", r)
			}
			f, ok := b.Pop(at)
			if !ok || f.Lost || f.Seq != tc.seq {
				t.Fatalf("resume not released on arrival: %+v %v", f, ok)
			}
			at = at.Add(simFrame)
			b.Push(tc.seq+1, ts+160, 1, payload, at)
			if f, ok := b.Pop(at); !ok || f.Seq != tc.seq+1 {
				t.Fatalf("after the resume: %+v %v", f, ok)
			}
		})
	}
}

// TestPacedTargetFallsBack: after a burst of jitter the target rises, and
// falls back to the minimum once the path is clean for two windows.
func TestPacedTargetFallsBack(t *testing.T) {
	b := New(Config{Paced: true})
	rng := rand.New(rand.NewPCG(3, 4))
	payload := make([]byte, 160)
	k := 0
	push := func(n int, jitter time.Duration) {
		for range n {
			at := t0.Add(time.Duration(k)*simFrame + time.Duration(rng.Int64N(int64(jitter)+1)))
			b.Push(uint16(k), uint32(k*160), 1, payload, at)
			for {
				if _, ok := b.Pop(at); !ok {
					break
				}
			}
			k++
		}
	}
	push(250, 30*time.Millisecond)
	if s := b.Stats(); s.Target < 25*time.Millisecond || s.Target > 35*time.Millisecond {
		t.Fatalf("target %v under 0-30 ms jitter, want about 32 ms", s.Target)
	}
	push(250, 0)
	if s := b.Stats(); s.Target != DefaultMinDelay {
		t.Fatalf("target %v after 5 clean seconds, want %v", s.Target, DefaultMinDelay)
	}
}

// TestPacedDoesNotAllocate: a paced buffer under jitter and loss.
func TestPacedDoesNotAllocate(t *testing.T) {
	b := New(Config{Paced: true})
	rng := rand.New(rand.NewPCG(5, 6))
	payload := make([]byte, 160)
	k := 0
	cycle := func() {
		now := t0.Add(time.Duration(k) * simFrame)
		if d, ok := b.NextDeadline(); ok && d.Before(now) {
			b.Pop(d)
		}
		if rng.IntN(20) != 0 {
			at := now.Add(time.Duration(rng.Int64N(int64(30 * time.Millisecond))))
			b.Push(uint16(k), uint32(k*160), 1, payload, at)
			for {
				if _, ok := b.Pop(at); !ok {
					break
				}
			}
		}
		k++
	}
	for range 100 {
		cycle()
	}
	if allocs := testing.AllocsPerRun(500, cycle); allocs != 0 {
		t.Errorf("%v allocations per packet, want 0", allocs)
	}
}

// TestPacedBurstThenPause: a sender that sends a second of audio at once,
// stops for a second and goes on with the next sequence number and
// timestamp (its timestamps did not run meanwhile): the burst goes out
// (bounded by MaxDelay), the clock pauses, and the sender's next packets
// all play, paced, with no burst of concealment for the pause.
func TestPacedBurstThenPause(t *testing.T) {
	b := New(Config{Paced: true})
	payload := make([]byte, 160)
	var out []Frame
	var at []time.Time
	pop := func(now time.Time) {
		for {
			f, ok := b.Pop(now)
			if !ok {
				return
			}
			out, at = append(out, f), append(at, now)
		}
	}
	until := func(now time.Time) {
		for range 1000 {
			d, ok := b.NextDeadline()
			if !ok || d.After(now) {
				return
			}
			pop(d)
		}
	}
	for k := range 50 {
		now := t0.Add(time.Duration(k) * 40 * time.Microsecond)
		until(now)
		b.Push(uint16(k), uint32(k*160), 1, payload, now)
		pop(now)
	}
	until(t0.Add(900 * time.Millisecond))
	before := len(out)
	if before < 50 || before > 50+int((pauseAfter+DefaultMaxDelay)/simFrame) {
		t.Fatalf("%d frames for the burst and the pause", before)
	}
	for k := 50; k < 75; k++ {
		now := t0.Add(time.Second + time.Duration(k-50)*simFrame)
		until(now)
		if r := b.Push(uint16(k), uint32(k*160), 1, payload, now); r != Accepted {
			t.Fatalf("packet %d after the pause: %v", k, r)
		}
		pop(now)
	}
	until(t0.Add(3 * time.Second))
	after := out[before:]
	for i, f := range after[:25] {
		if f.Lost || f.Seq != uint16(50+i) {
			t.Fatalf("after the pause, frame %d: %+v", i, f)
		}
		if i > 0 {
			if gap := at[before+i].Sub(at[before+i-1]); gap < simFrame/2 || gap > 2*simFrame {
				t.Fatalf("after the pause, frame %d %v after the one before", i, gap)
			}
		}
	}
	if d := at[before].Sub(t0.Add(time.Second)); d > DefaultMaxDelay {
		t.Fatalf("first frame after the pause held %v", d)
	}
}
