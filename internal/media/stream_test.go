package media

import (
	"encoding/binary"
	"math"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	pionrtp "github.com/pion/rtp"
	"go.uber.org/goleak"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/dsp"
	"github.com/sip-phone-api/sipphone/internal/rtp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func tone(n int, rate int, freq, dBm0 float64) []int16 {
	s := make([]int16, n)
	dsp.Tone(s, rate, freq, dBm0, nil)
	return s
}

func pcmBytes(s []int16) []byte {
	b := make([]byte, 2*len(s))
	for i, v := range s {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return b
}

func TestListenerChunksAndFormats(t *testing.T) {
	cases := []struct {
		name    string
		format  dsp.Format
		rate    int
		frameMS int
	}{
		{"pcm16 8k 20ms", dsp.FormatPCM16, 8000, 20},
		{"pcm16 16k 20ms", dsp.FormatPCM16, 16000, 20},
		{"pcm16 48k 10ms", dsp.FormatPCM16, 48000, 10},
		{"ulaw 8k 100ms", dsp.FormatUlaw, 8000, 100},
		{"alaw 24k 30ms", dsp.FormatAlaw, 24000, 30},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, err := NewListener(ListenerConfig{Format: c.format, SampleRate: c.rate, FrameMS: c.frameMS, Queue: 200})
			if err != nil {
				t.Fatal(err)
			}
			call, _ := benchCall(t, 0)
			call.AddListener(l)
			in := tone(8000, 8000, 1000, -10) // one second
			for i := 0; i+160 <= len(in); i += 160 {
				call.fanout(in[i:i+160], time.Now())
			}
			var out []int16
			chunkBytes := c.rate * c.frameMS / 1000 * c.format.BytesPerSample()
			for len(l.C()) > 0 {
				ch := <-l.C()
				if len(ch.Data) != chunkBytes {
					t.Fatalf("chunk of %d bytes, want %d", len(ch.Data), chunkBytes)
				}
				s := make([]int16, len(ch.Data)/c.format.BytesPerSample())
				dsp.DecodeFrame(s, c.format, ch.Data)
				out = append(out, s...)
				l.Release(ch)
			}
			if want := c.rate - c.rate%(c.rate*c.frameMS/1000); len(out) != want {
				t.Fatalf("%d samples out, want %d", len(out), want)
			}
			skip := c.rate / 100 // resampler start-up
			if f := dsp.DominantFrequency(out[skip:], c.rate, 200, 3800, 10); math.Abs(f-1000) > 10 {
				t.Fatalf("dominant %v Hz, want 1000", f)
			}
			rms, _ := dsp.Level(out[skip:])
			if want := dsp.DBm0ToDBFS(-10); math.Abs(rms-want) > 0.5 {
				t.Fatalf("level %.2f dBFS, want %.2f", rms, want)
			}
			l.close()
		})
	}
}

func TestListenerSlowClientDropsNotBlocks(t *testing.T) {
	l, _ := NewListener(ListenerConfig{Format: dsp.FormatPCM16, SampleRate: 8000, FrameMS: 20, Queue: 4})
	frame := make([]int16, 160)
	for i := 0; i < 10; i++ { // nobody reads
		l.write(frame, time.Now())
	}
	if l.Delivered() != 4 || l.Dropped() != 6 {
		t.Fatalf("delivered %d dropped %d, want 4 and 6", l.Delivered(), l.Dropped())
	}
}

