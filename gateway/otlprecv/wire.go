package otlprecv

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/internal/chunks"
	"github.com/sluice-siem/sluice/internal/jsonx"
	"github.com/sluice-siem/sluice/internal/timefmt"
	"github.com/sluice-siem/sluice/stream"
)

// The OTLP protobuf wire decoder: an ExportLogsServiceRequest read straight from its
// bytes into the events' documents, without building the request's Go structs (the
// reflective decoder was most of the receiver's time, 20 allocations a record). It
// makes exactly the documents of document(), which the tests check against each
// other; nesting of values is walked with an explicit stack, bounded by the depth.

// Field numbers of opentelemetry/proto/{collector/logs,logs,common,resource}/v1.
const (
	fExportResourceLogs = 1 // ExportLogsServiceRequest.resource_logs
	fRLResource         = 1 // ResourceLogs.resource
	fRLScopeLogs        = 2 // ResourceLogs.scope_logs
	fResourceAttributes = 1 // Resource.attributes
	fSLScope            = 1 // ScopeLogs.scope
	fSLLogRecords       = 2 // ScopeLogs.log_records
	fScopeName          = 1 // InstrumentationScope.name
	fScopeVersion       = 2 // InstrumentationScope.version
	fLRTime             = 1
	fLRSeverityNumber   = 2
	fLRSeverityText     = 3
	fLRBody             = 5
	fLRAttributes       = 6
	fLRTraceID          = 9
	fLRSpanID           = 10
	fLRObservedTime     = 11
	fKVKey              = 1 // KeyValue.key
	fKVValue            = 2 // KeyValue.value
	fAnyString          = 1 // AnyValue.string_value ...
	fAnyBool            = 2
	fAnyInt             = 3
	fAnyDouble          = 4
	fAnyArray           = 5
	fAnyKVList          = 6
	fAnyBytes           = 7
	fAnyStrIndex        = 8 // AnyValue.string_value_strindex (profiles): written as null
	fListValues         = 1 // ArrayValue.values, KeyValueList.values
)

// errWire is wrapped by the errors of a request that is not valid protobuf.
var errWire = errors.New("not a valid OTLP ExportLogsServiceRequest")

// field is one field of a message: its number, wire type and value (the bytes of a
// length-delimited field, else the number).
type field struct {
	num protowire.Number
	typ protowire.Type
	b   []byte
	v   uint64
}

// fields calls f with each field of a message, failing on malformed bytes.
func fields(msg []byte, f func(field) error) error {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return fmt.Errorf("%w: %v", errWire, protowire.ParseError(n))
		}
		msg = msg[n:]
		fl := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			fl.v, n = protowire.ConsumeVarint(msg)
		case protowire.Fixed64Type:
			fl.v, n = protowire.ConsumeFixed64(msg)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(msg)
			fl.v = uint64(v)
		case protowire.BytesType:
			fl.b, n = protowire.ConsumeBytes(msg)
		default:
			n = protowire.ConsumeFieldValue(num, typ, msg)
		}
		if n < 0 {
			return fmt.Errorf("%w: field %d: %v", errWire, num, protowire.ParseError(n))
		}
		msg = msg[n:]
		if err := f(fl); err != nil {
			return err
		}
	}
	return nil
}

// resourceInfo is what every record of a ResourceLogs shares.
type resourceInfo struct {
	attrs   []byte // the attributes as one JSON object, nil without any
	service string
	host    string
	typ     string // the type attribute's value, "" when absent or not a string
	hasType bool
}

// wireState is what the decoding of a request shares between its records: where the
// documents are written, the batch's event list, and scratch space reused from record
// to record. A request takes one from the receiver's pool (newState) and gives it
// back (release) once its batch is ingested: Ingest keeps neither the events nor
// their documents, so the next request reuses the list and the scratch, and the
// documents' chunks go back to internal/chunks.
type wireState struct {
	docs    chunks.Arena
	events  []gateway.Event
	attrs   [][]byte // a record's attributes
	kvs     []wireKV // and read
	records [][]byte // a scope's records
	types   []string // log types named before, so that each is one string
	times   timefmt.Cache
}

// maxPooledEvents bounds the event list a state keeps for the next request; a
// larger one (a request of more records) is left to the collector.
const maxPooledEvents = 8192

