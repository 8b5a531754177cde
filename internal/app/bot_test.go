package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/dsp"
	"github.com/sip-phone-api/sipphone/internal/peers"
)

// twilioBot is the far end of a Media Stream as Twilio's "Media Streams -
// WebSocket Messages" reference describes it: a WebSocket server that is
// sent connected, start, then media/dtmf/mark messages and finally stop,
// and may send media, mark and clear. Every message is checked against
// that reference as it arrives; violations fail the test at the end.
type twilioBot struct {
	t     *testing.T
	srv   *httptest.Server
	conns chan *botConn
}

func newTwilioBot(t *testing.T) *twilioBot {
	tb := &twilioBot{t: t, conns: make(chan *botConn, 4)}
	tb.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		c.SetReadLimit(1 << 20)
		bc := &botConn{t: t, c: c, msgs: make(chan map[string]any, 1024), done: make(chan struct{}), path: r.URL.Path}
		tb.conns <- bc
		bc.read()
	}))
	t.Cleanup(tb.srv.Close)
	return tb
}

// url is the bot's ws:// URL.
func (tb *twilioBot) url() string { return "ws" + strings.TrimPrefix(tb.srv.URL, "http") + "/media" }

// accept waits for sipphone to connect.
func (tb *twilioBot) accept() *botConn {
	tb.t.Helper()
	select {
	case bc := <-tb.conns:
		tb.t.Cleanup(func() { bc.c.CloseNow() })
		return bc
	case <-time.After(15 * time.Second):
		tb.t.Fatal("sipphone never connected to the bot")
		return nil
	}
}

type botConn struct {
	t    *testing.T
	c    *websocket.Conn
	path string
	msgs chan map[string]any // every message but media
	done chan struct{}       // closed when the connection ends

	mu         sync.Mutex
	violations []string
	audio      []byte // the mu-law payloads, in order
	n          int    // messages received
	seq, chunk int
	lastTS     int
	streamSID  string
	start      map[string]any
	stopped    bool
	closeErr   error
}

var (
	sidMZ = regexp.MustCompile(`^MZ[0-9a-f]{32}$`)
	sidAC = regexp.MustCompile(`^AC[0-9a-f]{32}$`)
	sidCA = regexp.MustCompile(`^CA[0-9a-f]{32}$`)
)

func (bc *botConn) violate(format string, args ...any) {
	bc.violations = append(bc.violations, fmt.Sprintf("message %d: ", bc.n)+fmt.Sprintf(format, args...))
}

func str(m map[string]any, keys ...string) (string, bool) {
	var v any = m
	for _, k := range keys {
		o, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		v = o[k]
	}
	s, ok := v.(string)
	return s, ok
}

func (bc *botConn) read() {
	defer close(bc.done)
	for {
		typ, b, err := bc.c.Read(context.Background())
		if err != nil {
			bc.mu.Lock()
			bc.closeErr = err
			bc.mu.Unlock()
			return
		}
		bc.mu.Lock()
		bc.n++
		var m map[string]any
		switch {
		case typ != websocket.MessageText:
			bc.violate("binary message")
		case json.Unmarshal(b, &m) != nil:
			bc.violate("not JSON: %s", b)
		default:
			bc.check(m)
		}
		bc.mu.Unlock()
		if m != nil && m["event"] != "media" {
			bc.msgs <- m
		}
	}
}

