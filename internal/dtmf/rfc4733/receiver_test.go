package rfc4733

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// step is one input to a Receiver in a table case: a packet, or a Tick
// when tick is set.
type step struct {
	at     int // milliseconds after t0
	tick   bool
	ts     uint32
	marker bool
	raw    []byte // payload; when nil it is built from the fields below
	ev     uint8
	end    bool
	dur    uint16
}

func (s step) payload() []byte {
	if s.raw != nil {
		return s.raw
	}
	return Payload{Event: s.ev, End: s.end, Volume: 10, Duration: s.dur}.AppendTo(nil)
}

// format renders an event compactly for comparison with table cases.
func format(e Event) string {
	s := fmt.Sprintf("%s %c ts=%d dur=%v", e.Kind, e.Digit, e.TS, e.Duration)
	if e.Flash {
		s = fmt.Sprintf("%s flash ts=%d dur=%v", e.Kind, e.TS, e.Duration)
	}
	if e.Timeout {
		s += " timeout"
	}
	return s
}

// run feeds steps to a fresh 8 kHz Receiver and returns the events.
func run(t *testing.T, steps []step) ([]string, *Receiver) {
	t.Helper()
	r := NewReceiver(8000)
	var got []string
	emit := func(e Event) {
		if want := Digit(e.Code); e.Digit != want || e.Flash != (e.Code == CodeFlash) {
			t.Errorf("event %+v: digit/flash inconsistent with code", e)
		}
		got = append(got, format(e))
	}
	for _, s := range steps {
		now := t0.Add(time.Duration(s.at) * time.Millisecond)
		if s.tick {
			r.Tick(now, emit)
			continue
		}
		r.Packet(s.ts, s.marker, s.payload(), now, emit)
	}
	return got, r
}

// press returns the packets of a well-behaved press of ev at timestamp ts
// starting at millisecond at: a start, updates every 50 ms while the key is
// down for durMS, then three end packets 50 ms apart... as many senders do.
func press(at int, ts uint32, ev uint8, durMS int) []step {
	steps := []step{{at: at, ts: ts, marker: true, ev: ev}}
	for ms := 50; ms < durMS; ms += 50 {
		steps = append(steps, step{at: at + ms, ts: ts, ev: ev, dur: uint16(ms * 8)})
	}
	for i := range 3 {
		steps = append(steps, step{at: at + durMS + 20*i, ts: ts, ev: ev, end: true, dur: uint16(durMS * 8)})
	}
	return steps
}

