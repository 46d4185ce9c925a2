package httprecv

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/internal/jsonx"
)

// This file makes the HTTP port look enough like an Elasticsearch node for shippers
// with an Elasticsearch output to start and send: GET / and HEAD / (version checks and
// the official clients' product check), and harmless answers to what Filebeat,
// Logstash, Vector and the official clients call before their first _bulk:
//
//	GET  /_license                       Logstash and Filebeat refuse a node without an active license
//	GET  /_xpack                         feature discovery (ILM available)
//	GET  /_cluster/health                Vector's health check
//	GET  /_nodes, /_nodes/{filter}       sniffing: this node only
//	GET|HEAD|PUT /_index_template/{name} template installation: "exists", so it is skipped,
//	GET|HEAD|PUT /_template/{name}       and a PUT is acknowledged and ignored
//	GET|HEAD|PUT /_ilm/policy/{name}     ILM policy installation: likewise
//	GET|HEAD|PUT /_ingest/pipeline/{id}  ingest pipelines: likewise (sluice does not run them)
//	HEAD /{index}                        Logstash's check that its ILM rollover alias exists
//
// Every answer carries X-Elastic-Product: Elasticsearch, and every endpoint checks the
// API key like /v1/events does.

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
		r.Head("/{index}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
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
		writeJSON(w, http.StatusOK, get(chi.URLParam(r, "name")))
	})
	r.Head(pattern, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	r.Put(pattern, func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, int64(es.rc.limits.MaxBodyBytes))); err != nil {
			es.fail(w, es.rc.body.bodyError(err, fmt.Sprintf("read %s body", strings.SplitN(pattern[1:], "/", 2)[0])))
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true})
	})
}