// check holds one message to the reference. Called with mu held.
func (bc *botConn) check(m map[string]any) {
	ev, _ := str(m, "event")
	if bc.stopped {
		bc.violate("%s after stop", ev)
	}
	if bc.n == 1 {
		if ev != "connected" || m["protocol"] != "Call" || m["version"] != "1.0.0" {
			bc.violate("first message %v, want connected {protocol: Call, version: 1.0.0}", m)
		}
		return
	}
	// sequenceNumber: a string, 1 for start, +1 for every message after.
	bc.seq++
	if s, ok := str(m, "sequenceNumber"); !ok || s != strconv.Itoa(bc.seq) {
		bc.violate("%s sequenceNumber %v, want %q", ev, m["sequenceNumber"], strconv.Itoa(bc.seq))
	}
	sid, _ := str(m, "streamSid")
	if bc.n == 2 {
		bc.start = m
		bc.streamSID = sid
		if ev != "start" {
			bc.violate("second message is %s, want start", ev)
			return
		}
		st, _ := m["start"].(map[string]any)
		if s, _ := str(st, "streamSid"); s != sid || !sidMZ.MatchString(sid) {
			bc.violate("streamSid %q / start.streamSid %q: want the same MZ+32 hex", sid, s)
		}
		if s, _ := str(st, "accountSid"); !sidAC.MatchString(s) {
			bc.violate("start.accountSid %q", s)
		}
		if s, _ := str(st, "callSid"); !sidCA.MatchString(s) {
			bc.violate("start.callSid %q", s)
		}
		if tr, _ := json.Marshal(st["tracks"]); string(tr) != `["inbound"]` {
			bc.violate("start.tracks %s", tr)
		}
		if f, _ := json.Marshal(st["mediaFormat"]); string(f) != `{"channels":1,"encoding":"audio/x-mulaw","sampleRate":8000}` {
			bc.violate("start.mediaFormat %s", f)
		}
		if _, ok := st["customParameters"].(map[string]any); !ok {
			bc.violate("start.customParameters %v: want an object", st["customParameters"])
		}
		return
	}
	if sid != bc.streamSID {
		bc.violate("%s streamSid %q, want %q", ev, sid, bc.streamSID)
	}
	switch ev {
	case "media":
		bc.chunk++
		if s, _ := str(m, "media", "track"); s != "inbound" {
			bc.violate("media.track %q", s)
		}
		if s, _ := str(m, "media", "chunk"); s != strconv.Itoa(bc.chunk) {
			bc.violate("media.chunk %q, want %d", s, bc.chunk)
		}
		ts, _ := str(m, "media", "timestamp")
		if n, err := strconv.Atoi(ts); err != nil || n < bc.lastTS {
			bc.violate("media.timestamp %q after %d", ts, bc.lastTS)
		} else {
			bc.lastTS = n
		}
		p, _ := str(m, "media", "payload")
		a, err := base64.StdEncoding.DecodeString(p)
		if err != nil || len(a) != 160 {
			bc.violate("media.payload: %d bytes, %v; want 20 ms of 8 kHz mu-law", len(a), err)
		}
		bc.audio = append(bc.audio, a...)
	case "dtmf":
		if s, _ := str(m, "dtmf", "track"); s != "inbound_track" {
			bc.violate("dtmf.track %q", s)
		}
		if s, _ := str(m, "dtmf", "digit"); len(s) != 1 || !strings.Contains("0123456789*#ABCD", s) {
			bc.violate("dtmf.digit %q", s)
		}
	case "mark":
		if s, _ := str(m, "mark", "name"); s == "" {
			bc.violate("mark without mark.name")
		}
	case "stop":
		bc.stopped = true
		st, _ := bc.start["start"].(map[string]any)
		a, _ := str(m, "stop", "accountSid")
		c, _ := str(m, "stop", "callSid")
		if wa, _ := str(st, "accountSid"); a != wa {
			bc.violate("stop.accountSid %q, want %q", a, wa)
		}
		if wc, _ := str(st, "callSid"); c != wc {
			bc.violate("stop.callSid %q, want %q", c, wc)
		}
	default:
		bc.violate("unknown event %q", ev)
	}
}

// noViolations fails the test with every message that broke the reference.
func (bc *botConn) noViolations() {
	bc.t.Helper()
	bc.mu.Lock()
	defer bc.mu.Unlock()
	if len(bc.violations) > 0 {
		bc.t.Fatalf("messages break Twilio's reference:\n%s", strings.Join(bc.violations, "\n"))
	}
}

// params waits for the start message and returns start.customParameters.
func (bc *botConn) params() map[string]any {
	bc.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		bc.mu.Lock()
		st, _ := bc.start["start"].(map[string]any)
		bc.mu.Unlock()
		if st != nil {
			p, _ := st["customParameters"].(map[string]any)
			return p
		}
		if time.Now().After(deadline) {
			bc.t.Fatal("the bot never got a start message")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// expect returns the next message of event type ev (other non-media
// messages are skipped and returned in skipped).
func (bc *botConn) expect(ev string, skipped *[]map[string]any) map[string]any {
	bc.t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case m := <-bc.msgs:
			if m["event"] == ev {
				return m
			}
			if skipped != nil {
				*skipped = append(*skipped, m)
			}
		case <-deadline:
			bc.t.Fatalf("the bot never got a %s message", ev)
			return nil
		}
	}
}

