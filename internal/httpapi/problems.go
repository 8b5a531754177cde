package httpapi

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/coder/websocket"
)

// problemErrors turns the plain-text errors of http.ServeMux (404 for an
// unknown path, 405 for a wrong method) into problem+json, so every error
// of the API has one shape. Answers that already carry a body type of
// their own (huma's problems) pass unchanged.
func problemErrors(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&problemWriter{ResponseWriter: w, r: r}, r)
	})
}

type problemWriter struct {
	http.ResponseWriter
	r       *http.Request
	swallow bool // the mux's text body is replaced: drop its writes
}

func (p *problemWriter) WriteHeader(code int) {
	if (code == http.StatusNotFound || code == http.StatusMethodNotAllowed) &&
		strings.HasPrefix(p.Header().Get("Content-Type"), "text/plain") {
		p.swallow = true
		p.Header().Del("X-Content-Type-Options")
		detail := fmt.Sprintf("no endpoint %s; the API is described at /openapi.json and browsable at /docs", p.r.URL.Path)
		if code == http.StatusMethodNotAllowed {
			detail = fmt.Sprintf("%s does not take %s; allowed: %s", p.r.URL.Path, p.r.Method, p.Header().Get("Allow"))
		}
		problem(p.ResponseWriter, code, detail)
		return
	}
	p.ResponseWriter.WriteHeader(code)
}

func (p *problemWriter) Write(b []byte) (int, error) {
	if p.swallow {
		return len(b), nil
	}
	return p.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController and the WebSocket upgrade reach the
// connection.
func (p *problemWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// Hijack passes the WebSocket upgrade through.
func (p *problemWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if hj, ok := p.ResponseWriter.(http.Hijacker); ok {
		return hj.Hijack()
	}
	return nil, nil, errors.New("connection cannot be taken over")
}

// Flush passes flushes through.
func (p *problemWriter) Flush() {
	if f, ok := p.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// acceptWS checks the Origin and upgrades the connection; a refused Origin
// gets a 403 problem that says how to allow it. The server's own origins
// are always allowed: the host the client used, on the REST port or the
// WebSocket port (a page served by the API opening the event stream), as
// are those of api.allowed_origins.
func (d Deps) acceptWS(w http.ResponseWriter, r *http.Request) (*websocket.Conn, error) {
	if err := d.checkOrigin(r); err != nil {
		problem(w, http.StatusForbidden, err.Error())
		return nil, err
	}
	return websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true}) // Origin checked above
}

func (d Deps) checkOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil // not a browser
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return fmt.Errorf("the Origin %q is not a URL with a host", origin)
	}
	if strings.EqualFold(u.Host, r.Host) {
		return nil
	}
	oh, op := splitHostPort(u.Host, u.Scheme)
	rh, _ := splitHostPort(r.Host, "http")
	if strings.EqualFold(oh, rh) && (op == d.WSPort || (d.RESTPort != 0 && op == d.RESTPort)) {
		return nil
	}
	for _, p := range d.Origins {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(target)); ok {
			return nil
		}
	}
	return fmt.Errorf("the Origin %s is not allowed to open this WebSocket; add it to api.allowed_origins (e.g. %q)", origin, u.Scheme+"://"+u.Host)
}

// splitHostPort splits a URL host into host and port, the port defaulting
// from the scheme.
func splitHostPort(hostport, scheme string) (string, int) {
	h, p, err := net.SplitHostPort(hostport)
	if err != nil {
		h = strings.Trim(hostport, "[]")
		switch scheme {
		case "https", "wss":
			return h, 443
		}
		return h, 80
	}
	n, _ := strconv.Atoi(p)
	return h, n
}
