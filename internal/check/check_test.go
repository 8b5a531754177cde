package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sip-phone-api/sipphone/internal/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// freePort returns a port free for both TCP and UDP on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		l.Close()
		if err == nil {
			u.Close()
			return p
		}
	}
	t.Fatal("no free port")
	return 0
}

// setup describes a configuration for a test.
type setup struct {
	sip, rest, ws int
	adapter       string // ht802.host, "" for none
	stateFile     string // "" for dir/state.json
	logOutput     string // "" for dir/log/api.log
	extra         string // more YAML appended
}

// write writes the configuration to a temporary file and returns its path.
func (s setup) write(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if s.stateFile == "" {
		s.stateFile = filepath.Join(dir, "state", "state.json")
	}
	if s.logOutput == "" {
		s.logOutput = filepath.Join(dir, "log", "api.log")
	}
	rtp := freePort(t)
	if rtp > 65000 {
		rtp = 40000
	}
	yaml := fmt.Sprintf(`server:
  host: "127.0.0.1"
  sip_port: %d
  rest_port: %d
  websocket_port: %d
  state_file: %q
ht802:
  host: %q
audio:
  rtp_ports: {min: %d, max: %d}
logging:
  output: %q
  rotation: "1 day"
  retention: "30 days"
%s`, s.sip, s.rest, s.ws, s.stateFile, s.adapter, rtp, rtp+100, s.logOutput, s.extra)
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func noEnv(string) string { return "" }

// run runs the command and returns its output.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := RunCLI(context.Background(), args, noEnv, &out, &errOut)
	if errOut.Len() > 0 && !errors.As(err, new(FlagError)) {
		t.Errorf("stderr without a flag error: %q", errOut.String())
	}
	return out.String(), err
}

// responder answers every SIP request it receives on a UDP socket with
// status, copying the Call-ID, after delay. It stops with the test.
func responder(t *testing.T, status string, delay time.Duration) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var callID, via, cseq string
			for _, l := range strings.Split(string(buf[:n]), "\r\n") {
				switch {
				case strings.HasPrefix(l, "Call-ID:"):
					callID = l
				case strings.HasPrefix(l, "Via:"):
					via = l
				case strings.HasPrefix(l, "CSeq:"):
					cseq = l
				}
			}
			time.Sleep(delay)
			resp := "SIP/2.0 " + status + "\r\n" + via + "\r\n" + "i: " + strings.TrimSpace(strings.TrimPrefix(callID, "Call-ID:")) +
				"\r\n" + cseq + "\r\nContent-Length: 0\r\n\r\n"
			// A stray response with another Call-ID first: it must be ignored.
			pc.WriteTo([]byte("SIP/2.0 500 Wrong\r\nCall-ID: other\r\n\r\n"), from)
			pc.WriteTo([]byte(resp), from)
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// silent is a UDP socket that never answers.
func silent(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().(*net.UDPAddr).Port
}

func TestGoodConfigPasses(t *testing.T) {
	adapter := responder(t, "200 OK", 0)
	path := setup{sip: freePort(t), rest: freePort(t), ws: freePort(t), adapter: "127.0.0.1"}.write(t)
	out, err := run(t, "--config", path, "--adapter-port", strconv.Itoa(adapter))
	if err != nil {
		t.Fatalf("err = %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	wantPrefixes := []string{
		"PASS config  " + path,
		"PASS port  sip udp 127.0.0.1:",
		"PASS port  sip tcp 127.0.0.1:",
		"PASS port  rest tcp 127.0.0.1:",
		"PASS port  websocket tcp 127.0.0.1:",
		"PASS port  rtp udp 127.0.0.1:",
		"PASS state  ",
		"PASS log  ",
		"PASS adapter  127.0.0.1:" + strconv.Itoa(adapter) + " answered OPTIONS with 200 OK in ",
	}
	if len(lines) != len(wantPrefixes) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(wantPrefixes), out)
	}
	for i, p := range wantPrefixes {
		if !strings.HasPrefix(lines[i], p) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], p)
		}
	}
	if !regexp.MustCompile(`in \d+\.\d ms$`).MatchString(lines[8]) {
		t.Errorf("adapter line has no round-trip time: %q", lines[8])
	}
	if !strings.Contains(lines[7], `rotation "1 day", retention "30 days"`) {
		t.Errorf("log line does not mention rotation: %q", lines[7])
	}
	if !strings.Contains(lines[6], "will be created") {
		t.Errorf("state line does not say the directory will be created: %q", lines[6])
	}
}

