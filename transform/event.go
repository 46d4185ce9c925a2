package transform

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/sluice-siem/sluice/internal/chunks"
	"github.com/sluice-siem/sluice/internal/jsonx"
	"github.com/sluice-siem/sluice/sink"
	"github.com/sluice-siem/sluice/stream"
	evt "github.com/sluice-siem/sluice/transform/event"
)

// event is one record's event on its way through the transformer: decoded from the
// envelope, then finished and encoded as a document body.
type event struct {
	// typ is the log type from the envelope; stream.ValidType holds for it.
	typ string
	// id is the event's identity from the envelope, or empty (see documentID).
	id string
	// received is when the gateway accepted the event.
	received time.Time
	// fields is the event document. Numbers are json.Number, so they are written
	// back exactly as they were shipped.
	fields map[string]any
	// failure is why the event's pipeline failed, if it did (the event is kept).
	failure error
}

// decode decodes the envelope of rec and its event, the event's document in an object
// of objs, reading no deeper than maxDepth levels into the event. now is used only if
// neither the envelope nor the stream recorded when the event arrived.
func decode(rec *stream.Delivered, now func() time.Time, objs *evt.Objects, maxDepth int) (event, error) {
	if len(rec.Data) >= 2 && rec.Data[0] == 0x1f && rec.Data[1] == 0x8b {
		return event{}, errGzipRecord
	}
	if len(rec.Data) >= 4 && string(rec.Data[:4]) == "\x28\xb5\x2f\xfd" {
		return event{}, errZstdRecord
	}
	env, err := parseEnvelopeInto(rec.Data, objs, maxDepth)
	if err != nil {
		return event{}, err
	}
	if !stream.ValidType(env.typ) {
		return event{}, fmt.Errorf("decode envelope: invalid log type %q", truncate(env.typ, stream.MaxTypeLen))
	}
	received := env.received
	if received.IsZero() {
		received = rec.Arrival
	}
	if received.IsZero() {
		received = now()
	}
	return event{typ: env.typ, id: env.id, received: received, fields: env.fields}, nil
}

// errGzipRecord is the error of a gzip-compressed record: not an envelope, most likely
// a CloudWatch Logs subscription record that the reader did not expand.
var errGzipRecord = errors.New("decode envelope: the record is gzip-compressed, not an envelope: " +
	"a CloudWatch Logs record of a stream missing from stream.kinesis.sources, or one the reader could not expand (see its warning)")

// errZstdRecord is the error of a zstd record the reader delivered as it was: one that
// decompresses past stream.kinesis.max_decompressed_bytes, or a broken frame.
var errZstdRecord = errors.New("decode envelope: the record is zstd-compressed and the reader could not decompress it " +
	"(larger than stream.kinesis.max_decompressed_bytes once decompressed, or a broken frame: see its warning)")

// truncate shortens s to at most n bytes, marking the cut, so that a hostile value
// cannot flood an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// finish sets the fields every document must have, where the event lacks them:
// @timestamp (when the gateway received the event) and event.dataset (the log type).
// An event whose "event" field is not an object keeps it as it is, without a dataset.
func (e *event) finish() {
	if _, ok := e.fields["@timestamp"]; !ok {
		e.fields["@timestamp"] = e.received.UTC().Format(time.RFC3339Nano)
	}
	if _, ok := e.fields["event.dataset"]; ok {
		return
	}
	v, ok := e.fields["event"]
	if !ok {
		e.fields["event"] = map[string]any{"dataset": e.typ}
		return
	}
	if obj, ok := v.(map[string]any); ok {
		if _, ok := obj["dataset"]; !ok {
			obj["dataset"] = e.typ
		}
	}
}

// timestamp returns the time the document is filed under: the event's @timestamp if it
// is an RFC 3339 string or a number of milliseconds since the Unix epoch, else when the
// event was received.
func (e *event) timestamp() time.Time {
	switch v := e.fields["@timestamp"].(type) {
	case string:
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t.UTC()
		}
	case json.Number:
		if t, ok := parseEpochMillis(v); ok {
			return t
		}
	}
	return e.received.UTC()
}

// The range of epoch milliseconds accepted as a timestamp: years 1 to 9999, as RFC 3339
// allows, so that every document date is a four-digit year.
const (
	minEpochMillis = -62135596800000 // 0001-01-01T00:00:00Z
	maxEpochMillis = 253402300799999 // 9999-12-31T23:59:59.999Z
)

