package transform

import (
	"bytes"
	"encoding/json"
	"github.com/sluice-siem/sluice/internal/jsonx"
	"reflect"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/stream"
	evt "github.com/sluice-siem/sluice/transform/event"
)

// FuzzParseEnvelope holds the one-pass envelope decoder to the two-pass reference:
// stream.ParseEnvelope, then the event decoded by encoding/json with UseNumber. Both
// fail on the same records; where they succeed they give the same type, time and
// document.
func FuzzParseEnvelope(f *testing.F) {
	at := time.Date(2026, 11, 26, 7, 0, 0, 123e6, time.UTC)
	for _, ev := range []string{`{}`, `{"a":1,"b":[true,null,"x\u00e9"]}`, `{"message":"\xff"}`, `[]`, `null`, `{"a":`} {
		f.Add(stream.AppendEnvelope(nil, "firewall", "", at, []byte(ev)))
		f.Add(stream.AppendEnvelope(nil, "firewall", "q7Z-_x", at, []byte(ev)))
	}
	for _, s := range []string{
		`{"v":1,"type":"fw","event":{}}`, `{"V":1,"TYPE":"fw","EVENT":{},"Received":null}`,
		`{"v":1,"type":"fw","event":{},"event":null}`, `{"v":1,"v":null,"type":"fw","type":null,"event":{"a":1}}`,
		`{"v":1.0,"type":"fw","event":{}}`, `{"v":"1","type":"fw","event":{}}`, `{"v":-0,"type":"fw","event":{}}`,
		`{"v":1,"type":"fw","received":"2026-11-26T07:00:00Z","received":null,"event":{}}`,
		`{"v":1,"type":"fw","received":"2026-11-26T07:00:00\u005a","event":{}}`,
		`{"v":1,"type":"fw","receivеd":5,"event":{},"x":[1,{"y":2}]}`, `{"v":1,"typſ":"fw","event":{}}`,
		`{"v":1,"type":"fw","id":"a","ID":null,"event":{}}`, `{"v":1,"type":"fw","id":5,"event":{}}`,
		`{"v":1,"type":"fw","Id":"\u0041","event":{}}`,
		`{"v":1,"type":5,"event":{}} `, `{"v":1,"type":"fw","event":{}} x`, `null`, `[1]`, ``, `{"v":1,"type":"fw","event":{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parseEnvelopeFast(data)
		ref, rerr := stream.ParseEnvelope(data)
		var want map[string]any
		if rerr == nil {
			dec := json.NewDecoder(bytes.NewReader(ref.Event))
			dec.UseNumber()
			rerr = dec.Decode(&want)
		}
		if (err == nil) != (rerr == nil) {
			t.Fatalf("parseEnvelopeFast(%q): err = %v, reference err = %v", data, err, rerr)
		}
		// The full parser reports the reference's errors, and otherwise agrees too.
		full, ferr := parseEnvelope(data)
		if (ferr == nil) != (rerr == nil) {
			t.Fatalf("parseEnvelope(%q): err = %v, reference err = %v", data, ferr, rerr)
		}
		// Decoding into recycled objects agrees too.
		pooled, perr := parseEnvelopeInto(data, &evt.Objects{}, jsonx.MaxDepth)
		if (perr == nil) != (rerr == nil) {
			t.Fatalf("parseEnvelopeInto(%q): err = %v, reference err = %v", data, perr, rerr)
		}
		if rerr != nil {
			return
		}
		for _, env := range []envelope{got, full, pooled} {
			if env.typ != ref.Type || env.id != ref.ID || !env.received.Equal(ref.Received) || !reflect.DeepEqual(env.fields, want) {
				t.Fatalf("parseEnvelope(%q) = %q %v %#v, reference %q %v %#v",
					data, env.typ, env.received, env.fields, ref.Type, ref.Received, want)
			}
		}
	})
}
