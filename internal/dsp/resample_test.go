package dsp

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// resamplePairs are the conversions the product uses (8 kHz to and from the
// client rates and the WAV rates) plus a few between other rates.
var resamplePairs = []struct{ in, out int }{
	{8000, 16000}, {16000, 8000},
	{8000, 24000}, {24000, 8000},
	{8000, 48000}, {48000, 8000},
	{8000, 11025}, {11025, 8000},
	{8000, 22050}, {22050, 8000},
	{8000, 44100}, {44100, 8000},
	{16000, 48000}, {48000, 16000},
	{44100, 48000}, {48000, 44100},
}

func pairName(in, out int) string { return fmt.Sprintf("%d-%d", in, out) }

// toneFit is a tone measured in a resampler's steady-state output.
type toneFit struct {
	gainDB  float64 // level of the wanted tone relative to the input tone
	otherDB float64 // level of everything else relative to the input tone
	phase   float64 // phase of the wanted tone at the window start, radians
	start   int     // output index of the window start
}

// measureTone feeds a sine of freq Hz and amplitude amp through a fresh
// resampler and fits a sine of the same frequency to a window of the output
// by least squares; the residual is everything that is not the wanted tone
// (images, aliases, distortion, noise). With fit false, the whole output
// counts as unwanted: the tone should have been removed.
func measureTone(t *testing.T, r *Resampler, freq, amp float64, fit bool) toneFit {
	t.Helper()
	r.Reset()
	const window = 0.1 // seconds of output analysed
	warm := int(math.Ceil(2*r.Latency().Seconds()*float64(r.outRate))) + 8
	nOut := warm + int(window*float64(r.outRate))
	nIn := int(math.Ceil(float64(nOut)*float64(r.inRate)/float64(r.outRate))) + 1
	src := make([]int16, nIn)
	step := 2 * math.Pi * freq / float64(r.inRate)
	for i := range src {
		src[i] = saturate(amp * math.Sin(step*float64(i)))
	}
	dst := make([]int16, r.MaxOutput(nIn))
	n := r.Process(dst, src)
	if n < nOut {
		t.Fatalf("%d Hz: got %d output samples, want at least %d", int(freq), n, nOut)
	}
	y := dst[warm:nOut]
	inPower := amp * amp / 2

	var total float64
	for _, v := range y {
		total += float64(v) * float64(v)
	}
	total /= float64(len(y))
	if !fit {
		return toneFit{gainDB: math.Inf(-1), otherDB: 10 * math.Log10(max(total, 1e-12)/inPower), start: warm}
	}

	// Least squares for y ≈ a·cos(wk) + b·sin(wk) over the window.
	w := 2 * math.Pi * freq / float64(r.outRate)
	var scc, sss, scs, syc, sys float64
	for k, v := range y {
		c, s := math.Cos(w*float64(k)), math.Sin(w*float64(k))
		scc += c * c
		sss += s * s
		scs += c * s
		syc += float64(v) * c
		sys += float64(v) * s
	}
	det := scc*sss - scs*scs
	a := (syc*sss - sys*scs) / det
	b := (sys*scc - syc*scs) / det
	var resid float64
	for k, v := range y {
		e := float64(v) - a*math.Cos(w*float64(k)) - b*math.Sin(w*float64(k))
		resid += e * e
	}
	resid /= float64(len(y))
	wanted := (a*a + b*b) / 2
	return toneFit{
		gainDB:  10 * math.Log10(wanted/inPower),
		otherDB: 10 * math.Log10(max(resid, 1e-12)/inPower),
		phase:   math.Atan2(a, b), // a·cos + b·sin = A·sin(wk + phase)
		start:   warm,
	}
}

