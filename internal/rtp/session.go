package rtp

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"math"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	pionrtp "github.com/pion/rtp"
)

// Session is the RTP transport of one call: one UDP socket, one remote
// peer. It filters sources (no RTP bleed), keeps RFC 3550 receive
// statistics and sends packets with a continuous sequence and timestamp.
//
// Source rule: packets are accepted from the address the SDP named. When
// the adapter is behind NAT its packets come from another port (or
// address); the first packet that comes from the adapter's signalling IP
// latches the session onto its source (symmetric RTP, RFC 4961), and sends
// go there too. Everything else is counted and dropped.
type Session struct {
	conn *net.UDPConn
	peer netip.Addr // the adapter's signalling IP, for the NAT latch

	// mu guards remote, latched and receivedFromRemote.
	mu                 sync.Mutex
	remote             netip.AddrPort
	latched            bool
	receivedFromRemote bool

	// send state, owned by the single sending goroutine.
	ssrc    uint32
	seq     uint16
	ts      uint32
	started bool
	pkt     pionrtp.Packet
	sendBuf [1500]byte

	rx   rxStats   // owned by the single reading goroutine
	stat statsCell // published copies for other goroutines
}

// NewSession wraps conn (from Ports.Open) for a call whose SDP named
// remote, with the adapter signalling from peer.
func NewSession(conn *net.UDPConn, remote netip.AddrPort, peer netip.Addr) *Session {
	s := &Session{conn: conn, remote: netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port()), peer: peer.Unmap()}
	var b [10]byte
	rand.Read(b[:])
	s.ssrc = binary.BigEndian.Uint32(b[0:4])
	s.seq = binary.BigEndian.Uint16(b[4:6]) // random initial values, RFC 3550 5.1
	s.ts = binary.BigEndian.Uint32(b[6:10])
	return s
}

// LocalAddr returns the socket's address.
func (s *Session) LocalAddr() netip.AddrPort {
	return s.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Remote returns where packets are sent (after any NAT latch).
func (s *Session) Remote() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.remote
}

// SSRC returns our synchronisation source.
func (s *Session) SSRC() uint32 { return s.ssrc }

// ErrTimeout: no packet arrived before the read deadline.
var ErrTimeout = errors.New("rtp: read deadline")

// Read waits until deadline (zero: no deadline) for the next acceptable
// packet, parses it into pkt (its payload points into buf; no allocation)
// and returns the arrival time. Packets from other sources and packets
// that are not RTP version 2 are counted and skipped. It returns
// ErrTimeout when the deadline passes and net.ErrClosed after Close.
func (s *Session) Read(buf []byte, pkt *pionrtp.Packet, deadline time.Time) (time.Time, error) {
	if err := s.conn.SetReadDeadline(deadline); err != nil {
		return time.Time{}, err
	}
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		now := time.Now()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return now, ErrTimeout
			}
			return now, err
		}
		if !s.accept(from) {
			s.rx.foreign++
			s.publish()
			continue
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil || pkt.Version != 2 {
			s.rx.malformed++
			s.publish()
			continue
		}
		s.rx.packet(pkt, n, now)
		s.publish()
		return now, nil
	}
}

func (s *Session) accept(from netip.AddrPort) bool {
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	s.mu.Lock()
	defer s.mu.Unlock()
	if from == s.remote {
		s.receivedFromRemote = true
		return true
	}
	// Symmetric RTP: latch once onto the adapter's real source, unless the
	// SDP address already works.
	if !s.latched && !s.receivedFromRemote && s.peer.IsValid() && from.Addr() == s.peer {
		s.remote = from
		s.latched = true
		return true
	}
	return false
}

// Send sends one packet of payload type pt whose payload covers samples
// timestamp units. The first packet of the session carries the marker
// bit (RFC 3551 section 4.1: beginning of a talkspurt). Only one goroutine
// may send.
func (s *Session) Send(pt uint8, payload []byte, samples uint32) error {
	marker := !s.started
	s.started = true
	s.pkt.Header = pionrtp.Header{Version: 2, Marker: marker, PayloadType: pt, SequenceNumber: s.seq, Timestamp: s.ts, SSRC: s.ssrc,
		CSRC: s.pkt.CSRC[:0], Extensions: s.pkt.Extensions[:0]}
	s.pkt.Payload = payload
	n, err := s.pkt.MarshalTo(s.sendBuf[:])
	if err != nil {
		return err
	}
	s.seq++
	s.ts += samples
	if _, err := s.conn.WriteToUDPAddrPort(s.sendBuf[:n], s.Remote()); err != nil {
		return err
	}
	s.stat.sent(n)
	return nil
}