// heard returns the phone's audio after skip, once at least n samples are in.
func (bc *botConn) heard(skip, n int) []int16 {
	bc.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		bc.mu.Lock()
		a := bc.audio
		bc.mu.Unlock()
		if len(a) >= skip+n {
			pcm := make([]int16, n)
			for i := range pcm {
				pcm[i] = dsp.UlawToLinear(a[skip+i])
			}
			return pcm
		}
		if time.Now().After(deadline) {
			bc.t.Fatalf("the bot heard %d samples, want %d", len(a), skip+n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sid returns the streamSid of the start message.
func (bc *botConn) sid() string {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	return bc.streamSID
}

func (bc *botConn) send(v any) {
	bc.t.Helper()
	b, _ := json.Marshal(v)
	if err := bc.c.Write(context.Background(), websocket.MessageText, b); err != nil {
		bc.t.Fatalf("bot write: %v", err)
	}
}

// play sends pcm as mu-law media messages of 20 ms, all at once.
func (bc *botConn) play(pcm []int16) {
	bc.t.Helper()
	for i := 0; i < len(pcm); i += 160 {
		u := make([]byte, min(160, len(pcm)-i))
		for j := range u {
			u[j] = dsp.LinearToUlaw(pcm[i+j])
		}
		bc.send(map[string]any{"event": "media", "streamSid": bc.sid(), "media": map[string]any{"payload": base64.StdEncoding.EncodeToString(u)}})
	}
}

type connection struct {
	ConnectionID string `json:"connection_id"`
	Line         string `json:"line"`
	CallID       string `json:"call_id"`
	Protocol     string `json:"protocol"`
	StreamSID    string `json:"stream_sid"`
	CallSID      string `json:"call_sid"`
	State        string `json:"state"`
}

// connect POSTs /lines/{line}/connect and wants 201.
func (s *testServer) connect(line, body string) connection {
	s.t.Helper()
	var c connection
	if code := s.do("POST", "/lines/"+line+"/connect", body, &c); code != 201 || c.ConnectionID == "" {
		s.t.Fatalf("POST /lines/%s/connect %s = %d: %s", line, body, code, s.lastBody)
	}
	return c
}

// tone returns d of freq at 8 kHz, -10 dBm0.
func tone(freq float64, d time.Duration) []int16 {
	pcm := make([]int16, int(d.Seconds()*8000))
	dsp.Tone(pcm, 8000, freq, -10, nil)
	return pcm
}

// recorded waits for baresip's recording of what it heard (sndfile).
func recorded(s *testServer, dir string) *dsp.WAV {
	var w *dsp.WAV
	s.waitFor("baresip's recording", func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, "*dec*.wav"))
		if len(m) == 0 {
			return false
		}
		data, _ := os.ReadFile(m[0])
		var err error
		w, err = dsp.ReadWAV(bytes.NewReader(data))
		return err == nil && len(w.Samples) > 0
	})
	return w
}

// seconds returns how long freq was heard in w, in 200 ms steps.
func seconds(w *dsp.WAV, freq float64) float64 {
	step, n := w.SampleRate/5, 0
	for i := 0; i+step <= len(w.Samples); i += step {
		seg := w.Samples[i : i+step]
		if rms, _ := dsp.Level(seg); rms > -35 && math.Abs(dsp.DominantFrequency(seg, w.SampleRate, 100, 3800, 5)-freq) <= 10 {
			n++
		}
	}
	return float64(n) / 5
}

