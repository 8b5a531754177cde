// Package media is the media of a call: it turns the RTP the phone sends
// into 8 kHz audio (jitter buffer, loss concealment, G.711), detects keys
// in it (RFC 4733 and in-band), fans the audio out to listeners in the
// format each asked for, and every ptime mixes what speakers, playback and
// loopback queued into one G.711 packet for the phone. It never waits for a
// client: a slow listener loses chunks, the phone always gets a packet.
//
// It is about 1,100 lines: receive path, send path, listeners, speakers and the send clock share
// the call's lock and buffers.
package media

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	pionrtp "github.com/pion/rtp"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/dsp"
	"github.com/sip-phone-api/sipphone/internal/dtmf"
	"github.com/sip-phone-api/sipphone/internal/dtmf/rfc4733"
	"github.com/sip-phone-api/sipphone/internal/jitter"
	"github.com/sip-phone-api/sipphone/internal/rtp"
)

// Config describes a call's media.
type Config struct {
	Session   *rtp.Session
	Codec     string // "PCMU" or "PCMA"
	PT        uint8
	EventPT   int // telephone-event payload type, -1 when not negotiated
	PTime     time.Duration
	JitterMax time.Duration
	// Timeout ends the call when no RTP arrives for this long (0: never):
	// OnTimeout is called once, and must return at once (Close waits for
	// the goroutine that calls it).
	Timeout time.Duration
	// InbandDTMF runs the in-band DTMF detector on the phone's audio.
	InbandDTMF bool
	OnPress    func(sipphone.KeyPress)
	OnTimeout  func()
	// Clock, when set and of the call's ptime, paces sending for many calls
	// from one goroutine.
	Clock *Clock
	// ObserveCapture and ObservePlayback, when set, also receive every
	// latency sample (process-wide histograms); they must not block.
	ObserveCapture, ObservePlayback func(time.Duration)
	Logger                          *slog.Logger
}

// Call is the running media of one call.
type Call struct {
	cfg          Config
	log          *slog.Logger
	sess         *rtp.Session
	frameSamples int
	decode       func(dst []int16, src []byte) int
	encode       func(dst []byte, src []int16) int

	// mu guards listeners, speakers, loop and closed. Held by the media
	// goroutines while they fan out or mix, never across I/O.
	mu        sync.Mutex
	listeners []*Listener
	rates     []*rateGroup // one resampler per client sample rate in use
	speakers  []*Speaker
	loopOn    bool
	loop      *Speaker // the phone's own audio, when loopback is on
	closed    bool

	levelsIn, levelsOut levelCell
	captureLatency      Histogram // RTP arrival -> chunk handed to the client writer
	playLatency         Histogram // client audio into an empty queue -> sent to the phone
	concealed           atomic.Uint64

	// The receive goroutine owns the jitter buffer; it publishes a copy of
	// its statistics here when a reader asked (statsWanted) or every
	// statsEvery, not per packet.
	statsMu     sync.Mutex // guards jb
	jb          jitter.Stats
	statsWanted atomic.Bool

	clock   *Clock      // paces sending; nil when the call has its own goroutine
	stopped atomic.Bool // set by Close before the socket closes
	mix     []int16     // send scratch, used only by sendTick
	payload []byte

	stop chan struct{}
	wg   sync.WaitGroup
}

