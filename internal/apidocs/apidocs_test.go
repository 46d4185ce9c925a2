package apidocs_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/sluice-siem/sluice/internal/apidocs"
)

// server mounts the handler as the HTTP receiver does: at /docs and under it, next to
// the document it renders.
func server(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	docs := apidocs.Handler("/openapi.json")
	mux.Handle(apidocs.Path, docs)
	mux.Handle(apidocs.Path+"/", docs)
	mux.HandleFunc("/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"openapi":"3.1.0","info":{"title":"t","version":"v1"},"paths":{}}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

type answer struct {
	code int
	hdr  http.Header
	body []byte
}

func get(t *testing.T, url string, header ...string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	// A transport of its own: the default one asks for gzip and decodes it unseen.
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, body}
}

// references returns the src and href attributes of the page's elements, and the
// spec URL it hands to its script.
func references(t *testing.T, page []byte) (refs []string, specURL string) {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		for _, a := range n.Attr {
			switch a.Key {
			case "src", "href":
				refs = append(refs, a.Val)
			case "data-spec-url":
				specURL = a.Val
			}
		}
		if n.Data == "script" && n.FirstChild != nil {
			t.Errorf("inline script %q: the policy refuses it", n.FirstChild.Data)
		}
		if n.Data == "style" || slices.ContainsFunc(n.Attr, func(a html.Attribute) bool { return a.Key == "style" || strings.HasPrefix(a.Key, "on") }) {
			t.Errorf("inline style or handler in <%s>: the policy refuses it", n.Data)
		}
	}
	return refs, specURL
}

// TestPage: /docs is HTML under the strict policy, and references the embedded
// stylesheet, bundle and init script on this origin, each served with its type and as
// immutable.
func TestPage(t *testing.T) {
	srv := server(t)
	a := get(t, srv.URL+"/docs")
	if a.code != http.StatusOK || a.hdr.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /docs: %d %s", a.code, a.hdr.Get("Content-Type"))
	}
	csp := a.hdr.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self';", "style-src 'self';", "connect-src 'self';", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("Content-Security-Policy %q allows something unsafe", csp)
	}
	if a.hdr.Get("Cache-Control") != "no-cache" || a.hdr.Get("ETag") == "" || a.hdr.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("page headers: %v", a.hdr)
	}

	refs, specURL := references(t, a.body)
	if specURL != "/openapi.json" {
		t.Errorf("the page renders %q, want /openapi.json", specURL)
	}
	wantTypes := map[string]string{
		"swaggerui/swagger-ui-bundle.js": "text/javascript; charset=utf-8",
		"swaggerui/swagger-ui.css":       "text/css; charset=utf-8",
		"page/docs.js":                   "text/javascript; charset=utf-8",
	}
	assetRef := regexp.MustCompile(`^/docs/assets/[0-9a-f]{12}/(.+)$`)
	for _, ref := range refs {
		if ref == "data:," || ref == specURL { // no favicon request; the <noscript> link
			continue
		}
		m := assetRef.FindStringSubmatch(ref)
		if m == nil {
			t.Errorf("the page references %q, not an embedded asset", ref)
			continue
		}
		want, ok := wantTypes[m[1]]
		if !ok {
			t.Errorf("the page references %q, which it should not need", ref)
			continue
		}
		delete(wantTypes, m[1])
		a := get(t, srv.URL+ref)
		if a.code != http.StatusOK || a.hdr.Get("Content-Type") != want || len(a.body) == 0 {
			t.Errorf("GET %s: %d %q, %d bytes; want 200 %q", ref, a.code, a.hdr.Get("Content-Type"), len(a.body), want)
		}
		if cc := a.hdr.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" || a.hdr.Get("ETag") == "" {
			t.Errorf("GET %s: Cache-Control %q, ETag %q", ref, cc, a.hdr.Get("ETag"))
		}
		if a.hdr.Get("Content-Security-Policy") != csp || a.hdr.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: headers %v", ref, a.hdr)
		}
	}
	for name := range wantTypes {
		t.Errorf("the page does not load %s", name)
	}
}

// assetBase is the versioned asset directory the page uses.
func assetBase(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	m := regexp.MustCompile(`/docs/assets/[0-9a-f]{12}/`).Find(get(t, srv.URL+"/docs").body)
	if m == nil {
		t.Fatal("no asset reference in the page")
	}
	return string(m)
}

// TestVendoredFiles: every file swaggerui/update.sh copies is embedded and served (the
// license texts as plain text), and the bundle is the version update.sh pins.
func TestVendoredFiles(t *testing.T) {
	script, err := os.ReadFile("swaggerui/update.sh")
	if err != nil {
		t.Fatal(err)
	}
	version := regexp.MustCompile(`(?m)^version=(\S+)$`).FindSubmatch(script)
	list := regexp.MustCompile(`(?m)^files=\(([^)]*)\)$`).FindSubmatch(script)
	if version == nil || list == nil {
		t.Fatal("no version= or files=(...) line in swaggerui/update.sh")
	}
	srv := server(t)
	base := assetBase(t, srv)
	for _, name := range strings.Fields(string(list[1])) {
		onDisk, err := os.ReadFile("swaggerui/" + name)
		if err != nil {
			t.Fatal(err)
		}
		a := get(t, srv.URL+base+"swaggerui/"+name)
		if a.code != http.StatusOK || !bytes.Equal(a.body, onDisk) {
			t.Errorf("GET %s: %d, %d bytes, the file has %d", name, a.code, len(a.body), len(onDisk))
		}
		if (name == "LICENSE" || name == "NOTICE" || strings.HasSuffix(name, ".txt")) && a.hdr.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q", name, a.hdr.Get("Content-Type"))
		}
	}
	bundle, err := os.ReadFile("swaggerui/swagger-ui-bundle.js")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(bundle, []byte(`PACKAGE_VERSION:"`+string(version[1])+`"`)) {
		t.Errorf("swaggerui/swagger-ui-bundle.js is not version %s: run swaggerui/update.sh", version[1])
	}
}

