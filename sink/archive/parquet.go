package archive

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	pgzip "github.com/parquet-go/parquet-go/compress/gzip"
	pzstd "github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/sluice-siem/sluice/internal/bytesize"
	"github.com/sluice-siem/sluice/internal/jsonx"
	"github.com/sluice-siem/sluice/stream"
)

// ParquetConfig is the parquet part of sink.archive: the columns of Parquet objects.
type ParquetConfig struct {
	// Columns adds, per log type, document fields with columns of their own to the
	// shared ECS ones (SharedColumns) and the sample types' (TypeColumns): "field"
	// for a string column, "field:long|double|boolean|timestamp" for another type.
	Columns map[string][]string `yaml:"columns" doc:"per log type: more fields with columns of their own, field or field:long|double|boolean|timestamp (string by default)"`
	// RowGroupBytes ends a row group once its documents reach this many bytes: the
	// rows a Parquet writer holds before they are encoded into the object.
	RowGroupBytes bytesize.Size `yaml:"row_group_bytes" doc:"a row group ends once its documents reach this many bytes (memory held per open object)"`
}

// SharedColumns are the ECS fields every log type's Parquet objects have a column
// for, as "field[:type]". Beside them every object has the columns id, position,
// received and document (the whole document as JSON, so nothing is lost).
var SharedColumns = []string{
	"@timestamp:timestamp", "message", "tags",
	"event.kind", "event.category", "event.type", "event.action", "event.outcome", "event.dataset",
	"event.code", "event.severity:long", "event.duration:long", "log.level",
	"source.ip", "source.port:long", "source.address", "source.bytes:long", "source.packets:long",
	"source.nat.ip", "source.geo.country_iso_code", "source.as.number:long", "source.user.name",
	"destination.ip", "destination.port:long", "destination.address", "destination.bytes:long", "destination.packets:long",
	"destination.nat.ip", "destination.geo.country_iso_code", "destination.as.number:long", "destination.domain",
	"network.transport", "network.protocol", "network.direction", "network.bytes:long", "network.packets:long",
	"network.community_id", "network.application",
	"observer.name", "observer.vendor", "observer.product", "observer.type",
	"observer.ingress.interface.name", "observer.egress.interface.name",
	"host.name", "user.name", "rule.id", "rule.name", "rule.category", "rule.ruleset",
	"url.original", "url.domain", "url.path", "http.request.method", "http.response.status_code:long",
	"user_agent.original", "dns.question.name", "file.name", "file.hash.sha256",
	"threat.indicator.type", "related.ip", "related.user", "related.hosts",
}

// TypeColumns are the sample log types' own columns (vendor fields most of their
// documents carry), beside SharedColumns.
var TypeColumns = map[string][]string{
	"firewall": {"iptables.input_device", "iptables.output_device", "iptables.ttl:long", "iptables.length:long",
		"iptables.id:long", "iptables.tcp.flags", "iptables.tcp.window:long"},
	"ids": {"suricata.eve.event_type", "suricata.eve.flow_id", "suricata.eve.tx_id:long", "suricata.eve.alert.action",
		"suricata.eve.alert.rev:long", "suricata.eve.dns.type", "suricata.eve.dns.rcode", "suricata.eve.http.protocol"},
	"waf": {"aws.waf.id", "aws.waf.arn", "aws.waf.source.id", "aws.waf.source.name", "aws.waf.labels",
		"cloud.account.id", "cloud.region"},
	"panos": {"panw.panos.type", "panw.panos.sub_type", "panw.panos.action", "panw.panos.virtual_sys",
		"panw.panos.sequence_number", "panw.panos.flow_id", "panw.panos.repeat_count:long", "panw.panos.log_profile"},
	"fortigate": {"fortinet.firewall.type", "fortinet.firewall.subtype", "fortinet.firewall.action",
		"fortinet.firewall.vd", "fortinet.firewall.sessionid", "fortinet.firewall.srcintfrole",
		"fortinet.firewall.dstintfrole", "fortinet.firewall.attack"},
	"cisco_asa": {"cisco.asa.message_id", "cisco.asa.source_interface", "cisco.asa.destination_interface",
		"cisco.asa.rule_name", "cisco.asa.connection_id", "cisco.asa.mapped_source_ip",
		"cisco.asa.mapped_source_port:long", "cisco.asa.mapped_destination_ip", "cisco.asa.mapped_destination_port:long"},
	"zeek": {"zeek.session_id", "zeek.connection.state", "zeek.connection.history", "zeek.connection.local_orig:boolean",
		"zeek.connection.local_resp:boolean", "zeek.dns.query", "client.address", "server.address"},
	"vpcflow": {"aws.vpcflow.action", "aws.vpcflow.log_status", "aws.vpcflow.interface_id", "aws.vpcflow.version",
		"aws.vpcflow.account_id", "aws.vpcflow.vpc_id", "aws.vpcflow.subnet_id", "aws.vpcflow.type",
		"cloud.account.id"},
}