func concat(parts ...[]step) []step {
	var all []step
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

func TestReceiver(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
		want  []string
		stats Stats // fields compared when non-zero
	}{
		{
			name: "normal press: start, 3 updates, 3 ends",
			steps: []step{
				{at: 0, ts: 1000, marker: true, ev: 5},
				{at: 50, ts: 1000, ev: 5, dur: 400},
				{at: 100, ts: 1000, ev: 5, dur: 800},
				{at: 150, ts: 1000, ev: 5, dur: 1200},
				{at: 200, ts: 1000, ev: 5, end: true, dur: 1600},
				{at: 220, ts: 1000, ev: 5, end: true, dur: 1600},
				{at: 240, ts: 1000, ev: 5, end: true, dur: 1600},
				{at: 2000, tick: true},
			},
			want:  []string{"start 5 ts=1000 dur=0s", "end 5 ts=1000 dur=200ms"},
			stats: Stats{Presses: 1, Duplicates: 2},
		},
		{
			name: "lost start packet",
			steps: []step{
				{at: 50, ts: 1000, ev: 7, dur: 400},
				{at: 100, ts: 1000, ev: 7, dur: 800},
				{at: 150, ts: 1000, ev: 7, end: true, dur: 1000},
				{at: 170, ts: 1000, ev: 7, end: true, dur: 1000},
				{at: 190, ts: 1000, ev: 7, end: true, dur: 1000},
			},
			want: []string{"start 7 ts=1000 dur=50ms", "end 7 ts=1000 dur=125ms"},
		},
		{
			name: "only end packets seen",
			steps: []step{
				{at: 150, ts: 1000, ev: 3, end: true, dur: 960},
				{at: 170, ts: 1000, ev: 3, end: true, dur: 960},
			},
			want: []string{"start 3 ts=1000 dur=120ms", "end 3 ts=1000 dur=120ms"},
		},
		{
			name: "all end packets lost: timeout",
			steps: []step{
				{at: 0, ts: 1000, marker: true, ev: 9},
				{at: 50, ts: 1000, ev: 9, dur: 400},
				{at: 100, ts: 1000, ev: 9, dur: 800},
				{at: 250, tick: true},                            // 150 ms of silence: not yet
				{at: 300, tick: true},                            // 200 ms: over
				{at: 320, ts: 1000, ev: 9, end: true, dur: 1200}, // a late end does not count again
				{at: 900, tick: true},
			},
			want:  []string{"start 9 ts=1000 dur=0s", "end 9 ts=1000 dur=100ms timeout"},
			stats: Stats{Presses: 1, TimedOut: 1, Duplicates: 1},
		},
		{
			name: "duplicated and reordered packets",
			steps: []step{
				{at: 0, ts: 1000, marker: true, ev: 1},
				{at: 0, ts: 1000, marker: true, ev: 1},
				{at: 60, ts: 1000, ev: 1, dur: 800},
				{at: 61, ts: 1000, ev: 1, dur: 400}, // older update after a newer one
				{at: 100, ts: 1000, ev: 1, end: true, dur: 1200},
				{at: 101, ts: 1000, ev: 1, dur: 1100}, // update after the end
				{at: 120, ts: 1000, ev: 1, end: true, dur: 1200},
				{at: 140, ts: 1000, ev: 1, end: true, dur: 1200},
			},
			want: []string{"start 1 ts=1000 dur=0s", "end 1 ts=1000 dur=150ms"},
		},
		{
			name: "end packet before the start packet",
			steps: []step{
				{at: 100, ts: 1000, ev: 4, end: true, dur: 800},
				{at: 101, ts: 1000, marker: true, ev: 4},
				{at: 120, ts: 1000, ev: 4, end: true, dur: 800},
			},
			want: []string{"start 4 ts=1000 dur=100ms", "end 4 ts=1000 dur=100ms"},
		},
		{
			name:  "two quick presses of the same digit",
			steps: concat(press(0, 1000, 2, 100), press(200, 2600, 2, 100)),
			want: []string{
				"start 2 ts=1000 dur=0s", "end 2 ts=1000 dur=100ms",
				"start 2 ts=2600 dur=0s", "end 2 ts=2600 dur=100ms",
			},
			stats: Stats{Presses: 2, TimedOut: 0},
		},
		{
			name: "a newer press ends the open one",
			steps: []step{
				{at: 0, ts: 1000, marker: true, ev: 6},
				{at: 50, ts: 1000, ev: 6, dur: 400},
				{at: 120, ts: 2000, marker: true, ev: 8},
				{at: 121, ts: 1000, ev: 6, end: true, dur: 480}, // stale end of the first
				{at: 170, ts: 2000, ev: 8, end: true, dur: 400},
			},
			want: []string{
				"start 6 ts=1000 dur=0s", "end 6 ts=1000 dur=50ms timeout",
				"start 8 ts=2000 dur=0s", "end 8 ts=2000 dur=50ms",
			},
			stats: Stats{Stale: 1},
		},
		{
			name: "long press in two segments",
			steps: []step{
				{at: 0, ts: 1000, marker: true, ev: 0},
				{at: 4000, ts: 1000, ev: 0, dur: 32000},
				{at: 8190, ts: 1000, ev: 0, dur: 0xFFFF}, // segment full, no E bit
				{at: 8240, ts: 1000 + 0xFFFF, ev: 0, dur: 400},
				{at: 8290, ts: 1000 + 0xFFFF, ev: 0, dur: 800, end: true},
				{at: 8310, ts: 1000 + 0xFFFF, ev: 0, dur: 800, end: true},
				{at: 8330, ts: 1000 + 0xFFFF, ev: 0, dur: 800, end: true},
			},
			want:  []string{"start 0 ts=1000 dur=0s", "end 0 ts=1000 dur=8.291875s"},
			stats: Stats{Presses: 1},
		},
		{
			name: "long press whose segment boundary packet was lost",
			steps: []step{
				{at: 0, ts: 1000, marker: true, ev: 11},
				{at: 8150, ts: 1000, ev: 11, dur: 65200},
				{at: 8250, ts: 1000 + 0xFFFF, ev: 11, dur: 400},
				{at: 8300, ts: 1000 + 0xFFFF, ev: 11, dur: 800, end: true},
			},
			want: []string{"start # ts=1000 dur=0s", "end # ts=1000 dur=8.291875s"},
		},
		{
			name: "hook flash",
			steps: []step{
				{at: 0, ts: 500, marker: true, ev: 16},
				{at: 50, ts: 500, ev: 16, dur: 400},
				{at: 100, ts: 500, ev: 16, end: true, dur: 800},
				{at: 120, ts: 500, ev: 16, end: true, dur: 800},
			},
			want: []string{"start flash ts=500 dur=0s", "end flash ts=500 dur=100ms"},
		},
		{
			name:  "timestamp wrap between presses",
			steps: concat(press(0, 0xFFFFFF00, 12, 100), press(300, 0x100, 13, 100)),
			want: []string{
				"start A ts=4294967040 dur=0s", "end A ts=4294967040 dur=100ms",
				"start B ts=256 dur=0s", "end B ts=256 dur=100ms",
			},
		},
		{
			name: "unknown events and malformed payloads are ignored",
			steps: []step{
				{at: 0, ts: 100, raw: []byte{}},
				{at: 1, ts: 100, raw: []byte{5, 0x0a, 0}},
				{at: 2, ts: 100, marker: true, ev: 17},
				{at: 3, ts: 100, ev: 255, end: true, dur: 800},
				{at: 4, ts: 200, ev: 15, end: true, dur: 80},
				{at: 5, ts: 200, ev: 14, end: true, dur: 80}, // other event, same timestamp, after the end
			},
			want:  []string{"start D ts=200 dur=10ms", "end D ts=200 dur=10ms"},
			stats: Stats{Malformed: 2, Ignored: 2, Duplicates: 1},
		},
		{
			name: "different event under the open press's timestamp",
			steps: []step{
				{at: 0, ts: 100, marker: true, ev: 15},
				{at: 50, ts: 100, ev: 14, dur: 400},
				{at: 100, ts: 100, ev: 15, dur: 800, end: true},
			},
			want:  []string{"start D ts=100 dur=0s", "end D ts=100 dur=100ms"},
			stats: Stats{Ignored: 1},
		},
		{
			name: "two events packed in one packet",
			steps: []step{
				{at: 0, ts: 1000, raw: append(
					Payload{Event: 1, End: true, Duration: 800}.AppendTo(nil),
					Payload{Event: 2, End: true, Duration: 400}.AppendTo(nil)...)},
			},
			want: []string{
				"start 1 ts=1000 dur=100ms", "end 1 ts=1000 dur=100ms",
				"start 2 ts=1800 dur=50ms", "end 2 ts=1800 dur=50ms",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, r := run(t, tc.steps)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			checkStats(t, r.Stats(), tc.stats)
		})
	}
}

