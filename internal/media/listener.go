package media

import (
	"sync/atomic"
	"time"

	"github.com/sip-phone-api/sipphone/internal/dsp"
)

// Chunk is one piece of phone audio in a listener's format, ready to send
// as one WebSocket binary frame. Return it with Listener.Release after
// sending so its buffer is reused.
type Chunk struct {
	Data []byte
	// Captured is when the earliest RTP packet whose audio is in the chunk
	// arrived: the start of the server's added latency.
	Captured time.Time
	buf      []byte
}

// ListenerConfig chooses the format of a listener's audio.
type ListenerConfig struct {
	Format     dsp.Format
	SampleRate int
	FrameMS    int // chunk length, 10-1000 ms
	// Queue is how many chunks may wait for the client before new ones are
	// dropped (default: one second's worth, at least 4).
	Queue int
}

// Listener receives the phone's audio converted to its format and sample
// rate, in chunks of FrameMS. The media goroutine fills it; the client's
// writer drains C. A client that falls behind loses chunks (counted in
// Dropped); it never delays the phone or other listeners.
type Listener struct {
	cfg       ListenerConfig
	pending   []int16   // audio at cfg.SampleRate not yet a full chunk
	chunkLen  int       // samples per chunk
	captured  time.Time // arrival of the first packet in pending
	free      chan *Chunk
	out       chan *Chunk
	chunks    int // chunk buffers made so far, at most cfg.Queue
	chunkSize int // bytes per chunk
	closed    atomic.Bool
	dropped   atomic.Uint64
	delivered atomic.Uint64
}

// NewListener makes a listener. Chunk buffers are made as the queue first
// needs them (a client that keeps up uses two or three), up to Queue, and
// are reused from then on.
func NewListener(cfg ListenerConfig) (*Listener, error) {
	if _, err := dsp.NewResampler(8000, cfg.SampleRate); err != nil {
		return nil, err
	}
	chunkLen := cfg.SampleRate * cfg.FrameMS / 1000
	if cfg.Queue <= 0 {
		cfg.Queue = max(4, 1000/cfg.FrameMS)
	}
	l := &Listener{
		cfg:      cfg,
		pending:  make([]int16, 0, chunkLen+maxFrameSamples*cfg.SampleRate/8000+64), // a chunk plus the longest frame
		chunkLen: chunkLen,
		free:     make(chan *Chunk, cfg.Queue),
		out:      make(chan *Chunk, cfg.Queue),
	}
	l.chunkSize = chunkLen * cfg.Format.BytesPerSample()
	return l, nil
}

// C delivers chunks. It is closed when the listener is closed.
func (l *Listener) C() <-chan *Chunk { return l.out }

// Release returns a sent chunk's buffer.
func (l *Listener) Release(c *Chunk) {
	select {
	case l.free <- c:
	default:
	}
}

// Dropped returns how many chunks were dropped because the client was slow.
func (l *Listener) Dropped() uint64 { return l.dropped.Load() }

// Delivered returns how many chunks were queued for the client.
func (l *Listener) Delivered() uint64 { return l.delivered.Load() }

// write takes one frame of phone audio, already at the listener's sample
// rate, that started arriving at captured. Called only by the media
// goroutine (resampling is shared by all listeners of a rate: see Call).
func (l *Listener) write(pcm []int16, captured time.Time) {
	if l.closed.Load() {
		return
	}
	if len(l.pending) == 0 {
		l.captured = captured
	}
	l.pending = append(l.pending, pcm...)
	for len(l.pending) >= l.chunkLen {
		l.emit(l.pending[:l.chunkLen])
		rest := copy(l.pending, l.pending[l.chunkLen:])
		l.pending = l.pending[:rest]
		l.captured = captured
	}
}

func (l *Listener) emit(samples []int16) {
	var c *Chunk
	select {
	case c = <-l.free:
	default:
		if l.chunks == l.cfg.Queue {
			l.dropped.Add(1) // every buffer is waiting for a slow client
			return
		}
		l.chunks++
		c = &Chunk{buf: make([]byte, l.chunkSize)}
	}
	n := dsp.EncodeFrame(c.buf, l.cfg.Format, samples)
	c.Data = c.buf[:n]
	c.Captured = l.captured
	select {
	case l.out <- c:
		l.delivered.Add(1)
	default:
		l.dropped.Add(1)
		l.Release(c)
	}
}

// close ends the listener; C is closed. Called by the media goroutine's
// owner once the listener is no longer in the fan-out.
func (l *Listener) close() {
	if l.closed.CompareAndSwap(false, true) {
		close(l.out)
	}
}