// Start runs the call's media: a goroutine reads RTP; packets are sent by
// cfg.Clock, or by a goroutine of the call's own.
func Start(cfg Config) (*Call, error) {
	if cfg.PTime <= 0 {
		cfg.PTime = 20 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Call{cfg: cfg, log: cfg.Logger, sess: cfg.Session, frameSamples: int(cfg.PTime / (time.Second / 8000)), stop: make(chan struct{})}
	switch cfg.Codec {
	case "PCMU":
		c.decode, c.encode = dsp.DecodeUlaw, dsp.EncodeUlaw
	case "PCMA":
		c.decode, c.encode = dsp.DecodeAlaw, dsp.EncodeAlaw
	default:
		return nil, errors.New("stream: codec must be PCMU or PCMA")
	}
	// Its ring is allocated when loopback is first used.
	loop, err := newSpeaker(dsp.FormatPCM16, 8000, func(string, bool) {}, 0, 3200)
	if err != nil {
		return nil, err
	}
	// Loopback is a live source: two frames of margin, at most 200 ms.
	loop.startAt, loop.maxQueue = 2*c.frameSamples, 1600
	c.loop = loop
	c.mix, c.payload = make([]int16, c.frameSamples), make([]byte, c.frameSamples)
	c.wg.Add(1)
	go c.receive()
	if k := cfg.Clock; k != nil && k.period == cfg.PTime && k.add(c) {
		c.clock = k
	} else {
		c.wg.Add(1)
		go c.send()
	}
	return c, nil
}

// Close stops the media goroutines and closes every listener. The RTP
// socket is closed too.
func (c *Call) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	c.stopped.Store(true)
	if c.clock != nil {
		c.clock.remove(c)
	}
	close(c.stop)
	c.sess.Close()
	c.wg.Wait()
	c.mu.Lock()
	for _, l := range c.listeners {
		l.close()
	}
	for _, s := range c.speakers {
		s.close()
	}
	c.listeners, c.speakers = nil, nil
	c.mu.Unlock()
}

// rateGroup converts the phone's 8 kHz audio to one client sample rate,
// once per frame for every listener at that rate.
type rateGroup struct {
	rate int
	rs   *dsp.Resampler // nil at 8000 Hz
	out  []int16        // this frame's audio at rate
	refs int
}

// AddListener attaches a listener to the phone's audio.
func (c *Call) AddListener(l *Listener) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.addListenerLocked(l)
	return true
}

func (c *Call) addListenerLocked(l *Listener) {
	c.listeners = append(c.listeners, l)
	for _, g := range c.rates {
		if g.rate == l.cfg.SampleRate {
			g.refs++
			return
		}
	}
	g := &rateGroup{rate: l.cfg.SampleRate, refs: 1, out: make([]int16, 0, maxFrameSamples*l.cfg.SampleRate/8000+64)}
	if g.rate != 8000 {
		g.rs, _ = dsp.NewResampler(8000, g.rate) // validated by NewListener
	}
	c.rates = append(c.rates, g)
}

// RemoveListener detaches l and closes its channel.
func (c *Call) RemoveListener(l *Listener) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.listeners {
		if x == l {
			c.listeners = append(c.listeners[:i:i], c.listeners[i+1:]...)
			for j, g := range c.rates {
				if g.rate == l.cfg.SampleRate {
					if g.refs--; g.refs == 0 {
						c.rates = append(c.rates[:j:j], c.rates[j+1:]...)
					}
					break
				}
			}
			break
		}
	}
	l.close()
}

// fanout hands one frame of 8 kHz phone audio to every listener, each in
// its sample rate. Called by the receive goroutine.
func (c *Call) fanout(pcm []int16, captured time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, g := range c.rates {
		if g.rs == nil {
			g.out = append(g.out[:0], pcm...)
			continue
		}
		need := g.rs.MaxOutput(len(pcm))
		if cap(g.out) < need {
			g.out = make([]int16, need)
		}
		g.out = g.out[:g.rs.Process(g.out[:need], pcm)]
	}
	for _, l := range c.listeners {
		for _, g := range c.rates {
			if g.rate == l.cfg.SampleRate {
				l.write(g.out, captured)
				break
			}
		}
	}
	if c.loopOn {
		c.loop.Push(pcm)
	}
}

// AddSpeaker mixes s into what the phone hears.
func (c *Call) AddSpeaker(s *Speaker) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	s.latency = c.observePlayback
	c.speakers = append(c.speakers, s)
	return true
}

// RemoveSpeaker stops mixing s.
func (c *Call) RemoveSpeaker(s *Speaker) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.speakers {
		if x == s {
			c.speakers = append(c.speakers[:i:i], c.speakers[i+1:]...)
			break
		}
	}
	s.close()
}

// SetLoopback turns on or off echoing the phone's audio back to it.
func (c *Call) SetLoopback(on bool) {
	c.mu.Lock()
	c.loopOn = on
	c.mu.Unlock()
	if !on {
		c.loop.Clear()
	}
}

