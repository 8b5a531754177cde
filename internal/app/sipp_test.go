package app

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/peers"
)

// sipp runs a sipp scenario from testdata/sipp against the server and
// returns its error (nil when every call of the scenario succeeded).
func (s *testServer) sipp(ctx context.Context, scenario string, args ...string) (string, error) {
	s.t.Helper()
	bin := peers.Require(s.t, "sipp", "sip-tester")
	dir := s.t.TempDir()
	full := append([]string{"-sf", filepath.Join("testdata", "sipp", scenario), "-m", "1", "-i", "127.0.0.1",
		"-timeout", "20s", "-timeout_error", "-nostdin", "-trace_err", "-error_file", filepath.Join(dir, "err.log")}, args...)
	cmd := exec.CommandContext(ctx, bin, full...)
	cmd.Dir = "."
	out, err := cmd.CombinedOutput()
	if err != nil {
		errLog, _ := exec.Command("cat", filepath.Join(dir, "err.log")).Output()
		return string(out) + "\n" + string(errLog), err
	}
	return string(out), nil
}

func (s *testServer) sippClient(scenario string, args ...string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := s.sipp(ctx, scenario, append(args, s.sipAddr())...); err != nil {
		s.t.Fatalf("sipp %s failed: %v\n%s", scenario, err, tail(out))
	}
}

