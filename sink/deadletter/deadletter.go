// Package deadletter is the dead-letter destination of the index step (the last step
// of the data path) and its way back: documents the search engine refuses for good,
// and records the transformer cannot decode, are written here with everything a
// replay needs, and `sluice replay` reads them back.
//
// A dead letter is one JSON document (Body, written by sink/search; or the
// transformer's own shape for undecodable records), stored either in a Kinesis stream
// (Kinesis, the production destination: nothing lives on a task's local disk) or by
// the file sink under <dir>/_dead_letter/ in `sluice dev`. ReadFiles and ReadStream
// read both back, and Parse turns each into a Letter.
package deadletter

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-siem/sluice/internal/jsonx"
	"github.com/sluice-siem/sluice/stream"
)

// Type is the document type of dead letters (sink.Document.Type). It starts with '_'
// so that no routed log type can collide with it.
const Type = "_dead_letter"

// ErrorTypeTransform is the error type of a record the transformer could not turn into
// a document (an envelope it cannot decode, a pipeline that failed).
const ErrorTypeTransform = "transform_failed"

// Body is the dead-letter document of a document the search engine refused: the
// document whole, the original event, why it was refused and where it was going.
// The first fields are those the file sink has always written; the rest were added for
// `sluice replay`.
type Body struct {
	// Timestamp is when the document was dead-lettered.
	Timestamp string `json:"@timestamp"`
	// LogType is the document's log type, which names its pipeline.
	LogType string `json:"log_type"`
	// Index is the index or data stream the document was going to.
	Index string `json:"index"`
	// ID is the document's id (sink.Document.ID), empty for documents without a
	// stream position.
	ID string `json:"id,omitempty"`
	// Status is the engine's HTTP status for the document, if it answered one.
	Status int   `json:"status,omitempty"`
	Error  Error `json:"error"`
	// Event is the transformed document if it is valid JSON, EventText otherwise.
	Event     json.RawMessage `json:"event,omitempty"`
	EventText string          `json:"event_text,omitempty"`
	// Time is the document's own time (sink.Document.Time), which picks a daily index.
	Time string `json:"time,omitempty"`
	// Position is where the document's record was in the stream, if it came from one.
	Position *Position `json:"position,omitempty"`
	// Original is the record the document was made from (sink.Document.Original: the
	// envelope holding the event as shipped) if it is valid JSON, OriginalText
	// otherwise; both are empty when the record was not kept.
	Original     json.RawMessage `json:"original,omitempty"`
	OriginalText string          `json:"original_text,omitempty"`
	// Truncated names the fields dropped because the dead letter was larger than its
	// destination takes (see Kinesis).
	Truncated []string `json:"truncated,omitempty"`
}

// Error is why a document was refused: the engine's error type and reason.
type Error struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
}

// Position is a record's place in a stream.
type Position struct {
	Stream   string `json:"stream"`
	Shard    string `json:"shard"`
	Sequence string `json:"sequence"`
	// SubSequence is the user record's index in an aggregated record, if it was one.
	SubSequence *int `json:"sub_sequence,omitempty"`
}

// ParsePosition reads the position out of a document id made by the transformer
// (stream/shard/sequence, then /sub-sequence for an aggregated record). It returns nil
// for any other id.
func ParsePosition(id string) *Position {
	parts := strings.Split(id, "/")
	if len(parts) != 3 && len(parts) != 4 {
		return nil
	}
	for _, p := range parts {
		if p == "" {
			return nil
		}
	}
	if !allDigits(parts[2]) {
		return nil
	}
	p := &Position{Stream: parts[0], Shard: parts[1], Sequence: parts[2]}
	if len(parts) == 4 {
		n, err := strconv.Atoi(parts[3])
		if err != nil || n < 0 {
			return nil
		}
		p.SubSequence = &n
	}
	return p
}

// allDigits reports whether s is a decimal number (Kinesis sequence numbers are longer
// than 64 bits).
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Letter is a dead letter as read back for a replay.
type Letter struct {
	// At is when the document was dead-lettered.
	At time.Time
	// LogType names the document's pipeline; empty if the transformer could not even
	// read it from the record.
	LogType string
	// Index is where the document was going.
	Index string
	// ID is the document's id; a replay keeps it, so that replaying twice never
	// duplicates.
	ID string
	// Status, ErrorType and Reason are why the document was refused.
	Status    int
	ErrorType string
	Reason    string
	// Document is the transformed document, nil for a record the transformer could not
	// transform.
	Document []byte
	// Time is the document's own time; zero if unknown.
	Time time.Time
	// Position is where the record was in its stream, if known.
	Position *Position
	// Original is the record as the stream delivered it (an envelope), nil if not kept.
	Original []byte
	// ReplayedAt is when a replay wrote the letter back after the engine refused the
	// document again (MarkReplayed); zero for a first dead letter.
	ReplayedAt time.Time
	// Source says where the letter was read, for messages: file:line or
	// stream/shard/sequence of the dead-letter stream.
	Source string
}