// rx is the receive path of a call, owned by the receive goroutine: RTP
// packets in, decoded 8 kHz frames out to listeners, keys out to OnPress.
// It is separate from the goroutine so tests and benchmarks can drive it.
type rx struct {
	c           *Call
	jb          *jitter.Buffer
	conceal     *jitter.Concealer
	events      *rfc4733.Receiver
	detector    *dtmf.Detector
	pcm         []int16
	inbandStart time.Time // wall time of the detector's first sample
	eventNow    time.Time // arrival of the packet (or tick) being handled, for emitEvent
	published   time.Time // when the jitter buffer statistics were last published
	emitEvent   func(rfc4733.Event)
	emitInband  func(dtmf.Event)
}

func (c *Call) newRx() *rx {
	r := &rx{c: c, jb: jitter.New(jitter.Config{ClockRate: 8000, MaxDelay: c.cfg.JitterMax, Paced: true}),
		conceal: jitter.NewConcealer(8000), events: rfc4733.NewReceiver(8000), pcm: make([]int16, maxFrameSamples)}
	if c.cfg.InbandDTMF {
		r.detector = dtmf.NewDetector(dtmf.DefaultConfig())
	}
	// The callbacks are made once here so that handling a packet
	// allocates nothing.
	r.emitEvent = func(e rfc4733.Event) {
		if c.cfg.OnPress == nil {
			return
		}
		p := sipphone.KeyPress{Method: sipphone.MethodRFC4733, Flash: e.Flash, Begin: e.Kind == rfc4733.Start, Duration: e.Duration, Start: r.eventNow.Add(-e.Duration)}
		if !e.Flash {
			p.Digit = digitString(e.Digit)
		}
		c.cfg.OnPress(p)
	}
	r.emitInband = func(e dtmf.Event) {
		if c.cfg.OnPress == nil {
			return
		}
		c.cfg.OnPress(sipphone.KeyPress{Method: sipphone.MethodInband, Digit: digitString(e.Digit), Begin: e.Kind == dtmf.Start,
			Duration: e.Duration, Start: r.inbandStart.Add(e.Start)})
	}
	return r
}

// digitStrings avoids allocating a string per key.
var digitStrings = func() (m [256]string) {
	for _, d := range "0123456789*#ABCD" {
		m[d] = string(d)
	}
	return m
}()

func digitString(d byte) string { return digitStrings[d] }

// maxFrameSamples is the longest frame the receive path decodes or
// conceals: a 1500-byte datagram's payload, or the jitter buffer's longest
// interpolated lost frame (200 ms at 8 kHz).
const maxFrameSamples = 1600

// packet handles one RTP packet that arrived at arrival.
func (r *rx) packet(pkt *pionrtp.Packet, arrival time.Time) {
	c := r.c
	switch {
	case c.cfg.EventPT >= 0 && pkt.PayloadType == uint8(c.cfg.EventPT):
		r.eventNow = arrival
		r.events.Packet(pkt.Timestamp, pkt.Marker, pkt.Payload, arrival, r.emitEvent)
	case pkt.PayloadType == c.cfg.PT:
		r.jb.Push(pkt.SequenceNumber, pkt.Timestamp, pkt.SSRC, pkt.Payload, arrival)
		r.drain(arrival)
	}
}

// tick releases frames whose wait for a missing packet is over and ends
// key presses whose end packets were lost.
func (r *rx) tick(now time.Time) {
	r.drain(now)
	r.eventNow = now
	r.events.Tick(now, r.emitEvent)
}

// deadline is when tick must run next.
func (r *rx) deadline(now time.Time) time.Time {
	d := now.Add(idleWait)
	if jd, ok := r.jb.NextDeadline(); ok && jd.Before(d) {
		d = jd
	}
	if ed, ok := r.events.NextDeadline(); ok && ed.Before(d) {
		d = ed
	}
	return d
}

func (r *rx) drain(now time.Time) {
	c := r.c
	for {
		f, ok := r.jb.Pop(now)
		if !ok {
			break
		}
		r.frame(f, now)
	}
	if c.statsWanted.Load() || now.Sub(r.published) >= statsEvery {
		r.published = now
		c.statsWanted.Store(false)
		st := r.jb.Stats()
		c.statsMu.Lock()
		c.jb = st
		c.statsMu.Unlock()
	}
}

