package dtmf

import (
	"slices"
	"testing"
	"time"
)

// timingTolerance is the largest error allowed on a reported start or
// duration.
const timingTolerance = 10 * time.Millisecond

func TestFigures(t *testing.T) {
	var worst time.Duration
	for _, c := range figureCases() {
		t.Run(c.name, func(t *testing.T) {
			sig := c.build()
			evs := detectAll(sig.g711(), 160)
			if got := keysOf(evs); got != c.want {
				t.Fatalf("keys = %q, want %q\nevents: %v", got, c.want, evs)
			}
			checkPairs(t, evs)
			if !c.timed {
				return
			}
			ends := endsOf(evs)
			if len(ends) != len(sig.marks) {
				t.Fatalf("%d presses, signal has %d", len(ends), len(sig.marks))
			}
			for i, e := range ends {
				m := sig.marks[i]
				ds, dd := absDur(e.Start-m.start), absDur(e.Duration-m.dur)
				worst = max(worst, ds, dd)
				if ds > timingTolerance || dd > timingTolerance {
					t.Errorf("press %d %c: start %v duration %v, want %v %v (±%v)",
						i, e.Digit, e.Start, e.Duration, m.start, m.dur, timingTolerance)
				}
			}
		})
	}
	t.Logf("largest start or duration error: %v", worst)
}

// checkPairs checks that every End follows a Start of the same key and
// time, with nothing in between.
func checkPairs(t *testing.T, evs []Event) {
	t.Helper()
	for i, e := range evs {
		want := Start
		if i%2 == 1 {
			want = End
		}
		if e.Kind != want {
			t.Fatalf("event %d is %v, want %v: %v", i, e.Kind, want, evs)
		}
		if e.Kind == Start && e.Duration != 0 {
			t.Errorf("start event %v has a duration", e)
		}
		if e.Kind == End && (e.Digit != evs[i-1].Digit || e.Start != evs[i-1].Start) {
			t.Errorf("end %v does not match start %v", e, evs[i-1])
		}
	}
}

