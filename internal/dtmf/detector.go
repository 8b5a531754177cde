package dtmf

import (
	"fmt"
	"math"
	"math/cmplx"
	"time"
)

// EventKind tells whether an [Event] opens or closes a key press.
type EventKind uint8

const (
	// Start reports that a key press began. It comes about 30 ms after the
	// tone starts, so a user interface can react before the key is released;
	// its Duration is zero.
	Start EventKind = iota + 1
	// End reports that a key press finished; its Duration is the tone length.
	End
)

// String returns "start" or "end".
func (k EventKind) String() string {
	switch k {
	case Start:
		return "start"
	case End:
		return "end"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is one key press seen by a [Detector]. Each press yields a Start
// event and later an End event with the same Digit and Start.
type Event struct {
	// Digit is the key: '0'-'9', '*', '#' or 'A'-'D'.
	Digit byte
	// Start is when the tone began, counted from the detector's first sample
	// (or its last Reset or Flush).
	Start time.Duration
	// Duration is the tone length on End events and zero on Start events.
	Duration time.Duration
	// Kind is Start or End.
	Kind EventKind
}

// String formats the event for logs and test output, e.g. "5 end @120ms 80ms".
func (e Event) String() string {
	if e.Kind == End {
		return fmt.Sprintf("%c %v @%v %v", e.Digit, e.Kind, e.Start, e.Duration)
	}
	return fmt.Sprintf("%c %v @%v", e.Digit, e.Kind, e.Start)
}

// Config holds the detector's thresholds. A zero field takes the value from
// [DefaultConfig].
type Config struct {
	// SampleRate is the PCM rate in Hz, default 8000 (G.711), the rate the
	// figures are tested at. Any multiple of 400 from 8000 to 48000 is
	// accepted.
	SampleRate int
	// MinLevel is the weakest tone accepted, in dBm0 per tone (0 dBm0 is a
	// sine with a peak of 32768·10^(-3.17/20) in 16-bit PCM, the G.711
	// digital milliwatt). Default -44: a key is told from speech, music
	// and noise by the tones' share of the signal, not by its level, so
	// keys from +3 down to -43 dBm0 are found (46 dB and more of dynamic
	// range) while weaker audio, lost in the G.711 quantisation, is not
	// looked at.
	MinLevel float64
	// NormalTwist is how much weaker, in dB, the high-group tone may be than
	// the low-group tone. Default 10 (8 must pass).
	NormalTwist float64
	// ReverseTwist is how much stronger, in dB, the high-group tone may be
	// than the low-group tone. Default 6 (4 must pass).
	ReverseTwist float64
	// FreqTolerance is the largest accepted frequency error of each tone as
	// a fraction of nominal. Default 0.025, between the 1.5 % that must be
	// accepted and the 3.5 % that must be rejected.
	FreqTolerance float64
	// MinToneRatio is the smallest share of the energy the two tones must
	// hold over the steady part of a press; a single window may hold 0.1
	// less. Speech and music spread their energy and fail it. Dial tone
	// (350 + 440 Hz) is measured and left out of the energy, so a key
	// is found over dial tone stronger than itself. Default 0.72: white
	// noise 6 dB below the key's power leaves 0.8.
	MinToneRatio float64
	// MinDuration is the shortest tone reported. Default 30 ms, between the
	// 23 ms that must be ignored and the 40 ms that must be detected.
	MinDuration time.Duration
}

// DefaultConfig returns the thresholds used for zero Config fields.
func DefaultConfig() Config {
	return Config{
		SampleRate:    8000,
		MinLevel:      -44,
		NormalTwist:   10,
		ReverseTwist:  6,
		FreqTolerance: 0.025,
		MinToneRatio:  0.72,
		MinDuration:   30 * time.Millisecond,
	}
}

// withDefaults returns c with zero fields replaced by the defaults.
func (c Config) withDefaults() Config {
	def := DefaultConfig()
	if c.SampleRate == 0 {
		c.SampleRate = def.SampleRate
	}
	if c.MinLevel == 0 {
		c.MinLevel = def.MinLevel
	}
	if c.NormalTwist == 0 {
		c.NormalTwist = def.NormalTwist
	}
	if c.ReverseTwist == 0 {
		c.ReverseTwist = def.ReverseTwist
	}
	if c.FreqTolerance == 0 {
		c.FreqTolerance = def.FreqTolerance
	}
	if c.MinToneRatio == 0 {
		c.MinToneRatio = def.MinToneRatio
	}
	if c.MinDuration == 0 {
		c.MinDuration = def.MinDuration
	}
	return c
}

// Validate reports the first field (after defaults) that is out of range.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.SampleRate < 8000 || c.SampleRate > 48000 || c.SampleRate%400 != 0:
		return fmt.Errorf("dtmf: SampleRate %d: want a multiple of 400 from 8000 to 48000", c.SampleRate)
	case c.MinLevel < -60 || c.MinLevel > 0:
		return fmt.Errorf("dtmf: MinLevel %v dBm0: want -60 to 0", c.MinLevel)
	case c.NormalTwist < 0 || c.NormalTwist > 20:
		return fmt.Errorf("dtmf: NormalTwist %v dB: want 0 to 20", c.NormalTwist)
	case c.ReverseTwist < 0 || c.ReverseTwist > 20:
		return fmt.Errorf("dtmf: ReverseTwist %v dB: want 0 to 20", c.ReverseTwist)
	case c.FreqTolerance < 0 || c.FreqTolerance > 0.05:
		return fmt.Errorf("dtmf: FreqTolerance %v: want 0 to 0.05", c.FreqTolerance)
	case c.MinToneRatio < 0.5 || c.MinToneRatio > 1:
		return fmt.Errorf("dtmf: MinToneRatio %v: want 0.5 to 1", c.MinToneRatio)
	case c.MinDuration < 0 || c.MinDuration > 100*time.Millisecond:
		return fmt.Errorf("dtmf: MinDuration %v: want 0 to 100ms", c.MinDuration)
	}
	return nil
}

