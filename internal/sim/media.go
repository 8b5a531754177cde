package sim

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/zaf/g711"
)

// Media constants of the adapter's G.711 streams.
const (
	sampleRate   = 8000
	frameSamples = 160                   // 20 ms at 8 kHz (ptime 20)
	tick         = 10 * time.Millisecond // sender clock: audio every 2 ticks, RFC 4733 updates every 5
	tickSamples  = sampleRate / 100      // timestamp units per tick
	rxKeep       = 60 * sampleRate       // received audio kept per line: the last 60 s
	maxPacket    = 1500
	maxDigits    = 256 // received RFC 4733 keys remembered per call
	lateTicks    = 20  // a sender this far behind skips ahead instead of bursting
)

// source is a line's outgoing audio: silence, a steady tone, or samples
// followed by silence. mu guards all fields; the media sender reads it every
// 20 ms while API calls replace it.
type source struct {
	mu      sync.Mutex
	osc     oscillator
	samples []int16
	pos     int
}

// setTone replaces the audio by a sine (freq 0 = silence).
func (s *source) setTone(freq, dBm0 float64) {
	s.mu.Lock()
	s.osc = newOscillator(freq, dBm0)
	s.samples, s.pos = nil, 0
	s.mu.Unlock()
}

// setSamples replaces the audio by pcm, then silence. pcm is copied.
func (s *source) setSamples(pcm []int16) {
	c := slices.Clone(pcm)
	s.mu.Lock()
	s.osc = oscillator{}
	s.samples, s.pos = c, 0
	s.mu.Unlock()
}

// fill writes the next len(dst) samples of the source.
func (s *source) fill(dst []int16) {
	s.mu.Lock()
	n := copy(dst, s.samples[s.pos:])
	s.pos += n
	for i := n; i < len(dst); i++ {
		dst[i] = clip16(s.osc.next())
	}
	s.mu.Unlock()
}

// RxStats summarises the RTP a line received (and sent) in its current or
// last call.
type RxStats struct {
	Packets         int     // RTP packets received
	AudioPackets    int     // of them PCMU or PCMA
	EventPackets    int     // of them telephone-events
	PayloadTypes    []uint8 // distinct payload types received, ascending
	LastPayloadType int     // payload type of the last packet, -1 before any
	SSRC            uint32  // SSRC of the last packet
	Samples         int     // decoded samples received (also those no longer kept)
	Digits          string  // keys received as RFC 4733 events, one per event
	Sent            int     // RTP packets sent
	Codec           string  // negotiated codec, "PCMU" or "PCMA"
	LocalRTP        string  // local RTP address
	RemoteRTP       string  // address RTP is sent to
}

// rxRecord keeps what a line received in its current or last call.
// mu guards all fields.
type rxRecord struct {
	mu       sync.Mutex
	ring     []int16 // last rxKeep samples, allocated on first use
	w        int     // next write position in ring
	kept     int     // valid samples in ring
	total    int
	packets  int
	audio    int
	events   int
	seen     [128]bool
	lastPT   int
	ssrc     uint32
	lastEnd  uint32 // timestamp of the last ended event
	endValid bool
	digits   []byte
	tePT     int // negotiated telephone-event type, -1 none
	sent     *atomic.Int64
	codec    string
	local    string
	remote   string
}

// reset starts the record of a new call.
func (r *rxRecord) reset(tePT int, codec, local, remote string, sent *atomic.Int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ring == nil {
		r.ring = make([]int16, rxKeep)
	}
	r.w, r.kept, r.total, r.packets, r.audio, r.events = 0, 0, 0, 0, 0, 0
	r.seen = [128]bool{}
	r.lastPT, r.ssrc, r.endValid = -1, 0, false
	if r.digits == nil {
		r.digits = make([]byte, 0, maxDigits)
	}
	r.digits = r.digits[:0]
	r.tePT, r.codec, r.local, r.remote, r.sent = tePT, codec, local, remote, sent
}

