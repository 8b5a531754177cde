package dsp

import (
	"fmt"
	"math"
	"time"
)

// MinSampleRate and MaxSampleRate bound the rates a Resampler accepts.
const (
	MinSampleRate = 1000
	MaxSampleRate = 384000
)

// Resampler design targets. The band edges are fractions of the lower of the
// two rates, so 8 kHz audio keeps 0-3400 Hz (the telephone band) and
// everything from 4000 Hz up (what would alias or image into the band) is
// stopped.
const (
	// passEdge is the end of the flat passband as a fraction of the lower rate.
	passEdge = 0.425
	// stopEdge is the start of the stopband as a fraction of the lower rate:
	// its Nyquist frequency.
	stopEdge = 0.5
	// stopbandDB is the designed stopband attenuation; the Kaiser window's
	// passband ripple for the same design is below 0.002 dB.
	stopbandDB = 80.0

	// maxCoeffs bounds the filter table (4 bytes each). Ratios of large
	// coprime rates, such as 44100:48001, need more and are refused.
	maxCoeffs = 1 << 20
	// blockLen is how many input samples Process converts per step; it
	// sizes the internal buffer, not the callers' chunks.
	blockLen = 1024
)

// Resampler converts a stream of samples from one rate to another with a
// polyphase windowed-sinc FIR filter (Kaiser window), designed when the
// Resampler is made. For rates L/M in lowest terms it evaluates, for each
// output sample, one of L branches of a low-pass filter running at L times
// the input rate, so it handles any rational ratio: 8000 to and from 16000,
// 24000 and 48000 (the common cases), and 11025, 22050 or 44100 from WAV
// files.
//
// Up to 0.425 times the lower rate (3400 Hz when one side is 8 kHz) the gain
// is flat to within a few thousandths of a dB; from half the lower rate up
// the filter attenuates by about 80 dB, so neither aliases (downsampling)
// nor images (upsampling) reach the telephone band. The tests hold it to
// ±0.5 dB from 300 Hz and 60 dB of rejection for every supported pair.
// The filter is linear phase: every frequency is delayed by [Resampler.Latency].
//
// A Resampler keeps the last input samples between calls, so a stream may be
// fed in chunks of any size and the output equals that of a single call.
// It is not safe for concurrent use; give each stream its own.
type Resampler struct {
	inRate, outRate int
	l, m            int // output/input rate ratio l/m in lowest terms
	mWhole, mFrac   int // m = mWhole*l + mFrac: input samples stepped per output

	taps     int       // filter taps per branch, a multiple of 4
	coeffs   []float32 // branch p is coeffs[p*taps:(p+1)*taps], time-reversed
	delay    time.Duration
	delayOut int // delay in output samples

	// buf holds taps-1 samples of history, then the current block.
	buf []float32
	// next is the buf index of the newest input sample the next output
	// needs, and phase its filter branch in [0, l).
	next, phase int
}

// NewResampler returns a Resampler from inRate to outRate samples per
// second. Both rates must lie in [MinSampleRate, MaxSampleRate], and their
// ratio must be simple enough for the filter table (every ratio between the
// usual audio rates is). Equal rates give a pass-through that copies.
func NewResampler(inRate, outRate int) (*Resampler, error) {
	for _, rate := range []int{inRate, outRate} {
		if rate < MinSampleRate || rate > MaxSampleRate {
			return nil, fmt.Errorf("dsp: sample rate %d Hz out of range [%d, %d]", rate, MinSampleRate, MaxSampleRate)
		}
	}
	g := gcd(inRate, outRate)
	r := &Resampler{inRate: inRate, outRate: outRate, l: outRate / g, m: inRate / g}
	r.mWhole, r.mFrac = r.m/r.l, r.m%r.l
	if r.l == r.m {
		return r, nil
	}

	// Kaiser's formulas for the window length and shape meeting the
	// attenuation over the transition band, at the filter's rate l*inRate.
	lower := float64(min(inRate, outRate))
	pass, stop := passEdge*lower, stopEdge*lower
	filterRate := float64(r.l) * float64(inRate)
	width := 2 * math.Pi * (stop - pass) / filterRate // radians per sample
	length := int(math.Ceil((stopbandDB-7.95)/(2.285*width))) + 1
	// An odd length whose half is a multiple of m centres the filter on an
	// output sample: the delay is a whole number of output samples.
	half := ((length-1)/2 + r.m - 1) / r.m * r.m
	taps := ((2*half+1+r.l-1)/r.l + 3) &^ 3
	if int64(taps)*int64(r.l) > maxCoeffs {
		return nil, fmt.Errorf("dsp: cannot resample %d Hz to %d Hz: ratio %d:%d needs a filter of %d taps (limit %d)",
			inRate, outRate, r.l, r.m, int64(taps)*int64(r.l), maxCoeffs)
	}
	r.taps = taps
	r.coeffs = designLowPass(taps, r.l, half, (pass+stop)/2/filterRate)
	r.delayOut = half / r.m
	r.delay = time.Duration(float64(half) / filterRate * float64(time.Second))
	r.buf = make([]float32, taps-1+blockLen)
	r.Reset()
	return r, nil
}

