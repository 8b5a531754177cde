package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sip-phone-api/sipphone"
)

// problemBody is an RFC 9457 problem as the API writes it.
type problemBody struct {
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Message  string `json:"message"`
		Location string `json:"location"`
	} `json:"errors"`
}

// rawRequest sends body as is and returns the status, content type and
// decoded problem (when the body is one).
func rawRequest(t *testing.T, s *testServer, method, path, contentType string, body io.Reader) (int, string, problemBody) {
	t.Helper()
	req, err := http.NewRequest(method, s.url(path), body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var p problemBody
	json.Unmarshal(b, &p)
	return res.StatusCode, res.Header.Get("Content-Type"), p
}

// TestRESTHostileInput: malformed JSON is a 400, an unknown or mistyped
// field a 422 naming it, a body over the limit a 413; every error is a
// problem+json document.
func TestRESTHostileInput(t *testing.T) {
	s := startServer(t, "", "")
	phone := newRawPhone(t)
	phone.register(s.sipAddr(), "phone1")
	huge := strings.Repeat(" ", 2<<20) // 2 MiB of JSON white space
	cases := []struct {
		name, path, contentType, body string
		want                          int
		mention                       string // in detail or an error's location/message
		needs                         string // what must change before the case can run
	}{
		{"malformed JSON", "/ring", "application/json", `{"pattern":`, 400, "", ""},
		{"malformed JSON without content type", "/ring", "", `{"pattern": ring1}`, 400, "", ""},
		{"not an object", "/ring", "application/json", `[1,2]`, 422, "body", ""},
		{"unknown field", "/ring", "application/json", `{"pattern":"ring1","bogus":1}`, 422, "bogus", ""},
		{"unknown nested field", "/ring", "application/json", `{"caller_id":{"number":"1","bogus":true}}`, 422, "bogus", ""},
		{"wrong type", "/ring", "application/json", `{"timeout_s":"ten"}`, 422, "timeout_s", ""},
		{"wrong type nested", "/ring", "application/json", `{"caller_id":{"name":7}}`, 422, "caller_id.name", ""},
		{"out of range", "/ring", "application/json", `{"timeout_s":0.5}`, 422, "timeout_s", ""},
		{"string too long", "/ring", "application/json", `{"pattern":"` + strings.Repeat("x", 100) + `"}`, 422, "pattern", ""},
		{"oversize body", "/ring", "application/json", `{"pattern":"ring1"` + huge + `}`, 413, "", ""},
		{"oversize body on hangup", "/hangup", "application/json", `{"line":"phone1"` + huge + `}`, 413, "", ""},
		{"unsupported content type", "/ring", "application/xml", `<ring/>`, 415, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.needs != "" {
				t.Skip("needs: " + c.needs)
			}
			code, ct, p := rawRequest(t, s, "POST", c.path, c.contentType, strings.NewReader(c.body))
			text := p.Detail
			for _, e := range p.Errors {
				text += " " + e.Location + " " + e.Message
			}
			if code != c.want || !strings.Contains(text, c.mention) {
				t.Fatalf("POST %s = %d %+v, want %d mentioning %q", c.path, code, p, c.want, c.mention)
			}
			if !strings.HasPrefix(ct, "application/problem+json") || p.Status != code || p.Title == "" {
				t.Fatalf("error answer is %q %+v, want a problem+json document", ct, p)
			}
		})
	}
	if st := s.status(); st.line("phone1") == nil || st.line("phone1").State != sipphone.StateOnHook {
		t.Fatalf("hostile requests changed the line: %+v", st.line("phone1"))
	}
}

// closeStatus reads until the connection ends and returns its close code.
func closeStatus(t *testing.T, c *websocket.Conn) websocket.StatusCode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		if _, _, err := c.Read(ctx); err != nil {
			if ctx.Err() != nil {
				t.Fatal("the server did not close the connection")
			}
			return websocket.CloseStatus(err)
		}
	}
}

// eventsReadLimit is the largest message an events client may send.
const eventsReadLimit = 4096

