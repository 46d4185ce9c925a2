package transform

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-siem/sluice/internal/jsonx"
	"github.com/sluice-siem/sluice/stream"
	evt "github.com/sluice-siem/sluice/transform/event"
)

// envelope is a record's envelope (stream.Envelope) with its event decoded.
type envelope struct {
	typ      string
	id       string
	received time.Time
	fields   map[string]any
}

// errBadEnvelope stands for any envelope the fast path rejects; parseEnvelope then
// asks stream.ParseEnvelope for the error to report.
var errBadEnvelope = errors.New("bad envelope")

// parseEnvelope decodes record data made by stream.AppendEnvelope in one pass, the
// event straight into its document, with the results (and the errors) of
// stream.ParseEnvelope followed by decoding the event with encoding/json.
func parseEnvelope(data []byte) (envelope, error) {
	return parseEnvelopeInto(data, nil, jsonx.DefaultMaxDepth)
}

// parseEnvelopeInto is parseEnvelope with the event's top-level object taken from objs
// (when not nil), so that it is recycled with the event's other objects, and the event
// read no deeper than maxDepth levels (the envelope's own level aside).
func parseEnvelopeInto(data []byte, objs *evt.Objects, maxDepth int) (envelope, error) {
	env, err := parseEnvelopeFastInto(data, objs, maxDepth)
	if err == nil {
		return env, nil
	}
	// The record is bad (or unusual); report it as the reference decoder does, within
	// the same depth.
	slow, serr := stream.ParseEnvelopeDepth(data, maxDepth)
	if serr != nil {
		return envelope{}, serr
	}
	fields, err := jsonx.DecodeObjectDepth(slow.Event, maxDepth)
	if err != nil {
		return envelope{}, fmt.Errorf("decode event: %w", err)
	}
	return envelope{typ: slow.Type, id: slow.ID, received: slow.Received, fields: fields}, nil
}

// parseEnvelopeFast is parseEnvelope without the error messages: it fails with
// errBadEnvelope (or the decoder's error) where stream.ParseEnvelope fails. The
// envelope's keys match as encoding/json matches struct fields (exactly, else without
// regard to case), the last of repeated keys wins, and null leaves v, type and
// received as they were (and id, which like them must be a string).
func parseEnvelopeFast(data []byte) (envelope, error) {
	return parseEnvelopeFastInto(data, nil, jsonx.DefaultMaxDepth)
}

// parseEnvelopeFastInto is parseEnvelopeFast with the event's objects, the top-level
// one and those nested in it, taken from objs when it is not nil.
func parseEnvelopeFastInto(data []byte, objs *evt.Objects, maxDepth int) (envelope, error) {
	d := jsonx.NewDecoder(data)
	d.SetMaxDepth(maxDepth + 1) // the envelope is a level above the event
	if objs != nil {
		d.SetNewObject(objs.New) // the envelope's own members decode into no object
	}
	if d.Peek() != '{' {
		return envelope{}, errBadEnvelope
	}
	var (
		env     envelope
		version int64
	)
	err := d.Object(func(key string) error {
		switch {
		case key == "event" || strings.EqualFold(key, "event"):
			if d.Peek() != '{' {
				env.fields = nil
				_, err := d.Skip()
				return err
			}
			if objs != nil {
				// The members go straight into a recycled object (the last of repeated
				// keys wins, as in a decoded map).
				fields := objs.New(8)
				env.fields = fields
				return d.Object(func(key string) error {
					v, err := d.Value()
					fields[key] = v
					return err
				})
			}
			v, err := d.Value()
			if err != nil {
				return err
			}
			env.fields = v.(map[string]any)
			return nil
		case key == "type" || strings.EqualFold(key, "type"):
			return stringMember(d, &env.typ)
		case key == "id" || strings.EqualFold(key, "id"):
			return stringMember(d, &env.id)
		case key == "received" || strings.EqualFold(key, "received"):
			raw, err := d.Skip()
			if err != nil {
				return err
			}
			// time.Time decodes its JSON itself (null changes nothing).
			return env.received.UnmarshalJSON(raw)
		case key == "v" || strings.EqualFold(key, "v"):
			raw, err := d.Skip()
			if err != nil {
				return err
			}
			if string(raw) == "null" {
				return nil
			}
			if string(raw) == "1" {
				version = 1
				return nil
			}
			n, err := strconv.ParseInt(string(raw), 10, 64)
			if err != nil {
				return errBadEnvelope
			}
			version = n
			return nil
		default:
			_, err := d.Skip()
			return err
		}
	})
	if err != nil {
		return envelope{}, err
	}
	if err := d.End(); err != nil {
		return envelope{}, err
	}
	if version != 1 || env.typ == "" || env.fields == nil || len(env.id) > stream.MaxIDLen {
		return envelope{}, errBadEnvelope
	}
	return env, nil
}

// stringMember reads a string member of the envelope into dst; null leaves dst as it
// was, anything else is errBadEnvelope.
func stringMember(d *jsonx.Decoder, dst *string) error {
	switch d.Peek() {
	case 'n':
		_, err := d.Skip()
		return err
	case '"':
		s, err := d.String()
		*dst = s
		return err
	}
	return errBadEnvelope
}
