package httprecv

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/tidwall/gjson"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/gateway/internal/beatsid"
	"github.com/sluice-siem/sluice/internal/jsonx"
	"github.com/sluice-siem/sluice/stream"
)

// This file is the Elasticsearch `_bulk` API: POST /_bulk and POST /{index}/_bulk take
// the bulk NDJSON body (an action line, then a document line for index and create),
// every document goes through gateway.Ingest like any other event, and the answer has
// Elasticsearch's shape with a status per item, in the order of the actions, written
// only once the accepted documents are durable in the stream.
//
// Only index and create are supported: sluice appends events to a stream, so a delete
// or an update has nothing to act on. Those items are answered 400
// illegal_argument_exception one by one, and the lines after them parse as usual.

// bulkReceiver is the transport name of the _bulk API in metrics.
const bulkReceiver = "bulk"

// Bulk configures the Elasticsearch-compatible API on the HTTP port: POST /_bulk and
// POST /{index}/_bulk, GET / (the version check of shippers and the official clients),
// and harmless answers to the start-up calls of shippers (license, index templates,
// ILM policies), so that any shipper with an Elasticsearch output can send to sluice.
// It is the `bulk` section of the configuration; DefaultBulk holds its defaults.
type Bulk struct {
	// Enabled serves the API on the HTTP listener (the caller passes the section in
	// Options.Bulk only when it is set).
	Enabled bool `yaml:"enabled" doc:"serve the Elasticsearch-compatible _bulk API (and GET /, _license, templates...) on the HTTP port"`
	// IndexTypes map index or data stream names to log types, tried in order; the
	// first pattern that matches decides.
	IndexTypes []IndexType `yaml:"index_types" doc:"index or data stream name patterns ('*' globs) and their log types, tried in order; an empty type takes it from the event's fields (gateway.routing.type_fields)"`
	// DataStreamTypes makes a data stream name logs-<dataset>-<namespace> that no
	// pattern matches name the log type <dataset>.
	DataStreamTypes bool `yaml:"data_stream_types" doc:"when no pattern matches, a data stream name logs-<dataset>-<namespace> names the log type <dataset>"`
	// Version is the Elasticsearch version reported by GET / (shippers choose their
	// protocol by it), such as "8.17.0". Beats refuse a node older than themselves
	// unless allow_older_versions is set.
	Version string `yaml:"version" doc:"Elasticsearch version reported by GET / (shippers pick their protocol by it)"`
	// ClusterName and NodeName are reported by GET / and the node and health APIs; an
	// empty NodeName reports the host name.
	ClusterName string `yaml:"cluster_name" doc:"cluster name reported by GET /"`
	NodeName    string `yaml:"node_name" doc:"node name reported by GET /; empty: the host name"`
	// Now is the clock that times requests ("took"); time.Now when nil.
	Now func() time.Time `yaml:"-"`
}

// IndexType maps index names to a log type.
type IndexType struct {
	// Pattern matches index names; '*' matches any run of characters, every other
	// character itself.
	Pattern string `yaml:"pattern"`
	// Type is the log type of matching indices; empty takes it from the event's
	// fields (gateway routing.type_fields), as if no pattern had matched.
	Type string `yaml:"type"`
}

// DefaultBulk returns the API's defaults: on, data stream names give the log type
// (logs-firewall-default is firewall), except logs-generic-*, the catch-all data stream
// of Logstash and Vector, whose events name their type in their fields if at all; and
// the default indices of Fluent Bit (fluent-bit) and Vector (vector-%Y.%m.%d), whose
// events name none, are the log types fluent-bit and vector, so that those shippers
// deliver with their defaults.
func DefaultBulk() Bulk {
	return Bulk{
		Enabled: true,
		IndexTypes: []IndexType{
			{Pattern: "logs-generic-*", Type: ""},
			{Pattern: "fluent-bit", Type: "fluent-bit"},
			{Pattern: "vector-*", Type: "vector"},
		},
		DataStreamTypes: true,
		Version:         "8.17.0",
		ClusterName:     "sluice",
	}
}

