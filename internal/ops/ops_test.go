package ops_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/sluice-siem/sluice/internal/ops"
)

func TestHandler(t *testing.T) {
	var ready atomic.Bool
	ready.Store(true)
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "sluice_up 1\n")
	})
	h := ops.New(ready.Load, metrics)
	do := func(method, path string) (int, string, http.Header) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return rec.Code, rec.Body.String(), rec.Header()
	}
	for _, c := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/healthz", 200, `{"status":"ok"}` + "\n"},
		{"GET", "/readyz", 200, `{"status":"ready"}` + "\n"},
		{"GET", "/metrics", 200, "sluice_up 1\n"},
		{"HEAD", "/readyz", 200, `{"status":"ready"}` + "\n"},
		{"POST", "/healthz", 405, `{"status":"method not allowed"}` + "\n"},
		{"GET", "/other", 404, `{"status":"not found"}` + "\n"},
	} {
		code, body, _ := do(c.method, c.path)
		if code != c.code || body != c.body {
			t.Errorf("%s %s: %d %q, want %d %q", c.method, c.path, code, body, c.code, c.body)
		}
	}
	if _, _, hdr := do("POST", "/readyz"); hdr.Get("Allow") != "GET, HEAD" {
		t.Errorf("405 without Allow: %v", hdr)
	}
	ready.Store(false)
	if code, body, hdr := do("GET", "/readyz"); code != 503 || body != `{"status":"draining"}`+"\n" || hdr.Get("Content-Type") != "application/json" {
		t.Errorf("readyz while draining: %d %q %v", code, body, hdr)
	}
	if code, _, _ := do("GET", "/healthz"); code != 200 {
		t.Errorf("healthz while draining: %d", code)
	}
	if code, _, _ := do("GET", "/metrics"); code != 200 {
		t.Errorf("metrics while draining: %d", code)
	}
	rec := httptest.NewRecorder()
	ops.New(ready.Load, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 404 {
		t.Errorf("metrics without a handler: %d", rec.Code)
	}
}