// statsEvery is how often the receive path publishes jitter buffer
// statistics when nobody asks.
const statsEvery = 250 * time.Millisecond

// idleWait is how long a read waits when neither the jitter buffer nor a
// key press has anything due: the RTP timeout is checked at least this
// often.
const idleWait = 500 * time.Millisecond

func (r *rx) frame(f jitter.Frame, now time.Time) {
	c := r.c
	var out []int16
	if f.Lost {
		n := c.frameSamples
		if f.Samples > 0 {
			n = f.Samples
		}
		out = r.pcm[:min(n, len(r.pcm))]
		r.conceal.Conceal(out)
		c.concealed.Add(1)
	} else {
		n := c.decode(r.pcm, f.Payload)
		out = r.pcm[:n]
		r.conceal.Good(out)
	}
	if r.detector != nil {
		if r.inbandStart.IsZero() {
			r.inbandStart = now
		}
		r.detector.Process(out, r.emitInband)
	}
	c.levelsIn.observe(out)
	captured := f.Arrival
	if captured.IsZero() {
		captured = now
	}
	c.fanout(out, captured)
}

// receive is the media goroutine for the phone's side.
func (c *Call) receive() {
	defer c.wg.Done()
	r := c.newRx()
	buf := make([]byte, 1500)
	var pkt pionrtp.Packet
	lastRTP := now()
	for {
		deadline := r.deadline(now())
		arrival, err := c.sess.Read(buf, &pkt, deadline)
		switch {
		case err == nil:
			lastRTP = arrival
			r.packet(&pkt, arrival)
		case errors.Is(err, rtp.ErrTimeout):
			{
				// Packets that came before the deadline may be waiting in
				// the socket (this goroutine runs late on a busy machine;
				// their arrival is the kernel's stamp): take them before
				// the paced buffer conceals their frames. On a clean path
				// a deadline passes only when a packet is missing, so this
				// costs one short read per concealed frame.
				for {
					t, err := c.sess.Read(buf, &pkt, now().Add(50*time.Microsecond))
					if err != nil {
						break
					}
					lastRTP = t
					r.packet(&pkt, t)
				}
				arrival = now()
			}
			r.tick(arrival)
			if c.cfg.Timeout > 0 && arrival.Sub(lastRTP) > c.cfg.Timeout {
				c.log.Warn("no RTP from the phone", "timeout", c.cfg.Timeout)
				if c.cfg.OnTimeout != nil {
					c.cfg.OnTimeout() // must not block: it leads to Close, which waits for us
				}
				<-c.stop
				return
			}
		case errors.Is(err, net.ErrClosed):
			return
		default:
			select {
			case <-c.stop:
				return
			default:
			}
			c.log.Warn("RTP read failed", "err", err)
		}
	}
}

var now = time.Now

// send is the media goroutine for the phone's ear when no shared Clock
// paces the call: one packet every ptime.
func (c *Call) send() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.PTime)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.sendTick()
		}
	}
}

// sendTick sends the phone one packet of what it should hear now. Only
// one goroutine (the call's own or its Clock's) calls it.
func (c *Call) sendTick() {
	if c.stopped.Load() {
		return
	}
	n := c.mixFrame(c.mix, c.payload)
	if err := c.sess.Send(c.cfg.PT, c.payload[:n], uint32(n)); err != nil && !c.stopped.Load() {
		c.log.Debug("RTP send failed", "err", err)
	}
}

// Clock sends the packets of every call with its period from one
// goroutine, so that many calls cost one timer wake-up per period instead
// of one each (at 500 calls, 25,000 fewer wake-ups a second).
type Clock struct {
	period time.Duration

	// mu guards calls and running; it is not held while calls send.
	mu      sync.Mutex
	calls   []*Call
	running bool

	stop chan struct{}
	wg   sync.WaitGroup
}

// NewClock returns a clock ticking every period. It starts its goroutine
// with the first call and stops at Close.
func NewClock(period time.Duration) *Clock {
	return &Clock{period: period, stop: make(chan struct{})}
}

func (k *Clock) add(c *Call) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	select {
	case <-k.stop:
		return false
	default:
	}
	k.calls = append(k.calls, c)
	if !k.running {
		k.running = true
		k.wg.Add(1)
		go k.run()
	}
	return true
}

