package httprecv_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/gateway/httprecv"
)

// TestConsoleMountLeavesIndexUI: the console takes /ui and its own paths under it
// only, so that the bulk API still serves an index named ui (POST /ui/_bulk).
func TestConsoleMountLeavesIndexUI(t *testing.T) {
	h := newHarness(t, gateway.DefaultConfig(), true, 0)
	b := testBulk()
	console := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h.srv = httptest.NewServer(receiver(t, h.gw, httprecv.Options{Bulk: &b, Console: console}))
	t.Cleanup(h.srv.Close)
	for _, path := range []string{"/ui", "/ui/", "/ui/api/flow", "/ui/assets/x/console.js"} {
		if r := h.do(t, http.MethodGet, path, nil); r.status != http.StatusTeapot {
			t.Errorf("GET %s: %d, want the console's", path, r.status)
		}
	}
	r := h.do(t, http.MethodPost, "/ui/_bulk", []byte("{\"create\":{}}\n{\"message\":\"m\",\"event\":{\"dataset\":\"fw\"}}\n"), "Content-Type", "application/x-ndjson")
	if r.status != http.StatusOK {
		t.Errorf("POST /ui/_bulk: %d %s, want the bulk API's answer", r.status, r.raw)
	}
}
