package rtp

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	pionrtp "github.com/pion/rtp"

	"github.com/sip-phone-api/sipphone"
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

	rx       rxState   // owned by the single reading goroutine
	deadline time.Time // read deadline set on conn; owned by the reader
	stamps   bool      // the kernel stamps arrivals (stamp_linux.go)
	oob      []byte    // control messages of the last read; owned by the reader
	expired  bool      // the last read ended at the deadline
	stat     statsCell // counters other goroutines read
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
	if s.stamps = enableStamps(conn); s.stamps {
		s.oob = make([]byte, oobLen)
	}
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
// and returns the arrival time: when the kernel received it, where the
// kernel stamps datagrams (Linux), else when the read returned. Packets from other sources and packets
// that are not RTP version 2 are counted and skipped. It returns
// ErrTimeout when the deadline passes and net.ErrClosed after Close.
//
// The socket's deadline is changed whenever deadline differs from the one
// set. Go keeps a socket's deadline as a runtime timer (no system call),
// so moving it costs little; leaving an earlier deadline in place would
// cost a wake-up of the reading goroutine when it passes, and a paced
// jitter buffer asks for a deadline one frame ahead after every packet.
func (s *Session) Read(buf []byte, pkt *pionrtp.Packet, deadline time.Time) (time.Time, error) {
	if s.expired || !deadline.Equal(s.deadline) {
		if err := s.conn.SetReadDeadline(deadline); err != nil {
			return time.Time{}, err
		}
		s.deadline, s.expired = deadline, false
	}
	for {
		var (
			n    int
			from netip.AddrPort
			err  error
		)
		oobn := 0
		if s.stamps {
			n, oobn, _, from, err = s.conn.ReadMsgUDPAddrPort(buf, s.oob)
		} else {
			n, from, err = s.conn.ReadFromUDPAddrPort(buf)
		}
		now := time.Now()
		if oobn > 0 {
			now = stamp(s.oob[:oobn], now)
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				s.expired = true
				return now, ErrTimeout
			}
			return now, err
		}
		if !s.accept(from) {
			s.stat.foreign.Add(1)
			continue
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil || pkt.Version != 2 {
			s.stat.malformed.Add(1)
			continue
		}
		s.rx.packet(pkt, n, now, &s.stat)
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

// Stats returns the counters. Duplicates and interarrival jitter are not
// counted here: the jitter buffer, which must find both anyway, reports
// them (internal/jitter).
func (s *Session) Stats() sipphone.RTPStats { return s.stat.load() }

// rxState follows the sequence numbers for the loss count; only the
// reading goroutine touches it.
type rxState struct {
	started         bool
	baseSeq, maxSeq uint16
	cycles          uint32
	received        uint64
}

func (r *rxState) packet(p *pionrtp.Packet, n int, now time.Time, st *statsCell) {
	seq := p.SequenceNumber
	r.received++
	if !r.started {
		r.started, r.baseSeq, r.maxSeq = true, seq, seq
	} else if d := seq - r.maxSeq; d != 0 && d < 0x8000 {
		if seq < r.maxSeq {
			r.cycles++ // wrapped
		}
		r.maxSeq = seq
	}
	// Expected minus received (RFC 3550 A.3): duplicates make it smaller.
	expected := int64(r.cycles)<<16 + int64(r.maxSeq) - int64(r.baseSeq) + 1
	st.received.Store(r.received)
	st.bytes.Add(uint64(n))
	st.lost.Store(expected - int64(r.received))
	st.last.Store(now.UnixNano())
}

// statsCell holds the counters: written by the reading (or sending)
// goroutine with single atomic stores, read by anyone, no lock and no copy
// per packet.
type statsCell struct {
	received, bytes     atomic.Uint64
	foreign, malformed  atomic.Uint64
	lost                atomic.Int64
	last                atomic.Int64 // UnixNano of the last accepted packet
	sentPkts, sentBytes atomic.Uint64
}

func (c *statsCell) sent(n int) {
	c.sentPkts.Add(1)
	c.sentBytes.Add(uint64(n))
}

func (c *statsCell) load() sipphone.RTPStats {
	st := sipphone.RTPStats{PacketsReceived: c.received.Load(), BytesReceived: c.bytes.Load(), Lost: c.lost.Load(),
		Foreign: c.foreign.Load(), Malformed: c.malformed.Load(), PacketsSent: c.sentPkts.Load(), BytesSent: c.sentBytes.Load()}
	if ns := c.last.Load(); ns != 0 {
		st.LastReceived = time.Unix(0, ns)
	}
	return st
}
