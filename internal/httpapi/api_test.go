package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/events"
	"github.com/sip-phone-api/sipphone/internal/line"
)

// fakeLines is a line owner whose answers the test sets: the API is
// tested without a SIP side or media.
type fakeLines struct {
	bus   *events.Bus
	lines []sipphone.LineStatus
	err   error // returned by every command when set
	rings []sipphone.RingOptions
}

func (f *fakeLines) Status() []sipphone.LineStatus { return f.lines }
func (f *fakeLines) Line(id string) (sipphone.LineStatus, error) {
	for _, l := range f.lines {
		if l.ID == id || id == "" {
			return l, nil
		}
	}
	return sipphone.LineStatus{}, fmt.Errorf("%w: %q", sipphone.ErrLineNotFound, id)
}
func (f *fakeLines) Ring(id string, o sipphone.RingOptions) (string, string, error) {
	if f.err != nil {
		return "", id, f.err
	}
	f.rings = append(f.rings, o)
	return "r1", "kitchen", nil
}
func (f *fakeLines) StopRing(id string) (string, error)             { return "kitchen", f.err }
func (f *fakeLines) Hangup(id string) (string, error)               { return "kitchen", f.err }
func (f *fakeLines) SetLoopback(id string, on bool) (string, error) { return "kitchen", f.err }
func (f *fakeLines) Play(id string, pcm []int16) (string, string, error) {
	return "p1", "kitchen", f.err
}
func (f *fakeLines) StartStream(string, line.StreamOptions) (*line.Stream, error) {
	return nil, fmt.Errorf("%w: no call", sipphone.ErrNoCall)
}
func (f *fakeLines) Stream(string) (*line.Stream, bool) { return nil, false }
func (f *fakeLines) StopStreams(streamID, lineID, reason string) ([]line.StoppedStream, error) {
	return nil, fmt.Errorf("%w: no audio stream %q", sipphone.ErrNotFound, streamID)
}
func (f *fakeLines) DeleteLine(id string) error { return f.err }
func (f *fakeLines) StopStream(id, reason string) error {
	return fmt.Errorf("%w: no audio stream %q", sipphone.ErrNotFound, id)
}
func (f *fakeLines) Subscribe(flt events.Filter, n int, since *uint64) (*events.Subscription, sipphone.Event, []sipphone.Event) {
	sub, replay := f.bus.Subscribe(flt, n, since)
	return sub, sipphone.Event{Type: sipphone.EventState, Lines: f.lines}, replay
}

func newTestAPI(t *testing.T) (*httptest.Server, *fakeLines) {
	t.Helper()
	f := &fakeLines{bus: events.New(16, 0), lines: []sipphone.LineStatus{{ID: "kitchen", User: "phone1", Registered: true, State: sipphone.StateOnHook}}}
	srv := httptest.NewServer(NewREST(Deps{Lines: f, Bus: f.bus, Version: "test", Started: time.Now(), DefaultSampleRate: 8000, DefaultFrameMS: 20}))
	t.Cleanup(srv.Close)
	return srv, f
}

func call(t *testing.T, srv *httptest.Server, method, path, body string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Content-Type"), string(b)
}

// TestDomainErrorsMapToStatuses: each error the line owner returns is one
// HTTP status, as problem+json whose detail is the owner's message.
func TestDomainErrorsMapToStatuses(t *testing.T) {
	srv, f := newTestAPI(t)
	cases := []struct {
		err  error
		want int
	}{
		{nil, http.StatusAccepted},
		{fmt.Errorf("%w: hall (known lines: kitchen)", sipphone.ErrLineNotFound), http.StatusNotFound},
		{fmt.Errorf("%w: line is ringing", sipphone.ErrLineBusy), http.StatusConflict},
		{fmt.Errorf("%w: no registration", sipphone.ErrNotRegistered), http.StatusServiceUnavailable},
		{fmt.Errorf("%w: no RTP port", sipphone.ErrNoResources), http.StatusServiceUnavailable},
		{sipphone.ErrShuttingDown, http.StatusServiceUnavailable},
		{fmt.Errorf("%w: unknown ring pattern", sipphone.ErrInvalid), http.StatusUnprocessableEntity},
		{errors.New("disk on fire"), http.StatusInternalServerError},
	}
	for _, c := range cases {
		f.err = c.err
		for _, path := range []string{"/ring", "/lines/kitchen/ring"} {
			code, ct, body := call(t, srv, http.MethodPost, path, `{"caller_id":{"name":"Door","number":"42"},"pattern":"ring3","timeout_s":5}`)
			if code != c.want {
				t.Fatalf("POST %s with owner error %v = %d %s, want %d", path, c.err, code, body, c.want)
			}
			if c.err != nil && (ct != "application/problem+json" || !strings.Contains(body, c.err.Error())) {
				t.Fatalf("POST %s error answer %q %s", path, ct, body)
			}
		}
	}
	if len(f.rings) != 2 || f.rings[0].CallerID.Name != "Door" || f.rings[0].Pattern != "ring3" || f.rings[0].Timeout != 5*time.Second {
		t.Fatalf("rings the owner was asked for: %+v", f.rings)
	}
}

