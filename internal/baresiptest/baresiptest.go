// Package baresiptest runs baresip, a real SIP phone, for tests: it
// registers an account at a server, rings, answers by itself
// (answermode=auto) or not, sends audio from a WAV file and is driven over
// its ctrl_tcp module (netstrings of JSON commands). Everything listens on
// loopback on free ports; the phone is stopped when the test ends.
package baresiptest

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sip-phone-api/sipphone/internal/peers"
)

// Options are the account and behaviour of the phone.
type Options struct {
	Server     string // the registrar's HOST:PORT
	User       string
	Password   string
	AnswerMode string // "auto" answers incoming calls, "manual" lets them ring
	// Dir holds baresip's configuration; empty means a temporary directory.
	Dir string
	// Extra is appended to baresip's config file.
	Extra string
	// Wait bounds every wait on the phone (default 10 s).
	Wait time.Duration
}

// Phone is a running baresip.
type Phone struct {
	t    testing.TB
	cmd  *exec.Cmd
	ctrl net.Conn
	wait time.Duration
	mu   sync.Mutex
	out  strings.Builder
}

// Start starts baresip registering o.User at o.Server; it skips the test
// when baresip is missing (fails under SIPPHONE_REQUIRE_PEERS=1).
func Start(t testing.TB, o Options) *Phone {
	t.Helper()
	bin := peers.Require(t, "baresip", "baresip-core")
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.AnswerMode == "" {
		o.AnswerMode = "auto"
	}
	if o.Wait == 0 {
		o.Wait = 10 * time.Second
	}
	wav := filepath.Join(o.Dir, "tone.wav")
	if _, err := os.Stat(wav); err != nil { // a test may have put its own tone there
		if err := WriteToneWAV(wav, 440, 120*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	sipPort := FreeSIPPort(t)
	ctrlPort := peers.FreeUDPPort(t)
	conf := fmt.Sprintf(`module_path /usr/lib/baresip/modules
sip_listen 127.0.0.1:%d
audio_player aufile,/dev/null
audio_alert aufile,/dev/null
audio_source aufile,%s
rtp_ports 30000-39998
module g711.so
module aufile.so
module_app account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:%d
`, sipPort, wav, ctrlPort) + o.Extra
	acct := fmt.Sprintf("<sip:%s@%s;transport=udp>;auth_pass=%s;answermode=%s;regint=600\n", o.User, o.Server, o.Password, o.AnswerMode)
	if err := os.WriteFile(filepath.Join(o.Dir, "config"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(o.Dir, "accounts"), []byte(acct), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &Phone{t: t, wait: o.Wait}
	p.cmd = exec.Command(bin, "-f", o.Dir, "-s")
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
		io.Copy(io.Discard, pr)
	}()
	t.Cleanup(func() {
		p.Command("quit", "")
		// baresip does not stop on SIGTERM while busy: quit, then kill.
		done := make(chan struct{})
		go func() { p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			p.cmd.Process.Kill()
			<-done
		}
		pw.Close()
		<-copied
		if p.ctrl != nil {
			p.ctrl.Close()
		}
		if t.Failed() {
			t.Logf("baresip output (end):\n%s", tail(p.Output(), 60))
		}
	})
	deadline := time.Now().Add(o.Wait)
	for {
		c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(ctrlPort)))
		if err == nil {
			p.ctrl = c
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("baresip ctrl_tcp did not start: %v\n%s", err, p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p
}

// Output is everything baresip printed so far (with -s, its SIP trace).
func (p *Phone) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Command sends a ctrl_tcp command, e.g. ("sndcode", "5"), ("hangup", "").
func (p *Phone) Command(cmd, params string) {
	if p.ctrl == nil {
		return
	}
	j, _ := json.Marshal(map[string]string{"command": cmd, "params": params, "token": "t"})
	fmt.Fprintf(p.ctrl, "%d:%s,", len(j), j)
}

// WaitOutput polls baresip's output for s.
func (p *Phone) WaitOutput(s string) {
	p.t.Helper()
	deadline := time.Now().Add(p.wait)
	for !strings.Contains(p.Output(), s) {
		if time.Now().After(deadline) {
			p.t.Fatalf("baresip never printed %q", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FreeSIPPort returns a port free for baresip's SIP listeners: UDP and TCP
// on the port, and TCP on the next one (its TLS transport).
func FreeSIPPort(t testing.TB) int {
	t.Helper()
	for {
		p := peers.FreeUDPPort(t)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+1)))
		if err != nil {
			continue
		}
		l.Close()
		return p
	}
}

// WriteToneWAV writes a mono 8 kHz PCM16 sine WAV, baresip's audio source.
func WriteToneWAV(path string, freq float64, d time.Duration) error {
	n := int(d.Seconds() * 8000)
	data := make([]byte, 44+2*n)
	copy(data[0:], "RIFF")
	binary.LittleEndian.PutUint32(data[4:], uint32(36+2*n))
	copy(data[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(data[16:], 16)
	binary.LittleEndian.PutUint16(data[20:], 1)
	binary.LittleEndian.PutUint16(data[22:], 1)
	binary.LittleEndian.PutUint32(data[24:], 8000)
	binary.LittleEndian.PutUint32(data[28:], 16000)
	binary.LittleEndian.PutUint16(data[32:], 2)
	binary.LittleEndian.PutUint16(data[34:], 16)
	copy(data[36:], "data")
	binary.LittleEndian.PutUint32(data[40:], uint32(2*n))
	for i := 0; i < n; i++ {
		v := int16(8000 * math.Sin(2*math.Pi*freq*float64(i)/8000))
		binary.LittleEndian.PutUint16(data[44+2*i:], uint16(v))
	}
	return os.WriteFile(path, data, 0o644)
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}