func TestDefaultsAndSharedPort(t *testing.T) {
	p := freePort(t)
	path := setup{sip: 0, rest: p, ws: p, logOutput: "stderr"}.write(t)
	out, err := run(t, "--config", path)
	if err != nil {
		t.Fatalf("err = %v\n%s", err, out)
	}
	for _, want := range []string{
		"PASS port  sip udp 127.0.0.1:0 (0: a free port is chosen at start)",
		fmt.Sprintf("PASS port  websocket tcp 127.0.0.1:%d: shares the rest listener", p),
		"PASS log  stderr",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "adapter") {
		t.Errorf("adapter probed without ht802.host:\n%s", out)
	}
}

func TestBadConfigNamesTheKey(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		want  []string
	}{
		{"unknown key", "api:\n  tokenz: []\n", []string{"FAIL config  ", "api.tokenz", "unknown key"}},
		{"two problems", "api:\n  tokens: [{name: a, token: short}]\nlines:\n  - {id: \"bad id!\", user: x}\n", []string{"api.tokens[0].token", "lines[0].id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := setup{sip: 0, rest: 0, ws: 0, extra: tt.extra}.write(t)
			out, err := run(t, "--config", path)
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				if !strings.HasPrefix(l, "FAIL config  ") {
					t.Errorf("line %q is not a config failure", l)
				}
			}
			if strings.Contains(out, "port") {
				t.Errorf("other checks ran after a config failure:\n%s", out)
			}
		})
	}
	if _, err := run(t, "--config", filepath.Join(t.TempDir(), "missing.yml")); !errors.Is(err, ErrConfig) {
		t.Errorf("missing file: err = %v, want ErrConfig", err)
	}
}

func TestBusyPortFails(t *testing.T) {
	busyTCP, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busyTCP.Close()
	busyUDP, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busyUDP.Close()
	tcpPort := busyTCP.Addr().(*net.TCPAddr).Port
	udpPort := busyUDP.LocalAddr().(*net.UDPAddr).Port
	tests := []struct {
		name string
		s    setup
		want string
	}{
		{"rest", setup{sip: 0, rest: tcpPort, ws: 0}, fmt.Sprintf("FAIL port  rest tcp 127.0.0.1:%d: address already in use", tcpPort)},
		{"websocket", setup{sip: 0, rest: 0, ws: tcpPort}, fmt.Sprintf("FAIL port  websocket tcp 127.0.0.1:%d: address already in use", tcpPort)},
		{"sip udp", setup{sip: udpPort, rest: 0, ws: 0, extra: "  sip_transports: [udp]\n"}, fmt.Sprintf("FAIL port  sip udp 127.0.0.1:%d: address already in use", udpPort)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.s
			if s.extra != "" {
				// sip_transports belongs under server: put it there.
				s.extra = ""
			}
			path := s.write(t)
			if tt.s.extra != "" {
				b, _ := os.ReadFile(path)
				os.WriteFile(path, []byte(strings.Replace(string(b), "server:\n", "server:\n"+tt.s.extra, 1)), 0o644)
			}
			out, err := run(t, "--config", path)
			if !errors.Is(err, ErrFailed) {
				t.Fatalf("err = %v, want ErrFailed\n%s", err, out)
			}
			if !strings.Contains(out, tt.want+"\n") {
				t.Errorf("output lacks %q:\n%s", tt.want, out)
			}
			if got := strings.Count(out, "FAIL"); got != 1 {
				t.Errorf("%d failures, want 1:\n%s", got, out)
			}
		})
	}
}

func TestRTPRangeAllBusy(t *testing.T) {
	// A two-port range with both ports taken.
	var held []net.PacketConn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	var base int
	for base = 40000; base < 60000; base += 2 {
		a, errA := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", base))
		b, errB := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", base+1))
		if errA == nil && errB == nil {
			held = append(held, a, b)
			break
		}
		if a != nil {
			a.Close()
		}
		if b != nil {
			b.Close()
		}
	}
	path := setup{sip: 0, rest: 0, ws: 0}.write(t)
	b, _ := os.ReadFile(path)
	yaml := regexp.MustCompile(`rtp_ports: \{min: \d+, max: \d+\}`).ReplaceAllString(string(b), fmt.Sprintf("rtp_ports: {min: %d, max: %d}", base, base+1))
	os.WriteFile(path, []byte(yaml), 0o644)
	out, err := run(t, "--config", path)
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("err = %v\n%s", err, out)
	}
	want := fmt.Sprintf("FAIL port  rtp udp 127.0.0.1:%d-%d: none of the 1 ports the server uses for RTP is free: address already in use", base, base+1)
	if !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
}