// Parse reads one dead-letter document (either shape). Unknown fields, such as the
// file sink's id field, are ignored.
func Parse(data []byte) (Letter, error) {
	var r rawLetter
	if err := r.decode(data); err != nil {
		return Letter{}, fmt.Errorf("decode dead letter: %w", err)
	}
	var l Letter
	if r.Timestamp != "" {
		at, err := time.Parse(time.RFC3339Nano, r.Timestamp)
		if err != nil {
			return Letter{}, fmt.Errorf("decode dead letter: @timestamp: %w", err)
		}
		l.At = at
	}
	if r.ReplayedAt != "" {
		at, err := time.Parse(time.RFC3339Nano, r.ReplayedAt)
		if err != nil {
			return Letter{}, fmt.Errorf("decode dead letter: replayed_at: %w", err)
		}
		l.ReplayedAt = at
	}
	l.LogType, l.Index, l.ID, l.Status, l.Position = r.LogType, r.Index, r.ID, r.Status, r.Position
	if r.Time != "" {
		t, err := time.Parse(time.RFC3339Nano, r.Time)
		if err != nil {
			return Letter{}, fmt.Errorf("decode dead letter: time: %w", err)
		}
		l.Time = t
	}
	switch {
	case len(r.Error) > 0 && r.Error[0] == '"':
		// The transformer's shape.
		reason, err := jsonx.NewDecoder(r.Error).String()
		if err != nil {
			return Letter{}, fmt.Errorf("decode dead letter: error: %w", err)
		}
		l.Reason = reason
		l.ErrorType = ErrorTypeTransform
		switch {
		case r.Data != nil:
			l.Original = []byte(*r.Data)
		case r.DataBase64 != nil:
			b, err := base64.StdEncoding.DecodeString(*r.DataBase64)
			if err != nil {
				return Letter{}, fmt.Errorf("decode dead letter: data_base64: %w", err)
			}
			l.Original = b
		}
		if l.ID == "" && r.Stream != "" && r.Shard != "" && r.Sequence != "" {
			l.ID = r.Stream + "/" + r.Shard + "/" + r.Sequence
		}
		if l.Position == nil {
			l.Position = ParsePosition(l.ID)
		}
		// The record may nest as deep as any limits.max_depth let it.
		if env, err := stream.ParseEnvelopeDepth(l.Original, jsonx.MaxDepth); err == nil && stream.ValidType(env.Type) {
			l.LogType = env.Type
		}
	case len(r.Error) > 0 && r.Error[0] == '{':
		e, err := decodeError(r.Error)
		if err != nil {
			return Letter{}, fmt.Errorf("decode dead letter: error: %w", err)
		}
		l.ErrorType, l.Reason = e.Type, e.Reason
		switch {
		case len(r.Event) > 0 && string(r.Event) != "null":
			l.Document = []byte(r.Event)
		case r.EventText != nil:
			l.Document = []byte(*r.EventText)
		}
		switch {
		case len(r.Original) > 0 && string(r.Original) != "null":
			l.Original = []byte(r.Original)
		case r.OriginalText != nil:
			l.Original = []byte(*r.OriginalText)
		}
		if l.LogType == "" {
			return Letter{}, errors.New("decode dead letter: no log_type")
		}
	default:
		return Letter{}, errors.New("decode dead letter: no error field: not a dead letter")
	}
	return l, nil
}

// ReplayID is the id a replay gives the document of l: l.ID, or for a document that
// had none (no stream position), one derived from what the letter holds, so that
// replaying the same letter again makes the same id.
func (l *Letter) ReplayID() string {
	if l.ID != "" {
		return l.ID
	}
	h := sha256.New()
	h.Write([]byte(l.LogType))
	h.Write([]byte{0})
	if l.Original != nil {
		h.Write(l.Original)
	} else {
		h.Write(l.Document)
	}
	// Three parts, like a stream position, so that the transformer (which makes ids
	// of positions) gives it back unchanged.
	return "dead_letter/replay/" + hex.EncodeToString(h.Sum(nil)[:16])
}

// partitionKey is the Kinesis partition key of a dead letter: its document id, or a
// hash of it (or of the body, without an id) where the id cannot be a key.
func partitionKey(id string, body []byte) string {
	if id != "" && len(id) <= 256 {
		return id
	}
	var sum [sha256.Size]byte
	if id != "" {
		sum = sha256.Sum256([]byte(id))
	} else {
		sum = sha256.Sum256(body)
	}
	return hex.EncodeToString(sum[:16])
}

// MarkReplayed returns body (a JSON object) with "replayed_at" set to at as its first
// field, so that a replay that writes a refused document back to the stream it reads
// from can tell it from the dead letters it set out to read.
func MarkReplayed(body []byte, at time.Time) []byte {
	if len(body) == 0 || body[0] != '{' {
		return body
	}
	rest := bytes.TrimLeft(body[1:], " \t\r")
	out := make([]byte, 0, len(body)+64)
	out = append(out, `{"replayed_at":"`...)
	out = at.UTC().AppendFormat(out, time.RFC3339Nano)
	out = append(out, '"')
	if len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, rest...)
}
