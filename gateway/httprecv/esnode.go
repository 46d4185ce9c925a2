package httprecv

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/internal/jsonx"
)

// This file makes the HTTP port look enough like an Elasticsearch node for shippers
// with an Elasticsearch output to start and send with their default settings: GET /
// and HEAD / (version checks and the official clients' product check), and answers to
// what Filebeat, Logstash, Vector and the official clients call before their first
// _bulk (see the README's table of clients and what they send):
//
//	GET  /_license                          Logstash and Filebeat refuse a node without an active license
//	GET  /_xpack                            feature discovery (ILM available)
//	GET  /_cluster/health                   Vector's health check
//	GET  /_nodes, /_nodes/{filter}          sniffing: this node only
//	GET|HEAD|PUT /_index_template/{name}    template installation: "exists", so it is
//	GET|HEAD|PUT /_template/{name}          skipped, and a PUT is acknowledged and ignored
//	GET|HEAD|PUT /_component_template/{name}
//	GET  /_cat/templates/{name}             Filebeat 7.10-7.16's template check
//	GET|HEAD|PUT /_ilm/policy/{name}        ILM policy installation: likewise
//	GET|HEAD|PUT /_ingest/pipeline/{id}     ingest pipelines: likewise (sluice does not run them)
//	GET|PUT /_data_stream/{name}            Filebeat 8's data stream: exists, PUT acknowledged
//	GET|HEAD /_alias/{name}                 Filebeat 7's rollover alias check: an alias
//	GET|HEAD /{index}/_alias/{name}
//	HEAD /{index}                           Filebeat's and Logstash's existence checks
//	PUT  /{index}                           index creation, such as the rollover bootstrap
//	                                        PUT /%3Cfilebeat-7.17.29-%7Bnow%2Fd%7D-000001%3E
//
// sluice owns index layout and lifecycle in its transform tier, so these answers
// describe one fixed layout, the same to every question: one index, backingIndex, and
// every other valid index name a write alias of it. HEAD /{name} is 200 for all of
// them; GET /_alias/{name} answers the alias, and "missing" for backingIndex, an index
// and not an alias, as Elasticsearch answers. Templates, policies, pipelines and data
// streams of any valid name exist (Elasticsearch would not let a name be both an alias
// and a data stream; no client asks both). Writes (PUT) are acknowledged and change
// nothing. Any other path under /_ or /{index}/_ is answered 404 in Elasticsearch's
// error shape, and a known path with another method 405.
//
// Every answer carries X-Elastic-Product: Elasticsearch, and every endpoint checks the
// API key like /v1/events does.

// backingIndex is the one index of the layout the API describes: every other name is
// an alias of it (see above). The leading dot makes it a hidden index's name.
const backingIndex = ".sluice"

// esAPI serves the Elasticsearch-compatible API of a Receiver.
type esAPI struct {
	rc    *Receiver
	types indexTypes
	now   func() time.Time
	seqNo atomic.Int64

	clusterName string
	clusterUUID string
	nodeName    string
	nodeID      string
	indexUUID   string // backingIndex's
	version     string
	root        []byte // the body of GET /
}

