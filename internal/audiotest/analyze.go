package audiotest

import (
	"math"
	"slices"

	"github.com/sip-phone-api/sipphone/internal/dsp"
)

// Test signals and the measurement of what arrives. Everything here is pure
// computation on samples, so it is tested without a call.

// Test signal parameters.
const (
	// toneDBm0 is the level of the test tones: -10 dBm0, the level at which
	// ITU-T G.712 specifies the G.711 signal-to-distortion ratio.
	toneDBm0 = -10
	// phoneToneHz and clientToneHz are the tones sent by the phone and by
	// the client. They are not sub-multiples of 8000 Hz (1004 Hz is the
	// ITU-T O.132 test frequency), so the G.711 quantisation error is
	// spread like noise instead of piling into a few harmonics of a tone
	// whose samples repeat every few periods; they differ so that audio
	// reaching the wrong side would be noticed.
	phoneToneHz  = 1004
	clientToneHz = 804
	// toneMS is the length of each test tone; the analysis skips its first
	// toneSkipMS (start transients, jitter buffer settling) and uses the
	// next toneAnalyseMS.
	toneMS        = 500
	toneSkipMS    = 100
	toneAnalyseMS = 300
	// burstHz, burstDBm0 and burstMS describe the latency marker: a burst
	// that starts at its peak (a cosine), so its first sample is a step
	// that stands out of silence at once, whatever the filters on the path.
	burstHz   = 1500
	burstDBm0 = -6
	burstMS   = 40
	// burstGapMS separates the markers; bursts is how many are sent each way.
	burstGapMS = 250
	bursts     = 3
	// toneWaitMS and markerWaitMS bound the wait for a tone (from when it
	// was sent) and for the markers (after the last was sent): long
	// enough that a path too slow for the targets is measured as slow
	// rather than reported as silent.
	toneWaitMS   = toneMS + 2*maxRoundTripMS
	markerWaitMS = 2 * maxRoundTripMS
)

// Pass/fail limits.
const (
	maxOneWayMS    = 100 // the original design's end-to-end target
	maxRoundTripMS = 2 * maxOneWayMS
	minSNRdB       = 30 // G.711 at -10 dBm0 gives about 38 dB
	maxLevelDevdB  = 1
	maxFreqDevHz   = 5
)

// tone returns ms milliseconds of a sine of freq Hz at level dBm0.
func tone(rate int, freq, dBm0 float64, ms int) []int16 {
	pcm := make([]int16, rate*ms/1000)
	dsp.Tone(pcm, rate, freq, dBm0, nil)
	return pcm
}

// burst returns the latency marker at rate: burstMS of a cosine.
func burst(rate int) []int16 {
	phase := math.Pi / 2 // a sine from π/2 is a cosine: the burst starts at its peak
	pcm := make([]int16, rate*burstMS/1000)
	dsp.Tone(pcm, rate, burstHz, burstDBm0, &phase)
	return pcm
}

// threshold is the amplitude that marks the start of a signal at level
// dBm0: a third of its peak. Silence on a G.711 path decodes to 0, and a
// filter's pre-ringing before a step stays near a tenth of it.
func threshold(dBm0 float64) int {
	return int(dsp.SineAmplitude(dBm0) / 3)
}

// onsets finds up to max signal starts in x from index from: the first
// sample whose magnitude reaches thr, then, skipping holdoff samples after
// each start, the next. It returns indexes into x.
func onsets(x []int16, from, thr, holdoff, max int) []int {
	var found []int
	for i := max0(from); i < len(x) && len(found) < max; i++ {
		v := int(x[i])
		if v >= thr || -v >= thr {
			found = append(found, i)
			i += holdoff
		}
	}
	return found
}

func max0(i int) int { return max(i, 0) }

// toneReady reports whether x holds a tone from index from on that is long
// enough to measure.
func toneReady(x []int16, from, rate int) bool {
	on := onsets(x, from, threshold(toneDBm0), 0, 1)
	return len(on) == 1 && len(x) >= on[0]+rate*(toneSkipMS+toneAnalyseMS)/1000
}

// ToneResult is what a received test tone measured.
type ToneResult struct {
	// SentHz and SentDBm0 describe the tone that was sent.
	SentHz   float64 `json:"sent_hz"`
	SentDBm0 float64 `json:"sent_dbm0"`
	// Received is false when no tone arrived; Error says what was seen.
	Received bool   `json:"received"`
	Error    string `json:"error,omitempty"`
	// FrequencyHz is the strongest frequency received.
	FrequencyHz float64 `json:"frequency_hz"`
	// LevelDBm0 and LevelDBFS are its RMS level; PeakDBFS its peak.
	LevelDBm0 float64 `json:"level_dbm0"`
	LevelDBFS float64 `json:"level_dbfs"`
	PeakDBFS  float64 `json:"peak_dbfs"`
	// SNRdB is the power of the sine fitted to the received samples over
	// the power of everything else (quantisation noise, distortion, loss
	// concealment): the signal-to-distortion ratio of ITU-T G.712.
	SNRdB float64 `json:"snr_db"`
	// AnalysedMS is the length of audio measured.
	AnalysedMS int `json:"analysed_ms"`
	// Dropouts counts the gaps in the measured tone (2 ms or more of near
	// silence: lost or late audio), DropoutMS their total length.
	Dropouts  int     `json:"dropouts"`
	DropoutMS float64 `json:"dropout_ms"`
}

