package releasecheck

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sip-phone-api/sipphone/internal/baresiptest"
	"github.com/sip-phone-api/sipphone/internal/peers"
	"github.com/sip-phone-api/sipphone/internal/testlog"
)

// Waits are generous: the emulated binary runs several times slower than a
// native one, on a machine that may be busy.
const (
	startWait = 90 * time.Second
	eventWait = 30 * time.Second
)

// TestQemuArm64 and TestQemuArmv7 run the release binary of each ARM target
// under qemu-user against baresip: it registers (digest authentication),
// the server rings it through REST, baresip answers by itself, one key
// pressed on it arrives as a dtmf event on the WebSocket, /status answers
// with the binary's own version (in the body and the X-Sipphone-Version
// header, which errors carry too), and SIGTERM stops the server cleanly.
//
// The binaries are dist/bin/linux-arm64/sipphone and
// dist/bin/linux-armv7/sipphone under SIPPHONE_DIST (scripts/arm-check.sh
// builds them with scripts/release.sh); with SIPPHONE_ARM_CHECK=1 instead
// the test cross-builds them itself. Without either it skips.
func TestQemuArm64(t *testing.T) {
	t.Parallel()
	runTarget(t, target{name: "linux-arm64", goarch: "arm64", qemu: "qemu-aarch64", platform: "linux/arm64"})
}

func TestQemuArmv7(t *testing.T) {
	t.Parallel()
	runTarget(t, target{name: "linux-armv7", goarch: "arm", goarm: "7", qemu: "qemu-arm", platform: "linux/arm"})
}

type target struct {
	name, goarch, goarm, qemu, platform string
}

func runTarget(t *testing.T, tg target) {
	if os.Getenv("SIPPHONE_DIST") == "" && os.Getenv("SIPPHONE_ARM_CHECK") != "1" {
		// Cross-building two binaries is slow: the check runs on request
		// (CI runs it through scripts/arm-check.sh after make release).
		t.Skip("the ARM release check runs with make arm-check, or with SIPPHONE_DIST=dist after make release, or SIPPHONE_ARM_CHECK=1 (builds the binaries itself)")
	}
	qemu := peers.Require(t, tg.qemu, "qemu-user")
	peers.Require(t, "baresip", "baresip-core")
	bin := binary(t, tg)

	// The binary is the target's, not the host's, and says what it is.
	out, err := exec.Command(qemu, bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s --version: %v\n%s", tg.qemu, bin, err, out)
	}
	m := regexp.MustCompile(`^sipphone (\S+) \(commit (\S+), built (\S+), [^,]+, ([a-z0-9/]+)\)\n$`).FindStringSubmatch(string(out))
	if m == nil || m[4] != tg.platform {
		t.Fatalf("--version under %s printed %q, want \"sipphone VERSION (commit C, built D, GO, %s)\"", tg.qemu, out, tg.platform)
	}
	version := m[1]
	if version == "devel" || m[2] == "unknown" || m[3] == "unknown" {
		t.Fatalf("release binary without build information: %q", out)
	}
	t.Logf("%s", bytes.TrimSpace(out))

	s := startServer(t, qemu, bin)
	ev := s.events(t, "registered,off_hook,dtmf")

	start := time.Now()
	phone := baresiptest.Start(t, baresiptest.Options{Server: s.sip, User: "phone1", Password: "secret-pw", AnswerMode: "auto", Wait: eventWait})
	ev.expect(t, "registered")
	t.Logf("baresip registered after %v", time.Since(start).Round(time.Millisecond))

	var ring struct {
		RingID string `json:"ring_id"`
		Line   string `json:"line"`
	}
	if code := s.do(t, "POST", "/ring", `{"caller_id":{"name":"Release check","number":"100"}}`, &ring); code != 202 || ring.RingID == "" || ring.Line != "phone1" {
		t.Fatalf("POST /ring = %d %+v", code, ring)
	}
	if off := ev.expect(t, "off_hook"); !off.Answered || off.Line != "phone1" {
		t.Fatalf("off_hook %+v, want the answer of the ring on phone1", off)
	}
	phone.WaitOutput(`From: "Release check" <sip:100@`)

	phone.Command("sndcode", "5")
	if k := ev.expect(t, "dtmf"); k.Digit != "5" || k.Method != "rfc4733" {
		t.Fatalf("key 5 arrived as %+v", k)
	}

	var st struct {
		Version string `json:"version"`
		Lines   []struct {
			ID         string `json:"id"`
			Registered bool   `json:"registered"`
			State      string `json:"state"`
			UserAgent  string `json:"user_agent"`
		} `json:"lines"`
	}
	if code := s.do(t, "GET", "/status", "", &st); code != 200 {
		t.Fatalf("GET /status = %d", code)
	}
	if st.Version != version || len(st.Lines) != 1 || !st.Lines[0].Registered || st.Lines[0].State != "off_hook" ||
		!strings.Contains(st.Lines[0].UserAgent, "baresip") {
		t.Fatalf("/status %+v, want version %s and phone1 registered by baresip, off hook", st, version)
	}

	if got := s.lastHeads.Get("X-Sipphone-Version"); got != version {
		t.Fatalf("/status answered with X-Sipphone-Version %q, want %q", got, version)
	}
	if code := s.do(t, "GET", "/lines/no-such-line", "", nil); code != 404 || s.lastHeads.Get("X-Sipphone-Version") != version {
		t.Fatalf("GET /lines/no-such-line = %d with X-Sipphone-Version %q, want 404 with %q", code, s.lastHeads.Get("X-Sipphone-Version"), version)
	}

	phone.Command("hangup", "")
	s.stop(t)
}