// mountBulk registers the Elasticsearch-compatible API on r.
func (rc *Receiver) mountBulk(r chi.Router, b Bulk) {
	es := newESAPI(rc, b)
	r.Group(func(r chi.Router) {
		r.Use(es.productHeader, es.authenticate)
		r.Get("/", es.serveRoot)
		r.Head("/", es.serveRoot)
		for _, path := range []string{"/_bulk", "/{index}/_bulk"} {
			r.Post(path, es.bulk)
			r.Put(path, es.bulk)
		}
		r.Get("/_license", es.license)
		r.Get("/_xpack", es.xpack)
		r.Get("/_cluster/health", es.health)
		r.Get("/_cluster/health/{index}", es.health)
		r.Get("/_nodes", es.nodes)
		r.Get("/_nodes/{filter}", es.nodes)
		es.resource(r, "/_index_template/{name}", func(name string) any {
			return map[string]any{"index_templates": []any{map[string]any{
				"name": name,
				"index_template": map[string]any{
					"index_patterns": []string{name + "*"}, "composed_of": []string{}, "template": map[string]any{},
				},
			}}}
		})
		es.resource(r, "/_template/{name}", func(name string) any {
			return map[string]any{name: map[string]any{
				"order": 0, "index_patterns": []string{name + "*"},
				"settings": map[string]any{}, "mappings": map[string]any{}, "aliases": map[string]any{},
			}}
		})
		es.resource(r, "/_component_template/{name}", func(name string) any {
			return map[string]any{"component_templates": []any{map[string]any{
				"name": name, "component_template": map[string]any{"template": map[string]any{}},
			}}}
		})
		es.resource(r, "/_ilm/policy/{name}", func(name string) any {
			return map[string]any{name: map[string]any{
				"version": 1, "modified_date": "1970-01-01T00:00:00.000Z",
				"policy": map[string]any{"phases": map[string]any{}},
			}}
		})
		es.resource(r, "/_ingest/pipeline/{name}", func(name string) any {
			return map[string]any{name: map[string]any{
				"description": "accepted by sluice and not run: sluice parses events in its transform pipelines",
				"processors":  []any{},
			}}
		})
		r.Get("/_cat/templates/{name}", es.catTemplates)
		r.Get("/_data_stream/{name}", es.dataStream)
		r.Put("/_data_stream/{name}", es.acknowledge)
		for _, path := range []string{"/_alias/{name}", "/{index}/_alias/{name}"} {
			r.Get(path, es.alias)
			r.Head(path, es.alias)
		}
		r.HandleFunc(esCatchAll, es.noRoute)
	})
	// Index-level calls, unless the path is sluice's own: that is answered before the
	// API key is asked for, as the path's own route would answer.
	idx := r.With(es.notOwn, es.productHeader, es.authenticate)
	idx.Head(indexPattern, es.indexExists)
	idx.Put(indexPattern, es.createIndex)
	// Nothing else under /{index}/_ is known either; but /v1/* is the HTTP receiver's
	// own, and its unknown paths keep its answer.
	r.HandleFunc(esIndexCatchAll, func(w http.ResponseWriter, r *http.Request) {
		if chi.URLParam(r, "index") == "v1" {
			if nf, ok := rc.router.(interface{ NotFoundHandler() http.HandlerFunc }); ok {
				nf.NotFoundHandler()(w, r)
				return
			}
		}
		es.productHeader(es.authenticate(http.HandlerFunc(es.noRoute))).ServeHTTP(w, r)
	})
}

// The routes that take every path under /_ and /{index}/_ that no other route serves.
const (
	esCatchAll      = "/_*"
	esIndexCatchAll = "/{index}/_*"
)

// esMethods are the methods noRoute tries for a 405's Allow header.
var esMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodTrace, http.MethodConnect,
}

// noRoute answers a request that reached a catch-all route: 405 with an Allow header
// when another route serves the path with other methods (the catch-alls take every
// method, so chi does not find that out itself), else 404, in Elasticsearch's shapes.
func (es *esAPI) noRoute(w http.ResponseWriter, r *http.Request) {
	path := r.URL.RawPath
	if path == "" {
		path = r.URL.Path
	}
	var allowed []string
	for _, m := range esMethods {
		if p := es.rc.router.Find(chi.NewRouteContext(), m, path); p != "" && p != esCatchAll && p != esIndexCatchAll {
			allowed = append(allowed, m)
		}
	}
	uri := truncate(r.URL.Path, maxNameBytes)
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{
			"error":  fmt.Sprintf("Incorrect HTTP method for uri [%s] and method [%s], allowed: [%s]", uri, r.Method, strings.Join(allowed, ", ")),
			"status": http.StatusMethodNotAllowed,
		})
		return
	}
	writeESError(w, esError{
		status: http.StatusNotFound,
		typ:    "resource_not_found_exception",
		reason: fmt.Sprintf("no route %s %s: sluice answers _bulk and the start-up calls of shippers, not this Elasticsearch API", r.Method, uri),
	})
}