// parseEpochMillis reads n as milliseconds since the Unix epoch.
func parseEpochMillis(n json.Number) (time.Time, bool) {
	if ms, err := n.Int64(); err == nil {
		if ms < minEpochMillis || ms > maxEpochMillis {
			return time.Time{}, false
		}
		return time.UnixMilli(ms).UTC(), true
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || f < minEpochMillis || f > maxEpochMillis {
		return time.Time{}, false
	}
	whole := math.Floor(f)
	frac := time.Duration((f - whole) * float64(time.Millisecond))
	return time.UnixMilli(int64(whole)).Add(frac).UTC(), true
}

// deadLetterBody is the document of a record that could not be transformed. It keeps
// the record's data whole, so the record can be repaired and sent again.
type deadLetterBody struct {
	Timestamp string `json:"@timestamp"`
	Error     string `json:"error"`
	// ID is the document id the record would have had, so that `sluice replay` keeps
	// it (the sub-sequence of an aggregated record is not in Sequence).
	ID       string `json:"id"`
	Stream   string `json:"stream"`
	Shard    string `json:"shard"`
	Sequence string `json:"sequence"`
	// Data is the record's data if it is valid UTF-8, DataBase64 otherwise.
	Data       *string `json:"data,omitempty"`
	DataBase64 *string `json:"data_base64,omitempty"`
}

// deadLetter makes the dead-letter document of rec, which failed with cause. Its id is
// the event's (id, when its envelope could be read and has one) or else the record's,
// so a replay overwrites it like any other document.
func (t *Transformer) deadLetter(rec *stream.Delivered, id string, cause error, enc *encoder) (sink.Document, error) {
	now := t.now().UTC()
	dl := deadLetterBody{
		Timestamp: now.Format(time.RFC3339Nano),
		Error:     cause.Error(),
		ID:        documentID(rec, id),
		Stream:    rec.Stream,
		Shard:     rec.Shard,
		Sequence:  rec.Sequence,
	}
	if utf8.Valid(rec.Data) {
		s := string(rec.Data)
		dl.Data = &s
	} else {
		s := base64.StdEncoding.EncodeToString(rec.Data)
		dl.DataBase64 = &s
	}
	body, err := enc.encode(dl)
	if err != nil {
		return sink.Document{}, fmt.Errorf("encode dead letter of %s: %w", position(rec), err)
	}
	return sink.Document{Type: DeadLetterType, Time: now, ID: documentID(rec, id), Position: position(rec), Body: body, Original: rec.Data}, nil
}

// encoder encodes document bodies as compact JSON without HTML escaping (so "<" and
// "&" in log lines stay readable). Events go through jsonx's encoder into a reused
// scratch buffer and are copied into arena chunks shared by the documents of one
// batch; dead letters go through encoding/json. It is not safe for concurrent use.
type encoder struct {
	doc     jsonx.Encoder
	scratch []byte
	// arena holds the bodies of the batch's documents; they go back to internal/chunks
	// once the batch is written (release): a sink keeps nothing of the documents after
	// Write returns (Sink).
	arena chunks.Arena

	buf bytes.Buffer
	enc *json.Encoder
}

// minChunk is the smallest arena chunk.
const minChunk = 16 << 10

// newEncoder returns an encoder for a batch whose record data add up to about size
// bytes.
func newEncoder(size int) *encoder {
	first := max(minChunk, size+size/4)
	// The first chunk holds the batch as estimated; one that outgrows it takes a
	// quarter of that more at a time.
	e := &encoder{arena: chunks.Arena{First: first, Size: max(minChunk, first/4)}}
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetEscapeHTML(false)
	return e
}

// encodeFields returns the JSON of an event document, in memory that stays valid
// after further calls.
func (e *encoder) encodeFields(fields map[string]any) ([]byte, error) {
	var err error
	e.scratch, err = e.doc.Append(e.scratch[:0], fields)
	if err != nil {
		return nil, err
	}
	return e.keep(e.scratch), nil
}

// keep copies b into the arena and returns the copy.
func (e *encoder) keep(b []byte) []byte { return e.arena.Copy(b) }

// release gives the arena's chunks back. The bodies encodeFields returned must not be
// used after it.
func (e *encoder) release() { e.arena.Release() }

// encode returns the JSON of v (encoding/json, without a trailing newline), in a new
// slice.
func (e *encoder) encode(v any) ([]byte, error) {
	e.buf.Reset()
	if err := e.enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.Clone(bytes.TrimSuffix(e.buf.Bytes(), []byte{'\n'})), nil
}
