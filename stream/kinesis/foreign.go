package kinesis

// Records of other producers that carry no sluice envelope (Config.Sources with the
// formats json, raw and auto): the reader makes an envelope for each of their events,
// as it does for CloudWatch Logs records (cloudwatch.go), so that the transformer
// reads every stream alike.

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice-siem/sluice/internal/jsonx"
	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/kinesis/kpl"
)

// Formats of the records of other producers (Source.Format), beside
// FormatCloudWatchLogs.
const (
	// FormatJSON is one JSON object per record (or per KPL user record), as Fluent
	// Bit's and Vector's Kinesis outputs write: the object is the event; its log type
	// is the value of Source.TypeField, else Source.Type.
	FormatJSON = "json"
	// FormatRaw is one line of text per record: the event is {"message": <line>}
	// (a trailing newline dropped, invalid UTF-8 replaced).
	FormatRaw = "raw"
	// FormatAuto tells the records apart one by one: sluice's own (a zstd frame, a
	// KPL aggregate of envelopes, or an envelope beginning {"v":1,), a CloudWatch
	// Logs record (gzip), a JSON object, else a raw line.
	FormatAuto = "auto"
)

// foreignMaxDepth bounds the nesting of a JSON record's event, as limits.max_depth
// does at the gateway by default.
const foreignMaxDepth = jsonx.DefaultMaxDepth

// foreignDecoder makes envelopes of the records of a json, raw or auto stream. It
// serves one shard reader: it is not safe for concurrent use.
type foreignDecoder struct {
	format    string
	typ       string
	typeField []string // the path of Source.TypeField, nil without one
	cloud     *cloudWatchDecoder
	unzstd    *decompressor
}

func newForeignDecoder(src Source, unzstd *decompressor) *foreignDecoder {
	d := &foreignDecoder{format: src.Format, typ: src.Type, unzstd: unzstd}
	if src.TypeField != "" {
		d.typeField = strings.Split(src.TypeField, ".")
	}
	if src.Format == FormatAuto {
		d.cloud = newCloudWatchDecoder(src)
	}
	return d
}

// isGzip reports whether data is a gzip stream (a CloudWatch Logs record).
func isGzip(data []byte) bool { return len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b }

// isEnvelope reports whether data looks like a sluice envelope, as AppendEnvelope
// writes it.
func isEnvelope(data []byte) bool { return bytes.HasPrefix(data, []byte(`{"v":1,`)) }

// decode returns the user records of one record, each an envelope received at
// arrival; noEvent is set for a CloudWatch Logs record without events (auto).
func (d *foreignDecoder) decode(key string, data []byte, arrival time.Time) (users []kpl.UserRecord, noEvent bool, err error) {
	if d.format == FormatAuto {
		switch {
		case isGzip(data):
			users, err = d.cloud.decode(key, data)
			if err == nil && len(users) == 0 {
				return []kpl.UserRecord{{PartitionKey: key}}, true, nil
			}
			return users, false, err
		case IsCompressed(data), kpl.IsAggregated(data) && !d.foreignAggregate(key, data), isEnvelope(data):
			if IsCompressed(data) {
				if data, err = d.unzstd.decompress(data); err != nil {
					return nil, false, err
				}
			}
			users, err = kpl.Deaggregate(key, data)
			return users, false, err
		}
	}
	users, err = kpl.Deaggregate(key, data)
	if err != nil {
		return nil, false, err
	}
	for i := range users {
		if users[i].Data, err = d.envelope(users[i].Data, arrival); err != nil {
			if users[i].Aggregated {
				err = fmt.Errorf("user record %d: %w", users[i].SubSequence, err)
			}
			return nil, false, err
		}
	}
	return users, false, nil
}

// foreignAggregate reports whether a KPL aggregate holds events of another producer
// (its first user record is not an envelope), in auto mode.
func (d *foreignDecoder) foreignAggregate(key string, data []byte) bool {
	users, err := kpl.Deaggregate(key, data)
	return err == nil && len(users) > 0 && !isEnvelope(users[0].Data)
}

// envelope wraps one event of the stream's format.
func (d *foreignDecoder) envelope(data []byte, arrival time.Time) ([]byte, error) {
	format := d.format
	if format == FormatAuto {
		format = FormatRaw
		if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '{' && jsonObject(t) == nil {
			format = FormatJSON
		}
	}
	if format == FormatRaw {
		line := strings.TrimRight(string(data), "\r\n")
		if !utf8.ValidString(line) {
			line = strings.ToValidUTF8(line, "\uFFFD")
		}
		ev := append(append([]byte(`{"message":`), jsonx.AppendString(nil, line)...), '}')
		return stream.AppendEnvelope(nil, d.typ, "", arrival, ev), nil
	}
	obj := bytes.TrimSpace(data)
	if err := jsonObject(obj); err != nil {
		return nil, fmt.Errorf("json record: %w", err)
	}
	return stream.AppendEnvelope(nil, d.logType(obj), "", arrival, obj), nil
}

// logType is the value of the type field of a JSON event when it is a valid log
// type, else the stream's.
func (d *foreignDecoder) logType(obj []byte) string {
	if d.typeField == nil {
		return d.typ
	}
	v, err := jsonx.DecodeDepth(obj, foreignMaxDepth)
	if err != nil {
		return d.typ
	}
	for _, k := range d.typeField {
		m, ok := v.(map[string]any)
		if !ok {
			return d.typ
		}
		v = m[k]
	}
	if s, ok := v.(string); ok && stream.ValidType(s) {
		return s
	}
	return d.typ
}

// jsonObject checks that b is one JSON object no deeper than foreignMaxDepth.
func jsonObject(b []byte) error {
	dec := jsonx.NewDecoder(b)
	dec.SetMaxDepth(foreignMaxDepth)
	if dec.Peek() != '{' {
		return errors.New("not a JSON object")
	}
	if _, err := dec.Skip(); err != nil {
		return err
	}
	return dec.End()
}
