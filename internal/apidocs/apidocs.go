// Package apidocs serves the API reference page of the HTTP port: GET /docs renders the
// OpenAPI document that sluice serves (at /openapi.json) with Swagger UI, which reads
// Swagger 2.0 and OpenAPI 3.0 and 3.1 documents and can send a request from the page
// ("Try it out").
//
// Swagger UI is vendored under swaggerui/ (the npm package swagger-ui-dist at the
// version pinned in swaggerui/update.sh, with its license) and embedded in the binary
// with the page's own HTML and init script (page/): the page loads nothing from
// anywhere but the origin that served it.
//
// The page runs under a strict Content-Security-Policy: scripts, styles and requests
// from the same origin only, no inline script and no eval. So "Try it out" always goes
// to the sluice that serves the page: the init script replaces the document's servers
// (OpenAPI 3) or host (Swagger 2.0) with the page's origin before rendering. Assets are served under
// /docs/assets/{version}/, where version is a digest of every embedded asset, so they are
// cached as immutable and a new binary's page never meets an old asset; the page itself
// is revalidated with its ETag.
package apidocs

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Path is where the page is served; its assets are under Path + "/assets/".
const Path = "/docs"

// CSP is the Content-Security-Policy of every answer of the handler. Swagger UI's
// stylesheet draws its icons as data: images; its requests (the document, "Try it out")
// go to the page's origin.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// The embedded files: the page's own (page/) and Swagger UI's (swaggerui/, the files
// swaggerui/update.sh copies). Keep the two lists the same.
//
//go:embed page/docs.html page/docs.js
//go:embed swaggerui/swagger-ui-bundle.js swaggerui/swagger-ui.css
//go:embed swaggerui/swagger-ui-bundle.js.LICENSE.txt swaggerui/LICENSE swaggerui/NOTICE
var files embed.FS

// pageTemplate is the embedded file the page is made from; every other embedded file
// is an asset.
const pageTemplate = "page/docs.html"

// contentTypes are the types of the assets, by extension ("" for LICENSE and NOTICE).
var contentTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".txt": "text/plain; charset=utf-8",
	"":     "text/plain; charset=utf-8",
}

// gzipMin is the smallest asset worth compressing.
const gzipMin = 1024

// Handler returns the handler of the page, GET Path, and of its assets, GET Path +
// "/assets/{version}/{file}". specURL is the OpenAPI document the page renders, a path
// on the same origin (such as /openapi.json): the page's policy lets it fetch nothing
// else. Mount the handler at Path and at every path under it; it answers 404 for a path
// it does not serve and 405 for a method other than GET and HEAD.
//
// Building the handler reads only embedded files: it panics only if they are broken,
// which the package's tests rule out.
func Handler(specURL string) http.Handler {
	h := &handler{assets: map[string]*asset{}}
	all := sha256.New()
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || name == pageTemplate {
			return err
		}
		body, err := files.ReadFile(name)
		if err != nil {
			return err
		}
		ct, ok := contentTypes[path.Ext(name)]
		if !ok {
			ct = "application/octet-stream"
		}
		h.assets[name] = &asset{contentType: ct, body: body, etag: etagOf(body)}
		all.Write([]byte(name))
		all.Write([]byte{0})
		all.Write(body)
		return nil
	})
	if err != nil {
		panic("apidocs: embedded assets: " + err.Error())
	}
	h.version = hex.EncodeToString(all.Sum(nil))[:12]
	tmpl := template.Must(template.ParseFS(files, pageTemplate))
	var page bytes.Buffer
	err = tmpl.Execute(&page, struct{ Assets, SpecURL string }{Path + "/assets/" + h.version, specURL})
	if err != nil {
		panic("apidocs: page: " + err.Error())
	}
	h.page = page.Bytes()
	h.pageETag = etagOf(h.page)
	return h
}

type handler struct {
	page     []byte
	pageETag string
	version  string
	// assets by embedded name, such as swaggerui/swagger-ui.css.
	assets map[string]*asset
}

type asset struct {
	contentType string
	body        []byte
	etag        string

	gzipOnce sync.Once
	gzipped  []byte // nil when compressing does not pay
}

// gzip returns the asset compressed, made on first use, or nil when it is not worth it.
func (a *asset) gzip() []byte {
	a.gzipOnce.Do(func() {
		if len(a.body) < gzipMin {
			return
		}
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression) // a valid level: no error
		_, _ = zw.Write(a.body)                                // a bytes.Buffer does not fail
		_ = zw.Close()
		if b.Len() < len(a.body)*9/10 {
			a.gzipped = b.Bytes()
		}
	})
	return a.gzipped
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", CSP)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, r.Method+" is not allowed on "+r.URL.Path, http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	switch {
	case p == Path:
		hdr.Set("Content-Type", "text/html; charset=utf-8")
		hdr.Set("Cache-Control", "no-cache")
		hdr.Set("ETag", h.pageETag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(h.page))
	case p == Path+"/":
		http.Redirect(w, r, Path, http.StatusMovedPermanently)
	case strings.HasPrefix(p, Path+"/assets/"):
		h.serveAsset(w, r, strings.TrimPrefix(p, Path+"/assets/"))
	default:
		http.NotFound(w, r)
	}
}

// serveAsset serves {version}/{name}: only the current version, so that an immutable
// answer is never the wrong file.
func (h *handler) serveAsset(w http.ResponseWriter, r *http.Request, rest string) {
	version, name, _ := strings.Cut(rest, "/")
	a := h.assets[name]
	if version != h.version || a == nil {
		http.NotFound(w, r)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	hdr.Add("Vary", "Accept-Encoding")
	body, etag := a.body, a.etag
	if acceptsGzip(r.Header.Values("Accept-Encoding")) {
		if z := a.gzip(); z != nil {
			body, etag = z, strings.TrimSuffix(a.etag, `"`)+`-gzip"`
			hdr.Set("Content-Encoding", "gzip")
		}
	}
	hdr.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// etagOf is a strong ETag of a body.
func etagOf(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}

// acceptsGzip reports whether Accept-Encoding values list gzip with a weight above zero.
func acceptsGzip(values []string) bool {
	for _, v := range values {
		for item := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(item, ";")
			if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
				continue
			}
			for param := range strings.SplitSeq(params, ";") {
				k, q, ok := strings.Cut(param, "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(q), 64); err == nil && f <= 0 {
						return false
					}
				}
			}
			return true
		}
	}
	return false
}
