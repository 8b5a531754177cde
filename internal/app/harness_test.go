package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sip-phone-api/sipphone/internal/httpapi"
	"github.com/sip-phone-api/sipphone/internal/testlog"

	"github.com/coder/websocket"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/config"
)

// testServer is the real server started in-process on loopback with ports
// chosen by the OS.
type testServer struct {
	*App
	t        *testing.T
	lastBody string // body of the last answer to do
	cfg      *config.Config
	state    string
	logs     *testlog.Buffer
}

// baseYAML is the configuration every test starts from; %s is the state file.
const baseYAML = `
server:
  host: 127.0.0.1
  sip_port: 0
  rest_port: 0
  websocket_port: 0
  state_file: %s
logging:
  level: debug
`

// startServer starts a server with baseYAML plus extra YAML. The state
// file may be shared between servers to test restarts.
func startServer(t *testing.T, extra, stateFile string) *testServer {
	t.Helper()
	return startServerWith(t, extra, stateFile, nil)
}

// startServerWith is startServer with a last change to the configuration
// (nil for none), for keys baseYAML already sets.
func startServerWith(t *testing.T, extra, stateFile string, edit func(*config.Config)) *testServer {
	t.Helper()
	if stateFile == "" {
		stateFile = filepath.Join(t.TempDir(), "state.json")
	}
	base := rtpTestBase()
	cfg, err := config.Parse([]byte(fmt.Sprintf(baseYAML, stateFile)+extra), "test.yml")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	// A random RTP range per server, so parallel packages do not collide,
	// below the ephemeral ports (see rtpTestBase).
	ports := map[string]string{"RTP_PORT_MIN": strconv.Itoa(base), "RTP_PORT_MAX": strconv.Itoa(base + 99)}
	if err := cfg.ApplyEnv(func(k string) string { return ports[k] }); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(cfg)
		if err := cfg.Validate(); err != nil {
			t.Fatalf("config: %v", err)
		}
	}
	logs := &testlog.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := New(cfg, log, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	ts := &testServer{App: a, t: t, cfg: cfg, state: stateFile, logs: logs}
	t.Cleanup(func() {
		ts.stop()
		if t.Failed() || os.Getenv("SIPPHONE_TEST_LOG") == "1" {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return ts
}

// rtpTestBase picks the start of a 100-port RTP range below the kernel's
// ephemeral range: ports handed out by the OS (peers.FreeUDPPort for sipp
// and baresip, other programs' random ports) never fall in it, so a call's
// RTP port cannot take the port a peer is about to bind.
func rtpTestBase() int {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	if low < 11200 {
		low = 11200 // a tiny ephemeral range: keep the old behaviour's floor
	}
	return 10000 + 2*rand.IntN((low-10000-100)/2)
}

func (s *testServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Shutdown(ctx)
}

func (s *testServer) sipAddr() string { return s.SIP.UDPAddr().String() }

func (s *testServer) url(path string) string { return "http://" + s.RESTAddr().String() + path }

// do sends a JSON request and decodes the JSON answer into out (may be nil).
func (s *testServer) do(method, path, body string, out any) int {
	s.t.Helper()
	return s.doAuth(method, path, body, "", out)
}

// doAuth is do with a bearer token ("" for none).
func (s *testServer) doAuth(method, path, body, token string, out any) int {
	s.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, s.url(path), r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	s.lastBody = string(b)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: answer %d is not JSON: %v\n%s", method, path, res.StatusCode, err, b)
		}
	}
	return res.StatusCode
}

// ring sends POST /ring with body (may be "") and returns the ring id,
// failing the test unless the answer is 202.
func (s *testServer) ring(body string) string {
	s.t.Helper()
	var rr struct {
		RingID string `json:"ring_id"`
	}
	if code := s.do("POST", "/ring", body, &rr); code != 202 || rr.RingID == "" {
		s.t.Fatalf("POST /ring %s = %d: %s", body, code, s.lastBody)
	}
	return rr.RingID
}

// status returns GET /status.
func (s *testServer) status() statusBody {
	var st statusBody
	if code := s.do("GET", "/status", "", &st); code != 200 {
		s.t.Fatalf("GET /status = %d", code)
	}
	return st
}

// statusBody is the API's answer type, with a lookup for tests.
type statusBody struct{ httpapi.StatusBody }

func (st statusBody) line(id string) *sipphone.LineStatus {
	for i := range st.Lines {
		if st.Lines[i].ID == id {
			return &st.Lines[i]
		}
	}
	return nil
}

// waitFor polls cond until it holds or the deadline passes.
func (s *testServer) waitFor(what string, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// eventClient is a WebSocket client of /ws.
type eventClient struct {
	t *testing.T
	c *websocket.Conn
	// state is the snapshot the server sent first (without ?since=).
	state sipphone.Event
}

// dialEvents opens /ws with query; the connection closes with the test.
func (s *testServer) dialEvents(query string) *websocket.Conn {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+s.WSAddr().String()+"/ws"+query, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	c.SetReadLimit(1 << 20)
	s.t.Cleanup(func() { c.CloseNow() })
	return c
}

func (s *testServer) events(query string) *eventClient {
	s.t.Helper()
	e := &eventClient{t: s.t, c: s.dialEvents(query)}
	if !strings.Contains(query, "since=") {
		// The snapshot comes once the server has subscribed the client:
		// from here on no event can be missed.
		if e.state = e.next(5 * time.Second); e.state.Type != sipphone.EventState {
			s.t.Fatalf("first event %+v, want the state snapshot", e.state)
		}
	}
	return e
}

// next reads the next event, failing after timeout.
func (e *eventClient) next(timeout time.Duration) sipphone.Event {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, b, err := e.c.Read(ctx)
	if err != nil {
		e.t.Fatalf("reading event: %v", err)
	}
	var ev sipphone.Event
	if err := json.Unmarshal(b, &ev); err != nil {
		e.t.Fatalf("event is not JSON: %v: %s", err, b)
	}
	return ev
}

// expect reads events until it has seen the given types in this order,
// skipping types not in the list, and returns them.
func (e *eventClient) expect(types ...string) []sipphone.Event {
	e.t.Helper()
	var got []sipphone.Event
	for len(got) < len(types) {
		ev := e.next(15 * time.Second)
		if !slices.Contains(types, ev.Type) {
			continue
		}
		if ev.Type != types[len(got)] {
			e.t.Fatalf("event %d is %s (%+v), want %s; order wanted %v", len(got), ev.Type, ev, types[len(got)], types)
		}
		got = append(got, ev)
	}
	return got
}