// TestEventsWebSocketOversizeFrame: a client frame larger than the read
// limit closes the events connection with 1009 (message too big); other
// clients are unaffected.
func TestEventsWebSocketOversizeFrame(t *testing.T) {
	s := startServer(t, "", "")
	bystander := s.events("")
	c := s.events("")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// One byte over the limit: the server reads all of it before closing,
	// so the close frame is not lost to a reset.
	if err := c.c.Write(ctx, websocket.MessageText, bytes.Repeat([]byte("x"), eventsReadLimit+1)); err != nil {
		t.Fatal(err)
	}
	if got := closeStatus(t, c.c); got != websocket.StatusMessageTooBig {
		t.Fatalf("oversize client frame: close %d, want 1009", got)
	}
	phone := newRawPhone(t)
	phone.register(s.sipAddr(), "phone1")
	bystander.expect(sipphone.EventRegistered)
}

// TestEventsWebSocketClientMessageIgnored: the events stream is one way; a
// small message from the client does not end it.
func TestEventsWebSocketClientMessageIgnored(t *testing.T) {
	s := startServer(t, "", "")
	c := s.events("")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.c.Write(ctx, websocket.MessageText, []byte(`{"type":"hello"}`)); err != nil {
		t.Fatal(err)
	}
	phone := newRawPhone(t)
	phone.register(s.sipAddr(), "phone1")
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer rcancel()
	_, b, err := c.c.Read(rctx)
	if err != nil {
		t.Fatalf("after a client message: %v (close %d)", err, websocket.CloseStatus(err))
	}
	if !strings.Contains(string(b), `"registered"`) {
		t.Fatalf("got %s, want the registered event", b)
	}
}

// TestAudioWebSocketHostileControl: on an audio stream, unknown or
// malformed control messages draw an error message and the stream goes
// on; a frame over the limit closes it with 1009.
func TestAudioWebSocketHostileControl(t *testing.T) {
	s := startServer(t, "", "")
	ev := s.events("?types=off_hook")
	ph := startSim(t, s.sipAddr())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ph.OffHook(ctx, 0); err != nil {
		t.Fatal(err)
	}
	ev.expect(sipphone.EventOffHook)
	var as audioStream
	if code := s.do("POST", "/audio/start", `{"format":"pcm16","sample_rate":8000}`, &as); code != 201 {
		t.Fatalf("POST /audio/start = %d", code)
	}
	c, _, err := websocket.Dial(ctx, as.WSURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)

	// nextText reads until a text frame arrives (audio frames flow too).
	nextText := func() map[string]any {
		t.Helper()
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		defer rcancel()
		for {
			typ, b, err := c.Read(rctx)
			if err != nil {
				t.Fatalf("audio WebSocket ended: %v (close %d)", err, websocket.CloseStatus(err))
			}
			if typ == websocket.MessageText {
				var m map[string]any
				if err := json.Unmarshal(b, &m); err != nil {
					t.Fatalf("control message is not JSON: %s", b)
				}
				return m
			}
		}
	}
	for _, msg := range []string{`{"type":"bogus"}`, `not json`, `{"type":"mark"}`, `{"type":7}`, `[]`, `{"type":"clear","x":` + strings.Repeat("[", 10000)} {
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatalf("writing %q: %v", msg, err)
		}
		if m := nextText(); m["type"] != "error" || m["message"] == "" {
			t.Fatalf("answer to %q: %v, want an error message", msg, m)
		}
	}
	// Still a working stream: a mark comes back.
	c.Write(ctx, websocket.MessageText, []byte(`{"type":"mark","name":"alive"}`))
	if m := nextText(); m["type"] != "mark" || m["name"] != "alive" {
		t.Fatalf("after the hostile messages: %v, want the mark back", m)
	}

	// A frame over the limit (1 MiB) ends the stream with 1009. One byte
	// over: the server reads the whole frame before closing, so the close
	// frame is not lost to a reset.
	err = c.Write(ctx, websocket.MessageBinary, make([]byte, 1<<20+1))
	rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
	defer rcancel()
	for err == nil {
		_, _, err = c.Read(rctx)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("oversize audio frame did not end the connection")
	}
	if code := websocket.CloseStatus(err); code != websocket.StatusMessageTooBig {
		t.Fatalf("oversize audio frame: close %d (%v), want 1009", code, err)
	}
}
