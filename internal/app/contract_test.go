package app

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/contractcheck"
	"github.com/sip-phone-api/sipphone/internal/dsp"
	"github.com/sip-phone-api/sipphone/internal/sim"
)

// Where the served document links the WebSocket messages to their schemas.
const (
	wsEventsSchema    = "#/x-websockets/channels/~1ws/serverMessages"
	audioClientSchema = "#/x-websockets/channels/~1audio~1{id}/clientMessages"
	audioServerSchema = "#/x-websockets/channels/~1audio~1{id}/serverMessages"
)

// checkedEvents reads /ws and validates every message against the served
// document's event schema.
type checkedEvents struct {
	t     *testing.T
	c     *websocket.Conn
	check *contractcheck.Document
	seen  map[string]int
}

func (s *testServer) contract() *contractcheck.Document {
	s.t.Helper()
	res, doc := get(s.t, s.url("/openapi.json"))
	if res.StatusCode != http.StatusOK {
		s.t.Fatalf("/openapi.json = %d", res.StatusCode)
	}
	check, err := contractcheck.New(doc)
	if err != nil {
		s.t.Fatal(err)
	}
	return check
}

func (s *testServer) checkedEvents(query string, check *contractcheck.Document, seen map[string]int) *checkedEvents {
	s.t.Helper()
	return &checkedEvents{t: s.t, c: s.dialEvents(query), check: check, seen: seen}
}

// next reads and validates the next event.
func (e *checkedEvents) next() sipphone.Event {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	typ, b, err := e.c.Read(ctx)
	if err != nil {
		e.t.Fatalf("reading /ws: %v", err)
	}
	if typ != websocket.MessageText {
		e.t.Fatalf("/ws sent a binary message")
	}
	if err := e.check.Validate(wsEventsSchema, b); err != nil {
		e.t.Fatalf("a real event does not match the schema: %v", err)
	}
	var ev sipphone.Event
	if err := json.Unmarshal(b, &ev); err != nil {
		e.t.Fatal(err)
	}
	e.seen[ev.Type]++
	return ev
}

// until validates events until one of type typ arrives.
func (e *checkedEvents) until(typ string) sipphone.Event {
	e.t.Helper()
	for {
		if ev := e.next(); ev.Type == typ {
			return ev
		}
	}
}

