package sipserver

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// digestAuth is HTTP digest authentication as SIP uses it (RFC 3261 section
// 22, RFC 2617): MD5 with qop=auth. Nonces carry their issue time and an
// HMAC with a per-process secret, so no nonce table is needed to validate
// them; a nonce older than lifetime is answered with stale=true so the
// adapter retries at once without asking the user for a password. Nonce
// counts are tracked per nonce to refuse replayed responses.
type digestAuth struct {
	realm    string
	lifetime time.Duration
	secret   [32]byte
	now      func() time.Time

	// mu guards nc.
	mu sync.Mutex
	nc map[string]ncEntry // nonce -> highest nonce count seen
}

type ncEntry struct {
	count  int
	issued time.Time
}

func newDigestAuth(realm string, lifetime time.Duration, now func() time.Time) *digestAuth {
	a := &digestAuth{realm: realm, lifetime: lifetime, now: now, nc: map[string]ncEntry{}}
	rand.Read(a.secret[:])
	return a
}

// nonce layout before base64: 8 bytes issue time (unix ns), 8 random bytes,
// 16 bytes HMAC-SHA256(secret, first 16 bytes).
func (a *digestAuth) newNonce() string {
	var b [32]byte
	binary.BigEndian.PutUint64(b[:8], uint64(a.now().UnixNano()))
	rand.Read(b[8:16])
	m := hmac.New(sha256.New, a.secret[:])
	m.Write(b[:16])
	copy(b[16:], m.Sum(nil))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// checkNonce reports whether nonce is ours, and when it was issued.
func (a *digestAuth) checkNonce(nonce string) (time.Time, bool) {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != 32 {
		return time.Time{}, false
	}
	m := hmac.New(sha256.New, a.secret[:])
	m.Write(b[:16])
	if !hmac.Equal(m.Sum(nil)[:16], b[16:]) {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b[:8]))), true
}

// challenge returns the WWW-Authenticate header for a 401.
func (a *digestAuth) challenge(stale bool) sip.Header {
	v := fmt.Sprintf(`Digest realm="%s", nonce="%s", algorithm=MD5, qop="auth"`, a.realm, a.newNonce())
	if stale {
		v += ", stale=true"
	}
	return sip.NewHeader("WWW-Authenticate", v)
}

// authResult is the outcome of checking a request's credentials.
type authResult int

const (
	authMissing authResult = iota // no credentials: challenge
	authOK
	authStale  // valid response on an expired nonce: challenge with stale=true
	authFailed // wrong password, unknown user, bad or replayed nonce
)

// verify checks the Authorization header of req. password looks up the
// password of an Authenticate ID; unknown users and wrong passwords give
// the same result so the answer does not reveal which users exist.
func (a *digestAuth) verify(req *sip.Request, password func(authUser string) (string, bool)) (authResult, string) {
	h := req.GetHeader("Authorization")
	if h == nil {
		return authMissing, ""
	}
	cred, err := digest.ParseCredentials(h.Value())
	if err != nil {
		return authFailed, ""
	}
	if cred.Realm != a.realm {
		return authFailed, cred.Username
	}
	if alg := strings.ToUpper(cred.Algorithm); alg != "" && alg != "MD5" {
		return authFailed, cred.Username
	}
	if cred.QOP != "auth" || cred.Cnonce == "" || cred.Nc <= 0 {
		return authFailed, cred.Username
	}
	issued, ok := a.checkNonce(cred.Nonce)
	if !ok {
		return authFailed, cred.Username
	}
	pw, known := password(cred.Username)
	if !known {
		pw = "\x00unknown-user" // compute anyway: same work, same answer
	}
	want := response(cred.Username, a.realm, pw, string(req.Method), cred.URI, cred.Nonce,
		fmt.Sprintf("%08x", cred.Nc), cred.Cnonce, cred.QOP)
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(cred.Response))) != 1 || !known {
		return authFailed, cred.Username
	}
	if a.now().Sub(issued) > a.lifetime {
		return authStale, cred.Username
	}
	if !a.useNonceCount(cred.Nonce, cred.Nc, issued) {
		return authFailed, cred.Username
	}
	return authOK, cred.Username
}

// useNonceCount records nc for nonce; it fails when nc is not higher than
// every count already used with that nonce (a replay).
func (a *digestAuth) useNonceCount(nonce string, nc int, issued time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.nc) > 4096 {
		cut := a.now().Add(-a.lifetime)
		for k, e := range a.nc {
			if e.issued.Before(cut) {
				delete(a.nc, k)
			}
		}
	}
	e := a.nc[nonce]
	if nc <= e.count {
		return false
	}
	a.nc[nonce] = ncEntry{count: nc, issued: issued}
	return true
}

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// response computes the digest response of RFC 2617 section 3.2.2.1 for
// qop=auth.
func response(user, realm, password, method, uri, nonce, nc, cnonce, qop string) string {
	ha1 := md5hex(user + ":" + realm + ":" + password)
	ha2 := md5hex(method + ":" + uri)
	return md5hex(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":" + qop + ":" + ha2)
}