// newState returns a state for decoding data.
func (r *Receiver) newState(data []byte) *wireState {
	st, _ := r.states.Get().(*wireState)
	if st == nil {
		st = new(wireState)
	}
	st.docs.First = docsFirstChunk(data)
	return st
}

// release gives st back, with the chunks of its documents. Nothing st decoded (the
// batch's events, their documents) may be used after it.
func (r *Receiver) release(st *wireState) {
	st.docs.Release()
	clear(st.events)
	st.events = st.events[:0]
	if cap(st.events) > maxPooledEvents {
		st.events = nil
	}
	// The scratch lists point into the request's bytes: forget them.
	clear(st.attrs[:cap(st.attrs)])
	clear(st.kvs[:cap(st.kvs)])
	clear(st.records[:cap(st.records)])
	r.states.Put(st)
}

// intern returns b as a string, the same string for the same bytes (the records of
// a receiver name a handful of log types).
func (st *wireState) intern(b []byte) string {
	for _, t := range st.types {
		if t == string(b) {
			return t
		}
	}
	t := string(b)
	if len(st.types) < 16 {
		st.types = append(st.types, t)
	}
	return t
}

// batchWire decodes a request's bytes into a batch of documents, written in st (see
// wireState: the caller releases it once the batch is ingested). An error means the
// bytes are not a request at all; a record whose values cannot be written (too deep)
// is an event with Err set, as batch does.
func (r *Receiver) batchWire(receiver string, data []byte, st *wireState) (gateway.Batch, error) {
	b := gateway.Batch{Receiver: receiver, TypeHint: r.typeHint, Events: st.events[:0]}
	depth := r.ing.Limits().Depth()
	now := r.now()
	err := fields(data, func(f field) error {
		if f.num != fExportResourceLogs || f.typ != protowire.BytesType {
			return nil
		}
		return r.resourceLogsWire(&b, st, f.b, depth, now)
	})
	st.events = b.Events
	return b, err
}

// docsFirstChunk is the first chunk of a request's documents: the JSON of a record
// takes about twice its protobuf bytes.
func docsFirstChunk(data []byte) int {
	return min(chunks.DefaultArenaChunk, 2*len(data)+4<<10)
}

func (r *Receiver) resourceLogsWire(b *gateway.Batch, st *wireState, msg []byte, depth int, now time.Time) error {
	var resourceBuf msgBuf
	var scopes [][]byte
	err := fields(msg, func(f field) error {
		switch {
		case f.num == fRLResource && f.typ == protowire.BytesType:
			resourceBuf.add(f.b)
		case f.num == fRLScopeLogs && f.typ == protowire.BytesType:
			scopes = append(scopes, f.b)
		}
		return nil
	})
	if err != nil {
		return err
	}
	resource := resourceBuf.b
	var res resourceInfo
	var resKVs [][]byte
	if err := fields(resource, func(f field) error {
		if f.num == fResourceAttributes && f.typ == protowire.BytesType {
			resKVs = append(resKVs, f.b)
		}
		return nil
	}); err != nil {
		return err
	}
	if len(resKVs) > 0 {
		resAttrs, err := parseKVs(nil, resKVs)
		if err != nil {
			return err
		}
		var werr error
		res.attrs, werr = appendKVsWire(nil, resAttrs, depth-2)
		if werr != nil && !errors.Is(werr, errTooDeep) {
			return werr
		}
		for _, m := range []struct {
			key string
			dst *string
		}{{"service.name", &res.service}, {"host.name", &res.host}} {
			if s, ok, err := stringAttr(resAttrs, m.key); err != nil {
				return err
			} else if ok {
				*m.dst = s
			}
		}
		s, ok, err := typeAttr(st, resAttrs, r.cfg.TypeAttribute)
		if err != nil {
			return err
		}
		res.typ, res.hasType = s, ok
		if werr != nil {
			res.attrs = nil // every record of the resource fails alike
		}
		if errors.Is(werr, errTooDeep) {
			// The records are rejected one by one, as document() rejects them.
			return r.scopesWire(b, st, scopes, &res, depth, now, errTooDeep)
		}
	}
	return r.scopesWire(b, st, scopes, &res, depth, now, nil)
}

