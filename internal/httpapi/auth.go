package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
)

// Token is an accepted bearer token with the name it is logged under.
type Token struct {
	Name, Secret string
}

// Authenticator checks bearer tokens. With no tokens it lets everything
// through (the start-up log and /status say so).
type Authenticator struct {
	tokens []tokenHash
	log    *slog.Logger
	// loopbackOpen lets clients on loopback in without a token (the
	// generated-token default); hint says how to get the token.
	loopbackOpen bool
	hint         string
	// Failures counts refused requests.
	Failures atomic.Uint64
}

type tokenHash struct {
	name string
	sum  [32]byte
}

// NewAuthenticator returns an authenticator for tokens.
func NewAuthenticator(tokens []Token, log *slog.Logger) *Authenticator {
	a := &Authenticator{log: log}
	for _, t := range tokens {
		a.tokens = append(a.tokens, tokenHash{name: t.Name, sum: sha256.Sum256([]byte(t.Secret))})
	}
	return a
}

// OpenOnLoopback lets requests from loopback addresses through without a
// token; hint is added to the 401 answer of others (how to get the token).
// Call before Wrap.
func (a *Authenticator) OpenOnLoopback(hint string) {
	a.loopbackOpen, a.hint = true, hint
}

// fromLoopback reports whether the request's peer is a loopback address.
func fromLoopback(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// Enabled reports whether tokens are required.
func (a *Authenticator) Enabled() bool { return a != nil && len(a.tokens) > 0 }

// check returns the name of the token presented, or false. Tokens are
// compared as SHA-256 digests in constant time, every token each time, so
// timing reveals neither which token nor how much of one matched.
func (a *Authenticator) check(presented string) (string, bool) {
	sum := sha256.Sum256([]byte(presented))
	name, ok := "", 0
	for _, t := range a.tokens {
		if subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1 {
			name, ok = t.name, 1
		}
	}
	return name, ok == 1
}

// public reports whether a path is served without a token: the health
// checks, the API's own documentation (it describes the API, it reveals
// nothing about the house) and the console's static files (the page asks
// for the token itself).
func public(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/openapi.json", "/openapi.yaml", "/docs", "/console", WebSocketSchemaPath:
		return true
	}
	return strings.HasPrefix(path, "/docs/") || strings.HasPrefix(path, "/console/")
}

// Wrap requires a token on every path except the public ones. WebSocket
// clients that cannot set headers (browsers) may pass ?token=.
func (a *Authenticator) Wrap(h http.Handler) http.Handler {
	if !a.Enabled() {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if public(r.URL.Path) || (a.loopbackOpen && fromLoopback(r)) {
			h.ServeHTTP(w, r)
			return
		}
		presented, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !found {
			presented = r.URL.Query().Get("token")
		}
		if _, ok := a.check(strings.TrimSpace(presented)); !ok || presented == "" {
			a.Failures.Add(1)
			a.log.Warn("API authentication failed", "remote", r.RemoteAddr, "path", r.URL.Path, "token_presented", presented != "")
			w.Header().Set("WWW-Authenticate", `Bearer realm="sipphone"`)
			problem(w, http.StatusUnauthorized, "a valid API token is required: send Authorization: Bearer <token> (or ?token= for WebSocket clients)"+a.hint)
			return
		}
		h.ServeHTTP(w, r)
	})
}