func TestStateAndLogFailures(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "a-file")
	os.WriteFile(blocker, []byte("x"), 0o644)
	corrupt := filepath.Join(dir, "state.json")
	os.WriteFile(corrupt, []byte("{not json"), 0o644)
	tests := []struct {
		name string
		s    setup
		want string
	}{
		{"corrupt state file", setup{stateFile: corrupt}, "FAIL state  state file " + corrupt + " is corrupt"},
		{"state directory is a file", setup{stateFile: filepath.Join(blocker, "state.json")}, "FAIL state  "},
		{"log directory is a file", setup{logOutput: filepath.Join(blocker, "api.log")}, "FAIL log  " + filepath.Join(blocker, "api.log")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(t, "--config", tt.s.write(t))
			if !errors.Is(err, ErrFailed) {
				t.Fatalf("err = %v\n%s", err, out)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, out)
			}
		})
	}
}

func TestExistingFilesWritable(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "api.log")
	os.WriteFile(logFile, []byte("old\n"), 0o640)
	s := setup{stateFile: filepath.Join(dir, "state.json"), logOutput: logFile}
	out, err := run(t, "--config", s.write(t))
	if err != nil {
		t.Fatalf("err = %v\n%s", err, out)
	}
	if !strings.Contains(out, "PASS log  "+logFile+` (rotation "1 day", retention "30 days"): `+dir+" writable") {
		t.Errorf("log line:\n%s", out)
	}
	if got, _ := os.ReadFile(logFile); string(got) != "old\n" {
		t.Errorf("the check changed the log file: %q", got)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".sipphone-check") {
			t.Errorf("left behind %s", e.Name())
		}
	}
}

