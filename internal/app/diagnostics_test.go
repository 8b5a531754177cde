package app

import (
	"strings"
	"testing"
)

type diagnostics struct {
	SIPTracing  bool `json:"sip_tracing"`
	SIPMessages []struct {
		Direction string `json:"direction"`
		Peer      string `json:"peer"`
		FirstLine string `json:"first_line"`
		Text      string `json:"text"`
	} `json:"sip_messages"`
	Registrations []struct {
		Line       string  `json:"line"`
		ExpiresInS float64 `json:"expires_in_s"`
	} `json:"registrations"`
	WebSockets []struct {
		Kind  string   `json:"kind"`
		Types []string `json:"types"`
	} `json:"websockets"`
	Config map[string]any `json:"config"`
}

func TestDiagnostics(t *testing.T) {
	s := startServer(t, "ht802: {credentials: {username: shared, password: topsecret}}\napi: {tokens: [{name: t, token: abcdefgh12}]}\n", "")
	s.events("?types=registered&token=abcdefgh12") // a client to list
	get := func() diagnostics {
		var d diagnostics
		req := "/diagnostics"
		if code := s.doAuth("GET", req, "", "abcdefgh12", &d); code != 200 {
			t.Fatalf("GET /diagnostics = %d", code)
		}
		return d
	}
	p := newRawPhone(t)
	p.register(s.sipAddr(), "phone1")
	// A message is recorded once it has been sent: on a busy machine the
	// phone may read the 200 OK before the server has noted it. Poll.
	var d diagnostics
	s.waitFor("the REGISTER and its 200 OK in /diagnostics", func() bool {
		d = get()
		var sawReg, sawOK bool
		for _, m := range d.SIPMessages {
			if m.Direction == "in" && strings.HasPrefix(m.FirstLine, "REGISTER sip:") && m.Peer == p.conn.LocalAddr().String() {
				sawReg = true
			}
			if m.Direction == "out" && m.FirstLine == "SIP/2.0 200 OK" {
				sawOK = true
			}
			if m.Text != "" {
				t.Fatalf("whole message kept while tracing is off: %+v", m)
			}
		}
		return sawReg && sawOK
	})
	if len(d.Registrations) != 1 || d.Registrations[0].ExpiresInS < 500 {
		t.Fatalf("diagnostics %+v", d)
	}
	if len(d.WebSockets) != 1 || d.WebSockets[0].Kind != "events" || d.WebSockets[0].Types[0] != "registered" {
		t.Fatalf("websockets %+v", d.WebSockets)
	}
	cfg := d.Config["ht802"].(map[string]any)["credentials"].(map[string]any)
	if cfg["password"] == "topsecret" || strings.Contains(s.lastBody, "topsecret") || strings.Contains(s.lastBody, "abcdefgh12") {
		t.Fatalf("a secret leaked into /diagnostics: %v", cfg)
	}

	if code := s.doAuth("POST", "/diagnostics/sip-trace", `{"enabled":true}`, "abcdefgh12", nil); code != 200 {
		t.Fatalf("sip-trace = %d", code)
	}
	p.register(s.sipAddr(), "phone1")
	s.waitFor("the traced 200 OK", func() bool {
		d = get()
		last := d.SIPMessages[len(d.SIPMessages)-1]
		return last.Direction == "out" && strings.Contains(last.Text, "Call-ID:")
	})
	if !d.SIPTracing {
		t.Fatalf("tracing on, diagnostics %+v", d)
	}
}