func TestHangupAndStopMapErrors(t *testing.T) {
	srv, f := newTestAPI(t)
	f.err = fmt.Errorf("%w: line \"kitchen\" is not in a call", sipphone.ErrNoCall)
	for _, r := range []struct{ method, path string }{
		{http.MethodPost, "/hangup"}, {http.MethodPost, "/lines/kitchen/hangup"},
		{http.MethodDelete, "/ring"}, {http.MethodDelete, "/lines/kitchen/ring"},
	} {
		if code, _, body := call(t, srv, r.method, r.path, ""); code != http.StatusConflict {
			t.Fatalf("%s %s = %d %s, want 409", r.method, r.path, code, body)
		}
	}
	if code, _, _ := call(t, srv, http.MethodPost, "/audio/stop", `{"stream_id":"nope"}`); code != http.StatusNotFound {
		t.Fatalf("stop of an unknown stream = %d, want 404", code)
	}
	if code, _, _ := call(t, srv, http.MethodPost, "/audio/start", `{"line":"kitchen"}`); code != http.StatusConflict {
		t.Fatalf("audio start without a call = %d, want 409", code)
	}
	if code, _, body := call(t, srv, http.MethodGet, "/lines/hall", ""); code != http.StatusNotFound || !strings.Contains(body, "hall") {
		t.Fatalf("GET unknown line = %d %s", code, body)
	}
}

func TestStatusShowsLines(t *testing.T) {
	srv, _ := newTestAPI(t)
	code, _, body := call(t, srv, http.MethodGet, "/status", "")
	var st struct {
		Lines []sipphone.LineStatus `json:"lines"`
	}
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil || len(st.Lines) != 1 || st.Lines[0].ID != "kitchen" {
		t.Fatalf("GET /status = %d %s", code, body)
	}
}

// TestContractDocumentsErrors: every operation of the OpenAPI document
// documents its 4xx answers as problem+json with an example, and the
// document has servers, a license, a contact and tag descriptions. With
// SIPPHONE_OPENAPI_OUT set it writes the document there (for the linter).
func TestContractDocumentsErrors(t *testing.T) {
	srv, _ := newTestAPI(t)
	_, _, body := call(t, srv, http.MethodGet, "/openapi.json", "")
	var doc struct {
		Info struct {
			License *struct{ Name string } `json:"license"`
			Contact *struct{ URL string }  `json:"contact"`
		} `json:"info"`
		Servers []struct{ URL string } `json:"servers"`
		Tags    []struct {
			Name, Description string
		} `json:"tags"`
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
			Responses   map[string]struct {
				Content map[string]struct {
					Example any `json:"example"`
				} `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Info.License == nil || doc.Info.Contact == nil || len(doc.Servers) == 0 {
		t.Fatalf("info %+v servers %+v", doc.Info, doc.Servers)
	}
	for _, tag := range doc.Tags {
		if tag.Description == "" {
			t.Errorf("tag %s has no description", tag.Name)
		}
	}
	ops := 0
	for path, item := range doc.Paths {
		for method, op := range item {
			ops++
			n4xx := 0
			for code, r := range op.Responses {
				if code[0] != '4' && code[0] != '5' {
					continue
				}
				n4xx += int(code[0]-'4') ^ 1
				p, ok := r.Content["application/problem+json"]
				if !ok || p.Example == nil {
					t.Errorf("%s %s: %s answer has no problem+json example", method, path, code)
				}
			}
			if n4xx == 0 {
				t.Errorf("%s %s (%s) documents no 4xx answer", method, path, op.OperationID)
			}
		}
	}
	if ops < 15 {
		t.Fatalf("only %d operations in the document", ops)
	}
	if out := os.Getenv("SIPPHONE_OPENAPI_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