// Close closes the socket; a blocked Read returns net.ErrClosed.
func (s *Session) Close() error { return s.conn.Close() }

// RTPStats are the RTP statistics of a session (RFC 3550 section 6.4).
type RTPStats struct {
	PacketsReceived uint64    `json:"packets_received"`
	BytesReceived   uint64    `json:"bytes_received"`
	Lost            int64     `json:"lost" doc:"Expected minus received (RFC 3550 A.3); negative with duplicates"`
	Duplicates      uint64    `json:"duplicates"`
	JitterMS        float64   `json:"jitter_ms" doc:"Interarrival jitter, RFC 3550 A.8"`
	Foreign         uint64    `json:"foreign_dropped" doc:"Packets from other sources, dropped"`
	Malformed       uint64    `json:"malformed_dropped"`
	PacketsSent     uint64    `json:"packets_sent"`
	BytesSent       uint64    `json:"bytes_sent"`
	LastReceived    time.Time `json:"last_received,omitzero"`
}

// Stats returns a snapshot of the statistics.
func (s *Session) Stats() RTPStats { return s.stat.load() }

// rxStats computes receive statistics; only the reading goroutine touches it.
type rxStats struct {
	started            bool
	baseSeq, maxSeq    uint16
	cycles             uint32
	received, bytes    uint64
	foreign, malformed uint64
	duplicates         uint64
	lastSeqSeen        [64]uint16 // recent sequence numbers, for duplicate detection
	lastSeqIdx         int
	transit            int64
	jitter             float64 // in timestamp units
	clockRate          float64
	last               time.Time
	transitSet         bool
}

func (r *rxStats) packet(p *pionrtp.Packet, n int, now time.Time) {
	if r.clockRate == 0 {
		r.clockRate = 8000
	}
	seq := p.SequenceNumber
	for _, v := range r.lastSeqSeen[:min(len(r.lastSeqSeen), int(r.received))] {
		if v == seq {
			r.duplicates++
			r.received++
			r.bytes += uint64(n)
			return
		}
	}
	r.lastSeqSeen[r.lastSeqIdx] = seq
	r.lastSeqIdx = (r.lastSeqIdx + 1) % len(r.lastSeqSeen)
	r.received++
	r.bytes += uint64(n)
	r.last = now
	if !r.started {
		r.started, r.baseSeq, r.maxSeq = true, seq, seq
	} else if d := seq - r.maxSeq; d != 0 && d < 0x8000 {
		if seq < r.maxSeq {
			r.cycles++ // wrapped
		}
		r.maxSeq = seq
	}
	// Interarrival jitter (RFC 3550 A.8), in timestamp units.
	arrival := int64(float64(now.UnixNano()) * r.clockRate / 1e9)
	transit := arrival - int64(p.Timestamp)
	if r.transitSet {
		d := transit - r.transit
		r.jitter += (math.Abs(float64(d)) - r.jitter) / 16
	}
	r.transit, r.transitSet = transit, true
}

func (r *rxStats) lost() int64 {
	if !r.started {
		return 0
	}
	expected := int64(r.cycles)<<16 + int64(r.maxSeq) - int64(r.baseSeq) + 1
	return expected - int64(r.received-r.duplicates)
}

// statsCell holds the published statistics. The reading goroutine stores
// a fresh copy after each packet under mu (a short, uncontended lock that
// is never held across I/O); the sending side counts with atomics.
type statsCell struct {
	mu        sync.Mutex // guards rx
	rx        RTPStats
	sentPkts  atomic.Uint64
	sentBytes atomic.Uint64
}

func (s *Session) publish() {
	st := RTPStats{PacketsReceived: s.rx.received, BytesReceived: s.rx.bytes, Lost: s.rx.lost(), Duplicates: s.rx.duplicates,
		JitterMS: s.rx.jitter / s.rx.rateOr8k() * 1000, Foreign: s.rx.foreign, Malformed: s.rx.malformed, LastReceived: s.rx.last}
	s.stat.mu.Lock()
	s.stat.rx = st
	s.stat.mu.Unlock()
}

func (r *rxStats) rateOr8k() float64 {
	if r.clockRate == 0 {
		return 8000
	}
	return r.clockRate
}

func (c *statsCell) sent(n int) {
	c.sentPkts.Add(1)
	c.sentBytes.Add(uint64(n))
}

func (c *statsCell) load() RTPStats {
	c.mu.Lock()
	st := c.rx
	c.mu.Unlock()
	st.PacketsSent, st.BytesSent = c.sentPkts.Load(), c.sentBytes.Load()
	return st
}
