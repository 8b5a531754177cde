package dtmf

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// figureCase is one receiver figure checked on a generated signal. The same
// cases drive the detector tests and the multimon-ng comparison.
type figureCase struct {
	name   string
	figure string // the requirement the case belongs to
	build  func() *signal
	want   string // keys expected in order; "" means nothing may be detected
	timed  bool   // check every press's start and duration (±10 ms)
}

const ms = time.Millisecond

// fullScaleDB is the per-tone level at which the two tones together reach
// the largest mu-law value (32124) without clipping: about -3 dBm0.
var fullScaleDB = 20*math.Log10(32124.0/2/32768) + 3.17

// lead and tail frame every signal with silence.
const lead, tail = 100 * ms, 200 * ms

func seq(seed uint64, ks string, t tone, gap time.Duration) func() *signal {
	return func() *signal {
		return newSignal(seed).silence(lead).keys(ks, t, gap).silence(tail)
	}
}

// figureCases returns the receiver figures of ITU-T Q.24 and Bellcore/AT&T
// that the detector is built to, as named cases.
func figureCases() []figureCase {
	var cs []figureCase
	add := func(c figureCase) { cs = append(cs, c) }

	// Levels and durations: all sixteen keys at several levels, as 40 ms
	// tones with 40 ms pauses and as 500 ms tones.
	for i, lv := range []float64{-26, -16, -6, fullScaleDB} {
		name := fmt.Sprintf("%.0f dBm0", lv)
		if lv == fullScaleDB {
			name = fmt.Sprintf("full scale (%.1f dBm0)", lv)
		}
		add(figureCase{
			name: "16 keys " + name + " 40ms on 40ms off", figure: "level+duration",
			build: seq(uint64(10+i), allKeys, tone{dur: 40 * ms, loDB: lv, hiDB: lv}, 40*ms),
			want:  allKeys, timed: true,
		})
		add(figureCase{
			name: "16 keys " + name + " 500ms on 100ms off", figure: "level+duration",
			build: seq(uint64(20+i), allKeys, tone{dur: 500 * ms, loDB: lv, hiDB: lv}, 100*ms),
			want:  allKeys, timed: true,
		})
	}
	for i, lv := range []float64{-47, -50} {
		add(figureCase{
			name: fmt.Sprintf("16 keys %.0f dBm0 too weak", lv), figure: "level",
			build: seq(uint64(30+i), allKeys, tone{dur: 100 * ms, loDB: lv, hiDB: lv}, 60*ms),
		})
	}

	// Frequency tolerance: ±1.5 % accepted, ±3.5 % rejected.
	for i, off := range [][2]float64{{0.015, 0.015}, {0.015, -0.015}, {-0.015, 0.015}, {-0.015, -0.015}} {
		add(figureCase{
			name:   fmt.Sprintf("16 keys low %+.1f%% high %+.1f%%", off[0]*100, off[1]*100),
			figure: "frequency",
			build:  seq(uint64(40+i), allKeys, tone{dur: 60 * ms, loDB: -10, hiDB: -10, loOff: off[0], hiOff: off[1]}, 60*ms),
			want:   allKeys, timed: true,
		})
	}
	add(figureCase{
		name:   "16 keys low +1.5% high -1.5% at -26 dBm0 40ms on 40ms off",
		figure: "frequency",
		build:  seq(45, allKeys, tone{dur: 40 * ms, loDB: -26, hiDB: -26, loOff: 0.015, hiOff: -0.015}, 40*ms),
		want:   allKeys, timed: true,
	})
	for i, off := range [][2]float64{{0.035, 0}, {-0.035, 0}, {0, 0.035}, {0, -0.035}} {
		add(figureCase{
			name:   fmt.Sprintf("16 keys low %+.1f%% high %+.1f%% rejected", off[0]*100, off[1]*100),
			figure: "frequency",
			build:  seq(uint64(50+i), allKeys, tone{dur: 100 * ms, loDB: -10, hiDB: -10, loOff: off[0], hiOff: off[1]}, 60*ms),
		})
	}

	// Twist.
	twist := []struct {
		name   string
		lo, hi float64
		want   string
	}{
		{"normal twist 8 dB", -10, -18, allKeys},
		{"normal twist 8 dB at -18/-26 dBm0", -18, -26, allKeys},
		{"reverse twist 4 dB", -14, -10, allKeys},
		{"normal twist 14 dB rejected", -6, -20, ""},
		{"reverse twist 10 dB rejected", -20, -10, ""},
	}
	for i, tw := range twist {
		add(figureCase{
			name: "16 keys " + tw.name, figure: "twist",
			build: seq(uint64(60+i), allKeys, tone{dur: 60 * ms, loDB: tw.lo, hiDB: tw.hi}, 60*ms),
			want:  tw.want, timed: tw.want != "",
		})
	}

	// Timing.
	add(figureCase{
		name: "same key repeated 40ms on 40ms off", figure: "timing",
		build: seq(70, "55550000DDDD", tone{dur: 40 * ms, loDB: -10, hiDB: -10}, 40*ms),
		want:  "55550000DDDD", timed: true,
	})
	for i, d := range []time.Duration{22 * ms, 20 * ms, 15 * ms} {
		add(figureCase{
			name: fmt.Sprintf("16 keys %v tones ignored", d), figure: "timing",
			build: seq(uint64(71+i), allKeys, tone{dur: d, loDB: -6, hiDB: -6}, 40*ms),
		})
	}
	add(figureCase{
		name: "16 keys 10ms dropout in 100ms tone", figure: "timing",
		build: seq(75, allKeys, tone{dur: 100 * ms, loDB: -10, hiDB: -10, dropAt: 45, dropMs: 10}, 60*ms),
		want:  allKeys, timed: true,
	})
	add(figureCase{
		name: "16 keys 10ms dropout in 90ms tone at -26 dBm0", figure: "timing",
		build: seq(76, allKeys, tone{dur: 90 * ms, loDB: -26, hiDB: -26, dropAt: 40, dropMs: 10}, 60*ms),
		want:  allKeys, timed: true,
	})

	// Noise and dial tone.
	for i, lv := range []float64{-10, -20} {
		add(figureCase{
			name: fmt.Sprintf("16 keys %.0f dBm0 SNR 15 dB white noise", lv), figure: "noise",
			build: func() *signal {
				return seq(uint64(80+i), allKeys, tone{dur: 60 * ms, loDB: lv, hiDB: lv}, 60*ms)().noiseSNR(lv, lv, 15)
			},
			want: allKeys, timed: true,
		})
	}
	add(figureCase{
		name: "16 keys -20 dBm0 SNR 15 dB 40ms on 40ms off", figure: "noise",
		build: func() *signal {
			return seq(82, allKeys, tone{dur: 40 * ms, loDB: -20, hiDB: -20}, 40*ms)().noiseSNR(-20, -20, 15)
		},
		want: allKeys, timed: true,
	})
	for i, lv := range []float64{-6, -16} {
		add(figureCase{
			name: fmt.Sprintf("16 keys %.0f dBm0 with dial tone 10 dB below", lv), figure: "dial tone",
			build: func() *signal {
				return seq(uint64(85+i), allKeys, tone{dur: 60 * ms, loDB: lv, hiDB: lv}, 60*ms)().sines(lv-10, 350, 440)
			},
			want: allKeys, timed: true,
		})
	}

	// Signals that carry no key.
	add(figureCase{name: "silence", figure: "no key", build: func() *signal { return newSignal(90).silence(2 * time.Second) }})
	add(figureCase{name: "white noise -10 dBm0", figure: "no key", build: func() *signal {
		return newSignal(91).silence(5 * time.Second).noise(math.Pow(dbm0Peak(-10), 2) / 2)
	}})
	for i, t := range []struct {
		name string
		hz   []float64
	}{
		{"dial tone 350+440 Hz", []float64{350, 440}},
		{"ringback 440+480 Hz", []float64{440, 480}},
		{"busy 480+620 Hz", []float64{480, 620}},
	} {
		add(figureCase{name: t.name + " -10 dBm0", figure: "no key", build: func() *signal {
			return newSignal(uint64(92+i)).silence(3*time.Second).sines(-10, t.hz...)
		}})
	}
	return cs
}

// keysOf returns the keys of the End events in order.
func keysOf(evs []Event) string {
	var b strings.Builder
	for _, e := range evs {
		if e.Kind == End {
			b.WriteByte(e.Digit)
		}
	}
	return b.String()
}

// detectAll runs a fresh default detector over pcm in chunks of size chunk
// (0 for one call) and returns every event, Flush included.
func detectAll(pcm []int16, chunk int) []Event {
	d := NewDetector(Config{})
	var evs []Event
	emit := func(e Event) { evs = append(evs, e) }
	if chunk <= 0 {
		d.Process(pcm, emit)
	}
	for len(pcm) > 0 && chunk > 0 {
		n := min(chunk, len(pcm))
		d.Process(pcm[:n], emit)
		pcm = pcm[n:]
	}
	d.Flush(emit)
	return evs
}
