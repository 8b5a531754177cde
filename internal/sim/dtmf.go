package sim

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"time"
)

// DTMFMethod is how a line sends keys, like the HT802's per-port DTMF setting.
type DTMFMethod string

// The three ways the HT802 sends keys.
const (
	// DTMFRFC2833 sends RTP telephone-events (RFC 4733, formerly RFC 2833).
	DTMFRFC2833 DTMFMethod = "rfc2833"
	// DTMFInfo sends SIP INFO requests with an application/dtmf-relay body.
	DTMFInfo DTMFMethod = "info"
	// DTMFInband mixes the DTMF tone pair into the G.711 audio.
	DTMFInband DTMFMethod = "inband"
)

// RFC 4733 section 3.2 event codes beyond the digits.
const (
	eventStar  uint8 = 10
	eventPound uint8 = 11
	eventA     uint8 = 12
	eventFlash uint8 = 16
)

// rfc4733Volume is the power level of sent events: -10 dBm0 as the tones.
const rfc4733Volume = 10

// eventUpdateTicks is the interval between RFC 4733 updates in sender ticks
// (50 ms).
const eventUpdateTicks = 5

// inbandLevel is the level of each tone of an in-audio DTMF pair, in dBm0.
const inbandLevel = -10.0

// key is one key press: its RFC 4733 event code and its tone pair.
type key struct {
	char  byte
	event uint8
	low   float64 // row frequency in Hz
	high  float64 // column frequency in Hz
}

// isFlash reports whether the key is a hook flash rather than a digit.
func (k key) isFlash() bool { return k.event == eventFlash }

// dtmfRows and dtmfCols are the keypad frequencies (ITU-T Q.23).
var (
	dtmfRows = [4]float64{697, 770, 852, 941}
	dtmfCols = [4]float64{1209, 1336, 1477, 1633}
	keypad   = [4]string{"123A", "456B", "789C", "*0#D"}
)

// parseKeys turns a string of keys into key presses. 'F' and '!' are hook
// flashes; spaces and commas are ignored.
func parseKeys(s string) ([]key, error) {
	keys := make([]key, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case ' ', ',':
			continue
		case 'F', 'f', '!':
			keys = append(keys, key{char: '!', event: eventFlash})
			continue
		}
		k, ok := keyFor(c)
		if !ok {
			return nil, fmt.Errorf("invalid key %q in %q", c, s)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// keyFor returns the key press of a keypad character.
func keyFor(c byte) (key, bool) {
	if c >= 'a' && c <= 'd' {
		c -= 'a' - 'A'
	}
	for r, row := range keypad {
		if col := strings.IndexByte(row, c); col >= 0 {
			k := key{char: c, low: dtmfRows[r], high: dtmfCols[col]}
			switch {
			case c >= '0' && c <= '9':
				k.event = c - '0'
			case c == '*':
				k.event = eventStar
			case c == '#':
				k.event = eventPound
			default:
				k.event = eventA + (c - 'A')
			}
			return k, true
		}
	}
	return key{}, false
}

// eventChar returns the keypad character of an RFC 4733 event code.
func eventChar(ev uint8) byte {
	switch {
	case ev <= 9:
		return '0' + ev
	case ev == eventStar:
		return '*'
	case ev == eventPound:
		return '#'
	case ev >= eventA && ev <= eventA+3:
		return 'A' + (ev - eventA)
	case ev == eventFlash:
		return '!'
	}
	return '?'
}

// putEvent writes an RFC 4733 telephone-event payload (section 2.3):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     event     |E|R| volume    |          duration             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
func putEvent(dst []byte, event uint8, end bool, duration uint16) {
	dst[0] = event
	dst[1] = rfc4733Volume
	if end {
		dst[1] |= 0x80
	}
	binary.BigEndian.PutUint16(dst[2:4], duration)
}

// dBm0Peak returns the peak amplitude of a sine at level dBm0 in 16-bit
// linear PCM: a 0 dBm0 sine peaks 3.17 dB below full scale (ITU-T G.711).
func dBm0Peak(dBm0 float64) float64 {
	return 32768 * math.Pow(10, (dBm0-3.17)/20)
}

// oscillator is a sine generator at 8 kHz that keeps its phase across frames.
type oscillator struct {
	step  float64 // phase increment per sample, radians
	amp   float64 // peak amplitude
	phase float64
}

func newOscillator(freq, dBm0 float64) oscillator {
	if freq <= 0 {
		return oscillator{}
	}
	return oscillator{step: 2 * math.Pi * freq / sampleRate, amp: dBm0Peak(dBm0)}
}

// next returns the next sample.
func (o *oscillator) next() float64 {
	if o.amp == 0 {
		return 0
	}
	v := o.amp * math.Sin(o.phase)
	o.phase += o.step
	if o.phase >= 2*math.Pi {
		o.phase -= 2 * math.Pi
	}
	return v
}

// clip16 rounds and saturates a sample to 16 bits.
func clip16(v float64) int16 {
	switch {
	case v >= math.MaxInt16:
		return math.MaxInt16
	case v <= math.MinInt16:
		return math.MinInt16
	}
	return int16(math.Round(v))
}

// inbandDTMF mixes key tone pairs into audio frames, sample exact: each key
// sounds for its duration, then the gap follows before the next key.
// It is owned by the media sender goroutine.
type inbandDTMF struct {
	job       *keyJob
	idx       int // next key of job
	toneLeft  int // samples of the current tone still to play
	gapLeft   int // samples of silence before the next key may start
	low, high oscillator
}

// mix adds the pending tones to frame. It reports a job that has just played
// its last key, so the caller can signal its completion.
func (g *inbandDTMF) mix(frame []int16) (finished *keyJob) {
	for i := range frame {
		if g.toneLeft == 0 {
			if g.gapLeft > 0 {
				g.gapLeft--
				continue
			}
			if g.job == nil || g.idx >= len(g.job.keys) {
				continue
			}
			k := g.job.keys[g.idx]
			g.idx++
			g.low = newOscillator(k.low, inbandLevel)
			g.high = newOscillator(k.high, inbandLevel)
			g.toneLeft = samplesOf(g.job.duration)
			g.gapLeft = samplesOf(g.job.gap)
		}
		frame[i] = clip16(float64(frame[i]) + g.low.next() + g.high.next())
		g.toneLeft--
		if g.toneLeft == 0 && g.idx >= len(g.job.keys) {
			finished = g.job
			g.job, g.idx = nil, 0
		}
	}
	return finished
}

// busy reports whether a job is still being played.
func (g *inbandDTMF) busy() bool { return g.job != nil }

// samplesOf converts a duration to a count of 8 kHz samples, at least one.
func samplesOf(d time.Duration) int {
	n := int(d * sampleRate / time.Second)
	return max(n, 1)
}

// keyJob is a request to the media sender to send keys in the RTP stream.
type keyJob struct {
	keys     []key
	inband   bool // tones in the audio rather than telephone-events
	duration time.Duration
	gap      time.Duration
	done     chan struct{} // closed when the last key has been sent
}

// infoBody returns the SIP INFO content type and body the HT802 sends for a
// key: application/dtmf-relay, or application/hook-flash for a flash.
func infoBody(k key, duration time.Duration) (contentType, body string) {
	if k.isFlash() {
		return "application/hook-flash", "signal=hf\r\n"
	}
	return "application/dtmf-relay", fmt.Sprintf("Signal=%c\r\nDuration=%d\r\n", k.char, duration.Milliseconds())
}