func TestAdapterProbe(t *testing.T) {
	tests := []struct {
		name    string
		port    func(t *testing.T) int
		adapter string
		pass    bool
		want    string
	}{
		{"answers 200", func(t *testing.T) int { return responder(t, "200 OK", 0) }, "127.0.0.1", true, "answered OPTIONS with 200 OK in "},
		{"answers 404: still up", func(t *testing.T) int { return responder(t, "404 Not Found", 0) }, "127.0.0.1", true, "answered OPTIONS with 404 Not Found"},
		{"answers after a retransmission", func(t *testing.T) int { return responderFirstLost(t) }, "127.0.0.1", true, "(after 2 transmissions)"},
		{"hostname", func(t *testing.T) int { return responder(t, "200 OK", 0) }, "localhost", true, "localhost (127.0.0.1:"},
		{"silent", silent, "127.0.0.1", false, "no answer to OPTIONS within 300ms"},
		{"nothing listens", func(t *testing.T) int { return closedPort(t) }, "127.0.0.1", false, "refused (ICMP port unreachable)"},
		{"unresolvable", silent, "no-such-host.invalid", false, "no-such-host.invalid: cannot resolve"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := "300ms"
			if tt.name == "answers after a retransmission" {
				timeout = "2s"
			}
			path := setup{adapter: tt.adapter}.write(t)
			start := time.Now()
			out, err := run(t, "--config", path, "--adapter-port", strconv.Itoa(tt.port(t)), "--timeout", timeout)
			if tt.pass != (err == nil) {
				t.Fatalf("err = %v, want pass %v\n%s", err, tt.pass, out)
			}
			if !tt.pass && !errors.Is(err, ErrFailed) {
				t.Errorf("err = %v, want ErrFailed", err)
			}
			verdict := "FAIL adapter  "
			if tt.pass {
				verdict = "PASS adapter  "
			}
			var line string
			for _, l := range strings.Split(out, "\n") {
				if strings.HasPrefix(l, verdict) {
					line = l
				}
			}
			if !strings.Contains(line, tt.want) {
				t.Errorf("adapter line %q lacks %q\n%s", line, tt.want, out)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

// responderFirstLost ignores the first request and answers the rest, as
// if the first datagram were lost.
func responderFirstLost(t *testing.T) int {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for n := 0; ; n++ {
			k, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if n == 0 {
				continue
			}
			var callID string
			for _, l := range strings.Split(string(buf[:k]), "\r\n") {
				if v, ok := strings.CutPrefix(l, "Call-ID: "); ok {
					callID = v
				}
			}
			pc.WriteTo([]byte("SIP/2.0 200 OK\r\nCall-ID: "+callID+"\r\n\r\n"), from)
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// closedPort returns a UDP port nothing listens on.
func closedPort(t *testing.T) int {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	return p
}

func TestPrefixIsSkipped(t *testing.T) {
	path := setup{adapter: "10.99.0.0/16"}.write(t)
	out, err := run(t, "--config", path)
	if err != nil {
		t.Fatalf("err = %v\n%s", err, out)
	}
	if !strings.Contains(out, "SKIP adapter  10.99.0.0/16: a network prefix, not probed\n") {
		t.Errorf("no skip line:\n%s", out)
	}
}

func TestCancelStopsProbe(t *testing.T) {
	path := setup{adapter: "127.0.0.1"}.write(t)
	ctx, cancel := context.WithCancel(context.Background())
	port := silent(t)
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	var out bytes.Buffer
	err := RunCLI(ctx, []string{"--config", path, "--adapter-port", strconv.Itoa(port), "--timeout", "10s"}, noEnv, &out, &out)
	if !errors.Is(err, ErrFailed) {
		t.Errorf("err = %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("cancelled probe took %v", d)
	}
	if !strings.Contains(out.String(), "FAIL adapter  127.0.0.1:"+strconv.Itoa(port)+": context canceled") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		flag bool // a FlagError
	}{
		{"unknown flag", []string{"--nope"}, true},
		{"bad port", []string{"--adapter-port", "70000"}, true},
		{"bad timeout", []string{"--timeout", "0s"}, true},
		{"argument", []string{"extra"}, true},
		{"help", []string{"--help"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := RunCLI(context.Background(), tt.args, noEnv, &out, &errOut)
			var fe FlagError
			if got := errors.As(err, &fe); got != tt.flag {
				t.Errorf("err = %v, FlagError %v, want %v", err, got, tt.flag)
			}
			if !tt.flag && (err != nil || !strings.Contains(errOut.String(), "usage: sipphone check")) {
				t.Errorf("help: err %v, stderr %q", err, errOut.String())
			}
		})
	}
}

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name   string
		msg    string
		status string
		ok     bool
	}{
		{"ok", "SIP/2.0 200 OK\r\nCall-ID: abc\r\n\r\n", "200 OK", true},
		{"compact call-id", "SIP/2.0 486 Busy Here\r\ni: abc\r\n\r\n", "486 Busy Here", true},
		{"case-insensitive name", "SIP/2.0 200 OK\r\ncall-id:abc\r\n\r\n", "200 OK", true},
		{"other call", "SIP/2.0 200 OK\r\nCall-ID: xyz\r\n\r\n", "", false},
		{"no call-id", "SIP/2.0 200 OK\r\n\r\n", "", false},
		{"a request", "OPTIONS sip:x SIP/2.0\r\nCall-ID: abc\r\n\r\n", "", false},
		{"bad code", "SIP/2.0 abc OK\r\nCall-ID: abc\r\n\r\n", "", false},
		{"empty", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, ok := parseResponse([]byte(tt.msg), "abc")
			if status != tt.status || ok != tt.ok {
				t.Errorf("= %q, %v; want %q, %v", status, ok, tt.status, tt.ok)
			}
		})
	}
}

func TestRTPPorts(t *testing.T) {
	tests := []struct {
		name     string
		min, max int
		want     string
	}{
		{"small range: even ports", 10000, 10004, "[10000 10002 10004]"},
		{"odd bounds", 10001, 10007, "[10002 10004 10006]"},
		{"one port", 10001, 10001, "[10001]"},
		{"empty", 5, 4, "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fmt.Sprint(rtpPorts(tt.min, tt.max)); got != tt.want {
				t.Errorf("= %v, want %v", got, tt.want)
			}
		})
	}
	if n := len(rtpPorts(10000, 20000)); n != 5001 {
		t.Errorf("default range: %d ports, want 5001", n)
	}
}

// TestDeployConfigLoads keeps the docker-compose configuration valid.
func TestDeployConfigLoads(t *testing.T) {
	if _, err := config.Load(filepath.Join("..", "..", "deploy", "config.yml"), noEnv); err != nil {
		t.Fatalf("deploy/config.yml does not load: %v", err)
	}
}
