package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/config"
	"github.com/sip-phone-api/sipphone/internal/peers"
	"github.com/sip-phone-api/sipphone/internal/state"
)

// The rough edges a new user meets in the first hour.

// wsDial opens a WebSocket on the server's WebSocket port with headers,
// returning the HTTP answer when the upgrade was refused.
func (s *testServer) wsDial(path string, h http.Header) (*websocket.Conn, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, res, err := websocket.Dial(ctx, "ws://"+s.WSAddr().String()+path, &websocket.DialOptions{HTTPHeader: h})
	if c != nil {
		s.t.Cleanup(func() { c.CloseNow() })
	}
	return c, res, err
}

// wantProblem checks an answer is problem+json with the status.
func wantProblem(t *testing.T, what string, res *http.Response, status int) string {
	t.Helper()
	if res == nil {
		t.Fatalf("%s: no HTTP answer", what)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != status || res.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(b), `"detail"`) {
		t.Fatalf("%s = %d %s %s, want %d problem+json", what, res.StatusCode, res.Header.Get("Content-Type"), b, status)
	}
	return string(b)
}

func TestStatusWithoutLinesIsUnknown(t *testing.T) {
	s := startServer(t, "", "")
	if code := s.do("GET", "/status", "", nil); code != 200 || !strings.Contains(s.lastBody, `"off_hook":null`) {
		t.Fatalf("GET /status with no line = %d %s, want off_hook null", code, s.lastBody)
	}
	c, _, err := s.wsDial("/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil || !strings.Contains(string(b), `"lines":[]`) {
		t.Fatalf("snapshot with no line = %s (%v), want lines: []", b, err)
	}
}

