package webdocs

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sip-phone-api/sipphone/internal/peers"
)

// sampleSpec is a small OpenAPI document for rendering tests.
const sampleSpec = `{
  "openapi": "3.1.0",
  "info": {"title": "sipphone test API", "version": "1.2.3"},
  "paths": {
    "/ring": {"post": {"operationId": "ring", "summary": "Ring the phone", "tags": ["Ringing"],
      "responses": {"202": {"description": "Ringing"}}}},
    "/status": {"get": {"operationId": "status", "summary": "Status of every line", "tags": ["Lines"],
      "responses": {"200": {"description": "OK"}}}}
  }
}`

// server serves /docs as the API does, plus the sample document.
func server(t *testing.T, specURL string) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	h := Handler(specURL)
	mux.Handle("/docs", h)
	mux.Handle("/docs/", h)
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, sampleSpec)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// get fetches url with the given Accept-Encoding ("" for none: the Go
// client then asks for gzip itself unless told not to).
func get(t *testing.T, url, acceptEncoding string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept-Encoding", acceptEncoding)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

var assetRef = regexp.MustCompile(`(?:src|href)="(docs/assets/[^"]+)"`)

func TestPageReferencesAssetsThatExist(t *testing.T) {
	srv := server(t, "openapi.json")
	resp, body := get(t, srv.URL+"/docs", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /docs: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	if !bytes.Contains(body, []byte(`data-spec-url="openapi.json"`)) {
		t.Errorf("page does not name the document:\n%s", body)
	}
	if bytes.Contains(body, []byte("http://")) || bytes.Contains(body, []byte("https://")) {
		t.Errorf("page refers to another site:\n%s", body)
	}
	refs := assetRef.FindAllSubmatch(body, -1)
	if len(refs) < 4 {
		t.Fatalf("page references %d assets, want the bundle, its CSS, init.js, docs.css", len(refs))
	}
	wantType := map[string]string{
		".js":  "text/javascript; charset=utf-8",
		".css": "text/css; charset=utf-8",
		".png": "image/png",
	}
	for _, m := range refs {
		ref := string(m[1])
		t.Run(ref, func(t *testing.T) {
			for _, enc := range []string{"gzip", "identity"} {
				resp, body := get(t, srv.URL+"/"+ref, enc)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: %s", enc, resp.Status)
				}
				if got, want := resp.Header.Get("Content-Type"), wantType[filepath.Ext(ref)]; got != want {
					t.Errorf("%s: Content-Type = %q, want %q", enc, got, want)
				}
				if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
					t.Errorf("%s: no nosniff", enc)
				}
				if resp.Header.Get("Content-Encoding") == "gzip" {
					zr, err := gzip.NewReader(bytes.NewReader(body))
					if err != nil {
						t.Fatalf("gzip: %v", err)
					}
					if body, err = io.ReadAll(zr); err != nil {
						t.Fatalf("gzip: %v", err)
					}
				}
				if len(body) == 0 {
					t.Errorf("%s: empty", enc)
				}
			}
		})
	}
}

func TestGzipNegotiation(t *testing.T) {
	srv := server(t, "openapi.json")
	url := srv.URL + "/docs/assets/swagger-ui/swagger-ui-bundle.js"
	tests := []struct {
		name   string
		accept string
		gzip   bool
	}{
		{"gzip", "gzip, deflate, br", true},
		{"gzip with q", "br;q=1.0, gzip;q=0.8", true},
		{"any", "*", true},
		{"refused", "gzip;q=0, br", false},
		{"none", "identity", false},
	}
	var plain []byte
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, url, tt.accept)
			if got := resp.Header.Get("Content-Encoding") == "gzip"; got != tt.gzip {
				t.Fatalf("gzip = %v, want %v", got, tt.gzip)
			}
			if !strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding") {
				t.Error("no Vary: Accept-Encoding")
			}
			if tt.gzip {
				zr, _ := gzip.NewReader(bytes.NewReader(body))
				body, _ = io.ReadAll(zr)
			}
			if !bytes.Contains(body, []byte("SwaggerUIBundle")) {
				t.Errorf("not the Swagger UI bundle (%d bytes)", len(body))
			}
			if plain == nil {
				plain = body
			} else if !bytes.Equal(plain, body) {
				t.Errorf("content differs between encodings")
			}
		})
	}
}