func (r *Receiver) scopesWire(b *gateway.Batch, st *wireState, scopes [][]byte, res *resourceInfo, depth int, now time.Time, resErr error) error {
	for _, sl := range scopes {
		var scopeBuf msgBuf
		records := st.records[:0]
		if err := fields(sl, func(f field) error {
			switch {
			case f.num == fSLScope && f.typ == protowire.BytesType:
				scopeBuf.add(f.b)
			case f.num == fSLLogRecords && f.typ == protowire.BytesType:
				records = append(records, f.b)
			}
			return nil
		}); err != nil {
			return err
		}
		var name, version string
		if err := fields(scopeBuf.b, func(f field) error {
			if f.typ == protowire.BytesType && f.num == fScopeName {
				name = string(f.b)
			} else if f.typ == protowire.BytesType && f.num == fScopeVersion {
				version = string(f.b)
			}
			return nil
		}); err != nil {
			return err
		}
		st.records = records
		b.Events = slices.Grow(b.Events, len(records))
		for _, rec := range records {
			doc, typ, err := r.recordWire(st, rec, res, name, version, depth, now)
			if err != nil && !errors.Is(err, errTooDeep) {
				return err
			}
			if resErr != nil {
				err, doc = resErr, nil
			}
			b.Events = append(b.Events, gateway.Event{Type: typ, Doc: doc, Err: err})
		}
	}
	return nil
}

// recordWire writes one LogRecord's document in st.docs, as document() does, and
// returns its log type.
func (r *Receiver) recordWire(st *wireState, msg []byte, res *resourceInfo, scopeName, scopeVersion string, depth int, now time.Time) ([]byte, string, error) {
	var (
		t, observed       uint64
		sev               uint64
		sevText           []byte
		body              msgBuf
		hasBody           bool
		attrs             = st.attrs[:0]
		traceID, spanID   []byte
		hasTrace, hasSpan bool
	)
	err := fields(msg, func(f field) error {
		// A field of another wire type than its own is an unknown field to protobuf.
		bytesField, fixed64, varint := f.typ == protowire.BytesType, f.typ == protowire.Fixed64Type, f.typ == protowire.VarintType
		switch {
		case f.num == fLRTime && fixed64:
			t = f.v
		case f.num == fLRObservedTime && fixed64:
			observed = f.v
		case f.num == fLRSeverityNumber && varint:
			sev = f.v
		case f.num == fLRSeverityText && bytesField:
			sevText = f.b
		case f.num == fLRBody && bytesField:
			body.add(f.b)
			hasBody = true
		case f.num == fLRAttributes && bytesField:
			attrs = append(attrs, f.b)
		case f.num == fLRTraceID && bytesField:
			traceID, hasTrace = f.b, true
		case f.num == fLRSpanID && bytesField:
			spanID, hasSpan = f.b, true
		}
		return nil
	})
	st.attrs = attrs
	if err != nil {
		return nil, "", err
	}
	kvs, err := parseKVs(st.kvs[:0], attrs)
	if err != nil {
		return nil, "", err
	}
	st.kvs = kvs
	typ := r.cfg.DefaultType
	if s, ok, err := typeAttr(st, kvs, r.cfg.TypeAttribute); err != nil {
		return nil, "", err
	} else if ok {
		typ = s
	} else if res.hasType {
		typ = res.typ
	}

	d := st.docs.Next(256 + len(body.b) + len(res.attrs))
	ts := t
	if ts == 0 {
		ts = observed
	}
	at := now
	if ts != 0 && ts <= math.MaxInt64 {
		at = time.Unix(0, int64(ts))
	}
	d = append(d, `{"@timestamp":"`...)
	d = st.times.Append(d, at)
	d = append(d, '"')
	if hasBody {
		kind, v, err := anyValueKind(body.b)
		if err != nil {
			return nil, typ, err
		}
		switch {
		case kind == fAnyString:
			d = append(d, `,"message":`...)
			d = jsonx.AppendString(d, v.b)
		case kind != 0:
			d = append(d, `,"body":`...)
			if d, err = appendAnyWire(d, body.b, depth-1); err != nil {
				return nil, typ, err
			}
		}
	}
	if len(sevText) > 0 {
		d = append(d, `,"log":{"level":`...)
		d = jsonx.AppendString(d, sevText)
		d = append(d, '}')
	}
	sevN := int64(int32(sev)) // an enum is an int32
	if sevN != 0 || (observed != 0 && observed <= math.MaxInt64) {
		d = append(d, `,"event":{`...)
		if sevN != 0 {
			d = append(d, `"severity":`...)
			d = strconv.AppendInt(d, sevN, 10)
		}
		if observed != 0 && observed <= math.MaxInt64 {
			if sevN != 0 {
				d = append(d, ',')
			}
			d = append(d, `"created":"`...)
			d = st.times.Append(d, time.Unix(0, int64(observed)))
			d = append(d, '"')
		}
		d = append(d, '}')
	}
	if hasTrace && len(traceID) == 16 {
		d = append(d, `,"trace":{"id":"`...)
		d = hex.AppendEncode(d, traceID)
		d = append(d, `"}`...)
	}
	if hasSpan && len(spanID) == 8 {
		d = append(d, `,"span":{"id":"`...)
		d = hex.AppendEncode(d, spanID)
		d = append(d, `"}`...)
	}
	if res.service != "" {
		d = append(d, `,"service":{"name":`...)
		d = jsonx.AppendString(d, res.service)
		d = append(d, '}')
	}
	if res.host != "" {
		d = append(d, `,"host":{"name":`...)
		d = jsonx.AppendString(d, res.host)
		d = append(d, '}')
	}
	if len(kvs) > 0 {
		d = append(d, `,"attributes":`...)
		if d, err = appendKVsWire(d, kvs, depth-1); err != nil {
			return nil, typ, err
		}
	}
	if res.attrs != nil {
		d = append(d, `,"resource":{"attributes":`...)
		d = append(d, res.attrs...)
		d = append(d, '}')
	}
	if scopeName != "" || scopeVersion != "" {
		d = append(d, `,"scope":{"name":`...)
		d = jsonx.AppendString(d, scopeName)
		d = append(d, `,"version":`...)
		d = jsonx.AppendString(d, scopeVersion)
		d = append(d, '}')
	}
	return st.docs.Keep(append(d, '}')), typ, nil
}

