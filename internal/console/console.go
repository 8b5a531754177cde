// Package console is the web console served at /console: one page, from
// files embedded in the binary (plain HTML, CSS and JavaScript modules, no
// build step and nothing fetched from elsewhere), that shows every line live
// from the event stream, rings, hangs up, plays files, and listens to and
// talks through the phone with AudioWorklets. It uses the public REST and
// WebSocket API only; the server side is nothing but these static files.
package console

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

//go:embed static
var files embed.FS

// Handler serves the console: /console and /console/ answer the page,
// /console/<file> its assets. Everything else is 404.
func Handler() http.Handler {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	index, err := fs.ReadFile(sub, "index.html")
	if err != nil {
		panic(err)
	}
	static := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/console")
		if !strings.HasPrefix(r.URL.Path, "/console") || name != "" && name[0] != '/' || len(name) > 1 && strings.HasSuffix(name, "/") {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		// The page talks only to its own origin; it is never framed.
		h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self'; img-src 'self' data:; "+
			"style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		if name == "" || name == "/" || name == "/index.html" {
			h.Set("Content-Type", "text/html; charset=utf-8")
			http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(index))
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = name
		r2.URL.RawPath = ""
		static.ServeHTTP(w, r2)
	})
}
