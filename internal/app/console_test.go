package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/sip-phone-api/sipphone/internal/config"
	"github.com/sip-phone-api/sipphone/internal/dsp"
	"github.com/sip-phone-api/sipphone/internal/peers"
	"github.com/sip-phone-api/sipphone/internal/tlscert"
)

// browser is a headless Debian chromium driven over the DevTools protocol,
// with a fake microphone playing a WAV file.
type browser struct {
	t       *testing.T
	ctx     context.Context
	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

// startBrowser starts chromium with a fresh profile; mic is the WAV file
// its fake microphone plays (looped).
func startBrowser(t *testing.T, mic string, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	bin := peers.Require(t, "chromium", "chromium")
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-audio-capture", mic),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.WindowSize(1280, 1000),
	}, extra...)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx}
	// Start the browser, then follow its console until the test ends.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		acancel()
		t.Fatalf("starting chromium: %v", err)
	}
	msgs := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			if html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`)); err == nil {
				t.Logf("page text at failure:\n%.4000s", html)
			}
			t.Logf("browser console:\n%s", b.consoleText())
		}
		cancel()
		acancel()
		<-done
	})
	return b
}

func (b *browser) consoleText() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var s strings.Builder
	for _, m := range b.console {
		fmt.Fprintf(&s, "%s %s (%s:%d)\n", m.Type, m.Text, m.URL, m.Line)
	}
	return s.String()
}

// errors returns the console errors and exceptions, leaving out those
// containing any of allowed.
func (b *browser) errors(allowed ...string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
next:
	for _, m := range b.console {
		if m.Type != chromedp.ConsoleError && m.Type != chromedp.ConsoleException {
			continue
		}
		for _, a := range allowed {
			if strings.Contains(m.Text, a) || strings.Contains(m.URL, a) {
				continue next
			}
		}
		out = append(out, m.String())
	}
	return out
}

func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression into out.
func eval[T any](b *browser, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

// waitJS polls a JavaScript expression until it is true and returns how
// long that took.
func (b *browser) waitJS(what, js string) time.Duration {
	b.t.Helper()
	start := time.Now()
	deadline := start.Add(20 * time.Second)
	for !eval[bool](b, "!!("+js+")") {
		if time.Now().After(deadline) {
			b.t.Fatalf("timed out waiting for %s (%s)", what, js)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// testid returns the CSS selector of a data-testid.
func testid(id string) string { return `[data-testid="` + id + `"]` }

// q returns a JavaScript expression for the element with a data-testid.
func q(id string) string { return `document.querySelector('` + testid(id) + `')` }

func (b *browser) waitState(line, state string) time.Duration {
	b.t.Helper()
	return b.waitJS("line "+line+" "+state, q("line-"+line)+`?.dataset.state === '`+state+`'`)
}

// click presses a control by keyboard (focus, then space), as a user
// without a mouse does; a mouse click could miss a button while the card's
// layout changes under it.
func (b *browser) click(id string) {
	b.t.Helper()
	b.waitJS(id+" enabled", q(id)+` && !`+q(id)+`.disabled`)
	b.do(chromedp.Focus(chromedp.CSS(testid(id))), chromedp.KeyEvent(" "))
}

// attrFloat reads a numeric data attribute.
func (b *browser) attrFloat(id, attr string) float64 {
	b.t.Helper()
	v, err := strconv.ParseFloat(eval[string](b, q(id)+`?.dataset.`+attr+` || 'NaN'`), 64)
	if err != nil {
		b.t.Fatalf("%s data-%s: %v", id, attr, err)
	}
	return v
}

// micWAV writes a 48 kHz tone for chromium's fake microphone.
func micWAV(t *testing.T, freq float64) string {
	tone := make([]int16, 48000*10)
	dsp.Tone(tone, 48000, freq, -10, nil)
	var buf bytes.Buffer
	dsp.WriteWAV(&buf, 48000, tone)
	p := filepath.Join(t.TempDir(), "mic.wav")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// consolePhone starts baresip for phone1 playing 1 kHz into its microphone
// and recording what it hears into the returned directory.
func consolePhone(t *testing.T, sipAddr, answer string) (*baresip, string) {
	dir := t.TempDir()
	writeToneWAV(t, filepath.Join(dir, "tone.wav"), 1000, 120*time.Second)
	rec := filepath.Join(dir, "rec")
	os.MkdirAll(rec, 0o755)
	return startBaresipIn(t, dir, sipAddr, "phone1", "x", answer, "module sndfile.so\nsnd_path "+rec+"\n"), rec
}

// heardTone reports whether baresip's recording of what it received holds
// freq for at least 200 ms.
func heardTone(t *testing.T, s *testServer, rec string, freq float64) bool {
	t.Helper()
	w := recorded(s, rec)
	step := w.SampleRate / 5
	for i := 0; i+step <= len(w.Samples); i += step {
		seg := w.Samples[i : i+step]
		if rms, _ := dsp.Level(seg); rms > -40 && math.Abs(dsp.DominantFrequency(seg, w.SampleRate, 100, 3800, 5)-freq) <= 10 {
			return true
		}
	}
	t.Logf("recording: %d samples at %d Hz without %v Hz", len(w.Samples), w.SampleRate, freq)
	return false
}

const consoleLines = "lines: [{id: phone1, user: phone1, display_name: Kitchen}, {id: phone2, user: phone2}]\n"

// consoleFlow drives the console through a whole call with a real phone:
// register, ring with caller ID and stop, ring and answer, listen to the
// phone's 1 kHz tone, talk the microphone's 700 Hz into the phone, hang up.
func consoleFlow(t *testing.T, s *testServer, b *browser, shot bool) {
	b.waitState("phone1", "unregistered")
	b.waitState("phone2", "unregistered")
	// The timeline shows events from the moment the page is live.
	b.waitJS("the event stream", q("connection")+`.dataset.state === 'open'`)
	ph, rec := consolePhone(t, s.sipAddr(), "manual")
	t.Logf("registered shown after %v", b.waitState("phone1", "on_hook"))

	// Ring from the form with caller ID; stop ring cancels it.
	b.do(
		chromedp.SendKeys(chromedp.CSS(testid("caller-name-phone1")), "Front Door"),
		chromedp.SendKeys(chromedp.CSS(testid("caller-number-phone1")), "5551234"),
		chromedp.SetValue(chromedp.CSS(testid("pattern-phone1")), "ring3"),
	)
	b.click("ring-phone1")
	t.Logf("ringing shown after %v", b.waitState("phone1", "ringing"))
	ph.waitOutput(`From: "Front Door" <sip:5551234@`)
	ph.waitOutput("Alert-Info: <http://127.0.0.1>;info=ring3")
	b.click("stop-ring-phone1")
	b.waitState("phone1", "on_hook")
	ph.waitOutput("CANCEL")

	// Ring again; the phone answers.
	b.click("ring-phone1")
	b.waitState("phone1", "ringing")
	ph.waitOutput("180 Ringing")
	ph.command("accept", "")
	t.Logf("off hook shown after %v", b.waitState("phone1", "off_hook"))

	// Listen: the phone's 1 kHz tone, measured in the page's player at the
	// browser's own rate.
	b.click("listen-phone1")
	b.waitJS("the phone's tone in the player", q("level-in-phone1")+`.dataset.dbfs > -30 && Math.abs(`+q("level-in-phone1")+`.dataset.hz - 1000) < 25`)
	ctxRate := eval[float64](b, `(() => { const c = new AudioContext(); const r = c.sampleRate; c.close(); return r; })()`)
	if got := b.attrFloat("level-in-phone1", "contextRate"); got != ctxRate {
		t.Fatalf("player ran at %v Hz, the browser's rate is %v", got, ctxRate)
	}
	t.Logf("listening: %v dBFS, %v Hz, page rate %v Hz, stream rate %v Hz", b.attrFloat("level-in-phone1", "dbfs"),
		b.attrFloat("level-in-phone1", "hz"), ctxRate, b.attrFloat("level-in-phone1", "streamRate"))

	// Loopback, as the server sees it.
	lineHas := func(what, js string) {
		b.do(chromedp.Evaluate[chromedp.Void](`window.__check = null; (() => { const tk = sessionStorage.getItem('sipphone-token');
			fetch('/lines/phone1', {headers: tk ? {Authorization: 'Bearer ' + tk} : {}}).then(r => r.json()).then(l => window.__check = !!(` + js + `)) })()`))
		b.waitJS(what, `window.__check === true`)
	}
	b.click("loopback-phone1")
	lineHas("loopback on", "l.call.media.loopback")
	b.click("loopback-phone1")
	lineHas("loopback off", "!l.call.media.loopback")

	// Play a WAV file picked from disk.
	tone := make([]int16, 8000/2)
	dsp.Tone(tone, 8000, 500, -10, nil)
	var wav bytes.Buffer
	dsp.WriteWAV(&wav, 8000, tone)
	wavPath := filepath.Join(t.TempDir(), "chime.wav")
	os.WriteFile(wavPath, wav.Bytes(), 0o644)
	b.do(chromedp.SetUploadFiles(chromedp.CSS(testid("play-phone1")), []string{wavPath}))
	b.waitJS("playback_done in the timeline", q("events")+`.querySelector(':scope > [data-type="playback_done"]')`)

	// Talk: the fake microphone's 700 Hz reaches the phone's earpiece.
	b.click("talk-phone1")
	b.waitJS("the microphone level", q("level-out-phone1")+`.dataset.dbfs > -40`)
	if shot && os.Getenv("SIPPHONE_UPDATE_SCREENSHOT") == "1" {
		screenshot(t, b)
	}
	time.Sleep(1500 * time.Millisecond) // let the phone record a while (the recording is checked after hang-up)
	b.click("talk-phone1")
	b.waitJS("talk stopped", q("talk-phone1")+`.getAttribute('aria-pressed') === 'false'`)

	// The phone hangs up: the page follows.
	ph.command("hangup", "")
	t.Logf("on hook shown after %v", b.waitState("phone1", "on_hook"))
	b.waitJS("listening ended", q("listen-phone1")+`.getAttribute('aria-pressed') === 'false'`)
	if !heardTone(t, s, rec, 700) {
		t.Fatal("the phone never heard the browser microphone's 700 Hz")
	}

	// The timeline has the events, one child each with its type.
	for _, typ := range []string{"registered", "ring_start", "ring_stop", "off_hook", "audio_start", "audio_stop", "on_hook"} {
		b.waitJS("a "+typ+" event in the timeline", q("events")+`.querySelector(':scope > [data-type="`+typ+`"]')`)
	}
	if n := eval[int](b, q("events")+`.querySelectorAll(':scope > [data-type="ring_start"]').length`); n != 2 {
		t.Fatalf("%d ring_start events in the timeline, want 2", n)
	}
	// Filter by type: only that type stays visible.
	b.do(chromedp.SetValue(chromedp.CSS(testid("filter-type")), "ring_stop"))
	b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#filter-type').dispatchEvent(new Event('change'))`))
	if n := eval[int](b, `[...`+q("events")+`.children].filter(e => !e.hidden && e.dataset.type !== 'ring_stop').length`); n != 0 {
		t.Fatalf("%d other events visible with the ring_stop filter", n)
	}
}

