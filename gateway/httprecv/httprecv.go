// Package httprecv is the HTTP receiver of the gateway (step receive of the data path):
// `POST /v1/events` takes NDJSON or a JSON array of event objects, optionally gzip or
// zstd compressed, and the router also serves the REST mapping of the gRPC API
// (`POST /v1/push`), the OpenAPI document, health, readiness and metrics. With
// Options.Bulk set it also speaks enough of the Elasticsearch API (`POST /_bulk` and
// what shippers call at start) for any shipper with an Elasticsearch output.
//
// The receiver only decodes and maps: every event goes through gateway.Ingest, and the
// error kinds map to HTTP statuses in one table (statusOf).
package httprecv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/internal/jsonx"
	"github.com/sluice-siem/sluice/internal/ops"
	"github.com/sluice-siem/sluice/internal/tracing"
	"github.com/sluice-siem/sluice/proto/sluice/v1/openapidoc"
)

// Ingester is what the receiver needs from the gateway core.
type Ingester interface {
	Ingest(ctx context.Context, b gateway.Batch) (gateway.Result, error)
	Authenticate(authorization string) (*gateway.Principal, error)
	Limits() gateway.Limits
	Ready() bool
	// ReserveBuffer and ReleaseBuffer take and give back room of the budget of request
	// bytes all receivers share (limits.max_buffered_bytes).
	ReserveBuffer(ctx context.Context, n int64) error
	ReleaseBuffer(n int64)
}

// Options are the other handlers the router serves next to /v1/events.
type Options struct {
	// Push serves POST /v1/push, the REST mapping of IngestService.Push.
	Push http.Handler
	// OTLPLogs serves POST /v1/logs, OTLP/HTTP logs (gateway/otlprecv), behind the
	// same API keys, with its body read within the same limits.
	OTLPLogs http.Handler
	// Metrics serves GET /metrics (see internal/ops).
	Metrics http.Handler
	// OpenAPI is the document (JSON) served at GET /openapi.json, and as YAML at GET
	// /openapi.yaml.
	OpenAPI []byte
	// Logger; nil discards.
	Logger *slog.Logger
	// Bulk, when set, serves the Elasticsearch-compatible API: POST /_bulk, POST
	// /{index}/_bulk, GET / and the start-up endpoints of shippers.
	Bulk *Bulk
	// Meter makes the receiver's instruments; nil means no metrics.
	Meter metric.Meter
	// Docs, when set, serves the API reference page at GET /docs and its assets under
	// /docs/ (internal/apidocs).
	Docs http.Handler
	// Console, when set, serves the console at /ui, /ui/, /ui/api/ and /ui/assets/
	// (internal/console), which checks its own callers.
	Console http.Handler
}

// Receiver is the HTTP receiver; it is an http.Handler.
type Receiver struct {
	ing     Ingester
	limits  gateway.Limits
	log     *slog.Logger
	router  chi.Router
	body    *bodyReader
	metrics metrics
}

// New returns the receiver's handler for all HTTP routes. It fails only if its metrics
// cannot be made.
func New(ing Ingester, opts Options) (*Receiver, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	rc := &Receiver{ing: ing, limits: ing.Limits(), log: opts.Logger}
	rc.body = newBodyReader(rc.limits, ing)
	var err error
	if rc.metrics, err = newMetrics(opts.Meter); err != nil {
		return nil, err
	}
	r := chi.NewRouter()
	r.Use(traceContext)
	// /healthz, /readyz and /metrics: the operations handler every role serves.
	opsHandler := ops.New(ing.Ready, opts.Metrics)
	for _, p := range opsHandler.Paths() {
		r.Handle(p, opsHandler)
	}
	if opts.OpenAPI != nil {
		doc := opts.OpenAPI
		yamlDoc, err := openapidoc.YAML(doc)
		if err != nil {
			return nil, fmt.Errorf("openapi document: %w", err)
		}
		r.Get("/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(doc)
		})
		r.Get("/openapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/yaml")
			_, _ = w.Write(yamlDoc)
		})
	}
	if opts.Docs != nil {
		r.Handle("/docs", opts.Docs)
		r.Handle("/docs/*", opts.Docs)
	}
	if opts.Console != nil {
		// Its own paths only: /ui/_bulk stays the bulk API of an index named ui.
		for _, p := range []string{"/ui", "/ui/", "/ui/api/*", "/ui/assets/*"} {
			r.Handle(p, opts.Console)
		}
	}
	r.Group(func(r chi.Router) {
		r.Use(rc.authenticate)
		r.Post("/v1/events", rc.events)
		if opts.Push != nil {
			r.With(rc.bufferBody).Method(http.MethodPost, "/v1/push", opts.Push)
		}
		if opts.OTLPLogs != nil {
			r.With(rc.bufferOTLP).Method(http.MethodPost, "/v1/logs", opts.OTLPLogs)
		}
	})
	if opts.Bulk != nil {
		rc.mountBulk(r, *opts.Bulk)
	}
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no route %s %s: see /openapi.json", r.Method, r.URL.Path), 0)
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
		allow := allowedMethods(r, req)
		if len(allow) == 0 { // a method chi does not know, on a path no route serves
			r.NotFoundHandler().ServeHTTP(w, req)
			return
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("%s is not allowed on %s: use %s", req.Method, req.URL.Path, strings.Join(allow, " or ")), 0)
	})
	rc.router = r
	return rc, nil
}

