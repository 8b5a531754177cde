package rtp

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	pionrtp "github.com/pion/rtp"
)

func udp(t testing.TB) *net.UDPConn {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func addr(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

func packet(seq uint16, ts uint32, payload []byte) []byte {
	p := pionrtp.Packet{Header: pionrtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: ts, SSRC: 7}, Payload: payload}
	b, _ := p.Marshal()
	return b
}

func TestSessionSourceFilterAndStats(t *testing.T) {
	phone, stranger := udp(t), udp(t)
	s := NewSession(udp(t), addr(phone), netip.MustParseAddr("192.0.2.1")) // peer elsewhere: no latch possible
	defer s.Close()
	la := net.UDPAddrFromAddrPort(s.LocalAddr())
	payload := make([]byte, 160)
	stranger.WriteToUDP(packet(1, 0, payload), la)
	for _, seq := range []uint16{10, 11, 11, 13} { // a duplicate, 12 lost
		phone.WriteToUDP(packet(seq, uint32(seq)*160, payload), la)
	}
	stranger.WriteToUDP(packet(14, 0, payload), la)
	buf := make([]byte, 1500)
	var pkt pionrtp.Packet
	var seqs []uint16
	for len(seqs) < 4 {
		if _, err := s.Read(buf, &pkt, time.Now().Add(5*time.Second)); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, pkt.SequenceNumber)
	}
	if _, err := s.Read(buf, &pkt, time.Now().Add(100*time.Millisecond)); !errors.Is(err, ErrTimeout) {
		t.Fatalf("read after stranger packet = %v, want timeout (stranger dropped)", err)
	}
	st := s.Stats()
	// RFC 3550 A.3: 4 expected (10-13), 4 received counting the
	// duplicate, so 0 lost; the jitter buffer counts duplicates.
	if st.PacketsReceived != 4 || st.Lost != 0 || st.Foreign != 2 || st.LastReceived.IsZero() {
		t.Fatalf("stats %+v, want 4 received, 0 lost, 2 foreign", st)
	}
}