// Column types.
const (
	colString    = "string"
	colLong      = "long"
	colDouble    = "double"
	colBoolean   = "boolean"
	colTimestamp = "timestamp"
)

// fixed columns every Parquet object has, beside the fields'.
const (
	colID       = "id"
	colPosition = "position"
	colReceived = "received"
	colDocument = "document"
)

func (c ParquetConfig) validate() error {
	var errs []error
	if _, err := parquetColumns("", nil); err != nil {
		errs = append(errs, fmt.Errorf("the shared columns: %w", err))
	}
	for typ := range TypeColumns {
		if _, err := parquetColumns(typ, nil); err != nil {
			errs = append(errs, fmt.Errorf("the columns of %s: %w", typ, err))
		}
	}
	for _, typ := range slices.Sorted(maps.Keys(c.Columns)) {
		if !stream.ValidType(typ) {
			errs = append(errs, fmt.Errorf("parquet.columns: %q is not a log type", typ))
			continue
		}
		if _, err := parquetColumns(typ, c.Columns[typ]); err != nil {
			errs = append(errs, fmt.Errorf("parquet.columns.%s: %w", typ, err))
		}
	}
	if c.RowGroupBytes < bytesize.KiB {
		errs = append(errs, fmt.Errorf("parquet.row_group_bytes: %s, want at least 1KiB", c.RowGroupBytes))
	}
	return errors.Join(errs...)
}

// column is one field with a Parquet column of its own.
type column struct {
	field string   // the document field, dotted
	path  []string // field, split at the dots
	name  string   // the column's name: field with _ for . and without a leading @
	kind  string
}

// ColumnName is the Parquet (and Athena) column of a document field: dots become
// underscores, a leading @ goes (@timestamp is timestamp).
func ColumnName(field string) string {
	return strings.ReplaceAll(strings.TrimPrefix(field, "@"), ".", "_")
}

// parquetColumns returns the field columns of typ's objects: the shared ones, the
// sample type's, then extra, each field once.
func parquetColumns(typ string, extra []string) ([]column, error) {
	var out []column
	names := map[string]string{colID: "(fixed)", colPosition: "(fixed)", colReceived: "(fixed)", colDocument: "(fixed)"}
	for _, spec := range slices.Concat(SharedColumns, TypeColumns[typ], extra) {
		field, kind, typed := strings.Cut(spec, ":")
		if !typed {
			kind = colString
		}
		switch kind {
		case colString, colLong, colDouble, colBoolean, colTimestamp:
		default:
			return nil, fmt.Errorf("%q: type %q, want string, long, double, boolean or timestamp", spec, kind)
		}
		if field == "" || strings.HasPrefix(field, ".") || strings.HasSuffix(field, ".") || strings.Contains(field, "..") {
			return nil, fmt.Errorf("%q is not a field", spec)
		}
		c := column{field: field, path: strings.Split(field, "."), name: ColumnName(field), kind: kind}
		if prev, dup := names[c.name]; dup {
			if prev == field {
				continue // listed again: one column
			}
			return nil, fmt.Errorf("fields %s and %s would share the column %s", prev, field, c.name)
		}
		names[c.name] = field
		out = append(out, c)
	}
	return out, nil
}

// parquetSchema is the Parquet schema of one log type's objects.
type parquetSchema struct {
	schema *parquet.Schema
	cols   []column
	// leaf is the index of each column in the schema (its leaves are in name order):
	// the field columns in cols' order, then id, position, received, document.
	leaf []int
	// order lists those columns (indexes into leaf) in the schema's order, the order
	// a row's values must have.
	order []int
}

func newParquetSchema(typ string, extra []string) (*parquetSchema, error) {
	cols, err := parquetColumns(typ, extra)
	if err != nil {
		return nil, err
	}
	group := parquet.Group{
		colID:       parquet.String(),
		colPosition: parquet.String(),
		colReceived: parquet.Timestamp(parquet.Millisecond),
		colDocument: parquet.String(),
	}
	for _, c := range cols {
		var n parquet.Node
		switch c.kind {
		case colLong:
			n = parquet.Int(64)
		case colDouble:
			n = parquet.Leaf(parquet.DoubleType)
		case colBoolean:
			n = parquet.Leaf(parquet.BooleanType)
		case colTimestamp:
			n = parquet.Timestamp(parquet.Millisecond)
		default:
			n = parquet.String()
		}
		group[c.name] = parquet.Optional(n)
	}
	s := &parquetSchema{schema: parquet.NewSchema("sluice_"+typ, group), cols: cols}
	index := map[string]int{}
	for i, path := range s.schema.Columns() {
		index[path[0]] = i
	}
	for _, c := range cols {
		s.leaf = append(s.leaf, index[c.name])
	}
	s.leaf = append(s.leaf, index[colID], index[colPosition], index[colReceived], index[colDocument])
	s.order = make([]int, len(s.leaf))
	for i, l := range s.leaf {
		s.order[l] = i
	}
	return s, nil
}

