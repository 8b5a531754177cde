package sim

import (
	"math"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/zaf/g711"
)

func itoa(n int) string { return strconv.Itoa(n) }

func splitHostPort(t testing.TB, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return h, n
}

// goertzel returns the amplitude of the frequency f (Hz) in x.
func goertzel(x []int16, f float64) float64 {
	w := 2 * math.Pi * f / sampleRate
	coeff := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range x {
		s0 := float64(v) + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	power := s1*s1 + s2*s2 - coeff*s1*s2
	return 2 * math.Sqrt(math.Max(power, 0)) / float64(len(x))
}

// dominant returns the strongest frequency between lo and hi, in 5 Hz steps.
func dominant(x []int16, lo, hi float64) float64 {
	best, bestA := 0.0, -1.0
	for f := lo; f <= hi; f += 5 {
		if a := goertzel(x, f); a > bestA {
			best, bestA = f, a
		}
	}
	return best
}

// recorder is a packetWriter that keeps copies of the packets.
type recorder struct{ pkts []rtp.Packet }

func (r *recorder) writePacket(b []byte) {
	var p rtp.Packet
	if err := p.Unmarshal(append([]byte(nil), b...)); err != nil {
		panic(err)
	}
	r.pkts = append(r.pkts, p)
}

// discard is a packetWriter that drops packets.
type discard struct{}

func (discard) writePacket([]byte) {}

// runSender drives a sender for n ticks and closes finished jobs.
func runSender(s *sender, from, n int64) {
	for k := from; k < from+n; k++ {
		s.tick(k)
		for _, j := range s.finished {
			close(j.done)
		}
	}
}

func TestSenderAudioStream(t *testing.T) {
	tests := []struct {
		name string
		pt   uint8
	}{
		{"PCMU", ptPCMU},
		{"PCMA", ptPCMA},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var src source
			src.setTone(1000, -10)
			rec := &recorder{}
			s := newSender(rec, &src, nil, tc.pt, 101)
			runSender(s, 0, 100) // 1 s
			if len(rec.pkts) != 50 {
				t.Fatalf("%d packets in 1 s, want 50", len(rec.pkts))
			}
			var pcm []int16
			for i, p := range rec.pkts {
				if p.PayloadType != tc.pt || len(p.Payload) != frameSamples || p.SSRC != s.ssrc || p.Marker != (i == 0) {
					t.Fatalf("packet %d: %+v", i, p.Header)
				}
				if i > 0 && (p.SequenceNumber != rec.pkts[i-1].SequenceNumber+1 || p.Timestamp-rec.pkts[i-1].Timestamp != frameSamples) {
					t.Fatalf("packet %d: seq %d ts %d after seq %d ts %d", i, p.SequenceNumber, p.Timestamp, rec.pkts[i-1].SequenceNumber, rec.pkts[i-1].Timestamp)
				}
				for _, b := range p.Payload {
					if tc.pt == ptPCMU {
						pcm = append(pcm, g711.DecodeUlawFrame(b))
					} else {
						pcm = append(pcm, g711.DecodeAlawFrame(b))
					}
				}
			}
			if f := dominant(pcm, 300, 3400); math.Abs(f-1000) > 10 {
				t.Errorf("tone at %.0f Hz", f)
			}
			if a := goertzel(pcm, 1000); math.Abs(a-dBm0Peak(-10))/dBm0Peak(-10) > 0.05 {
				t.Errorf("amplitude %.0f, want %.0f", a, dBm0Peak(-10))
			}
		})
	}
}

func TestSourceSamplesThenSilence(t *testing.T) {
	var src source
	src.setSamples([]int16{1, 2, 3})
	got := make([]int16, 5)
	src.fill(got)
	want := []int16{1, 2, 3, 0, 0}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("fill = %v, want %v", got, want)
		}
	}
}

func TestDBm0Peak(t *testing.T) {
	if got, want := dBm0Peak(0), 32768*math.Pow(10, -3.17/20); math.Abs(got-want) > 1e-9 {
		t.Errorf("0 dBm0 peak %.1f, want %.1f", got, want)
	}
	if got := dBm0Peak(-10); math.Abs(got-7193.4) > 0.5 {
		t.Errorf("-10 dBm0 peak %.1f, want about 7193.4", got)
	}
}