// TestNotFound: unknown assets, an asset of another version, the page template and
// paths that climb out answer 404.
func TestNotFound(t *testing.T) {
	srv := server(t)
	base := assetBase(t, srv)
	for _, p := range []string{
		base + "swaggerui/nope.js",
		base + "page/docs.html",
		base + "swaggerui/update.sh",
		base + "swaggerui/README.md",
		base + "swaggerui/",
		base + "../../apidocs.go",
		base + "%2e%2e/page/docs.js",
		"/docs/assets/000000000000/page/docs.js",
		"/docs/assets/page/docs.js",
		"/docs/assets/",
		"/docs/other",
	} {
		if a := get(t, srv.URL+p); a.code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, a.code)
		}
	}
	if a := get(t, srv.URL+base+"page/docs.js"); a.code != http.StatusOK {
		t.Errorf("GET %spage/docs.js: %d", base, a.code)
	}
}

// TestConditionalAndCompressed: a cached copy is revalidated with 304, and the bundle
// comes compressed to a client that asks for gzip, with an ETag of its own.
func TestConditionalAndCompressed(t *testing.T) {
	srv := server(t)
	page := get(t, srv.URL+"/docs")
	if a := get(t, srv.URL+"/docs", "If-None-Match", page.hdr.Get("ETag")); a.code != http.StatusNotModified {
		t.Errorf("GET /docs with its ETag: %d, want 304", a.code)
	}
	bundle := assetBase(t, srv) + "swaggerui/swagger-ui-bundle.js"
	plain := get(t, srv.URL+bundle)
	z := get(t, srv.URL+bundle, "Accept-Encoding", "br, gzip;q=0.8")
	if z.code != http.StatusOK || z.hdr.Get("Content-Encoding") != "gzip" || z.hdr.Get("Vary") != "Accept-Encoding" ||
		z.hdr.Get("ETag") == plain.hdr.Get("ETag") || len(z.body) >= len(plain.body)/2 {
		t.Fatalf("gzip: %d %v, %d bytes of %d", z.code, z.hdr, len(z.body), len(plain.body))
	}
	zr, err := gzip.NewReader(bytes.NewReader(z.body))
	if err != nil {
		t.Fatal(err)
	}
	if unzipped, err := io.ReadAll(zr); err != nil || !bytes.Equal(unzipped, plain.body) {
		t.Errorf("the gzipped bundle does not decompress to the bundle: %v", err)
	}
	if a := get(t, srv.URL+bundle, "Accept-Encoding", "gzip;q=0"); a.hdr.Get("Content-Encoding") != "" {
		t.Errorf("gzip;q=0 got Content-Encoding %q", a.hdr.Get("Content-Encoding"))
	}
	if a := get(t, srv.URL+bundle, "Accept-Encoding", "gzip", "If-None-Match", z.hdr.Get("ETag")); a.code != http.StatusNotModified {
		t.Errorf("the gzipped bundle with its ETag: %d, want 304", a.code)
	}
}

// TestMethodsAndRedirect: only GET and HEAD; /docs/ leads to /docs.
func TestMethodsAndRedirect(t *testing.T) {
	srv := server(t)
	resp, err := http.Post(srv.URL+"/docs", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /docs: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	resp, err = http.Head(srv.URL + "/docs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("HEAD /docs: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp, err = http.Get(srv.URL + "/docs/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/docs" {
		t.Errorf("GET /docs/: %d at %s", resp.StatusCode, resp.Request.URL.Path)
	}
}

// TestSpecURLEscaped: the document's URL lands in an attribute, escaped.
func TestSpecURLEscaped(t *testing.T) {
	srv := httptest.NewServer(apidocs.Handler(`/x"><script>alert(1)</script>`))
	defer srv.Close()
	a := get(t, srv.URL+"/docs")
	if bytes.Contains(a.body, []byte("<script>alert")) {
		t.Fatalf("the spec URL is not escaped:\n%s", a.body)
	}
	if _, specURL := references(t, a.body); !strings.HasPrefix(specURL, "/x") || strings.ContainsAny(specURL, `"<>`) {
		t.Errorf("data-spec-url is %q", specURL)
	}
	srv2 := httptest.NewServer(apidocs.Handler(`javascript:alert(1)`))
	defer srv2.Close()
	if _, specURL := references(t, get(t, srv2.URL+"/docs").body); strings.HasPrefix(specURL, "javascript:") {
		t.Errorf("data-spec-url is %q", specURL)
	}
}