// analyseTone measures the tone sent as freq Hz at dBm0 in x (sampled at
// rate) after index from: it finds where the tone starts, skips
// toneSkipMS, and measures the next toneAnalyseMS.
func analyseTone(x []int16, from, rate int, freq, dBm0 float64) ToneResult {
	r := ToneResult{SentHz: freq, SentDBm0: dBm0}
	on := onsets(x, from, threshold(dBm0), 0, 1)
	if len(on) == 0 {
		peak := 0
		for _, v := range x[min(max0(from), len(x)):] {
			peak = max(peak, int(v), -int(v))
		}
		_, pk := dsp.Level([]int16{int16(min(peak, math.MaxInt16))})
		r.Error = "no tone arrived"
		if peak > 0 {
			r.Error += ": the loudest sample was " + formatFloat(pk, 1) + " dBFS"
		}
		return r
	}
	start := on[0] + rate*toneSkipMS/1000
	n := rate * toneAnalyseMS / 1000
	if start+n > len(x) {
		r.Error = "the tone was cut short"
		return r
	}
	seg := x[start : start+n]
	r.Received = true
	r.AnalysedMS = toneAnalyseMS
	f := estimateFrequency(seg, rate)
	rms, peak := dsp.Level(seg)
	r.FrequencyHz = round(f, 1)
	r.LevelDBFS, r.PeakDBFS, r.LevelDBm0 = round(rms, 2), round(peak, 2), round(dsp.DBFSToDBm0(rms), 2)
	r.SNRdB = round(sineSNR(seg, rate, f), 2)
	r.Dropouts, r.DropoutMS = dropouts(seg, rate, dsp.SineAmplitude(dBm0))
	return r
}

// dropouts counts the runs of at least 2 ms in x whose samples all stay
// below an eighth of amp, the peak of the tone x should carry (a sine
// spends far less time than that near zero), and their total length.
func dropouts(x []int16, rate int, amp float64) (int, float64) {
	minRun := rate * 2 / 1000
	lim := int(amp / 8)
	n, total, run := 0, 0, 0
	for i, v := range x {
		quiet := int(v) < lim && -int(v) < lim
		if quiet {
			run++
		}
		if !quiet || i == len(x)-1 {
			if run >= minRun {
				n++
				total += run
			}
			run = 0
		}
	}
	return n, round(float64(total)*1000/float64(rate), 1)
}

// estimateFrequency returns the strongest frequency in x to about 0.1 Hz:
// a 5 Hz search over the voice band, then a 0.1 Hz one around the best.
func estimateFrequency(x []int16, rate int) float64 {
	hi := min(3900, float64(rate)/2-100)
	f := dsp.DominantFrequency(x, rate, 100, hi, 5)
	return dsp.DominantFrequency(x, rate, f-5, f+5, 0.1)
}

// sineSNR fits a·sin + b·cos + c at freq to x by least squares and returns
// the ratio of the fitted sine's power to the residual's, in dB. A residual
// of zero reads 120 dB.
func sineSNR(x []int16, rate int, freq float64) float64 {
	// Normal equations of the three basis functions.
	var m [3][4]float64
	w := 2 * math.Pi * freq / float64(rate)
	for i, v := range x {
		s, c := math.Sincos(w * float64(i))
		basis := [3]float64{s, c, 1}
		y := float64(v)
		for r := range 3 {
			for k := range 3 {
				m[r][k] += basis[r] * basis[k]
			}
			m[r][3] += basis[r] * y
		}
	}
	coef, ok := solve3(m)
	if !ok {
		return 0
	}
	var noise float64
	for i, v := range x {
		s, c := math.Sincos(w * float64(i))
		e := float64(v) - (coef[0]*s + coef[1]*c + coef[2])
		noise += e * e
	}
	noise /= float64(len(x))
	signal := (coef[0]*coef[0] + coef[1]*coef[1]) / 2
	if noise <= 0 {
		return 120
	}
	return min(10*math.Log10(signal/noise), 120)
}

// solve3 solves a 3×3 linear system given as an augmented matrix by
// Gaussian elimination with partial pivoting.
func solve3(m [3][4]float64) ([3]float64, bool) {
	for col := range 3 {
		p := col
		for r := col + 1; r < 3; r++ {
			if math.Abs(m[r][col]) > math.Abs(m[p][col]) {
				p = r
			}
		}
		if m[p][col] == 0 {
			return [3]float64{}, false
		}
		m[col], m[p] = m[p], m[col]
		for r := range 3 {
			if r == col {
				continue
			}
			f := m[r][col] / m[col][col]
			for k := col; k < 4; k++ {
				m[r][k] -= f * m[col][k]
			}
		}
	}
	return [3]float64{m[0][3] / m[0][0], m[1][3] / m[1][1], m[2][3] / m[2][2]}, true
}

// LatencyResult is the latency of the markers sent one way.
type LatencyResult struct {
	// Sent and Found count the markers sent and detected.
	Sent  int `json:"sent"`
	Found int `json:"found"`
	// MS holds each detected marker's latency in milliseconds.
	MS []float64 `json:"ms"`
	// MinMS, MedianMS and MaxMS summarise MS (0 when none was found).
	MinMS    float64 `json:"min_ms"`
	MedianMS float64 `json:"median_ms"`
	MaxMS    float64 `json:"max_ms"`
	// Error says why markers are missing.
	Error string `json:"error,omitempty"`
}

// summarise fills the minimum, median and maximum from MS.
func (l *LatencyResult) summarise() {
	l.Found = len(l.MS)
	if len(l.MS) == 0 {
		return
	}
	s := slices.Clone(l.MS)
	slices.Sort(s)
	l.MinMS, l.MaxMS = s[0], s[len(s)-1]
	if n := len(s); n%2 == 1 {
		l.MedianMS = s[n/2]
	} else {
		l.MedianMS = (s[n/2-1] + s[n/2]) / 2
	}
	l.MinMS, l.MedianMS, l.MaxMS = round(l.MinMS, 1), round(l.MedianMS, 1), round(l.MaxMS, 1)
}

// round rounds x to digits decimals.
func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}
