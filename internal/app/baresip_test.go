package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/baresiptest"
)

// baresip is a real SIP phone playing the adapter's port (see
// internal/baresiptest): it registers, rings, answers by itself
// (answermode=auto) or not, and is driven over its ctrl_tcp module.
type baresip struct{ *baresiptest.Phone }

// startBaresip starts baresip registering user with password at server.
func startBaresip(t *testing.T, server, user, password, answermode string) *baresip {
	return startBaresipIn(t, t.TempDir(), server, user, password, answermode, "")
}

// startBaresipIn starts baresip with its configuration in dir (a tone.wav
// already there is its microphone); extra is appended to its config file.
func startBaresipIn(t *testing.T, dir, server, user, password, answermode, extra string) *baresip {
	t.Helper()
	return &baresip{baresiptest.Start(t, baresiptest.Options{Server: server, User: user, Password: password,
		AnswerMode: answermode, Dir: dir, Extra: extra})}
}

func (b *baresip) output() string             { return b.Output() }
func (b *baresip) command(cmd, params string) { b.Command(cmd, params) }
func (b *baresip) waitOutput(s string)        { b.WaitOutput(s) }

// writeToneWAV writes a mono 8 kHz PCM16 sine WAV.
func writeToneWAV(t *testing.T, path string, freq float64, d time.Duration) {
	if err := baresiptest.WriteToneWAV(path, freq, d); err != nil {
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
