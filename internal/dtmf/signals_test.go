package dtmf

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/zaf/g711"
)

// Test signal generators. Everything is built in float64 at 8 kHz, then
// clipped to 16 bits and passed through a G.711 mu-law encode and decode,
// as on the real media path.

const testRate = 8000

// allKeys is the sixteen keys in keypad order.
const allKeys = "123A456B789C*0#D"

// dbm0Peak returns the peak of a sine at level dBm0: 0 dBm0 has a peak of
// 32768·10^(-3.17/20) (the mu-law digital milliwatt of G.711).
func dbm0Peak(level float64) float64 {
	return 32768 * math.Pow(10, (level-3.17)/20)
}

// keyTones returns the low- and high-group frequencies of key.
func keyTones(key byte) (lo, hi float64) {
	for i, k := range []byte(allKeys) {
		if k == key {
			return toneHz[i/4], toneHz[4+i%4]
		}
	}
	panic("unknown key " + string(key))
}

// mark records where a key was placed in a signal.
type mark struct {
	key        byte
	start, dur time.Duration
}

// signal is a float64 8 kHz signal under construction.
type signal struct {
	x     []float64
	marks []mark
	rng   *rand.Rand
}

func newSignal(seed uint64) *signal {
	return &signal{rng: rand.New(rand.NewPCG(seed, 0x5eed))}
}

func samplesOf(d time.Duration) int { return int(d * testRate / time.Second) }

func (s *signal) now() time.Duration {
	return time.Duration(len(s.x)) * time.Second / testRate
}

// silence appends d of digital silence.
func (s *signal) silence(d time.Duration) *signal {
	s.x = append(s.x, make([]float64, samplesOf(d))...)
	return s
}

// tone describes one key press to append.
type tone struct {
	key            byte
	dur            time.Duration
	loDB, hiDB     float64 // level of each tone, dBm0
	loOff, hiOff   float64 // relative frequency error, e.g. 0.015
	dropAt, dropMs float64 // a gap of dropMs starting dropAt ms into the tone
}

// press appends one tone pair with random starting phases.
func (s *signal) press(t tone) *signal {
	lo, hi := keyTones(t.key)
	lo *= 1 + t.loOff
	hi *= 1 + t.hiOff
	al, ah := dbm0Peak(t.loDB), dbm0Peak(t.hiDB)
	pl, ph := s.rng.Float64()*2*math.Pi, s.rng.Float64()*2*math.Pi
	n := samplesOf(t.dur)
	d0 := int(t.dropAt * testRate / 1000)
	d1 := d0 + int(t.dropMs*testRate/1000)
	s.marks = append(s.marks, mark{key: t.key, start: s.now(), dur: t.dur})
	for i := range n {
		v := 0.0
		if t.dropMs == 0 || i < d0 || i >= d1 {
			ti := float64(i) / testRate
			v = al*math.Sin(2*math.Pi*lo*ti+pl) + ah*math.Sin(2*math.Pi*hi*ti+ph)
		}
		s.x = append(s.x, v)
	}
	return s
}

// keys appends each key of ks as a press of t (t.key is ignored), each
// followed by gap.
func (s *signal) keys(ks string, t tone, gap time.Duration) *signal {
	for i := range len(ks) {
		t.key = ks[i]
		s.press(t).silence(gap)
	}
	return s
}

// sines adds a steady tone of the given frequency and level over the whole
// signal built so far (for dial tone and other call-progress tones).
func (s *signal) sines(level float64, hz ...float64) *signal {
	a := dbm0Peak(level)
	for _, f := range hz {
		p := s.rng.Float64() * 2 * math.Pi
		for i := range s.x {
			s.x[i] += a * math.Sin(2*math.Pi*f*float64(i)/testRate+p)
		}
	}
	return s
}

// noise adds white Gaussian noise of the given mean power (in linear
// 16-bit units squared) over the whole signal; at 8 kHz white noise fills
// exactly the 0-4 kHz band.
func (s *signal) noise(power float64) *signal {
	sd := math.Sqrt(power)
	for i := range s.x {
		s.x[i] += sd * s.rng.NormFloat64()
	}
	return s
}

// noiseSNR adds white noise snrDB below the total power of a key press with
// tones at loDB and hiDB dBm0: SNR = (P_low + P_high) / P_noise, with the
// noise power measured over the full 0-4 kHz band.
func (s *signal) noiseSNR(loDB, hiDB, snrDB float64) *signal {
	pl, ph := dbm0Peak(loDB), dbm0Peak(hiDB)
	p := (pl*pl + ph*ph) / 2
	return s.noise(p / math.Pow(10, snrDB/10))
}

// g711 clips the signal to 16 bits and returns it after a mu-law round
// trip.
func (s *signal) g711() []int16 {
	out := make([]int16, len(s.x))
	for i, v := range s.x {
		out[i] = ulawRoundTrip(v)
	}
	return out
}

// ulawRoundTrip clips v to 16 bits and passes it through mu-law.
func ulawRoundTrip(v float64) int16 {
	v = math.Round(v)
	v = max(-32768, min(32767, v))
	return g711.DecodeUlawFrame(g711.EncodeUlawFrame(int16(v)))
}

func sin2pi(x float64) float64 { return math.Sin(2 * math.Pi * x) }