// designLowPass returns the l branches of a Kaiser-windowed sinc low-pass
// with cutoff fc (cycles per sample at the filter rate), 2*half+1 taps long
// and zero-padded to taps*l, each branch time-reversed and scaled to a DC
// gain of exactly 1 so that every output phase passes DC alike.
func designLowPass(taps, l, half int, fc float64) []float32 {
	n := taps * l
	beta := 0.1102 * (stopbandDB - 8.7)
	i0Beta := besselI0(beta)
	proto := make([]float64, n)
	for i := range 2*half + 1 {
		t := float64(i - half)
		x := t / float64(half) // -1..1 across the window
		w := besselI0(beta*math.Sqrt(max(0, 1-x*x))) / i0Beta
		proto[i] = 2 * fc * sinc(2*fc*t) * w
	}
	coeffs := make([]float32, n)
	for p := range l {
		var sum float64
		for k := range taps {
			sum += proto[p+k*l]
		}
		branch := coeffs[p*taps : (p+1)*taps]
		for k := range taps {
			branch[taps-1-k] = float32(proto[p+k*l] / sum)
		}
	}
	return coeffs
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// besselI0 is the modified Bessel function of the first kind, order 0, by its
// power series (converges quickly for the window's arguments, below 10).
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	q := x * x / 4
	for k := 1.0; term > sum*1e-17; k++ {
		term *= q / (k * k)
		sum += term
	}
	return sum
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// InRate returns the input sample rate in Hz.
func (r *Resampler) InRate() int { return r.inRate }

// OutRate returns the output sample rate in Hz.
func (r *Resampler) OutRate() int { return r.outRate }

// Latency returns the filter's group delay: a feature at input time t appears
// in the output at t+Latency. It is a whole number of output samples, about
// 4.2 ms for every 8 kHz pair, and 0 for a pass-through.
func (r *Resampler) Latency() time.Duration { return r.delay }

// MaxOutput returns the most samples Process can write for nIn input samples:
// ceil(nIn*outRate/inRate). Over a stream, the total written for N input
// samples is exactly ceil(N*outRate/inRate).
func (r *Resampler) MaxOutput(nIn int) int {
	return (nIn*r.l + r.m - 1) / r.m
}

// Reset forgets the stream history, as if the Resampler were new.
func (r *Resampler) Reset() {
	clear(r.buf)
	r.next = r.taps - 1
	r.phase = 0
}

// Process resamples src, continuing the stream of previous calls, writes the
// output to dst and returns the number of samples written. dst must hold at
// least MaxOutput(len(src)) samples; Process panics otherwise, as it would
// have to drop audio. It does not allocate.
func (r *Resampler) Process(dst, src []int16) int {
	if need := r.MaxOutput(len(src)); len(dst) < need {
		panic(fmt.Sprintf("dsp: Resampler.Process: dst holds %d samples, %d input samples need %d", len(dst), len(src), need))
	}
	if r.l == r.m {
		return copy(dst, src)
	}
	n := 0
	for len(src) > 0 {
		k := min(len(src), blockLen)
		n += r.block(dst[n:], src[:k])
		src = src[k:]
	}
	return n
}

// block appends src (at most blockLen samples) to the history, writes every
// output whose input window is now complete, and keeps the last taps-1
// samples as history for the next block.
func (r *Resampler) block(dst []int16, src []int16) int {
	hist := r.taps - 1
	b := r.buf[:hist+len(src)]
	for i, s := range src {
		b[hist+i] = float32(s)
	}
	n := 0
	for r.next < len(b) {
		start := r.next - hist
		c := r.coeffs[r.phase*r.taps : (r.phase+1)*r.taps]
		dst[n] = saturate32(dot(b[start:start+len(c)], c))
		n++
		r.next += r.mWhole
		r.phase += r.mFrac
		if r.phase >= r.l {
			r.phase -= r.l
			r.next++
		}
	}
	copy(b, b[len(src):])
	r.next -= len(src)
	return n
}

// dot returns the inner product of x and c; len(x) == len(c), a multiple of 4.
// Four partial sums break the dependency chain of the additions.
func dot(x, c []float32) float32 {
	x = x[:len(c)]
	var s0, s1, s2, s3 float32
	for i := 0; i+4 <= len(c); i += 4 {
		xs, cs := x[i:i+4:i+4], c[i:i+4:i+4]
		s0 += xs[0] * cs[0]
		s1 += xs[1] * cs[1]
		s2 += xs[2] * cs[2]
		s3 += xs[3] * cs[3]
	}
	return (s0 + s1) + (s2 + s3)
}

func saturate32(x float32) int16 {
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

// Resample converts a whole clip, such as a WAV file's samples, from inRate
// to outRate and returns ceil(len(src)*outRate/inRate) samples. Unlike a
// streaming Resampler it removes the filter delay (a whole number of output
// samples), so the output is aligned with the input, and it flushes the
// filter, so the tail is not cut off. It allocates the result; equal rates
// return a copy.
func Resample(src []int16, inRate, outRate int) ([]int16, error) {
	r, err := NewResampler(inRate, outRate)
	if err != nil {
		return nil, err
	}
	want := r.MaxOutput(len(src))
	skip := r.delayOut
	// Enough trailing silence to push the last wanted sample out.
	total := (int64(skip+want)*int64(r.m) + int64(r.l) - 1) / int64(r.l)
	pad := max(0, int(total)-len(src))
	out := make([]int16, r.MaxOutput(len(src))+r.MaxOutput(pad)+1)
	n := r.Process(out, src)
	var zeros [blockLen]int16
	for pad > 0 {
		k := min(pad, len(zeros))
		n += r.Process(out[n:], zeros[:k])
		pad -= k
	}
	return out[skip : skip+want : skip+want], nil
}
