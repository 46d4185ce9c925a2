package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestShapes(t *testing.T) {
	start := time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)
	for _, shape := range shapes {
		for _, size := range []int{0, 1500} {
			evs, err := generate(genOptions{shape: shape, size: size, seed: 1, start: start}, 30)
			if err != nil {
				t.Fatal(err)
			}
			for i, e := range evs {
				var doc struct {
					Fields struct {
						LogType string `json:"log_type"`
					} `json:"fields"`
					Metadata *struct {
						Beat string `json:"beat"`
					} `json:"@metadata"`
					Pad string `json:"pad"`
				}
				if err := json.Unmarshal(e.doc, &doc); err != nil || doc.Fields.LogType != e.typ || doc.Metadata != nil {
					t.Errorf("%s[%d] doc: %v, log_type %q (type %q), @metadata %v: %s", shape, i, err, doc.Fields.LogType, e.typ, doc.Metadata, e.doc)
				}
				if err := json.Unmarshal(e.beat, &doc); err != nil || doc.Metadata == nil || doc.Metadata.Beat != "filebeat" {
					t.Errorf("%s[%d] lumberjack doc without Filebeat's @metadata: %s", shape, i, e.beat)
				}
				if size > 0 && (len(e.doc) != size || len(e.beat) != size) {
					t.Errorf("%s[%d]: %d and %d bytes, want both padded to %d", shape, i, len(e.doc), len(e.beat), size)
				}
				if size == 0 && doc.Pad != "" {
					t.Errorf("%s[%d]: padded at the natural size", shape, i)
				}
				if e.line == "" || strings.Contains(e.line, "\n") || e.host == "" {
					t.Errorf("%s[%d]: line %q, host %q", shape, i, e.line, e.host)
				}
			}
			if shape == shapeMix && (evs[0].typ != shapeFirewall || evs[1].typ != shapeIDS || evs[2].typ != shapeWAF) {
				t.Errorf("mix: types %q %q %q", evs[0].typ, evs[1].typ, evs[2].typ)
			}
		}
	}
	fw, _ := generate(genOptions{shape: shapeFirewall, seed: 1, start: start}, 2)
	if !strings.Contains(fw[0].line, " kernel: [") || !strings.Contains(fw[0].line, " SRC=") || bytes.Equal(fw[0].doc, fw[1].doc) {
		t.Errorf("firewall lines: %q, %q", fw[0].line, fw[1].line)
	}
	if _, err := generate(genOptions{shape: "cef"}, 1); err == nil {
		t.Error("unknown shape: no error")
	}
}

func TestTable(t *testing.T) {
	rows := []*scenarioRow{
		{label: "lumberjack -> discard",
			subject:  &summary{OK: true, EventsPerSecond: 250000, Latency: latency{P99: 12.34}, Process: &processFigures{EventsPerCore: 1234567, PeakRSS: 52.4}},
			baseline: &summary{OK: true, EventsPerSecond: 80000, Latency: latency{P99: 400}, Process: &processFigures{EventsPerCore: 123456.7, PeakRSS: 131}}},
		{label: "http -> discard", subject: &summary{OK: true, EventsPerSecond: 1e6, Process: &processFigures{EventsPerCore: 500000}}},
		{label: "broken", subject: &summary{OK: false}},
		{label: "grok", subject: &summary{OK: true, EventsPerSecond: 10, Process: &processFigures{EventsPerCore: 20}}},
		{label: "chain", subject: &summary{OK: true, EventsPerSecond: 100, Events: counts{Acked: 5000},
			Latency: latency{Count: 3, P99: 80}, Process: &processFigures{EventsPerCore: 2000},
			Search: &searchFigures{Documents: 5000, Wait: 1.25, PollMs: 100, Latency: latency{Count: 3, P50: 900, P99: 1400, Max: 1500}}}},
	}
	var out bytes.Buffer
	writeTable(&out, rows)
	for _, want := range []string{
		"| lumberjack -> discard | 1,234,567 | 123,457 | 10.0x | 250,000 / 80,000 | 12.3 / 400.0 | 52 / 131 |",
		"| http -> discard | 500,000 | - | - | 1,000,000 / - |",
		"| broken | FAILED | - | - |",
		"| grok | 20 | - | - | 10 / - | - / - |",
		"- chain: 5,000 of 5,000 acknowledged events searchable, the last 1.2 s after the last acknowledgement; acknowledgement -> searchable per batch (3 batches, 100 ms polls): p50 900 ms, p99 1400 ms, max 1500 ms.",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	for v, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.6: "1,234,568", -12345: "-12,345"} {
		if got := thousands(v); got != want {
			t.Errorf("thousands(%v) = %q, want %q", v, got, want)
		}
	}
}
