package stream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-siem/sluice/internal/jsonx"
	"github.com/sluice-siem/sluice/internal/timefmt"
)

// Envelope is the record data format of sluice, version 1: one JSON object
//
//	{"v":1,"type":"firewall","id":"q7Z...","received":"2026-11-26T07:00:00.123Z","event":{...}}
//
// where event is the event document exactly as the gateway accepted it. JSON keeps the
// stream readable by any consumer (Firehose, Lambda, the AWS console) and lets the
// gateway build it by appending bytes, without re-encoding the event. The id member is
// optional (consumers that predate it ignore it), as is trace, the W3C traceparent of
// the gateway's span when the batch was sampled for tracing.
type Envelope struct {
	// Type is the log type the gateway routed the event by.
	Type string
	// ID is the event's identity, the same each time the event is sent (a resend by
	// the shipper, a retry of the producer), or empty when the event has none and is
	// named by its stream position instead. The gateway makes it from what the source
	// says identifies the event (gateway.Event.ID) or from the event's content; the
	// search sink derives the document _id from it, so that a resent event is indexed
	// once. At most MaxIDLen bytes.
	ID string
	// Received is when the gateway accepted the event.
	Received time.Time
	// Event is the event document, a JSON object.
	Event json.RawMessage
	// Trace is the W3C traceparent of the span that put the event in the stream when
	// its batch was traced; empty otherwise.
	Trace string
}

// MaxIDLen is the longest envelope id accepted (the engines' limit on a document _id).
const MaxIDLen = 512

// AppendEnvelope appends the envelope of one event to dst and returns the extended
// slice. event must be a valid JSON object; typ must be a valid log type (it is not
// escaped beyond what JSON requires); id is the event's identity, or empty for none.
func AppendEnvelope(dst []byte, typ, id string, received time.Time, event []byte) []byte {
	return AppendEnvelopeTraced(dst, nil, typ, id, received, event, "")
}

// AppendEnvelopeTraced is AppendEnvelope with the traceparent of a traced batch
// (empty: none), written before the event so that TraceParent finds it at once, and
// the time of receipt written through times (nil: none), which a batch's envelopes
// share. id may be bytes, so that the gateway's ids need no string each.
func AppendEnvelopeTraced[ID ~string | ~[]byte](dst []byte, times *timefmt.Cache, typ string, id ID, received time.Time, event []byte, traceparent string) []byte {
	dst = append(dst, `{"v":1,"type":`...)
	dst = jsonx.AppendString(dst, typ)
	if len(id) > 0 {
		dst = append(dst, `,"id":`...)
		dst = jsonx.AppendString(dst, id)
	}
	dst = append(dst, `,"received":"`...)
	if times == nil {
		times = new(timefmt.Cache)
	}
	dst = times.Append(dst, received)
	if traceparent != "" {
		dst = append(dst, `","trace":`...)
		dst = jsonx.AppendString(dst, traceparent)
		dst = append(dst, `,"event":`...)
	} else {
		dst = append(dst, `","event":`...)
	}
	dst = append(dst, event...)
	return append(dst, '}')
}

// ParseEnvelope decodes record data made by AppendEnvelope, reading the event no
// deeper than jsonx.DefaultMaxDepth levels, sluice's default limits.max_depth.
func ParseEnvelope(data []byte) (Envelope, error) {
	return ParseEnvelopeDepth(data, jsonx.DefaultMaxDepth)
}

// ParseEnvelopeDepth is ParseEnvelope reading the event no deeper than maxDepth levels
// (1 to jsonx.MaxDepth; the envelope's own level aside). It reads the envelope as
// encoding/json would decode it into a struct of its members: keys match exactly or
// without regard to case, the last of repeated keys wins, null leaves a member unset,
// and other members are checked to be JSON and ignored. Event is a copy, not part of
// data.
func ParseEnvelopeDepth(data []byte, maxDepth int) (Envelope, error) {
	var e envelopeV1
	if err := e.decode(data, maxDepth); err != nil {
		var se *jsonx.SyntaxError
		if errors.As(err, &se) {
			err = syntaxError{se}
		}
		return Envelope{}, fmt.Errorf("decode envelope: %w", err)
	}
	switch {
	case e.v == 0:
		return Envelope{}, errors.New("decode envelope: no version \"v\": a record without sluice's envelope " +
			"(plain JSON, as another producer writes): declare its stream in stream.kinesis.sources")
	case e.v != 1:
		return Envelope{}, fmt.Errorf("decode envelope: unsupported version %d", e.v)
	case e.typ == "":
		return Envelope{}, errors.New("decode envelope: no type")
	case len(e.id) > MaxIDLen:
		return Envelope{}, fmt.Errorf("decode envelope: id is %d bytes, longer than %d", len(e.id), MaxIDLen)
	case len(e.event) == 0 || e.event[0] != '{':
		return Envelope{}, errors.New("decode envelope: event is not a JSON object")
	}
	return Envelope{Type: e.typ, ID: e.id, Received: e.received, Event: bytes.Clone(e.event), Trace: e.trace}, nil
}