// wireKV is one KeyValue as read from the wire: its key and its AnyValue's bytes.
type wireKV struct {
	key   []byte
	value []byte
	has   bool // value present
}

// The tags of the fields the fast paths read: field number and wire type in one byte.
const (
	tagKVKey     = byte(fKVKey<<3 | protowire.BytesType)
	tagKVValue   = byte(fKVValue<<3 | protowire.BytesType)
	tagAnyString = byte(fAnyString<<3 | protowire.BytesType)
	tagAnyBool   = byte(fAnyBool<<3 | protowire.VarintType)
	tagAnyInt    = byte(fAnyInt<<3 | protowire.VarintType)
	tagAnyDouble = byte(fAnyDouble<<3 | protowire.Fixed64Type)
	tagAnyArray  = byte(fAnyArray<<3 | protowire.BytesType)
	tagAnyKVList = byte(fAnyKVList<<3 | protowire.BytesType)
	tagAnyBytes  = byte(fAnyBytes<<3 | protowire.BytesType)
)

// bytesField reads a length-delimited field with tag at the start of msg and returns
// its bytes and what follows; ok is false when msg does not start with one.
func bytesField(msg []byte, tag byte) (b, rest []byte, ok bool) {
	if len(msg) == 0 || msg[0] != tag {
		return nil, msg, false
	}
	b, n := protowire.ConsumeBytes(msg[1:])
	if n < 0 {
		return nil, msg, false
	}
	return b, msg[1+n:], true
}

// readKV reads a KeyValue. The usual one, its key and then its value, each once, is
// read directly; anything else (fields repeated, unknown or out of order) by
// readKVFields, which the fast path agrees with (FuzzWireFastPaths).
func readKV(msg []byte) (wireKV, error) {
	if key, rest, ok := bytesField(msg, tagKVKey); ok {
		if len(rest) == 0 {
			return wireKV{key: key}, nil
		}
		if value, rest, ok := bytesField(rest, tagKVValue); ok && len(rest) == 0 {
			return wireKV{key: key, value: value, has: true}, nil
		}
	}
	return readKVFields(msg)
}

// readKVFields reads a KeyValue field by field, as protobuf does.
func readKVFields(msg []byte) (wireKV, error) {
	var out wireKV
	var value msgBuf
	err := fields(msg, func(f field) error {
		if f.typ != protowire.BytesType {
			return nil
		}
		switch f.num {
		case fKVKey:
			out.key = f.b
		case fKVValue:
			value.add(f.b)
			out.has = true
		}
		return nil
	})
	out.value = value.b
	return out, err
}

// parseKVs reads KeyValue messages, appending them to kvs.
func parseKVs(kvs []wireKV, msgs [][]byte) ([]wireKV, error) {
	for _, m := range msgs {
		p, err := readKV(m)
		if err != nil {
			return nil, err
		}
		kvs = append(kvs, p)
	}
	return kvs, nil
}