// setRemote records a changed RTP destination.
func (r *rxRecord) setRemote(remote string) {
	r.mu.Lock()
	r.remote = remote
	r.mu.Unlock()
}

// handle accounts for one received packet and decodes its audio. It does not
// allocate: the hot path of the receiver.
func (r *rxRecord) handle(p *rtp.Packet) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pt := p.PayloadType
	r.packets++
	r.seen[pt&0x7f] = true
	r.lastPT = int(pt)
	r.ssrc = p.SSRC
	switch {
	case pt == ptPCMU || pt == ptPCMA:
		r.audio++
		if r.ring == nil {
			return
		}
		for _, b := range p.Payload {
			var v int16
			if pt == ptPCMU {
				v = g711.DecodeUlawFrame(b)
			} else {
				v = g711.DecodeAlawFrame(b)
			}
			r.ring[r.w] = v
			r.w++
			if r.w == len(r.ring) {
				r.w = 0
			}
		}
		r.total += len(p.Payload)
		r.kept = min(r.kept+len(p.Payload), len(r.ring))
	case int(pt) == r.tePT && len(p.Payload) >= 4:
		r.events++
		end := p.Payload[1]&0x80 != 0
		// The end packet is repeated (RFC 4733 section 2.5.1.4): a key
		// press is identified by its timestamp.
		if end && (!r.endValid || r.lastEnd != p.Timestamp) {
			r.lastEnd, r.endValid = p.Timestamp, true
			if len(r.digits) < cap(r.digits) {
				r.digits = append(r.digits, eventChar(p.Payload[0]))
			}
		}
	}
}

// samples returns a copy of the kept audio, oldest first.
func (r *rxRecord) samples() []int16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]int16, r.kept)
	start := r.w - r.kept
	if start < 0 {
		n := copy(out, r.ring[len(r.ring)+start:])
		copy(out[n:], r.ring[:r.w])
		return out
	}
	copy(out, r.ring[start:r.w])
	return out
}

// stats returns the summary.
func (r *rxRecord) stats() RxStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := RxStats{
		Packets: r.packets, AudioPackets: r.audio, EventPackets: r.events,
		LastPayloadType: r.lastPT, SSRC: r.ssrc, Samples: r.total,
		Digits: string(r.digits), Codec: r.codec, LocalRTP: r.local, RemoteRTP: r.remote,
	}
	if r.sent != nil {
		s.Sent = int(r.sent.Load())
	}
	for pt, ok := range r.seen {
		if ok {
			s.PayloadTypes = append(s.PayloadTypes, uint8(pt))
		}
	}
	return s
}

// packetWriter sends one marshalled RTP packet.
type packetWriter interface {
	writePacket(b []byte)
}

// sender builds the outgoing RTP stream. It is owned by the media sender
// goroutine (or a test driving tick directly).
type sender struct {
	out   packetWriter
	src   *source
	jobs  <-chan *keyJob
	ulaw  bool
	pt    uint8
	tePT  uint8
	ssrc  uint32
	seq   uint16
	ts0   uint32 // timestamp at tick 0
	first bool   // next audio packet is the first of the stream (marker)

	pkt     rtp.Packet
	buf     [maxPacket]byte
	pcm     [frameSamples]int16
	payload [frameSamples]byte
	ev      [4]byte

	inband inbandDTMF

	// RFC 4733 state.
	evJob    *keyJob
	evIdx    int
	inEvent  bool
	evStart  int64 // tick of the current event's start
	evEnd    int64 // tick of its end
	evTS     uint32
	evCode   uint8
	readyAt  int64 // earliest tick for the next event (after the gap)
	finished []*keyJob
}

