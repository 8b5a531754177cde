package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sip-phone-api/sipphone"
)

// rawPhone is a UDP socket that registers with a hand-written REGISTER and
// then only records what it receives: a phone that never answers.
type rawPhone struct {
	t    *testing.T
	conn *net.UDPConn
}

func newRawPhone(t *testing.T) *rawPhone {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawPhone{t: t, conn: c}
}

func (p *rawPhone) register(server, user string) {
	p.t.Helper()
	la := p.conn.LocalAddr().String()
	msg := fmt.Sprintf("REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-raw-%d;rport\r\n"+
		"From: <sip:%s@%s>;tag=raw1\r\nTo: <sip:%s@%s>\r\nCall-ID: raw-reg-%s\r\nCSeq: 1 REGISTER\r\n"+
		"Contact: <sip:%s@%s>\r\nExpires: 600\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		server, la, time.Now().UnixNano(), user, server, user, server, la, user, la)
	addr, _ := net.ResolveUDPAddr("udp", server)
	if _, err := p.conn.WriteToUDP([]byte(msg), addr); err != nil {
		p.t.Fatal(err)
	}
	if got := p.read(); !strings.HasPrefix(got, "SIP/2.0 200") {
		p.t.Fatalf("REGISTER answered %q", firstLine(got))
	}
}

// read returns the next message received, failing after 10 s.
func (p *rawPhone) read() string {
	p.t.Helper()
	buf := make([]byte, 65536)
	p.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := p.conn.ReadFromUDP(buf)
	if err != nil {
		p.t.Fatalf("phone received nothing: %v", err)
	}
	return string(buf[:n])
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\r\n")
	return l
}

func TestRingErrors(t *testing.T) {
	s := startServer(t, "lines: [{id: kitchen, user: phone1}, {id: hall, user: phone2}]\n", "")
	phone := newRawPhone(t)
	phone.register(s.sipAddr(), "phone1")

	cases := []struct {
		name, method, path, body string
		want                     int
		wantDetail               string
	}{
		{"unknown line", "POST", "/ring?line=attic", "", 404, "attic"},
		{"unknown line in body", "POST", "/ring", `{"line":"attic"}`, 404, "known lines: kitchen, hall"},
		{"not registered", "POST", "/lines/hall/ring", "", 503, "no registration"},
		{"unknown pattern", "POST", "/ring", `{"pattern":"disco"}`, 422, "ring1"},
		{"timeout too long", "POST", "/ring", `{"timeout_s": 9999}`, 422, "timeout_s"},
		{"stop when not ringing", "DELETE", "/ring", "", 409, "not ringing"},
		{"hangup without call", "POST", "/hangup", "", 409, "not in a call"},
		{"unknown line by path", "GET", "/lines/attic", "", 404, "attic"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p struct {
				Title  string `json:"title"`
				Detail string `json:"detail"`
				Errors []struct {
					Location string `json:"location"`
				} `json:"errors"`
			}
			code := s.do(c.method, c.path, c.body, &p)
			text := p.Detail
			for _, e := range p.Errors {
				text += " " + e.Location
			}
			if code != c.want || !strings.Contains(text, c.wantDetail) {
				t.Fatalf("%s %s = %d %+v, want %d mentioning %q", c.method, c.path, code, p, c.want, c.wantDetail)
			}
		})
	}
}

func TestRingStopBeforeAnswerAnd409(t *testing.T) {
	s := startServer(t, "", "")
	ev := s.events("?types=ring_start,ring_stop")
	phone := newRawPhone(t)
	phone.register(s.sipAddr(), "phone1")
	s.ring(`{"caller_id":{"number":"42"}}`)
	inv := phone.read()
	if !strings.HasPrefix(inv, "INVITE sip:phone1@") || !strings.Contains(inv, "<sip:42@") {
		t.Fatalf("phone received:\n%s", inv)
	}
	if st := s.status().line("phone1"); st.State != sipphone.StateRinging || st.Ring == nil {
		t.Fatalf("state while ringing: %+v", st)
	}
	if code := s.do("POST", "/ring", "", nil); code != 409 {
		t.Fatalf("second ring = %d, want 409", code)
	}
	if code := s.do("DELETE", "/ring", "", nil); code != 202 {
		t.Fatalf("DELETE /ring = %d", code)
	}
	got := ev.expect(sipphone.EventRingStart, sipphone.EventRingStop)
	if got[1].Reason != "stopped" || got[1].RingID != got[0].RingID {
		t.Fatalf("ring_stop %+v", got[1])
	}
	s.waitFor("line back on hook", func() bool { return s.status().line("phone1").State == sipphone.StateOnHook })
}

func TestRingTimeout(t *testing.T) {
	s := startServer(t, "", "")
	ev := s.events("?types=ring_stop")
	phone := newRawPhone(t)
	phone.register(s.sipAddr(), "phone1")
	s.ring(`{"timeout_s": 1}`)
	if got := ev.expect(sipphone.EventRingStop)[0]; got.Reason != "timeout" {
		t.Fatalf("ring_stop reason %q, want timeout", got.Reason)
	}
}