// TestResamplerSpecification sweeps tones through every rate pair:
//   - 300 Hz to the passband edge (3400 Hz when a side is 8 kHz): gain
//     within ±0.5 dB, and everything else (images, aliases, noise) at least
//     60 dB below the input tone;
//   - upsampling, every input tone up to just below the input Nyquist
//     frequency: images at least 60 dB down;
//   - downsampling, every tone from the output Nyquist frequency up to the
//     input Nyquist frequency: its aliases at least 60 dB down.
func TestResamplerSpecification(t *testing.T) {
	const (
		flatDB   = 0.5
		rejectDB = -60.0
		level    = 16000.0 // -6 dBFS for passband tones
		loud     = 30000.0 // near full scale for stopband tones
	)
	for _, p := range resamplePairs {
		t.Run(pairName(p.in, p.out), func(t *testing.T) {
			t.Parallel()
			r, err := NewResampler(p.in, p.out)
			if err != nil {
				t.Fatal(err)
			}
			lower := float64(min(p.in, p.out))
			passTop := passEdge * lower
			worstFlat, worstOther := 0.0, math.Inf(-1)

			var passTones []float64
			passStep := max(100, (passTop-300)/40) // 100 Hz steps in the telephone band
			for f := 300.0; f < passTop; f += passStep {
				passTones = append(passTones, f)
			}
			passTones = append(passTones, passTop)
			for _, f := range passTones {
				m := measureTone(t, r, f, level, true)
				if math.Abs(m.gainDB) > flatDB {
					t.Errorf("%.0f Hz: gain %+.3f dB, want within ±%.1f dB", f, m.gainDB, flatDB)
				}
				if m.otherDB > rejectDB {
					t.Errorf("%.0f Hz: images/aliases/noise at %.1f dB, want below %.0f dB", f, m.otherDB, rejectDB)
				}
				worstFlat = max(worstFlat, math.Abs(m.gainDB))
				worstOther = max(worstOther, m.otherDB)
			}

			if p.out > p.in {
				// Images of every input tone, up to the input's Nyquist.
				for f := 100.0; f < float64(p.in)/2-20; f += float64(p.in) / 100 {
					m := measureTone(t, r, f, loud, true)
					if m.otherDB > rejectDB {
						t.Errorf("%.0f Hz: images at %.1f dB, want below %.0f dB", f, m.otherDB, rejectDB)
					}
					worstOther = max(worstOther, m.otherDB)
				}
			} else {
				// Tones the output cannot carry must vanish, not alias.
				nyqIn, nyqOut := float64(p.in)/2, float64(p.out)/2
				tones := []float64{nyqOut, nyqOut + 10, nyqOut + 50}
				for f := nyqOut + 100; f < nyqIn-20; f += (nyqIn - nyqOut) / 100 {
					tones = append(tones, f)
				}
				if p.in == 48000 && p.out == 8000 {
					tones = append(tones, 6000) // aliases to 2 kHz
				}
				for _, f := range tones {
					m := measureTone(t, r, f, loud, false)
					if m.otherDB > rejectDB {
						t.Errorf("%.0f Hz: aliases at %.1f dB, want below %.0f dB", f, m.otherDB, rejectDB)
					}
					worstOther = max(worstOther, m.otherDB)
				}
			}
			t.Logf("%d taps x %d branches, latency %v; passband within ±%.4f dB, worst image/alias/noise %.1f dB",
				r.taps, r.l, r.Latency(), worstFlat, worstOther)
		})
	}
}

// The output phase of a tone must match the input delayed by Latency: the
// filter is linear phase and Latency reports its delay.
func TestResamplerLatency(t *testing.T) {
	for _, p := range resamplePairs {
		t.Run(pairName(p.in, p.out), func(t *testing.T) {
			r, err := NewResampler(p.in, p.out)
			if err != nil {
				t.Fatal(err)
			}
			const f = 1000.0
			m := measureTone(t, r, f, 16000, true)
			// Input sin(2πf·t); output at sample k of the window is at
			// t = (start+k)/out and should be sin(2πf·(t - latency)).
			want := 2 * math.Pi * f * (float64(m.start)/float64(p.out) - r.Latency().Seconds())
			diff := math.Remainder(m.phase-want, 2*math.Pi)
			if errDelay := time.Duration(diff / (2 * math.Pi * f) * float64(time.Second)); errDelay.Abs() > time.Microsecond {
				t.Errorf("output is %v off the reported latency %v", errDelay, r.Latency())
			}
		})
	}
}

func TestResamplerLatencyBound(t *testing.T) {
	for _, p := range resamplePairs {
		r, err := NewResampler(p.in, p.out)
		if err != nil {
			t.Fatal(err)
		}
		if min(p.in, p.out) == 8000 && r.Latency() > 5*time.Millisecond {
			t.Errorf("%s: latency %v, want at most 5ms for telephone audio", pairName(p.in, p.out), r.Latency())
		}
	}
}

