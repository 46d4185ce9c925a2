package kinesis

// The records of streams that producers other than sluice's gateway write (Config.Sources),
// for step 4 of the data path (consume): a CloudWatch Logs subscription filter writes
// each Kinesis record as gzip-compressed JSON holding many log events, which the reader
// expands into one user record per log event, each carrying a sluice envelope, so that
// the transformer reads them like the gateway's records.

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-siem/sluice/internal/bytesize"
	"github.com/sluice-siem/sluice/internal/jsonx"
	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/kinesis/kpl"
)

// FormatCloudWatchLogs is the Source format of a stream a CloudWatch Logs subscription
// filter writes to ("Subscription filters with Amazon Kinesis Data Streams" in the
// CloudWatch Logs user guide): each record is gzip-compressed JSON,
//
//	{"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "...",
//	 "logStream": "...", "subscriptionFilters": ["..."],
//	 "logEvents": [{"id": "...", "timestamp": 1795676400000, "message": "..."}, ...]}
//
// or a CONTROL_MESSAGE, which CloudWatch Logs sends to check that it can write to the
// stream and which holds no events.
const FormatCloudWatchLogs = "cloudwatch_logs"

// DefaultMaxDecompressedBytes bounds a compressed record (a CloudWatch Logs record, a
// zstd record) once decompressed when Source.MaxDecompressedBytes or
// Config.MaxDecompressedBytes is zero. A record is at most 1 MiB compressed; log text
// rarely compresses more than tenfold.
const DefaultMaxDecompressedBytes = 10 * bytesize.MiB

// Source says how the reader turns the records of a stream that another producer
// writes into events: the records' format and the log type of the events. A record it
// cannot decode is delivered as it is (as a bad KPL record is), for the transformer to
// make a dead letter of, and logged: it never blocks the shard.
type Source struct {
	// Format is the records' format: FormatCloudWatchLogs, FormatJSON, FormatRaw or
	// FormatAuto (docs/stream-format.md, "Records of other producers").
	Format string `yaml:"format" doc:"record format: cloudwatch_logs (a CloudWatch Logs subscription filter), json (one JSON event per record), raw (one line per record), auto (each record told apart)"`
	// Type is the log type of the events, which selects their pipeline.
	Type string `yaml:"type" doc:"log type of the events (their pipeline), such as vpcflow"`
	// TypeField names the field of a JSON event (dotted for nested objects) whose
	// value, when it is a valid log type, is the event's log type instead of Type.
	TypeField string `yaml:"type_field" doc:"json and auto: field of the event naming its log type (such as event.dataset); Type when absent"`
	// MaxDecompressedBytes bounds one record once decompressed; a larger one (a
	// decompression bomb) is not expanded. Zero means DefaultMaxDecompressedBytes.
	MaxDecompressedBytes bytesize.Size `yaml:"max_decompressed_bytes" doc:"largest record once decompressed; larger ones become dead letters (0: 10MiB)"`
}

// validate reports the problems of s through bad, each path prefixed with path.
func (s Source) validate(path string, bad func(path, format string, args ...any)) {
	switch s.Format {
	case FormatCloudWatchLogs, FormatJSON, FormatRaw, FormatAuto:
	default:
		bad(path+"format", "want cloudwatch_logs, json, raw or auto, not %q", s.Format)
	}
	if s.TypeField != "" && s.Format != FormatJSON && s.Format != FormatAuto {
		bad(path+"type_field", "only for the formats json and auto")
	}
	if strings.HasPrefix(s.TypeField, ".") || strings.HasSuffix(s.TypeField, ".") || strings.Contains(s.TypeField, "..") {
		bad(path+"type_field", "%q is not a field name", s.TypeField)
	}
	if !stream.ValidType(s.Type) {
		bad(path+"type", "want a log type: 1-%d of a-z 0-9 _ - . starting with a letter or digit, not %q", stream.MaxTypeLen, s.Type)
	}
	if s.MaxDecompressedBytes < 0 {
		bad(path+"max_decompressed_bytes", "must not be negative, not %s", s.MaxDecompressedBytes)
	}
}

// cloudWatchMaxDepth bounds the nesting of a CloudWatch Logs record's JSON: the record
// is an object of arrays of objects of strings; the bound leaves room for members AWS
// may add.
const cloudWatchMaxDepth = 16

// keepBufferBytes is the largest decompression buffer a decoder keeps between records;
// a larger one is given back to the garbage collector, so that an idle shard reader
// does not hold a large record's worth of memory.
const keepBufferBytes = 1 << 20

// cloudWatchDecoder expands CloudWatch Logs subscription records. It keeps its gzip
// reader and buffers between records, so one serves one shard reader: it is not safe
// for concurrent use.
type cloudWatchDecoder struct {
	typ   string
	max   int64
	zr    *gzip.Reader
	buf   bytes.Buffer
	event []byte // one event's document, reused
}