func TestConsole(t *testing.T) {
	s := startServer(t, consoleLines, "")
	b := startBrowser(t, micWAV(t, 700))
	// Keep the page's WebSockets reachable, to cut the event stream later.
	if _, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.__sockets = []; const WS = window.WebSocket;
			window.WebSocket = class extends WS { constructor(...a) { super(...a); window.__sockets.push(this); } };`}); err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.Navigate(s.url("/console")))
	b.waitJS("the page started", `document.body.dataset.ready === 'true'`)
	if v := eval[bool](b, q("token-dialog")+`.open`); v {
		t.Fatal("token prompt shown on a server without tokens")
	}
	consoleFlow(t, s, b, true)

	// The event stream drops; what happens meanwhile arrives after the
	// reconnect with ?since=, once.
	b.do(chromedp.Evaluate[chromedp.Void](`window.__sockets.filter(s => new URL(s.url).pathname === '/ws').forEach(s => s.close())`))
	s.ring(`{"caller_id":{"name":"Meanwhile"}}`)
	b.waitState("phone1", "ringing")
	b.waitJS("a reconnect with since", `window.__sockets.some(s => new URL(s.url).pathname === '/ws' && new URL(s.url).searchParams.has('since'))`)
	b.waitJS("the missed ring_start", q("events")+`.querySelectorAll(':scope > [data-type="ring_start"]').length === 3`)
	if code := s.do("DELETE", "/lines/phone1/ring", "", nil); code != 202 {
		t.Fatalf("DELETE ring = %d", code)
	}
	b.waitState("phone1", "on_hook")
	if n := eval[int](b, q("events")+`.querySelectorAll(':scope > [data-type="ring_start"]').length`); n != 3 {
		t.Fatalf("%d ring_start events after the reconnect, want 3 (one missed and replayed once)", n)
	}

	// Diagnostics: recent SIP messages and this page's WebSocket.
	b.click("tab-diagnostics")
	b.waitJS("SIP messages", q("sip-messages")+`.textContent.includes('REGISTER')`)
	b.waitJS("the page's event socket", q("ws-clients")+`.textContent.includes('events')`)
	// The trace toggle reaches the server.
	b.click("sip-trace")
	b.do(chromedp.Evaluate[chromedp.Void](`window.__trace = null; window.__poll = setInterval(() =>
		fetch('/diagnostics').then(r => r.json()).then(d => window.__trace = d.sip_tracing), 100)`))
	b.waitJS("SIP tracing on", `window.__trace === true`)
	b.do(chromedp.Evaluate[chromedp.Void](`clearInterval(window.__poll)`))

	if errs := b.errors(); len(errs) > 0 {
		t.Fatalf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// screenshot writes docs/console.png: the console during a call.
func screenshot(t *testing.T, b *browser) {
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "..", "docs")
	os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, "console.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestConsoleHTTPSWithToken: the same flows over HTTPS with a self-signed
// certificate and an API token: the page asks for the token, refuses a
// wrong one, and works with the right one; the token never reaches the log.
func TestConsoleHTTPSWithToken(t *testing.T) {
	const secret = "console-test-token-4711"
	s := startServerWith(t, consoleLines+"api: {tokens: [{name: browser, token: "+secret+"}]}\n", "",
		func(c *config.Config) { c.Server.TLS.SelfSigned = true })
	// The logged fingerprint is the served certificate's.
	conn, err := tls.Dial("tcp", s.RESTAddr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	fp := tlscert.Fingerprint(conn.ConnectionState().PeerCertificates[0].Raw)
	conn.Close()
	if !strings.Contains(s.logs.String(), fp) {
		t.Fatalf("the log does not show the served certificate's fingerprint %s", fp)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(s.state), tlscert.CertName)); err != nil {
		t.Fatalf("self-signed certificate not kept next to the state file: %v", err)
	}

	b := startBrowser(t, micWAV(t, 700), chromedp.IgnoreCertErrors)
	b.do(chromedp.Navigate("https://" + s.RESTAddr().String() + "/console"))
	b.waitJS("the token prompt", q("token-dialog")+`.open`)
	b.do(chromedp.SendKeys(chromedp.CSS(testid("token-input")), "wrong-token"), chromedp.Click(chromedp.CSS(testid("token-submit"))))
	b.waitJS("the refusal", `!`+q("token-error")+`.hidden && `+q("token-error")+`.textContent.includes('refused')`)
	b.do(chromedp.Evaluate[chromedp.Void](q("token-input")+`.value = ''`),
		chromedp.SendKeys(chromedp.CSS(testid("token-input")), secret), chromedp.Click(chromedp.CSS(testid("token-submit"))))
	b.waitJS("the page started", `document.body.dataset.ready === 'true' && !`+q("token-dialog")+`.open`)
	if got := eval[string](b, `sessionStorage.getItem('sipphone-token')`); got != secret {
		t.Fatalf("token kept as %q", got)
	}
	if !eval[bool](b, `window.isSecureContext`) {
		t.Fatal("the HTTPS page is not a secure context")
	}
	consoleFlow(t, s, b, false)
	if strings.Contains(s.logs.String(), secret) {
		t.Fatal("the token appears in the server log")
	}
	// The wrong token's 401 answers are the only errors.
	if errs := b.errors("401"); len(errs) > 0 {
		t.Fatalf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestConsolePlainHTTPFromAnotherHost: on plain HTTP under a name other
// than localhost the page is not a secure context: it still shows the
// lines and listens, and says why talking needs HTTPS.
func TestConsolePlainHTTPFromAnotherHost(t *testing.T) {
	s := startServer(t, consoleLines, "")
	b := startBrowser(t, micWAV(t, 700), chromedp.Flag("host-resolver-rules", "MAP phone-hub.test 127.0.0.1"))
	_, port, _ := strings.Cut(s.RESTAddr().String(), ":")
	b.do(chromedp.Navigate("http://phone-hub.test:" + port + "/console"))
	b.waitJS("the page started", `document.body.dataset.ready === 'true'`)
	if eval[bool](b, `window.isSecureContext`) {
		t.Fatal("plain HTTP to another host is a secure context: the test does not test what it should")
	}
	b.waitJS("the HTTPS note", `!`+q("secure-note")+`.hidden && `+q("secure-note")+`.textContent.includes('HTTPS')`)
	// A phone's screen: nothing wider than the viewport.
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	if w := eval[int](b, `document.documentElement.scrollWidth`); w > 390 {
		t.Fatalf("page is %d px wide on a 390 px screen", w)
	}
	ph, _ := consolePhone(t, s.sipAddr(), "auto")
	b.waitState("phone1", "on_hook")
	// By keyboard: type a caller name and press Enter to ring.
	b.do(chromedp.Focus(chromedp.CSS(testid("caller-name-phone1"))), chromedp.KeyEvent("Gate\r"))
	b.waitState("phone1", "off_hook")
	ph.waitOutput(`From: "Gate"`)
	if !eval[bool](b, q("talk-phone1")+`.disabled`) || !strings.Contains(eval[string](b, q("talk-note-phone1")+`.textContent`), "HTTPS") {
		t.Fatal("talk is offered, or not explained, without a secure context")
	}
	b.click("listen-phone1")
	b.waitJS("the phone's tone without AudioWorklet", q("level-in-phone1")+`.dataset.dbfs > -30 && Math.abs(`+q("level-in-phone1")+`.dataset.hz - 1000) < 25`)
	// Hang up from the page: the server ends the call with BYE; the adapter
	// would not say when the handset goes down, so the state is unknown.
	b.click("hangup-phone1")
	b.waitState("phone1", "unknown")
	ph.waitOutput("BYE sip:")
	b.waitJS("listening ended", q("listen-phone1")+`.getAttribute('aria-pressed') === 'false'`)
	if errs := b.errors(); len(errs) > 0 {
		t.Fatalf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}
