package bot

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/dsp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeMedia stands in for a line's stream: frames are fed by the test.
type fakeMedia struct {
	frames  chan []byte
	done    chan struct{}
	once    sync.Once
	mu      sync.Mutex
	written int
	marks   []string
}

func newFakeMedia() *fakeMedia {
	return &fakeMedia{frames: make(chan []byte, 64), done: make(chan struct{})}
}

func (f *fakeMedia) StreamID() string { return "s1" }
func (f *fakeMedia) LineID() string   { return "l1" }
func (f *fakeMedia) Call() CallInfo {
	return CallInfo{ID: "call-1", Direction: sipphone.ToPhone, From: "sipphone", To: "phone1"}
}
func (f *fakeMedia) Next(wake <-chan struct{}) ([]byte, time.Time, NextResult) {
	select {
	case b := <-f.frames:
		return b, time.Now(), GotFrame
	case <-wake:
		return nil, time.Time{}, Woken
	case <-f.done:
		return nil, time.Time{}, Ended
	}
}
func (f *fakeMedia) Release() {}
func (f *fakeMedia) Write(b []byte) error {
	f.mu.Lock()
	f.written += len(b)
	f.mu.Unlock()
	return nil
}
func (f *fakeMedia) Mark(name string) {
	f.mu.Lock()
	f.marks = append(f.marks, name)
	f.mu.Unlock()
}
func (f *fakeMedia) Clear()                {}
func (f *fakeMedia) Done() <-chan struct{} { return f.done }
func (f *fakeMedia) Stop(string)           { f.once.Do(func() { close(f.done) }) }

type fakeLines struct{ media *fakeMedia }

func (l fakeLines) Attach(string, Format, func(string, bool)) (Media, error) { return l.media, nil }
func (l fakeLines) Hangup(string) (string, error)                            { return "l1", nil }

type fakeBus struct {
	mu     sync.Mutex
	events []sipphone.Event
}

func (b *fakeBus) Publish(e sipphone.Event) sipphone.Event {
	b.mu.Lock()
	b.events = append(b.events, e)
	b.mu.Unlock()
	return e
}

func (b *fakeBus) Subscribe([]string) (<-chan *sipphone.Event, func()) {
	ch := make(chan *sipphone.Event)
	var once sync.Once
	return ch, func() { once.Do(func() { close(ch) }) }
}

