package sipserver

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// authorize builds the Authorization header a client computes for nonce.
func authorize(user, realm, password, nonce string, nc int, method, uri string) string {
	ncs := fmt.Sprintf("%08x", nc)
	resp := response(user, realm, password, method, uri, nonce, ncs, "abc123", "auth")
	return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=MD5, cnonce="abc123", qop=auth, nc=%s`,
		user, realm, nonce, uri, resp, ncs)
}

func nonceOf(t *testing.T, h sip.Header) string {
	t.Helper()
	v := h.Value()
	i := strings.Index(v, `nonce="`)
	if i < 0 {
		t.Fatalf("no nonce in %q", v)
	}
	rest := v[i+7:]
	return rest[:strings.IndexByte(rest, '"')]
}

func TestDigestVerify(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	a := newDigestAuth("sipphone", 5*time.Minute, clock)
	other := newDigestAuth("sipphone", 5*time.Minute, clock) // another secret
	passwords := func(u string) (string, bool) {
		if u == "phone1" {
			return "secret", true
		}
		return "", false
	}
	fresh := nonceOf(t, a.challenge(false))
	foreign := nonceOf(t, other.challenge(false))
	now = now.Add(-10 * time.Minute)
	old := nonceOf(t, a.challenge(false))
	now = now.Add(10 * time.Minute)

	cases := []struct {
		name   string
		header string
		want   authResult
	}{
		{"no header", "", authMissing},
		{"good", authorize("phone1", "sipphone", "secret", fresh, 1, "REGISTER", "sip:x"), authOK},
		{"replayed nc", authorize("phone1", "sipphone", "secret", fresh, 1, "REGISTER", "sip:x"), authFailed},
		{"next nc", authorize("phone1", "sipphone", "secret", fresh, 2, "REGISTER", "sip:x"), authOK},
		{"wrong password", authorize("phone1", "sipphone", "nope", fresh, 3, "REGISTER", "sip:x"), authFailed},
		{"unknown user", authorize("ghost", "sipphone", "secret", fresh, 4, "REGISTER", "sip:x"), authFailed},
		{"wrong realm", authorize("phone1", "other", "secret", fresh, 5, "REGISTER", "sip:x"), authFailed},
		{"method mismatch", authorize("phone1", "sipphone", "secret", fresh, 6, "INVITE", "sip:x"), authFailed},
		{"nonce from another server", authorize("phone1", "sipphone", "secret", foreign, 1, "REGISTER", "sip:x"), authFailed},
		{"forged nonce", authorize("phone1", "sipphone", "secret", "AAAA"+fresh[4:], 1, "REGISTER", "sip:x"), authFailed},
		{"expired nonce is stale", authorize("phone1", "sipphone", "secret", old, 1, "REGISTER", "sip:x"), authStale},
		{"expired nonce wrong password is not stale", authorize("phone1", "sipphone", "bad", old, 2, "REGISTER", "sip:x"), authFailed},
		{"no qop", `Digest username="phone1", realm="sipphone", nonce="` + fresh + `", uri="sip:x", response="` +
			md5hex(md5hex("phone1:sipphone:secret")+":"+fresh+":"+md5hex("REGISTER:sip:x")) + `"`, authFailed},
		{"garbage", "Digest ,,,=", authFailed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: "x"})
			if c.header != "" {
				req.AppendHeader(sip.NewHeader("Authorization", c.header))
			}
			if got, _ := a.verify(req, passwords); got != c.want {
				t.Fatalf("verify = %d, want %d", got, c.want)
			}
		})
	}
}

func TestChallengeStale(t *testing.T) {
	a := newDigestAuth("sipphone", time.Minute, time.Now)
	if v := a.challenge(true).Value(); !strings.Contains(v, "stale=true") || !strings.Contains(v, `qop="auth"`) || !strings.Contains(v, "algorithm=MD5") {
		t.Fatalf("challenge %q", v)
	}
	if v := a.challenge(false).Value(); strings.Contains(v, "stale") {
		t.Fatalf("fresh challenge %q says stale", v)
	}
}
