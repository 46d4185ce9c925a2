package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"net/http"
	"path"
	"strings"
)

// The page and its assets, embedded: no framework, no charting library, nothing from
// a CDN (the charts are SVG drawn by console.js).
//
//go:embed ui/index.html ui/console.js ui/console.css
var files embed.FS

// assets are the console's embedded files: the page, made once with the assets'
// version in their URLs, and the assets, served as immutable under that version.
type assets struct {
	version  string
	pageHTML []byte
	files    map[string][]byte
}

// assetTypes are the assets' content types, by extension.
var assetTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
}

func loadAssets() (*assets, error) {
	a := &assets{files: map[string][]byte{}}
	h := sha256.New()
	for _, name := range []string{"console.js", "console.css"} {
		data, err := files.ReadFile("ui/" + name)
		if err != nil {
			return nil, fmt.Errorf("console asset %s: %w", name, err)
		}
		a.files[name] = data
		h.Write(data)
	}
	a.version = hex.EncodeToString(h.Sum(nil))[:16]
	src, err := files.ReadFile("ui/index.html")
	if err != nil {
		return nil, fmt.Errorf("console page: %w", err)
	}
	tmpl, err := template.New("index.html").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("console page: %w", err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, map[string]string{"Assets": Path + "/assets/" + a.version}); err != nil {
		return nil, fmt.Errorf("console page: %w", err)
	}
	a.pageHTML = b.Bytes()
	return a, nil
}

// page serves the console's page.
func (a *assets) page(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(a.pageHTML)
}

// serve serves an asset of the current version (an old version's URL is not found,
// so that a page of an older binary reloads rather than mixing versions).
func (a *assets) serve(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	data, ok := a.files[name]
	if !ok || r.PathValue("version") != a.version || strings.Contains(name, "/") {
		writeError(w, http.StatusNotFound, "not_found", "no console asset "+r.URL.Path)
		return
	}
	w.Header().Set("Content-Type", assetTypes[path.Ext(name)])
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	_, _ = w.Write(data)
}
