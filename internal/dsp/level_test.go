package dsp

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestLevel(t *testing.T) {
	sine := func(amp float64) []int16 {
		s := make([]int16, 8000)
		for i := range s {
			s[i] = saturate(amp * math.Cos(2*math.Pi*1000*float64(i)/8000)) // sampled at its peaks
		}
		return s
	}
	fill := func(n int, v int16) []int16 {
		s := make([]int16, n)
		for i := range s {
			s[i] = v
		}
		return s
	}
	tests := []struct {
		name          string
		samples       []int16
		wantRMS       float64
		wantPeak      float64
		tolRMS, tolPk float64
	}{
		{"empty", nil, LevelFloor, LevelFloor, 0, 0},
		{"silence", make([]int16, 160), LevelFloor, LevelFloor, 0, 0},
		{"full-scale sine", sine(32767), 0, 0, 0.01, 0.01},
		{"-20 dBFS sine", sine(3276.8), -20, -20, 0.01, 0.01},
		{"full-scale square", func() []int16 {
			s := fill(160, math.MaxInt16)
			for i := 0; i < len(s); i += 2 {
				s[i] = math.MinInt16
			}
			return s
		}(), 3.01, 0, 0.01, 0.0001},
		{"one LSB DC", fill(160, 1), 20 * math.Log10(math.Sqrt2/32768), 20 * math.Log10(1.0/32768), 0.001, 0.001},
		{"below the floor", append(make([]int16, 1<<22), 1), LevelFloor, 20 * math.Log10(1.0/32768), 0, 0.001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rms, peak := Level(tt.samples)
			if math.Abs(rms-tt.wantRMS) > tt.tolRMS {
				t.Errorf("RMS %.4f dBFS, want %.4f", rms, tt.wantRMS)
			}
			if math.Abs(peak-tt.wantPeak) > tt.tolPk {
				t.Errorf("peak %.4f dBFS, want %.4f", peak, tt.wantPeak)
			}
		})
	}
}

// The G.711 digital milliwatt (table 5 for mu-law, table 6 for A-law) is
// the reference 0 dBm0 signal.
func TestDigitalMilliwattIsZeroDBm0(t *testing.T) {
	tests := []struct {
		name   string
		codes  []byte
		decode func([]int16, []byte) int
	}{
		{"ulaw", []byte{0x1E, 0x0B, 0x0B, 0x1E, 0x9E, 0x8B, 0x8B, 0x9E}, DecodeUlaw},
		{"alaw", []byte{0x34, 0x21, 0x21, 0x34, 0xB4, 0xA1, 0xA1, 0xB4}, DecodeAlaw},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pcm := make([]int16, len(tt.codes))
			tt.decode(pcm, tt.codes)
			if got := LevelDBm0(pcm); math.Abs(got) > 0.05 {
				t.Errorf("digital milliwatt reads %.3f dBm0, want 0", got)
			}
		})
	}
}

func TestDBm0Conversions(t *testing.T) {
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"full-scale sine amplitude", SineAmplitude(FullScaleSineDBm0), 32768},
		{"0 dBm0 sine amplitude", SineAmplitude(0), 32768 * math.Pow(10, -3.17/20)},
		{"0 dBm0 RMS", RMSAmplitude(0), 32768 * math.Pow(10, -3.17/20) / math.Sqrt2},
		{"dBFS to dBm0", DBFSToDBm0(-10), -6.83},
		{"dBm0 to dBFS", DBm0ToDBFS(-10), -13.17},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if math.Abs(tt.got-tt.want) > 1e-9*math.Max(1, math.Abs(tt.want)) {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func TestLevelDBm0OfGeneratedSignals(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	tests := []struct {
		name string
		gen  func([]int16)
		want float64
		tol  float64
	}{
		{"tone at 0 dBm0", func(s []int16) { Tone(s, 8000, 1004, 0, nil) }, 0, 0.01},
		{"tone at -30 dBm0", func(s []int16) { Tone(s, 8000, 697, -30, nil) }, -30, 0.02},
		{"noise at -20 dBm0", func(s []int16) { WhiteNoise(s, -20, rng) }, -20, 0.1},
		{"dual tone at -10 and -8 dBm0", func(s []int16) { DualTone(s, 8000, 770, -10, 1336, -8, nil, nil) },
			10 * math.Log10(math.Pow(10, -1)+math.Pow(10, -0.8)), 0.02},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := make([]int16, 8000)
			tt.gen(s)
			if got := LevelDBm0(s); math.Abs(got-tt.want) > tt.tol {
				t.Errorf("level %.3f dBm0, want %.3f", got, tt.want)
			}
		})
	}
}

func TestLevelZeroAllocs(t *testing.T) {
	s := make([]int16, 160)
	Tone(s, 8000, 1000, -10, nil)
	if allocs := testing.AllocsPerRun(100, func() { Level(s) }); allocs != 0 {
		t.Errorf("Level allocates %v times per frame", allocs)
	}
}

func BenchmarkLevel(b *testing.B) {
	s := make([]int16, 160)
	Tone(s, 8000, 1000, -10, nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(s) * 2))
	for b.Loop() {
		Level(s)
	}
}