const (
	// windowSubBlocks is the analysis window in sub-blocks of 2.5 ms.
	windowSubBlocks = 5
	// declareHits is how many consecutive windows must show the same digit
	// before the press can start (the duration test then decides).
	declareHits = 8
	// hangoverMisses is how many windows without the digit end a press:
	// 35 ms, which bridges dropouts of up to about 24 ms and splits on
	// pauses from about 28 ms, clear of the 10 ms and 40 ms of Q.24.
	hangoverMisses = 14
	// ringSize is the sub-block history kept for timing the edges (160 ms).
	ringSize = 64
	// maxSubBlock is the sub-block length at 48 kHz.
	maxSubBlock = 48000 / 400
	// edgeAllowance is how much less than MinToneRatio a single window may
	// hold; windows at the ends of a press cover only part of the tone.
	edgeAllowance = 0.1
	// dialShare is the share of a window's energy above which the two
	// dial tones count as present; maxDialShare is the most of it that is
	// set aside as dial tone.
	dialShare    = 0.05
	maxDialShare = 0.9
	// minKeyShare is the smallest share of a window's energy, dial tone
	// included, that the two strongest key tones must hold before the
	// dial tone is measured: a key with dial tone 4 dB stronger holds
	// 0.28 while its tones are on.
	minKeyShare = 0.1
	// probeBelow is how much weaker (as a power ratio, 16 dB) than the two
	// key tones together the harmonic probes must be on average over a
	// press, probeHard (15 dB) in every window; see harmonic.
	probeBelow = 40
	probeHard  = 30
	// probeClear is how far, in Hz, a probe must be from a tone.
	probeClear = 150
	// clipLevel is the sample magnitude from which a window counts as
	// clipped.
	clipLevel = 31000
	// edgeFraction is the share of a press's amplitude that counts as "tone
	// present" in a sub-block when timing its edges.
	edgeFraction = 0.5
)

// toneHz are the DTMF frequencies of ITU-T Q.23: four low-group (row) and
// four high-group (column) tones.
var toneHz = [8]float64{697, 770, 852, 941, 1209, 1336, 1477, 1633}

// dialHz is the dial tone of North America (350 + 440 Hz, also the UK's),
// measured next to the keys so that a key over dial tone is not mistaken
// for a key over noise or speech.
var dialHz = [2]float64{350, 440}

// nBins is the number of frequencies measured per sub-block: the eight key
// tones, then the two dial tones.
const nBins = 10

// binHz returns the frequency of bin k.
func binHz(k int) float64 {
	if k < 8 {
		return toneHz[k]
	}
	return dialHz[k-8]
}

// keys maps row*4+column to the key.
var keys = [16]byte{
	'1', '2', '3', 'A',
	'4', '5', '6', 'B',
	'7', '8', '9', 'C',
	'*', '0', '#', 'D',
}

// subBlock is the DFT of one sub-block at the eight tones, each relative to
// the sub-block's first sample, and its energy.
type subBlock struct {
	re, im [nBins]float64
	energy int64
}

