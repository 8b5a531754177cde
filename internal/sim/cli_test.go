package sim

import (
	"bytes"
	"context"
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/sip-phone-api/sipphone/internal/testlog"

	"github.com/emiago/sipgo/sip"
)

func TestCLIScriptedCall(t *testing.T) {
	pr := newPeer(t, "udp")
	var out, errOut testlog.Buffer
	err := RunCLI(testCtx(t), []string{
		"--server", pr.addr(), "--user", "phone1", "--password", "secret", "--dtmf", "info",
		"--script", "offhook; digits 12; tone 1000 -20; wait 100ms; status; onhook",
	}, strings.NewReader(""), &out, &errOut)
	if err != nil {
		t.Fatalf("RunCLI: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	for _, want := range []string{"line 1: registered", "line 1: call established", "line 1: phone1 in_call, dtmf info", "line 1: on hook"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out.String())
		}
	}
	if n := len(pr.requests(sip.INFO)); n != 2 {
		t.Errorf("%d INFO requests, want 2", n)
	}
	pr.waitRequests(t, sip.BYE, 1)
}

func TestCLIInteractive(t *testing.T) {
	pr := newPeer(t, "udp")
	var out, errOut testlog.Buffer
	stdin := strings.NewReader("help\nfrobnicate\nanswer-mode never 1\ntone 440 -10 3\nstatus\nquit\noffhook\n")
	err := RunCLI(testCtx(t), []string{"--server", pr.addr(), "--password", "secret"}, stdin, &out, &errOut)
	if err != nil {
		t.Fatalf("RunCLI: %v", err)
	}
	for _, want := range []string{
		"commands (LINE is 1 or 2",
		`error: unknown command "frobnicate" (type help)`,
		"error: bad line \"3\"",
		"answer never after 0s",
		"line 1: answer mode never", // the command is confirmed
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out.String())
		}
	}
	if n := len(pr.requests(sip.INVITE)); n != 0 {
		t.Errorf("commands after quit ran: %d INVITE", n)
	}
}

func TestCLIAnswersIncomingCall(t *testing.T) {
	pr := newPeer(t, "udp")
	var out, errOut testlog.Buffer
	ctx := testCtx(t)
	done := make(chan error, 1)
	go func() {
		done <- RunCLI(ctx, []string{
			"--server", pr.addr(), "--password", "secret", "--answer", "never",
			"--script", "waitfor ringing 5s; answer; waitfor hangup_by_server 5s",
		}, strings.NewReader(""), &out, &errOut)
	}()
	contact := regexp.MustCompile(`at sip:(\S+) `)
	var addr string
	waitUntil(t, "the CLI's contact", func() bool {
		m := contact.FindStringSubmatch(out.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	sess, err := pr.ring(ctx, addr, "phone1", "0 101", sip.NewHeader("Alert-Info", "<http://x>;info=ring2"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("RunCLI: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		`line 1: ringing: call from "Front Door" <1001> (Alert-Info: <http://x>;info=ring2)`,
		"line 1: answered",
		"line 1: hung up by server",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out.String())
		}
	}
}

func TestCLIFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"server required", nil, "--server is required"},
		{"bad answer mode", []string{"--server", "127.0.0.1:5060", "--answer", "maybe"}, "unknown answer mode"},
		{"bad dtmf", []string{"--server", "127.0.0.1:5060", "--dtmf", "pulse"}, "dtmf"},
		{"three lines", []string{"--server", "127.0.0.1:5060", "--user", "a,b,c"}, "lines"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := RunCLI(context.Background(), tc.args, strings.NewReader(""), &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// TestCLIHelp: --help succeeds and lists the interactive commands too.
func TestCLIHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := RunCLI(context.Background(), []string{"--help"}, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("--help = %v", err)
	}
	for _, want := range []string{"--server", "offhook [LINE]", "answer-mode MODE"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, errOut.String())
		}
	}
}

// TestCLINoServer: with nothing at --server, a script fails after
// registerWait with a hint, not after SIP's 32 s timeout with "Timer_B timed
// out" alone.
func TestCLINoServer(t *testing.T) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}) // takes packets, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out, errOut testlog.Buffer
	err = RunCLI(testCtx(t), []string{"--server", c.LocalAddr().String(), "--script", "status"}, strings.NewReader(""), &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "is sipphone running there") || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("error %v, want the hint naming line 1", err)
	}
}

func TestFormatEvent(t *testing.T) {
	tests := []struct {
		ev   Event
		want string
	}{
		{Event{Line: 0, Type: EventRegistered, Status: 200}, "line 1: registered"},
		{Event{Line: 1, Type: EventRinging, CallerNumber: "1001"}, "line 2: ringing: call from <1001>"},
		{Event{Line: 0, Type: EventCallFailed, Status: 486}, "line 1: call failed (486)"},
		{Event{Line: 0, Type: EventRegistrationFailed}, "line 1: registration failed (no answer)"},
		{Event{Line: 0, Type: EventCallEstablished}, "line 1: call established"},
	}
	for _, tc := range tests {
		t.Run(tc.ev.Type, func(t *testing.T) {
			if got := formatEvent(tc.ev); got != tc.want {
				t.Errorf("formatEvent = %q, want %q", got, tc.want)
			}
		})
	}
}
