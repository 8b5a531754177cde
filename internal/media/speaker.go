package media

import (
	"errors"
	"sync"
	"time"

	"github.com/sip-phone-api/sipphone/internal/dsp"
)

// Speaker queues a client's audio for the phone. The client writes bytes
// in its format and rate, of any length; they are converted to 8 kHz and
// queued (bounded); the media send loop takes one frame every ptime, so
// audio sent faster than real time plays at real time without gaps.
// Marks are reported back when the audio before them has been played.
type Speaker struct {
	format dsp.Format
	rate   int
	rs     *dsp.Resampler // nil at 8000 Hz
	onMark func(name string, cleared bool)

	// mu guards every field below; it is never held across I/O.
	mu       sync.Mutex
	ring     []int16 // queued 8 kHz audio
	head     int     // read index
	size     int     // queued samples
	written  uint64  // samples ever queued
	played   uint64  // samples ever taken
	marks    []mark
	carry    []byte  // a partial sample left over from the last write
	decoded  []int16 // scratch: client samples
	rsOut    []int16 // scratch: resampled
	enqueued time.Time
	waiting  bool // enqueued marks the first write into an empty queue
	latency  func(time.Duration)
	closed   bool

	// For a live source (loopback): playback starts only once startAt
	// samples are queued, so packets arriving around the send tick do not
	// make gaps, and at most maxQueue samples are kept (the oldest are
	// dropped), so latency cannot grow. Zero for client speakers.
	startAt, maxQueue int
	playing           bool
	limit             int // the queue's largest size, in samples
}

type mark struct {
	pos  uint64 // played count at which the mark is reached
	name string
}

// ErrQueueFull: the client sent more than the queue holds; the excess was dropped.
var ErrQueueFull = errors.New("audio queue full: the excess was dropped; send at most about real time ahead")

// DefaultQueue is the speaker queue length: 120 s of 8 kHz audio.
const DefaultQueue = 120 * 8000

// NewSpeaker returns a speaker for audio in format at rate. onMark is
// called (from the media goroutine, or from Clear) when a mark is reached.
func NewSpeaker(format dsp.Format, rate int, onMark func(name string, cleared bool)) (*Speaker, error) {
	return newSpeaker(format, rate, onMark, 8000, DefaultQueue)
}

// newSpeaker starts with a queue of initial samples that grows, doubling,
// up to limit as a client gets ahead of real time.
func newSpeaker(format dsp.Format, rate int, onMark func(name string, cleared bool), initial, limit int) (*Speaker, error) {
	s := &Speaker{format: format, rate: rate, onMark: onMark, ring: make([]int16, initial), limit: limit}
	if rate != 8000 {
		rs, err := dsp.NewResampler(rate, 8000)
		if err != nil {
			return nil, err
		}
		s.rs = rs
	}
	return s, nil
}

// Write queues audio bytes. It returns ErrQueueFull when some were dropped.
func (s *Speaker) Write(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	bps := s.format.BytesPerSample()
	if len(s.carry) > 0 {
		need := bps - len(s.carry)
		if len(b) < need {
			s.carry = append(s.carry, b...)
			return nil
		}
		s.carry = append(s.carry, b[:need]...)
		b = b[need:]
		var one [1]int16
		dsp.DecodeFrame(one[:], s.format, s.carry)
		s.carry = s.carry[:0]
		if err := s.queue(one[:]); err != nil {
			return err
		}
	}
	whole := len(b) / bps * bps
	s.carry = append(s.carry, b[whole:]...)
	b = b[:whole]
	n := len(b) / bps
	if cap(s.decoded) < n {
		s.decoded = make([]int16, n)
	}
	dsp.DecodeFrame(s.decoded[:n], s.format, b)
	return s.queue(s.decoded[:n])
}