func TestRestartKeepsBinding(t *testing.T) {
	s1 := startServer(t, "lines: [{id: kitchen, user: phone1, display_name: Kitchen}]\n", "")
	phone := newRawPhone(t)
	phone.register(s1.sipAddr(), "phone1")
	s1.stop()

	s2 := startServer(t, "lines: [{id: kitchen, user: phone1, display_name: Kitchen}]\n", s1.state)
	l := s2.status().line("kitchen")
	if l == nil || !l.Registered || l.Contact != "sip:phone1@"+phone.conn.LocalAddr().String() {
		t.Fatalf("after restart: %+v", l)
	}
	if code := s2.do("POST", "/ring", "", nil); code != 202 {
		t.Fatalf("POST /ring after restart = %d", code)
	}
	if inv := phone.read(); !strings.HasPrefix(inv, "INVITE sip:phone1@") {
		t.Fatalf("phone received %q after restart, want INVITE", firstLine(inv))
	}
}

func TestUnregisterAndRefresh(t *testing.T) {
	s := startServer(t, "", "")
	ev := s.events("?types=registered,unregistered")
	phone := newRawPhone(t)
	phone.register(s.sipAddr(), "phone1")
	phone.register(s.sipAddr(), "phone1") // refresh: no second registered event
	la := phone.conn.LocalAddr().String()
	msg := fmt.Sprintf("REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-unreg;rport\r\n"+
		"From: <sip:phone1@%s>;tag=u1\r\nTo: <sip:phone1@%s>\r\nCall-ID: unreg\r\nCSeq: 9 REGISTER\r\n"+
		"Contact: *\r\nExpires: 0\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", s.sipAddr(), la, s.sipAddr(), s.sipAddr())
	addr, _ := net.ResolveUDPAddr("udp", s.sipAddr())
	phone.conn.WriteToUDP([]byte(msg), addr)
	if got := phone.read(); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Fatalf("unregister answered %q", firstLine(got))
	}
	got := ev.expect(sipphone.EventRegistered, sipphone.EventUnregistered)
	if got[1].Reason != "unregistered" {
		t.Fatalf("unregistered %+v", got[1])
	}
	if l := s.status().line("phone1"); l.Registered || l.State != sipphone.StateUnregistered {
		t.Fatalf("after unregister: %+v", l)
	}
	if code := s.do("POST", "/ring", "", nil); code != 503 {
		t.Fatalf("ring unregistered line = %d, want 503", code)
	}
}

func TestAPITokenRequired(t *testing.T) {
	s := startServer(t, "api: {tokens: [{name: ha, token: s3cret-token}]}\n", "")
	cases := []struct {
		name, path, auth string
		want             int
	}{
		{"status without token", "/status", "", 401},
		{"status wrong token", "/status", "Bearer nope", 401},
		{"status with token", "/status", "Bearer s3cret-token", 200},
		{"ring without token", "/ring", "", 401},
		{"health without token", "/healthz", "", 200},
		{"ready without token", "/readyz", "", 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			method := "GET"
			if c.path == "/ring" {
				method = "POST"
			}
			req, _ := http.NewRequest(method, s.url(c.path), nil)
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != c.want {
				t.Fatalf("%s = %d, want %d", c.path, res.StatusCode, c.want)
			}
			if c.want == 401 && res.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("401 content type %q", res.Header.Get("Content-Type"))
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, res, err := websocket.Dial(ctx, "ws://"+s.WSAddr().String()+"/ws", nil); err == nil || res == nil || res.StatusCode != 401 {
		t.Fatalf("/ws without token: err=%v res=%v, want 401", err, res)
	}
	c, _, err := websocket.Dial(ctx, "ws://"+s.WSAddr().String()+"/ws?token=s3cret-token", nil)
	if err != nil {
		t.Fatalf("/ws with ?token=: %v", err)
	}
	c.CloseNow()
}

// send writes a raw SIP message from the phone's socket and returns the
// first line of the answer, or "" when none came within timeout.
func (p *rawPhone) send(server, msg string, timeout time.Duration) string {
	p.t.Helper()
	addr, _ := net.ResolveUDPAddr("udp", server)
	if _, err := p.conn.WriteToUDP([]byte(msg), addr); err != nil {
		p.t.Fatal(err)
	}
	buf := make([]byte, 65536)
	p.conn.SetReadDeadline(time.Now().Add(timeout))
	n, _, err := p.conn.ReadFromUDP(buf)
	if err != nil {
		return ""
	}
	return firstLine(string(buf[:n]))
}

func optionsMsg(server, local string) string {
	return fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-opt-%d;rport\r\n"+
		"From: <sip:phone1@%s>;tag=o1\r\nTo: <sip:%s>\r\nCall-ID: opt-%d\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		server, local, time.Now().UnixNano(), server, server, time.Now().UnixNano())
}

func TestOptionsAnswered(t *testing.T) {
	s := startServer(t, "", "")
	p := newRawPhone(t)
	if got := p.send(s.sipAddr(), optionsMsg(s.sipAddr(), p.conn.LocalAddr().String()), 5*time.Second); got != "SIP/2.0 200 OK" {
		t.Fatalf("OPTIONS answered %q", got)
	}
}

func TestSourceAllowList(t *testing.T) {
	s := startServer(t, "ht802: {host: [10.9.9.9, 192.168.0.0/16]}\n", "")
	p := newRawPhone(t)
	if got := p.send(s.sipAddr(), optionsMsg(s.sipAddr(), p.conn.LocalAddr().String()), 300*time.Millisecond); got != "" {
		t.Fatalf("request from 127.0.0.1 answered %q; want silence", got)
	}
	s.waitFor("refusal logged", func() bool { return strings.Contains(s.logs.String(), "not in ht802.host") })

	s2 := startServer(t, "ht802: {host: [10.9.9.9, 127.0.0.0/8]}\n", "")
	p.register(s2.sipAddr(), "phone1")
	if !s2.status().line("phone1").Registered {
		t.Fatal("allowed source not registered")
	}
}
