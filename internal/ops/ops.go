// Package ops is what operators and orchestrators ask of every role (dev, gateway,
// transform) on its HTTP address: GET /healthz (alive), GET /readyz (200 until the
// process begins to shut down, then 503 "draining", so that load balancers stop
// sending first) and GET /metrics (Prometheus text). Every role serves these three
// paths with this one handler, so they answer alike. It is shared plumbing of
// cmd/sluice and the HTTP receiver, no step of the data path.
package ops

import (
	"fmt"
	"net/http"
)

// Handler serves /healthz, /readyz and /metrics; other paths are not found. Mount it on
// each of Paths, or serve it alone.
type Handler struct {
	ready   func() bool
	metrics http.Handler
}

// New returns the handler. ready reports whether the process takes traffic; metrics
// serves /metrics (nil: /metrics is not found).
func New(ready func() bool, metrics http.Handler) *Handler {
	return &Handler{ready: ready, metrics: metrics}
}

// Paths returns the paths the handler serves.
func (h *Handler) Paths() []string { return []string{"/healthz", "/readyz", "/metrics"} }

// ServeHTTP answers GET and HEAD on the three paths with a JSON status ({"status":
// "ok"}, "ready" or "draining") or the metrics, other methods with 405.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/healthz", "/readyz", "/metrics":
	default:
		writeStatus(w, http.StatusNotFound, "not found")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeStatus(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	switch r.URL.Path {
	case "/healthz":
		writeStatus(w, http.StatusOK, "ok")
	case "/readyz":
		if !h.ready() {
			writeStatus(w, http.StatusServiceUnavailable, "draining")
			return
		}
		writeStatus(w, http.StatusOK, "ready")
	case "/metrics":
		if h.metrics == nil {
			writeStatus(w, http.StatusNotFound, "no metrics")
			return
		}
		h.metrics.ServeHTTP(w, r)
	}
}

// writeStatus writes {"status":status} with code.
func writeStatus(w http.ResponseWriter, code int, status string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = fmt.Fprintf(w, "{\"status\":%q}\n", status)
}