// TestBotTwilioWithBaresip: a call answered by baresip is bridged to a
// Twilio-protocol bot; every message is checked against the reference.
func TestBotTwilioWithBaresip(t *testing.T) {
	s := startServer(t, "", "")
	ev := s.events("?types=registered,off_hook,on_hook,bot_connected,bot_disconnected,dtmf")
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec")
	os.MkdirAll(rec, 0o755)
	b := startBaresipIn(t, dir, s.sipAddr(), "phone1", "x", "auto", "module sndfile.so\nsnd_path "+rec+"\n")
	ev.expect(sipphone.EventRegistered)

	// Without a call: 409 as problem+json.
	if code := s.do("POST", "/lines/phone1/connect", `{"url":"ws://127.0.0.1:1/x"}`, nil); code != 409 || !strings.Contains(s.lastBody, "no call") {
		t.Fatalf("connect without a call = %d %s", code, s.lastBody)
	}
	s.ring("")
	off := ev.expect(sipphone.EventOffHook)[0]

	bot := newTwilioBot(t)
	conn := s.connect("phone1", `{"url":"`+bot.url()+`","parameters":{"room":"kitchen"}}`)
	if conn.Protocol != "twilio" || !sidMZ.MatchString(conn.StreamSID) || !sidCA.MatchString(conn.CallSID) || conn.CallID != off.CallID {
		t.Fatalf("connection %+v", conn)
	}
	bc := bot.accept()
	if e := ev.expect(sipphone.EventBotConnected)[0]; e.StreamID != conn.ConnectionID || e.Line != "phone1" || e.CallID != off.CallID {
		t.Fatalf("bot_connected %+v", e)
	}
	if code := s.do("POST", "/lines/phone1/connect", `{"url":"`+bot.url()+`"}`, nil); code != 409 {
		t.Fatalf("second connect = %d, want 409", code)
	}
	p := bc.params()
	if p["room"] != "kitchen" || p["line"] != "phone1" || p["direction"] != "to_phone" || p["to"] != "phone1" || p["from"] == "" {
		t.Fatalf("customParameters %v", p)
	}

	// The bot hears baresip's 440 Hz.
	heard := bc.heard(4000, 8000)
	if f := dsp.DominantFrequency(heard, 8000, 100, 3800, 5); math.Abs(f-440) > 10 {
		t.Fatalf("the bot heard %v Hz, want 440", f)
	}

	// The bot speaks 1 s of 1000 Hz at once and marks its end: the mark
	// comes back after the second has played (paced at real time).
	bc.play(tone(1000, time.Second))
	bc.send(map[string]any{"event": "mark", "streamSid": bc.sid(), "mark": map[string]any{"name": "greeting"}})
	sent := time.Now()
	if m := bc.expect("mark", nil); m["mark"].(map[string]any)["name"] != "greeting" {
		t.Fatalf("mark %v", m)
	}
	if d := time.Since(sent); d < 900*time.Millisecond {
		t.Fatalf("the mark came back after %v: the audio was not paced", d)
	}

	// Barge-in: 10 s queued, a mark, clear: the mark comes back at once
	// and the 1500 Hz never plays out.
	bc.play(tone(1500, 10*time.Second))
	bc.send(map[string]any{"event": "mark", "streamSid": bc.sid(), "mark": map[string]any{"name": "long"}})
	bc.send(map[string]any{"event": "clear", "streamSid": bc.sid()})
	sent = time.Now()
	if m := bc.expect("mark", nil); m["mark"].(map[string]any)["name"] != "long" {
		t.Fatalf("mark %v", m)
	}
	if d := time.Since(sent); d > 5*time.Second {
		t.Fatalf("the cleared mark came back after %v: clear did not drop the queue", d)
	}

	// Keys pressed on the phone arrive once each, in order.
	for _, k := range "72#" {
		b.command("sndcode", string(k))
		ev.expect(sipphone.EventDTMF)
	}
	var digits []string
	for range 3 {
		m := bc.expect("dtmf", nil)
		digits = append(digits, m["dtmf"].(map[string]any)["digit"].(string))
	}
	if strings.Join(digits, "") != "72#" {
		t.Fatalf("dtmf digits %v, want 7 2 #", digits)
	}

	// The phone hangs up: the bot gets stop, and the connection ends.
	b.command("hangup", "")
	bc.expect("stop", nil)
	ev.expect(sipphone.EventOnHook)
	if e := ev.expect(sipphone.EventBotDisconnected)[0]; e.Reason != "call_ended" || e.StreamID != conn.ConnectionID {
		t.Fatalf("bot_disconnected %+v", e)
	}
	select {
	case <-bc.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the bot's connection stayed open after stop")
	}
	// No second dtmf message for any key.
	close(bc.msgs)
	for m := range bc.msgs {
		if m["event"] == "dtmf" {
			t.Fatalf("extra dtmf %v", m)
		}
	}
	bc.noViolations()

	// baresip's recording holds the bot's second of 1000 Hz, and at most
	// a moment of the cleared 1500 Hz.
	w := recorded(s, rec)
	if got := seconds(w, 1000); got < 0.6 {
		t.Fatalf("the phone heard %.1f s of the bot's 1000 Hz, want about 1", got)
	}
	if got := seconds(w, 1500); got > 1 {
		t.Fatalf("the phone heard %.1f s of the cleared 1500 Hz", got)
	}
}