// TraceParent returns the trace member of an envelope as AppendEnvelopeTraced writes
// it (after received, before the event), or "": a walk over the envelope's known
// first members, not a parse, so that the transformer finds the traced records of a
// batch for a few nanoseconds each.
func TraceParent(data []byte) string {
	const head, id, received, trace = `{"v":1,"type":"`, `,"id":"`, `,"received":"`, `,"trace":"`
	if !bytes.HasPrefix(data, []byte(head)) {
		return ""
	}
	i := jsonx.SkipString(data, len(head)-1)
	if i > 0 && bytes.HasPrefix(data[i:], []byte(id)) {
		i = jsonx.SkipString(data, i+len(id)-1)
	}
	if i < 0 || !bytes.HasPrefix(data[i:], []byte(received)) {
		return ""
	}
	if i = jsonx.SkipString(data, i+len(received)-1); i < 0 || !bytes.HasPrefix(data[i:], []byte(trace)) {
		return ""
	}
	i += len(trace)
	end := bytes.IndexByte(data[i:min(len(data), i+80)], '"')
	if end < 0 {
		return ""
	}
	return string(data[i : i+end])
}

// envelopeV1 is the members of an envelope as decoded, before they are checked.
type envelopeV1 struct {
	v        int64
	typ      string
	id       string
	received time.Time
	trace    string
	event    []byte // the raw value, null included
}

// decode reads data into e: one JSON object (or null, which sets nothing) and nothing
// else but whitespace.
func (e *envelopeV1) decode(data []byte, maxDepth int) error {
	d := jsonx.NewDecoder(data)
	d.SetMaxDepth(maxDepth + 1) // the envelope is a level above the event
	if d.Peek() == 'n' {
		if _, err := d.Skip(); err != nil {
			return err
		}
		return d.End()
	}
	err := d.Object(func(key string) error {
		switch {
		case strings.EqualFold(key, "v"):
			raw, err := d.Skip()
			if err != nil || string(raw) == "null" {
				return err
			}
			n, err := strconv.ParseInt(string(raw), 10, 64)
			if err != nil {
				return fmt.Errorf("v: want an integer, not %.32s", raw)
			}
			e.v = n
		case strings.EqualFold(key, "type"):
			return stringMember(d, "type", &e.typ)
		case strings.EqualFold(key, "id"):
			return stringMember(d, "id", &e.id)
		case strings.EqualFold(key, "trace"):
			return stringMember(d, "trace", &e.trace)
		case strings.EqualFold(key, "received"):
			raw, err := d.Skip()
			if err != nil {
				return err
			}
			// time.Time decodes its JSON itself (null changes nothing).
			if err := e.received.UnmarshalJSON(raw); err != nil {
				return fmt.Errorf("received: %w", err)
			}
		case strings.EqualFold(key, "event"):
			raw, err := d.Skip()
			if err != nil {
				return err
			}
			e.event = raw
		default:
			_, err := d.Skip()
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return d.End()
}

// syntaxError is a jsonx.SyntaxError said without its offset, in the words of
// encoding/json, which the transformer's dead letters have always carried.
type syntaxError struct{ err *jsonx.SyntaxError }

func (e syntaxError) Error() string { return e.err.Message() }
func (e syntaxError) Unwrap() error { return e.err }

// stringMember reads the string member name into dst; null leaves dst as it was.
func stringMember(d *jsonx.Decoder, name string, dst *string) error {
	switch d.Peek() {
	case 'n':
		_, err := d.Skip()
		return err
	case '"':
		s, err := d.String()
		if err == nil {
			*dst = s
		}
		return err
	}
	return fmt.Errorf("%s: want a string", name)
}

// MaxTypeLen is the longest log type name accepted.
const MaxTypeLen = 64

// ValidType reports whether typ can name a log type: 1 to MaxTypeLen characters of
// lowercase ASCII letters, digits, '_', '-' and '.', starting with a letter or digit.
// Log types name streams, pipelines, indices and directories, so the rule keeps them
// safe in all of those places (no path separators, no "..").
func ValidType(typ string) bool {
	if len(typ) == 0 || len(typ) > MaxTypeLen {
		return false
	}
	for i := 0; i < len(typ); i++ {
		c := typ[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '_' || c == '-' || c == '.') && i > 0:
		default:
			return false
		}
	}
	return true
}
