package audiotest

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sip-phone-api/sipphone/internal/dsp"
)

// g711 passes pcm through an encode and decode in the codec.
func g711(pcm []int16, alaw bool) []int16 {
	b := make([]byte, len(pcm))
	out := make([]int16, len(pcm))
	if alaw {
		dsp.EncodeAlaw(b, pcm)
		dsp.DecodeAlaw(out, b)
	} else {
		dsp.EncodeUlaw(b, pcm)
		dsp.DecodeUlaw(out, b)
	}
	return out
}

// withSilence returns ms of silence, pcm, then ms of silence.
func withSilence(rate, ms int, pcm []int16) []int16 {
	pad := make([]int16, rate*ms/1000)
	out := append(append(append([]int16{}, pad...), pcm...), pad...)
	return out
}

func TestAnalyseTone(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	noisy := tone(8000, 1004, -10, toneMS)
	dsp.AddWhiteNoise(noisy, -30, rng) // 20 dB below the tone
	upsampled, err := dsp.Resample(g711(tone(8000, 1004, -10, toneMS), false), 8000, 16000)
	if err != nil {
		t.Fatal(err)
	}
	quiet := tone(8000, 1004, -10, toneMS)
	dsp.Gain(quiet, -3)
	// A frame of silence in the middle, the rest played 20 ms late: what
	// a queue that runs dry does.
	gap := tone(8000, 1004, -10, toneMS)
	gap = append(append(append([]int16{}, gap[:1600]...), make([]int16, 160)...), gap[1600:]...)
	cases := []struct {
		name       string
		rate       int
		x          []int16
		received   bool
		snrMin     float64
		snrMax     float64
		levelDBm0  float64 // expected, ±0.1 dB
		wantErrSub string
		dropouts   int
	}{
		{"mu-law at -10 dBm0", 8000, withSilence(8000, 100, g711(tone(8000, 1004, -10, toneMS), false)), true, 37, 40, -10, "", 0},
		{"A-law at -10 dBm0", 8000, withSilence(8000, 100, g711(tone(8000, 1004, -10, toneMS), true)), true, 36, 40, -10, "", 0},
		{"mu-law upsampled to 16 kHz", 16000, withSilence(16000, 100, upsampled), true, 37, 41, -10, "", 0},
		{"linear: only rounding", 8000, withSilence(8000, 100, tone(8000, 1004, -10, toneMS)), true, 60, 120, -10, "", 0},
		{"noise 20 dB down", 8000, withSilence(8000, 100, noisy), true, 19, 21, -9.96, "", 0},
		{"3 dB too quiet", 8000, withSilence(8000, 100, quiet), true, 37, 120, -13, "", 0},
		{"a 20 ms gap", 8000, withSilence(8000, 100, gap), true, 5, 15, -10.3, "", 1},
		{"silence", 8000, make([]int16, 8000), false, 0, 0, 0, "no tone arrived", 0},
		{"cut short", 8000, withSilence(8000, 100, tone(8000, 1004, -10, 200))[:8000*350/1000], false, 0, 0, 0, "cut short", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := analyseTone(tc.x, 0, tc.rate, 1004, -10)
			if r.Received != tc.received {
				t.Fatalf("received = %v (%+v), want %v", r.Received, r, tc.received)
			}
			if !tc.received {
				if r.Error == "" || !contains(r.Error, tc.wantErrSub) {
					t.Errorf("error %q, want it to say %q", r.Error, tc.wantErrSub)
				}
				return
			}
			if r.SNRdB < tc.snrMin || r.SNRdB > tc.snrMax {
				t.Errorf("SNR %.2f dB, want %v to %v", r.SNRdB, tc.snrMin, tc.snrMax)
			}
			if math.Abs(r.LevelDBm0-tc.levelDBm0) > 0.1 {
				t.Errorf("level %.2f dBm0, want %.2f", r.LevelDBm0, tc.levelDBm0)
			}
			tol := 0.2
			if tc.dropouts > 0 {
				tol = 1 // the phase jump at the gap moves the peak a little
			}
			if math.Abs(r.FrequencyHz-1004) > tol {
				t.Errorf("frequency %.2f Hz, want 1004", r.FrequencyHz)
			}
			if r.AnalysedMS != toneAnalyseMS {
				t.Errorf("analysed %d ms", r.AnalysedMS)
			}
			if r.Dropouts != tc.dropouts || (tc.dropouts > 0) != (r.DropoutMS >= 19 && r.DropoutMS <= 21) {
				t.Errorf("%d dropouts, %.1f ms; want %d", r.Dropouts, r.DropoutMS, tc.dropouts)
			}
		})
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// TestSineSNRFrequencyOffset: a tone slightly off the fitted frequency
// loses SNR, which is why the fit uses the measured frequency.
func TestSineSNRFrequencyOffset(t *testing.T) {
	x := tone(8000, 1004.5, -10, toneAnalyseMS)
	exact := sineSNR(x, 8000, 1004.5)
	off := sineSNR(x, 8000, 1004)
	if exact < 60 || off > 30 {
		t.Errorf("SNR at the right frequency %.1f dB, 0.5 Hz off %.1f dB; want > 60 and < 30", exact, off)
	}
}

func TestOnsets(t *testing.T) {
	const rate = 8000
	var x []int16
	want := []int{}
	for i := range 3 {
		x = append(x, make([]int16, 1000+100*i)...)
		want = append(want, len(x))
		x = append(x, burst(rate)...)
	}
	x = append(x, make([]int16, 500)...)
	g := g711(x, false)
	up, err := dsp.Resample(g, rate, 16000)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		x    []int16
		rate int
		from int
		max  int
		want []int
		tol  int
	}{
		{"three markers", g, rate, 0, 3, want, 0},
		{"from after the first", g, rate, want[0] + rate*burstMS/1000 + 10, 3, want[1:], 0},
		{"at most two", g, rate, 0, 2, want[:2], 0},
		// The resampler's filter leaves the marker's first sample within a
		// sample of where it was, without pre-echo above the threshold.
		{"upsampled", up, 16000, 0, 3, []int{2 * want[0], 2 * want[1], 2 * want[2]}, 1},
		{"silence", make([]int16, 4000), rate, 0, 3, nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := onsets(tc.x, tc.from, threshold(burstDBm0), tc.rate*2*burstMS/1000, tc.max)
			if len(got) != len(tc.want) {
				t.Fatalf("onsets %v, want %v", got, tc.want)
			}
			for i := range got {
				if d := got[i] - tc.want[i]; d < -tc.tol || d > tc.tol {
					t.Errorf("onset %d at %d, want %d ±%d", i, got[i], tc.want[i], tc.tol)
				}
			}
		})
	}
}