// Detector finds DTMF key presses in a stream of 16-bit PCM. It keeps about
// 160 ms of analysis state and is not safe for concurrent use; use one per
// audio stream.
type Detector struct {
	cfg Config
	h   int // sub-block length in samples
	n   int // window length in samples

	// coef[k] is 2cos(ω_k), the Goertzel feedback of tone k; back[k] is
	// e^{-jω_k} and phase[k] is e^{-jω_k(h-1)}, which turn the filter's
	// last two states into the sub-block's DFT relative to its first
	// sample.
	coef  [12]float64 // the last two are unused lanes of goertzel12
	back  [nBins]complex128
	phase [nBins]complex128
	// phaseBack[k] is phase[k]·back[k].
	phaseBack [nBins]complex128

	// rot[k][i] is e^{-jω_k·h·i}: the phase of sub-block i of a window
	// relative to the window's first sample.
	rot [nBins][windowSubBlocks]complex128
	// unmix2[r][c] and unmix4[r][c] turn the sub-block DFT values at
	// low tone r, high tone c (and the two dial tones) into the complex
	// amplitudes of the two key tones; see unmix.
	unmix2 [4][4][4][4]float64
	unmix4 [4][4][4][8]float64
	dialOn bool // the latest window holds dial tone
	// dialNear: the latest window holds both dial tones, strong enough to
	// reach the harmonic probes.
	dialNear bool

	minWinEnergy float64 // window energy below which no tone can pass MinLevel
	minW2        float64 // |W|² of a tone at MinLevel
	edgeRatio    float64 // MinToneRatio less edgeAllowance
	preRatio     float64 // quick test on uncorrected powers
	twistUp      float64 // largest high/low power ratio
	twistDown    float64 // smallest high/low power ratio
	minDur       int64   // MinDuration in samples

	buf  [maxSubBlock]int16   // the sub-block being filled
	fbuf [maxSubBlock]float64 // the sub-block in transform
	pos  int                  // samples in buf
	ring [ringSize]subBlock
	raw  [ringSize][maxSubBlock]int16 // the samples of each sub-block in ring
	// win is the DFT at the ten bins of the window ending with the newest
	// sub-block, slid along one sub-block at a time.
	win [nBins]complex128
	// winEnergy is the energy of that window (exact: integer sums).
	winEnergy int64
	nSub      int64 // completed sub-blocks

	candKey   int   // digit of the current run of hits, -1 for none
	candRun   int   // consecutive windows showing candKey
	candFirst int64 // window (its last sub-block) where the run began

	active   bool
	actKey   int
	actStart int64 // first sample of the press
	actDial  bool  // the press was measured apart from dial tone
	lastHit  int64 // last window showing actKey
	misses   int   // windows since lastHit

	// freq is the measured frequency of the low and the high tone of the
	// window being analysed.
	freq [2]float64
	// probe[i] is 2cos(ω) of the probes of the window being analysed.
	probe [3]float64

	// harm[j%ringSize] is the strongest harmonic probe relative to the
	// key tones in window j, for windows that showed a key.
	harm [ringSize]float64
	// ratio[j%ringSize] is the tones' share of the energy of window j, for
	// windows that showed a key.
	ratio [ringSize]float64
}

// NewDetector returns a detector for cfg; zero fields take their defaults.
// It panics if cfg is invalid; check configuration from users with
// [Config.Validate] first.
func NewDetector(cfg Config) *Detector {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	cfg = cfg.withDefaults()
	d := &Detector{cfg: cfg}
	d.h = cfg.SampleRate / 400
	d.n = d.h * windowSubBlocks
	for k := range nBins {
		w := 2 * math.Pi * binHz(k) / float64(cfg.SampleRate)
		d.coef[k] = 2 * math.Cos(w)
		s, c := math.Sincos(-w)
		d.back[k] = complex(c, s)
		s, c = math.Sincos(-w * float64(d.h-1))
		d.phase[k] = complex(c, s)
		d.phaseBack[k] = d.phase[k] * d.back[k]
		for i := 0; i < windowSubBlocks; i++ {
			s, c := math.Sincos(-w * float64(d.h*i))
			d.rot[k][i] = complex(c, s)
		}
	}
	for r := range 4 {
		for c := range 4 {
			inv := leakInverse(d.h, cfg.SampleRate, []int{r, 4 + c})
			for i := range 4 {
				copy(d.unmix2[r][c][i][:], inv[i])
			}
			inv = leakInverse(d.h, cfg.SampleRate, []int{r, 4 + c, 8, 9})
			for i := range 4 {
				copy(d.unmix4[r][c][i][:], inv[i])
			}
		}
	}
	// A 0 dBm0 sine has peak a0 and mean power a0²/2; one at MinLevel over
	// n samples has a DFT magnitude of peak·n/2.
	a0 := 32768 * math.Pow(10, -3.17/20)
	peak := a0 * math.Pow(10, cfg.MinLevel/20)
	nf := float64(d.n)
	d.minW2 = peak * peak * nf * nf / 4
	// |W|² ≤ n·energy (Cauchy-Schwarz), so a quieter window cannot pass.
	d.minWinEnergy = d.minW2 / nf
	d.edgeRatio = cfg.MinToneRatio - edgeAllowance
	d.preRatio = 0.7 * d.edgeRatio
	d.twistUp = math.Pow(10, cfg.ReverseTwist/10)
	d.twistDown = math.Pow(10, -cfg.NormalTwist/10)
	d.minDur = int64(cfg.MinDuration) * int64(cfg.SampleRate) / int64(time.Second)
	d.Reset()
	return d
}