func TestEveryErrorIsProblemJSON(t *testing.T) {
	s := startServer(t, "", "")
	get := func(method, url string) *http.Response {
		req, _ := http.NewRequest(method, url, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	wantProblem(t, "GET /nope", get("GET", s.url("/nope")), 404)
	res := get("PUT", s.url("/status"))
	if body := wantProblem(t, "PUT /status", res, 405); !strings.Contains(body, "GET") || res.Header.Get("Allow") == "" {
		t.Fatalf("405 does not say which methods are allowed: %s (Allow %q)", body, res.Header.Get("Allow"))
	}
	ws := "http://" + s.WSAddr().String()
	wantProblem(t, "GET /nope on the WebSocket port", get("GET", ws+"/nope"), 404)
	wantProblem(t, "POST /ws", get("POST", ws+"/ws"), 405)
	_, res, err := s.wsDial("/ws", http.Header{"Origin": {"http://evil.example"}})
	if err == nil {
		t.Fatal("a foreign Origin opened the event stream")
	}
	if body := wantProblem(t, "foreign Origin", res, 403); !strings.Contains(body, "api.allowed_origins") {
		t.Fatalf("403 does not say how to allow the origin: %s", body)
	}
}

func TestWebSocketAllowsTheAPIsOwnOrigins(t *testing.T) {
	s := startServer(t, "api: {allowed_origins: [\"https://ha.example\"]}\n", "")
	rest := s.RESTAddr().String()
	for _, origin := range []string{"http://" + rest, "http://" + s.WSAddr().String(), "https://ha.example"} {
		if _, res, err := s.wsDial("/ws", http.Header{"Origin": {origin}}); err != nil {
			t.Errorf("Origin %s refused: %v (%v)", origin, err, res)
		}
	}
	// Same host on a port the server does not serve, another host: refused.
	_, port, _ := strings.Cut(rest, ":")
	for _, origin := range []string{"http://127.0.0.1:9", "http://other.example:" + port} {
		_, res, err := s.wsDial("/ws", http.Header{"Origin": {origin}})
		if err == nil {
			t.Errorf("Origin %s accepted", origin)
			continue
		}
		wantProblem(t, "Origin "+origin, res, 403)
	}
}

func TestEventsLineFilter(t *testing.T) {
	s := startServer(t, "lines: [{id: kitchen, user: phone1}, {id: hall, user: phone2}]\n", "")
	ev := s.events("?line=hall")
	if len(ev.state.Lines) != 1 || ev.state.Lines[0].ID != "hall" {
		t.Fatalf("snapshot with ?line=hall: %+v", ev.state.Lines)
	}
	_, res, err := s.wsDial("/ws?line=attic", nil)
	if err == nil {
		t.Fatal("?line= with an unknown line accepted")
	}
	if body := wantProblem(t, "?line=attic", res, 400); !strings.Contains(body, "kitchen") {
		t.Fatalf("400 does not list the known lines: %s", body)
	}
}

func TestDeleteLearnedLine(t *testing.T) {
	s := startServer(t, "", "")
	ev := s.events("?types=registered,unregistered")
	p := newRawPhone(t)
	p.register(s.sipAddr(), "phone1")
	ev.expect(sipphone.EventRegistered)
	if code := s.do("DELETE", "/lines/nope", "", nil); code != 404 {
		t.Fatalf("DELETE unknown line = %d", code)
	}
	s.ring(`{"timeout_s": 60}`) // the raw phone never answers: the line rings
	if code := s.do("DELETE", "/lines/phone1", "", nil); code != 409 {
		t.Fatalf("DELETE a ringing line = %d %s, want 409", code, s.lastBody)
	}
	if code := s.do("DELETE", "/ring", "", nil); code != 202 {
		t.Fatalf("DELETE /ring = %d", code)
	}
	s.waitFor("the ring to end", func() bool { return s.status().line("phone1").State == sipphone.StateOnHook })
	if code := s.do("DELETE", "/lines/phone1", "", nil); code != 204 {
		t.Fatalf("DELETE /lines/phone1 = %d %s", code, s.lastBody)
	}
	if e := ev.expect(sipphone.EventUnregistered)[0]; e.Line != "phone1" || e.Reason != "deleted" {
		t.Fatalf("unregistered event %+v", e)
	}
	if st := s.status(); len(st.Lines) != 0 {
		t.Fatalf("/status after delete: %+v", st.Lines)
	}
	if code := s.do("GET", "/lines/phone1", "", nil); code != 404 {
		t.Fatalf("GET deleted line = %d", code)
	}
	s.waitFor("the state file to forget the line", func() bool {
		f, err := state.Load(s.state)
		return err == nil && len(f.Lines) == 0
	})

	c := startServer(t, "lines: [{id: kitchen, user: phone1}]\n", "")
	var pb problemBody
	if code := c.do("DELETE", "/lines/kitchen", "", &pb); code != 422 || !strings.Contains(pb.Detail, "configuration") {
		t.Fatalf("DELETE a configured line = %d %+v, want 422", code, pb)
	}
}

// TestAudioStopTheOriginalWay: POST /audio/stop with no body, with a line,
// and for a stream that already ended; PCMU and 44.1 kHz are accepted.
func TestAudioStopTheOriginalWay(t *testing.T) {
	s := startServer(t, "", "")
	ev := s.events("?types=registered,off_hook,audio_start,audio_stop")
	startBaresip(t, s.sipAddr(), "phone1", "x", "auto")
	ev.expect(sipphone.EventRegistered)
	s.ring("")
	ev.expect(sipphone.EventOffHook)

	start := func(body string) audioStream {
		t.Helper()
		var as audioStream
		if code := s.do("POST", "/audio/start", body, &as); code != 201 {
			t.Fatalf("POST /audio/start %s = %d %s", body, code, s.lastBody)
		}
		ev.expect(sipphone.EventAudioStart)
		return as
	}
	type stopped struct {
		StreamID string `json:"stream_id"`
		Reason   string `json:"reason"`
		Streams  []struct {
			StreamID string `json:"stream_id"`
			Already  bool   `json:"already_ended"`
		} `json:"streams"`
	}
	// Codec names as in the configuration, any case; a browser's rate.
	as := start(`{"format":"PCMU","sample_rate":44100}`)
	if as.Format != "ulaw" || as.SampleRate != 44100 {
		t.Fatalf("stream %+v, want canonical ulaw at 44100 Hz", as)
	}
	var st stopped
	if code := s.do("POST", "/audio/stop", "", &st); code != 200 || st.StreamID != as.StreamID || st.Reason != "stopped" {
		t.Fatalf("POST /audio/stop with no body = %d %s", code, s.lastBody)
	}
	ev.expect(sipphone.EventAudioStop)
	// Again: it ended; the answer says why, not 404.
	st = stopped{}
	if code := s.do("POST", "/audio/stop", `{"stream_id":"`+as.StreamID+`"}`, &st); code != 200 || st.Reason != "stopped" || len(st.Streams) != 1 || !st.Streams[0].Already {
		t.Fatalf("stopping an ended stream = %d %s", code, s.lastBody)
	}
	if code := s.do("POST", "/audio/stop", "", nil); code != 404 {
		t.Fatalf("POST /audio/stop with no stream = %d %s", code, s.lastBody)
	}

	a, b := start(`{"format":"alaw"}`), start(`{"format":"pcma"}`)
	if b.Format != "alaw" {
		t.Fatalf("pcma answered as %q", b.Format)
	}
	if code := s.do("POST", "/audio/stop", "{}", nil); code != 422 || !strings.Contains(s.lastBody, a.StreamID) {
		t.Fatalf("POST /audio/stop {} with two streams = %d %s, want 422 naming them", code, s.lastBody)
	}
	st = stopped{}
	if code := s.do("POST", "/audio/stop", `{"line":"phone1"}`, &st); code != 200 || len(st.Streams) != 2 {
		t.Fatalf("POST /audio/stop {line} = %d %s", code, s.lastBody)
	}
	if code := s.do("POST", "/audio/start", `{"sample_rate":47999}`, nil); code != 422 {
		t.Fatalf("an unconvertible rate = %d %s", code, s.lastBody)
	}
	// Loopback and SIP tracing with no body switch on.
	var lb struct{ Loopback bool }
	if code := s.do("POST", "/lines/phone1/loopback", "", &lb); code != 200 || !lb.Loopback {
		t.Fatalf("loopback with no body = %d %s", code, s.lastBody)
	}
	if code := s.do("POST", "/lines/phone1/loopback", `{"enabled":false}`, &lb); code != 200 || lb.Loopback {
		t.Fatalf("loopback off = %d %s", code, s.lastBody)
	}
	if code := s.do("POST", "/diagnostics/sip-trace", "", nil); code != 200 || !strings.Contains(s.lastBody, `"sip_tracing":true`) {
		t.Fatalf("sip-trace with no body = %d %s", code, s.lastBody)
	}
}

// TestShutdownDeliversHangupThenUnknownAfterRestart: the hangup {reason:
// shutdown} reaches clients before the 1001 close, and the line comes
// back unknown after a restart.
func TestShutdownDeliversHangupThenUnknownAfterRestart(t *testing.T) {
	s := startServer(t, "", "")
	ev := s.events("?types=registered,off_hook,hangup")
	startBaresip(t, s.sipAddr(), "phone1", "x", "auto")
	ev.expect(sipphone.EventRegistered)
	s.ring("")
	ev.expect(sipphone.EventOffHook)
	s.stop()
	var hangup *sipphone.Event
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, b, err := ev.c.Read(ctx)
		cancel()
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusGoingAway {
				t.Fatalf("event stream ended with %v, want 1001", err)
			}
			break
		}
		if strings.Contains(string(b), `"type":"hangup"`) {
			hangup = &sipphone.Event{}
			if err := json.Unmarshal(b, hangup); err != nil || hangup.Reason != "shutdown" {
				t.Fatalf("hangup event %s", b)
			}
		}
	}
	if hangup == nil {
		t.Fatal("the client was closed without the hangup {reason: shutdown} event")
	}
	r := startServer(t, "", s.state)
	if l := r.status().line("phone1"); l == nil || l.State != sipphone.StateUnknown || l.OffHook != nil {
		t.Fatalf("line after restart: %+v, want unknown (off_hook null)", l)
	}
	// A client that missed it replays the hangup after the restart, not a gap.
	again := r.events("?since=" + strconv.FormatUint(hangup.Seq-1, 10))
	if e := again.next(10 * time.Second); e.Type != sipphone.EventHangup || e.Seq != hangup.Seq || e.Reason != "shutdown" {
		t.Fatalf("replay after restart starts with %+v, want the hangup {reason: shutdown}", e)
	}
}

