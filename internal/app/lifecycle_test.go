package app

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/peers"
	"github.com/sip-phone-api/sipphone/internal/sim"
)

func startSim(t *testing.T, server string, lines ...sim.LineConfig) *sim.Phone {
	t.Helper()
	ph, err := sim.New(sim.Config{Server: server, Lines: lines})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := ph.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ph.Close() })
	return ph
}

// waitSim waits for a simulator event of type typ.
func waitSim(t *testing.T, ph *sim.Phone, typ string) sim.Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e, ok := <-ph.Events():
			if !ok {
				t.Fatalf("simulator closed before %s", typ)
			}
			if e.Type == typ {
				return e
			}
		case <-timeout:
			t.Fatalf("simulator never reported %s", typ)
		}
	}
}

// TestShutdownDuringCall: stopping the server (what SIGTERM does) ends the
// call with BYE, closes WebSocket clients with 1001 and returns well
// within 5 seconds; the state file keeps the registration.
func TestShutdownDuringCall(t *testing.T) {
	s := startServer(t, "", "")
	ph := startSim(t, s.sipAddr())
	ev := s.events("?types=off_hook")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := ph.OffHook(ctx, 0); err != nil {
		t.Fatal(err)
	}
	ev.expect(sipphone.EventOffHook)
	start := time.Now()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := s.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	waitSim(t, ph, sim.EventHangupByServer)
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer rcancel()
	for {
		if _, _, err := ev.c.Read(rctx); err != nil {
			if websocket.CloseStatus(err) != websocket.StatusGoingAway {
				t.Fatalf("event client ended with %v, want close 1001", err)
			}
			break
		}
	}
	b, err := os.ReadFile(s.state)
	if err != nil || !strings.Contains(string(b), `"user": "phone1"`) {
		t.Fatalf("state file after shutdown: %v\n%s", err, b)
	}
}

// TestAdapterReboot: the adapter unregisters (Unregister On Reboot), goes
// silent, and registers again: the line returns with events and no call
// is left over.
func TestAdapterReboot(t *testing.T) {
	s := startServer(t, "", "")
	ev := s.events("?types=registered,unregistered,off_hook,on_hook")
	ph := startSim(t, s.sipAddr())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ev.expect(sipphone.EventRegistered)
	if err := ph.OffHook(ctx, 0); err != nil {
		t.Fatal(err)
	}
	ev.expect(sipphone.EventOffHook)
	if err := ph.OnHook(ctx, 0); err != nil {
		t.Fatal(err)
	}
	ev.expect(sipphone.EventOnHook)
	if err := ph.Unregister(ctx, 0); err != nil {
		t.Fatal(err)
	}
	ev.expect(sipphone.EventUnregistered)
	if l := s.status().line("phone1"); l.Registered || l.Call != nil {
		t.Fatalf("after unregister %+v", l)
	}
	if err := ph.Register(ctx, 0); err != nil {
		t.Fatal(err)
	}
	ev.expect(sipphone.EventRegistered)
	l := s.status().line("phone1")
	if !l.Registered || l.State != sipphone.StateOnHook || l.Call != nil {
		t.Fatalf("after re-register %+v", l)
	}
	if s.Ports.InUse() != 0 {
		t.Fatalf("%d RTP ports held after the calls", s.Ports.InUse())
	}
}

// TestRTPTimeoutEndsCall: a phone that stops sending RTP (adapter gone
// mid-call) is hung up after audio.rtp_timeout with on_hook
// {reason: rtp_timeout}, and receives a BYE.
func TestRTPTimeoutEndsCall(t *testing.T) {
	s := startServer(t, "audio: {rtp_timeout: 1s}\n", "")
	ev := s.events("?types=off_hook,on_hook")
	port := strconv.Itoa(peers.FreeUDPPort(t))
	s.sippClient("register.xml", "-s", "phone1", "-p", port)
	// A call whose phone never sends RTP, then waits for our BYE.
	sc := callScenario(t, "0", "")
	x, _ := os.ReadFile(sc)
	byeWait := `  <recv request="BYE"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
</scenario>
`
	text := string(x)
	i := strings.Index(text, "  <send retrans=\"500\">\n    <![CDATA[\n      BYE")
	os.WriteFile(filepath.Join(filepath.Dir(sc), "timeout.xml"), []byte(text[:i]+byeWait), 0o644)
	start := time.Now()
	s.sippFile(filepath.Join(filepath.Dir(sc), "timeout.xml"), "-s", "phone1", "-p", port, "-mp", strconv.Itoa(peers.FreeUDPPort(t)))
	got := ev.expect(sipphone.EventOffHook, sipphone.EventOnHook)
	if got[1].Reason != "rtp_timeout" {
		t.Fatalf("on_hook %+v, want reason rtp_timeout", got[1])
	}
	if d := time.Since(start); d < time.Second {
		t.Fatalf("call ended after %v, before the 1 s timeout", d)
	}
	s.waitFor("RTP port release", func() bool { return s.Ports.InUse() == 0 })
}

// TestShutdownHangsUpBaresip: the same with a real phone.
func TestShutdownHangsUpBaresip(t *testing.T) {
	s := startServer(t, "", "")
	ev := s.events("?types=registered,off_hook")
	b := startBaresip(t, s.sipAddr(), "phone1", "x", "auto")
	ev.expect(sipphone.EventRegistered)
	s.ring("")
	ev.expect(sipphone.EventOffHook)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	b.waitOutput("BYE sip:")
}
