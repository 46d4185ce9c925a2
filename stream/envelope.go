package stream

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Envelope is the record data format of sluice, version 1: one JSON object
//
//	{"v":1,"type":"firewall","id":"q7Z...","received":"2026-11-26T07:00:00.123Z","event":{...}}
//
// where event is the event document exactly as the gateway accepted it. JSON keeps the
// stream readable by any consumer (Firehose, Lambda, the AWS console) and lets the
// gateway build it by appending bytes, without re-encoding the event. The id member is
// optional (consumers that predate it ignore it).
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
}

// MaxIDLen is the longest envelope id accepted (the engines' limit on a document _id).
const MaxIDLen = 512

// AppendEnvelope appends the envelope of one event to dst and returns the extended
// slice. event must be a valid JSON object; typ must be a valid log type (it is not
// escaped beyond what JSON requires); id is the event's identity, or empty for none.
func AppendEnvelope(dst []byte, typ, id string, received time.Time, event []byte) []byte {
	dst = append(dst, `{"v":1,"type":`...)
	dst = appendString(dst, typ)
	if id != "" {
		dst = append(dst, `,"id":`...)
		dst = appendString(dst, id)
	}
	dst = append(dst, `,"received":"`...)
	dst = received.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","event":`...)
	dst = append(dst, event...)
	return append(dst, '}')
}

// appendString appends s as a JSON string. Log types and the gateway's ids are plain
// ASCII, copied as they are; anything else is quoted by encoding/json.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(dst, q...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// envelopeV1 is the decoding shape of Envelope.
type envelopeV1 struct {
	V        int             `json:"v"`
	Type     string          `json:"type"`
	ID       string          `json:"id"`
	Received time.Time       `json:"received"`
	Event    json.RawMessage `json:"event"`
}

// ParseEnvelope decodes record data made by AppendEnvelope.
func ParseEnvelope(data []byte) (Envelope, error) {
	var e envelopeV1
	if err := json.Unmarshal(data, &e); err != nil {
		return Envelope{}, fmt.Errorf("decode envelope: %w", err)
	}
	switch {
	case e.V != 1:
		return Envelope{}, fmt.Errorf("decode envelope: unsupported version %d", e.V)
	case e.Type == "":
		return Envelope{}, errors.New("decode envelope: no type")
	case len(e.ID) > MaxIDLen:
		return Envelope{}, fmt.Errorf("decode envelope: id is %d bytes, longer than %d", len(e.ID), MaxIDLen)
	case len(e.Event) == 0 || e.Event[0] != '{':
		return Envelope{}, errors.New("decode envelope: event is not a JSON object")
	}
	return Envelope{Type: e.Type, ID: e.ID, Received: e.Received, Event: e.Event}, nil
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