// rawEvents reads raw event frames until one of type typ arrives.
func rawEvent(t *testing.T, c *websocket.Conn, typ string) string {
	t.Helper()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, b, err := c.Read(ctx)
		cancel()
		if err != nil {
			t.Fatalf("waiting for %s: %v", typ, err)
		}
		if strings.Contains(string(b), `"type":"`+typ+`"`) {
			return string(b)
		}
	}
}

// TestRingEventsWithSipp: ring_start when the INVITE left, with caller_id
// and pattern null when not given; ring_progress on the phone's 180.
func TestRingEventsWithSipp(t *testing.T) {
	s := startServer(t, "", "")
	c, _, err := s.wsDial("/ws?types=registered,ring_start,ring_progress,ring_stop,off_hook", nil)
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(peers.FreeUDPPort(t))
	s.sippClient("register.xml", "-s", "phone1", "-p", port)
	rawEvent(t, c, "registered")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	var out string
	go func() {
		var err error
		out, err = s.sipp(ctx, "uas_plain.xml", "-p", port, "-mp", strconv.Itoa(peers.FreeUDPPort(t)))
		done <- err
	}()
	waitUDPBound(t, port)
	s.ring("")
	start := rawEvent(t, c, "ring_start")
	if !strings.Contains(start, `"caller_id":null`) || !strings.Contains(start, `"pattern":null`) || !strings.Contains(start, `"call_id":"`) {
		t.Fatalf("ring_start %s, want caller_id and pattern null and the call_id", start)
	}
	rawEvent(t, c, "ring_progress")
	if stop := rawEvent(t, c, "ring_stop"); !strings.Contains(stop, `"reason":"answered"`) {
		t.Fatalf("ring_stop %s", stop)
	}
	rawEvent(t, c, "off_hook")
	// sipp expects our ACK before the BYE: hang up once the ACK left.
	s.waitFor("our ACK", func() bool {
		for _, m := range s.SIP.Messages() {
			if m.Direction == "out" && strings.HasPrefix(m.FirstLine, "ACK ") {
				return true
			}
		}
		return false
	})
	if code := s.do("POST", "/hangup", "", nil); code != 202 {
		t.Fatalf("POST /hangup = %d", code)
	}
	if err := <-done; err != nil {
		t.Fatalf("sipp: %v\n%s", err, tail(out))
	}
}

