package console

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Result()
}

func TestServesPageAndAssets(t *testing.T) {
	h := Handler()
	for _, p := range []string{"/console", "/console/", "/console/index.html"} {
		res := get(t, h, p)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), `src="/console/app.js"`) {
			t.Fatalf("GET %s = %d %s", p, res.StatusCode, res.Header.Get("Content-Type"))
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Fatalf("GET %s: Content-Security-Policy %q", p, csp)
		}
	}
	for _, p := range []string{"/console/app.js", "/console/api.js", "/console/audio.js", "/console/player-worklet.js", "/console/capture-worklet.js"} {
		res := get(t, h, p)
		if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), "javascript") {
			t.Fatalf("GET %s = %d %s (modules need a JavaScript type)", p, res.StatusCode, res.Header.Get("Content-Type"))
		}
	}
	if res := get(t, h, "/console/console.css"); res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/css") {
		t.Fatalf("GET console.css = %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	for _, p := range []string{"/console/nope.js", "/console/static/", "/console/../go.mod", "/consolex", "/console//"} {
		if res := get(t, h, p); res.StatusCode != 404 {
			t.Fatalf("GET %s = %d, want 404", p, res.StatusCode)
		}
	}
}

// TestNothingFromElsewhere: the page loads nothing from another origin (a
// home LAN may have no internet; a CDN would also see who uses it).
func TestNothingFromElsewhere(t *testing.T) {
	remote := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|import\s[^;]*["']https?://|url\(\s*["']?https?://`)
	fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := files.ReadFile(p)
		if m := remote.Find(b); m != nil {
			t.Errorf("%s refers to another origin: %s", p, m)
		}
		return nil
	})
}

// TestHooksInPage: the stable test hooks the documentation promises exist
// in the page or its script.
func TestHooksInPage(t *testing.T) {
	var all strings.Builder
	fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := files.ReadFile(p)
			all.Write(b)
		}
		return nil
	})
	for _, hook := range []string{"'line-' + id", "'ring-' + id", "'stop-ring-' + id", "'hangup-' + id", "'listen-' + id", "'talk-' + id",
		"'caller-name-' + id", "'caller-number-' + id", "'pattern-' + id", "'level-in-' + id", "'level-out-' + id",
		`data-testid="events"`, "dataset.type", "dataset.state", "dataset.dbfs"} {
		if !strings.Contains(all.String(), hook) {
			t.Errorf("hook %s missing", hook)
		}
	}
}
