package sim

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// startPhone starts a phone registered to pr; mod adjusts the config.
func startPhone(t *testing.T, pr *peer, mod func(*Config)) *Phone {
	t.Helper()
	cfg := Config{
		Server:    pr.addr(),
		Transport: pr.transport,
		Lines:     []LineConfig{{User: "phone1", Password: "secret", DisplayName: "Kitchen"}},
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return p
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func header(r *sip.Request, name string) string {
	if h := r.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantKey string // "" = valid
	}{
		{"defaults", Config{Server: "127.0.0.1:5060"}, ""},
		{"two lines", Config{Server: "pbx.local:5060", Lines: []LineConfig{{User: "a"}, {User: "b"}}}, ""},
		{"missing server", Config{}, "server"},
		{"server without port", Config{Server: "127.0.0.1"}, "server"},
		{"bad transport", Config{Server: "h:1", Transport: "tls"}, "transport"},
		{"bad local", Config{Server: "h:1", Local: "localhost"}, "local"},
		{"three lines", Config{Server: "h:1", Lines: []LineConfig{{User: "a"}, {User: "b"}, {User: "c"}}}, "lines"},
		{"empty user", Config{Server: "h:1", Lines: []LineConfig{{}}}, "lines[0].user"},
		{"bad dtmf", Config{Server: "h:1", Lines: []LineConfig{{User: "a", DTMF: "sip"}}}, "lines[0].dtmf"},
		{"bad event type", Config{Server: "h:1", Lines: []LineConfig{{User: "a", TelephoneEventPT: 8}}}, "telephone_event_pt"},
		{"bad auto dial", Config{Server: "h:1", AutoDial: "1@2"}, "auto_dial"},
		{"short expires", Config{Server: "h:1", Expires: time.Millisecond}, "expires"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.wantKey == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantKey) {
				t.Fatalf("error %v does not name %q", err, tc.wantKey)
			}
		})
	}
}

func TestRegisterAnswersDigestChallenge(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			pr := newPeer(t, transport)
			p := startPhone(t, pr, func(c *Config) {
				c.Lines = []LineConfig{
					{User: "phone1", AuthUser: "auth1", Password: "secret", DisplayName: "Kitchen"},
					{User: "phone2", Password: "secret2"},
				}
			})
			for line := range 2 {
				if got := p.State(line); got != StateIdle {
					t.Errorf("line %d state %q, want idle", line, got)
				}
			}
			regs := pr.requests(sip.REGISTER)
			if len(regs) != 4 {
				t.Fatalf("got %d REGISTERs, want 4 (two per line)", len(regs))
			}
			contacts := map[string]bool{}
			for i, r := range regs {
				if !strings.HasPrefix(header(r, "User-Agent"), "Grandstream HT802") {
					t.Errorf("REGISTER %d User-Agent %q", i, header(r, "User-Agent"))
				}
				if header(r, "Expires") != "3600" {
					t.Errorf("REGISTER %d Expires %q, want 3600", i, header(r, "Expires"))
				}
				if r.Recipient.User != "" || r.Recipient.Host != "127.0.0.1" {
					t.Errorf("REGISTER %d Request-URI %s", i, r.Recipient.String())
				}
				if !strings.EqualFold(r.Transport(), transport) {
					t.Errorf("REGISTER %d over %s", i, r.Transport())
				}
				contacts[r.Contact().Address.HostPort()] = true
				authz := header(r, "Authorization")
				if i%2 == 0 {
					if authz != "" {
						t.Errorf("first REGISTER of a line carries Authorization")
					}
					continue
				}
				cred, err := digest.ParseCredentials(authz)
				if err != nil {
					t.Fatalf("REGISTER %d Authorization %q: %v", i, authz, err)
				}
				wantUser := map[int]string{1: "auth1", 3: "phone2"}[i]
				if cred.Username != wantUser || cred.QOP != "auth" || (cred.Algorithm != "" && cred.Algorithm != "MD5") || cred.Realm != testRealm {
					t.Errorf("REGISTER %d credentials %+v", i, cred)
				}
				if r.From().DisplayName == "" && i == 1 {
					t.Errorf("From lacks the display name")
				}
			}
			for line := range 2 {
				if !contacts[p.ContactAddr(line)] {
					t.Errorf("line %d contact %s not registered (got %v)", line, p.ContactAddr(line), contacts)
				}
			}
			if p.ContactAddr(0) == p.ContactAddr(1) {
				t.Errorf("both lines share SIP port %s", p.ContactAddr(0))
			}
			if regs[0].From().Address.User != "phone1" || regs[2].From().Address.User != "phone2" {
				t.Errorf("From users %s, %s", regs[0].From().Address.User, regs[2].From().Address.User)
			}
			ev := waitEvent(t, p, EventRegistered)
			if ev.Status != 200 {
				t.Errorf("registered event %+v", ev)
			}
		})
	}
}