// callWithBaresip starts a server with extra config and baresip
// (recording what it hears into the returned directory), rings it and
// waits for the answer.
func callWithBaresip(t *testing.T, extra string) (*testServer, *eventClient, *baresip, string) {
	s := startServer(t, extra, "")
	ev := s.events("?types=registered,off_hook,on_hook,hangup,bot_connected,bot_disconnected")
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec")
	os.MkdirAll(rec, 0o755)
	b := startBaresipIn(t, dir, s.sipAddr(), "phone1", "x", "auto", "module sndfile.so\nsnd_path "+rec+"\n")
	ev.expect(sipphone.EventRegistered)
	s.ring("")
	ev.expect(sipphone.EventOffHook)
	return s, ev, b, rec
}

// TestBotClosingHangsUp: a bot that closes normally ends the call (no
// error tone); DELETE ends a bridge and keeps the call.
func TestBotClosingHangsUp(t *testing.T) {
	s, ev, _, _ := callWithBaresip(t, "")
	bot := newTwilioBot(t)

	conn := s.connect("phone1", `{"url":"`+bot.url()+`"}`)
	bc := bot.accept()
	ev.expect(sipphone.EventBotConnected)
	var del connection
	if code := s.do("DELETE", "/connections/"+conn.ConnectionID, "", &del); code != 200 || del.ConnectionID != conn.ConnectionID {
		t.Fatalf("DELETE /connections/%s = %d %s", conn.ConnectionID, code, s.lastBody)
	}
	bc.expect("stop", nil)
	if e := ev.expect(sipphone.EventBotDisconnected)[0]; e.Reason != "stopped" {
		t.Fatalf("bot_disconnected %+v", e)
	}
	if code := s.do("DELETE", "/lines/phone1/connect", "", nil); code != 404 {
		t.Fatalf("DELETE without a bot = %d, want 404", code)
	}
	if l := s.status().line("phone1"); l.Call == nil {
		t.Fatal("DELETE of the bridge ended the call")
	}
	bc.noViolations()

	s.connect("phone1", `{"url":"`+bot.url()+`"}`)
	bc = bot.accept()
	ev.expect(sipphone.EventBotConnected)
	bc.c.Close(websocket.StatusNormalClosure, "goodbye")
	if e := ev.expect(sipphone.EventBotDisconnected)[0]; e.Reason != "closed" {
		t.Fatalf("bot_disconnected %+v", e)
	}
	if e := ev.expect(sipphone.EventHangup)[0]; e.Line != "phone1" {
		t.Fatalf("hangup %+v", e)
	}
	bc.noViolations()
}

// TestBotFailures: an unreachable bot and a broken one: bot_disconnected
// with the reason, the error tone, and the call kept or hung up.
func TestBotFailures(t *testing.T) {
	s, ev, _, rec := callWithBaresip(t, "bot: {error_tone: {frequency: 480, duration: 1s}}\n")

	// Unreachable, hangup_on_close false: the tone, and the call goes on.
	closed := httptest.NewServer(http.NotFoundHandler())
	dead := "ws" + strings.TrimPrefix(closed.URL, "http")
	closed.Close()
	s.connect("phone1", `{"url":"`+dead+`","hangup_on_close":false}`)
	e := ev.expect(sipphone.EventBotDisconnected)[0]
	if e.Reason != "unreachable" || e.Detail == "" {
		t.Fatalf("bot_disconnected %+v", e)
	}
	// The bridge is gone once the tone has played: a new connect works.
	bot := newTwilioBot(t)
	s.waitFor("the error tone to end", func() bool {
		var list []connection
		s.do("GET", "/connections", "", &list)
		return len(list) == 0
	})
	if l := s.status().line("phone1"); l.Call == nil {
		t.Fatal("hangup_on_close false, yet the call ended")
	}

	var c connection
	if code := s.do("POST", "/lines/phone1/connect", `{"url":"wss://127.0.0.1:1/x","protocol":"nonsense"}`, &c); code != 422 {
		t.Fatalf("bad protocol = %d, want 422", code)
	}

	// A malformed message: the call is hung up after the tone.
	s.connect("phone1", `{"url":"`+bot.url()+`"}`)
	bc := bot.accept()
	ev.expect(sipphone.EventBotConnected)
	bc.c.Write(context.Background(), websocket.MessageText, []byte(`{"event":"media","media":{"payload":"***"}`))
	e = ev.expect(sipphone.EventBotDisconnected)[0]
	if e.Reason != "malformed_message" || e.Detail == "" {
		t.Fatalf("bot_disconnected %+v", e)
	}
	ev.expect(sipphone.EventHangup)
	<-bc.done
	bc.mu.Lock()
	defer bc.mu.Unlock()
	if websocket.CloseStatus(bc.closeErr) != websocket.StatusUnsupportedData {
		t.Fatalf("the malformed bot's connection ended with %v, want close 1003", bc.closeErr)
	}
	w := recorded(s, rec)
	if got := seconds(w, 480); got < 1.2 {
		t.Fatalf("the phone heard %.1f s of the 480 Hz error tone, want about 2 (two failures)", got)
	}
}

