package dsp

import "math"

// GoertzelPower returns the power of the component of samples at freq Hz
// (the squared magnitude of one DFT bin computed by the Goertzel
// recurrence), normalised so that a full-scale sine gives about 0.25.
func GoertzelPower(samples []int16, rate int, freq float64) float64 {
	if len(samples) == 0 {
		return 0
	}
	w := 2 * math.Pi * freq / float64(rate)
	coeff := 2 * math.Cos(w)
	var s1, s2 float64
	for _, x := range samples {
		s0 := float64(x)/32768 + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	p := s1*s1 + s2*s2 - coeff*s1*s2
	n := float64(len(samples))
	return p / (n * n)
}

// DominantFrequency returns the frequency between lo and hi (in steps of
// step Hz) with the most power in samples. It is meant for tests and tools
// that check which tone a signal carries.
func DominantFrequency(samples []int16, rate int, lo, hi, step float64) float64 {
	best, bestP := lo, -1.0
	for f := lo; f <= hi; f += step {
		if p := GoertzelPower(samples, rate, f); p > bestP {
			best, bestP = f, p
		}
	}
	return best
}