func TestRegisterRefreshesBeforeExpiry(t *testing.T) {
	pr := newPeer(t, "udp")
	pr.set(func(p *peer) { p.grant = 1 })
	p := startPhone(t, pr, nil)
	waitEvent(t, p, EventRegistered)
	waitEvent(t, p, EventRegistered) // the refresh at 90 % of 1 s
	regs := pr.requests(sip.REGISTER)
	first, last := regs[0], regs[len(regs)-1]
	if first.CallID().Value() != last.CallID().Value() {
		t.Errorf("refresh changed Call-ID: %s -> %s", first.CallID().Value(), last.CallID().Value())
	}
	if last.CSeq().SeqNo <= first.CSeq().SeqNo {
		t.Errorf("refresh CSeq %d not above %d", last.CSeq().SeqNo, first.CSeq().SeqNo)
	}
}

func TestUnregisterSendsWildcard(t *testing.T) {
	pr := newPeer(t, "udp")
	p := startPhone(t, pr, nil)
	if err := p.Unregister(testCtx(t), 0); err != nil {
		t.Fatal(err)
	}
	regs := pr.requests(sip.REGISTER)
	last := regs[len(regs)-1]
	if header(last, "Contact") != "*" || header(last, "Expires") != "0" {
		t.Errorf("unregister Contact %q Expires %q", header(last, "Contact"), header(last, "Expires"))
	}
	if got := p.State(0); got != StateUnregistered {
		t.Errorf("state %q", got)
	}
	waitEvent(t, p, EventUnregistered)
}

func TestRegisterFailures(t *testing.T) {
	tests := []struct {
		name     string
		password string
		regCode  int
		want     int
	}{
		{"wrong password", "nope", 0, 403},
		{"refused", "secret", 503, 503},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pr := newPeer(t, "udp")
			pr.set(func(p *peer) { p.regCode = tc.regCode })
			p, err := New(Config{Server: pr.addr(), Lines: []LineConfig{{User: "phone1", Password: tc.password}}})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			err = p.Start(testCtx(t))
			var se *StatusError
			if !errors.As(err, &se) || se.Code != tc.want {
				t.Fatalf("Start error %v, want status %d", err, tc.want)
			}
			if ev := waitEvent(t, p, EventRegistrationFailed); ev.Status != tc.want {
				t.Errorf("event %+v", ev)
			}
			if p.State(0) != StateUnregistered {
				t.Errorf("state %q", p.State(0))
			}
		})
	}
}

