package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a process the harness started: the server under test or the
// relay. Its stderr (and stdout unless taken) is kept, the last 64 KiB, to
// explain a failure.
type child struct {
	name string
	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, valid after done
}

// stopTimeout is how long a child may take to stop after SIGTERM before
// it is killed.
const stopTimeout = 5 * time.Second

// relayRoleEnv marks a process started as the relay, for binaries (test
// binaries) that cannot take "loadtest --relay-serve" as arguments.
const relayRoleEnv = "SIPPHONE_LOADTEST_ROLE"

// serverEnv are the environment variables the server reads to override its
// configuration file; they are removed from its environment so the
// harness's file is what runs.
var serverEnv = []string{"SIP_SERVER_HOST", "SIP_SERVER_PORT", "API_HOST", "API_PORT", "WS_PORT", "RTP_PORT_MIN",
	"RTP_PORT_MAX", "LOG_LEVEL", "API_TOKEN", "SIP_PHONE_STATE", "SIP_PHONE_CONFIG"}

func startChild(name string, argv, env []string, out *tailBuffer, stdout io.Writer) (*child, error) {
	c := &child{name: name, cmd: exec.Command(argv[0], argv[1:]...), out: out, done: make(chan struct{})}
	c.cmd.Env = env
	c.cmd.Stderr = c.out
	c.cmd.Stdout = c.out
	if stdout != nil {
		c.cmd.Stdout = stdout
	}
	dieWithParent(c.cmd)
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// exited returns an error describing the exit when the child has exited.
func (c *child) exited() error {
	select {
	case <-c.done:
		return fmt.Errorf("%s exited (%v); its output ends:\n%s", c.name, c.err, c.out.String())
	default:
		return nil
	}
}

// stop ends the child: SIGTERM, then SIGKILL after stopTimeout.
func (c *child) stop() {
	c.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(stopTimeout)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		c.cmd.Process.Kill()
		<-c.done
	}
}

func newTail() *tailBuffer { return &tailBuffer{max: 64 << 10} }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex // guards b
	b   []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// firstLine passes everything to next and delivers the first line on C.
type firstLine struct {
	next io.Writer
	mu   sync.Mutex // guards buf, sent
	buf  []byte
	sent bool
	C    chan string
}

func (f *firstLine) Write(p []byte) (int, error) {
	f.mu.Lock()
	if !f.sent {
		f.buf = append(f.buf, p...)
		if i := bytes.IndexByte(f.buf, '\n'); i >= 0 {
			f.sent = true
			f.C <- string(f.buf[:i])
		}
	}
	f.mu.Unlock()
	return f.next.Write(p)
}

// serverChild is a running server under test.
type serverChild struct {
	*child
	sip  netip.AddrPort
	rest string // http://127.0.0.1:PORT
}

// serverConfig is the configuration of the server under test: loopback,
// the harness's ports, warnings only, no authentication.
const serverConfig = `# written by sipphone loadtest
server:
  host: "127.0.0.1"
  sip_port: %d
  sip_transports: ["udp"]
  rest_port: %d
  websocket_port: %d
  state_file: %q
audio:
  rtp_ports: {min: %d, max: %d}
logging:
  level: warn
  output: stderr
`

// startServer starts bin as the server under test with a configuration
// written to dir, for up to calls calls, and waits until /readyz answers.
func startServer(ctx context.Context, bin, dir string, calls int) (*serverChild, error) {
	sipPort, err := freePort("udp")
	if err != nil {
		return nil, err
	}
	restPort, err := freePort("tcp")
	if err != nil {
		return nil, err
	}
	wsPort, err := freePort("tcp")
	if err != nil {
		return nil, err
	}
	// Even RTP ports below the kernel's ephemeral range (32768 and up), so
	// the harness's own sockets do not take them; four per call leaves
	// room for ports other programs hold.
	span := max(2000, 8*calls)
	rtpMin := 10000 + 2*rand.IntN((32000-10000-span)/2)
	cfgPath := filepath.Join(dir, "sipphone-loadtest.yml")
	cfg := fmt.Sprintf(serverConfig, sipPort, restPort, wsPort, filepath.Join(dir, "state.json"), rtpMin, rtpMin+span)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, fmt.Errorf("server configuration: %w", err)
	}
	c, err := startChild("server "+bin, []string{bin, "serve", "--config", cfgPath}, withoutEnv(os.Environ(), serverEnv), newTail(), nil)
	if err != nil {
		return nil, err
	}
	s := &serverChild{child: c, sip: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(sipPort)),
		rest: fmt.Sprintf("http://127.0.0.1:%d", restPort)}
	if err := s.waitReady(ctx, 15*time.Second); err != nil {
		c.stop()
		return nil, err
	}
	return s, nil
}

// waitReady polls /readyz until it answers 200.
func (s *serverChild) waitReady(ctx context.Context, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if res, err := client.Get(s.rest + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if err := s.exited(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: /readyz not ready after %v; its output ends:\n%s", s.name, timeout, s.out.String())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// startRelay starts the bare relay: argv (this binary in its relay role)
// and waits for the address it announces.
func startRelay(ctx context.Context, argv []string) (*child, string, error) {
	out := newTail()
	fl := &firstLine{next: out, C: make(chan string, 1)}
	env := append(os.Environ(), relayRoleEnv+"=relay")
	c, err := startChild("relay", argv, env, out, fl)
	if err != nil {
		return nil, "", err
	}
	t := time.NewTimer(15 * time.Second)
	defer t.Stop()
	select {
	case ln := <-fl.C:
		addr, ok := strings.CutPrefix(ln, "relay ")
		if !ok {
			c.stop()
			return nil, "", fmt.Errorf("relay announced %q, not \"relay ADDR\"", ln)
		}
		return c, addr, nil
	case <-c.done:
		return nil, "", c.exited()
	case <-t.C:
		c.stop()
		return nil, "", errors.New("relay did not announce its address within 15 s")
	case <-ctx.Done():
		c.stop()
		return nil, "", ctx.Err()
	}
}

// freePort returns a port the OS considers free on 127.0.0.1 for network
// ("tcp" or "udp"); another program may take it before the server does,
// which then fails to start and says so.
func freePort(network string) (int, error) {
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("free UDP port: %w", err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free TCP port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func withoutEnv(env, drop []string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, d := range drop {
			if k == d {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}