func newSender(out packetWriter, src *source, jobs <-chan *keyJob, pt, tePT uint8) *sender {
	var rnd [10]byte
	_, _ = rand.Read(rnd[:])
	s := &sender{
		out: out, src: src, jobs: jobs, pt: pt, tePT: tePT, ulaw: pt == ptPCMU,
		ssrc:  binary.BigEndian.Uint32(rnd[0:4]),
		seq:   binary.BigEndian.Uint16(rnd[4:6]),
		ts0:   binary.BigEndian.Uint32(rnd[6:10]),
		first: true,
	}
	s.pkt.Version = 2
	s.pkt.SSRC = s.ssrc
	s.finished = make([]*keyJob, 0, 2)
	return s
}

// keysPending reports whether a key job is being sent.
func (s *sender) keysPending() bool { return s.evJob != nil || s.inband.busy() }

// tsAt is the RTP timestamp of tick k.
func (s *sender) tsAt(k int64) uint32 { return s.ts0 + uint32(k*tickSamples) }

// tick runs the stream for 10 ms tick k: it starts waiting key jobs, sends
// due telephone-event packets, and on even ticks an audio packet unless an
// event is in progress (the event replaces the audio, as RFC 4733 section
// 2.5.1.1 allows). Jobs finished in this tick are returned in s.finished.
func (s *sender) tick(k int64) {
	s.finished = s.finished[:0]
	if s.evJob == nil && !s.inband.busy() && s.jobs != nil {
		select {
		case j := <-s.jobs:
			if j.inband {
				s.inband.job, s.inband.idx = j, 0
			} else {
				s.evJob, s.evIdx = j, 0
			}
		default:
		}
	}
	if s.evJob != nil {
		s.eventTick(k)
	}
	if k%2 == 0 && !s.inEvent {
		s.audio(k)
	}
}

// eventTick sends RFC 4733 packets: the start packet with the marker bit and
// duration 0, updates every 50 ms with the duration so far, and the end
// packet three times with the same timestamp (section 2.5.1.4).
func (s *sender) eventTick(k int64) {
	j := s.evJob
	if !s.inEvent {
		if k < s.readyAt {
			return
		}
		kp := j.keys[s.evIdx]
		s.inEvent, s.evStart, s.evEnd = true, k, k+ticksOf(j.duration)
		s.evTS, s.evCode = s.tsAt(k), kp.event
		s.event(true, false, 0)
		return
	}
	if k >= s.evEnd {
		d := min((s.evEnd-s.evStart)*tickSamples, 0xffff)
		for range 3 {
			s.event(false, true, uint16(d))
		}
		s.inEvent = false
		s.evIdx++
		s.readyAt = k + ticksOf(j.gap)
		if s.evIdx >= len(j.keys) {
			s.finished = append(s.finished, j)
			s.evJob = nil
		}
		return
	}
	if (k-s.evStart)%eventUpdateTicks == 0 {
		s.event(false, false, uint16(min((k-s.evStart)*tickSamples, 0xffff)))
	}
}

// ticksOf converts a duration to sender ticks, rounding up, at least one.
func ticksOf(d time.Duration) int64 {
	return max(int64((d+tick-1)/tick), 1)
}

func (s *sender) event(marker, end bool, duration uint16) {
	putEvent(s.ev[:], s.evCode, end, duration)
	s.pkt.Marker = marker
	s.pkt.PayloadType = s.tePT
	s.pkt.Timestamp = s.evTS
	s.pkt.Payload = s.ev[:]
	s.send()
}

// audio sends the 20 ms frame starting at tick k.
func (s *sender) audio(k int64) {
	s.src.fill(s.pcm[:])
	if j := s.inband.mix(s.pcm[:]); j != nil {
		s.finished = append(s.finished, j)
	}
	for i, v := range s.pcm {
		if s.ulaw {
			s.payload[i] = g711.EncodeUlawFrame(v)
		} else {
			s.payload[i] = g711.EncodeAlawFrame(v)
		}
	}
	s.pkt.Marker = s.first
	s.first = false
	s.pkt.PayloadType = s.pt
	s.pkt.Timestamp = s.tsAt(k)
	s.pkt.Payload = s.payload[:]
	s.send()
}