// waitUDPBound waits until some process has bound UDP port (as listed in
// /proc/net/udp), without binding it itself.
func waitUDPBound(t *testing.T, port string) {
	t.Helper()
	n, _ := strconv.Atoi(port)
	hex := fmt.Sprintf(":%04X ", n)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, f := range []string{"/proc/net/udp", "/proc/net/udp6"} {
			b, _ := os.ReadFile(f)
			for _, l := range strings.Split(string(b), "\n") {
				if fields := strings.Fields(l); len(fields) > 2 && strings.HasSuffix(fields[1]+" ", hex) {
					return
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing bound UDP port %s within 20 s", port)
}

func tail(s string) string {
	if len(s) > 3000 {
		return s[len(s)-3000:]
	}
	return s
}

const authLines = `
ht802:
  auth_enabled: true
  credentials: {username: shared, password: sharedpw}
lines:
  - {id: kitchen, user: phone1, password: secret, display_name: Kitchen}
  - {id: hall, user: phone2, password: other}
`

func TestRegisterWithDigestAuth(t *testing.T) {
	s := startServer(t, authLines, "")
	ev := s.events("?types=registered,unregistered")
	if e := ev.state; len(e.Lines) != 2 || e.Lines[0].ID != "kitchen" || e.Lines[0].Registered {
		t.Fatalf("first event = %+v, want a state snapshot of 2 lines", e)
	}
	port := peers.FreeUDPPort(t)
	s.sippClient("register.xml", "-s", "phone1", "-au", "phone1", "-ap", "secret", "-p", strconv.Itoa(port))
	reg := ev.expect(sipphone.EventRegistered)[0]
	if reg.Line != "kitchen" || !strings.Contains(reg.Contact, "phone1@127.0.0.1:"+strconv.Itoa(port)) || !strings.Contains(reg.UserAgent, "HT802") {
		t.Fatalf("registered event = %+v", reg)
	}
	l := s.status().line("kitchen")
	if l == nil || !l.Registered || l.State != sipphone.StateOnHook || l.Registration.Source != "127.0.0.1:"+strconv.Itoa(port) {
		t.Fatalf("kitchen after REGISTER: %+v", l)
	}

	cases := []struct{ name, user, authUser, password string }{
		{"wrong password", "phone2", "phone2", "wrong"},
		{"unknown auth user", "phone2", "nobody", "other"},
		{"other line's password", "phone2", "phone1", "secret"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s.sippClient("register_refused.xml", "-s", c.user, "-au", c.authUser, "-ap", c.password, "-p", strconv.Itoa(peers.FreeUDPPort(t)))
			if l := s.status().line("hall"); l.Registered {
				t.Fatalf("hall registered with %s", c.name)
			}
		})
	}
	t.Run("shared credentials", func(t *testing.T) {
		s.sippClient("register.xml", "-s", "phone2", "-au", "shared", "-ap", "sharedpw", "-p", strconv.Itoa(peers.FreeUDPPort(t)))
		if e := ev.expect(sipphone.EventRegistered)[0]; e.Line != "hall" {
			t.Fatalf("registered %+v, want hall", e)
		}
	})
	if strings.Count(s.logs.String(), "SIP authentication failed") < 3 {
		t.Fatalf("failed authentications not logged:\n%s", s.logs.String())
	}
}

func TestOffHookAndDialedWithSipp(t *testing.T) {
	s := startServer(t, "", "")
	ev := s.events("?types=registered,off_hook,on_hook,dialed")
	port := strconv.Itoa(peers.FreeUDPPort(t))
	mport := strconv.Itoa(peers.FreeUDPPort(t))

	s.sippClient("register.xml", "-s", "phone1", "-p", port)
	s.sippClient("offhook.xml", "-s", "phone1", "-set", "dial", "100", "-p", port, "-mp", mport)
	got := ev.expect(sipphone.EventRegistered, sipphone.EventOffHook, sipphone.EventOnHook)
	if got[1].Line != "phone1" || got[1].CallID == "" || got[1].Direction != sipphone.FromPhone || got[2].CallID != got[1].CallID || got[2].Reason != "bye" {
		t.Fatalf("events %+v", got)
	}
	if got[1].Seq >= got[2].Seq {
		t.Fatalf("seq not increasing: %d then %d", got[1].Seq, got[2].Seq)
	}

	s.sippClient("offhook.xml", "-s", "phone1", "-set", "dial", "5551234", "-p", port, "-mp", mport)
	got = ev.expect(sipphone.EventOffHook, sipphone.EventDialed, sipphone.EventOnHook)
	if got[1].Number != "5551234" || got[1].Line != "phone1" {
		t.Fatalf("dialed event %+v", got[1])
	}
	if s.Ports.InUse() != 0 {
		t.Fatalf("%d RTP ports still allocated after the calls ended", s.Ports.InUse())
	}
	if st := s.status().line("phone1"); st.State != sipphone.StateOnHook || st.Call != nil {
		t.Fatalf("line after hang-up: %+v", st)
	}
}

func TestRingAnsweredAndHungUpWithSipp(t *testing.T) {
	s := startServer(t, "", "")
	ev := s.events("?types=registered,ring_start,ring_stop,off_hook,on_hook,hangup")
	port := strconv.Itoa(peers.FreeUDPPort(t))
	s.sippClient("register.xml", "-s", "phone1", "-p", port)
	ev.expect(sipphone.EventRegistered)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	uasDone := make(chan error, 1)
	var uasOut string
	go func() {
		var err error
		uasOut, err = s.sipp(ctx, "uas.xml", "-p", port, "-mp", strconv.Itoa(peers.FreeUDPPort(t)))
		uasDone <- err
	}()
	// Ring once sipp listens: a ring before would be retransmitted by the
	// INVITE transaction, but late on a busy machine.
	waitUDPBound(t, port)
	var rr struct {
		RingID string `json:"ring_id"`
		Line   string `json:"line"`
	}
	code := s.do("POST", "/ring", `{"caller_id":{"name":"Front Door","number":"5551234"},"pattern":"ring3","timeout_s":20}`, &rr)
	if code != 202 || rr.RingID == "" || rr.Line != "phone1" {
		t.Fatalf("POST /ring = %d %+v", code, rr)
	}
	got := ev.expect(sipphone.EventRingStart, sipphone.EventRingStop, sipphone.EventOffHook)
	if got[0].RingID != rr.RingID || got[0].CallerID == nil || got[0].CallerID.Number != "5551234" || got[0].Pattern != "ring3" {
		t.Fatalf("ring_start %+v", got[0])
	}
	if got[1].Reason != "answered" || !got[2].Answered || got[2].Direction != sipphone.ToPhone {
		t.Fatalf("ring_stop/off_hook %+v %+v", got[1], got[2])
	}
	if st := s.status(); st.OffHook == nil || !*st.OffHook {
		t.Fatalf("status off_hook = %v, want true", st.OffHook)
	}
	if code := s.do("POST", "/ring", "", nil); code != 409 {
		t.Fatalf("ring while off-hook = %d, want 409", code)
	}
	if code := s.do("POST", "/hangup", `{"line":"phone1"}`, nil); code != 202 {
		t.Fatalf("POST /hangup = %d", code)
	}
	h := ev.expect(sipphone.EventHangup)[0]
	if h.CallID != got[2].CallID {
		t.Fatalf("hangup %+v", h)
	}
	if err := <-uasDone; err != nil {
		t.Fatalf("sipp UAS (checks caller ID, Alert-Info, BYE): %v\n%s", err, tail(uasOut))
	}
	st := s.status()
	if st.OffHook != nil || st.Lines[0].State != sipphone.StateUnknown {
		t.Fatalf("after hangup: off_hook=%v state=%s, want null/unknown", st.OffHook, st.Lines[0].State)
	}
	s.waitFor("RTP port release", func() bool { return s.Ports.InUse() == 0 })
}

func TestRingBusyWithSipp(t *testing.T) {
	s := startServer(t, "", "")
	ev := s.events("?types=registered,ring_start,ring_stop")
	port := strconv.Itoa(peers.FreeUDPPort(t))
	s.sippClient("register.xml", "-s", "phone1", "-p", port)
	ev.expect(sipphone.EventRegistered)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := s.sipp(ctx, "busy.xml", "-p", port, "-mp", strconv.Itoa(peers.FreeUDPPort(t)))
		done <- err
	}()
	// Ring once sipp listens: on a busy machine it may start later than the
	// INVITE's first retransmissions.
	waitUDPBound(t, port)
	s.ring("")
	got := ev.expect(sipphone.EventRingStart, sipphone.EventRingStop)
	if got[1].Reason != "busy" || !strings.Contains(got[1].Detail, "486") {
		t.Fatalf("ring_stop reason %q detail %q, want busy with the SIP status", got[1].Reason, got[1].Detail)
	}
	if err := <-done; err != nil {
		t.Fatalf("sipp: %v", err)
	}
	if st := s.status().line("phone1"); st.State != sipphone.StateOnHook {
		t.Fatalf("state after busy = %s", st.State)
	}
}

func TestRegisterAndRingOverTCP(t *testing.T) {
	s := startServer(t, "", "")
	ev := s.events("?types=registered,ring_start,ring_stop,off_hook,hangup")
	port := strconv.Itoa(peers.FreeUDPPort(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := s.sipp(ctx, "register.xml", "-s", "phone1", "-t", "t1", "-p", port, s.SIP.TCPAddr().String()); err != nil {
		t.Fatalf("sipp register over TCP: %v\n%s", err, tail(out))
	}
	ev.expect(sipphone.EventRegistered)
	if l := s.status().line("phone1"); l.Registration.Transport != "tcp" {
		t.Fatalf("transport = %q, want tcp", l.Registration.Transport)
	}
	done := make(chan error, 1)
	var out string
	go func() {
		var err error
		out, err = s.sipp(ctx, "uas.xml", "-t", "t1", "-p", port, "-mp", strconv.Itoa(peers.FreeUDPPort(t)))
		done <- err
	}()
	// The TCP UAS must listen before we connect to it.
	s.waitFor("sipp TCP listener", func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	s.ring(`{"caller_id":{"name":"Front Door","number":"5551234"},"pattern":"ring3"}`)
	got := ev.expect(sipphone.EventRingStart, sipphone.EventRingStop, sipphone.EventOffHook)
	if got[1].Reason != "answered" {
		t.Fatalf("ring_stop %+v", got[1])
	}
	s.do("POST", "/hangup", "", nil)
	ev.expect(sipphone.EventHangup)
	if err := <-done; err != nil {
		t.Fatalf("sipp UAS over TCP: %v\n%s", err, tail(out))
	}
}

func execCombined(ctx context.Context, bin string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return string(out), err
}
