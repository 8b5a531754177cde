package dsp

import (
	"math"
	"math/rand/v2"
)

// Test-signal generators. They write quantised, saturated samples and keep
// oscillator phase in the caller's variable, so a signal can be generated
// frame by frame without discontinuities. Levels are in dBm0 (see [Level]).

// Tone writes a sine of freq Hz at the level dBm0, sampled at rate, into
// dst. phase is the starting phase in radians and is advanced so the next
// call continues the waveform; a nil phase starts at 0 and is not reported.
func Tone(dst []int16, rate int, freq, dBm0 float64, phase *float64) {
	clear(dst)
	AddTone(dst, rate, freq, dBm0, phase)
}

// AddTone adds a sine of freq Hz at the level dBm0 to dst, saturating at the
// int16 limits. phase is as for [Tone].
func AddTone(dst []int16, rate int, freq, dBm0 float64, phase *float64) {
	var p float64
	if phase != nil {
		p = *phase
	}
	amp := SineAmplitude(dBm0)
	step := 2 * math.Pi * freq / float64(rate)
	for i := range dst {
		dst[i] = saturate(float64(dst[i]) + amp*math.Sin(p+step*float64(i)))
	}
	if phase != nil {
		*phase = math.Mod(p+step*float64(len(dst)), 2*math.Pi)
	}
}

// DualTone writes the sum of two sines into dst: f1 Hz at level1 dBm0 and f2
// Hz at level2 dBm0 (a DTMF digit is a low-group and a high-group tone).
// phase1 and phase2 are as for [Tone]; the sum is quantised once.
func DualTone(dst []int16, rate int, f1, level1, f2, level2 float64, phase1, phase2 *float64) {
	var p1, p2 float64
	if phase1 != nil {
		p1 = *phase1
	}
	if phase2 != nil {
		p2 = *phase2
	}
	a1, a2 := SineAmplitude(level1), SineAmplitude(level2)
	s1 := 2 * math.Pi * f1 / float64(rate)
	s2 := 2 * math.Pi * f2 / float64(rate)
	for i := range dst {
		x := float64(i)
		dst[i] = saturate(a1*math.Sin(p1+s1*x) + a2*math.Sin(p2+s2*x))
	}
	n := float64(len(dst))
	if phase1 != nil {
		*phase1 = math.Mod(p1+s1*n, 2*math.Pi)
	}
	if phase2 != nil {
		*phase2 = math.Mod(p2+s2*n, 2*math.Pi)
	}
}

// WhiteNoise writes Gaussian white noise with an RMS level of dBm0 into dst,
// drawing from rng (for example rand.New(rand.NewPCG(seed, 0)) for a
// repeatable signal). Peaks beyond the int16 range are clipped.
func WhiteNoise(dst []int16, dBm0 float64, rng *rand.Rand) {
	clear(dst)
	AddWhiteNoise(dst, dBm0, rng)
}

// AddWhiteNoise adds Gaussian white noise with an RMS level of dBm0 to dst,
// saturating at the int16 limits. rng is as for [WhiteNoise].
func AddWhiteNoise(dst []int16, dBm0 float64, rng *rand.Rand) {
	sigma := RMSAmplitude(dBm0)
	for i := range dst {
		dst[i] = saturate(float64(dst[i]) + sigma*rng.NormFloat64())
	}
}

// Mix adds src to dst sample by sample, saturating at the int16 limits, and
// returns the number of samples mixed, min(len(dst), len(src)). It does not
// allocate.
func Mix(dst, src []int16) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, s := range src {
		v := int32(dst[i]) + int32(s)
		dst[i] = int16(min(max(v, math.MinInt16), math.MaxInt16))
	}
	return n
}

// Gain scales samples in place by dB decibels, rounding to nearest and
// saturating at the int16 limits. It does not allocate.
func Gain(samples []int16, dB float64) {
	g := math.Pow(10, dB/20)
	for i, s := range samples {
		samples[i] = saturate(float64(s) * g)
	}
}

// saturate rounds x to the nearest int16, clipping at the limits.
func saturate(x float64) int16 {
	switch {
	case x >= math.MaxInt16:
		return math.MaxInt16
	case x <= math.MinInt16:
		return math.MinInt16
	case x < 0:
		return int16(x - 0.5)
	default:
		return int16(x + 0.5)
	}
}