// eachAttr calls match with the value of each attribute key among kvs, in order,
// until it returns true.
func eachAttr(kvs []wireKV, key string, match func(kind protowire.Number, v field) bool) error {
	for _, p := range kvs {
		if string(p.key) != key {
			continue
		}
		kind, v, err := anyValueKind(p.value)
		if err != nil {
			return err
		}
		if match(kind, v) {
			return nil
		}
	}
	return nil
}

// stringAttr returns the string value of the first attribute key among kvs, ok false
// when there is none, or it is no string or empty.
func stringAttr(kvs []wireKV, key string) (s string, ok bool, err error) {
	err = eachAttr(kvs, key, func(kind protowire.Number, v field) bool {
		s, ok = string(v.b), kind == fAnyString && len(v.b) > 0
		return true // the first match, as document() reads it
	})
	return s, ok, err
}

// typeAttr returns the first value of attribute key among kvs that is a string and a
// valid log type (as logType looks).
func typeAttr(st *wireState, kvs []wireKV, key string) (s string, ok bool, err error) {
	err = eachAttr(kvs, key, func(kind protowire.Number, v field) bool {
		if kind == fAnyString && stream.ValidType(string(v.b)) {
			s, ok = st.intern(v.b), true
		}
		return ok
	})
	return s, ok, err
}

// anyValueKind returns which value an AnyValue holds (its field number, the last one
// set, 0 for none) and that field. The usual AnyValue, one field of its own wire
// type, is read directly; anything else by anyValueFields, which the fast path agrees
// with (FuzzWireFastPaths).
func anyValueKind(msg []byte) (protowire.Number, field, error) {
	if len(msg) > 0 {
		num := protowire.Number(msg[0] >> 3)
		switch msg[0] {
		case tagAnyString, tagAnyArray, tagAnyKVList, tagAnyBytes:
			if b, rest, ok := bytesField(msg, msg[0]); ok && len(rest) == 0 {
				return num, field{num: num, typ: protowire.BytesType, b: b}, nil
			}
		case tagAnyBool, tagAnyInt:
			if v, n := protowire.ConsumeVarint(msg[1:]); n >= 0 && 1+n == len(msg) {
				return num, field{num: num, typ: protowire.VarintType, v: v}, nil
			}
		case tagAnyDouble:
			if v, n := protowire.ConsumeFixed64(msg[1:]); n >= 0 && 1+n == len(msg) {
				return num, field{num: num, typ: protowire.Fixed64Type, v: v}, nil
			}
		}
	}
	return anyValueFields(msg)
}

// anyValueFields is anyValueKind field by field, as protobuf reads the message.
func anyValueFields(msg []byte) (protowire.Number, field, error) {
	var kind protowire.Number
	var val field
	var list msgBuf // an array or key-value list sent in pieces
	err := fields(msg, func(f field) error {
		// A field of another wire type than its own is an unknown field to protobuf.
		switch f.num {
		case fAnyString, fAnyArray, fAnyKVList, fAnyBytes:
			if f.typ != protowire.BytesType {
				return nil
			}
		case fAnyBool, fAnyInt, fAnyStrIndex:
			if f.typ != protowire.VarintType {
				return nil
			}
		case fAnyDouble:
			if f.typ != protowire.Fixed64Type {
				return nil
			}
		default:
			return nil
		}
		if f.num != kind {
			list = msgBuf{}
		}
		if f.num == fAnyArray || f.num == fAnyKVList {
			list.add(f.b) // a list sent twice is one list
			f.b = list.b
		}
		kind, val = f.num, f
		return nil
	})
	return kind, val, err
}

// msgBuf gathers a singular message field sent more than once, which protobuf
// merges: on the wire, the concatenation of the pieces. The first piece is kept as it
// is (a slice of the request); from the second on they are appended to a buffer of
// its own that grows by doubling, so that a request repeating a field in a million
// pieces costs linear time, not quadratic.
type msgBuf struct {
	b     []byte
	owned bool
}

func (m *msgBuf) add(next []byte) {
	switch {
	case m.b == nil:
		m.b = next
	case !m.owned:
		m.b = append(append(make([]byte, 0, 2*(len(m.b)+len(next))), m.b...), next...)
		m.owned = true
	default:
		m.b = append(m.b, next...)
	}
}