// queue converts samples at the client's rate to 8 kHz and appends them.
func (s *Speaker) queue(pcm []int16) error {
	if s.rs != nil {
		need := s.rs.MaxOutput(len(pcm))
		if cap(s.rsOut) < need {
			s.rsOut = make([]int16, need)
		}
		n := s.rs.Process(s.rsOut[:need], pcm)
		pcm = s.rsOut[:n]
	}
	if len(pcm) == 0 {
		return nil
	}
	if s.size == 0 && !s.waiting {
		s.enqueued, s.waiting = time.Now(), true
	}
	if s.maxQueue > 0 && s.size > 0 && s.size+len(pcm) > s.maxQueue {
		drop := min(s.size, s.size+len(pcm)-s.maxQueue)
		s.head = (s.head + drop) % len(s.ring)
		s.size -= drop
		s.played += uint64(drop)
	}
	if need := s.size + len(pcm); need > len(s.ring) && len(s.ring) < s.limit {
		s.grow(min(max(need, 2*len(s.ring)), s.limit))
	}
	free := len(s.ring) - s.size
	dropped := len(pcm) > free
	if dropped {
		pcm = pcm[:free]
	}
	tail := (s.head + s.size) % len(s.ring)
	n := copy(s.ring[tail:], pcm)
	copy(s.ring, pcm[n:])
	s.size += len(pcm)
	s.written += uint64(len(pcm))
	if dropped {
		return ErrQueueFull
	}
	return nil
}

// grow moves the queued audio into a larger ring (only while a client is
// ahead of real time; not in steady state).
func (s *Speaker) grow(n int) {
	ring := make([]int16, n)
	first := min(s.size, len(s.ring)-s.head)
	copy(ring, s.ring[s.head:s.head+first])
	copy(ring[first:], s.ring[:s.size-first])
	s.ring, s.head = ring, 0
}

// Push queues 8 kHz samples; excess beyond the queue is dropped.
func (s *Speaker) Push(pcm []int16) {
	s.mu.Lock()
	s.queue(pcm)
	s.mu.Unlock()
}

// Mark asks to be told when the audio queued so far has been played.
func (s *Speaker) Mark(name string) {
	s.mu.Lock()
	if s.size == 0 {
		s.mu.Unlock()
		s.onMark(name, false)
		return
	}
	s.marks = append(s.marks, mark{pos: s.written, name: name})
	s.mu.Unlock()
}

// Clear drops the queued audio at once (barge-in). Pending marks are
// reported with cleared=true.
func (s *Speaker) Clear() {
	s.mu.Lock()
	s.head, s.size, s.waiting = 0, 0, false
	s.played = s.written
	marks := s.marks
	s.marks = nil
	s.carry = s.carry[:0]
	if s.rs != nil {
		s.rs.Reset()
	}
	s.mu.Unlock()
	for _, m := range marks {
		s.onMark(m.name, true)
	}
}

// Queued returns the audio waiting to be played.
func (s *Speaker) Queued() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Duration(s.size) * time.Second / 8000
}

// take mixes up to len(dst) queued samples into dst and reports whether
// the speaker had audio. Called by the media send loop.
func (s *Speaker) take(dst []int16) bool {
	s.mu.Lock()
	if !s.playing && s.size < s.startAt {
		s.mu.Unlock()
		return false
	}
	n := min(len(dst), s.size)
	if n == 0 {
		s.playing = false
		s.mu.Unlock()
		return false
	}
	s.playing = true
	first := min(n, len(s.ring)-s.head)
	dsp.Mix(dst[:first], s.ring[s.head:s.head+first])
	dsp.Mix(dst[first:n], s.ring[:n-first])
	s.head = (s.head + n) % len(s.ring)
	s.size -= n
	s.played += uint64(n)
	var lat time.Duration
	if s.waiting {
		lat, s.waiting = time.Since(s.enqueued), false
	}
	var reached []mark
	for len(s.marks) > 0 && s.marks[0].pos <= s.played {
		reached = append(reached, s.marks[0])
		s.marks = s.marks[1:]
	}
	latency := s.latency
	s.mu.Unlock()
	if lat > 0 && latency != nil {
		latency(lat)
	}
	for _, m := range reached {
		s.onMark(m.name, false)
	}
	return true
}

func (s *Speaker) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}