func newCloudWatchDecoder(src Source) *cloudWatchDecoder {
	limit := src.MaxDecompressedBytes
	if limit == 0 {
		limit = DefaultMaxDecompressedBytes
	}
	return &cloudWatchDecoder{typ: src.Type, max: int64(limit)}
}

// decode returns the user records of one CloudWatch Logs record: one per log event of
// a DATA_MESSAGE, in order, with SubSequence its index and Aggregated set (so that the
// consumer checkpoints inside the record as it does inside a KPL aggregated record),
// each one's Data an envelope of the source's log type whose id is the log event's id
// (CloudWatch's unique id: a record read twice makes the same documents) and whose
// received time is the event's timestamp. The event document is
//
//	{"message": <message>, "event": {"id": <id>},
//	 "aws": {"cloudwatch": {"log_group": <logGroup>, "log_stream": <logStream>}},
//	 "cloud": {"provider": "aws", "account": {"id": <owner>}}}
//
// with the names of Elastic's aws-cloudwatch input (members the record lacks left out).
// A CONTROL_MESSAGE, or a DATA_MESSAGE without events, has no user records. The Data
// slices share one new array, none of it data's.
func (d *cloudWatchDecoder) decode(partitionKey string, data []byte) ([]kpl.UserRecord, error) {
	raw, err := d.gunzip(data)
	if err != nil {
		return nil, err
	}
	defer d.release()
	var msg cloudWatchMessage
	if err := msg.parse(raw); err != nil {
		return nil, fmt.Errorf("cloudwatch logs record: %w", err)
	}
	if msg.control || len(msg.events) == 0 {
		return nil, nil
	}
	return d.expand(partitionKey, &msg)
}