func newESAPI(rc *Receiver, b Bulk) *esAPI {
	if b.NodeName == "" {
		b.NodeName = "sluice"
		if host, err := os.Hostname(); err == nil && host != "" {
			b.NodeName = host
		}
	}
	es := &esAPI{
		rc:          rc,
		types:       newIndexTypes(b),
		now:         b.Now,
		clusterName: b.ClusterName,
		nodeName:    b.NodeName,
		version:     b.Version,
	}
	if es.now == nil {
		es.now = time.Now
	}
	// Stable ids, the same on every gateway of a cluster and across restarts.
	sum := sha256.Sum256([]byte("sluice cluster " + b.ClusterName))
	es.clusterUUID = base64.RawURLEncoding.EncodeToString(sum[:16])
	sum = sha256.Sum256([]byte("sluice node " + b.ClusterName + "/" + b.NodeName))
	es.nodeID = base64.RawURLEncoding.EncodeToString(sum[:16])
	sum = sha256.Sum256([]byte("sluice index " + b.ClusterName + "/" + backingIndex))
	es.indexUUID = base64.RawURLEncoding.EncodeToString(sum[:16])

	info := nodeInfo{Name: b.NodeName, ClusterName: b.ClusterName, ClusterUUID: es.clusterUUID, Tagline: "You Know, for Search"}
	info.Version = versionInfo{
		Number: b.Version, BuildFlavor: "default", BuildType: "sluice", BuildHash: "sluice",
		BuildDate: "1970-01-01T00:00:00.000Z",
	}
	info.Version.MinWire, info.Version.MinIndex, info.Version.Lucene = compatibility(b.Version)
	root, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		// Strings and a bool always encode; keep a valid answer all the same.
		root = []byte(`{"tagline":"You Know, for Search"}`)
	}
	es.root = append(root, '\n')
	return es
}

// nodeInfo is the body of GET / on an Elasticsearch node.
type nodeInfo struct {
	Name        string      `json:"name"`
	ClusterName string      `json:"cluster_name"`
	ClusterUUID string      `json:"cluster_uuid"`
	Version     versionInfo `json:"version"`
	Tagline     string      `json:"tagline"`
}

// versionInfo is the version part of nodeInfo; build_flavor "default" is what Logstash
// wants of a 7.x node, "serverless" would switch shippers to another API.
type versionInfo struct {
	Number        string `json:"number"`
	BuildFlavor   string `json:"build_flavor"`
	BuildType     string `json:"build_type"`
	BuildHash     string `json:"build_hash"`
	BuildDate     string `json:"build_date"`
	BuildSnapshot bool   `json:"build_snapshot"`
	Lucene        string `json:"lucene_version"`
	MinWire       string `json:"minimum_wire_compatibility_version"`
	MinIndex      string `json:"minimum_index_compatibility_version"`
}

// compatibility returns the compatibility versions and the Lucene version an
// Elasticsearch of the given version reports, by its major version (clients read only
// the number; these make the answer look like the real one).
func compatibility(version string) (wire, index, lucene string) {
	major, _ := strconv.Atoi(strings.SplitN(version, ".", 2)[0])
	switch major {
	case 7:
		return "6.8.0", "6.0.0-beta1", "8.11.3"
	case 8:
		return "7.17.0", "7.0.0", "9.12.0"
	case 9:
		return "8.18.0", "8.0.0", "10.1.0"
	default:
		prev := strconv.Itoa(max(major-1, 0)) + ".0.0"
		return prev, prev, "unknown"
	}
}

// productHeader marks every answer as Elasticsearch's: the official clients (and
// Logstash, from version 7.14 of the server) refuse a node without it.
func (es *esAPI) productHeader(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		next.ServeHTTP(w, r)
	})
}

// authenticate checks the API key (Bearer, ApiKey or Basic: see
// gateway.Gateway.Authenticate) and answers a refusal in Elasticsearch's shape.
func (es *esAPI) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := es.rc.ing.Authenticate(r.Header.Get("Authorization"))
		if err != nil {
			es.fail(w, err)
			return
		}
		if p != nil {
			r = r.WithContext(gateway.WithPrincipal(r.Context(), p))
		}
		next.ServeHTTP(w, r)
	})
}