func TestMediaMessageAndInboundMediaDoNotAllocate(t *testing.T) {
	tw := newTwilio(DefaultAccountSID, callSID("x"), nil)
	frame := make([]byte, 160)
	if n := testing.AllocsPerRun(100, func() { tw.media(frame, 20*time.Millisecond) }); n != 0 {
		t.Fatalf("building a media message allocates %v times", n)
	}
	m := newFakeMedia()
	for _, msg := range []string{
		`{"event":"media","streamSid":"MZ1","media":{"payload":"` + base64.StdEncoding.EncodeToString(frame) + `"}}`,
		`{"event": "media", "streamSid": "MZ1", "media": {"payload": "` + base64.StdEncoding.EncodeToString(frame) + `"}}`, // Python's json.dumps
	} {
		b := []byte(msg)
		tw.handle(false, b, m) // sizes the reused buffer
		if n := testing.AllocsPerRun(100, func() {
			if err := tw.handle(false, b, m); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Fatalf("taking %s allocates %v times", msg, n)
		}
	}
	if m.written != 204*160 { // AllocsPerRun runs once more to warm up
		t.Fatalf("wrote %d bytes, want %d", m.written, 204*160)
	}
}

func TestTwilioHandle(t *testing.T) {
	tw := newTwilio(DefaultAccountSID, callSID("x"), nil)
	m := newFakeMedia()
	for msg, want := range map[string]string{
		`{"event":"mark","streamSid":"MZ1","mark":{"name":"a"}}`: "",
		`{"event":"clear","streamSid":"MZ1"}`:                    "",
		`{"event":"media","media":{"payload":"\u0041AAA"}}`:      "", // escaped: the slow path
		`{"event":"something-new"}`:                              "",
		`{"event":"media","media":{"payload":"***"}}`:            "not base64",
		`{"event":"media","media":{}}`:                           "media.payload",
		`{"event":"mark","mark":{}}`:                             "mark.name",
		`not json`:                                               "malformed",
		`{"streamSid":"x"}`:                                      "no event",
		`{"event":"media","media":{"payload":"AAAA"}`:            "malformed",
	} {
		err := tw.handle(false, []byte(msg), m)
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", msg, err)
		case want != "" && (err == nil || !errors.Is(err, errMalformed) || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: error %v, want one saying %q", msg, err, want)
		}
	}
	if err := tw.handle(true, []byte{1}, m); !errors.Is(err, errMalformed) {
		t.Errorf("binary message: %v", err)
	}
	if !slices.Equal(m.marks, []string{"a"}) {
		t.Errorf("marks %v", m.marks)
	}
}

func TestParseTwiML(t *testing.T) {
	u, p, err := parseTwiML([]byte(`<?xml version="1.0"?><Response><Connect><Stream url="wss://bot.example/s"><Parameter name="a" value="1"/><Parameter name="b" value="2"/></Stream></Connect></Response>`))
	if err != nil || u != "wss://bot.example/s" || p["a"] != "1" || p["b"] != "2" {
		t.Fatalf("%q %v %v", u, p, err)
	}
	for doc, want := range map[string]string{
		`<Response><Say>Hi</Say></Response>`:                               "unsupported TwiML: <Say>",
		`<Response><Connect><Room/></Connect></Response>`:                  "<Connect><Room>",
		`<Response><Connect><Stream url="http://x"/></Connect></Response>`: "ws:// or wss://",
		`<Response></Response>`:                                            "no <Connect><Stream",
		`<Foo/>`:                                                           "not <Response>",
		`<Response>`:                                                       "not XML",
		`<Response><Start><Stream url="wss://x/y"/></Start></Response>`:    "<Start>",
	} {
		if _, _, err := parseTwiML([]byte(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", doc, err, want)
		}
	}
}

func TestUlawEncoderIsG711(t *testing.T) {
	// Decoded by our G.711 decoder, every value comes back within the
	// quantization step of its segment (1/16 of the value, 2 near zero).
	for v := -32768; v <= 32767; v++ {
		got := int(dsp.UlawToLinear(linearToUlaw(int16(v))))
		c := max(-32635, min(32635, v))
		if tol := abs(c)/16 + 4; abs(got-c) > tol {
			t.Fatalf("linearToUlaw(%d) decodes to %d", v, got)
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func TestRequestValidate(t *testing.T) {
	for _, c := range []struct {
		r    Request
		want string
	}{
		{Request{}, "exactly one of url"},
		{Request{URL: "ws://a/b", TwiMLURL: "http://a"}, "exactly one of url"},
		{Request{URL: "http://a/b"}, "ws:// or wss://"},
		{Request{TwiMLURL: "ws://a/b"}, "http:// or https://"},
		{Request{URL: "ws://a/b", Protocol: "x"}, "twilio or sipphone"},
		{Request{URL: "ws://a/b", SampleRate: 16000}, "always 8000"},
		{Request{URL: "ws://a/b", Protocol: "sipphone", SampleRate: 11025}, "8000, 16000"},
		{Request{TwiMLURL: "http://a/b", Protocol: "sipphone"}, "twilio only"},
	} {
		err := c.r.Validate()
		if err == nil || !errors.Is(err, sipphone.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.r, err, c.want)
		}
	}
	r := Request{URL: "wss://bot/x"}
	if err := r.Validate(); err != nil || r.Protocol != "twilio" || r.SampleRate != 8000 || !r.hangupOnClose() {
		t.Fatalf("%+v %v", r, err)
	}
}

// BenchmarkBridgeFrame: one 20 ms frame from the phone's stream through
// the bridge to a bot on a local WebSocket, one at a time: the latency the
// bridge adds (p50/p99) and the allocations per frame of both ends.
func BenchmarkBridgeFrame(b *testing.B) {
	got := make(chan time.Duration, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		buf := make([]byte, 4096)
		pcm := make([]byte, 160)
		for {
			_, rd, err := c.Reader(context.Background())
			if err != nil {
				return
			}
			n := 0
			for {
				k, err := rd.Read(buf[n:])
				n += k
				if err != nil {
					break
				}
			}
			p, ok := stringField(buf[:n], "payload")
			if !ok {
				continue
			}
			if _, err := base64.StdEncoding.Decode(pcm, p); err == nil {
				sent := int64(binary.LittleEndian.Uint64(pcm))
				got <- time.Duration(time.Now().UnixNano() - sent)
			}
		}
	}))
	defer srv.Close()
	media := newFakeMedia()
	bus := &fakeBus{}
	m, err := New(Config{}, Deps{Lines: fakeLines{media}, Hangup: fakeLines{media}, Events: bus, Bus: bus})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Connect("l1", Request{URL: "ws" + strings.TrimPrefix(srv.URL, "http")}); err != nil {
		b.Fatal(err)
	}
	frame := make([]byte, 160)
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		binary.LittleEndian.PutUint64(frame, uint64(time.Now().UnixNano()))
		media.frames <- frame
		lat = append(lat, <-got)
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// TestBridgeEndsWithTheCall: a stream that ends sends stop and closes.
func TestBridgeEndsWithTheCall(t *testing.T) {
	msgs := make(chan string, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(b)
		}
	}))
	defer srv.Close()
	media := newFakeMedia()
	bus := &fakeBus{}
	m, err := New(Config{}, Deps{Lines: fakeLines{media}, Hangup: fakeLines{media}, Events: bus, Bus: bus})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Connect("l1", Request{URL: "ws" + strings.TrimPrefix(srv.URL, "http")}); err != nil {
		t.Fatal(err)
	}
	media.frames <- make([]byte, 160)
	var events []string
	for s := range msgs {
		events = append(events, s[:strings.Index(s, ",")])
		if len(events) == 3 {
			media.Stop("call_ended")
		}
	}
	want := []string{`{"event":"connected"`, `{"event":"start"`, `{"event":"media"`, `{"event":"stop"`}
	if !slices.Equal(events, want) {
		t.Fatalf("messages %v, want %v", events, want)
	}
}

// TestDialFailures: a TLS failure and an unreachable bot are told apart
// in bot_disconnected, and the call is hung up (hangup_on_close default).
func TestDialFailures(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler()) // a certificate no one trusts
	defer tlsSrv.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := "ws" + strings.TrimPrefix(gone.URL, "http")
	gone.Close()
	for url, want := range map[string]string{
		"wss" + strings.TrimPrefix(tlsSrv.URL, "https"): "tls_error",
		goneURL: "unreachable",
	} {
		media := newFakeMedia()
		bus := &fakeBus{}
		m, err := New(Config{}, Deps{Lines: fakeLines{media}, Hangup: fakeLines{media}, Events: bus, Bus: bus})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Connect("l1", Request{URL: url}); err != nil {
			t.Fatal(err)
		}
		<-media.done // the bridge stops its stream once it has given up
		m.Close()
		bus.mu.Lock()
		var got *sipphone.Event
		for i := range bus.events {
			if bus.events[i].Type == sipphone.EventBotDisconnected {
				got = &bus.events[i]
			}
		}
		bus.mu.Unlock()
		if got == nil || got.Reason != want || got.Detail == "" {
			t.Errorf("%s: bot_disconnected %+v, want reason %s with a detail", url, got, want)
		}
	}
}