func (k *Clock) remove(c *Call) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for i, x := range k.calls {
		if x == c {
			k.calls = append(k.calls[:i:i], k.calls[i+1:]...)
			return
		}
	}
}

func (k *Clock) run() {
	defer k.wg.Done()
	t := time.NewTicker(k.period)
	defer t.Stop()
	var batch []*Call
	for {
		select {
		case <-k.stop:
			return
		case <-t.C:
		}
		k.mu.Lock()
		batch = append(batch[:0], k.calls...)
		k.mu.Unlock()
		for _, c := range batch {
			c.sendTick()
		}
		clear(batch) // do not keep ended calls alive
	}
}

// Close stops the clock; calls still on it stop sending.
func (k *Clock) Close() {
	k.mu.Lock()
	select {
	case <-k.stop:
	default:
		close(k.stop)
	}
	k.mu.Unlock()
	k.wg.Wait()
}

// mixFrame mixes one frame of what the phone should hear into mix and
// encodes it into payload, returning the payload length.
func (c *Call) mixFrame(mix []int16, payload []byte) int {
	clear(mix)
	c.mu.Lock()
	for _, s := range c.speakers {
		s.take(mix)
	}
	if c.loopOn {
		c.loop.take(mix)
	}
	c.mu.Unlock()
	c.levelsOut.observe(mix)
	return c.encode(payload, mix)
}

// levelCell keeps the level of the last frame and the peak over about
// the last second, so that any number of readers see the same values.
type levelCell struct {
	mu        sync.Mutex // guards rms, peak, peakAt, seen
	rms, peak float64
	peakAt    time.Time
	seen      bool
}

func (l *levelCell) observe(pcm []int16) {
	r, p := dsp.Level(pcm)
	now := now()
	l.mu.Lock()
	if !l.seen || p >= l.peak || now.Sub(l.peakAt) > time.Second {
		l.peak, l.peakAt = p, now
	}
	l.rms, l.seen = r, true
	l.mu.Unlock()
}

func (l *levelCell) read() sipphone.Level {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.seen {
		return sipphone.Level{RMS: dsp.LevelFloor, Peak: dsp.LevelFloor}
	}
	return sipphone.Level{RMS: l.rms, Peak: l.peak}
}

// Stats returns the call's media statistics. Levels are the RMS of the
// last frame and the peak over about the last second.
func (c *Call) Stats() sipphone.MediaStats {
	c.mu.Lock()
	nl, ns, loop := len(c.listeners), len(c.speakers), c.loopOn
	c.mu.Unlock()
	c.statsWanted.Store(true) // the next packet publishes fresh figures
	c.statsMu.Lock()
	jb := c.jb
	c.statsMu.Unlock()
	rs := c.sess.Stats()
	rs.Duplicates, rs.JitterMS = jb.Duplicates, float64(jb.Jitter)/float64(time.Millisecond)
	return sipphone.MediaStats{RTP: rs, Jitter: jitterStats(jb), Concealed: c.concealed.Load(),
		LevelIn: c.levelsIn.read(), LevelOut: c.levelsOut.read(),
		CaptureLatency: c.captureLatency.Snapshot(), PlaybackLatency: c.playLatency.Snapshot(),
		Listeners: nl, Speakers: ns, Loopback: loop}
}

// ObserveCapture records the latency of a chunk the client writer sent.
func (c *Call) ObserveCapture(d time.Duration) {
	c.captureLatency.Observe(d)
	if c.cfg.ObserveCapture != nil {
		c.cfg.ObserveCapture(d)
	}
}

func (c *Call) observePlayback(d time.Duration) {
	c.playLatency.Observe(d)
	if c.cfg.ObservePlayback != nil {
		c.cfg.ObservePlayback(d)
	}
}

func jitterStats(s jitter.Stats) sipphone.JitterStats {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return sipphone.JitterStats{Received: s.Received, Duplicates: s.Duplicates, Late: s.Late, Lost: s.Lost, Reordered: s.Reordered,
		TargetMS: ms(s.Target), JitterMS: ms(s.Jitter), BufferedMS: ms(s.Buffered)}
}