// TestBotOnOffHook: lifting the handset on a line with on_off_hook.connect
// connects its bot with no client running; the phone hangs up: stop.
func TestBotOnOffHook(t *testing.T) {
	bot := newTwilioBot(t)
	s := startServer(t, `lines: [{id: kitchen, user: phone1, on_off_hook: {connect: {url: "`+bot.url()+`", parameters: {who: assistant}}}}]`+"\n", "")
	ev := s.events("?types=registered,off_hook,on_hook,bot_connected,bot_disconnected")
	b := startBaresip(t, s.sipAddr(), "phone1", "x", "auto")
	ev.expect(sipphone.EventRegistered)
	b.command("dial", "sip:100@"+s.sipAddr())
	off := ev.expect(sipphone.EventOffHook)[0]
	bc := bot.accept()
	if e := ev.expect(sipphone.EventBotConnected)[0]; e.Line != "kitchen" || e.CallID != off.CallID {
		t.Fatalf("bot_connected %+v after off_hook %+v", e, off)
	}
	p := bc.params()
	if p["who"] != "assistant" || p["line"] != "kitchen" || p["direction"] != "from_phone" || p["from"] != "phone1" {
		t.Fatalf("customParameters %v", p)
	}
	if f := dsp.DominantFrequency(bc.heard(4000, 4000), 8000, 100, 3800, 5); math.Abs(f-440) > 10 {
		t.Fatalf("the bot heard %v Hz, want 440", f)
	}
	b.command("hangup", "")
	bc.expect("stop", nil)
	if e := ev.expect(sipphone.EventBotDisconnected)[0]; e.Reason != "call_ended" {
		t.Fatalf("bot_disconnected %+v", e)
	}
	bc.noViolations()
}

// TestBotRingThenConnect: POST /ring with connect: the bot is connected
// when the phone answers.
func TestBotRingThenConnect(t *testing.T) {
	bot := newTwilioBot(t)
	s := startServer(t, "", "")
	ev := s.events("?types=registered,off_hook,bot_connected")
	startBaresip(t, s.sipAddr(), "phone1", "x", "auto")
	ev.expect(sipphone.EventRegistered)
	if code := s.do("POST", "/ring", `{"connect":{"url":"http://not-a-websocket"}}`, nil); code != 422 || !strings.Contains(s.lastBody, "connect") {
		t.Fatalf("ring with a bad connect = %d %s", code, s.lastBody)
	}
	s.ring(`{"connect":{"url":"` + bot.url() + `","parameters":{"reason":"doorbell"}}}`)
	off := ev.expect(sipphone.EventOffHook)[0]
	bc := bot.accept()
	if e := ev.expect(sipphone.EventBotConnected)[0]; e.CallID != off.CallID {
		t.Fatalf("bot_connected %+v", e)
	}
	if p := bc.params(); p["reason"] != "doorbell" || p["direction"] != "to_phone" {
		t.Fatalf("customParameters %v", p)
	}
	bc.heard(0, 1600)
	bc.noViolations()
}