// TestWebSocketMessages validates every event and audio control message
// of real calls, from registration to hang-up, against the schemas the
// served OpenAPI document links from x-websockets; then checks that every
// event type was seen.
func TestWebSocketMessages(t *testing.T) {
	s := startServer(t, "audio: {level_events: 200ms}\n", "")
	check := s.contract()
	seen := map[string]int{}
	ev := s.checkedEvents("", check, seen)
	if first := ev.next(); first.Type != sipphone.EventState {
		t.Fatalf("first message %+v, want the state snapshot", first)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Register, ring, answer.
	ph := startSim(t, s.sipAddr(), sim.LineConfig{User: "phone1", Answer: sim.AnswerNever})
	ev.until(sipphone.EventRegistered)
	s.ring(`{"line":"phone1","caller_id":{"name":"Front door","number":"100"},"pattern":"ring2"}`)
	ev.until(sipphone.EventRingStart)
	ev.until(sipphone.EventRingProgress)
	waitSim(t, ph, sim.EventRinging)
	if err := ph.Answer(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if stop := ev.until(sipphone.EventRingStop); stop.Reason != string(sipphone.RingAnswered) {
		t.Fatalf("ring_stop %+v", stop)
	}
	ev.until(sipphone.EventOffHook)

	// Keys: a digit (start and end) and a hook flash, by RFC 4733.
	if err := ph.SendDigits(ctx, 0, "5F"); err != nil {
		t.Fatal(err)
	}
	ev.until(sipphone.EventDTMF)
	ev.until(sipphone.EventFlash)
	ev.until(sipphone.EventAudioLevel)

	// Audio: start a stream, exchange control messages, stop it.
	var st audioStream
	if code := s.do(http.MethodPost, "/audio/start", `{"line":"phone1","direction":"both","format":"pcm16","sample_rate":8000}`, &st); code != http.StatusCreated {
		t.Fatalf("audio start = %d %s", code, s.lastBody)
	}
	ev.until(sipphone.EventAudioStart)
	ac := audioControl(t, ctx, check, st.WSURL)
	defer ac.CloseNow()
	if code := s.do(http.MethodPost, "/audio/stop", `{"stream_id":"`+st.StreamID+`"}`, nil); code != http.StatusOK {
		t.Fatalf("audio stop = %d %s", code, s.lastBody)
	}
	ev.until(sipphone.EventAudioStop)

	// A WAV file played into the call.
	tone := make([]int16, 800)
	dsp.Tone(tone, 8000, 800, -10, nil)
	var wav bytes.Buffer
	dsp.WriteWAV(&wav, 8000, tone)
	req, _ := http.NewRequest(http.MethodPost, s.url("/lines/phone1/play"), &wav)
	req.Header.Set("Content-Type", "audio/wav")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("play = %d", res.StatusCode)
	}
	ev.until(sipphone.EventPlaybackDone)

	// A voice bot connected, then closing its end (hangup_on_close false
	// keeps the call for the steps below).
	botSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		for i := 0; i < 2; i++ { // connected, start
			if _, _, err := c.Read(r.Context()); err != nil {
				return
			}
		}
		c.Close(websocket.StatusNormalClosure, "bye")
	}))
	defer botSrv.Close()
	body := `{"url":"ws` + strings.TrimPrefix(botSrv.URL, "http") + `/media","protocol":"twilio","hangup_on_close":false}`
	if code := s.do(http.MethodPost, "/lines/phone1/connect", body, nil); code != http.StatusCreated {
		t.Fatalf("connect = %d %s", code, s.lastBody)
	}
	ev.until(sipphone.EventBotConnected)
	ev.until(sipphone.EventBotDisconnected)

	// Hang up from the API; the handset goes down afterwards.
	s.mustDo(http.MethodPost, "/lines/phone1/hangup", http.StatusAccepted)
	ev.until(sipphone.EventHangup)
	waitSim(t, ph, sim.EventHangupByServer)
	if err := ph.OnHook(ctx, 0); err != nil {
		t.Fatal(err)
	}

	// The phone calls: lifts the handset and dials, then hangs up.
	if err := ph.Dial(ctx, 0, "123"); err != nil {
		t.Fatal(err)
	}
	ev.until(sipphone.EventDialed)
	if err := ph.OnHook(ctx, 0); err != nil {
		t.Fatal(err)
	}
	ev.until(sipphone.EventOnHook)

	// A ring stopped by the API.
	s.ring(`{"line":"phone1"}`)
	ev.until(sipphone.EventRingProgress)
	s.mustDo(http.MethodDelete, "/ring?line=phone1", http.StatusAccepted)
	if stop := ev.until(sipphone.EventRingStop); stop.Reason != string(sipphone.RingStopped) {
		t.Fatalf("ring_stop %+v", stop)
	}
	s.waitFor("phone1 on hook", func() bool { return s.status().line("phone1").State == sipphone.StateOnHook })

	// An announce nobody answers (the phone rings for a second).
	var msg bytes.Buffer
	dsp.WriteWAV(&msg, 8000, tone)
	areq, _ := http.NewRequest(http.MethodPost, s.url("/lines/phone1/announce?timeout_s=1"), &msg)
	areq.Header.Set("Content-Type", "audio/wav")
	ares, err := http.DefaultClient.Do(areq)
	if err != nil {
		t.Fatal(err)
	}
	ares.Body.Close()
	if ares.StatusCode/100 != 2 {
		t.Fatalf("announce = %d", ares.StatusCode)
	}
	ev.until(sipphone.EventAnnounceStart)
	if done := ev.until(sipphone.EventAnnounceDone); done.Reason != sipphone.AnnounceNoAnswer {
		t.Fatalf("announce_done %+v", done)
	}
	if err := ph.Unregister(ctx, 0); err != nil {
		t.Fatal(err)
	}
	last := ev.until(sipphone.EventUnregistered).Seq
	s.stop()

	// After a restart whose state file kept no events (written by an
	// older version), a client resuming before the last event gets a gap.
	var saved map[string]any
	if b, err := os.ReadFile(s.state); err != nil || json.Unmarshal(b, &saved) != nil {
		t.Fatalf("state file: %v", err)
	}
	delete(saved, "events")
	if b, err := json.Marshal(saved); err != nil || os.WriteFile(s.state, b, 0o600) != nil {
		t.Fatal("rewriting the state file")
	}
	s2 := startServer(t, "", s.state)
	gap := s2.checkedEvents("?since="+strconv.FormatUint(last-1, 10), s2.contract(), seen).next()
	if gap.Type != sipphone.EventGap {
		t.Fatalf("after restart: %+v, want a gap", gap)
	}

	var missing []string
	for _, typ := range append([]string{sipphone.EventState, sipphone.EventGap}, sipphone.EventTypes...) {
		if seen[typ] == 0 {
			missing = append(missing, typ)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("event types never produced, so not checked: %v (seen %v)", missing, seen)
	}
	t.Logf("validated events: %v", seen)
}

// audioControl exchanges control messages on an audio WebSocket and
// validates both directions against the schemas. It returns the connection,
// still open.
func audioControl(t *testing.T, ctx context.Context, check *contractcheck.Document, url string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	send := func(msg string, valid bool) {
		t.Helper()
		if err := check.Validate(audioClientSchema, []byte(msg)); (err == nil) != valid {
			t.Fatalf("client message %s: schema says %v, want valid %v", msg, err, valid)
		}
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	// reply reads server text messages (skipping audio) until one of type typ.
	reply := func(typ string) map[string]any {
		t.Helper()
		rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		for {
			mt, b, err := c.Read(rctx)
			if err != nil {
				t.Fatalf("waiting for a %s message: %v", typ, err)
			}
			if mt != websocket.MessageText {
				continue
			}
			if err := check.Validate(audioServerSchema, b); err != nil {
				t.Fatalf("a real audio control message does not match the schema: %v", err)
			}
			var m map[string]any
			json.Unmarshal(b, &m)
			if m["type"] == typ {
				return m
			}
		}
	}
	send(`{"type":"mark","name":"start"}`, true)
	if m := reply("mark"); m["name"] != "start" {
		t.Fatalf("mark reply %v", m)
	}
	// One second of audio, a mark behind it, then clear: the mark is cleared.
	if err := c.Write(ctx, websocket.MessageBinary, make([]byte, 16000)); err != nil {
		t.Fatal(err)
	}
	send(`{"type":"mark","name":"after-audio"}`, true)
	send(`{"type":"clear"}`, true)
	if m := reply("mark"); m["name"] != "after-audio" || m["cleared"] != true {
		t.Fatalf("mark after clear %v", m)
	}
	send(`{"type":"mark"}`, false)
	if m := reply("error"); m["message"] == "" {
		t.Fatalf("error reply %v", m)
	}
	send(`{"type":"shout"}`, false)
	reply("error")
	return c
}
