package jitter

import "time"

// DefaultFade is how long a [Concealer] takes to fade a repeated frame to
// silence.
const DefaultFade = 60 * time.Millisecond

// Concealer fills the decoded audio of lost frames: it repeats the last
// good frame with a gain falling linearly from 1 to 0 over the fade time
// (60 ms: about -3.5 dB at the end of the first 20 ms frame, -9.5 dB at
// the end of the second, silence after the third), then gives silence
// until the next good frame. A short loss is bridged without a click of
// silence, and a long one does not buzz. It works on 16-bit linear PCM
// after G.711 decoding, holds one frame, and does not allocate once it has
// seen a frame of the stream's size. Create it with [NewConcealer]; it is
// not safe for concurrent use.
type Concealer struct {
	last   []int16 // the last good frame
	pos    int     // next sample of last to repeat
	fade   int     // samples from full gain to silence
	hidden int     // samples concealed since the last good frame
}

// NewConcealer returns a Concealer for audio sampled at sampleRate Hz
// (<= 0 means 8000) that fades to silence over [DefaultFade].
func NewConcealer(sampleRate int) *Concealer {
	if sampleRate <= 0 {
		sampleRate = DefaultClockRate
	}
	return &Concealer{fade: int(int64(sampleRate) * int64(DefaultFade) / int64(time.Second))}
}

// Good records a frame that was received, to repeat if the next is lost.
// It copies pcm.
func (c *Concealer) Good(pcm []int16) {
	c.last = append(c.last[:0], pcm...)
	c.pos, c.hidden = 0, 0
}

// Conceal fills dst with the audio for a lost stretch of len(dst) samples,
// continuing the fade across consecutive calls.
func (c *Concealer) Conceal(dst []int16) {
	for i := range dst {
		if c.hidden >= c.fade || len(c.last) == 0 {
			clear(dst[i:])
			c.hidden += len(dst) - i
			return
		}
		gain := int32(c.fade - c.hidden)
		dst[i] = int16(int32(c.last[c.pos]) * gain / int32(c.fade))
		c.pos++
		if c.pos == len(c.last) {
			c.pos = 0
		}
		c.hidden++
	}
}

// Reset forgets the last good frame, for a new stream.
func (c *Concealer) Reset() {
	c.last = c.last[:0]
	c.pos, c.hidden = 0, 0
}
