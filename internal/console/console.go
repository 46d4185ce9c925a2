// Package console is the operator's console of every role, served under /ui on the
// HTTP port: a small web app embedded in the binary (ui/, no framework, nothing loaded
// from anywhere but the serving origin) over a JSON API under /ui/api/, which
// `sluice top` and `sluice tap` read too:
//
//   - GET /ui/api/flow: events in and out per log type and receiver, failures, the
//     acknowledgement latency, the stream's backlog and the iterator age per shard,
//     sampled from the process's own metrics over the last window (Flow);
//   - GET /ui/api/failures: the latest parse failures and dead letters with their raw
//     events, and a count per class (Failures);
//   - GET /ui/api/tap: a live, rate-limited sample of the events at a point of the
//     data path, as NDJSON (Tap);
//   - GET /ui/api/pipelines and POST /ui/api/playground: pasted lines run through a
//     pipeline, each processor's work and time explained (Playground).
//
// The data path reports to the console through small interfaces of its own (the
// gateway's and the transformer's watchers): a Tap no one watches costs an atomic
// load per batch and point, and Failures are recorded only when an event fails. It is shared
// plumbing below the data path, no step of it.
package console

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options are the console's parts and settings.
type Options struct {
	// Role and Version are shown in the header.
	Role, Version string
	// Authorize decides whether a request may read the API (nil: anyone may). Its
	// error is the answer's message (401).
	Authorize func(r *http.Request) error
	// Tap, Failures and Flow are the console's data; a nil part is served empty.
	Tap      *Tap
	Failures *Failures
	Flow     *Flow
	// Playground runs pipelines (nil: the role runs none; the API answers 404).
	Playground Playground
	// Points are the tap's points this process has (the gateway's received, the
	// transformer's transformed and indexed); nil: all of Points.
	Points []string
	// TapRate is the most samples a second one tap subscription gets (the rate a
	// client asks is capped to it); 0: DefaultTapRate.
	TapRate float64
	// MaxTapDuration ends a tap stream after this long (0: DefaultMaxTapDuration);
	// clients reconnect.
	MaxTapDuration time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// Defaults of Options.
const (
	DefaultTapRate        = 50
	DefaultMaxTapDuration = time.Hour
	// maxTapSubscriptions bounds the tap streams open at once.
	maxTapSubscriptions = 16
)

// Handler serves the console: the page and its assets under Path, the API under
// Path + "/api/".
type Handler struct {
	opts  Options
	mux   *http.ServeMux
	runs  chan struct{} // playground runs in progress
	taps  chan struct{} // tap streams open
	asset *assets
	// closing is closed by CloseStreams: the tap streams end.
	closing   chan struct{}
	closeOnce sync.Once
}

// CloseStreams ends the tap streams open now and refuses new ones: the process is
// shutting down, and its HTTP server waits for the requests in progress, which a
// stream never finishes by itself.
func (h *Handler) CloseStreams() {
	h.closeOnce.Do(func() { close(h.closing) })
}

// Path is where the console is served.
const Path = "/ui"

// New returns the console's handler.
func New(opts Options) (*Handler, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.TapRate <= 0 {
		opts.TapRate = DefaultTapRate
	}
	if opts.MaxTapDuration <= 0 {
		opts.MaxTapDuration = DefaultMaxTapDuration
	}
	a, err := loadAssets()
	if err != nil {
		return nil, err
	}
	h := &Handler{opts: opts, mux: http.NewServeMux(), runs: make(chan struct{}, maxPlaygroundRuns), taps: make(chan struct{}, maxTapSubscriptions), asset: a,
		closing: make(chan struct{})}
	h.mux.HandleFunc("GET "+Path, a.page)
	h.mux.HandleFunc("GET "+Path+"/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Path, http.StatusMovedPermanently)
	})
	h.mux.HandleFunc("GET "+Path+"/assets/{version}/{name}", a.serve)
	h.mux.Handle("GET "+Path+"/api/info", h.api(h.info))
	h.mux.Handle("GET "+Path+"/api/flow", h.api(h.flow))
	h.mux.Handle("GET "+Path+"/api/failures", h.api(h.failures))
	h.mux.Handle("GET "+Path+"/api/tap", h.api(h.tap))
	h.mux.Handle("GET "+Path+"/api/pipelines", h.api(h.pipelines))
	h.mux.Handle("POST "+Path+"/api/playground", h.api(h.playground))
	return h, nil
}

