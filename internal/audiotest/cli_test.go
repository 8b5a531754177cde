package audiotest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// sipgo logs a few transport notes through its package-level logger,
	// which is not injectable; keep the test output clean.
	sip.SetDefaultLogger(slog.New(slog.DiscardHandler))
	goleak.VerifyTestMain(m)
}

// runCLI runs the command in-process and returns stdout, stderr and the
// error, failing the test if it takes more than limit.
func runCLI(t *testing.T, limit time.Duration, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	start := time.Now()
	err := RunCLI(ctx, args, &out, &errOut)
	if d := time.Since(start); d > limit {
		t.Errorf("audiotest took %v, want under %v", d, limit)
	}
	return out.String(), errOut.String(), err
}

// TestInProcessJSON runs the default mode (its own server, ring, PCMU,
// streams at 8 and 16 kHz, loopback) and checks that every figure is
// plausible, not only that the verdict is PASS.
func TestInProcessJSON(t *testing.T) {
	out, errOut, err := runCLI(t, 20*time.Second, "--json")
	if err != nil && !errors.Is(err, ErrChecksFailed) {
		t.Fatalf("audiotest: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	var r Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("--json output is not a report: %v\n%s", err, out)
	}
	if (err == nil) != r.Pass {
		t.Errorf("RunCLI returned %v for a report with pass %v", err, r.Pass)
	}
	for _, c := range r.Failed() {
		t.Errorf("check failed: %+v", c)
	}
	if r.Server != "in-process" || r.Line != DefaultUser || r.Call != "ring" || r.Codec != "PCMU" || r.PhoneCodec != "PCMU" {
		t.Errorf("report header %+v", r)
	}
	type key struct {
		path string
		rate int
	}
	want := []key{{PathPhoneToClient, 8000}, {PathClientToPhone, 8000}, {PathPhoneToClient, 16000}, {PathClientToPhone, 16000}, {PathLoopback, 8000}}
	if len(r.Paths) != len(want) {
		t.Fatalf("%d paths measured, want %d: %+v", len(r.Paths), len(want), r.Paths)
	}
	for i, p := range r.Paths {
		if (key{p.Path, p.SampleRate}) != want[i] {
			t.Errorf("path %d is %s at %d Hz, want %v", i, p.Path, p.SampleRate, want[i])
		}
		name := p.Path + " " + p.Format
		tn := p.Tone
		wantHz := float64(phoneToneHz)
		if p.Path == PathClientToPhone {
			wantHz = clientToneHz
		}
		// One G.711 mu-law pass (the loopback's second one is exact)
		// leaves about 38 dB at -10 dBm0; far more would mean the codec
		// was not in the path at all.
		if !tn.Received || tn.SNRdB < 35 || tn.SNRdB > 42 {
			t.Errorf("%s: tone %+v, want SNR 35-42 dB", name, tn)
		}
		if tn.LevelDBm0 < -10.5 || tn.LevelDBm0 > -9.5 || tn.FrequencyHz < wantHz-1 || tn.FrequencyHz > wantHz+1 {
			t.Errorf("%s: tone at %.2f dBm0, %.1f Hz; want -10 dBm0 and %v Hz", name, tn.LevelDBm0, tn.FrequencyHz, wantHz)
		}
		l := p.Latency
		limit := float64(maxOneWayMS)
		if p.Path == PathLoopback {
			limit = maxRoundTripMS
		}
		if l.Sent < bursts || l.Found != l.Sent || len(l.MS) != l.Found {
			t.Errorf("%s: %d of %d markers measured", name, l.Found, l.Sent)
		}
		for _, ms := range l.MS {
			if ms < 0 || ms >= limit {
				t.Errorf("%s: latency %v ms, want 0 to %v", name, ms, limit)
			}
		}
		if l.MinMS > l.MedianMS || l.MedianMS > l.MaxMS {
			t.Errorf("%s: min %v, median %v, max %v", name, l.MinMS, l.MedianMS, l.MaxMS)
		}
	}
	if len(r.ClientRoundTrips) != 2 {
		t.Errorf("client round trips %+v, want one per rate", r.ClientRoundTrips)
	}
	m := r.ServerMedia
	if m == nil || m.RTP.PacketsReceived < 100 || m.RTP.PacketsSent < 100 {
		t.Errorf("server media %+v, want the call's packets counted", m)
	}
	if n := 1 + 4*len(want); len(r.Checks) != n {
		t.Errorf("%d checks, want %d", len(r.Checks), n)
	}
}

// TestInProcessText covers the other options (the phone calls, A-law, one
// rate) and the human report.
func TestInProcessText(t *testing.T) {
	out, errOut, err := runCLI(t, 15*time.Second, "--call", "offhook", "--codec", "pcma", "--rates", "16000")
	if err != nil && !errors.Is(err, ErrChecksFailed) {
		t.Fatalf("audiotest: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	summary := "\nPASS: all 13 checks passed in "
	for _, ln := range strings.Split(out, "\n") {
		if strings.HasPrefix(ln, "  FAIL  ") {
			t.Errorf("report has a failure: %s", ln)
		}
	}
	if (err == nil) != strings.Contains(out, "\nPASS: ") {
		t.Errorf("RunCLI returned %v for the report:\n%s", err, out)
	}
	for _, want := range []string{
		summary,
		"sipphone audiotest: in-process server, SIP 127.0.0.1:",
		"call set up by offhook, codec PCMA\n",
		"\nphone -> client (pcm16 16000 Hz)\n  tone      1004.0 Hz at ",
		"\nclient -> phone (pcm16 16000 Hz)\n  tone      804.0 Hz at ",
		"\nloopback (phone -> server -> phone)\n",
		"  PASS  codec (want server and phone agree, PCMA): server PCMA, phone PCMA\n",
		"  PASS  loopback (phone -> server -> phone): round trip ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--loud"}, "-loud"},
		{"bad call", []string{"--call", "dial"}, "--call"},
		{"unsupported rate", []string{"--rates", "8000,44100"}, "--rates: 44100"},
		{"rate not a number", []string{"--rates", "fast"}, `--rates: "fast"`},
		{"bad codec", []string{"--codec", "G729"}, "--codec"},
		{"codec with a running server", []string{"--api", "http://127.0.0.1:8000", "--codec", "PCMA"}, "--codec"},
		{"sip without api", []string{"--sip", "127.0.0.1:5060"}, "--sip"},
		{"api not a URL", []string{"--api", "localhost:8000"}, "--api"},
		{"bad sip address", []string{"--api", "http://127.0.0.1:8000", "--sip", "127.0.0.1"}, "--sip"},
		{"bad local address", []string{"--local", "here"}, "--local"},
		{"argument", []string{"now"}, `unexpected argument "now"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := RunCLI(context.Background(), tc.args, &out, &errOut)
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("error %v, want a *UsageError", err)
			}
			var fe interface{ FlagError() }
			if !errors.As(err, &fe) {
				t.Errorf("%v is not marked with FlagError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %q", err, tc.want)
			}
		})
	}
}

// TestUnreachableServer: a running server that is not there is an error,
// not a report, and says what failed, at once.
func TestUnreachableServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	start := time.Now()
	err := RunCLI(ctx, []string{"--api", "http://127.0.0.1:9", "--sip", "127.0.0.1:9"}, &out, &errOut)
	if err == nil || errors.Is(err, ErrChecksFailed) || !strings.Contains(err.Error(), "the server's API: GET http://127.0.0.1:9/lines: dial tcp") {
		t.Fatalf("error %v, want one saying the API cannot be reached", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v to notice", d)
	}
	if out.Len() != 0 {
		t.Errorf("stdout %q, want no report", out.String())
	}
}

// TestRunningServer uses --api and --sip against a server started apart,
// with an API token, a configured line whose id differs from its SIP
// user, and digest authentication.
func TestRunningServer(t *testing.T) {
	const extra = `ht802:
  auth_enabled: true
lines:
  - {id: kitchen, user: phone7, password: "s3cret"}
api:
  tokens: [{name: test, token: "t0ken-for-tests"}]
`
	a, stop, err := startServer(Options{Codec: "PCMU", Logger: slog.New(slog.DiscardHandler)}, extra)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	api := "http://" + a.RESTAddr().String()
	sipAddr := a.SIP.UDPAddr().String()

	// Without the token the API refuses, and the error says so.
	_, _, err = runCLI(t, 5*time.Second, "--api", api, "--sip", sipAddr, "--user", "phone7", "--password", "s3cret")
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("without a token: %v, want a 401 from the API", err)
	}

	out, errOut, err := runCLI(t, 15*time.Second, "--api", api+"/", "--sip", sipAddr, "--token", "t0ken-for-tests",
		"--user", "phone7", "--password", "s3cret", "--rates", "8000", "--json")
	if err != nil {
		t.Fatalf("audiotest: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	var r Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if !r.Pass || r.Server != "remote" || r.Line != "kitchen" || r.User != "phone7" || r.API != api || r.SIP != sipAddr || len(r.Paths) != 3 {
		t.Errorf("report %+v (failed %+v)", r, r.Failed())
	}
}