func TestRxRecord(t *testing.T) {
	var r rxRecord
	r.reset(101, "PCMU", "l", "r", nil)
	payload := make([]byte, frameSamples)
	for i := range payload {
		payload[i] = g711.EncodeUlawFrame(int16(i * 10))
	}
	r.handle(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 7}, Payload: payload})
	ev := func(code uint8, end bool, ts uint32) *rtp.Packet {
		p := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, Timestamp: ts}, Payload: make([]byte, 4)}
		putEvent(p.Payload, code, end, 800)
		return p
	}
	for _, p := range []*rtp.Packet{ev(5, false, 100), ev(5, true, 100), ev(5, true, 100), ev(5, true, 100), ev(11, true, 900), ev(11, true, 900)} {
		r.handle(p)
	}
	st := r.stats()
	if st.Packets != 7 || st.AudioPackets != 1 || st.EventPackets != 6 || st.Digits != "5#" || st.Samples != frameSamples {
		t.Errorf("stats %+v", st)
	}
	if len(st.PayloadTypes) != 2 || st.PayloadTypes[0] != 0 || st.PayloadTypes[1] != 101 || st.LastPayloadType != 101 {
		t.Errorf("payload types %v last %d", st.PayloadTypes, st.LastPayloadType)
	}
	got := r.samples()
	if len(got) != frameSamples || math.Abs(float64(got[100]-1000)) > 40 {
		t.Errorf("decoded %d samples, [100] = %d", len(got), got[100])
	}
}

func TestRxRecordKeepsLastMinute(t *testing.T) {
	var r rxRecord
	r.reset(-1, "PCMU", "", "", nil)
	payload := make([]byte, frameSamples)
	n := rxKeep/frameSamples + 10
	for i := range n {
		v := int16(0)
		if i == n-1 {
			v = 8000 // the newest frame is loud
		}
		for j := range payload {
			payload[j] = g711.EncodeUlawFrame(v)
		}
		r.handle(&rtp.Packet{Header: rtp.Header{Version: 2}, Payload: payload})
	}
	got := r.samples()
	if len(got) != rxKeep {
		t.Fatalf("kept %d samples, want %d", len(got), rxKeep)
	}
	if got[len(got)-1] < 7000 || got[len(got)-frameSamples-1] != 0 {
		t.Errorf("newest samples not last: %d, %d", got[len(got)-1], got[len(got)-frameSamples-1])
	}
	if st := r.stats(); st.Samples != n*frameSamples {
		t.Errorf("total %d, want %d", st.Samples, n*frameSamples)
	}
}

// TestHotPathsDoNotAllocate proves the per-packet work is allocation free.
func TestHotPathsDoNotAllocate(t *testing.T) {
	var src source
	src.setTone(440, -10)
	s := newSender(discard{}, &src, nil, ptPCMU, 101)
	k := int64(0)
	if n := testing.AllocsPerRun(200, func() {
		s.tick(k)
		k++
	}); n != 0 {
		t.Errorf("sender tick allocates %.1f times", n)
	}

	var r rxRecord
	r.reset(101, "PCMU", "", "", nil)
	buf := make([]byte, 12+frameSamples)
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 1}, Payload: make([]byte, frameSamples)}
	if _, err := pkt.MarshalTo(buf); err != nil {
		t.Fatal(err)
	}
	var in rtp.Packet
	if n := testing.AllocsPerRun(200, func() {
		if err := in.Unmarshal(buf); err != nil {
			t.Fatal(err)
		}
		r.handle(&in)
	}); n != 0 {
		t.Errorf("receive path allocates %.1f times", n)
	}
}

func BenchmarkSenderTick(b *testing.B) {
	var src source
	src.setTone(440, -10)
	s := newSender(discard{}, &src, nil, ptPCMU, 101)
	b.ReportAllocs()
	var k int64
	for b.Loop() {
		s.tick(k)
		k++
	}
}

func BenchmarkReceive(b *testing.B) {
	var r rxRecord
	r.reset(101, "PCMU", "", "", nil)
	buf := make([]byte, 12+frameSamples)
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 1}, Payload: make([]byte, frameSamples)}
	if _, err := pkt.MarshalTo(buf); err != nil {
		b.Fatal(err)
	}
	var in rtp.Packet
	b.ReportAllocs()
	for b.Loop() {
		if err := in.Unmarshal(buf); err != nil {
			b.Fatal(err)
		}
		r.handle(&in)
	}
}

// TestSendLoopPacing checks the real sender goroutine paces 20 ms packets.
func TestSendLoopPacing(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	pr := newRTPPeer(t)
	defer pr.close()
	m, err := newMedia(mustAddr("127.0.0.1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var src source
	var rx rxRecord
	rx.reset(-1, "PCMU", "", "", nil)
	start := time.Now()
	m.start(mustAddrPort(t, pr.conn.LocalAddr().String()), ptPCMU, 101, &src, &rx)
	waitUntil(t, "25 packets", func() bool { return len(pr.packets()) >= 25 })
	elapsed := time.Since(start)
	m.close()
	// 25 packets span 24 intervals of 20 ms.
	if elapsed < 440*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("25 packets took %s, want about 480 ms", elapsed)
	}
}