// Config returns the configuration in use, with defaults filled in.
func (d *Detector) Config() Config { return d.cfg }

// Reset forgets all audio and any press in progress without reporting it;
// the next sample is time zero.
func (d *Detector) Reset() {
	d.pos = 0
	d.nSub = 0
	d.ring = [ringSize]subBlock{}
	d.win = [nBins]complex128{}
	d.winEnergy = 0
	d.candKey, d.candRun, d.candFirst = -1, 0, 0
	d.active, d.actKey, d.actStart, d.lastHit, d.misses = false, -1, 0, 0, 0
}

// Process analyses samples, which may have any length, and calls emit for
// each key press that starts or ends within them. emit runs synchronously
// and must not call back into the detector; it may be nil. Events do not
// depend on how the stream is cut into calls. Process does not allocate.
func (d *Detector) Process(samples []int16, emit func(Event)) {
	for len(samples) > 0 {
		if d.pos == 0 && len(samples) >= d.h {
			// Whole sub-blocks are read in place.
			d.subBlockDone(samples[:d.h], emit)
			samples = samples[d.h:]
			continue
		}
		n := copy(d.buf[d.pos:d.h], samples)
		d.pos += n
		samples = samples[n:]
		if d.pos == d.h {
			d.pos = 0
			d.subBlockDone(d.buf[:d.h], emit)
		}
	}
}

// Flush ends the input: it completes a press still sounding at the end of
// the samples (its duration runs to the last sample) and then resets the
// detector, so the next sample is time zero again.
func (d *Detector) Flush(emit func(Event)) {
	var zero [maxSubBlock]int16
	if d.pos > 0 {
		d.Process(zero[:d.h-d.pos], emit)
	}
	// Silence ends any press within a window plus the hangover.
	for i := 0; i < windowSubBlocks+hangoverMisses+2 && (d.active || d.candRun > 0); i++ {
		d.Process(zero[:d.h], emit)
	}
	d.Reset()
}

// subBlockDone takes the DFT of the full sub-block x and runs the window
// ending with it.
func (d *Detector) subBlockDone(x []int16, emit func(Event)) {
	j := d.nSub
	sb := &d.ring[j&(ringSize-1)]
	copy(d.raw[j&(ringSize-1)][:], x)
	d.transform(x, sb)
	d.slide(j)
	d.nSub++
	if j >= windowSubBlocks-1 {
		d.step(j, d.analyze(j), emit)
	}
}

// slide moves win on to the window ending with sub-block j: the window's
// DFT relative to its first sample loses its oldest sub-block, turns back
// by one sub-block and gains the new one at the far end. Every 256
// sub-blocks it is summed afresh, so rounding errors cannot build up.
func (d *Detector) slide(j int64) {
	sb := &d.ring[j&(ringSize-1)]
	d.winEnergy += sb.energy
	if j >= windowSubBlocks {
		d.winEnergy -= d.ring[(j-windowSubBlocks)&(ringSize-1)].energy
	}
	switch {
	case j < windowSubBlocks:
		for k := range nBins {
			d.win[k] += complex(sb.re[k], sb.im[k]) * d.rot[k][j]
		}
	case j%256 == 0:
		for k := range nBins {
			var w complex128
			for i := windowSubBlocks - 1; i >= 0; i-- {
				o := &d.ring[(j-windowSubBlocks+1+int64(i))&(ringSize-1)]
				w = w*d.rot[k][1] + complex(o.re[k], o.im[k])
			}
			d.win[k] = w
		}
	default:
		old := &d.ring[(j-windowSubBlocks)&(ringSize-1)]
		for k := range nBins {
			r := d.rot[k][1]
			w := (d.win[k] - complex(old.re[k], old.im[k])) * complex(real(r), -imag(r))
			d.win[k] = w + complex(sb.re[k], sb.im[k])*d.rot[k][windowSubBlocks-1]
		}
	}
}

