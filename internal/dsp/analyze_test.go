package dsp

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestDominantFrequency(t *testing.T) {
	for _, rate := range []int{8000, 16000, 48000} {
		for _, f := range []float64{300, 440, 1000, 3400} {
			s := make([]int16, rate/2)
			Tone(s, rate, f, -10, nil)
			AddWhiteNoise(s, -30, rand.New(rand.NewPCG(1, 2)))
			if got := DominantFrequency(s, rate, 100, 3800, 10); math.Abs(got-f) > 10 {
				t.Errorf("rate %d tone %v: dominant %v", rate, f, got)
			}
		}
	}
	full := make([]int16, 8000)
	Tone(full, 8000, 1000, FullScaleSineDBm0, nil)
	if p := GoertzelPower(full, 8000, 1000); math.Abs(p-0.25) > 0.01 {
		t.Fatalf("full-scale power %v, want 0.25", p)
	}
}
