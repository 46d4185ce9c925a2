package deadletter

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/sluice-siem/sluice/internal/jsonx"
)

// rawLetter is the decoding shape of both dead-letter documents: Body, and the
// transformer's (error is a string; the record is in data or data_base64). Raw members
// hold their JSON as written (null included) and are copies, not part of the input.
type rawLetter struct {
	ReplayedAt   string
	Timestamp    string
	LogType      string
	Index        string
	ID           string
	Status       int
	Error        []byte
	Event        []byte
	EventText    *string
	Time         string
	Position     *Position
	Original     []byte
	OriginalText *string
	// The transformer's shape.
	Stream     string
	Shard      string
	Sequence   string
	Data       *string
	DataBase64 *string
}

// letterKeys are the members of rawLetter, as named in the document.
var letterKeys = []string{"replayed_at", "@timestamp", "log_type", "index", "id", "status", "error", "event",
	"event_text", "time", "position", "original", "original_text", "stream", "shard", "sequence", "data", "data_base64"}

// positionKeys are the members of Position.
var positionKeys = []string{"stream", "shard", "sequence", "sub_sequence"}

// decode reads data into r as encoding/json decodes a struct: one JSON object (or
// null, which sets nothing) and nothing else but whitespace; keys match their member
// exactly or without regard to case, the last of repeated keys wins, null leaves a
// member as it was (and sets a pointer to nil), and unknown members are checked to be
// JSON and ignored. A dead letter nests as deep as the events it holds, so it may nest
// as deep as any limits.max_depth allows (jsonx.MaxDepth).
func (r *rawLetter) decode(data []byte) error {
	d := jsonx.NewDecoder(data)
	if d.Peek() == 'n' {
		if _, err := d.Skip(); err != nil {
			return err
		}
		return d.End()
	}
	err := d.Object(func(key string) error {
		switch name := match(key, letterKeys); name {
		case "replayed_at":
			return stringMember(d, name, &r.ReplayedAt)
		case "@timestamp":
			return stringMember(d, name, &r.Timestamp)
		case "log_type":
			return stringMember(d, name, &r.LogType)
		case "index":
			return stringMember(d, name, &r.Index)
		case "id":
			return stringMember(d, name, &r.ID)
		case "time":
			return stringMember(d, name, &r.Time)
		case "stream":
			return stringMember(d, name, &r.Stream)
		case "shard":
			return stringMember(d, name, &r.Shard)
		case "sequence":
			return stringMember(d, name, &r.Sequence)
		case "status":
			return intMember(d, name, &r.Status)
		case "error":
			return rawMember(d, &r.Error)
		case "event":
			return rawMember(d, &r.Event)
		case "original":
			return rawMember(d, &r.Original)
		case "event_text":
			return stringPointerMember(d, name, &r.EventText)
		case "original_text":
			return stringPointerMember(d, name, &r.OriginalText)
		case "data":
			return stringPointerMember(d, name, &r.Data)
		case "data_base64":
			return stringPointerMember(d, name, &r.DataBase64)
		case "position":
			return positionMember(d, &r.Position)
		default:
			_, err := d.Skip()
			return err
		}
	})
	if err != nil {
		return err
	}
	return d.End()
}

// match returns the name of names that key matches without regard to case (as
// encoding/json matches struct fields: no two names differ only in case), or "".
func match(key string, names []string) string {
	for _, n := range names {
		if strings.EqualFold(key, n) {
			return n
		}
	}
	return ""
}

// positionMember reads a position object into *dst (merging into one already read,
// as encoding/json does); null sets *dst to nil.
func positionMember(d *jsonx.Decoder, dst **Position) error {
	switch d.Peek() {
	case 'n':
		_, err := d.Skip()
		*dst = nil
		return err
	case '{':
	default:
		return fmt.Errorf("position: want an object")
	}
	if *dst == nil {
		*dst = &Position{}
	}
	p := *dst
	return d.Object(func(key string) error {
		switch name := match(key, positionKeys); name {
		case "stream":
			return stringMember(d, "position."+name, &p.Stream)
		case "shard":
			return stringMember(d, "position."+name, &p.Shard)
		case "sequence":
			return stringMember(d, "position."+name, &p.Sequence)
		case "sub_sequence":
			raw, err := d.Skip()
			if err != nil {
				return err
			}
			if string(raw) == "null" {
				p.SubSequence = nil
				return nil
			}
			n, err := strconv.ParseInt(string(raw), 10, 0)
			if err != nil {
				return fmt.Errorf("position.sub_sequence: want an integer, not %.32s", raw)
			}
			i := int(n)
			p.SubSequence = &i
			return nil
		default:
			_, err := d.Skip()
			return err
		}
	})
}

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

// stringPointerMember reads the string member name into a new *dst; null sets *dst
// to nil.
func stringPointerMember(d *jsonx.Decoder, name string, dst **string) error {
	if d.Peek() == 'n' {
		_, err := d.Skip()
		*dst = nil
		return err
	}
	var s string
	if err := stringMember(d, name, &s); err != nil {
		return err
	}
	*dst = &s
	return nil
}

// intMember reads the integer member name into dst; null leaves dst as it was.
func intMember(d *jsonx.Decoder, name string, dst *int) error {
	raw, err := d.Skip()
	if err != nil || string(raw) == "null" {
		return err
	}
	n, err := strconv.ParseInt(string(raw), 10, 0)
	if err != nil {
		return fmt.Errorf("%s: want an integer, not %.32s", name, raw)
	}
	*dst = int(n)
	return nil
}

// rawMember keeps a copy of the member's JSON in dst.
func rawMember(d *jsonx.Decoder, dst *[]byte) error {
	raw, err := d.Skip()
	if err != nil {
		return err
	}
	*dst = bytes.Clone(raw)
	return nil
}

// decodeError reads the engine's error object of a Body.
func decodeError(raw []byte) (Error, error) {
	var e Error
	d := jsonx.NewDecoder(raw)
	err := d.Object(func(key string) error {
		switch name := match(key, []string{"type", "reason"}); name {
		case "type":
			return stringMember(d, "error.type", &e.Type)
		case "reason":
			return stringMember(d, "error.reason", &e.Reason)
		default:
			_, err := d.Skip()
			return err
		}
	})
	if err == nil {
		err = d.End()
	}
	return e, err
}