func TestOptionsAnswered(t *testing.T) {
	pr := newPeer(t, "udp")
	p := startPhone(t, pr, nil)
	host, port := splitHostPort(t, p.ContactAddr(0))
	req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", User: "phone1", Host: host, Port: port})
	res, err := pr.cli.Do(testCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.GetHeader("User-Agent") == nil {
		t.Errorf("OPTIONS answered %d, User-Agent %v", res.StatusCode, res.GetHeader("User-Agent"))
	}
}

func TestOffHookCallsAutoDial(t *testing.T) {
	pr := newPeer(t, "udp")
	p := startPhone(t, pr, nil)
	ctx := testCtx(t)
	if err := p.OffHook(ctx, 0); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, p, EventRingback)
	waitEvent(t, p, EventCallEstablished)
	if got := p.State(0); got != StateInCall {
		t.Errorf("state %q", got)
	}
	inv := pr.requests(sip.INVITE)[0]
	if inv.Recipient.User != "100" || inv.Recipient.HostPort() != pr.addr() {
		t.Errorf("Request-URI %s", inv.Recipient.String())
	}
	if inv.Contact().Address.HostPort() != p.ContactAddr(0) {
		t.Errorf("Contact %s, want %s", inv.Contact().Address.HostPort(), p.ContactAddr(0))
	}
	if inv.From().DisplayName != "Kitchen" || inv.From().Address.User != "phone1" {
		t.Errorf("From %s", inv.From().Value())
	}
	body := string(inv.Body())
	for _, want := range []string{
		"m=audio ", " RTP/AVP 0 8 101\r\n", "c=IN IP4 127.0.0.1", "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
		"a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15", "a=ptime:20", "a=sendrecv",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("offer lacks %q:\n%s", want, body)
		}
	}
	offer, err := parseSDP(inv.Body())
	if err != nil || offer.addr.Port() == 0 {
		t.Fatalf("offer %v: %v", offer, err)
	}
	pr.waitRequests(t, sip.ACK, 1)

	// RTP flows from the offered port: 20 ms PCMU frames, one SSRC,
	// consecutive sequence numbers, timestamps 160 apart, marker first.
	waitUntil(t, "10 RTP packets", func() bool { return len(pr.rtp.packets()) >= 10 })
	pkts := pr.rtp.packets()[:10]
	if !pkts[0].Marker {
		t.Errorf("first packet lacks the marker")
	}
	for i, pk := range pkts {
		if pk.PayloadType != 0 || len(pk.Payload) != frameSamples || pk.SSRC != pkts[0].SSRC {
			t.Fatalf("packet %d: pt %d len %d ssrc %x", i, pk.PayloadType, len(pk.Payload), pk.SSRC)
		}
		if i > 0 && (pk.SequenceNumber != pkts[i-1].SequenceNumber+1 || pk.Timestamp != pkts[i-1].Timestamp+frameSamples || pk.Marker) {
			t.Fatalf("packet %d follows %d badly: seq %d/%d ts %d/%d", i, i-1, pk.SequenceNumber, pkts[i-1].SequenceNumber, pk.Timestamp, pkts[i-1].Timestamp)
		}
	}
	if rx := p.Received(0); rx.Codec != "PCMU" || rx.Sent < 10 || !strings.HasSuffix(rx.LocalRTP, ":"+itoa(int(offer.addr.Port()))) {
		t.Errorf("stats %+v", rx)
	}

	if err := p.OnHook(ctx, 0); err != nil {
		t.Fatal(err)
	}
	bye := pr.waitRequests(t, sip.BYE, 1)[0]
	if bye.CallID().Value() != inv.CallID().Value() {
		t.Errorf("BYE for another call")
	}
	if got := p.State(0); got != StateIdle {
		t.Errorf("state after onhook %q", got)
	}
}

func TestDialSendsDigitsAsRequestURI(t *testing.T) {
	pr := newPeer(t, "udp")
	p := startPhone(t, pr, func(c *Config) { c.AutoDial = "200" })
	if err := p.Dial(testCtx(t), 0, "4711#"); err != nil {
		t.Fatal(err)
	}
	if inv := pr.requests(sip.INVITE)[0]; inv.Recipient.User != "4711" || inv.To().Address.User != "4711" {
		t.Errorf("INVITE to %s (To %s)", inv.Recipient.String(), inv.To().Address.String())
	}
}