// parquetEncoder writes one object's documents as Parquet rows into its buffer.
type parquetEncoder struct {
	s       *parquetSchema
	w       *parquet.GenericWriter[any]
	pending int64 // document bytes in the row group being built
	limit   int64
	row     parquet.Row
	fields  []any
}

func newParquetEncoder(s *parquetSchema, out *bytes.Buffer, compression string, rowGroupBytes int64) *parquetEncoder {
	var codec compress.Codec = &pzstd.Codec{Level: pzstd.DefaultLevel}
	if compression == CompressionGzip {
		codec = &pgzip.Codec{Level: pgzip.DefaultCompression}
	}
	w := parquet.NewGenericWriter[any](out, s.schema, parquet.Compression(codec), parquet.CreatedBy("sluice", "", ""))
	return &parquetEncoder{s: s, w: w, limit: rowGroupBytes, fields: make([]any, len(s.cols))}
}

// add writes the row of one document. A document that is not a JSON object (never
// from the transformer) keeps only its fixed columns.
func (e *parquetEncoder) add(l line) error {
	clear(e.fields)
	if doc, err := jsonx.DecodeObject(l.data); err == nil {
		for i, c := range e.s.cols {
			e.fields[i] = lookup(doc, c.path)
		}
	}
	row := e.row[:0]
	n := len(e.s.cols)
	for leaf, i := range e.s.order {
		var v parquet.Value
		switch i - n {
		case 0:
			v = parquet.ByteArrayValue([]byte(l.id)).Level(0, 0, leaf)
		case 1:
			v = parquet.ByteArrayValue([]byte(l.position)).Level(0, 0, leaf)
		case 2:
			v = parquet.Int64Value(l.recv.UnixMilli()).Level(0, 0, leaf)
		case 3:
			v = parquet.ByteArrayValue(l.data).Level(0, 0, leaf)
		default:
			if cv, ok := columnValue(e.fields[i], e.s.cols[i].kind); ok {
				v = cv.Level(0, 1, leaf)
			} else {
				v = parquet.NullValue().Level(0, 0, leaf)
			}
		}
		row = append(row, v)
	}
	e.row = row
	if _, err := e.w.WriteRows([]parquet.Row{row}); err != nil {
		return err
	}
	e.pending += int64(len(l.data))
	if e.pending >= e.limit {
		e.pending = 0
		return e.w.Flush()
	}
	return nil
}

// Close writes the last row group and the footer.
func (e *parquetEncoder) Close() error { return e.w.Close() }

// lookup finds a field in a document: nested objects first, then a key with dots
// of its own at any level (documents of events that were never expanded).
func lookup(doc map[string]any, path []string) any {
	var cur any = doc
	for i, k := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		v, ok := m[k]
		if !ok {
			return m[strings.Join(path[i:], ".")]
		}
		cur = v
	}
	return cur
}

// columnValue converts a document value to a column of kind; ok is false for a
// missing value or one that does not convert (the document column still has it).
// A list or object in a string column is its JSON.
func columnValue(v any, kind string) (parquet.Value, bool) {
	if v == nil {
		return parquet.Value{}, false
	}
	switch kind {
	case colLong:
		switch x := v.(type) {
		case json.Number:
			if n, err := x.Int64(); err == nil {
				return parquet.Int64Value(n), true
			}
			if f, err := x.Float64(); err == nil && f == float64(int64(f)) {
				return parquet.Int64Value(int64(f)), true
			}
		case string:
			if n, err := strconv.ParseInt(x, 10, 64); err == nil {
				return parquet.Int64Value(n), true
			}
		}
	case colDouble:
		switch x := v.(type) {
		case json.Number:
			if f, err := x.Float64(); err == nil {
				return parquet.DoubleValue(f), true
			}
		case string:
			if f, err := strconv.ParseFloat(x, 64); err == nil {
				return parquet.DoubleValue(f), true
			}
		}
	case colBoolean:
		switch x := v.(type) {
		case bool:
			return parquet.BooleanValue(x), true
		case string:
			if b, err := strconv.ParseBool(x); err == nil {
				return parquet.BooleanValue(b), true
			}
		}
	case colTimestamp:
		switch x := v.(type) {
		case string:
			if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
				return parquet.Int64Value(t.UnixMilli()), true
			}
		case json.Number:
			if n, err := x.Int64(); err == nil {
				return parquet.Int64Value(n), true // epoch milliseconds
			}
		}
	default:
		switch x := v.(type) {
		case string:
			return parquet.ByteArrayValue([]byte(x)), true
		case json.Number:
			return parquet.ByteArrayValue([]byte(x)), true
		case bool:
			return parquet.ByteArrayValue(strconv.AppendBool(nil, x)), true
		default:
			b, err := json.Marshal(x)
			if err == nil {
				return parquet.ByteArrayValue(b), true
			}
		}
	}
	return parquet.Value{}, false
}