func TestSpeakerQueueMarksClear(t *testing.T) {
	var mu sync.Mutex
	var marks []string
	s, err := NewSpeaker(dsp.FormatPCM16, 16000, func(name string, cleared bool) {
		mu.Lock()
		if cleared {
			name += "(cleared)"
		}
		marks = append(marks, name)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	b := pcmBytes(tone(16000, 16000, 700, -10)) // 1 s at 16 kHz
	// Odd-sized writes: a sample split across writes must survive.
	for i := 0; i < len(b); {
		n := min(333, len(b)-i)
		if err := s.Write(b[i : i+n]); err != nil {
			t.Fatal(err)
		}
		i += n
	}
	s.Mark("one-second")
	if q := s.Queued(); q < 990*time.Millisecond || q > time.Second {
		t.Fatalf("queued %v, want about 1 s", q)
	}
	var out []int16
	frame := make([]int16, 160)
	for s.Queued() > 0 {
		clear(frame)
		s.take(frame)
		out = append(out, frame...)
	}
	if f := dsp.DominantFrequency(out[80:], 8000, 200, 3800, 10); math.Abs(f-700) > 10 {
		t.Fatalf("played %v Hz, want 700", f)
	}
	s.Write(b)
	s.Mark("never-played")
	s.Clear()
	if s.Queued() != 0 {
		t.Fatalf("queued %v after clear", s.Queued())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(marks) != 2 || marks[0] != "one-second" || marks[1] != "never-played(cleared)" {
		t.Fatalf("marks %v", marks)
	}
}

func TestSpeakerQueueBound(t *testing.T) {
	s, _ := NewSpeaker(dsp.FormatUlaw, 8000, func(string, bool) {})
	big := make([]byte, DefaultQueue+8000)
	if err := s.Write(big); err != ErrQueueFull {
		t.Fatalf("overfull write = %v, want ErrQueueFull", err)
	}
	if q := s.Queued(); q != DefaultQueue*time.Second/8000 {
		t.Fatalf("queued %v", q)
	}
}

// phone is a UDP socket standing in for the adapter's RTP.
type phone struct {
	t    *testing.T
	conn *net.UDPConn
	seq  uint16
	ts   uint32
}

func newPhone(t *testing.T) *phone {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &phone{t: t, conn: c}
}

func (p *phone) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (p *phone) send(to netip.AddrPort, pcm []int16) {
	payload := make([]byte, len(pcm))
	dsp.EncodeUlaw(payload, pcm)
	pkt := pionrtp.Packet{Header: pionrtp.Header{Version: 2, PayloadType: 0, SequenceNumber: p.seq, Timestamp: p.ts, SSRC: 99}, Payload: payload}
	b, _ := pkt.Marshal()
	p.seq++
	p.ts += uint32(len(pcm))
	p.conn.WriteToUDPAddrPort(b, to)
}

// drain discards what the server sent so far. The server sends a packet
// every 20 ms, so the wait must be much shorter than that to end.
func (p *phone) drain() {
	buf := make([]byte, 1500)
	for {
		p.conn.SetReadDeadline(time.Now().Add(2 * time.Millisecond))
		if _, _, err := p.conn.ReadFromUDPAddrPort(buf); err != nil {
			return
		}
	}
}

// receive collects n samples of audio the server sent to the phone.
func (p *phone) receive(n int) []int16 {
	var out []int16
	buf := make([]byte, 1500)
	for len(out) < n {
		p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		k, _, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			p.t.Fatalf("phone received %d samples, then: %v", len(out), err)
		}
		var pkt pionrtp.Packet
		if err := pkt.Unmarshal(buf[:k]); err != nil {
			p.t.Fatal(err)
		}
		s := make([]int16, len(pkt.Payload))
		dsp.DecodeUlaw(s, pkt.Payload)
		out = append(out, s...)
	}
	return out
}

func startCall(t *testing.T, ph *phone) *Call {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Start(Config{Session: rtp.NewSession(conn, ph.addr(), netip.Addr{}), Codec: "PCMU", PT: 0, EventPT: 101,
		PTime: 20 * time.Millisecond, JitterMax: 60 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestCallBothWaysAndLoopback(t *testing.T) {
	ph := newPhone(t)
	c := startCall(t, ph)
	l, _ := NewListener(ListenerConfig{Format: dsp.FormatPCM16, SampleRate: 16000, FrameMS: 20, Queue: 100})
	c.AddListener(l)
	sp, _ := NewSpeaker(dsp.FormatPCM16, 8000, func(string, bool) {})
	c.AddSpeaker(sp)
	to := c.sess.LocalAddr()

	// Phone to client: a 440 Hz tone arrives as 16 kHz PCM.
	in := tone(8000, 8000, 440, -10)
	for i := 0; i < len(in); i += 160 {
		ph.send(to, in[i:i+160])
	}
	var got []int16
	for len(got) < 12000 {
		select {
		case ch := <-l.C():
			s := make([]int16, len(ch.Data)/2)
			dsp.DecodeFrame(s, dsp.FormatPCM16, ch.Data)
			got = append(got, s...)
			l.Release(ch)
		case <-time.After(5 * time.Second):
			t.Fatalf("listener got %d samples", len(got))
		}
	}
	if f := dsp.DominantFrequency(got[320:], 16000, 100, 3800, 10); math.Abs(f-440) > 10 {
		t.Fatalf("client heard %v Hz, want 440", f)
	}

	// Client to phone: a 1200 Hz tone is played at real time.
	sp.Write(pcmBytes(tone(4000, 8000, 1200, -10)))
	heard := ph.receive(8000)
	if f := dsp.DominantFrequency(heard, 8000, 100, 3800, 10); math.Abs(f-1200) > 10 {
		t.Fatalf("phone heard %v Hz, want 1200", f)
	}

	// Loopback: the phone hears its own 2000 Hz tone.
	c.RemoveSpeaker(sp)
	ph.drain()
	c.SetLoopback(true)
	for i := 0; i < 25; i++ {
		ph.send(to, tone(160, 8000, 2000, -10))
		time.Sleep(20 * time.Millisecond) // real-time pacing, as a phone sends
	}
	echo := ph.receive(4000)
	if f := dsp.DominantFrequency(echo, 8000, 100, 3800, 10); math.Abs(f-2000) > 10 {
		t.Fatalf("loopback returned %v Hz, want 2000; jitter buffer %+v", f, c.Stats().Jitter)
	}
	st := c.Stats()
	if st.RTP.PacketsReceived < 75 || st.RTP.PacketsSent == 0 || st.LevelIn.Peak < -30 || !st.Loopback {
		t.Fatalf("stats %+v", st)
	}
}

// TestReceivePathZeroAllocs: RTP packet in, frames out to several
// listeners, with in-band DTMF detection on, allocates nothing.
func TestReceivePathZeroAllocs(t *testing.T) {
	for _, listeners := range []int{1, 4} {
		c, ls := benchCall(t, listeners)
		r := c.newRx()
		pkts := benchPackets(1000)
		i := 0
		allocs := testing.AllocsPerRun(500, func() {
			r.packet(&pkts[i%len(pkts)], time.Now())
			i++
			for _, l := range ls {
				for len(l.C()) > 0 {
					l.Release(<-l.C())
				}
			}
		})
		if allocs != 0 {
			t.Fatalf("%d listeners: %v allocations per packet, want 0", listeners, allocs)
		}
	}
}

// TestSendPathZeroAllocs: mixing speakers and encoding allocates nothing.
func TestSendPathZeroAllocs(t *testing.T) {
	c, _ := benchCall(t, 0)
	sp, _ := NewSpeaker(dsp.FormatPCM16, 16000, func(string, bool) {})
	c.AddSpeaker(sp)
	sp.Write(make([]byte, 2*16000*30))
	mix := make([]int16, 160)
	payload := make([]byte, 160)
	allocs := testing.AllocsPerRun(500, func() { c.mixFrame(mix, payload) })
	if allocs != 0 {
		t.Fatalf("%v allocations per frame, want 0", allocs)
	}
}

// benchCall is a Call without goroutines, for driving rx directly.
func benchCall(t testing.TB, listeners int) (*Call, []*Listener) {
	c := &Call{cfg: Config{Codec: "PCMU", PT: 0, EventPT: 101, InbandDTMF: true, JitterMax: 60 * time.Millisecond},
		frameSamples: 160, decode: dsp.DecodeUlaw, encode: dsp.EncodeUlaw}
	c.loop, _ = NewSpeaker(dsp.FormatPCM16, 8000, func(string, bool) {})
	var ls []*Listener
	for i := 0; i < listeners; i++ {
		rate := []int{8000, 16000, 24000, 48000}[i%4]
		l, err := NewListener(ListenerConfig{Format: dsp.FormatPCM16, SampleRate: rate, FrameMS: 20, Queue: 8})
		if err != nil {
			t.Fatal(err)
		}
		c.addListenerLocked(l)
		ls = append(ls, l)
	}
	return c, ls
}

func benchPackets(n int) []pionrtp.Packet {
	pkts := make([]pionrtp.Packet, n)
	audio := tone(160*n, 8000, 440, -10)
	for i := range pkts {
		payload := make([]byte, 160)
		dsp.EncodeUlaw(payload, audio[i*160:(i+1)*160])
		pkts[i] = pionrtp.Packet{Header: pionrtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: 5}, Payload: payload}
	}
	return pkts
}

func BenchmarkReceivePath(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(itoa(n)+"_listeners", func(b *testing.B) {
			c, ls := benchCall(b, n)
			r := c.newRx()
			pkts := benchPackets(1000)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r.packet(&pkts[i%len(pkts)], time.Now())
				i++
				for _, l := range ls {
					for len(l.C()) > 0 {
						l.Release(<-l.C())
					}
				}
			}
		})
	}
}

// BenchmarkSendPath mixes three speaking clients (16 kHz, resampled on
// the way in) into one 20 ms G.711 frame.
func BenchmarkSendPath(b *testing.B) {
	c, _ := benchCall(b, 0)
	refill := pcmBytes(tone(16000*10, 16000, 500, -20)) // 10 s at 16 kHz
	for i := 0; i < 3; i++ {
		sp, _ := NewSpeaker(dsp.FormatPCM16, 16000, func(string, bool) {})
		sp.Write(refill)
		c.AddSpeaker(sp)
	}
	mix := make([]int16, 160)
	payload := make([]byte, 160)
	b.ReportAllocs()
	for b.Loop() {
		if c.speakers[0].Queued() < time.Second {
			b.StopTimer()
			for _, sp := range c.speakers {
				sp.Write(refill)
			}
			b.StartTimer()
		}
		c.mixFrame(mix, payload)
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	s := ""
	for n > 0 {
		s = string(rune('0'+n%10)) + s
		n /= 10
	}
	return s
}

// TestSamePressTwoWays: an adapter that sends a key both in the audio and
// as RFC 4733 events makes both detectors fire for the same press, at
// overlapping times (the line owner reports it once).
func TestSamePressTwoWays(t *testing.T) {
	var mu sync.Mutex
	var presses []sipphone.KeyPress
	c, _ := benchCall(t, 0)
	c.cfg.OnPress = func(p sipphone.KeyPress) {
		mu.Lock()
		if !p.Begin {
			presses = append(presses, p)
		}
		mu.Unlock()
	}
	r := c.newRx()
	audio := make([]int16, 8000) // 100 ms of '5' (770 + 1336 Hz) in 1 s of silence
	dsp.DualTone(audio[2000:2800], 8000, 770, -10, 1336, -10, nil, nil)
	start := time.Now()
	for i := 0; i < 50; i++ {
		payload := make([]byte, 160)
		dsp.EncodeUlaw(payload, audio[i*160:(i+1)*160])
		at := start.Add(time.Duration(i) * 20 * time.Millisecond)
		r.packet(&pionrtp.Packet{Header: pionrtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: 1}, Payload: payload}, at)
		// RFC 4733 packets for the same press: start at 250 ms, end at 350 ms.
		if i >= 12 && i <= 17 {
			dur := uint16((i - 12) * 160)
			end := i == 17
			ev := []byte{5, 10, byte(dur >> 8), byte(dur)}
			if end {
				ev[1] |= 0x80
			}
			for k := 0; k < map[bool]int{true: 3, false: 1}[end]; k++ {
				r.packet(&pionrtp.Packet{Header: pionrtp.Header{Version: 2, PayloadType: 101, Marker: i == 12, SequenceNumber: uint16(1000 + i), Timestamp: 2000, SSRC: 1}, Payload: ev}, at)
			}
		}
	}
	r.tick(start.Add(2 * time.Second))
	mu.Lock()
	defer mu.Unlock()
	if len(presses) != 2 {
		t.Fatalf("presses %+v, want one by rfc4733 and one inband", presses)
	}
	methods := map[string]bool{}
	for _, p := range presses {
		if p.Digit != "5" {
			t.Fatalf("press %+v, want 5", p)
		}
		methods[p.Method] = true
	}
	if !methods["rfc4733"] || !methods["inband"] {
		t.Fatalf("methods %v", methods)
	}
}

// TestFastClientPlaysAtRealTimeWithoutGaps: 2 s of audio written at once
// (as a TTS engine does) reaches the phone as 100 consecutive packets of
// tone, none silent, paced at 20 ms.
func TestFastClientPlaysAtRealTimeWithoutGaps(t *testing.T) {
	ph := newPhone(t)
	c := startCall(t, ph)
	sp, _ := NewSpeaker(dsp.FormatPCM16, 24000, func(string, bool) {})
	ph.drain()
	c.AddSpeaker(sp)
	sp.Write(pcmBytes(tone(48000, 24000, 600, -10))) // 2 s at 24 kHz, at once
	buf := make([]byte, 1500)
	var first, last time.Time
	toneFrames := 0
	for toneFrames < 100 {
		ph.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := ph.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("after %d frames of tone: %v", toneFrames, err)
		}
		var pkt pionrtp.Packet
		pkt.Unmarshal(buf[:n])
		s := make([]int16, len(pkt.Payload))
		dsp.DecodeUlaw(s, pkt.Payload)
		rms, _ := dsp.Level(s)
		if rms < -30 {
			if toneFrames > 0 {
				t.Fatalf("silent frame after %d frames of tone: a gap", toneFrames)
			}
			continue
		}
		if toneFrames == 0 {
			first = time.Now()
		}
		last = time.Now()
		toneFrames++
	}
	// 99 intervals of 20 ms: played at real time, not faster.
	if d := last.Sub(first); d < 1800*time.Millisecond {
		t.Fatalf("2 s of audio went out in %v", d)
	}
}

// TestClockPacesManyCalls: calls on one Clock each get a continuous
// stream; a call that ends leaves the others going.
func TestClockPacesManyCalls(t *testing.T) {
	clock := NewClock(20 * time.Millisecond)
	defer clock.Close()
	var phones []*phone
	var calls []*Call
	for i := 0; i < 3; i++ {
		ph := newPhone(t)
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		c, err := Start(Config{Session: rtp.NewSession(conn, ph.addr(), netip.Addr{}), Codec: "PCMU", EventPT: -1,
			PTime: 20 * time.Millisecond, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		if c.clock != clock {
			t.Fatal("call not on the clock")
		}
		phones, calls = append(phones, ph), append(calls, c)
	}
	for i, ph := range phones {
		if got := ph.receive(1600); len(got) < 1600 {
			t.Fatalf("phone %d: %d samples", i, len(got))
		}
	}
	calls[0].Close()
	for _, ph := range phones[1:] {
		ph.drain()
		if got := ph.receive(800); len(got) < 800 {
			t.Fatal("the other calls stopped with the first")
		}
	}
	calls[1].Close()
	calls[2].Close()
	if n := len(clock.calls); n != 0 {
		t.Fatalf("%d calls left on the clock", n)
	}
}

// FuzzReceivePacket: any datagram that parses as RTP, audio or
// telephone-event, goes through the receive path without a panic.
func FuzzReceivePacket(f *testing.F) {
	for _, p := range benchPackets(2) {
		b, _ := p.Marshal()
		f.Add(b)
	}
	ev := pionrtp.Packet{Header: pionrtp.Header{Version: 2, PayloadType: 101, Marker: true, Timestamp: 8000}, Payload: []byte{5, 0x8a, 0, 160}}
	b, _ := ev.Marshal()
	f.Add(b)
	f.Add([]byte{0x80, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, ls := benchCall(t, 2)
		r := c.newRx()
		var pkt pionrtp.Packet
		if err := pkt.Unmarshal(data); err != nil {
			return
		}
		now := time.Now()
		r.packet(&pkt, now)
		pkt.SequenceNumber++
		pkt.Timestamp += 160
		r.packet(&pkt, now.Add(20*time.Millisecond))
		r.tick(now.Add(2 * time.Second))
		for _, l := range ls {
			for len(l.C()) > 0 {
				l.Release(<-l.C())
			}
		}
	})
}

// TestReceivePacedUnderJitter drives the receive path as the receive
// goroutine does (packets at their arrival, ticks at the deadlines) with
// packets delayed by 0-40 ms and 5 % lost: the listener gets a chunk at
// least every 50 ms, one per packet sent, and the path allocates nothing.
func TestReceivePacedUnderJitter(t *testing.T) {
	c, ls := benchCall(t, 1)
	l := ls[0]
	r := c.newRx()
	pkts := benchPackets(1000)
	type arrival struct {
		at time.Time
		i  int
	}
	start := time.Unix(1000, 0)
	rng := uint64(1)
	rand := func(n uint64) uint64 { rng = rng*6364136223846793005 + 1442695040888963407; return (rng >> 33) % n }
	var arr []arrival
	for i := range pkts {
		if rand(100) < 5 {
			continue
		}
		arr = append(arr, arrival{start.Add(time.Duration(i)*20*time.Millisecond + time.Duration(rand(40_000))*time.Microsecond), i})
	}
	for i := 1; i < len(arr); i++ {
		for j := i; j > 0 && arr[j].at.Before(arr[j-1].at); j-- {
			arr[j], arr[j-1] = arr[j-1], arr[j]
		}
	}
	outs := make([]time.Time, 0, 2*len(pkts)) // no growth inside the measured runs
	collect := func(now time.Time) {
		for len(l.C()) > 0 {
			l.Release(<-l.C())
			outs = append(outs, now)
		}
	}
	k := 0
	step := func() {
		a := arr[k%len(arr)]
		for {
			d := r.deadline(a.at)
			if !d.Before(a.at) {
				break
			}
			r.tick(d)
			collect(d)
		}
		r.packet(&pkts[a.i], a.at)
		collect(a.at)
		k++
	}
	for range 100 {
		step()
	}
	allocs := testing.AllocsPerRun(len(arr)-200, step)
	if allocs != 0 {
		t.Errorf("%v allocations per packet under jitter and loss, want 0", allocs)
	}
	var maxGap time.Duration
	for i := 1; i < len(outs); i++ {
		maxGap = max(maxGap, outs[i].Sub(outs[i-1]))
	}
	sent := arr[k-1].i + 1
	if maxGap > 50*time.Millisecond || len(outs) < sent-5 || len(outs) > sent+2 {
		t.Errorf("%d chunks for %d packets sent, longest gap %v; want one each, at most 50 ms apart", len(outs), sent, maxGap)
	}
	if st := r.jb.Stats(); st.Lost < 20 || st.Target < 30*time.Millisecond {
		t.Errorf("jitter buffer %+v: want about 5 %% concealed and a target near 40 ms", st)
	}
}

// TestSpeakerBurstyClient: a client whose 20 ms frames reach the server
// 0-40 ms late (Wi-Fi, a busy bot) makes the queue underrun a few times
// at first; each underrun leaves one frame more of margin, so after at
// most three the phone hears the audio without gaps, and none is lost.
func TestSpeakerBurstyClient(t *testing.T) {
	sp, _ := NewSpeaker(dsp.FormatPCM16, 8000, func(string, bool) {})
	frame := pcmBytes(tone(160, 8000, 1000, -10))
	rng := uint64(7)
	rand := func(n uint64) uint64 { rng = rng*6364136223846793005 + 1442695040888963407; return (rng >> 33) % n }
	const frames = 1500
	type ev struct {
		at    time.Duration
		write bool
	}
	var evs []ev
	for k := range frames {
		evs = append(evs, ev{at: time.Duration(k)*20*time.Millisecond + time.Duration(rand(40_000))*time.Microsecond, write: true})
	}
	for m := range frames + 10 {
		evs = append(evs, ev{at: time.Duration(m)*20*time.Millisecond + 5*time.Millisecond}) // the send clock's ticks
	}
	for i := 1; i < len(evs); i++ {
		for j := i; j > 0 && evs[j].at < evs[j-1].at; j-- {
			evs[j], evs[j-1] = evs[j-1], evs[j]
		}
	}
	mix := make([]int16, 160)
	played, underruns, lastUnderrun := 0, 0, 0
	for _, e := range evs {
		if e.write {
			if err := sp.Write(frame); err != nil {
				t.Fatal(err)
			}
			continue
		}
		clear(mix)
		if sp.take(mix) {
			played++
		} else if played > 0 && played < frames {
			underruns++
			lastUnderrun = played
		}
	}
	if played != frames {
		t.Errorf("played %d frames of %d", played, frames)
	}
	if underruns > 3 || lastUnderrun > 100 {
		t.Errorf("%d underruns, the last after %d frames; want at most 3, all at the start", underruns, lastUnderrun)
	}
}