// TestBotTwiML: with twiml_url, Twilio's webhook form is posted and the
// answer's <Connect><Stream url> and <Parameter>s are followed; any other
// TwiML is reported as unsupported.
func TestBotTwiML(t *testing.T) {
	s, ev, _, _ := callWithBaresip(t, "")
	bot := newTwilioBot(t)
	forms := make(chan map[string]string, 2)
	twiml := `<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="` + bot.url() + `"><Parameter name="agent" value="concierge"/></Stream></Connect></Response>`
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		f := map[string]string{}
		for k := range r.PostForm {
			f[k] = r.PostForm.Get(k)
		}
		forms <- f
		w.Header().Set("Content-Type", "text/xml")
		if r.URL.Path == "/say" {
			w.Write([]byte(`<Response><Say>Hello</Say><Connect><Stream url="` + bot.url() + `"/></Connect></Response>`))
			return
		}
		w.Write([]byte(twiml))
	}))
	defer hook.Close()

	conn := s.connect("phone1", `{"twiml_url":"`+hook.URL+`/voice"}`)
	f := <-forms
	if f["CallSid"] != conn.CallSID || !sidAC.MatchString(f["AccountSid"]) || f["To"] != "phone1" || f["From"] == "" ||
		f["CallStatus"] != "in-progress" || f["Direction"] != "outbound-api" {
		t.Fatalf("webhook form %v for connection %+v", f, conn)
	}
	bc := bot.accept()
	ev.expect(sipphone.EventBotConnected)
	if p := bc.params(); p["agent"] != "concierge" || p["line"] != "phone1" {
		t.Fatalf("customParameters %v", p)
	}
	bc.noViolations()
	s.do("DELETE", "/lines/phone1/connect", "", nil)
	ev.expect(sipphone.EventBotDisconnected)

	s.connect("phone1", `{"twiml_url":"`+hook.URL+`/say","hangup_on_close":false}`)
	<-forms
	e := ev.expect(sipphone.EventBotDisconnected)[0]
	if e.Reason != "twiml_error" || !strings.Contains(e.Detail, "unsupported TwiML: <Say>") {
		t.Fatalf("bot_disconnected %+v", e)
	}
}

// TestBotSipphoneProtocol: protocol sipphone sends a start message, then
// binary PCM16 at the chosen rate, and takes binary audio and marks.
func TestBotSipphoneProtocol(t *testing.T) {
	s, ev, _, rec := callWithBaresip(t, "")
	type msg struct {
		binary bool
		data   []byte
	}
	msgs := make(chan msg, 4096)
	var peer *websocket.Conn
	ready := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		peer = c
		close(ready)
		for {
			typ, b, err := c.Read(context.Background())
			if err != nil {
				close(msgs)
				return
			}
			msgs <- msg{typ == websocket.MessageBinary, b}
		}
	}))
	defer srv.Close()
	s.connect("phone1", `{"url":"ws`+strings.TrimPrefix(srv.URL, "http")+`","protocol":"sipphone","sample_rate":16000}`)
	<-ready
	ev.expect(sipphone.EventBotConnected)
	first := <-msgs
	var start struct {
		Type       string `json:"type"`
		SampleRate int    `json:"sample_rate"`
		Format     string `json:"format"`
	}
	if first.binary || json.Unmarshal(first.data, &start) != nil || start.Type != "start" || start.SampleRate != 16000 || start.Format != "pcm16" {
		t.Fatalf("first message %s", first.data)
	}
	var pcm []int16
	for len(pcm) < 16000 {
		m := <-msgs
		if !m.binary {
			continue
		}
		if len(m.data) != 640 {
			t.Fatalf("a binary frame of %d bytes, want 20 ms of 16 kHz PCM16 (640)", len(m.data))
		}
		for i := 0; i < len(m.data); i += 2 {
			pcm = append(pcm, int16(uint16(m.data[i])|uint16(m.data[i+1])<<8))
		}
	}
	if f := dsp.DominantFrequency(pcm[8000:], 16000, 100, 3800, 5); math.Abs(f-440) > 10 {
		t.Fatalf("the bot heard %v Hz, want 440", f)
	}
	speech := make([]int16, 16000)
	dsp.Tone(speech, 16000, 1000, -10, nil)
	b := make([]byte, 2*len(speech))
	for i, v := range speech {
		b[2*i], b[2*i+1] = byte(v), byte(uint16(v)>>8)
	}
	ctx := context.Background()
	peer.Write(ctx, websocket.MessageBinary, b)
	peer.Write(ctx, websocket.MessageText, []byte(`{"type":"mark","name":"said"}`))
	for m := range msgs {
		if !m.binary && strings.Contains(string(m.data), `"name":"said"`) {
			break
		}
	}
	s.do("POST", "/lines/phone1/hangup", "", nil)
	if e := ev.expect(sipphone.EventBotDisconnected)[0]; e.Reason != "call_ended" {
		t.Fatalf("bot_disconnected %+v", e)
	}
	if got := seconds(recorded(s, rec), 1000); got < 0.6 {
		t.Fatalf("the phone heard %.1f s of the bot's 1000 Hz", got)
	}
}