// routeMethods are the methods allowedMethods tries.
var routeMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodTrace, http.MethodConnect,
}

// allowedMethods returns the methods routes serves on the request's path, for the
// Allow header of a 405 (RFC 9110, section 15.5.6). It asks the router itself, so
// every route has it, those other files register included.
func allowedMethods(routes chi.Routes, req *http.Request) []string {
	path := req.URL.RawPath
	if path == "" {
		path = req.URL.Path
	}
	own := ownPath(routes, path)
	var allow []string
	for _, m := range routeMethods {
		rctx := chi.NewRouteContext()
		if !routes.Match(rctx, m, path) || (own && rctx.RoutePattern() == indexPattern) {
			continue
		}
		allow = append(allow, m)
	}
	return allow
}

// indexPattern is the route of the Elasticsearch API's index-level calls (HEAD and PUT
// /{index}). It would also take sluice's own one-segment paths (/openapi.json,
// /healthz, ...) for the methods those do not serve; ownPath tells them apart.
const indexPattern = "/{index}"

// ownPath reports whether a route other than indexPattern serves path, with any
// method: then the path is sluice's own, never an index name.
func ownPath(routes chi.Routes, path string) bool {
	for _, m := range routeMethods {
		rctx := chi.NewRouteContext()
		if routes.Match(rctx, m, path) && rctx.RoutePattern() != indexPattern {
			return true
		}
	}
	return false
}

// ServeHTTP routes a request.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) { rc.router.ServeHTTP(w, r) }

// authenticate checks the API key and passes the caller on in the request context.
// traceContext continues the client's W3C trace context (traceparent, tracestate),
// so that a batch's spans join the client's trace.
func traceContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("traceparent") != "" {
			r = r.WithContext(tracing.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header)))
		}
		next.ServeHTTP(w, r)
	})
}

func (rc *Receiver) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := rc.ing.Authenticate(r.Header.Get("Authorization"))
		if err != nil {
			rc.fail(w, err)
			return
		}
		if p != nil {
			r = r.WithContext(gateway.WithPrincipal(r.Context(), p))
		}
		next.ServeHTTP(w, r)
	})
}

// bufferBody reads the body within the same limits and decodings as /v1/events before
// handing the request on, so that the REST mapping is bounded and accepts gzip and
// zstd bodies too.
func (rc *Receiver) bufferBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkContentType(r.Header.Get("Content-Type"), jsonTypes, "application/json"); err != nil {
			rc.fail(w, err)
			return
		}
		body, err := rc.body.read(w, r)
		if err != nil {
			rc.fail(w, err)
			return
		}
		defer body.Release() // the REST mapping decodes the body into its own values
		r.Body = io.NopCloser(bytes.NewReader(body.bytes))
		r.ContentLength = int64(len(body.bytes))
		r.Header.Del("Content-Encoding")
		next.ServeHTTP(w, r)
	})
}

// otlpTypes are the content types of OTLP/HTTP.
var otlpTypes = map[string]bool{"application/x-protobuf": true, "application/json": true}

// bufferOTLP reads an OTLP/HTTP body within the limits and decodings of /v1/events
// (gzip, as OTLP clients send it) before handing the request on.
func (rc *Receiver) bufferOTLP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkContentType(r.Header.Get("Content-Type"), otlpTypes, "application/x-protobuf or application/json"); err != nil {
			rc.fail(w, err)
			return
		}
		body, err := rc.body.read(w, r)
		if err != nil {
			rc.fail(w, err)
			return
		}
		defer body.Release() // the handler decodes the body into its own values
		r.Body = io.NopCloser(bytes.NewReader(body.bytes))
		r.ContentLength = int64(len(body.bytes))
		r.Header.Del("Content-Encoding")
		next.ServeHTTP(w, r)
	})
}

// Response is the body of a /v1/events answer that reached the stream.
type Response struct {
	// Accepted events are durable in the stream.
	Accepted int `json:"accepted"`
	// Rejected counts the events that were not accepted.
	Rejected int `json:"rejected"`
	// Rejections says which events were not accepted and why.
	Rejections []Rejection `json:"rejections,omitempty"`
}

// Rejection is one event that was not accepted.
type Rejection struct {
	// Index is the event's position in the body, from 0.
	Index int `json:"index"`
	// Line is the event's line in an NDJSON body, from 1.
	Line   int    `json:"line,omitempty"`
	Reason string `json:"reason"`
}