// Validate reports every problem of b at once, each with its path in the section
// (such as "version: ..."); the configuration adds the section's path.
func (b Bulk) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	for i, it := range b.IndexTypes {
		path := fmt.Sprintf("index_types[%d]", i)
		switch {
		case strings.TrimSpace(it.Pattern) == "":
			bad(path+".pattern", "required: an index name, '*' matching any run of characters")
		case strings.ToLower(it.Pattern) != it.Pattern:
			bad(path+".pattern", "%q never matches: index names are lowercase", it.Pattern)
		}
		if it.Type != "" && !stream.ValidType(it.Type) {
			bad(path+".type", "invalid log type name %q: use 1-64 of a-z 0-9 _ - . starting with a letter or digit, or empty to take it from the event's fields", it.Type)
		}
	}
	if !validVersion(b.Version) {
		bad("version", "want an Elasticsearch version such as 8.17.0, not %q", b.Version)
	}
	if strings.TrimSpace(b.ClusterName) == "" {
		bad("cluster_name", "required")
	}
	return errors.Join(errs...)
}

// validVersion accepts MAJOR.MINOR.PATCH with a major version of 7 or later: older
// ones change the bulk protocol (document types) and what shippers expect of a node.
func validVersion(v string) bool {
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || p != strconv.Itoa(n) || (i == 0 && n < 7) {
			return false
		}
	}
	return true
}

// indexTypes resolves the log type of an index name. It is immutable after
// newIndexTypes and safe for concurrent use.
type indexTypes struct {
	rules       []globRule
	dataStreams bool
}

type globRule struct {
	parts []string // the pattern split at '*'
	typ   string
}

func newIndexTypes(b Bulk) indexTypes {
	t := indexTypes{dataStreams: b.DataStreamTypes}
	for _, it := range b.IndexTypes {
		t.rules = append(t.rules, globRule{parts: strings.Split(it.Pattern, "*"), typ: it.Type})
	}
	return t
}

// typeOf returns the log type of an index, or "" to let the gateway take it from the
// event's fields.
func (t indexTypes) typeOf(index string) string {
	for _, r := range t.rules {
		if globMatch(r.parts, index) {
			return r.typ
		}
	}
	if t.dataStreams {
		return dataStreamDataset(index)
	}
	return ""
}

// globMatch matches s against a pattern split at its '*'s.
func globMatch(parts []string, s string) bool {
	if len(parts) == 1 {
		return s == parts[0]
	}
	first, last := parts[0], parts[len(parts)-1]
	if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
		return false
	}
	s = s[len(first) : len(s)-len(last)]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return true
}

// dataStreamDataset returns <dataset> of a data stream name logs-<dataset>-<namespace>
// (Elastic's naming scheme, where neither part contains '-'), or "" for other names and
// for datasets that cannot name a log type.
func dataStreamDataset(index string) string {
	rest, ok := strings.CutPrefix(index, "logs-")
	if !ok {
		return ""
	}
	dataset, namespace, ok := strings.Cut(rest, "-")
	if !ok || namespace == "" || strings.Contains(namespace, "-") || !stream.ValidType(dataset) {
		return ""
	}
	return dataset
}

// esError is an error as Elasticsearch reports it: an HTTP status and an exception type
// (what clients branch on) with a reason for people.
type esError struct {
	status int
	typ    string
	reason string
}

// The exception types of the items this API refuses, after Elasticsearch's own.
const (
	esIllegalArgument   = "illegal_argument_exception"
	esDocumentParsing   = "document_parsing_exception"
	esActionValidation  = "action_request_validation_exception"
	esSecurity          = "security_exception"
	esRejectedExecution = "es_rejected_execution_exception"
)

// esKindError is the one table from gateway error kinds to Elasticsearch's statuses and
// exception types; the statuses are those of statusOf.
func esKindError(k gateway.Kind, reason string) esError {
	typ := "exception"
	switch k {
	case gateway.KindInvalid, gateway.KindTooLarge:
		typ = esIllegalArgument
	case gateway.KindUnsupportedMedia:
		typ = "media_type_header_exception"
	case gateway.KindUnauthenticated, gateway.KindForbidden:
		typ = esSecurity
	case gateway.KindOverloaded:
		typ = esRejectedExecution
	case gateway.KindUnavailable:
		typ = "unavailable_shards_exception"
	}
	return esError{status: StatusCode(k), typ: typ, reason: reason}
}