func (s *sender) send() {
	s.pkt.SequenceNumber = s.seq
	s.seq++
	n, err := s.pkt.MarshalTo(s.buf[:])
	if err != nil {
		return // cannot happen: the buffer fits any packet built here
	}
	s.out.writePacket(s.buf[:n])
}

// media is the RTP session of one call: a socket, a sender goroutine pacing
// 20 ms packets, and a receiver goroutine recording what arrives.
type media struct {
	log  *slog.Logger
	conn *net.UDPConn
	jobs chan *keyJob
	stop chan struct{}
	wg   sync.WaitGroup
	sent atomic.Int64
	once sync.Once

	mu     sync.Mutex // guards remote
	remote netip.AddrPort
}

// newMedia binds a local RTP port on ip.
func newMedia(ip netip.Addr, log *slog.Logger) (*media, error) {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		return nil, fmt.Errorf("bind rtp: %w", err)
	}
	return &media{log: log, conn: conn, jobs: make(chan *keyJob), stop: make(chan struct{})}, nil
}

// port returns the local RTP port.
func (m *media) port() int { return m.conn.LocalAddr().(*net.UDPAddr).Port }

// localAddr returns the local RTP address.
func (m *media) localAddr() string { return m.conn.LocalAddr().String() }

// start begins sending to remote and recording into rx.
func (m *media) start(remote netip.AddrPort, pt, tePT uint8, src *source, rx *rxRecord) {
	m.setRemote(remote)
	s := newSender(m, src, m.jobs, pt, tePT)
	m.wg.Add(2)
	go m.sendLoop(s)
	go m.recvLoop(rx)
}

func (m *media) setRemote(remote netip.AddrPort) {
	m.mu.Lock()
	m.remote = remote
	m.mu.Unlock()
}

// writePacket sends one packet to the current remote address.
func (m *media) writePacket(b []byte) {
	m.mu.Lock()
	remote := m.remote
	m.mu.Unlock()
	if !remote.IsValid() || remote.Port() == 0 || remote.Addr().IsUnspecified() {
		return // on hold or no address: nothing to send to
	}
	if _, err := m.conn.WriteToUDPAddrPort(b, remote); err == nil {
		m.sent.Add(1)
	}
}

// sendLoop paces the sender on an absolute 10 ms schedule so that packets
// neither drift nor burst.
func (m *media) sendLoop(s *sender) {
	defer m.wg.Done()
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var k int64
	for {
		select {
		case <-m.stop:
			return
		case <-timer.C:
		}
		due := int64(time.Since(start) / tick)
		if due-k > lateTicks && !s.keysPending() {
			k = due // stalled: skip rather than flood the peer (keys are never cut)
		}
		for ; k <= due; k++ {
			s.tick(k)
			for _, j := range s.finished {
				close(j.done)
			}
		}
		timer.Reset(time.Until(start.Add(time.Duration(k) * tick)))
	}
}

// recvLoop records received packets until the socket is closed.
func (m *media) recvLoop(rx *rxRecord) {
	defer m.wg.Done()
	buf := make([]byte, maxPacket)
	var p rtp.Packet
	for {
		n, _, err := m.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. ICMP port unreachable reported on loopback
		}
		if p.Unmarshal(buf[:n]) != nil || p.Version != 2 {
			continue
		}
		rx.handle(&p)
	}
}

// sendKeys queues keys in the stream and waits until the last one was sent.
func (m *media) sendKeys(ctx context.Context, j *keyJob) error {
	j.done = make(chan struct{})
	select {
	case m.jobs <- j:
	case <-m.stop:
		return errCallEnded
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-j.done:
		return nil
	case <-m.stop:
		return errCallEnded
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops both goroutines and frees the port.
func (m *media) close() {
	m.once.Do(func() {
		close(m.stop)
		_ = m.conn.Close()
		m.wg.Wait()
	})
}