// transform sets sb to the energy of x and its DFT at the eight tones. Each
// tone runs a Goertzel filter over the sub-block, four tones per pass so the
// states stay in registers: s[i] = x[i] + 2cos(ω)·s[i-1] - s[i-2]; then
// X = e^{-jω(h-1)}·(s[h-1] - e^{-jω}·s[h-2]).
func (d *Detector) transform(x []int16, sb *subBlock) {
	// The loops run two samples per turn, so the states swap roles instead
	// of being copied; an odd sub-block length starts with one lone sample.
	if haveGoertzel12 && len(x)%2 == 0 {
		var st [25]float64
		goertzel12(&x[0], len(x), &d.coef, &st)
		for k := range nBins {
			d.goertzelOut(sb, k, st[k], st[12+k])
		}
		sb.energy = int64(st[24])
		return
	}
	f := d.fbuf[:len(x)]
	var e int64
	for i, v := range x {
		e += int64(v) * int64(v)
		f[i] = float64(v)
	}
	sb.energy = e
	odd := len(f) & 1
	fs := f[odd:]
	for g := 0; g < 8; g += 4 {
		c0, c1, c2, c3 := d.coef[g], d.coef[g+1], d.coef[g+2], d.coef[g+3]
		var a1, a2, b1, b2, p1, p2, q1, q2 float64
		if odd == 1 {
			a1, b1, p1, q1 = f[0], f[0], f[0], f[0]
		}
		for i := 0; i+1 < len(fs); i += 2 {
			u, w := fs[i], fs[i+1]
			a2 = u - a2 + c0*a1
			b2 = u - b2 + c1*b1
			p2 = u - p2 + c2*p1
			q2 = u - q2 + c3*q1
			a1 = w - a1 + c0*a2
			b1 = w - b1 + c1*b2
			p1 = w - p1 + c2*p2
			q1 = w - q1 + c3*q2
		}
		d.goertzelOut(sb, g, a1, a2)
		d.goertzelOut(sb, g+1, b1, b2)
		d.goertzelOut(sb, g+2, p1, p2)
		d.goertzelOut(sb, g+3, q1, q2)
	}
	c0, c1 := d.coef[8], d.coef[9]
	var a1, a2, b1, b2 float64
	for _, v := range f {
		a1, a2 = v-a2+c0*a1, a1
		b1, b2 = v-b2+c1*b1, b1
	}
	d.goertzelOut(sb, 8, a1, a2)
	d.goertzelOut(sb, 9, b1, b2)
}

// goertzelOut stores tone k's DFT from the filter's last two states.
func (d *Detector) goertzelOut(sb *subBlock, k int, s1, s2 float64) {
	// phase·(s1 - back·s2) with s1, s2 real.
	p, q := d.phase[k], d.phaseBack[k]
	sb.re[k] = real(p)*s1 - real(q)*s2
	sb.im[k] = imag(p)*s1 - imag(q)*s2
}

// analyze returns the key (row*4+column) shown by the window ending with
// sub-block j, or -1.
func (d *Detector) analyze(j int64) int {
	e := float64(d.winEnergy)
	if e < d.minWinEnergy {
		return -1
	}
	// Strongest tone of each group, at nominal frequency.
	var p [nBins]float64
	for k, w := range d.win {
		p[k] = real(w)*real(w) + imag(w)*imag(w)
	}
	lo, hi := 0, 4
	for k := 1; k < 4; k++ {
		if p[k] > p[lo] {
			lo = k
		}
		if p[k+4] > p[hi] {
			hi = k + 4
		}
	}
	// energy·n·ratio compares with 2·|W|² (a real sine's energy is split
	// between +f and -f).
	total := e * float64(d.n)
	// Dial tone: both its tones present and of similar level. Its energy
	// is not held against the key, and the key tones are measured apart
	// from it.
	d.dialOn = false
	if 2*(p[lo]+p[hi]) < minKeyShare*total {
		return -1 // too weak even over the strongest dial tone
	}
	dial := 2 * (p[8] + p[9])
	balanced := p[8] < 4*p[9] && p[9] < 4*p[8]
	d.dialOn = balanced && dial > dialShare*total
	d.dialNear = balanced && (p[8]+p[9])*probeBelow > p[lo]+p[hi]
	if d.dialOn {
		total = max(total-dial, total*(1-maxDialShare))
	}
	if 2*(p[lo]+p[hi]) < d.preRatio*total {
		return -1
	}
	pl, ph, ok := d.pairPower(j-windowSubBlocks+1, lo, hi)
	if !ok {
		return -1
	}
	if pl < d.minW2 || ph < d.minW2 {
		return -1
	}
	if ph > pl*d.twistUp || ph < pl*d.twistDown {
		return -1
	}
	if 2*(pl+ph) < d.edgeRatio*total {
		return -1
	}
	// A press already declared is not probed again: the probes guard the
	// start of a press.
	key := lo*4 + hi - 4
	var hr float64
	if !d.active || key != d.actKey {
		hr = d.harmonic(j, pl+ph)
		if hr*probeHard > 1 {
			return -1
		}
	}
	d.ratio[j&(ringSize-1)] = 2 * (pl + ph) / total
	d.harm[j&(ringSize-1)] = hr
	return lo*4 + hi - 4
}

// pairPower separates tones lo and hi in each sub-block, measures each
// tone's real frequency and, if both are within FreqTolerance, returns
// their window |DFT|² corrected to those frequencies.
func (d *Detector) pairPower(first int64, lo, hi int) (pl, ph float64, ok bool) {
	var al, ah [windowSubBlocks]complex128
	for i := range windowSubBlocks {
		cl, ch := d.unmix(first+int64(i), lo, hi)
		al[i] = cl * d.rot[lo][i]
		ah[i] = ch * d.rot[hi][i]
	}
	if pl, ok = d.tonePower(&al, lo); !ok {
		return 0, 0, false
	}
	if ph, ok = d.tonePower(&ah, hi); !ok {
		return 0, 0, false
	}
	return pl, ph, true
}