// Feeding a stream in random chunks, including empty ones, must give exactly
// the output of one call, with the promised number of samples.
func TestResamplerChunkedEqualsOneShot(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, p := range append(resamplePairs, struct{ in, out int }{8000, 8000}) {
		t.Run(pairName(p.in, p.out), func(t *testing.T) {
			src := make([]int16, p.in/2+777) // over half a second, odd length
			WhiteNoise(src, -10, rng)
			AddTone(src, p.in, 1000, -6, nil)

			one, err := NewResampler(p.in, p.out)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]int16, one.MaxOutput(len(src)))
			nWant := one.Process(want, src)
			want = want[:nWant]
			if total := (len(src)*p.out + p.in - 1) / p.in; nWant != total {
				t.Errorf("one call wrote %d samples, want ceil(%d*%d/%d) = %d", nWant, len(src), p.out, p.in, total)
			}

			chunked, _ := NewResampler(p.in, p.out)
			var got []int16
			buf := make([]int16, chunked.MaxOutput(3000))
			for rest := src; len(rest) > 0; {
				k := min(len(rest), rng.IntN(3000))
				n := chunked.Process(buf[:chunked.MaxOutput(k)], rest[:k])
				if n > chunked.MaxOutput(k) {
					t.Fatalf("chunk of %d wrote %d, more than MaxOutput %d", k, n, chunked.MaxOutput(k))
				}
				got = append(got, buf[:n]...)
				rest = rest[k:]
			}
			if len(got) != len(want) {
				t.Fatalf("chunked output has %d samples, one-shot %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("sample %d: chunked %d, one-shot %d", i, got[i], want[i])
				}
			}

			// After Reset, the same input gives the same output again.
			chunked.Reset()
			again := make([]int16, len(want)+1)
			if n := chunked.Process(again, src); n != nWant || !equalInt16(again[:n], want) {
				t.Errorf("after Reset the output differs from a new Resampler's")
			}
		})
	}
}