func TestOffHookRefused(t *testing.T) {
	pr := newPeer(t, "udp")
	pr.set(func(p *peer) { p.inviteCode = 486 })
	p := startPhone(t, pr, nil)
	ctx := testCtx(t)
	err := p.OffHook(ctx, 0)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 486 {
		t.Fatalf("OffHook error %v, want 486", err)
	}
	if ev := waitEvent(t, p, EventCallFailed); ev.Status != 486 {
		t.Errorf("event %+v", ev)
	}
	if got := p.State(0); got != StateOffHook {
		t.Errorf("state %q, want off_hook (busy tone until on-hook)", got)
	}
	if err := p.OnHook(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if got := p.State(0); got != StateIdle {
		t.Errorf("state %q after onhook", got)
	}
	if n := len(pr.requests(sip.BYE)); n != 0 {
		t.Errorf("sent %d BYE for a refused call", n)
	}
}

func TestOnHookWhileCallingSendsCancel(t *testing.T) {
	pr := newPeer(t, "udp")
	pr.set(func(p *peer) { p.inviteCode = -1 })
	p := startPhone(t, pr, nil)
	ctx := testCtx(t)
	result := make(chan error, 1)
	go func() { result <- p.OffHook(ctx, 0) }()
	waitEvent(t, p, EventRingback)
	if got := p.State(0); got != StateCalling {
		t.Errorf("state %q, want calling", got)
	}
	if err := p.OnHook(ctx, 0); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "CANCEL", func() bool {
		pr.mu.Lock()
		defer pr.mu.Unlock()
		return pr.cancels == 1
	})
	if err := <-result; !errors.Is(err, context.Canceled) {
		t.Errorf("OffHook returned %v, want context.Canceled", err)
	}
	if got := p.State(0); got != StateIdle {
		t.Errorf("state %q", got)
	}
}

func TestIncomingCallAnswerModes(t *testing.T) {
	tests := []struct {
		name      string
		mode      AnswerMode
		manual    bool // the test answers with Answer
		cancel    bool // the caller cancels while it rings
		wantCode  int
		wantEvent string
	}{
		{name: "auto", mode: AnswerAuto, wantCode: 200, wantEvent: EventAnswered},
		{name: "lifted by hand", mode: AnswerNever, manual: true, wantCode: 200, wantEvent: EventAnswered},
		{name: "never then cancel", mode: AnswerNever, cancel: true, wantCode: 487, wantEvent: EventCancelled},
		{name: "busy", mode: AnswerBusy, wantCode: 486},
		{name: "reject", mode: AnswerReject, wantCode: 603},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pr := newPeer(t, "udp")
			p := startPhone(t, pr, nil)
			waitEvent(t, p, EventRegistered)
			p.SetAnswer(0, tc.mode, 50*time.Millisecond)
			ctx, cancel := context.WithCancel(testCtx(t))
			defer cancel()
			type result struct {
				sess *sipgo.DialogClientSession
				err  error
			}
			done := make(chan result, 1)
			go func() {
				sess, err := pr.ring(ctx, p.ContactAddr(0), "phone1", "8 0 101",
					sip.NewHeader("Alert-Info", "<http://127.0.0.1>;info=ring3"))
				done <- result{sess, err}
			}()
			if tc.mode != AnswerBusy {
				ev := waitEvent(t, p, EventRinging)
				if ev.CallerName != "Front Door" || ev.CallerNumber != "1001" || ev.AlertInfo != "<http://127.0.0.1>;info=ring3" {
					t.Errorf("ringing event %+v", ev)
				}
				if tc.mode == AnswerNever && p.State(0) != StateRinging {
					t.Errorf("state %q while ringing", p.State(0))
				}
			}
			if tc.manual {
				if err := p.Answer(ctx, 0); err != nil {
					t.Fatal(err)
				}
			}
			if tc.cancel {
				cancel()
			}
			res := <-done
			code := 0
			if res.sess != nil && res.sess.InviteResponse != nil {
				code = res.sess.InviteResponse.StatusCode
			}
			if code != tc.wantCode {
				t.Fatalf("final response %d (err %v), want %d", code, res.err, tc.wantCode)
			}
			if tc.wantEvent != "" {
				waitEvent(t, p, tc.wantEvent)
			}
			if tc.wantCode != 200 {
				waitUntil(t, "idle", func() bool { return p.State(0) == StateIdle })
				return
			}
			answer, err := parseSDP(res.sess.InviteResponse.Body())
			if err != nil {
				t.Fatal(err)
			}
			if len(answer.formats) != 2 || answer.formats[0] != ptPCMA || answer.formats[1] != 101 {
				t.Errorf("answer formats %v, want [8 101] (first offered codec, telephone-event)", answer.formats)
			}
			if p.State(0) != StateInCall {
				t.Errorf("state %q", p.State(0))
			}
			waitUntil(t, "PCMA from the phone", func() bool { return len(pr.rtp.audio(ptPCMA)) >= 3*frameSamples })
			if err := res.sess.Bye(ctx); err != nil {
				t.Fatal(err)
			}
			waitEvent(t, p, EventHangupByServer)
			want := StateIdle // the auto-answering person hangs up on reorder tone
			if tc.manual {
				want = StateOffHook
			}
			if got := p.State(0); got != want {
				t.Errorf("state after server hang-up %q, want %q", got, want)
			}
		})
	}
}