// TestBotOpenAIAgentsTwilioTransport: an open-source Twilio Media Streams
// consumer, the OpenAI Agents SDK's TwilioRealtimeTransportLayer (npm
// @openai/agents-extensions), as the bot; its Realtime model is a stand-in
// on localhost (testdata/openai-agents/bot.mjs). It hears the phone,
// answers with a tone that the phone records, and its marks come back.
func TestBotOpenAIAgentsTwilioTransport(t *testing.T) {
	node := peers.Require(t, "node", "nodejs")
	dir, _ := filepath.Abs("testdata/openai-agents")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@openai", "agents-extensions")); err != nil {
		msg := "the OpenAI Agents SDK is not installed; run: npm ci --prefix internal/app/testdata/openai-agents"
		if os.Getenv("SIPPHONE_REQUIRE_PEERS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cmd := exec.Command(node, "bot.mjs")
	cmd.Dir = dir
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan map[string]string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		for sc.Scan() {
			var m map[string]string
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			} else if p := strings.TrimSpace(sc.Text()); strings.HasPrefix(p, `{"port":`) {
				lines <- map[string]string{"port": strings.Trim(strings.TrimPrefix(p, `{"port":`), "}")}
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("node stderr:\n%s", tail(stderr.String()))
		}
	})
	next := func(key string) string {
		t.Helper()
		deadline := time.After(60 * time.Second) // importing the SDK takes seconds on a busy machine
		for {
			select {
			case m, ok := <-lines:
				if !ok {
					t.Fatalf("the bot exited before sending %s", key)
				}
				if m["error"] != "" {
					t.Fatalf("the bot reported: %s", m["error"])
				}
				if v, ok := m[key]; ok {
					return v
				}
			case <-deadline:
				t.Fatalf("the bot never sent %s", key)
			}
		}
	}
	port := next("port")

	s, ev, b, rec := callWithBaresip(t, "")
	s.connect("phone1", `{"url":"ws://127.0.0.1:`+port+`/media-stream"}`)
	ev.expect(sipphone.EventBotConnected)
	heard, err := base64.StdEncoding.DecodeString(next("heard"))
	if err != nil || len(heard) < 8000 {
		t.Fatalf("the model heard %d bytes: %v", len(heard), err)
	}
	pcm := make([]int16, 4000)
	for i := range pcm {
		pcm[i] = dsp.UlawToLinear(heard[len(heard)-4000+i])
	}
	if f := dsp.DominantFrequency(pcm, 8000, 100, 3800, 5); math.Abs(f-440) > 10 {
		t.Fatalf("the model heard %v Hz, want 440", f)
	}
	// The transport marks the end of its answer; sipphone returns the mark
	// once the second of audio has played.
	for mark := next("mark"); !strings.HasPrefix(mark, "done:"); mark = next("mark") {
		t.Logf("mark %s returned", mark)
	}
	b.command("hangup", "")
	if e := ev.expect(sipphone.EventBotDisconnected)[0]; e.Reason != "call_ended" {
		t.Fatalf("bot_disconnected %+v", e)
	}
	if got := seconds(recorded(s, rec), 1000); got < 0.6 {
		t.Fatalf("the phone heard %.1f s of the model's 1000 Hz answer", got)
	}
}

// TestBotShutdown: stopping the server sends the bot stop and closes its
// WebSocket with 1001 (going away); no goroutine is left (goleak).
func TestBotShutdown(t *testing.T) {
	s, ev, _, _ := callWithBaresip(t, "")
	bot := newTwilioBot(t)
	s.connect("phone1", `{"url":"`+bot.url()+`"}`)
	bc := bot.accept()
	ev.expect(sipphone.EventBotConnected)
	bc.heard(0, 800)
	s.stop()
	select {
	case <-bc.done:
	case <-time.After(15 * time.Second):
		t.Fatal("the bot's connection outlived the server")
	}
	bc.expect("stop", nil)
	bc.mu.Lock()
	status := websocket.CloseStatus(bc.closeErr)
	bc.mu.Unlock()
	if status != websocket.StatusGoingAway {
		t.Fatalf("closed with %v, want 1001", bc.closeErr)
	}
	bc.noViolations()
}