// fail answers a request refused as a whole, in Elasticsearch's error shape
//
//	{"error":{"root_cause":[{"type":T,"reason":R}],"type":T,"reason":R},"status":N}
//
// with the status of statusOf. Backpressure is 429 es_rejected_execution_exception,
// which Filebeat, Logstash and Vector retry with backoff (the official clients when
// 429 is in their RetryOnStatus), with a Retry-After hint.
func (es *esAPI) fail(w http.ResponseWriter, err error) {
	kind := gateway.KindOf(err)
	es.rc.metrics.countRefused(context.Background(), kind)
	msg := err.Error()
	if kind == gateway.KindInternal {
		es.rc.log.Error("elasticsearch api request", "err", err)
		msg = "internal error"
	}
	e := esKindError(kind, msg)
	h := w.Header()
	if kind == gateway.KindOverloaded || kind == gateway.KindUnavailable {
		h.Set("Retry-After", strconv.Itoa(es.rc.limits.RetryAfterSeconds()))
	}
	if kind == gateway.KindUnauthenticated {
		h.Add("WWW-Authenticate", `Basic realm="sluice", charset="UTF-8"`)
		h.Add("WWW-Authenticate", "ApiKey")
		h.Add("WWW-Authenticate", `Bearer realm="sluice"`)
	}
	writeESError(w, e)
}

// writeESError writes an error in Elasticsearch's shape.
func writeESError(w http.ResponseWriter, e esError) {
	b := make([]byte, 0, 128+2*len(e.reason))
	cause := func(b []byte) []byte {
		b = append(b, `"type":`...)
		b = jsonx.AppendString(b, e.typ)
		b = append(b, `,"reason":`...)
		return jsonx.AppendString(b, e.reason)
	}
	b = append(b, `{"error":{"root_cause":[{`...)
	b = cause(b)
	b = append(b, `}],`...)
	b = cause(b)
	b = append(b, `},"status":`...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

// serveRoot answers GET / and HEAD / like an Elasticsearch node.
func (es *esAPI) serveRoot(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(es.root)))
	_, _ = w.Write(es.root)
}

// license answers an active basic license: Logstash marks a node without an active
// license dead, and Filebeat's license check wants one.
func (es *esAPI) license(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"license": map[string]any{
		"status":               "active",
		"uid":                  es.licenseUID(),
		"type":                 "basic",
		"issue_date":           "1970-01-01T00:00:00.000Z",
		"issue_date_in_millis": 0,
		"max_nodes":            1000,
		"max_resource_units":   nil,
		"issued_to":            es.clusterName,
		"issuer":               "sluice",
		"start_date_in_millis": -1,
	}})
}

// licenseUID formats a stable UUID for the license.
func (es *esAPI) licenseUID() string {
	sum := sha256.Sum256([]byte("sluice license " + es.clusterName))
	h := hex.EncodeToString(sum[:16])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (es *esAPI) xpack(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"build":   map[string]any{"hash": "sluice", "date": "1970-01-01T00:00:00.000Z"},
		"license": map[string]any{"uid": es.licenseUID(), "type": "basic", "mode": "basic", "status": "active"},
		"features": map[string]any{
			"ilm":      map[string]any{"available": true, "enabled": true},
			"security": map[string]any{"available": true, "enabled": true},
		},
	})
}

// health answers green while the gateway takes events, and 503 while it drains.
func (es *esAPI) health(w http.ResponseWriter, _ *http.Request) {
	if !es.rc.ing.Ready() {
		es.fail(w, gateway.Errorf(gateway.KindUnavailable, "gateway is shutting down: send to another instance"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"cluster_name": es.clusterName, "status": "green", "timed_out": false,
		"number_of_nodes": 1, "number_of_data_nodes": 1,
		"active_primary_shards": 0, "active_shards": 0, "relocating_shards": 0,
		"initializing_shards": 0, "unassigned_shards": 0, "delayed_unassigned_shards": 0,
		"number_of_pending_tasks": 0, "number_of_in_flight_fetch": 0,
		"task_max_waiting_in_queue_millis": 0, "active_shards_percent_as_number": 100.0,
	})
}

// nodes lists this node only, at the address the client reached it by, so that a
// sniffing client keeps talking to the same place (a load balancer, usually).
func (es *esAPI) nodes(w http.ResponseWriter, r *http.Request) {
	addr := r.Host
	if _, _, err := net.SplitHostPort(addr); err != nil {
		port := "80"
		if r.TLS != nil {
			port = "443"
		}
		addr = net.JoinHostPort(strings.Trim(addr, "[]"), port)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"_nodes":       map[string]any{"total": 1, "successful": 1, "failed": 0},
		"cluster_name": es.clusterName,
		"nodes": map[string]any{es.nodeID: map[string]any{
			"name": es.nodeName, "version": es.version, "roles": []string{"data", "ingest", "master"},
			"http": map[string]any{"publish_address": addr, "bound_address": []string{addr}},
		}},
	})
}