// checkStats compares the non-zero fields of want, and always Presses
// against the number of presses when want sets it.
func checkStats(t *testing.T, got, want Stats) {
	t.Helper()
	type field struct {
		name      string
		got, want uint64
	}
	for _, f := range []field{
		{"Presses", got.Presses, want.Presses},
		{"TimedOut", got.TimedOut, want.TimedOut},
		{"Duplicates", got.Duplicates, want.Duplicates},
		{"Stale", got.Stale, want.Stale},
		{"Ignored", got.Ignored, want.Ignored},
		{"Malformed", got.Malformed, want.Malformed},
	} {
		if f.want != 0 && f.got != f.want {
			t.Errorf("Stats.%s = %d, want %d (all: %+v)", f.name, f.got, f.want, got)
		}
	}
}

func TestEveryDigit(t *testing.T) {
	const keys = "0123456789*#ABCD"
	for code := range uint8(MaxCode + 1) {
		name := "flash"
		if code < CodeFlash {
			name = string(keys[code])
		}
		t.Run(name, func(t *testing.T) {
			got, _ := run(t, press(0, 8000, code, 100))
			if len(got) != 2 {
				t.Fatalf("events %q, want one start and one end", got)
			}
			wantEnd := fmt.Sprintf("end %c ts=8000 dur=100ms", Digit(code))
			if code == CodeFlash {
				wantEnd = "end flash ts=8000 dur=100ms"
			} else if Digit(code) != keys[code] {
				t.Errorf("Digit(%d) = %q, want %q", code, Digit(code), keys[code])
			}
			if got[1] != wantEnd {
				t.Errorf("end event %q, want %q", got[1], wantEnd)
			}
			if code < CodeFlash {
				if c, ok := Code(keys[code]); !ok || c != code {
					t.Errorf("Code(%q) = %d, %v; want %d", keys[code], c, ok, code)
				}
			}
		})
	}
}

