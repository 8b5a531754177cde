// Package webdocs serves the interactive API documentation at /docs: a
// Swagger UI page (the viewer FastAPI serves at /docs) for the server's
// OpenAPI document, with every asset embedded in the binary so it works
// without internet access.
//
// The viewer is swagger-ui-dist (Apache-2.0), stored gzipped under
// assets/swagger-ui/ with its LICENSE, NOTICE and the version it came from;
// scripts/update-webdocs.sh refreshes it from the npm registry.
package webdocs

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
)

//go:embed index.html
var indexHTML string

//go:embed assets
var assetFS embed.FS

// Prefix is where the page is served; assets are under Prefix + "/assets/".
const Prefix = "/docs"

// csp allows only the page's own assets: Swagger UI needs inline styles
// and data: images, and fetches the document and "try it out" requests
// from the same origin.
const csp = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"

var page = template.Must(template.New("docs").Parse(indexHTML))

// asset is one embedded file, gzipped or not.
type asset struct {
	body        []byte // as stored
	gzipped     bool   // body is gzip data of the served content
	contentType string
	etag        string

	plainOnce sync.Once
	plain     []byte // body decompressed, for clients without gzip
	plainErr  error
}

// Handler returns the handler of GET /docs and GET /docs/assets/...; mount
// it at both "/docs" and "/docs/" of a ServeMux. specURL is the address of
// the OpenAPI document the page loads, relative to /docs ("openapi.json",
// which also works behind a path-prefixing proxy) or absolute
// ("/openapi.json").
func Handler(specURL string) http.Handler {
	var buf bytes.Buffer
	if err := page.Execute(&buf, struct{ Title, SpecURL string }{"sipphone API documentation", specURL}); err != nil {
		panic(fmt.Sprintf("webdocs: page template: %v", err)) // the template is embedded: a build-time bug
	}
	html := &asset{body: buf.Bytes(), contentType: "text/html; charset=utf-8", etag: etag(buf.Bytes())}
	assets := loadAssets()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		switch p := r.URL.Path; {
		case p == Prefix:
			w.Header().Set("Content-Security-Policy", csp)
			serve(w, r, html)
		case p == Prefix+"/":
			// Relative, so it also works behind a path-prefixing proxy
			// (http.Redirect would make it absolute).
			w.Header().Set("Location", "../docs")
			w.WriteHeader(http.StatusMovedPermanently)
		default:
			name, ok := strings.CutPrefix(p, Prefix+"/assets/")
			a := assets[name]
			if !ok || a == nil {
				http.NotFound(w, r)
				return
			}
			serve(w, r, a)
		}
	})
}

// Assets returns the names of the served assets, relative to
// /docs/assets/ (for tests and listings).
func Assets() []string {
	var names []string
	for n := range loadAssets() {
		names = append(names, n)
	}
	return names
}

var (
	assetsOnce sync.Once
	assetMap   map[string]*asset
)

// loadAssets indexes the embedded files once. A stored "x.js.gz" is served
// as "x.js".
func loadAssets() map[string]*asset {
	assetsOnce.Do(func() {
		assetMap = map[string]*asset{}
		sub, _ := fs.Sub(assetFS, "assets")
		fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			body, err := fs.ReadFile(sub, p)
			if err != nil {
				return err
			}
			name, gz := strings.CutSuffix(p, ".gz")
			assetMap[name] = &asset{body: body, gzipped: gz, contentType: contentType(name), etag: etag(body)}
			return nil
		})
	})
	return assetMap
}

// contentType returns the type of an asset from its extension; files
// without one (LICENSE, NOTICE, VERSION) are text.
func contentType(name string) string {
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "text/plain; charset=utf-8"
}

// etag is a weak validator: the gzipped and the plain form of an asset
// share it, being the same content.
func etag(b []byte) string {
	sum := sha256.Sum256(b)
	return `W/"` + hex.EncodeToString(sum[:12]) + `"`
}

// serve writes a, gzipped when it is stored so and the client accepts it.
// Assets change only with the binary, so clients revalidate by ETag.
func serve(w http.ResponseWriter, r *http.Request, a *asset) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	if a.gzipped {
		h.Add("Vary", "Accept-Encoding")
	}
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, strings.TrimPrefix(a.etag, "W/")) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if a.gzipped {
		if acceptsGzip(r) {
			h.Set("Content-Encoding", "gzip")
		} else {
			plain, err := a.decompressed()
			if err != nil {
				http.Error(w, "corrupt embedded asset", http.StatusInternalServerError)
				return
			}
			body = plain
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

func (a *asset) decompressed() ([]byte, error) {
	a.plainOnce.Do(func() {
		zr, err := gzip.NewReader(bytes.NewReader(a.body))
		if err != nil {
			a.plainErr = err
			return
		}
		a.plain, a.plainErr = io.ReadAll(zr)
	})
	return a.plain, a.plainErr
}

// acceptsGzip reports whether the request's Accept-Encoding allows gzip
// (a q=0 refuses it).
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") && strings.TrimSpace(coding) != "*" {
			continue
		}
		q := strings.ReplaceAll(params, " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}