// unmix returns the complex amplitudes of tones lo and hi in sub-block sb.
// Over one 2.5 ms sub-block the bins are 400 Hz wide, so a strong tone
// leaks into the other group's bin (941 Hz into 1209 Hz at 44 %), a tone's
// mirror image at minus its frequency leaks into its own bin, and dial tone
// leaks into the 697 Hz bin. With the leak of each tone and its image into
// each bin known, the DFT values give as many equations as there are
// unknowns: the key's two tones alone, or with the two dial tones when the
// latest window holds dial tone.
func (d *Detector) unmix(i int64, lo, hi int) (cl, ch complex128) {
	sb := &d.ring[i&(ringSize-1)]
	v := [8]float64{sb.re[lo], sb.im[lo], sb.re[hi], sb.im[hi], sb.re[8], sb.im[8], sb.re[9], sb.im[9]}
	var o [4]float64
	if !d.dialOn {
		u := &d.unmix2[lo][hi-4]
		for r := range o {
			o[r] = u[r][0]*v[0] + u[r][1]*v[1] + u[r][2]*v[2] + u[r][3]*v[3]
		}
	} else {
		u := &d.unmix4[lo][hi-4]
		for r := range o {
			var x float64
			for c, vc := range v {
				x += u[r][c] * vc
			}
			o[r] = x
		}
	}
	return complex(o[0], o[1]), complex(o[2], o[3])
}

// tonePower measures tone k's real frequency from the phase advance between
// the two halves of the window and, if it is within FreqTolerance, returns
// the window's |DFT|² corrected to that frequency. a holds the tone's
// complex amplitude in each sub-block, phased to the window start.
func (d *Detector) tonePower(a *[windowSubBlocks]complex128, k int) (float64, bool) {
	const half = windowSubBlocks / 2
	const lag = windowSubBlocks - half // sub-blocks between the halves
	// Coarse phase step between neighbouring sub-blocks: unambiguous to
	// ±200 Hz at 8 kHz.
	var d1, first, second complex128
	for i := 1; i < windowSubBlocks; i++ {
		d1 += a[i] * complex(real(a[i-1]), -imag(a[i-1]))
	}
	for i := range half {
		first += a[i]
		second += a[windowSubBlocks-1-i]
	}
	coarse := math.Atan2(imag(d1), real(d1))
	dl := second * complex(real(first), -imag(first))
	fine := math.Atan2(imag(dl), real(dl))
	// The halves are lag sub-blocks apart: lag times the lever, lag times
	// the ambiguity; the coarse step picks the turn.
	fine += 2 * math.Pi * math.Round((lag*coarse-fine)/(2*math.Pi))
	step := fine / lag
	off := step * float64(d.cfg.SampleRate) / (2 * math.Pi * float64(d.h)) / toneHz[k]
	d.freq[k/4] = toneHz[k] * (1 + off)
	if math.Abs(off) > d.cfg.FreqTolerance {
		return 0, false
	}
	s, c := math.Sincos(-step)
	r, turn := complex(1, 0), complex(c, s)
	var w complex128
	for i := range windowSubBlocks {
		w += a[i] * r
		r *= turn
	}
	w *= complex(float64(d.h), 0)
	return real(w)*real(w) + imag(w)*imag(w), true
}

// step advances the press state machine with the result of window j.
func (d *Detector) step(j int64, key int, emit func(Event)) {
	switch {
	case key < 0:
		d.candKey, d.candRun = -1, 0
	case key == d.candKey:
		d.candRun++
	default:
		d.candKey, d.candRun, d.candFirst = key, 1, j
	}
	if d.active {
		if key == d.actKey {
			d.lastHit, d.misses = j, 0
			return
		}
		d.misses++
		start, ok := int64(0), false
		if key >= 0 && d.candRun >= declareHits {
			start, ok = d.qualify(j)
		}
		if ok || d.misses >= hangoverMisses {
			d.finish(j, emit)
		}
		if ok {
			d.begin(j, start, emit)
		}
		return
	}
	if key >= 0 && d.candRun >= declareHits {
		if start, ok := d.qualify(j); ok {
			d.begin(j, start, emit)
		}
	}
}

// qualify times the candidate run ending at window j and reports its start
// sample and whether it has lasted MinDuration.
func (d *Detector) qualify(j int64) (int64, bool) {
	lo, hi := d.candKey/4, 4+d.candKey%4
	ref := d.medianAmp(d.candFirst, j, lo, hi)
	if ref <= 0 {
		return 0, false
	}
	if !d.steady(j) {
		return 0, false
	}
	start := d.startEdge(d.candFirst, lo, hi, ref)
	end := d.endEdge(d.candFirst, j, lo, hi, ref)
	return start, end-start >= d.minDur
}