func TestTimeoutAdaptsToPacketInterval(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
		want     time.Duration
	}{
		{"20 ms updates keep the minimum", 20 * time.Millisecond, MinTimeout},
		{"50 ms updates: four intervals", 50 * time.Millisecond, MinTimeout},
		{"100 ms updates: four intervals", 100 * time.Millisecond, 400 * time.Millisecond},
		{"500 ms updates: capped", 500 * time.Millisecond, MaxTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReceiver(8000)
			var ends int
			emit := func(e Event) {
				if e.Kind == End {
					ends++
				}
			}
			now := t0
			for i := range 40 {
				r.Packet(1000, i == 0, Payload{Event: 1, Duration: uint16(i * 80)}.AppendTo(nil), now, emit)
				now = now.Add(tc.interval)
			}
			got := r.Timeout()
			if d := got - tc.want; d < -5*time.Millisecond || d > 5*time.Millisecond {
				t.Errorf("Timeout() = %v, want %v", got, tc.want)
			}
			deadline, ok := r.NextDeadline()
			if !ok {
				t.Fatal("NextDeadline: no open press")
			}
			r.Tick(deadline.Add(-time.Millisecond), emit)
			if ends != 0 {
				t.Fatal("press ended before its deadline")
			}
			r.Tick(deadline, emit)
			if ends != 1 {
				t.Fatalf("press not ended at its deadline (%d ends)", ends)
			}
			if _, ok := r.NextDeadline(); ok {
				t.Error("NextDeadline reports an open press after the end")
			}
		})
	}
}

func TestReset(t *testing.T) {
	r := NewReceiver(8000)
	var got []string
	emit := func(e Event) { got = append(got, format(e)) }
	r.Packet(1000, true, Payload{Event: 5}.AppendTo(nil), t0, emit)
	r.Reset(emit)
	// A new stream may reuse an older-looking timestamp.
	r.Packet(900, true, Payload{Event: 6, End: true, Duration: 80}.AppendTo(nil), t0, emit)
	want := []string{
		"start 5 ts=1000 dur=0s", "end 5 ts=1000 dur=0s timeout",
		"start 6 ts=900 dur=10ms", "end 6 ts=900 dur=10ms",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		p    Payload
		wire []byte
	}{
		{"digit 1 end", Payload{Event: 1, End: true, Volume: 10, Duration: 2240}, []byte{0x01, 0x8a, 0x08, 0xc0}},
		{"flash start", Payload{Event: 16, Volume: 63}, []byte{0x10, 0x3f, 0, 0}},
		{"max duration", Payload{Event: 11, Duration: 0xFFFF}, []byte{0x0b, 0x00, 0xff, 0xff}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.AppendTo(nil); string(got) != string(tc.wire) {
				t.Errorf("AppendTo = % x, want % x", got, tc.wire)
			}
			got, err := ParsePayload(tc.wire)
			if err != nil || got != tc.p {
				t.Errorf("ParsePayload = %+v, %v; want %+v", got, err, tc.p)
			}
		})
	}
	// The R bit is ignored on receipt.
	if p, _ := ParsePayload([]byte{0x01, 0x40 | 0x0a, 0, 0}); p.Volume != 10 || p.End {
		t.Errorf("R bit leaked into %+v", p)
	}
	if _, err := ParsePayload([]byte{1, 2, 3}); err != ErrShortPayload {
		t.Errorf("short payload: err %v, want ErrShortPayload", err)
	}
}

// TestPacketDoesNotAllocate proves the per-packet path allocation free.
func TestPacketDoesNotAllocate(t *testing.T) {
	r := NewReceiver(8000)
	var n int
	emit := func(Event) { n++ }
	var bufs [][]byte
	for _, s := range press(0, 0, 5, 200) {
		bufs = append(bufs, s.payload())
	}
	ts := uint32(0)
	now := t0
	allocs := testing.AllocsPerRun(200, func() {
		for i, b := range bufs {
			r.Packet(ts, i == 0, b, now, emit)
			now = now.Add(20 * time.Millisecond)
		}
		r.Tick(now, emit)
		ts += 4000
	})
	if allocs != 0 {
		t.Errorf("%v allocations per press, want 0", allocs)
	}
	if n == 0 {
		t.Error("no events emitted")
	}
}

func BenchmarkPacket(b *testing.B) {
	r := NewReceiver(8000)
	emit := func(Event) {}
	var bufs [][]byte
	for _, s := range press(0, 0, 5, 200) {
		bufs = append(bufs, s.payload())
	}
	ts := uint32(0)
	now := t0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		k := i % len(bufs)
		if k == 0 {
			ts += 4000
		}
		r.Packet(ts, k == 0, bufs[k], now, emit)
		now = now.Add(20 * time.Millisecond)
	}
}