// kind is the gateway kind of an item error, for Ingest's rejection metrics.
func (e *esError) kind() gateway.Kind {
	switch e.status {
	case http.StatusRequestEntityTooLarge:
		return gateway.KindTooLarge
	case http.StatusForbidden:
		return gateway.KindForbidden
	default:
		return gateway.KindInvalid
	}
}

// bulkItem is one action of a bulk body: what it asks for, and its document or why it
// cannot be accepted.
type bulkItem struct {
	// op keys the item in the response: index, create, delete or update; index for an
	// action line that names none of them.
	op    string
	index string
	id    string // the action's _id; empty: one is generated for the response
	// beatsID is what identifies a Beat's document when the action has no _id (see
	// beatsid): the same when the Beat resends the request; nil for other documents.
	beatsID []byte
	source  []byte // the document, a subslice of the body; nil when fail is set
	line    int    // 1-based line of the action
	fail    *esError
}

// maxIDBytes is Elasticsearch's limit on a document _id.
const maxIDBytes = 512

// maxIndexBytes is Elasticsearch's limit on an index name.
const maxIndexBytes = 255

// parseBulk splits a bulk body into its items, one per action line, in order. It
// follows Elasticsearch's framing: an index or create action line is followed by its
// document line, update by its body line, delete by nothing. Blank lines between items
// are skipped; a line break may be "\n" or "\r\n". A bad item (unreadable action line,
// unsupported or unknown action, document that is not a JSON object) gets its own error
// and the lines after it still parse; after an unreadable or unknown action line, the
// next line is taken as that action's payload unless it reads as an action itself.
// Documents are subslices of body and are not decoded. More than maxItems actions fail
// the whole request, before the work of parsing them.
func parseBulk(body []byte, defaultIndex string, maxItems int, sc *jsonx.Scanner) ([]bulkItem, error) {
	body = bytes.TrimPrefix(body, bom)
	p := lineReader{body: body, sc: sc}
	var items []bulkItem
	for {
		line, ok := p.next()
		if !ok {
			break
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if len(items) == maxItems {
			return nil, gateway.Errorf(gateway.KindTooLarge, "bulk request has more than %d actions (limits.max_batch_events)", maxItems)
		}
		items = append(items, p.item(line, defaultIndex))
	}
	if len(items) == 0 {
		return nil, gateway.Errorf(gateway.KindInvalid, "request body is required: send an action line and a document line per document")
	}
	return items, nil
}

// lineReader walks the lines of a body.
type lineReader struct {
	body []byte
	n    int            // lines read
	sc   *jsonx.Scanner // validates every line before it is read
	ids  []byte         // the items' beatsIDs, one after another
	beat beatsid.Scan   // finds them
}

// next returns the next line without its line break.
func (p *lineReader) next() ([]byte, bool) {
	if len(p.body) == 0 {
		return nil, false
	}
	line := p.body
	if i := bytes.IndexByte(p.body, '\n'); i >= 0 {
		line, p.body = p.body[:i], p.body[i+1:]
	} else {
		p.body = nil
	}
	p.n++
	return bytes.TrimSuffix(line, []byte{'\r'}), true
}

// peekAction reports whether the next non-blank line reads as an action line, even a
// malformed one: a JSON object whose first field is index, create, delete or update.
func (p *lineReader) peekAction() bool {
	rest := p.body
	for len(rest) > 0 {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		if line = bytes.TrimSpace(line); len(line) > 0 {
			if line[0] != '{' || !p.sc.OK(line) {
				return false
			}
			first := ""
			gjson.ParseBytes(line).ForEach(func(k, _ gjson.Result) bool {
				first = k.Str
				return false
			})
			return knownOp(first)
		}
	}
	return false
}

// skipPayload consumes the line after an action that could not be understood, unless
// it reads as the next action: the best guess at keeping the items in step with the
// actions the client counted.
func (p *lineReader) skipPayload() {
	if !p.peekAction() {
		for {
			line, ok := p.next()
			if !ok || len(bytes.TrimSpace(line)) > 0 {
				return
			}
		}
	}
}

func knownOp(op string) bool {
	return op == "index" || op == "create" || op == "delete" || op == "update"
}

// item reads the action on line (trimmed, not blank) and the lines that belong to it.
func (p *lineReader) item(line []byte, defaultIndex string) bulkItem {
	it := bulkItem{op: "index", line: p.n, index: defaultIndex}
	op, meta, err := p.readAction(line)
	if err != nil {
		it.fail = err
		p.skipPayload()
		return it
	}
	if knownOp(op) {
		it.op = op
	}
	// The metadata is read before deciding what to do with the action, so that even
	// a refused item names its index and id in the answer.
	if v := meta.Get("_index"); v.Exists() {
		if v.Type != gjson.String {
			it.fail = &esError{http.StatusBadRequest, esIllegalArgument, fmt.Sprintf("line %d: _index must be a string", it.line)}
		} else {
			it.index = v.Str
		}
	}
	if v := meta.Get("_id"); v.Exists() {
		switch {
		case v.Type == gjson.String:
			it.id = v.Str
		case v.Type == gjson.Number:
			it.id = v.Raw
		default:
			it.fail = &esError{http.StatusBadRequest, esIllegalArgument, fmt.Sprintf("line %d: _id must be a string", it.line)}
		}
	}
	switch op {
	case "index", "create":
		src, ok := p.next()
		switch {
		case !ok:
			it.fail = &esError{http.StatusBadRequest, esActionValidation, fmt.Sprintf("line %d: %s action without a document line", it.line, op)}
		case it.fail != nil:
		default:
			it.source, it.beatsID, it.fail = p.readSource(bytes.TrimSpace(src), p.n, it.id == "")
		}
	case "delete":
		it.fail = &esError{http.StatusBadRequest, esIllegalArgument, fmt.Sprintf("line %d: delete is not supported: sluice appends events to a stream and cannot delete documents", it.line)}
	case "update":
		p.next() // the update's body
		it.fail = &esError{http.StatusBadRequest, esIllegalArgument, fmt.Sprintf("line %d: update is not supported: sluice appends events to a stream and cannot update documents; send index or create", it.line)}
	default:
		it.fail = &esError{http.StatusBadRequest, esIllegalArgument, fmt.Sprintf("line %d: unknown action [%s]: send index or create", it.line, truncate(op, 64))}
		p.skipPayload()
	}
	if it.fail != nil {
		it.source = nil
		return it
	}
	switch {
	case it.index == "":
		it.fail = &esError{http.StatusBadRequest, esActionValidation, fmt.Sprintf("line %d: index is missing: name it in the action's _index or the path (/{index}/_bulk)", it.line)}
	case len(it.index) > maxIndexBytes || !utf8.ValidString(it.index):
		it.fail = &esError{http.StatusBadRequest, "invalid_index_name_exception", fmt.Sprintf("line %d: invalid index name: at most %d bytes of UTF-8", it.line, maxIndexBytes)}
	case len(it.id) > maxIDBytes:
		it.fail = &esError{http.StatusBadRequest, esActionValidation, fmt.Sprintf("line %d: _id is %d bytes, must be no longer than %d", it.line, len(it.id), maxIDBytes)}
	}
	if it.fail != nil {
		it.source = nil
	}
	return it
}

// readAction reads an action line: a JSON object with one field, the action, whose
// value is an object of metadata.
func (p *lineReader) readAction(line []byte) (op string, meta gjson.Result, fail *esError) {
	bad := func(format string, args ...any) *esError {
		return &esError{http.StatusBadRequest, esIllegalArgument, fmt.Sprintf(format, args...)}
	}
	if problem := checkJSON(p.sc, line); problem != "" {
		return "", meta, bad("malformed action line: %s", problem)
	}
	if line[0] != '{' {
		return "", meta, bad("malformed action line: a JSON %s, want an object such as {\"create\":{}}", jsonKind(line[0]))
	}
	fields := 0
	gjson.ParseBytes(line).ForEach(func(k, v gjson.Result) bool {
		fields++
		op, meta = k.Str, v
		return fields < 2
	})
	switch {
	case fields == 0:
		return "", meta, bad("malformed action line: no action, want an object such as {\"create\":{}}")
	case fields > 1:
		return "", meta, bad("malformed action line: more than one field, want one action such as {\"create\":{}}")
	case !meta.IsObject():
		return op, meta, bad("malformed action line: the value of [%s] must be an object", truncate(op, 64))
	}
	return op, meta, nil
}

// readSource checks a document line (trimmed) of line number n and, when identify is
// set (the action has no _id), finds on the way what identifies it if a Beat sent it
// (beatsid); beatsID is nil for other documents.
func (p *lineReader) readSource(src []byte, n int, identify bool) (doc, beatsID []byte, fail *esError) {
	if len(src) == 0 {
		return nil, nil, &esError{http.StatusBadRequest, esDocumentParsing, fmt.Sprintf("line %d: the document line is empty", n)}
	}
	var err error
	if identify {
		start := len(p.ids)
		p.ids, err = p.beat.Of(p.sc, src, p.ids)
		beatsID = p.ids[start:len(p.ids):len(p.ids)]
	} else {
		err = p.sc.Valid(src)
	}
	if problem := jsonProblem(p.sc, src, "JSON", err); problem != "" {
		return nil, nil, &esError{http.StatusBadRequest, esDocumentParsing, fmt.Sprintf("line %d: failed to parse the document: %s", n, problem)}
	}
	if src[0] != '{' {
		return nil, nil, &esError{http.StatusBadRequest, esDocumentParsing, fmt.Sprintf("line %d: the document is a JSON %s, want an object", n, jsonKind(src[0]))}
	}
	if len(beatsID) == 0 {
		beatsID = nil
	}
	return src, beatsID, nil
}

// truncate shortens s to at most n bytes, marking the cut, so that hostile input
// cannot flood an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// bulkTypes are the content types /_bulk accepts: those of /v1/events, and the
// versioned media types Elasticsearch's clients send in compatibility mode.
var bulkTypes = func() map[string]bool {
	m := map[string]bool{"application/vnd.elasticsearch+x-ndjson": true, "application/vnd.elasticsearch+json": true}
	for t := range ndjsonTypes {
		m[t] = true
	}
	return m
}()

// bulk serves POST /_bulk and POST /{index}/_bulk.
func (es *esAPI) bulk(w http.ResponseWriter, r *http.Request) {
	start := es.now()
	// chi's parameters are decoded unless the path needed its raw form (see name).
	defaultIndex := chi.URLParam(r, "index")
	if r.URL.RawPath != "" {
		var err error
		if defaultIndex, err = url.PathUnescape(defaultIndex); err != nil {
			es.fail(w, gateway.Errorf(gateway.KindInvalid, "invalid index name in the path: %w", err))
			return
		}
	}
	if err := checkContentType(r.Header.Get("Content-Type"), bulkTypes, "application/x-ndjson or application/json"); err != nil {
		es.fail(w, err)
		return
	}
	body, err := es.rc.body.read(w, r)
	if err != nil {
		es.fail(w, err)
		return
	}
	defer body.Release() // the documents are subslices of the body until Ingest returns
	items, err := parseBulk(body.bytes, defaultIndex, es.rc.limits.MaxBatchEvents, jsonx.NewScanner(es.rc.limits.Depth()))
	if err != nil {
		es.fail(w, err)
		return
	}
	batch := gateway.Batch{Receiver: bulkReceiver, Events: make([]gateway.Event, len(items))}
	for i, it := range items {
		ev := gateway.Event{Type: es.types.typeOf(it.index), Doc: it.source}
		switch {
		case it.id != "":
			ev.ID = []byte(it.id) // the action's _id: a resent action is indexed once
		case it.beatsID != nil:
			ev.ID = it.beatsID // a Beat's document (Filebeat's elasticsearch output gives no _id)
		}
		if it.fail != nil {
			ev.Err = gateway.Errorf(it.fail.kind(), "%s", it.fail.reason)
		}
		batch.Events[i] = ev
	}
	res, err := es.rc.ing.Ingest(r.Context(), batch)
	if err != nil {
		es.fail(w, err)
		return
	}
	// Every accepted document is durable in the stream: answer.
	for _, rj := range res.Rejections {
		it := &items[rj.Index]
		if it.fail != nil {
			continue // the parser's own error, with its exception type
		}
		reason := rj.Reason
		if batch.Events[rj.Index].Type == "" && rj.Kind == gateway.KindInvalid && strings.HasPrefix(reason, "no log type") {
			reason = fmt.Sprintf("index [%s] maps to no log type (bulk.index_types) and %s", it.index, reason)
		}
		// Accepted by the parser, so the document is on the line after its action.
		e := esKindError(rj.Kind, fmt.Sprintf("line %d: %s", it.line+1, reason))
		it.fail = &e
	}
	took := es.now().Sub(start).Milliseconds()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(es.appendBulkResponse(make([]byte, 0, 64+200*len(items)), items, took))
}

// appendBulkResponse appends the answer to a bulk request in Elasticsearch's shape:
// {"took":ms,"errors":bool,"items":[{"<op>":{...}}, ...]}, one item per action, in
// order. Accepted documents are "created" with status 201.
func (es *esAPI) appendBulkResponse(dst []byte, items []bulkItem, took int64) []byte {
	failed := false
	for i := range items {
		if items[i].fail != nil {
			failed = true
			break
		}
	}
	dst = append(dst, `{"took":`...)
	dst = strconv.AppendInt(dst, max(took, 0), 10)
	dst = append(dst, `,"errors":`...)
	dst = strconv.AppendBool(dst, failed)
	dst = append(dst, `,"items":[`...)
	for i := range items {
		it := &items[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"`...)
		dst = append(dst, it.op...)
		dst = append(dst, `":{`...)
		if it.index != "" {
			dst = append(dst, `"_index":`...)
			dst = jsonx.AppendString(dst, it.index)
			dst = append(dst, ',')
		}
		dst = append(dst, `"_id":`...)
		if it.id != "" {
			dst = jsonx.AppendString(dst, it.id)
		} else {
			dst = appendGeneratedID(dst)
		}
		if e := it.fail; e != nil {
			dst = append(dst, `,"status":`...)
			dst = strconv.AppendInt(dst, int64(e.status), 10)
			dst = append(dst, `,"error":{"type":`...)
			dst = jsonx.AppendString(dst, e.typ)
			dst = append(dst, `,"reason":`...)
			dst = jsonx.AppendString(dst, e.reason)
			if it.index != "" {
				dst = append(dst, `,"index":`...)
				dst = jsonx.AppendString(dst, it.index)
			}
			dst = append(dst, `}}}`...)
			continue
		}
		dst = append(dst, `,"_version":1,"result":"created","_shards":{"total":1,"successful":1,"failed":0},"_seq_no":`...)
		dst = strconv.AppendInt(dst, es.seqNo.Add(1)-1, 10)
		dst = append(dst, `,"_primary_term":1,"status":201}}`...)
	}
	return append(dst, "]}\n"...)
}

// appendGeneratedID appends a quoted random document id of 20 URL-safe characters, the
// length of Elasticsearch's own. It only names the item in the answer: the pipeline
// gives the indexed document its own deterministic id.
func appendGeneratedID(dst []byte) []byte {
	var raw [16]byte
	a, b := rand.Uint64(), rand.Uint64()
	for i := range 8 {
		raw[i], raw[8+i] = byte(a>>(8*i)), byte(b>>(8*i))
	}
	dst = append(dst, '"')
	dst = base64.RawURLEncoding.AppendEncode(dst, raw[:15])
	return append(dst, '"')
}