func TestOffHookLineRefusesNewCall(t *testing.T) {
	pr := newPeer(t, "udp")
	p := startPhone(t, pr, nil)
	ctx := testCtx(t)
	if err := p.OffHook(ctx, 0); err != nil {
		t.Fatal(err)
	}
	sess, err := pr.ring(ctx, p.ContactAddr(0), "phone1", "0 101")
	if sess == nil || sess.InviteResponse == nil || sess.InviteResponse.StatusCode != 486 {
		t.Fatalf("ringing a line in a call: %v, want 486", err)
	}
}

func TestHangupByServerOnOutgoingCall(t *testing.T) {
	pr := newPeer(t, "udp")
	p := startPhone(t, pr, nil)
	ctx := testCtx(t)
	if err := p.OffHook(ctx, 0); err != nil {
		t.Fatal(err)
	}
	pr.waitRequests(t, sip.ACK, 1)
	pr.mu.Lock()
	sess := pr.uas
	pr.mu.Unlock()
	if err := sess.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, p, EventHangupByServer)
	if got := p.State(0); got != StateOffHook {
		t.Errorf("state %q, want off_hook", got)
	}
	// Ringing now finds the handset lifted.
	res, _ := pr.ring(ctx, p.ContactAddr(0), "phone1", "0")
	if res == nil || res.InviteResponse.StatusCode != 486 {
		t.Errorf("ringing an off-hook line was not refused with 486")
	}
	if err := p.OnHook(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if len(pr.requests(sip.BYE)) != 0 {
		t.Errorf("putting the handset down after the server hung up sent a BYE")
	}
}

func TestMediaRecordsReceivedAudio(t *testing.T) {
	pr := newPeer(t, "udp")
	p := startPhone(t, pr, nil)
	ctx := testCtx(t)
	if err := p.OffHook(ctx, 0); err != nil {
		t.Fatal(err)
	}
	tone := make([]int16, sampleRate/2)
	osc := newOscillator(1000, -10)
	for i := range tone {
		tone[i] = clip16(osc.next())
	}
	pr.rtp.sendPCMU(t, tone)
	waitUntil(t, "received audio", func() bool { return len(p.ReceivedAudio(0)) >= len(tone) })
	got := p.ReceivedAudio(0)
	if f := dominant(got, 300, 3400); math.Abs(f-1000) > 20 {
		t.Errorf("received tone at %.0f Hz, want 1000", f)
	}
	rx := p.Received(0)
	if rx.Packets != len(tone)/frameSamples || len(rx.PayloadTypes) != 1 || rx.PayloadTypes[0] != 0 || rx.SSRC != 0x1234 {
		t.Errorf("stats %+v", rx)
	}
}

func TestPlayToneIsSent(t *testing.T) {
	pr := newPeer(t, "udp")
	pr.set(func(p *peer) { p.answerPTs = "8 101" })
	p := startPhone(t, pr, nil)
	p.PlayTone(0, 440, -10)
	if err := p.OffHook(testCtx(t), 0); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "audio", func() bool { return len(pr.rtp.audio(ptPCMA)) >= sampleRate/4 })
	got := pr.rtp.audio(ptPCMA)
	if f := dominant(got, 300, 3400); math.Abs(f-440) > 20 {
		t.Errorf("tone at %.0f Hz, want 440", f)
	}
	if a := goertzel(got[frameSamples:], 440); math.Abs(a-dBm0Peak(-10))/dBm0Peak(-10) > 0.1 {
		t.Errorf("tone amplitude %.0f, want %.0f (-10 dBm0)", a, dBm0Peak(-10))
	}
}

