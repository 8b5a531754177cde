package sim

import (
	"encoding/binary"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/zaf/g711"
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func mustAddrPort(t testing.TB, s string) netip.AddrPort {
	t.Helper()
	a, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestParseKeys(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		events  []uint8
		wantErr bool
	}{
		{"digits", "0123456789", []uint8{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, false},
		{"star pound letters", "*#ABCDabcd", []uint8{10, 11, 12, 13, 14, 15, 12, 13, 14, 15}, false},
		{"flash both ways", "F!f", []uint8{16, 16, 16}, false},
		{"separators ignored", "1, 2 3", []uint8{1, 2, 3}, false},
		{"invalid", "1x", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := parseKeys(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil || len(keys) != len(tc.events) {
				t.Fatalf("parseKeys(%q) = %v, %v", tc.in, keys, err)
			}
			for i, k := range keys {
				if k.event != tc.events[i] {
					t.Errorf("key %d event %d, want %d", i, k.event, tc.events[i])
				}
				if !k.isFlash() && eventChar(k.event) != strings.ToUpper(string(k.char))[0] {
					t.Errorf("eventChar(%d) = %c", k.event, eventChar(k.event))
				}
			}
		})
	}
	if k, _ := keyFor('5'); k.low != 770 || k.high != 1336 {
		t.Errorf("5 = %v/%v Hz, want 770/1336", k.low, k.high)
	}
	if k, _ := keyFor('D'); k.low != 941 || k.high != 1633 {
		t.Errorf("D = %v/%v Hz, want 941/1633", k.low, k.high)
	}
}

func TestInfoBody(t *testing.T) {
	tests := []struct {
		name      string
		key       string
		wantType  string
		wantBody  string
		wantFlash bool
	}{
		{"digit", "5", "application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", false},
		{"star", "*", "application/dtmf-relay", "Signal=*\r\nDuration=160\r\n", false},
		{"flash", "!", "application/hook-flash", "signal=hf\r\n", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := parseKeys(tc.key)
			if err != nil {
				t.Fatal(err)
			}
			ct, body := infoBody(keys[0], 160*time.Millisecond)
			if ct != tc.wantType || body != tc.wantBody {
				t.Errorf("infoBody = %q %q", ct, body)
			}
		})
	}
}

// eventPacket is a decoded RFC 4733 packet.
type eventPacket struct {
	seq      uint16
	ts       uint32
	marker   bool
	event    uint8
	end      bool
	volume   uint8
	duration uint16
}

func events(pkts []rtp.Packet, pt uint8) []eventPacket {
	var out []eventPacket
	for _, p := range pkts {
		if p.PayloadType != pt || len(p.Payload) < 4 {
			continue
		}
		out = append(out, eventPacket{
			seq: p.SequenceNumber, ts: p.Timestamp, marker: p.Marker, event: p.Payload[0],
			end: p.Payload[1]&0x80 != 0, volume: p.Payload[1] & 0x3f, duration: binary.BigEndian.Uint16(p.Payload[2:]),
		})
	}
	return out
}

// checkKeyPresses verifies RFC 4733 key presses: per press a start packet
// with the marker and duration 0, updates every 50 ms (400 units) with a
// growing duration, and three end packets with the press's timestamp.
func checkKeyPresses(t *testing.T, evs []eventPacket, want []uint8, dur time.Duration) {
	t.Helper()
	wantDur := uint16(dur / time.Millisecond * 8)
	var presses [][]eventPacket
	for _, e := range evs {
		if len(presses) == 0 || presses[len(presses)-1][0].ts != e.ts {
			presses = append(presses, nil)
		}
		presses[len(presses)-1] = append(presses[len(presses)-1], e)
	}
	if len(presses) != len(want) {
		t.Fatalf("%d key presses, want %d: %+v", len(presses), len(want), evs)
	}
	for i, ps := range presses {
		if !ps[0].marker || ps[0].duration != 0 || ps[0].end {
			t.Errorf("press %d starts with %+v", i, ps[0])
		}
		n := len(ps)
		if n < 4 {
			t.Errorf("press %d has only %d packets: %+v", i, n, ps)
			continue
		}
		for j, e := range ps {
			if e.event != want[i] || e.volume != rfc4733Volume {
				t.Errorf("press %d packet %d: %+v", i, j, e)
			}
			if j > 0 && e.marker {
				t.Errorf("press %d packet %d repeats the marker", i, j)
			}
			if j > 0 && j < n-3 && (e.end || e.duration != uint16(j)*400) {
				t.Errorf("press %d update %d: %+v, want duration %d", i, j, e, j*400)
			}
		}
		for _, e := range ps[n-3:] {
			if !e.end || e.duration != wantDur {
				t.Errorf("press %d end packet %+v, want end with duration %d", i, e, wantDur)
			}
		}
		if ps[n-4].end {
			t.Errorf("press %d has more than three end packets", i)
		}
	}
}

func TestSenderRFC4733(t *testing.T) {
	var src source
	rec := &recorder{}
	jobs := make(chan *keyJob, 1)
	s := newSender(rec, &src, jobs, ptPCMU, 96)
	keys, _ := parseKeys("1#!")
	job := &keyJob{keys: keys, duration: 100 * time.Millisecond, gap: 100 * time.Millisecond, done: make(chan struct{})}
	jobs <- job
	runSender(s, 0, 100)
	select {
	case <-job.done:
	default:
		t.Fatal("job not finished after 1 s")
	}
	checkKeyPresses(t, events(rec.pkts, 96), []uint8{1, 11, 16}, 100*time.Millisecond)

	// One sequence number space and no audio during an event.
	inEvent := false
	for i, p := range rec.pkts {
		if i > 0 && p.SequenceNumber != rec.pkts[i-1].SequenceNumber+1 {
			t.Fatalf("sequence gap at packet %d", i)
		}
		if p.SSRC != s.ssrc {
			t.Fatalf("packet %d has another SSRC", i)
		}
		if p.PayloadType == 96 {
			inEvent = p.Payload[1]&0x80 == 0
			continue
		}
		if inEvent {
			t.Errorf("audio packet %d sent during an event", i)
		}
	}
	// Presses start 200 ms apart: 100 ms tone, 100 ms gap.
	evs := events(rec.pkts, 96)
	var starts []uint32
	for _, e := range evs {
		if e.marker {
			starts = append(starts, e.ts)
		}
	}
	for i := 1; i < len(starts); i++ {
		if d := starts[i] - starts[i-1]; d != 1600 {
			t.Errorf("presses %d and %d are %d samples apart, want 1600", i-1, i, d)
		}
	}
}

func TestSenderInbandDTMF(t *testing.T) {
	var src source
	rec := &recorder{}
	jobs := make(chan *keyJob, 1)
	s := newSender(rec, &src, jobs, ptPCMA, 101)
	keys, _ := parseKeys("59")
	job := &keyJob{keys: keys, inband: true, duration: 100 * time.Millisecond, gap: 100 * time.Millisecond, done: make(chan struct{})}
	jobs <- job
	runSender(s, 0, 60)
	select {
	case <-job.done:
	default:
		t.Fatal("job not finished")
	}
	var pcm []int16
	for _, p := range rec.pkts {
		if p.PayloadType != ptPCMA {
			t.Fatalf("in-audio DTMF sent payload type %d", p.PayloadType)
		}
		for _, b := range p.Payload {
			pcm = append(pcm, g711.DecodeAlawFrame(b))
		}
	}
	want := dBm0Peak(inbandLevel)
	tests := []struct {
		name      string
		from, to  int // samples
		low, high float64
		silent    bool
	}{
		{"5 sounds", 0, 800, 770, 1336, false},
		{"gap", 800, 1600, 0, 0, true},
		{"9 sounds", 1600, 2400, 852, 1477, false},
		{"after", 2400, 3200, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seg := pcm[tc.from:tc.to]
			if tc.silent {
				for i, v := range seg {
					if v > 8 || v < -8 {
						t.Fatalf("sample %d = %d in silence", tc.from+i, v)
					}
				}
				return
			}
			for _, f := range []float64{tc.low, tc.high} {
				if a := goertzel(seg, f); math.Abs(a-want)/want > 0.05 {
					t.Errorf("%.0f Hz at amplitude %.0f, want %.0f (-10 dBm0)", f, a, want)
				}
			}
			for _, f := range []float64{697, 941, 1209, 1633} {
				if f == tc.low || f == tc.high {
					continue
				}
				if a := goertzel(seg, f); a > want/10 {
					t.Errorf("%.0f Hz present at %.0f", f, a)
				}
			}
		})
	}
}