func TestSessionSymmetricLatch(t *testing.T) {
	natted := udp(t) // the adapter's packets come from another port than its SDP said
	sdpAddr := netip.MustParseAddrPort("127.0.0.1:9")
	s := NewSession(udp(t), sdpAddr, netip.MustParseAddr("127.0.0.1"))
	defer s.Close()
	natted.WriteToUDP(packet(1, 0, make([]byte, 160)), net.UDPAddrFromAddrPort(s.LocalAddr()))
	buf := make([]byte, 1500)
	var pkt pionrtp.Packet
	if _, err := s.Read(buf, &pkt, time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if s.Remote() != addr(natted) {
		t.Fatalf("remote = %s, want latched %s", s.Remote(), addr(natted))
	}
	// Sends now go to the latched source.
	if err := s.Send(0, make([]byte, 160), 160); err != nil {
		t.Fatal(err)
	}
	natted.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := natted.ReadFromUDP(buf); err != nil {
		t.Fatalf("latched peer got nothing: %v", err)
	}
}

func TestSessionSendSequence(t *testing.T) {
	phone := udp(t)
	s := NewSession(udp(t), addr(phone), netip.Addr{})
	defer s.Close()
	payload := make([]byte, 160)
	for i := 0; i < 3; i++ {
		if err := s.Send(8, payload, 160); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 1500)
	var prev pionrtp.Packet
	for i := 0; i < 3; i++ {
		phone.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := phone.ReadFromUDP(buf)
		if err != nil {
			t.Fatal(err)
		}
		var p pionrtp.Packet
		if err := p.Unmarshal(buf[:n]); err != nil {
			t.Fatal(err)
		}
		if p.PayloadType != 8 || p.SSRC != s.SSRC() || len(p.Payload) != 160 || p.Marker != (i == 0) {
			t.Fatalf("packet %d: %+v", i, p.Header)
		}
		if i > 0 && (p.SequenceNumber != prev.SequenceNumber+1 || p.Timestamp != prev.Timestamp+160) {
			t.Fatalf("packet %d seq/ts %d/%d after %d/%d", i, p.SequenceNumber, p.Timestamp, prev.SequenceNumber, prev.Timestamp)
		}
		prev = p
	}
	if st := s.Stats(); st.PacketsSent != 3 {
		t.Fatalf("sent %d", st.PacketsSent)
	}
}

// echoLoop returns a function that sends one packet from a phone socket
// to a session, reads it there and sends one back: the per-packet work of
// a call, in and out.
func echoLoop(tb testing.TB) func() { return echoLoopDeadline(tb, false) }

// echoLoopDeadline, with moving set, reads with a deadline one frame
// ahead of each packet, as the paced jitter buffer asks.
func echoLoopDeadline(tb testing.TB, moving bool) func() {
	phone := udp(tb)
	s := NewSession(udp(tb), addr(phone), netip.Addr{})
	tb.Cleanup(func() { s.Close() })
	la := s.LocalAddr()
	raw := packet(1, 0, make([]byte, 160))
	buf := make([]byte, 1500)
	rbuf := make([]byte, 1500)
	payload := make([]byte, 160)
	var pkt pionrtp.Packet
	seq := uint16(1)
	return func() {
		raw[2], raw[3] = byte(seq>>8), byte(seq)
		seq++
		phone.WriteToUDPAddrPort(raw, la)
		var deadline time.Time
		if moving {
			deadline = time.Now().Add(30 * time.Millisecond)
		}
		if _, err := s.Read(buf, &pkt, deadline); err != nil {
			tb.Fatal(err)
		}
		s.Send(0, payload, 160)
		phone.ReadFromUDPAddrPort(rbuf)
	}
}

func TestSessionZeroAllocs(t *testing.T) {
	if allocs := testing.AllocsPerRun(200, echoLoop(t)); allocs != 0 {
		t.Fatalf("%v allocations per packet in and out, want 0", allocs)
	}
	if allocs := testing.AllocsPerRun(200, echoLoopDeadline(t, true)); allocs != 0 {
		t.Fatalf("%v allocations per packet with a moving deadline, want 0", allocs)
	}
}

// BenchmarkSessionReadSend is one packet in and one out through real
// loopback sockets (the system calls dominate).
func BenchmarkSessionReadSend(b *testing.B) {
	for _, moving := range []bool{false, true} {
		name := "no_deadline"
		if moving {
			name = "deadline_moved_every_packet"
		}
		b.Run(name, func(b *testing.B) {
			echo := echoLoopDeadline(b, moving)
			b.ReportAllocs()
			for b.Loop() {
				echo()
			}
		})
	}
}

// TestArrivalIsWhenTheKernelGotIt: a packet that waited in the socket
// while nobody read is stamped with its arrival, not the late read (on
// Linux, where the kernel stamps datagrams).
func TestArrivalIsWhenTheKernelGotIt(t *testing.T) {
	phone := udp(t)
	s := NewSession(udp(t), addr(phone), netip.Addr{})
	defer s.Close()
	if !s.stamps {
		t.Skip("this system does not stamp datagrams")
	}
	sent := time.Now()
	phone.WriteToUDPAddrPort(packet(1, 0, make([]byte, 160)), s.LocalAddr())
	time.Sleep(50 * time.Millisecond) // the reader is busy elsewhere
	buf := make([]byte, 1500)
	var pkt pionrtp.Packet
	arrival, err := s.Read(buf, &pkt, time.Now().Add(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	read := time.Now()
	if arrival.Before(sent) || read.Sub(arrival) < 40*time.Millisecond {
		t.Fatalf("arrival %v after the send, read %v after it: want the kernel's arrival", arrival.Sub(sent), read.Sub(sent))
	}
}
