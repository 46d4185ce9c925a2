package stream_test

import (
	"strings"
	"testing"
	"time"

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
