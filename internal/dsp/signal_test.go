package dsp

import (
	"math"
	"math/rand/v2"
	"testing"
)

// fitSine returns the amplitude of the freq Hz component of s by least
// squares, and the RMS of what remains.
func fitSine(s []int16, rate int, freq float64) (amp, residRMS float64) {
	w := 2 * math.Pi * freq / float64(rate)
	var scc, sss, scs, syc, sys float64
	for k, v := range s {
		c, sn := math.Cos(w*float64(k)), math.Sin(w*float64(k))
		scc += c * c
		sss += sn * sn
		scs += c * sn
		syc += float64(v) * c
		sys += float64(v) * sn
	}
	det := scc*sss - scs*scs
	a := (syc*sss - sys*scs) / det
	b := (sys*scc - syc*scs) / det
	var r float64
	for k, v := range s {
		e := float64(v) - a*math.Cos(w*float64(k)) - b*math.Sin(w*float64(k))
		r += e * e
	}
	return math.Hypot(a, b), math.Sqrt(r / float64(len(s)))
}

func TestToneFrequencyAndLevel(t *testing.T) {
	tests := []struct {
		name string
		rate int
		freq float64
		dBm0 float64
	}{
		{"1004 Hz test tone", 8000, 1004, -10},
		{"DTMF 941 Hz", 8000, 941, -7},
		{"DTMF 1633 Hz at 48 kHz", 48000, 1633, -20},
		{"dial tone 350 Hz", 8000, 350, -13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := make([]int16, tt.rate/10)
			Tone(s, tt.rate, tt.freq, tt.dBm0, nil)
			amp, resid := fitSine(s, tt.rate, tt.freq)
			if want := SineAmplitude(tt.dBm0); math.Abs(amp-want) > 0.5 {
				t.Errorf("amplitude %.2f, want %.2f", amp, want)
			}
			if resid > 0.35 { // rounding to integers only: 1/sqrt(12)
				t.Errorf("residual RMS %.3f: not a pure tone at %.0f Hz", resid, tt.freq)
			}
		})
	}
}

// Generating a tone frame by frame with a phase variable gives the same
// waveform as one long call.
func TestTonePhaseContinuity(t *testing.T) {
	whole := make([]int16, 1600)
	Tone(whole, 8000, 1209, -5, nil)
	framed := make([]int16, 1600)
	var phase float64
	for i := 0; i < len(framed); i += 160 {
		Tone(framed[i:i+160], 8000, 1209, -5, &phase)
	}
	for i := range whole {
		if d := int(whole[i]) - int(framed[i]); d > 1 || d < -1 {
			t.Fatalf("sample %d: framed %d, whole %d", i, framed[i], whole[i])
		}
	}
	if phase < 0 || phase >= 2*math.Pi {
		t.Errorf("phase %v not wrapped to [0, 2π)", phase)
	}

	// Same for a dual tone.
	DualTone(whole, 8000, 852, -8, 1477, -6, nil, nil)
	var p1, p2 float64
	for i := 0; i < len(framed); i += 160 {
		DualTone(framed[i:i+160], 8000, 852, -8, 1477, -6, &p1, &p2)
	}
	for i := range whole {
		if d := int(whole[i]) - int(framed[i]); d > 1 || d < -1 {
			t.Fatalf("dual tone sample %d: framed %d, whole %d", i, framed[i], whole[i])
		}
	}
}

func TestDualToneComponents(t *testing.T) {
	s := make([]int16, 8000) // whole cycles of both: the fits do not leak
	DualTone(s, 8000, 697, -10, 1209, -8, nil, nil)
	for _, c := range []struct{ f, dBm0 float64 }{{697, -10}, {1209, -8}} {
		amp, _ := fitSine(s, 8000, c.f)
		if want := SineAmplitude(c.dBm0); math.Abs(amp-want) > 2 {
			t.Errorf("%.0f Hz amplitude %.1f, want %.1f", c.f, amp, want)
		}
	}
}

func TestAddToneSaturates(t *testing.T) {
	s := make([]int16, 80)
	for i := range s {
		s[i] = 30000
	}
	AddTone(s, 8000, 1000, 0, nil)
	for i, v := range s {
		if v < 0 {
			t.Fatalf("sample %d wrapped to %d", i, v)
		}
	}
	if _, peak := Level(s); peak < -0.001 {
		t.Errorf("peak %.3f dBFS: expected clipping at full scale", peak)
	}
}

func TestWhiteNoise(t *testing.T) {
	a := make([]int16, 8000)
	b := make([]int16, 8000)
	WhiteNoise(a, -15, rand.New(rand.NewPCG(42, 0)))
	WhiteNoise(b, -15, rand.New(rand.NewPCG(42, 0)))
	if !equalInt16(a, b) {
		t.Error("same seed gave different noise")
	}
	// White: neighbouring samples are uncorrelated.
	var r0, r1 float64
	for i := range a {
		r0 += float64(a[i]) * float64(a[i])
		if i > 0 {
			r1 += float64(a[i]) * float64(a[i-1])
		}
	}
	if rho := r1 / r0; math.Abs(rho) > 0.05 {
		t.Errorf("lag-1 correlation %.3f, want about 0", rho)
	}
	AddWhiteNoise(a, -15, rand.New(rand.NewPCG(1, 0)))
	if got := LevelDBm0(a); math.Abs(got-(-15+10*math.Log10(2))) > 0.2 {
		t.Errorf("two uncorrelated -15 dBm0 noises sum to %.2f dBm0, want -11.99", got)
	}
}

func TestMix(t *testing.T) {
	tests := []struct {
		name     string
		dst, src []int16
		want     []int16
		n        int
	}{
		{"adds", []int16{1, -2, 3}, []int16{10, 20, 30}, []int16{11, 18, 33}, 3},
		{"saturates high", []int16{30000}, []int16{10000}, []int16{32767}, 1},
		{"saturates low", []int16{-30000}, []int16{-10000}, []int16{-32768}, 1},
		{"short src", []int16{1, 1, 1}, []int16{1}, []int16{2, 1, 1}, 1},
		{"short dst", []int16{1}, []int16{1, 1}, []int16{2}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := Mix(tt.dst, tt.src); n != tt.n {
				t.Errorf("Mix returned %d, want %d", n, tt.n)
			}
			if !equalInt16(tt.dst, tt.want) {
				t.Errorf("got %v, want %v", tt.dst, tt.want)
			}
		})
	}
}

func TestGain(t *testing.T) {
	tests := []struct {
		name string
		in   []int16
		dB   float64
		want []int16
	}{
		{"unity", []int16{100, -100}, 0, []int16{100, -100}},
		{"-6.02 dB halves", []int16{1000, -1000, 4}, -6.0206, []int16{500, -500, 2}},
		{"+20 dB", []int16{100, -100}, 20, []int16{1000, -1000}},
		{"saturates", []int16{20000, -20000}, 6.0206, []int16{32767, -32768}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := append([]int16(nil), tt.in...)
			Gain(s, tt.dB)
			if !equalInt16(s, tt.want) {
				t.Errorf("got %v, want %v", s, tt.want)
			}
		})
	}
}

func TestMixZeroAllocs(t *testing.T) {
	a, b := make([]int16, 160), make([]int16, 160)
	if allocs := testing.AllocsPerRun(100, func() { Mix(a, b) }); allocs != 0 {
		t.Errorf("Mix allocates %v times per frame", allocs)
	}
}