// ErrorResponse is the body of an answer that refused the whole request.
type ErrorResponse struct {
	Error string `json:"error"`
	// Kind classifies the error: invalid, too_large, unsupported_media,
	// unauthenticated, forbidden, overloaded, unavailable, internal.
	Kind string `json:"kind"`
}

func (rc *Receiver) events(w http.ResponseWriter, r *http.Request) {
	if err := checkContentType(r.Header.Get("Content-Type"), ndjsonTypes, "application/x-ndjson or application/json"); err != nil {
		rc.fail(w, err)
		return
	}
	typ := r.URL.Query().Get("type")
	if typ == "" {
		typ = r.Header.Get("X-Sluice-Type")
	}
	body, err := rc.body.read(w, r)
	if err != nil {
		rc.fail(w, err)
		return
	}
	defer body.Release() // the documents are subslices of the body until Ingest returns
	sc := jsonx.NewScanner(rc.limits.Depth())
	items, err := decodeBody(body.bytes, sc)
	if err != nil {
		rc.fail(w, err)
		return
	}
	batch := gateway.Batch{Receiver: "http", TypeHint: "?type= or the X-Sluice-Type header", Events: make([]gateway.Event, len(items))}
	ids := idTaker{sc: sc}
	for i, it := range items {
		ev := gateway.Event{Type: typ, Doc: it.doc, Err: it.err}
		if ev.Err == nil {
			ev.Doc, ev.ID, ev.Err = ids.take(it.doc)
		}
		batch.Events[i] = ev
	}
	res, err := rc.ing.Ingest(r.Context(), batch)
	if err != nil {
		rc.fail(w, err)
		return
	}
	resp := Response{Accepted: res.Accepted, Rejected: len(res.Rejections)}
	status := http.StatusOK
	for i, rj := range res.Rejections {
		resp.Rejections = append(resp.Rejections, Rejection{Index: rj.Index, Line: items[rj.Index].line, Reason: rj.Reason})
		// One kind of rejection answers with that kind's status (413 for oversized
		// events, 403 for forbidden types); a mix answers 400.
		if s := StatusCode(rj.Kind); i == 0 {
			status = s
		} else if s != status {
			status = http.StatusBadRequest
		}
	}
	writeJSON(w, status, resp)
}

// ndjsonTypes are the content types /v1/events and /_bulk accept; an empty one is
// accepted too.
var ndjsonTypes = map[string]bool{
	"application/json":        true,
	"application/x-ndjson":    true,
	"application/ndjson":      true,
	"application/jsonl":       true,
	"application/x-jsonlines": true,
	"application/jsonlines":   true,
	"text/plain":              true,
}

// jsonTypes are the content types of the REST mapping (/v1/push), one JSON document;
// an empty one is accepted too.
var jsonTypes = map[string]bool{"application/json": true, "text/plain": true}

// checkContentType answers 415 for a content type outside accepted, naming what to send.
func checkContentType(ct string, accepted map[string]bool, send string) error {
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return gateway.Errorf(gateway.KindUnsupportedMedia, "malformed Content-Type %.100q: send %s", ct, send)
	}
	if !accepted[mt] {
		return gateway.Errorf(gateway.KindUnsupportedMedia, "unsupported Content-Type %.100q: send %s", mt, send)
	}
	return nil
}

// statusOf is the one table from error kinds to HTTP statuses.
// StatusCode is the one table from error kinds to HTTP statuses (the OTLP/HTTP
// handler of gateway/otlprecv answers with it too).
func StatusCode(k gateway.Kind) int {
	switch k {
	case gateway.KindInvalid:
		return http.StatusBadRequest
	case gateway.KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case gateway.KindUnsupportedMedia:
		return http.StatusUnsupportedMediaType
	case gateway.KindUnauthenticated:
		return http.StatusUnauthorized
	case gateway.KindForbidden:
		return http.StatusForbidden
	case gateway.KindOverloaded:
		return http.StatusTooManyRequests
	case gateway.KindUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// fail answers a request refused as a whole.
func (rc *Receiver) fail(w http.ResponseWriter, err error) {
	kind := gateway.KindOf(err)
	rc.metrics.countRefused(context.Background(), kind)
	status := StatusCode(kind)
	var retryAfter int
	if kind == gateway.KindOverloaded || kind == gateway.KindUnavailable {
		retryAfter = rc.limits.RetryAfterSeconds()
	}
	if kind == gateway.KindUnauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
	}
	msg := err.Error()
	if kind == gateway.KindInternal {
		rc.log.Error("http request", "err", err)
		msg = "internal error"
	}
	writeError(w, status, kind.String(), msg, retryAfter)
}

func writeError(w http.ResponseWriter, status int, kind, msg string, retryAfter int) {
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	writeJSON(w, status, ErrorResponse{Error: msg, Kind: kind})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