// gunzip decompresses data into d.buf, refusing more than d.max bytes.
func (d *cloudWatchDecoder) gunzip(data []byte) ([]byte, error) {
	var err error
	if d.zr == nil {
		d.zr, err = gzip.NewReader(bytes.NewReader(data))
	} else {
		err = d.zr.Reset(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("cloudwatch logs record: gunzip: %w", err)
	}
	d.buf.Reset()
	n, err := d.buf.ReadFrom(io.LimitReader(d.zr, d.max+1))
	if err != nil {
		d.release()
		return nil, fmt.Errorf("cloudwatch logs record: gunzip: %w", err)
	}
	if n > d.max {
		d.release()
		return nil, fmt.Errorf("cloudwatch logs record: decompresses to more than max_decompressed_bytes (%s): not expanded", bytesize.Size(d.max))
	}
	return d.buf.Bytes(), nil
}

// release drops a large decompression buffer (see keepBufferBytes).
func (d *cloudWatchDecoder) release() {
	if d.buf.Cap() > keepBufferBytes {
		d.buf = bytes.Buffer{}
	}
}

// maxLogEvents bounds the log events of one record: CloudWatch Logs takes at most
// 10,000 in one PutLogEvents batch, and a subscription record holds events of one.
const maxLogEvents = 10000

// expand makes the user records of the log events of msg.
func (d *cloudWatchDecoder) expand(partitionKey string, msg *cloudWatchMessage) ([]kpl.UserRecord, error) {
	// One array for every envelope: about the messages' bytes plus each event's
	// wrapping, grown as needed.
	out := make([]byte, 0, len(msg.events)+len(msg.events)/2+len(msg.group)+len(msg.stream)+len(msg.owner)+512)
	ends := make([]int, 0, 16)
	i := jsonx.SkipSpace(msg.events, 1) // after '['
	for n := 0; msg.events[i] != ']'; n++ {
		if n == maxLogEvents {
			return nil, fmt.Errorf("cloudwatch logs record: more than %d log events (a PutLogEvents batch holds at most %d)", maxLogEvents, maxLogEvents)
		}
		if n > 0 {
			i = jsonx.SkipSpace(msg.events, i+1) // after ','
		}
		elem, err := jsonx.NewDecoder(msg.events[i:]).Skip()
		if err != nil {
			return nil, fmt.Errorf("cloudwatch logs record: logEvents[%d]: %w", n, err) // cannot happen: validated
		}
		i = jsonx.SkipSpace(msg.events, i+len(elem))
		ev, err := parseLogEvent(elem)
		if err != nil {
			return nil, fmt.Errorf("cloudwatch logs record: logEvents[%d]: %w", n, err)
		}
		d.event = d.document(d.event[:0], msg, &ev)
		out = stream.AppendEnvelope(out, d.typ, ev.id, time.UnixMilli(ev.timestamp), d.event)
		ends = append(ends, len(out))
	}
	users := make([]kpl.UserRecord, len(ends))
	start := 0
	for n, end := range ends {
		users[n] = kpl.UserRecord{PartitionKey: partitionKey, Data: out[start:end:end], SubSequence: n, Aggregated: true}
		start = end
	}
	return users, nil
}

// document appends the event document of one log event to dst.
func (d *cloudWatchDecoder) document(dst []byte, msg *cloudWatchMessage, ev *logEvent) []byte {
	dst = append(dst, `{"message":`...)
	dst = append(dst, ev.message...)
	dst = append(dst, `,"event":{"id":`...)
	dst = jsonx.AppendString(dst, ev.id)
	dst = append(dst, '}')
	if msg.group != nil || msg.stream != nil {
		dst = append(dst, `,"aws":{"cloudwatch":{`...)
		if msg.group != nil {
			dst = append(dst, `"log_group":`...)
			dst = append(dst, msg.group...)
		}
		if msg.stream != nil {
			if msg.group != nil {
				dst = append(dst, ',')
			}
			dst = append(dst, `"log_stream":`...)
			dst = append(dst, msg.stream...)
		}
		dst = append(dst, "}}"...)
	}
	dst = append(dst, `,"cloud":{"provider":"aws"`...)
	if msg.owner != nil {
		dst = append(dst, `,"account":{"id":`...)
		dst = append(dst, msg.owner...)
		dst = append(dst, '}')
	}
	return append(dst, "}}"...)
}

// cloudWatchMessage is a decompressed CloudWatch Logs record's members, as JSON text
// (strings with their quotes) taken from the record.
type cloudWatchMessage struct {
	control              bool
	owner, group, stream []byte // nil: absent or null
	events               []byte // the logEvents array; nil: absent or null
}

// parse reads the record: one JSON object of messageType DATA_MESSAGE or
// CONTROL_MESSAGE. Members other than the ones it takes are checked to be JSON and
// ignored.
func (m *cloudWatchMessage) parse(raw []byte) error {
	dec := jsonx.NewDecoder(raw)
	dec.SetMaxDepth(cloudWatchMaxDepth)
	var typ []byte
	err := dec.Object(func(key string) error {
		var err error
		switch key {
		case "messageType":
			typ, err = stringMember(dec, key)
		case "owner":
			m.owner, err = stringMember(dec, key)
		case "logGroup":
			m.group, err = stringMember(dec, key)
		case "logStream":
			m.stream, err = stringMember(dec, key)
		case "logEvents":
			switch dec.Peek() {
			case '[':
				m.events, err = dec.Skip()
			case 'n':
				_, err = dec.Skip()
			default:
				err = errors.New("logEvents: want an array")
			}
		default:
			_, err = dec.Skip()
		}
		return err
	})
	if err == nil {
		err = dec.End()
	}
	if err != nil {
		return err
	}
	switch t, _ := unquote(typ); t {
	case "DATA_MESSAGE":
	case "CONTROL_MESSAGE":
		m.control = true
	default:
		return fmt.Errorf("messageType %.40q: want DATA_MESSAGE or CONTROL_MESSAGE", t)
	}
	return nil
}

// The times an envelope can hold (RFC 3339 has four-digit years), in milliseconds
// since the epoch: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z.
const (
	minTimestamp = -62135596800000
	maxTimestamp = 253402300799999
)

// logEvent is one member of logEvents: id and timestamp decoded, message as JSON text.
type logEvent struct {
	id        string
	timestamp int64 // milliseconds since the epoch
	message   []byte
}

// parseLogEvent reads one log event; id, timestamp and message are required.
func parseLogEvent(elem []byte) (logEvent, error) {
	var ev logEvent
	if elem[0] != '{' {
		return ev, errors.New("want an object")
	}
	dec := jsonx.NewDecoder(elem)
	var id, ts []byte
	err := dec.Object(func(key string) error {
		var err error
		switch key {
		case "id":
			id, err = stringMember(dec, key)
		case "timestamp":
			ts, err = dec.Skip()
		case "message":
			ev.message, err = stringMember(dec, key)
		default:
			_, err = dec.Skip()
		}
		return err
	})
	if err != nil {
		return ev, err
	}
	if ev.id, err = unquote(id); err != nil || ev.id == "" || len(ev.id) > stream.MaxIDLen {
		return ev, fmt.Errorf("id: want a string of 1 to %d bytes", stream.MaxIDLen)
	}
	if ev.timestamp, err = strconv.ParseInt(string(ts), 10, 64); err != nil {
		return ev, errors.New("timestamp: want an integer (milliseconds since the epoch)")
	}
	if ev.timestamp < minTimestamp || ev.timestamp > maxTimestamp {
		return ev, fmt.Errorf("timestamp %d: not a time of years 1 to 9999", ev.timestamp)
	}
	if ev.message == nil {
		return ev, errors.New("message: missing")
	}
	return ev, nil
}

// stringMember returns the string value at dec as JSON text, quotes included, or nil
// for null.
func stringMember(dec *jsonx.Decoder, key string) ([]byte, error) {
	switch dec.Peek() {
	case '"':
		return dec.Skip()
	case 'n':
		_, err := dec.Skip()
		return nil, err
	}
	return nil, fmt.Errorf("%s: want a string", key)
}

// unquote decodes a JSON string's text; nil gives "".
func unquote(s []byte) (string, error) {
	if s == nil {
		return "", nil
	}
	return jsonx.NewDecoder(s).String()
}