func TestRoutes(t *testing.T) {
	srv := server(t, "openapi.json")
	tests := []struct {
		name   string
		method string
		path   string
		status int
		header string // wanted header name=value
	}{
		{"page", http.MethodGet, "/docs", http.StatusOK, ""},
		{"head", http.MethodHead, "/docs", http.StatusOK, "Content-Type=text/html; charset=utf-8"},
		{"trailing slash", http.MethodGet, "/docs/", http.StatusMovedPermanently, "Location=../docs"},
		{"license", http.MethodGet, "/docs/assets/swagger-ui/LICENSE", http.StatusOK, "Content-Type=text/plain; charset=utf-8"},
		{"notice", http.MethodGet, "/docs/assets/swagger-ui/NOTICE", http.StatusOK, ""},
		{"unknown asset", http.MethodGet, "/docs/assets/nope.js", http.StatusNotFound, ""},
		{"stored name is not served", http.MethodGet, "/docs/assets/swagger-ui/swagger-ui.css.gz", http.StatusNotFound, ""},
		{"outside", http.MethodGet, "/docs/other", http.StatusNotFound, ""},
		{"traversal", http.MethodGet, "/docs/assets/../webdocs.go", http.StatusNotFound, ""},
		{"post", http.MethodPost, "/docs", http.StatusMethodNotAllowed, "Allow=GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			rec := httptest.NewRecorder()
			Handler("openapi.json").ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Errorf("%s %s = %d, want %d", tt.method, tt.path, rec.Code, tt.status)
			}
			if tt.header != "" {
				k, v, _ := strings.Cut(tt.header, "=")
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if tt.method == http.MethodHead && rec.Body.Len() != 0 {
				t.Errorf("HEAD has a body")
			}
		})
	}
	_ = srv
}

func TestConditionalGet(t *testing.T) {
	srv := server(t, "openapi.json")
	url := srv.URL + "/docs/assets/init.js"
	resp, _ := get(t, url, "gzip")
	tag := resp.Header.Get("ETag")
	if tag == "" {
		t.Fatal("no ETag")
	}
	resp, body := get(t, url, "gzip", "If-None-Match", tag)
	if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Errorf("revalidation = %s with %d bytes, want 304 empty", resp.Status, len(body))
	}
	resp, _ = get(t, url, "gzip", "If-None-Match", `"other"`)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("other tag = %s, want 200", resp.Status)
	}
}

func TestSpecURLIsEscaped(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler(`x"><script>alert(1)</script>`).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/docs", nil))
	if strings.Contains(rec.Body.String(), "<script>alert") {
		t.Errorf("spec URL not escaped:\n%s", rec.Body.String())
	}
}

func TestEmbeddedViewerIsLicensed(t *testing.T) {
	names := strings.Join(Assets(), " ")
	for _, want := range []string{"swagger-ui/LICENSE", "swagger-ui/NOTICE", "swagger-ui/VERSION", "swagger-ui/swagger-ui-bundle.js"} {
		if !strings.Contains(names, want) {
			t.Errorf("assets lack %s: %s", want, names)
		}
	}
	v, err := os.ReadFile("assets/swagger-ui/VERSION")
	if err != nil || !strings.Contains(string(v), "license Apache-2.0") {
		t.Errorf("VERSION = %q, %v", v, err)
	}
}

// TestRendersInChromium loads /docs in headless Chromium and checks that
// Swagger UI rendered the sample document's operations: the page, its
// assets and the CSP work together without internet access.
func TestRendersInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	chromium := peers.Require(t, "chromium", "chromium")
	srv := server(t, "openapi.json")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--enable-logging=stderr", "--v=0", "--user-data-dir="+t.TempDir(), "--virtual-time-budget=10000", "--dump-dom", srv.URL+"/docs")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	var missing []string
	for _, want := range []string{"sipphone test API", "Ring the phone", "Status of every line", "/ring", "opblock"} {
		if !bytes.Contains(dom, []byte(want)) {
			missing = append(missing, want)
		}
	}
	if len(missing) > 0 {
		t.Errorf("rendered page lacks %q; page:\n%.3000s\nchromium:\n%.3000s", missing, dom, stderr.String())
	}
	if bytes.Contains(stderr.Bytes(), []byte("Content Security Policy")) {
		t.Errorf("CSP violations:\n%s", stderr.String())
	}
}
