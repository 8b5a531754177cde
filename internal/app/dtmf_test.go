package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/dsp"
	"github.com/sip-phone-api/sipphone/internal/peers"
	"github.com/sip-phone-api/sipphone/internal/sim"
)

// callScenario writes a sipp scenario: INVITE (offering mline codecs and
// telephone-event 101), ACK, then middle, then BYE. It returns its path.
func callScenario(t *testing.T, mline, middle string) string {
	t.Helper()
	x := `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="call with media">
  <send retrans="500">
    <![CDATA[
      INVITE sip:100@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:[service]@[remote_ip]>;tag=[pid]SIPpTag01[call_number]
      To: <sip:100@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:[service]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=[service] 8000 8000 IN IP[local_ip_type] [local_ip]
      s=SIP Call
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP ` + mline + ` 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16
      a=ptime:20

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180"/>
  <recv response="200"/>
  <send>
    <![CDATA[
      ACK sip:100@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:[service]@[remote_ip]>;tag=[pid]SIPpTag01[call_number]
      To: <sip:100@[remote_ip]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
` + middle + `
  <send retrans="500">
    <![CDATA[
      BYE sip:100@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:[service]@[remote_ip]>;tag=[pid]SIPpTag01[call_number]
      To: <sip:100@[remote_ip]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 20 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>
`
	p := filepath.Join(t.TempDir(), "call.xml")
	if err := os.WriteFile(p, []byte(x), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// info is an in-dialog INFO with body of type ct, expecting status want.
func info(cseq int, ct, body string, want int) string {
	return fmt.Sprintf(`  <send retrans="500">
    <![CDATA[
      INFO sip:100@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:[service]@[remote_ip]>;tag=[pid]SIPpTag01[call_number]
      To: <sip:100@[remote_ip]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: %d INFO
      Max-Forwards: 70
      Content-Type: %s
      Content-Length: [len]

      %s
    ]]>
  </send>
  <recv response="%d"/>
`, cseq, ct, body, want)
}

func (s *testServer) sippFile(path string, args ...string) {
	s.t.Helper()
	if err := s.sippFileErr(path, args...); err != nil {
		s.t.Fatal(err)
	}
}

// sippFileErr runs a scenario file; safe to call from any goroutine.
func (s *testServer) sippFileErr(path string, args ...string) error {
	bin := peers.Require(s.t, "sipp", "sip-tester")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errFile := filepath.Join(s.t.TempDir(), "err.log")
	full := append([]string{"-sf", path, "-m", "1", "-i", "127.0.0.1", "-timeout", "20s", "-timeout_error", "-nostdin",
		"-trace_err", "-error_file", errFile}, args...)
	out, err := execCombined(ctx, bin, append(full, s.sipAddr())...)
	if err != nil {
		e, _ := os.ReadFile(errFile)
		return fmt.Errorf("sipp %s: %v\n%s\n%s", filepath.Base(path), err, tail(out), tail(string(e)))
	}
	return nil
}

// TestDTMFFromSippCaptures plays sipp's RFC 2833 captures (each press has
// three end packets) into a call: each yields exactly one dtmf event.
func TestDTMFFromSippCaptures(t *testing.T) {
	s := startServer(t, "", "")
	ev := s.events("?types=dtmf,off_hook,on_hook")
	port := strconv.Itoa(peers.FreeUDPPort(t))
	s.sippClient("register.xml", "-s", "phone1", "-p", port)
	for _, c := range []struct{ file, digit string }{
		{"dtmf_2833_1.pcap", "1"}, {"dtmf_2833_0.pcap", "0"}, {"dtmf_2833_9.pcap", "9"},
		{"dtmf_2833_star.pcap", "*"}, {"dtmf_2833_pound.pcap", "#"},
	} {
		t.Run(c.file, func(t *testing.T) {
			pcap := filepath.Join("/usr/share/sip-tester", c.file)
			if _, err := os.Stat(pcap); err != nil {
				peers.Require(t, "/usr/share/sip-tester/"+c.file, "sip-tester")
			}
			sc := callScenario(t, "0", `  <nop><action><exec play_pcap_audio="`+pcap+`"/></action></nop>
  <pause milliseconds="800"/>
`)
			s.sippFile(sc, "-s", "phone1", "-p", port, "-mp", strconv.Itoa(peers.FreeUDPPort(t)))
			got := ev.expect(sipphone.EventOffHook, sipphone.EventDTMF, sipphone.EventOnHook)
			d := got[1]
			if d.Digit != c.digit || d.Method != "rfc4733" || d.DurationMS == nil || *d.DurationMS != 280 {
				t.Fatalf("dtmf event %s by %s lasting %s, want %s by rfc4733 lasting 280 ms (the capture's duration field)", d.Digit, d.Method, msOf(d), c.digit)
			}
		})
	}
	if st := s.status(); st.LastDTMF != "#" {
		t.Fatalf("last_dtmf = %q, want #", st.LastDTMF)
	}
}

// TestDTMFBySIPInfoWithSipp sends keys and a hook flash by SIP INFO, and an
// INFO the server does not understand.
func TestDTMFBySIPInfoWithSipp(t *testing.T) {
	s := startServer(t, "", "")
	ev := s.events("?types=dtmf,flash,on_hook")
	port := strconv.Itoa(peers.FreeUDPPort(t))
	s.sippClient("register.xml", "-s", "phone1", "-p", port)
	middle := info(2, "application/dtmf-relay", "Signal=5\r\n      Duration=160", 200) +
		info(3, "application/dtmf", "#", 200) +
		info(4, "application/hook-flash", "signal=hf", 200) +
		info(5, "application/dtmf-relay", "Signal=16\r\n      Duration=500", 200) +
		info(6, "text/x-unknown", "hello", 415) +
		info(7, "application/dtmf-relay", "Signal=Z", 400)
	s.sippFile(callScenario(t, "0", middle), "-s", "phone1", "-p", port, "-mp", strconv.Itoa(peers.FreeUDPPort(t)))
	got := ev.expect(sipphone.EventDTMF, sipphone.EventDTMF, sipphone.EventFlash, sipphone.EventFlash, sipphone.EventOnHook)
	if got[0].Digit != "5" || got[0].Method != "sip_info" || *got[0].DurationMS != 160 || got[1].Digit != "#" || got[2].Method != "sip_info" {
		t.Fatalf("events %+v", got)
	}
}

// TestDTMFFromSimulatorAllMethods: the simulated adapter sends keys by
// each method the HT802 uses; each press arrives once with its method.
func TestDTMFFromSimulatorAllMethods(t *testing.T) {
	cases := []struct {
		method sim.DTMFMethod
		want   string
	}{
		{"rfc2833", "rfc4733"},
		{"info", "sip_info"},
		{"inband", "inband"},
	}
	for _, c := range cases {
		t.Run(string(c.method), func(t *testing.T) {
			s := startServer(t, "", "")
			ev := s.events("?types=dtmf,flash,off_hook,on_hook")
			ph := startSim(t, s.sipAddr(), sim.LineConfig{User: "phone1", DTMF: c.method})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := ph.OffHook(ctx, 0); err != nil {
				t.Fatal(err)
			}
			ev.expect(sipphone.EventOffHook)
			keys := "159*0#D"
			if err := ph.SendDigits(ctx, 0, keys); err != nil {
				t.Fatal(err)
			}
			var types []string
			for range keys {
				types = append(types, sipphone.EventDTMF)
			}
			got := ev.expect(types...)
			for i, e := range got {
				if e.Digit != string(keys[i]) || e.Method != c.want {
					t.Fatalf("press %d: %+v, want %c by %s", i, e, keys[i], c.want)
				}
				if c.method != "info" && (e.DurationMS == nil || *e.DurationMS < 60 || *e.DurationMS > 160) {
					t.Fatalf("press %d lasted %s, want about 100 ms", i, msOf(e))
				}
			}
			if err := ph.SendDigits(ctx, 0, "!"); err != nil {
				t.Fatal(err)
			}
			if f := ev.expect(sipphone.EventFlash)[0]; f.Line != "phone1" {
				t.Fatalf("flash %+v", f)
			}
			// Nothing more until the hang-up: no press reported twice.
			ph.OnHook(ctx, 0)
			for e := ev.next(5 * time.Second); e.Type != sipphone.EventOnHook; e = ev.next(5 * time.Second) {
				if e.Type == sipphone.EventDTMF || e.Type == sipphone.EventFlash {
					t.Fatalf("extra event %+v", e)
				}
			}
		})
	}
}

// TestSippPCMAAudioReachesClient: sipp plays its G.711 A-law capture into
// a call that negotiated PCMA; a WebSocket client receives the audio.
func TestSippPCMAAudioReachesClient(t *testing.T) {
	s := startServer(t, "", "")
	ev := s.events("?types=off_hook,on_hook")
	port := strconv.Itoa(peers.FreeUDPPort(t))
	s.sippClient("register.xml", "-s", "phone1", "-p", port)
	pcap := "/usr/share/sip-tester/g711a.pcap"
	if _, err := os.Stat(pcap); err != nil {
		peers.Require(t, pcap, "sip-tester")
	}
	sc := callScenario(t, "8", `  <pause milliseconds="300"/>
  <nop><action><exec play_pcap_audio="`+pcap+`"/></action></nop>
  <pause milliseconds="4000"/>
`)
	done := make(chan error, 1)
	mport := strconv.Itoa(peers.FreeUDPPort(t))
	go func() { done <- s.sippFileErr(sc, "-s", "phone1", "-p", port, "-mp", mport) }()
	ev.expect(sipphone.EventOffHook)
	var as audioStream
	if code := s.do("POST", "/audio/start", `{"direction":"in","format":"pcm16","sample_rate":16000}`, &as); code != 201 {
		t.Fatalf("audio/start = %d", code)
	}
	if l := s.status().line("phone1"); l.Call == nil || l.Call.Codec != "PCMA" {
		t.Fatalf("call %+v, want PCMA", l.Call)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, as.WSURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	loudest := -200.0
	var texts []string
	for i := 0; i < 150 && loudest < -40; i++ { // up to 3 s of 20 ms chunks
		pcm := readPCM(t, c, 320, &texts)
		if rms, _ := dsp.Level(pcm); rms > loudest {
			loudest = rms
		}
	}
	if loudest < -40 {
		t.Fatalf("loudest chunk %.1f dBFS: the capture's audio never arrived", loudest)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ev.expect(sipphone.EventOnHook)
}

func msOf(e sipphone.Event) string {
	if e.DurationMS == nil {
		return "(none)"
	}
	return strconv.Itoa(*e.DurationMS) + " ms"
}