func (d *Detector) begin(j, start int64, emit func(Event)) {
	d.active, d.actKey, d.actStart, d.actDial = true, d.candKey, start, d.dialOn
	d.lastHit, d.misses = j, 0
	if emit != nil {
		emit(Event{Digit: keys[d.actKey], Start: d.dur(start), Kind: Start})
	}
}

func (d *Detector) finish(j int64, emit func(Event)) {
	lo, hi := d.actKey/4, 4+d.actKey%4
	d.dialOn = d.actDial // time the end as the press was measured
	ref := d.medianAmp(d.lastHit-windowSubBlocks+1, d.lastHit, lo, hi)
	end := d.endEdge(d.lastHit-windowSubBlocks+2, j, lo, hi, ref)
	if end <= d.actStart {
		end = d.actStart + int64(d.h)
	}
	d.active = false
	if emit != nil {
		emit(Event{Digit: keys[d.actKey], Start: d.dur(d.actStart), Duration: d.dur(end - d.actStart), Kind: End})
	}
}

// dur converts a sample count to time.
func (d *Detector) dur(samples int64) time.Duration {
	return time.Duration(samples) * time.Second / time.Duration(d.cfg.SampleRate)
}

// oldest returns the oldest sub-block still in the ring.
func (d *Detector) oldest() int64 {
	return max(0, d.nSub-ringSize)
}

// amp is the summed amplitude of tones lo and hi in sub-block i; it grows
// linearly with the part of the sub-block the tones cover.
func (d *Detector) amp(i int64, lo, hi int) float64 {
	cl, ch := d.unmix(i, lo, hi)
	return cmplx.Abs(cl) + cmplx.Abs(ch)
}

// medianAmp is the median of amp over sub-blocks from..to (the newest 16 at
// most): the full-coverage amplitude of a tone that spans most of them.
func (d *Detector) medianAmp(from, to int64, lo, hi int) float64 {
	var v [16]float64
	from = max(from, to-int64(len(v))+1, d.oldest())
	n := 0
	for i := from; i <= to; i++ {
		x := d.amp(i, lo, hi)
		k := n
		for k > 0 && v[k-1] > x {
			v[k] = v[k-1]
			k--
		}
		v[k] = x
		n++
	}
	if n == 0 {
		return 0
	}
	return v[n/2]
}

// startEdge walks back from sub-block from, which the tone covers, to the
// sub-block where it begins, and returns the first sample of the tone.
func (d *Detector) startEdge(from int64, lo, hi int, ref float64) int64 {
	stop := max(from-2*windowSubBlocks, d.oldest())
	h := float64(d.h)
	for i := from; i >= stop; i-- {
		if f := d.amp(i, lo, hi) / ref; f < edgeFraction {
			return (i+1)*int64(d.h) - int64(math.Round(f*h))
		}
	}
	return stop * int64(d.h)
}

// endEdge walks forward from sub-block from, which the tone covers, up to
// sub-block to and returns the sample after the tone's last one.
func (d *Detector) endEdge(from, to int64, lo, hi int, ref float64) int64 {
	from = max(from, d.oldest())
	h := float64(d.h)
	for i := from; i <= to; i++ {
		if f := d.amp(i, lo, hi) / ref; f < edgeFraction {
			return i*int64(d.h) + int64(math.Round(f*h))
		}
	}
	return (to + 1) * int64(d.h)
}

// steady reports whether the candidate run up to window j holds a steady
// tone pair: the better half of its windows (the others may straddle the
// tone's start) must average at least MinToneRatio of the energy. Voiced
// speech can put two harmonics on a key's frequencies for a few windows but
// rarely leaves less than a sixth of its energy elsewhere.
func (d *Detector) steady(j int64) bool {
	var r [16]float64
	n := 0
	for i := max(d.candFirst, j-int64(len(r))+1); i <= j; i++ {
		x := d.ratio[i&(ringSize-1)]
		k := n
		for k > 0 && r[k-1] > x {
			r[k] = r[k-1]
			k--
		}
		r[k] = x
		n++
	}
	var top float64
	for _, x := range r[n/2 : n] {
		top += x
	}
	if top < d.cfg.MinToneRatio*float64(n-n/2) {
		return false
	}
	// The harmonic probes, averaged over the run: speech that passes
	// under a key trips them now and then, a voiced sound that mimics a
	// key all along.
	var h float64
	for i := max(d.candFirst, j-int64(len(r))+1); i <= j; i++ {
		h += d.harm[i&(ringSize-1)]
	}
	return h*probeBelow <= float64(n)
}