func endsOf(evs []Event) []Event {
	var out []Event
	for _, e := range evs {
		if e.Kind == End {
			out = append(out, e)
		}
	}
	return out
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// TestFrameBoundaries feeds the same signals in differently sized pieces and
// expects identical events.
func TestFrameBoundaries(t *testing.T) {
	pick := map[string]bool{
		"16 keys -26 dBm0 40ms on 40ms off":             true,
		"16 keys 10ms dropout in 90ms tone at -26 dBm0": true,
		"16 keys -20 dBm0 SNR 15 dB 40ms on 40ms off":   true,
		"same key repeated 40ms on 40ms off":            true,
	}
	n := 0
	for _, c := range figureCases() {
		if !pick[c.name] {
			continue
		}
		n++
		pcm := c.build().g711()
		ref := detectAll(pcm, 0)
		if len(ref) == 0 {
			t.Fatalf("%s: no events", c.name)
		}
		for _, chunk := range []int{160, 80, 7, 1, 333} {
			if got := detectAll(pcm, chunk); !slices.Equal(got, ref) {
				t.Errorf("%s in %d-sample chunks:\n got %v\nwant %v", c.name, chunk, got, ref)
			}
		}
	}
	if n != len(pick) {
		t.Fatalf("found %d of %d cases", n, len(pick))
	}
}

// TestStartEvent checks that a press is announced while the key is still
// down, within 40 ms of the tone starting.
func TestStartEvent(t *testing.T) {
	sig := newSignal(1).silence(lead).press(tone{key: '7', dur: 300 * ms, loDB: -10, hiDB: -10})
	pcm := sig.g711()
	d := NewDetector(Config{})
	var at int
	var got []Event
	for i := 0; i < len(pcm); i += 160 {
		d.Process(pcm[i:min(i+160, len(pcm))], func(e Event) {
			got = append(got, e)
			at = i + 160
		})
		if len(got) > 0 {
			break
		}
	}
	if len(got) != 1 || got[0].Kind != Start || got[0].Digit != '7' {
		t.Fatalf("events = %v, want one start of 7", got)
	}
	latency := time.Duration(at)*time.Second/testRate - lead
	if latency > 40*ms+20*ms { // plus one 20 ms frame
		t.Errorf("start announced %v after the tone began", latency)
	}
	t.Logf("start announced within %v (20 ms frames)", latency)
}

func TestFlush(t *testing.T) {
	tests := []struct {
		name string
		sig  *signal
		want []Event
	}{
		{
			name: "press running at end of input",
			sig:  newSignal(2).silence(lead).press(tone{key: '#', dur: 200 * ms, loDB: -10, hiDB: -10}),
			want: []Event{
				{Digit: '#', Start: lead, Kind: Start},
				{Digit: '#', Start: lead, Duration: 200 * ms, Kind: End},
			},
		},
		{
			name: "tone too short at end of input",
			sig:  newSignal(3).silence(lead).press(tone{key: '#', dur: 20 * ms, loDB: -10, hiDB: -10}),
		},
		{
			name: "nothing",
			sig:  newSignal(4).silence(lead),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := detectAll(tt.sig.g711(), 160)
			if len(got) != len(tt.want) {
				t.Fatalf("events = %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i].Digit != tt.want[i].Digit || got[i].Kind != tt.want[i].Kind ||
					absDur(got[i].Start-tt.want[i].Start) > 2*ms || absDur(got[i].Duration-tt.want[i].Duration) > 2*ms {
					t.Errorf("event %d = %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// TestFlushResets checks that time restarts at zero after Flush and Reset.
func TestFlushResets(t *testing.T) {
	pcm := newSignal(5).silence(50 * ms).press(tone{key: '9', dur: 100 * ms, loDB: -10, hiDB: -10}).silence(100 * ms).g711()
	d := NewDetector(Config{})
	for _, restart := range []func(){func() { d.Flush(nil) }, d.Reset} {
		d.Process(pcm[:300], nil) // part of a press, then forget it
		restart()
		var got []Event
		d.Process(pcm, func(e Event) { got = append(got, e) })
		d.Flush(func(e Event) { got = append(got, e) })
		if keysOf(got) != "9" || absDur(got[0].Start-50*ms) > 2*ms {
			t.Errorf("after restart: %v, want 9 at 50ms", got)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero means defaults", Config{}, true},
		{"defaults", DefaultConfig(), true},
		{"16 kHz", Config{SampleRate: 16000}, true},
		{"rate not a multiple of 400", Config{SampleRate: 11025}, false},
		{"rate too low", Config{SampleRate: 4000}, false},
		{"positive level", Config{MinLevel: 3}, false},
		{"negative twist", Config{NormalTwist: -1}, false},
		{"tolerance too wide", Config{FreqTolerance: 0.1}, false},
		{"ratio above one", Config{MinToneRatio: 1.5}, false},
		{"duration too long", Config{MinDuration: time.Second}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestNewDetectorPanicsOnBadConfig(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	NewDetector(Config{SampleRate: 44100})
}

// TestSampleRate16k checks the same figures hold at 16 kHz (signals made at
// 8 kHz and repeated sample by sample would alias, so a tone is built
// directly).
func TestSampleRate16k(t *testing.T) {
	const rate = 16000
	pcm := make([]int16, 0, rate)
	pcm = append(pcm, make([]int16, rate/10)...)
	a := dbm0Peak(-10)
	for i := range rate / 10 {
		ti := float64(i) / rate
		pcm = append(pcm, int16(a*sin2pi(852*ti)+a*sin2pi(1477*ti)))
	}
	pcm = append(pcm, make([]int16, rate/10)...)
	d := NewDetector(Config{SampleRate: rate})
	var got []Event
	d.Process(pcm, func(e Event) { got = append(got, e) })
	d.Flush(func(e Event) { got = append(got, e) })
	if keysOf(got) != "9" || absDur(endsOf(got)[0].Duration-100*ms) > 2*ms || absDur(got[0].Start-100*ms) > 2*ms {
		t.Errorf("events = %v, want 9 at 100ms for 100ms", got)
	}
}

func TestProcessAllocs(t *testing.T) {
	pcm := newSignal(6).silence(lead).keys("123", tone{dur: 60 * ms, loDB: -10, hiDB: -10}, 60*ms).noise(100).g711()
	d := NewDetector(Config{})
	n := 0
	emit := func(Event) { n++ }
	allocs := testing.AllocsPerRun(20, func() {
		for i := 0; i < len(pcm); i += 160 {
			d.Process(pcm[i:min(i+160, len(pcm))], emit)
		}
		d.Flush(emit)
	})
	if allocs != 0 {
		t.Errorf("Process and Flush allocate %v times per run", allocs)
	}
	if n == 0 {
		t.Error("no events: the run did not exercise the press path")
	}
}