// resource serves a named setup resource (template, policy, pipeline) that shippers
// install before sending: GET and HEAD say it exists, so that they skip installing it;
// PUT reads and drops the body and acknowledges. sluice owns index layout and
// lifecycle in its transform tier, so none of them has an effect here.
func (es *esAPI) resource(r chi.Router, pattern string, get func(name string) any) {
	r.Get(pattern, func(w http.ResponseWriter, r *http.Request) {
		if name, ok := es.name(w, r, "name"); ok {
			writeJSON(w, http.StatusOK, get(name))
		}
	})
	r.Head(pattern, func(w http.ResponseWriter, r *http.Request) {
		if _, ok := es.name(w, r, "name"); ok {
			w.WriteHeader(http.StatusOK)
		}
	})
	r.Put(pattern, es.acknowledge)
}

// acknowledge answers a write that changes nothing (see resource), after reading and
// dropping the body within limits.max_body_bytes.
func (es *esAPI) acknowledge(w http.ResponseWriter, r *http.Request) {
	if _, ok := es.name(w, r, "name"); ok && es.discardBody(w, r) {
		writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true})
	}
}

// discardBody reads and drops the body of a write whose content sluice does not use,
// within limits.max_body_bytes on the wire (nothing is decompressed or kept). It
// answers the error itself and reports whether the request may go on.
func (es *esAPI) discardBody(w http.ResponseWriter, r *http.Request) bool {
	limit := int64(es.rc.limits.MaxBodyBytes)
	if r.ContentLength > limit {
		es.fail(w, gateway.Errorf(gateway.KindTooLarge, "body is %d bytes, limit is %d (limits.max_body_bytes)", r.ContentLength, limit))
		return false
	}
	if _, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, limit)); err != nil {
		es.fail(w, es.rc.body.bodyError(err, "read "+strings.TrimPrefix(r.URL.Path, "/")+" body"))
		return false
	}
	return true
}

