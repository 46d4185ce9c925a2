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
	data := stream.AppendEnvelope([]byte("prefix:"), "fire_wall-1.x", at, []byte(event))
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
