package bot

import (
	"encoding/binary"
	"math"
	"time"
)

// Tone is the short tone the phone hears when the bot fails.
type Tone struct {
	Frequency float64       // Hz; default 480
	Duration  time.Duration // 0 plays none
	Level     float64       // dBFS; default -16
}

// render returns the tone in format f (ulaw at 8 kHz, or pcm16 at f.Rate),
// with 5 ms ramps so it does not click.
func (t Tone) render(f Format) []byte {
	n := int(t.Duration.Seconds() * float64(f.Rate))
	if n <= 0 || t.Frequency <= 0 {
		return nil
	}
	amp := 32767 * math.Pow(10, t.Level/20)
	ramp := f.Rate / 200
	var out []byte
	if f.Encoding == "ulaw" {
		out = make([]byte, n)
	} else {
		out = make([]byte, 2*n)
	}
	for i := 0; i < n; i++ {
		g := 1.0
		if i < ramp {
			g = float64(i) / float64(ramp)
		} else if n-i < ramp {
			g = float64(n-i) / float64(ramp)
		}
		v := int16(amp * g * math.Sin(2*math.Pi*t.Frequency*float64(i)/float64(f.Rate)))
		if f.Encoding == "ulaw" {
			out[i] = linearToUlaw(v)
		} else {
			binary.LittleEndian.PutUint16(out[2*i:], uint16(v))
		}
	}
	return out
}

// linearToUlaw is the G.711 mu-law encoder (ITU-T G.711, bias 0x84, clip
// 32635).
func linearToUlaw(s int16) byte {
	const bias, clip = 0x84, 32635
	v := int(s)
	sign := 0
	if v < 0 {
		v, sign = -v, 0x80
	}
	if v > clip {
		v = clip
	}
	v += bias
	exp := 7
	for mask := 0x4000; v&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (v >> (exp + 3)) & 0x0f
	return ^byte(sign | exp<<4 | mant)
}