func equalInt16(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestResamplerPassThrough(t *testing.T) {
	r, err := NewResampler(8000, 8000)
	if err != nil {
		t.Fatal(err)
	}
	src := make([]int16, 160)
	WhiteNoise(src, -10, rand.New(rand.NewPCG(3, 4)))
	dst := make([]int16, r.MaxOutput(len(src)))
	if n := r.Process(dst, src); n != len(src) || !equalInt16(dst, src) {
		t.Errorf("8000->8000 is not a copy (wrote %d)", n)
	}
	if r.Latency() != 0 {
		t.Errorf("pass-through latency %v, want 0", r.Latency())
	}
}

// A full-scale square wave overshoots in a band-limited filter; the output
// must saturate, not wrap around.
func TestResamplerSaturates(t *testing.T) {
	r, err := NewResampler(8000, 48000)
	if err != nil {
		t.Fatal(err)
	}
	src := make([]int16, 800)
	for i := range src {
		src[i] = math.MaxInt16
		if (i/20)%2 == 1 {
			src[i] = math.MinInt16
		}
	}
	dst := make([]int16, r.MaxOutput(len(src)))
	n := r.Process(dst, src)
	var hitMax, hitMin bool
	for i, v := range dst[100:n] {
		hitMax = hitMax || v == math.MaxInt16
		hitMin = hitMin || v == math.MinInt16
		if i > 0 && math.Abs(float64(v)-float64(dst[100+i-1])) > 20000 {
			t.Fatalf("jump of %d at output %d: wrapped around", int(v)-int(dst[100+i-1]), 100+i)
		}
	}
	if !hitMax || !hitMin {
		t.Errorf("overshoot did not saturate (max reached %v, min reached %v)", hitMax, hitMin)
	}
}

func TestNewResamplerErrors(t *testing.T) {
	tests := []struct {
		name    string
		in, out int
		want    string
	}{
		{"zero input rate", 0, 8000, "sample rate 0 Hz out of range"},
		{"negative output rate", 8000, -8000, "sample rate -8000 Hz out of range"},
		{"rate too high", 8000, 1000000, "sample rate 1000000 Hz out of range"},
		{"ratio too complex", 44100, 48001, "ratio 48001:44100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewResampler(tt.in, tt.out)
			if err == nil {
				t.Fatalf("NewResampler(%d, %d) = %v, want error", tt.in, tt.out, r)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestResamplerShortDestinationPanics(t *testing.T) {
	r, _ := NewResampler(8000, 16000)
	defer func() {
		if recover() == nil {
			t.Error("Process with a short dst did not panic")
		}
	}()
	r.Process(make([]int16, 319), make([]int16, 160))
}

func TestResamplerMaxOutput(t *testing.T) {
	tests := []struct {
		in, out, nIn, want int
	}{
		{8000, 48000, 160, 960},
		{48000, 8000, 960, 160},
		{48000, 8000, 961, 161},
		{8000, 44100, 160, 882},
		{44100, 8000, 882, 160},
		{44100, 8000, 1, 1},
		{8000, 16000, 0, 0},
	}
	for _, tt := range tests {
		r, err := NewResampler(tt.in, tt.out)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.MaxOutput(tt.nIn); got != tt.want {
			t.Errorf("%s: MaxOutput(%d) = %d, want %d", pairName(tt.in, tt.out), tt.nIn, got, tt.want)
		}
	}
}

func TestResamplerZeroAllocs(t *testing.T) {
	for _, p := range resamplePairs {
		r, err := NewResampler(p.in, p.out)
		if err != nil {
			t.Fatal(err)
		}
		src := make([]int16, p.in/50) // 20 ms
		Tone(src, p.in, 1000, -10, nil)
		dst := make([]int16, r.MaxOutput(len(src)))
		if allocs := testing.AllocsPerRun(50, func() { r.Process(dst, src) }); allocs != 0 {
			t.Errorf("%s: Process allocates %v times per 20 ms frame", pairName(p.in, p.out), allocs)
		}
	}
}

func BenchmarkResampler(b *testing.B) {
	pairs := []struct{ in, out int }{
		{8000, 16000}, {16000, 8000},
		{8000, 24000}, {24000, 8000},
		{8000, 48000}, {48000, 8000},
		{8000, 44100}, {44100, 8000},
	}
	for _, p := range pairs {
		b.Run(pairName(p.in, p.out)+"/20ms", func(b *testing.B) {
			r, err := NewResampler(p.in, p.out)
			if err != nil {
				b.Fatal(err)
			}
			src := make([]int16, p.in/50)
			Tone(src, p.in, 1000, -10, nil)
			dst := make([]int16, r.MaxOutput(len(src)))
			b.ReportAllocs()
			b.SetBytes(int64(len(src) * 2))
			for b.Loop() {
				r.Process(dst, src)
			}
		})
	}
}

func TestResampleClip(t *testing.T) {
	for _, p := range append(resamplePairs, struct{ in, out int }{8000, 8000}) {
		t.Run(pairName(p.in, p.out), func(t *testing.T) {
			const f = 500.0
			src := make([]int16, p.in/10+3) // 100 ms and a bit
			phase := math.Pi / 2            // a cosine: a delay shows at once
			Tone(src, p.in, f, -6, &phase)
			out, err := Resample(src, p.in, p.out)
			if err != nil {
				t.Fatal(err)
			}
			if want := (len(src)*p.out + p.in - 1) / p.in; len(out) != want {
				t.Fatalf("got %d samples, want %d", len(out), want)
			}
			// The middle of the clip must be the same cosine, not delayed:
			// fit it and compare the phase at output sample 0.
			mid := out[len(out)/4 : 3*len(out)/4]
			w := 2 * math.Pi * f / float64(p.out)
			var scc, sss, scs, syc, sys float64
			for k, v := range mid {
				x := w * float64(k+len(out)/4)
				c, s := math.Cos(x), math.Sin(x)
				scc, sss, scs = scc+c*c, sss+s*s, scs+c*s
				syc, sys = syc+float64(v)*c, sys+float64(v)*s
			}
			det := scc*sss - scs*scs
			a := (syc*sss - sys*scs) / det
			b := (sys*scc - syc*scs) / det
			offset := math.Atan2(-b, a) / w // output samples of delay
			if math.Abs(offset) > 0.01 {
				t.Errorf("output is %.2f output samples off the input", offset)
			}
			// The tail is there: the last 10 ms are not silent.
			if rms, _ := Level(out[len(out)-p.out/100:]); rms < -12 {
				t.Errorf("tail level %.1f dBFS: the clip end was cut", rms)
			}
		})
	}
	if _, err := Resample(nil, 8000, 7); err == nil {
		t.Error("Resample to 7 Hz succeeded")
	}
	if out, err := Resample(nil, 8000, 16000); err != nil || len(out) != 0 {
		t.Errorf("Resample(nil) = %v, %v", out, err)
	}
}