// binary returns the target's release binary: from SIPPHONE_DIST, or
// cross-built here.
func binary(t *testing.T, tg target) string {
	if dist := os.Getenv("SIPPHONE_DIST"); dist != "" {
		p, err := filepath.Abs(filepath.Join(dist, "bin", tg.name, "sipphone"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("SIPPHONE_DIST=%s: %v (build it with scripts/release.sh)", dist, err)
		}
		return p
	}
	p := filepath.Join(t.TempDir(), "sipphone")
	cmd := exec.Command("go", "build", "-trimpath",
		"-ldflags", "-s -w -X main.version=v0.0.0-releasecheck -X main.commit=test -X main.date=2026-01-01T00:00:00Z",
		"-o", p, "github.com/sip-phone-api/sipphone/cmd/sipphone")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+tg.goarch, "GOARM="+tg.goarm)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cross-building %s: %v\n%s", tg.name, err, out)
	}
	return p
}

type server struct {
	cmd       *exec.Cmd
	done      chan struct{}
	waitErr   error
	logs      *testlog.Buffer
	rest, ws  string
	sip       string
	lastBody  []byte
	lastHeads http.Header
}

// startServer runs `sipphone serve` under qemu on free loopback ports with
// one line that requires digest authentication, and waits for /readyz.
func startServer(t *testing.T, qemu, bin string) *server {
	dir := t.TempDir()
	port := func() int { return peers.FreeUDPPort(t) } // free for UDP and TCP
	restPort, wsPort, sipPort, rtpPort := port(), port(), port(), port()
	cfg := fmt.Sprintf(`server:
  host: "127.0.0.1"
  sip_port: %d
  rest_port: %d
  websocket_port: %d
  state_file: %q
ht802:
  auth_enabled: true
lines:
  - {id: phone1, user: phone1, password: secret-pw}
audio:
  rtp_ports: {min: %d, max: %d}
logging:
  level: "debug"
  format: "text"
  output: "stderr"
`, sipPort, restPort, wsPort, filepath.Join(dir, "state.json"), rtpPort, rtpPort+40)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &server{logs: &testlog.Buffer{}, done: make(chan struct{}),
		rest: "127.0.0.1:" + strconv.Itoa(restPort), ws: "127.0.0.1:" + strconv.Itoa(wsPort), sip: "127.0.0.1:" + strconv.Itoa(sipPort)}
	s.cmd = exec.Command(qemu, bin, "serve", "--config", cfgPath)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.waitErr = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			s.cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("server log:\n%s", s.logs.String())
		}
	})
	deadline := time.Now().Add(startWait)
	for {
		resp, err := http.Get("http://" + s.rest + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case <-s.done:
			t.Fatalf("the server exited before it was ready: %v", s.waitErr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not answer /readyz with 200 within %v (last: %v)", startWait, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

// do makes a REST request and decodes a JSON answer into out.
func (s *server) do(t *testing.T, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.rest+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	c := &http.Client{Timeout: eventWait}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	s.lastBody, _ = io.ReadAll(resp.Body)
	s.lastHeads = resp.Header
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(s.lastBody, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, s.lastBody)
		}
	}
	return resp.StatusCode
}

// stop sends SIGTERM and expects a clean exit.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
		if s.waitErr != nil {
			t.Fatalf("after SIGTERM the server exited with %v", s.waitErr)
		}
	case <-time.After(startWait):
		t.Fatalf("the server did not stop within %v of SIGTERM", startWait)
	}
	if !strings.Contains(s.logs.String(), "sipphone stopped") {
		t.Fatalf("no \"sipphone stopped\" in the server's log")
	}
}

type event struct {
	Type     string `json:"type"`
	Line     string `json:"line"`
	Answered bool   `json:"answered"`
	Digit    string `json:"digit"`
	Method   string `json:"method"`
}

type events struct {
	c *websocket.Conn
}

// events subscribes to the WebSocket event stream and reads the state
// snapshot, after which no event can be missed.
func (s *server) events(t *testing.T, types string) *events {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventWait)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+s.ws+"/ws?types="+types, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { c.CloseNow() })
	e := &events{c: c}
	if first := e.next(t); first.Type != "state" {
		t.Fatalf("first event %+v, want the state snapshot", first)
	}
	return e
}

func (e *events) next(t *testing.T) event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventWait)
	defer cancel()
	_, b, err := e.c.Read(ctx)
	if err != nil {
		t.Fatalf("reading events: %v", err)
	}
	var ev event
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("event is not JSON: %v: %s", err, b)
	}
	return ev
}

// expect skips events until one of type typ.
func (e *events) expect(t *testing.T, typ string) event {
	t.Helper()
	for {
		if ev := e.next(t); ev.Type == typ {
			return ev
		}
	}
}
