package stream_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sluice-siem/sluice/stream"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 26, 7, 0, 0, 123456789, time.FixedZone("CET", 3600))
	event := `{"message":"deny \"x\"","n":12345678901234567890,"nested":{"a":[1,2]}}`
	data := stream.AppendEnvelope([]byte("prefix:"), "fire_wall-1.x", "", at, []byte(event))
	if !strings.HasPrefix(string(data), "prefix:") {
		t.Fatalf("AppendEnvelope dropped what dst held: %s", data)
	}
	data = data[len("prefix:"):]
	want := `{"v":1,"type":"fire_wall-1.x","received":"2026-11-26T06:00:00.123456789Z","event":` + event + `}`
	if string(data) != want {
		t.Fatalf("envelope\n%s\nwant\n%s", data, want)
	}
	env, err := stream.ParseEnvelope(data)
	if err != nil {
		t.Fatal(err)
	}
	if env.Type != "fire_wall-1.x" || !env.Received.Equal(at) || string(env.Event) != event {
		t.Fatalf("parsed %+v", env)
	}
}

// An event's id travels between the type and the received time; an envelope without
// one is the envelope of before ids, which every consumer reads alike.
func TestEnvelopeID(t *testing.T) {
	at := time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)
	data := stream.AppendEnvelope(nil, "ids", `q7Z-"x"`, at, []byte(`{}`))
	want := `{"v":1,"type":"ids","id":"q7Z-\"x\"","received":"2026-11-26T07:00:00Z","event":{}}`
	if string(data) != want {
		t.Fatalf("envelope\n%s\nwant\n%s", data, want)
	}
	env, err := stream.ParseEnvelope(data)
	if err != nil || env.ID != `q7Z-"x"` {
		t.Fatalf("ParseEnvelope = %+v, %v; want id %q", env, err, `q7Z-"x"`)
	}
	env, err = stream.ParseEnvelope(stream.AppendEnvelope(nil, "ids", "", at, []byte(`{}`)))
	if err != nil || env.ID != "" {
		t.Fatalf("ParseEnvelope without id = %+v, %v; want no id", env, err)
	}
	for _, id := range []string{"a\x01b", "é\\n", "<&>", "\x7f"} {
		env, err := stream.ParseEnvelope(stream.AppendEnvelope(nil, "ids", id, at, []byte(`{}`)))
		if err != nil || env.ID != id {
			t.Errorf("id %q: ParseEnvelope = %+v, %v", id, env, err)
		}
	}
	long := stream.AppendEnvelope(nil, "ids", strings.Repeat("x", stream.MaxIDLen+1), at, []byte(`{}`))
	if _, err := stream.ParseEnvelope(long); err == nil || !strings.Contains(err.Error(), "id is 513 bytes") {
		t.Errorf("ParseEnvelope of a %d-byte id = %v, want it refused", stream.MaxIDLen+1, err)
	}
}

func TestParseEnvelopeRejects(t *testing.T) {
	for data, want := range map[string]string{
		`not json`: "decode envelope",
		`{"v":2,"type":"a","received":"2026-11-26T06:00:00Z","event":{}}`:  "unsupported version 2",
		`{"v":1,"received":"2026-11-26T06:00:00Z","event":{}}`:             "no type",
		`{"v":1,"type":"a","received":"2026-11-26T06:00:00Z","event":[1]}`: "not a JSON object",
		`{"v":1,"type":"a","received":"2026-11-26T06:00:00Z"}`:             "not a JSON object",
		`{"v":1,"type":"a","received":"yesterday","event":{}}`:             "decode envelope",
	} {
		if _, err := stream.ParseEnvelope([]byte(data)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseEnvelope(%s) = %v, want an error with %q", data, err, want)
		}
	}
}

func TestValidType(t *testing.T) {
	for typ, ok := range map[string]bool{
		"firewall": true, "ids": true, "a": true, "0x": true, "panos.traffic": true, "waf_v2-eu": true,
		strings.Repeat("a", stream.MaxTypeLen): true,
		"":                                     false, strings.Repeat("a", stream.MaxTypeLen+1): false, "Firewall": false, "_x": false,
		"-x": false, ".x": false, "..": false, "../etc": false, "a/b": false, `a\b`: false, "a b": false, "é": false,
	} {
		if got := stream.ValidType(typ); got != ok {
			t.Errorf("ValidType(%q) = %v, want %v", typ, got, ok)
		}
	}
}

func TestTraceParent(t *testing.T) {
	const tp = "00-5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174-01"
	at := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	data := stream.AppendEnvelopeTraced(nil, nil, "firewall", "id-1", at, []byte(`{"message":"x","trace":"no"}`), tp)
	if got := stream.TraceParent(data); got != tp {
		t.Fatalf("TraceParent = %q in %s", got, data)
	}
	env, err := stream.ParseEnvelope(data)
	if err != nil || env.Trace != tp || string(env.Event) != `{"message":"x","trace":"no"}` || env.ID != "id-1" {
		t.Fatalf("parsed %+v %v", env, err)
	}
	plain := stream.AppendEnvelope(nil, "firewall", "", at, []byte(`{"m":"\",\"trace\":\"x\",\"event\":"}`))
	if got := stream.TraceParent(plain); got != "" {
		t.Fatalf("an untraced envelope gave %q", got)
	}
	if env, _ := stream.ParseEnvelope(plain); env.Trace != "" {
		t.Fatalf("untraced envelope parsed with trace %q", env.Trace)
	}
}

// FuzzEnvelopeTrace holds what AppendEnvelopeTraced writes to what ParseEnvelope and
// TraceParent read back, for any id and traceparent (quotes, backslashes, bytes that
// are not UTF-8 included), and TraceParent to never panic on arbitrary record data.
func FuzzEnvelopeTrace(f *testing.F) {
	f.Add("k-1", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", []byte(`{"v":1,"type":"ids","id":"x\"y","received":"2026-11-26T07:00:00Z","trace":"t\\","event":{}}`))
	f.Add(`q"\`, "", []byte(`{"v":1,"type":"`))
	f.Add("\xff", "\x00tp", []byte("not json"))
	at := time.Date(2026, 11, 26, 7, 0, 0, 123456789, time.UTC)
	f.Fuzz(func(t *testing.T, id, traceparent string, data []byte) {
		_ = stream.TraceParent(data)
		if len(id) > stream.MaxIDLen || !utf8.ValidString(id) || !utf8.ValidString(traceparent) {
			return
		}
		rec := stream.AppendEnvelopeTraced(nil, nil, "ids", []byte(id), at, []byte(`{"a":1}`), traceparent)
		env, err := stream.ParseEnvelope(rec)
		if err != nil {
			t.Fatalf("ParseEnvelope(%q): %v", rec, err)
		}
		if env.ID != id || env.Trace != traceparent || env.Type != "ids" || !env.Received.Equal(at) {
			t.Fatalf("%q read back as id %q, trace %q, type %q, received %v", rec, env.ID, env.Trace, env.Type, env.Received)
		}
		// TraceParent reads the value as written, up to 80 bytes: any that needs no
		// escape comes back as it went in.
		plain := len(traceparent) < 80 && !strings.ContainsFunc(traceparent, func(r rune) bool { return r < 0x20 || r == '"' || r == '\\' })
		if got := stream.TraceParent(rec); plain && got != traceparent {
			t.Fatalf("TraceParent(%q) = %q, want %q", rec, got, traceparent)
		}
	})
}