func TestCloseHangsUp(t *testing.T) {
	pr := newPeer(t, "udp")
	p, err := New(Config{Server: pr.addr(), Lines: []LineConfig{{User: "phone1", Password: "secret"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := p.OffHook(testCtx(t), 0); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	pr.waitRequests(t, sip.BYE, 1)
	if _, ok := <-p.Events(); ok {
		for range p.Events() {
		}
	}
	if err := p.OffHook(testCtx(t), 0); !errors.Is(err, ErrClosed) {
		t.Errorf("OffHook after Close: %v", err)
	}
}

func TestAPIErrors(t *testing.T) {
	pr := newPeer(t, "udp")
	p := startPhone(t, pr, nil)
	ctx := testCtx(t)
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"unknown line", func() error { return p.OffHook(ctx, 3) }, ErrNoLine},
		{"answer while idle", func() error { return p.Answer(ctx, 0) }, ErrNotRinging},
		{"digits without call", func() error { return p.SendDigits(ctx, 0, "1") }, ErrNoCall},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	if err := p.Dial(ctx, 0, "#"); err == nil {
		t.Errorf("dialing nothing succeeded")
	}
	if err := p.SendDigits(ctx, 0, "1x"); err == nil {
		t.Errorf("invalid key accepted")
	}
	if p.State(7) != "" || p.ReceivedAudio(7) != nil {
		t.Errorf("unknown line has state or audio")
	}
}

func TestOffHookAnswersProxyChallenge(t *testing.T) {
	pr := newPeer(t, "udp")
	pr.set(func(p *peer) { p.inviteAuth = true })
	p := startPhone(t, pr, nil)
	if err := p.OffHook(testCtx(t), 0); err != nil {
		t.Fatal(err)
	}
	invs := pr.requests(sip.INVITE)
	if len(invs) != 2 || header(invs[1], "Proxy-Authorization") == "" {
		t.Fatalf("%d INVITEs, second with Proxy-Authorization %q", len(invs), header(invs[len(invs)-1], "Proxy-Authorization"))
	}
	if invs[1].CSeq().SeqNo != invs[0].CSeq().SeqNo+1 || invs[1].CallID().Value() != invs[0].CallID().Value() {
		t.Errorf("retried INVITE: CSeq %d after %d, same Call-ID %v", invs[1].CSeq().SeqNo, invs[0].CSeq().SeqNo,
			invs[1].CallID().Value() == invs[0].CallID().Value())
	}
}

func TestReinviteMovesMedia(t *testing.T) {
	pr := newPeer(t, "udp")
	p := startPhone(t, pr, nil)
	ctx := testCtx(t)
	sess, err := pr.ring(ctx, p.ContactAddr(0), "phone1", "0 101")
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, p, EventAnswered)
	moved := newRTPPeer(t)
	defer moved.close()
	req := sip.NewRequest(sip.INVITE, sess.InviteResponse.Contact().Address)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody([]byte("v=0\r\no=pbx 1 2 IN IP4 127.0.0.1\r\ns=pbx\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio " +
		itoa(moved.port()) + " RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"))
	res, err := sess.Do(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || !strings.Contains(string(res.Body()), "m=audio ") {
		t.Fatalf("re-INVITE answered %d:\n%s", res.StatusCode, res.Body())
	}
	waitUntil(t, "RTP at the new address", func() bool { return len(moved.packets()) >= 3 })
	if got := p.Received(0).RemoteRTP; got != "127.0.0.1:"+itoa(moved.port()) {
		t.Errorf("remote RTP %s", got)
	}
}

func TestRingTimeoutAnswers480(t *testing.T) {
	pr := newPeer(t, "udp")
	p := startPhone(t, pr, func(c *Config) { c.RingTimeout = 100 * time.Millisecond })
	p.SetAnswer(0, AnswerNever, 0)
	sess, _ := pr.ring(testCtx(t), p.ContactAddr(0), "phone1", "0")
	if sess == nil || sess.InviteResponse == nil || sess.InviteResponse.StatusCode != 480 {
		t.Fatalf("unanswered ring did not end with 480")
	}
	if ev := waitEvent(t, p, EventRingTimeout); ev.Status != 480 {
		t.Errorf("event %+v", ev)
	}
	if got := p.State(0); got != StateIdle {
		t.Errorf("state %q", got)
	}
	if rx := p.Received(0); rx.LastPayloadType != -1 || rx.Packets != 0 {
		t.Errorf("stats of a line that never had a call: %+v", rx)
	}
}