// ServeHTTP serves the console's paths; others are not found.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", CSP)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if _, pattern := h.mux.Handler(r); pattern == "" {
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost} {
			if _, p := h.mux.Handler(withMethod(r, m)); p != "" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("%s is not allowed on %s: use %s", r.Method, r.URL.Path, strings.Join(allow, " or ")))
			return
		}
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no console route %s %s", r.Method, r.URL.Path))
		return
	}
	h.mux.ServeHTTP(w, r) // sets the path values the handlers read
}

// withMethod returns a shallow copy of r with another method, to ask the mux what
// other methods a path has.
func withMethod(r *http.Request, method string) *http.Request {
	c := *r
	c.Method = method
	return &c
}

// CSP is the Content-Security-Policy of every answer: the page loads and asks nothing
// but its own origin, runs no inline script and no eval.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// api wraps an API endpoint: the caller must be authorized.
func (h *Handler) api(fn func(w http.ResponseWriter, r *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if h.opts.Authorize != nil {
			if err := h.opts.Authorize(r); err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="sluice console"`)
				writeError(w, http.StatusUnauthorized, "unauthenticated", err.Error())
				return
			}
		}
		fn(w, r)
	})
}

// Info is what GET /ui/api/info answers: what this process's console offers.
type Info struct {
	Role       string   `json:"role"`
	Version    string   `json:"version"`
	Points     []string `json:"points"`
	Playground bool     `json:"playground"`
	TapRate    float64  `json:"tap_rate"`
}

func (h *Handler) info(w http.ResponseWriter, _ *http.Request) {
	points := h.opts.Points
	if points == nil {
		points = Points
	}
	writeJSON(w, Info{Role: h.opts.Role, Version: h.opts.Version, Points: points, Playground: h.opts.Playground != nil, TapRate: h.opts.TapRate})
}

func (h *Handler) flow(w http.ResponseWriter, _ *http.Request) {
	if h.opts.Flow == nil {
		writeJSON(w, FlowView{Times: []time.Time{}, Series: []SeriesView{}})
		return
	}
	writeJSON(w, h.opts.Flow.View())
}

func (h *Handler) failures(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r, "limit", 0, 0, 10000)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid", err.Error())
		return
	}
	if h.opts.Failures == nil {
		writeJSON(w, FailuresView{Latest: []Failure{}, Classes: []ClassCount{}})
		return
	}
	writeJSON(w, h.opts.Failures.View(r.URL.Query().Get("type"), limit))
}

// intParam reads an integer query parameter within [lo, hi] (def when absent).
func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s=%q: want an integer from %d to %d", name, s, lo, hi)
	}
	return n, nil
}

// tap streams samples as NDJSON until the client goes, the stream's time is up or
// the process stops serving.
func (h *Handler) tap(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	point := q.Get("point")
	if point == "" {
		point = PointReceived
	}
	rate := h.opts.TapRate
	if s := q.Get("rate"); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || !(v > 0) { // NaN is not a rate either
			writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("rate=%q: want a positive number of events a second", s))
			return
		}
		rate = min(v, h.opts.TapRate)
	}
	if h.opts.Tap == nil {
		writeError(w, http.StatusNotFound, "not_found", "this process has no tap")
		return
	}
	if h.opts.Points != nil && pointIndex(point) >= 0 && !slices.Contains(h.opts.Points, point) {
		writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("point %s: this process (%s) has only %s", point, h.opts.Role, strings.Join(h.opts.Points, ", ")))
		return
	}
	select {
	case <-h.closing:
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the process is shutting down")
		return
	default:
	}
	select {
	case h.taps <- struct{}{}:
		defer func() { <-h.taps }()
	default:
		writeError(w, http.StatusTooManyRequests, "overloaded", fmt.Sprintf("%d tap streams are open already: close one", maxTapSubscriptions))
		return
	}
	sub, err := h.opts.Tap.Subscribe(TapFilter{Point: point, Type: q.Get("type")}, rate, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid", err.Error())
		return
	}
	defer sub.Close()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.MaxTapDuration)
	defer cancel()
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.closing:
			return
		case s := <-sub.C:
			if err := enc.Encode(s); err != nil {
				return
			}
			// Whatever else is waiting goes in the same write.
			for more := true; more; {
				select {
				case s := <-sub.C:
					if err := enc.Encode(s); err != nil {
						return
					}
				default:
					more = false
				}
			}
			if bw.Flush() != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

func (h *Handler) pipelines(w http.ResponseWriter, _ *http.Request) {
	if h.opts.Playground == nil {
		writeJSON(w, []PipelineInfo{})
		return
	}
	writeJSON(w, h.opts.Playground.Pipelines())
}

func (h *Handler) playground(w http.ResponseWriter, r *http.Request) {
	if h.opts.Playground == nil {
		writeError(w, http.StatusNotFound, "not_found", "this process runs no pipelines (the gateway role): use the console of sluice transform or sluice dev")
		return
	}
	var req PlaygroundRequest
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPlaygroundBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("read the request: %v (at most %d bytes)", err, maxPlaygroundBody))
		return
	}
	if req, err = decodePlayground(body); err != nil {
		writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("request is not a playground request: %v", err))
		return
	}
	if err := checkPlayground(req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid", err.Error())
		return
	}
	select {
	case h.runs <- struct{}{}:
		defer func() { <-h.runs }()
	default:
		writeError(w, http.StatusTooManyRequests, "overloaded", "the playground is busy with other requests: try again")
		return
	}
	res, err := h.opts.Playground.Run(r.Context(), req)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, "invalid", err.Error())
		return
	}
	writeJSON(w, res)
}

// decodePlayground decodes a playground request as its schema says: pipeline and yaml
// strings, lines a list of strings (null is none of these).
func decodePlayground(body []byte) (PlaygroundRequest, error) {
	var raw struct {
		Pipeline, YAML json.RawMessage
		Lines          []json.RawMessage
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return PlaygroundRequest{}, err
	}
	var req PlaygroundRequest
	var errs []error
	str := func(name string, v json.RawMessage, dst *string) {
		if v == nil {
			return // absent
		}
		if string(v) == "null" || json.Unmarshal(v, dst) != nil {
			errs = append(errs, fmt.Errorf("%s: want a string", name))
		}
	}
	str("pipeline", raw.Pipeline, &req.Pipeline)
	str("yaml", raw.YAML, &req.YAML)
	req.Lines = make([]string, len(raw.Lines))
	for i, l := range raw.Lines {
		str(fmt.Sprintf("lines[%d]", i), l, &req.Lines[i])
	}
	if raw.Lines == nil {
		req.Lines = nil
	}
	return req, errors.Join(errs...)
}

// checkPlayground checks a request against the playground's limits.
func checkPlayground(req PlaygroundRequest) error {
	var errs []error
	if strings.TrimSpace(req.Pipeline) == "" {
		errs = append(errs, errors.New("pipeline: required (a pipeline's name, or the name to run yaml as)"))
	}
	if len(req.Lines) == 0 {
		errs = append(errs, errors.New("lines: give at least one line"))
	}
	if len(req.Lines) > MaxPlaygroundLines {
		errs = append(errs, fmt.Errorf("lines: %d lines, at most %d", len(req.Lines), MaxPlaygroundLines))
	}
	for i, l := range req.Lines {
		if len(l) > MaxPlaygroundLineBytes {
			errs = append(errs, fmt.Errorf("lines[%d]: %d bytes, at most %d", i, len(l), MaxPlaygroundLineBytes))
			break
		}
	}
	if len(req.YAML) > MaxPlaygroundYAMLBytes {
		errs = append(errs, fmt.Errorf("yaml: %d bytes, at most %d", len(req.YAML), MaxPlaygroundYAMLBytes))
	}
	return errors.Join(errs...)
}

// writeJSON answers 200 with v.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers with the error body every sluice HTTP API answers with.
func writeError(w http.ResponseWriter, code int, kind, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg, "kind": kind})
}