// notOwn answers a call of indexPattern on one of sluice's own paths (PUT
// /openapi.json) as the router answers a method the path does not serve, and passes
// the others to next.
func (es *esAPI) notOwn(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.RawPath
		if path == "" {
			path = r.URL.Path
		}
		if mux, ok := es.rc.router.(*chi.Mux); ok && ownPath(mux, path) {
			mux.MethodNotAllowedHandler().ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// maxNameBytes bounds the names the API reads from a path (Elasticsearch's limit on
// an index name) and what of a path an error repeats.
const maxNameBytes = 255

// name returns the path parameter key, decoded once. chi matches the escaped path when
// it differs from the default escaping (a %2F inside a segment, as in the rollover
// bootstrap /%3Cfilebeat-7.17.29-%7Bnow%2Fd%7D-000001%3E), and then its parameters are
// still escaped. A name that does not decode, is empty or is longer than maxNameBytes
// is answered 400 here and ok is false.
func (es *esAPI) name(w http.ResponseWriter, r *http.Request, key string) (string, bool) {
	v := chi.URLParam(r, key)
	if r.URL.RawPath != "" {
		var err error
		if v, err = url.PathUnescape(v); err != nil {
			writeESError(w, esError{http.StatusBadRequest, "invalid_index_name_exception", fmt.Sprintf("invalid name in the path: %v", err)})
			return "", false
		}
	}
	if v == "" || len(v) > maxNameBytes || !utf8.ValidString(v) {
		writeESError(w, esError{http.StatusBadRequest, "invalid_index_name_exception", fmt.Sprintf("invalid name [%s]: want 1 to %d bytes of UTF-8", truncate(v, 64), maxNameBytes)})
		return "", false
	}
	return v, true
}

// names splits a name list (a,b,c) as Elasticsearch's multi-target syntax does, and
// reports whether any part is a wildcard pattern; the parts that are not are returned.
// sluice cannot list what a pattern matches (every name exists), so it matches nothing.
func names(list string) (exact []string, wildcard bool) {
	for part := range strings.SplitSeq(list, ",") {
		switch {
		case part == "":
		case part == "_all" || strings.Contains(part, "*"):
			wildcard = true
		default:
			exact = append(exact, part)
		}
	}
	return exact, wildcard
}

// isAlias reports whether name is an alias in the layout the API describes: every
// valid index name but backingIndex itself.
func isAlias(name string) bool {
	return name != backingIndex && indexNameProblem(name) == ""
}

// indexNameProblem says what makes name an invalid index or alias name by
// Elasticsearch's rules, or "" if it is valid.
func indexNameProblem(name string) string {
	switch {
	case name == "" || name == "." || name == "..":
		return "must not be empty, '.' or '..'"
	case len(name) > maxNameBytes:
		return fmt.Sprintf("index name is too long, (%d > %d)", len(name), maxNameBytes)
	case strings.ToLower(name) != name:
		return "must be lowercase"
	case strings.ContainsAny(name[:1], "_-+"):
		return "must not start with '_', '-', or '+'"
	case strings.ContainsAny(name, "\\/*?\"<>| ,#:"):
		return `must not contain the following characters [ , ", *, \, <, |, ,, >, /, ?, #, :]`
	}
	return ""
}

// alias serves GET and HEAD /_alias/{name} and /{index}/_alias/{name}: every valid
// name but backingIndex is a write alias of backingIndex (Filebeat 7 checks its rollover
// alias so, and refuses a name that HEAD /{name} finds but _alias does not). A name
// that is no alias is 404 "alias [x] missing", Elasticsearch's answer.
func (es *esAPI) alias(w http.ResponseWriter, r *http.Request) {
	list, ok := es.name(w, r, "name")
	if !ok {
		return
	}
	if chi.URLParam(r, "index") != "" {
		index, ok := es.name(w, r, "index")
		if !ok {
			return
		}
		exact, _ := names(index)
		resolved, err := es.resolve(exact)
		if err != nil || !es.exists(resolved) {
			es.indexNotFound(w, r, exact)
			return
		}
	}
	exact, _ := names(list)
	found := map[string]any{}
	var missing []string
	for _, n := range exact {
		if isAlias(n) {
			found[n] = map[string]any{"is_write_index": true}
		} else {
			missing = append(missing, n)
		}
	}
	body := map[string]any{}
	if len(found) > 0 {
		body[backingIndex] = map[string]any{"aliases": found}
	}
	status := http.StatusOK
	if len(missing) > 0 {
		status = http.StatusNotFound
		word := "alias"
		if len(missing) > 1 {
			word = "aliases"
		}
		body["error"] = fmt.Sprintf("%s [%s] missing", word, strings.Join(missing, ","))
		body["status"] = status
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, body)
}

// exists reports whether every name exists in the layout: backingIndex and its aliases.
func (es *esAPI) exists(names []string) bool {
	for _, n := range names {
		if indexNameProblem(n) != "" {
			return false
		}
	}
	return true
}

// resolve resolves the date math of index names (see resolveDateMath).
func (es *esAPI) resolve(names []string) ([]string, error) {
	out := make([]string, len(names))
	for i, n := range names {
		var err error
		if out[i], err = resolveDateMath(n, es.now()); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// indexNotFound answers Elasticsearch's index_not_found_exception.
func (es *esAPI) indexNotFound(w http.ResponseWriter, r *http.Request, names []string) {
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	writeESError(w, esError{http.StatusNotFound, "index_not_found_exception", fmt.Sprintf("no such index [%s]", strings.Join(names, ","))})
}

// indexExists serves HEAD /{index}: 200 for backingIndex and its aliases (any valid
// name, date math resolved), 404 for a name that cannot be one.
func (es *esAPI) indexExists(w http.ResponseWriter, r *http.Request) {
	list, ok := es.name(w, r, "index")
	if !ok {
		return
	}
	exact, _ := names(list)
	exact, err := es.resolve(exact)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if !es.exists(exact) {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// createIndex serves PUT /{index}, such as the rollover bootstrap of Filebeat 7 and
// Logstash (PUT /<name-{now/d}-000001> with the alias as write alias): acknowledged
// with the date math resolved, as Elasticsearch answers, and nothing changes (sluice
// owns the layout). An invalid name is 400 invalid_index_name_exception.
func (es *esAPI) createIndex(w http.ResponseWriter, r *http.Request) {
	raw, ok := es.name(w, r, "index")
	if !ok {
		return
	}
	index, err := resolveDateMath(raw, es.now())
	if err != nil {
		writeESError(w, esError{http.StatusBadRequest, "parse_exception", fmt.Sprintf("invalid date math expression [%s]: %v", truncate(raw, 64), err)})
		return
	}
	if problem := indexNameProblem(index); problem != "" {
		writeESError(w, esError{http.StatusBadRequest, "invalid_index_name_exception", fmt.Sprintf("Invalid index name [%s], %s", truncate(index, 64), problem)})
		return
	}
	if !es.discardBody(w, r) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true, "shards_acknowledged": true, "index": index})
}

// dataStream serves GET /_data_stream/{name}: a data stream exists under every valid
// name but backingIndex (Filebeat 8 creates one only if this says 404).
func (es *esAPI) dataStream(w http.ResponseWriter, r *http.Request) {
	list, ok := es.name(w, r, "name")
	if !ok {
		return
	}
	exact, _ := names(list)
	streams := []any{}
	for _, n := range exact {
		if !isAlias(n) {
			es.indexNotFound(w, r, []string{n})
			return
		}
		streams = append(streams, map[string]any{
			"name":                 n,
			"timestamp_field":      map[string]any{"name": "@timestamp"},
			"indices":              []any{map[string]any{"index_name": backingIndex, "index_uuid": es.indexUUID}},
			"generation":           1,
			"status":               "GREEN",
			"template":             n,
			"hidden":               false,
			"system":               false,
			"allow_custom_routing": false,
			"replicated":           false,
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"data_streams": streams})
}

// catTemplates serves GET /_cat/templates/{name}, the template check of Filebeat 7.10
// to 7.16 (the name in the answer means it exists): JSON when asked by format=json or
// an Accept of JSON, as Elasticsearch does, else its text table.
func (es *esAPI) catTemplates(w http.ResponseWriter, r *http.Request) {
	list, ok := es.name(w, r, "name")
	if !ok {
		return
	}
	exact, _ := names(list)
	format := r.URL.Query().Get("format")
	if format == "" && strings.Contains(r.Header.Get("Accept"), "json") {
		format = "json"
	}
	if format == "json" {
		rows := []any{}
		for _, n := range exact {
			rows = append(rows, map[string]any{"name": n, "index_patterns": "[" + n + "*]", "order": "0", "version": nil, "composed_of": "[]"})
		}
		writeJSON(w, http.StatusOK, rows)
		return
	}
	var b strings.Builder
	for _, n := range exact {
		fmt.Fprintf(&b, "%s [%s*] 0  []\n", n, n)
	}
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	_, _ = io.WriteString(w, b.String())
}

// maxDateMathOps bounds the operations of one date math expression.
const maxDateMathOps = 8

// resolveDateMath resolves an index name in Elasticsearch's date math syntax,
// <static{now/d}static{now-1M/M{yyyy.MM|+01:00}}>, at now; a name without the angle
// brackets is returned as it is. Supported: now with +N, -N and /unit (y M w d h H m
// s), the format letters yyyy uuuu yy MM dd HH mm ss, and UTC or fixed offsets.
func resolveDateMath(name string, now time.Time) (string, error) {
	if len(name) < 2 || name[0] != '<' || name[len(name)-1] != '>' {
		return name, nil
	}
	in := name[1 : len(name)-1]
	var out strings.Builder
	for i := 0; i < len(in); i++ {
		switch c := in[i]; c {
		case '\\':
			if i+1 == len(in) {
				return "", errors.New("a trailing escape character")
			}
			i++
			out.WriteByte(in[i])
		case '}':
			return "", errors.New("a '}' without its '{'")
		case '{':
			end := strings.IndexByte(in[i+1:], '}')
			if end < 0 {
				return "", errors.New("a '{' without its '}'")
			}
			expr := in[i+1 : i+1+end]
			i += 1 + end
			var format, zone string
			if open := strings.IndexByte(expr, '{'); open >= 0 {
				// {math{format|zone}}: the inner '}' ended expr; the outer one follows.
				if i+1 >= len(in) || in[i+1] != '}' {
					return "", errors.New("a format without its closing '}'")
				}
				i++
				format, zone, _ = strings.Cut(expr[open+1:], "|")
				expr = expr[:open]
			}
			s, err := dateMath(expr, format, zone, now)
			if err != nil {
				return "", err
			}
			out.WriteString(s)
		default:
			out.WriteByte(c)
		}
	}
	return out.String(), nil
}

// dateMath evaluates one {expr{format|zone}} of an index name.
func dateMath(expr, format, zone string, now time.Time) (string, error) {
	loc := time.UTC
	switch zone {
	case "", "UTC", "Z", "utc", "z":
	default:
		t, err := time.Parse("-07:00", zone)
		if err != nil {
			if t, err = time.Parse("-0700", zone); err != nil {
				return "", fmt.Errorf("time zone %q: want UTC or an offset such as +01:00", zone)
			}
		}
		_, off := t.Zone()
		loc = time.FixedZone(zone, off)
	}
	rest, ok := strings.CutPrefix(expr, "now")
	if !ok {
		return "", fmt.Errorf("%q does not start with now", expr)
	}
	t := now.In(loc)
	for ops := 0; rest != ""; ops++ {
		if ops == maxDateMathOps {
			return "", fmt.Errorf("more than %d operations", maxDateMathOps)
		}
		op := rest[0]
		rest = rest[1:]
		n := 1
		if op == '+' || op == '-' {
			j := 0
			for j < len(rest) && j < 6 && rest[j] >= '0' && rest[j] <= '9' {
				j++
			}
			if j == 0 {
				return "", fmt.Errorf("%c without a number", op)
			}
			n, _ = strconv.Atoi(rest[:j])
			rest = rest[j:]
			if op == '-' {
				n = -n
			}
		} else if op != '/' {
			return "", fmt.Errorf("unknown operation %q", op)
		}
		if rest == "" {
			return "", errors.New("an operation without a unit")
		}
		unit := rest[0]
		rest = rest[1:]
		var err error
		if op == '/' {
			t, err = roundDown(t, unit)
		} else {
			t, err = addUnits(t, n, unit)
		}
		if err != nil {
			return "", err
		}
	}
	if format == "" {
		format = "yyyy.MM.dd"
	}
	return formatDate(t, format)
}

func addUnits(t time.Time, n int, unit byte) (time.Time, error) {
	switch unit {
	case 'y':
		return t.AddDate(n, 0, 0), nil
	case 'M':
		return t.AddDate(0, n, 0), nil
	case 'w':
		return t.AddDate(0, 0, 7*n), nil
	case 'd':
		return t.AddDate(0, 0, n), nil
	case 'h', 'H':
		return t.Add(time.Duration(n) * time.Hour), nil
	case 'm':
		return t.Add(time.Duration(n) * time.Minute), nil
	case 's':
		return t.Add(time.Duration(n) * time.Second), nil
	}
	return t, fmt.Errorf("unknown unit %q", unit)
}

func roundDown(t time.Time, unit byte) (time.Time, error) {
	y, mo, d := t.Date()
	day := time.Date(y, mo, d, 0, 0, 0, 0, t.Location())
	switch unit {
	case 'y':
		return time.Date(y, 1, 1, 0, 0, 0, 0, t.Location()), nil
	case 'M':
		return time.Date(y, mo, 1, 0, 0, 0, 0, t.Location()), nil
	case 'w':
		return day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7)), nil // to Monday
	case 'd':
		return day, nil
	case 'h', 'H':
		return t.Truncate(time.Hour), nil
	case 'm':
		return t.Truncate(time.Minute), nil
	case 's':
		return t.Truncate(time.Second), nil
	}
	return t, fmt.Errorf("unknown unit %q", unit)
}

// formatDate formats t by a Java date pattern made of the letters resolveDateMath
// supports; every other character but an ASCII letter stands for itself.
func formatDate(t time.Time, pattern string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(pattern); {
		c := pattern[i]
		j := i
		for j < len(pattern) && pattern[j] == c {
			j++
		}
		run := pattern[i:j]
		i = j
		switch run {
		case "yyyy", "uuuu":
			fmt.Fprintf(&b, "%04d", t.Year())
		case "yy", "uu":
			fmt.Fprintf(&b, "%02d", t.Year()%100)
		case "MM":
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case "dd":
			fmt.Fprintf(&b, "%02d", t.Day())
		case "HH":
			fmt.Fprintf(&b, "%02d", t.Hour())
		case "mm":
			fmt.Fprintf(&b, "%02d", t.Minute())
		case "ss":
			fmt.Fprintf(&b, "%02d", t.Second())
		default:
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
				return "", fmt.Errorf("unsupported date format %q", truncate(pattern, 64))
			}
			b.WriteString(run)
		}
	}
	return b.String(), nil
}