// appendKVsWire appends attributes (KeyValue messages, read already) as a JSON
// object.
func appendKVsWire(dst []byte, kvs []wireKV, depth int) ([]byte, error) {
	if depth < 1 {
		return nil, errTooDeep
	}
	dst = append(dst, '{')
	return walkWire(dst, []wframe{{obj: true, kvs: lastOfEachKey(kvs)}}, nil, depth)
}

// wframe is one array or key-value list being written by appendAnyWire.
type wframe struct {
	obj   bool
	items [][]byte // ArrayValue: AnyValue messages
	kvs   []wireKV // KeyValueList: its KeyValues, read
	i     int
}

// appendAnyWire appends one AnyValue as JSON.
func appendAnyWire(dst []byte, any []byte, depth int) ([]byte, error) {
	return walkWire(dst, nil, any, depth)
}

// walkWire writes cur (an AnyValue's bytes, nil to start with the stack's next item)
// and everything left on the stack, with an explicit stack of containers.
func walkWire(dst []byte, stack []wframe, cur []byte, depth int) ([]byte, error) {
	pending := cur != nil
	for {
		if pending {
			kind, v, err := anyValueKind(cur)
			if err != nil {
				return nil, err
			}
			switch kind {
			case fAnyArray, fAnyKVList:
				if len(stack) >= depth {
					return nil, errTooDeep
				}
				var items [][]byte
				if err := fields(v.b, func(f field) error {
					if f.num == fListValues && f.typ == protowire.BytesType {
						items = append(items, f.b)
					}
					return nil
				}); err != nil {
					return nil, err
				}
				if kind == fAnyKVList {
					kvs, err := parseKVs(nil, items)
					if err != nil {
						return nil, err
					}
					dst = append(dst, '{')
					stack = append(stack, wframe{obj: true, kvs: lastOfEachKey(kvs)})
				} else {
					dst = append(dst, '[')
					stack = append(stack, wframe{items: items})
				}
			case fAnyString:
				dst = jsonx.AppendString(dst, v.b)
			case fAnyBool:
				dst = strconv.AppendBool(dst, v.v != 0)
			case fAnyInt:
				dst = strconv.AppendInt(dst, int64(v.v), 10)
			case fAnyDouble:
				f := math.Float64frombits(v.v)
				if out, err := jsonx.AppendFloat(dst, f); err == nil {
					dst = out
				} else {
					dst = jsonx.AppendString(dst, strconv.FormatFloat(f, 'g', -1, 64))
				}
			case fAnyBytes:
				dst = append(dst, '"')
				dst = base64.StdEncoding.AppendEncode(dst, v.b)
				dst = append(dst, '"')
			default:
				dst = append(dst, "null"...)
			}
			pending = false
		}
		if len(stack) == 0 {
			return dst, nil
		}
		f := &stack[len(stack)-1]
		if f.i < len(f.items)+len(f.kvs) {
			if f.i > 0 {
				dst = append(dst, ',')
			}
			i := f.i
			f.i++
			if f.obj {
				p := f.kvs[i]
				dst = jsonx.AppendString(dst, p.key)
				dst = append(dst, ':')
				if !p.has {
					dst = append(dst, "null"...)
					continue
				}
				cur = p.value
			} else {
				cur = f.items[i]
			}
			pending = true
			continue
		}
		if f.obj {
			dst = append(dst, '}')
		} else {
			dst = append(dst, ']')
		}
		stack = stack[:len(stack)-1]
	}
}

// lastOfEachKey keeps, of KeyValues with the same key, the last.
func lastOfEachKey(kvs []wireKV) []wireKV {
	if len(kvs) < 2 {
		return kvs
	}
	if len(kvs) <= 8 { // the usual handful of attributes: compare in place, allocate nothing
		dup := false
		for i := 1; i < len(kvs) && !dup; i++ {
			for j := range i {
				if string(kvs[i].key) == string(kvs[j].key) {
					dup = true
					break
				}
			}
		}
		if !dup {
			return kvs
		}
	}
	last := make(map[string]int, len(kvs))
	for i, p := range kvs {
		last[string(p.key)] = i
	}
	if len(last) == len(kvs) {
		return kvs
	}
	out := make([]wireKV, 0, len(last))
	for i, p := range kvs {
		if last[string(p.key)] == i {
			out = append(out, p)
		}
	}
	return out
}