func TestLatencies(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n float64) time.Time { return t0.Add(time.Duration(n * float64(time.Millisecond))) }
	// Marker i arrives at sample 1000*i, which arrived at 1000+i*250+lat_i ms.
	lat := []float64{12, 30, 18}
	arrivedAt := func(i int) (time.Time, bool) {
		k := i / 1000
		if k >= len(lat) {
			return time.Time{}, false
		}
		return ms(1000 + float64(k)*250 + lat[k]), true
	}
	sent := []time.Time{ms(1000), ms(1250), ms(1500)}
	cases := []struct {
		name    string
		found   []int
		sent    []time.Time
		wantMS  []float64
		sentN   int
		median  float64
		wantErr bool
	}{
		{"all found", []int{0, 1000, 2000}, sent, []float64{12, 30, 18}, 3, 18, false},
		{"one missing", []int{0, 1000}, sent, []float64{12, 30}, 3, 21, true},
		{"untimed marker skipped", []int{0, 1000, 2000}, []time.Time{ms(1000), {}, ms(1500)}, []float64{12, 18}, 2, 15, false},
		{"none", nil, sent, nil, 3, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := latencies(tc.found, tc.sent, arrivedAt)
			if len(r.MS) != len(tc.wantMS) || r.Sent != tc.sentN || r.Found != len(tc.wantMS) || r.MedianMS != tc.median || (r.Error != "") != tc.wantErr {
				t.Fatalf("got %+v, want ms %v, sent %d, median %v, error %v", r, tc.wantMS, tc.sentN, tc.median, tc.wantErr)
			}
			for i := range r.MS {
				if r.MS[i] != tc.wantMS[i] {
					t.Errorf("ms[%d] = %v, want %v", i, r.MS[i], tc.wantMS[i])
				}
			}
		})
	}
}

func BenchmarkAnalyseTone(b *testing.B) {
	x := withSilence(16000, 100, g711(tone(16000, 1004, -10, toneMS), false))
	b.ReportAllocs()
	for b.Loop() {
		analyseTone(x, 0, 16000, 1004, -10)
	}
}