// TestRingRefusedSynchronously: before any phone registered, and with no
// RTP port free, POST /ring fails at once with 503 and says why.
func TestRingRefusedSynchronously(t *testing.T) {
	s := startServer(t, "", "")
	var pb problemBody
	if code := s.do("POST", "/ring", "", &pb); code != 503 || !strings.Contains(pb.Detail, "sipphone check") {
		t.Fatalf("POST /ring with no line = %d %+v, want 503 with a hint", code, pb)
	}

	// A two-port RTP range (the smallest allowed) whose ports are taken by
	// calls in progress.
	r := startServerWith(t, "", "", func(c *config.Config) {
		port := peers.FreeUDPPort(t)
		c.Audio.RTPPorts.Min, c.Audio.RTPPorts.Max = port, port+1
	})
	for range 2 {
		if held, err := r.Ports.Open(); err == nil {
			defer r.Ports.Release(held)
		}
	}
	p := newRawPhone(t)
	p.register(r.sipAddr(), "phone1")
	pb = problemBody{}
	if code := r.do("POST", "/ring", "", &pb); code != 503 || !strings.Contains(pb.Detail, "rtp_port") {
		t.Fatalf("POST /ring with no RTP port = %d %+v, want 503 naming audio.rtp_port_min/max", code, pb)
	}
	p.conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if n, _, err := p.conn.ReadFromUDP(make([]byte, 2048)); err == nil {
		t.Fatalf("the phone received a message (%d bytes) for a refused ring", n)
	}
}

// TestLateAudioClientStartsLive: a client connecting seconds after POST
// /audio/start gets live audio, not a burst of the queued past.
func TestLateAudioClientStartsLive(t *testing.T) {
	s := startServer(t, "", "")
	ev := s.events("?types=registered,off_hook")
	startBaresip(t, s.sipAddr(), "phone1", "x", "auto")
	ev.expect(sipphone.EventRegistered)
	s.ring("")
	ev.expect(sipphone.EventOffHook)
	received := func() uint64 {
		st := s.status().line("phone1")
		if st.Call == nil || st.Call.Media == nil {
			return 0
		}
		return st.Call.Media.RTP.PacketsReceived
	}
	var as audioStream
	if code := s.do("POST", "/audio/start", `{"direction":"in","frame_ms":20}`, &as); code != 201 {
		t.Fatalf("POST /audio/start = %d %s", code, s.lastBody)
	}
	// Let the listener's queue (1 s) fill with audio nobody takes.
	from := received()
	s.waitFor("1.5 s of audio queued", func() bool { return received() >= from+75 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, as.WSURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	// In the first 400 ms a live client gets about 20 frames; one served
	// the queued second first gets 50 more at once.
	frames := 0
	window, wcancel := context.WithTimeout(ctx, 400*time.Millisecond)
	defer wcancel()
	for {
		if _, _, err := c.Read(window); err != nil {
			break
		}
		frames++
	}
	if frames == 0 || frames > 40 {
		t.Fatalf("%d frames in the first 400 ms, want live audio (about 20)", frames)
	}
}
