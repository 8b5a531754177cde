package app

import (
	"bufio"
	"context"
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

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/peers"
)

// baresip is a real SIP phone playing the adapter's port: it registers,
// rings, answers by itself (answermode=auto) or not, and is driven over
// its ctrl_tcp module.
type baresip struct {
	t    *testing.T
	cmd  *exec.Cmd
	ctrl net.Conn
	mu   sync.Mutex
	out  strings.Builder
}

// startBaresip starts baresip registering user with password at server.
func startBaresip(t *testing.T, server, user, password, answermode string) *baresip {
	return startBaresipIn(t, t.TempDir(), server, user, password, answermode, "")
}

// startBaresipIn starts baresip with its configuration in dir; extra is
// appended to its config file.
func startBaresipIn(t *testing.T, dir, server, user, password, answermode, extra string) *baresip {
	t.Helper()
	bin := peers.Require(t, "baresip", "baresip-core")
	wav := filepath.Join(dir, "tone.wav")
	if _, err := os.Stat(wav); err != nil { // a test may have put its own tone there
		writeToneWAV(t, wav, 440, 120*time.Second)
	}
	sipPort := freeSIPPort(t)
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
`, sipPort, wav, ctrlPort) + extra
	os.WriteFile(filepath.Join(dir, "config"), []byte(conf), 0o644)
	acct := fmt.Sprintf("<sip:%s@%s;transport=udp>;auth_pass=%s;answermode=%s;regint=600\n", user, server, password, answermode)
	os.WriteFile(filepath.Join(dir, "accounts"), []byte(acct), 0o644)
	b := &baresip{t: t}
	b.cmd = exec.Command(bin, "-f", dir, "-s")
	pr, pw := io.Pipe()
	b.cmd.Stdout, b.cmd.Stderr = pw, pw
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		for sc.Scan() {
			b.mu.Lock()
			b.out.WriteString(sc.Text() + "\n")
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		b.command("quit", "")
		// baresip does not stop on SIGTERM while busy: quit, then kill.
		done := make(chan struct{})
		go func() { b.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			b.cmd.Process.Kill()
			<-done
		}
		pw.Close()
		if t.Failed() {
			t.Logf("baresip output:\n%s", tail(b.output()))
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(ctrlPort)))
		if err == nil {
			b.ctrl = c
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("baresip ctrl_tcp did not start: %v\n%s", err, b.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return b
}

func (b *baresip) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.String()
}

// command sends a ctrl_tcp command (a netstring of JSON).
func (b *baresip) command(cmd, params string) {
	if b.ctrl == nil {
		return
	}
	j, _ := json.Marshal(map[string]string{"command": cmd, "params": params, "token": "t"})
	fmt.Fprintf(b.ctrl, "%d:%s,", len(j), j)
}

// waitOutput polls baresip's output for s.
func (b *baresip) waitOutput(s string) {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(b.output(), s) {
		if time.Now().After(deadline) {
			b.t.Fatalf("baresip never printed %q", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// writeToneWAV writes a mono 8 kHz PCM16 sine WAV.
func writeToneWAV(t *testing.T, path string, freq float64, d time.Duration) {
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
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBaresipRingAnswerHangup(t *testing.T) {
	s := startServer(t, "ht802: {auth_enabled: true}\nlines: [{id: phone1, user: phone1, password: secret}]\n", "")
	ev := s.events("?types=registered,ring_start,ring_stop,off_hook,on_hook")
	start := time.Now()
	b := startBaresip(t, s.sipAddr(), "phone1", "secret", "auto")
	ev.expect(sipphone.EventRegistered)
	if l := s.status().line("phone1"); !l.Registered || !strings.Contains(l.UserAgent, "baresip") {
		t.Fatalf("status after baresip registered: %+v", l)
	}
	t.Logf("baresip registered %v after start", time.Since(start).Round(time.Millisecond))

	ringID := s.ring(`{"caller_id":{"name":"Front Door","number":"5551234"},"pattern":"ring3"}`)
	got := ev.expect(sipphone.EventRingStart, sipphone.EventRingStop, sipphone.EventOffHook)
	if got[1].Reason != "answered" || !got[2].Answered || got[0].RingID != ringID {
		t.Fatalf("events %+v", got)
	}
	trace := b.output()
	for _, want := range []string{`From: "Front Door" <sip:5551234@`, "Alert-Info: <http://127.0.0.1>;info=ring3"} {
		if !strings.Contains(trace, want) {
			t.Fatalf("baresip's received INVITE lacks %q", want)
		}
	}
	b.command("hangup", "")
	on := ev.expect(sipphone.EventOnHook)[0]
	if on.CallID != got[2].CallID || on.Reason != "bye" {
		t.Fatalf("on_hook %+v, want call %s reason bye", on, got[2].CallID)
	}
	s.waitFor("RTP port release", func() bool { return s.Ports.InUse() == 0 })
}

func TestBaresipRingCancelled(t *testing.T) {
	s := startServer(t, "", "")
	ev := s.events("?types=registered,ring_start,ring_stop")
	b := startBaresip(t, s.sipAddr(), "phone1", "x", "manual")
	ev.expect(sipphone.EventRegistered)
	s.ring("")
	ev.expect(sipphone.EventRingStart)
	b.waitOutput("180 Ringing")
	if code := s.do("DELETE", "/ring", "", nil); code != 202 {
		t.Fatalf("DELETE /ring = %d", code)
	}
	if got := ev.expect(sipphone.EventRingStop)[0]; got.Reason != "stopped" {
		t.Fatalf("ring_stop %+v", got)
	}
	b.waitOutput("CANCEL")
}

func TestBaresipWrongPasswordNeverRegisters(t *testing.T) {
	s := startServer(t, "ht802: {auth_enabled: true}\nlines: [{id: phone1, user: phone1, password: secret}]\n", "")
	startBaresip(t, s.sipAddr(), "phone1", "wrong", "auto")
	s.waitFor("the refused attempt", func() bool { return strings.Contains(s.logs.String(), "SIP authentication failed") })
	if l := s.status().line("phone1"); l.Registered {
		t.Fatalf("registered with a wrong password: %+v", l)
	}
}

// TestBaresipSendsKeys: baresip sends keys as RFC 2833 events in a call;
// each arrives once.
func TestBaresipSendsKeys(t *testing.T) {
	s := startServer(t, "", "")
	ev := s.events("?types=registered,off_hook,dtmf")
	b := startBaresip(t, s.sipAddr(), "phone1", "x", "auto")
	ev.expect(sipphone.EventRegistered)
	s.ring("")
	ev.expect(sipphone.EventOffHook)
	keys := "72#"
	for _, k := range keys {
		b.command("sndcode", string(k))
		got := ev.expect(sipphone.EventDTMF)[0]
		if got.Digit != string(k) || got.Method != "rfc4733" || got.DurationMS == nil || *got.DurationMS <= 0 {
			t.Fatalf("key %c arrived as %+v", k, got)
		}
	}
	// No second event for any press within the next half second.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, b, err := ev.c.Read(ctx); err == nil {
		t.Fatalf("unexpected extra event %s", b)
	}
}

// freeSIPPort returns a port free for baresip's SIP listeners: UDP and TCP
// on the port, and TCP on the next one (its TLS transport).
func freeSIPPort(t *testing.T) int {
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