// leakInverse returns the inverse of the real matrix that maps the
// amplitudes of the tones at bins ks to their DFT values over one sub-block
// of h samples. A real tone is A·e^{jωi} + conj(A)·e^{-jωi}; with A = a+jb
// its DFT at bin k is a·(M+M') + jb·(M-M'), where M is the DFT at bin k of
// e^{jωi} and M' that of e^{-jωi}. Unknowns and equations are ordered
// (a, b) and (Re, Im) per bin; row 2t and 2t+1 of the inverse give tone t.
func leakInverse(h, rate int, ks []int) [][]float64 {
	n := 2 * len(ks)
	m := make([][]float64, n)
	inv := make([][]float64, n)
	for r := range n {
		m[r] = make([]float64, n)
		inv[r] = make([]float64, n)
		inv[r][r] = 1
	}
	for a, ka := range ks {
		for b, kb := range ks {
			wa := 2 * math.Pi * binHz(ka) / float64(rate)
			wb := 2 * math.Pi * binHz(kb) / float64(rate)
			var mp, mm complex128 // M, M'
			for i := 0; i < h; i++ {
				s1, c1 := math.Sincos((wb - wa) * float64(i))
				s2, c2 := math.Sincos(-(wb + wa) * float64(i))
				mp += complex(c1, s1)
				mm += complex(c2, s2)
			}
			ca, cb := mp+mm, complex(0, 1)*(mp-mm)
			m[2*a][2*b], m[2*a+1][2*b] = real(ca), imag(ca)
			m[2*a][2*b+1], m[2*a+1][2*b+1] = real(cb), imag(cb)
		}
	}
	// Gauss-Jordan elimination with partial pivoting.
	for c := range n {
		piv := c
		for r := c + 1; r < n; r++ {
			if math.Abs(m[r][c]) > math.Abs(m[piv][c]) {
				piv = r
			}
		}
		m[c], m[piv] = m[piv], m[c]
		inv[c], inv[piv] = inv[piv], inv[c]
		f := 1 / m[c][c]
		for k := range n {
			m[c][k] *= f
			inv[c][k] *= f
		}
		for r := range n {
			if r == c || m[r][c] == 0 {
				continue
			}
			g := m[r][c]
			for k := range n {
				m[r][k] -= g * m[c][k]
				inv[r][k] -= g * inv[c][k]
			}
		}
	}
	return inv
}

// harmonic returns the power of the strongest harmonic probe relative to
// the key tones (pair, their summed |DFT|²) in the window ending with
// sub-block j. The probes look for the other harmonics that voiced speech
// and music put around two of their harmonics that fall on a key's
// frequencies: if the tones are harmonics n and m of one fundamental F0, so
// are their difference (m-n)·F0 and 2f_lo - f_hi, 2f_hi - f_lo, while a key
// has nothing there. A clipped window (the tones' intermodulation lands
// exactly there) returns 0, and probes near a dial tone strong enough to
// reach them are left out.
func (d *Detector) harmonic(j int64, pair float64) float64 {
	fl, fh := d.freq[0], d.freq[1]
	probes := [3]float64{fh - fl, math.Abs(2*fl - fh), 2*fh - fl}
	rate := float64(d.cfg.SampleRate)
	n := 0
	for _, f := range probes {
		// A probe must be clear of the key tones' main lobes (two bins of
		// the 12.5 ms window) and, while it is on, of the dial tone.
		if f < 100 || f > rate/2-100 || math.Abs(f-fl) < probeClear || math.Abs(f-fh) < probeClear {
			continue
		}
		// Probes are kept clear of a dial tone strong enough to reach
		// them, and twice as far while it is on (it leaks further).
		gap := float64(probeClear)
		if d.dialOn {
			gap *= 2
		}
		if d.dialNear && (math.Abs(f-dialHz[0]) < gap || math.Abs(f-dialHz[1]) < gap) {
			continue
		}
		d.probe[n] = 2 * math.Cos(2*math.Pi*f/rate)
		n++
	}
	if n == 0 {
		return 0
	}
	// Three Goertzel filters in step (unused ones run on and are ignored).
	c0, c1, c2 := d.probe[0], d.probe[1], d.probe[2]
	var a1, a2, b1, b2, e1, e2 float64
	for i := range windowSubBlocks {
		for _, v := range d.raw[(j-windowSubBlocks+1+int64(i))&(ringSize-1)][:d.h] {
			if v >= clipLevel || v <= -clipLevel {
				return 0
			}
			x := float64(v)
			a1, a2 = x+c0*a1-a2, a1
			b1, b2 = x+c1*b1-b2, b1
			e1, e2 = x+c2*e1-e2, e1
		}
	}
	st := [3][2]float64{{a1, a2}, {b1, b2}, {e1, e2}}
	var worst float64
	for k := range n {
		s1, s2 := st[k][0], st[k][1]
		pw := s1*s1 + s2*s2 - d.probe[k]*s1*s2
		worst = max(worst, pw/pair)
	}
	return worst
}