func TestSendDigitsOnTheWire(t *testing.T) {
	tests := []struct {
		name      string
		method    DTMFMethod
		answerPTs string
		keys      string
	}{
		{"rfc2833 with the negotiated payload type", DTMFRFC2833, "0 96", "5#F"},
		{"sip info", DTMFInfo, "0 101", "5*F"},
		{"in audio", DTMFInband, "0 101", "5F"},
		{"rfc2833 falls back to audio", DTMFRFC2833, "0", "5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pr := newPeer(t, "udp")
			pr.set(func(p *peer) { p.answerPTs = tc.answerPTs })
			p := startPhone(t, pr, func(c *Config) {
				c.Lines[0].DTMF = tc.method
				c.Lines[0].DigitGap = 60 * time.Millisecond
			})
			ctx := testCtx(t)
			if err := p.OffHook(ctx, 0); err != nil {
				t.Fatal(err)
			}
			if err := p.SendDigits(ctx, 0, tc.keys); err != nil {
				t.Fatal(err)
			}
			infos := pr.requests(sip.INFO)
			switch {
			case tc.method == DTMFRFC2833 && tc.answerPTs != "0":
				waitUntil(t, "15 event packets", func() bool { return len(events(pr.rtp.packets(), 96)) >= 3*5 })
				checkKeyPresses(t, events(pr.rtp.packets(), 96), []uint8{5, 11, 16}, 100*time.Millisecond)
				if len(infos) != 0 {
					t.Errorf("sent %d INFO", len(infos))
				}
			case tc.method == DTMFInfo:
				if len(infos) != 3 {
					t.Fatalf("%d INFO requests, want 3", len(infos))
				}
				wants := []struct{ ct, body string }{
					{"application/dtmf-relay", "Signal=5\r\nDuration=100\r\n"},
					{"application/dtmf-relay", "Signal=*\r\nDuration=100\r\n"},
					{"application/hook-flash", "signal=hf\r\n"},
				}
				for i, w := range wants {
					if header(infos[i], "Content-Type") != w.ct || string(infos[i].Body()) != w.body {
						t.Errorf("INFO %d: %s %q", i, header(infos[i], "Content-Type"), infos[i].Body())
					}
				}
			default:
				audio := pr.rtp.audio(ptPCMU)
				found := false
				for i := 0; i+400 <= len(audio); i += 80 {
					seg := audio[i : i+400]
					if goertzel(seg, 770) > 3000 && goertzel(seg, 1336) > 3000 {
						found = true
						break
					}
				}
				if !found {
					t.Errorf("no 770+1336 Hz tone pair in %d received samples", len(audio))
				}
				if len(events(pr.rtp.packets(), 101)) != 0 {
					t.Errorf("telephone-events sent by an in-audio line")
				}
				if strings.Contains(tc.keys, "F") && (len(infos) != 1 || header(infos[0], "Content-Type") != "application/hook-flash") {
					t.Errorf("flash of an in-audio line: %d INFO", len(infos))
				}
			}
		})
	}
}
