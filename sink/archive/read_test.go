package archive

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sluice-siem/sluice/sink"
	"github.com/sluice-siem/sluice/stream"
)

func TestReadLine(t *testing.T) {
	at := time.Date(2026, 12, 6, 10, 15, 0, 123456789, time.UTC)
	for _, tc := range []struct {
		name, event, position, id string
	}{
		{"event with identity", `{"message":"a","log":{"offset":7}}`, "s/shardId-1/49", "cfilebeat-7"},
		{"position as id", `{"message":"b"}`, "s/shardId-1/49/3", ""},
		{"empty event", `{}`, "s/shardId-1/50", ""},
		{"spaces and a nested _sluice key of its own", "{ \"x\" : {\"_sluice\":{\"position\":\"fake\"}} , \"m\":\"\\\"_sluice\\\":{\" }\n", "s/shardId-2/51", "id2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line := appendMeta(nil, []byte(tc.event), tc.position, tc.id, at)
			got, err := ReadLine(line)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			wantID := tc.id
			if wantID == "" {
				wantID = tc.position
			}
			wantEvent := strings.TrimRight(tc.event, "\n")
			if string(got.Event) != wantEvent || got.Position != tc.position || got.ID != wantID || !got.Received.Equal(at) {
				t.Fatalf("%s: read %+v (event %s)", line, got, got.Event)
			}
			if (got.EnvelopeID() == "") != (tc.id == "") {
				t.Errorf("envelope id %q for id %q", got.EnvelopeID(), tc.id)
			}
		})
	}

	// content both
	both := `{"position":"s/shardId-1/9","id":"x","received":"2026-12-06T10:15:00Z","raw":{"message":"c","_sluice":1},"document":{"_sluice":{"position":"p"}}}`
	got, err := ReadLine([]byte(both))
	if err != nil || string(got.Event) != `{"message":"c","_sluice":1}` || got.ID != "x" || got.Position != "s/shardId-1/9" {
		t.Fatalf("both: %+v %v", got, err)
	}

	for name, line := range map[string]string{
		"document line":     `{"@timestamp":"2026-12-06T10:15:00Z","message":"m"}`,
		"not an object":     `["a"]`,
		"no position":       `{"m":1,"_sluice":{"id":"x","received":"2026-12-06T10:15:00Z"}}`,
		"bad time":          `{"m":1,"_sluice":{"position":"p","received":"yesterday"}}`,
		"broken event":      `{"m":,"_sluice":{"position":"p","received":"2026-12-06T10:15:00Z"}}`,
		"member of nothing": `{"m":{"_sluice":{"position":"p","received":"2026-12-06T10:15:00Z"}}`,
		"id too long":       `{"_sluice":{"position":"p","id":"` + strings.Repeat("i", stream.MaxIDLen+1) + `","received":"2026-12-06T10:15:00Z"}}`,
		"empty":             ``,
	} {
		if l, err := ReadLine([]byte(line)); err == nil {
			t.Errorf("%s: read %+v, want an error", name, l)
		}
	}
	if _, err := ReadLine([]byte(`{"message":"m"}`)); err == nil || !strings.Contains(err.Error(), "content document") {
		t.Errorf("a line without _sluice: %v, want an error naming content document", err)
	}
}

// FuzzReadLine: ReadLine never panics, and what appendMeta writes of any JSON object
// it reads back exactly.
func FuzzReadLine(f *testing.F) {
	f.Add([]byte(`{"message":"a"}`), "s/shardId-1/49", "id")
	f.Add([]byte(`{}`), "s/shardId-1/49/2", "")
	f.Add([]byte(`{"a":{"_sluice":{}}}`), "p", "i")
	f.Add([]byte(`{"position":"x","raw":{},"document":{}}`), "p", "")
	at := time.Date(2026, 12, 6, 10, 15, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, event []byte, position, id string) {
		_, _ = ReadLine(event)
		// Positions and ids are ASCII in practice; JSON strings are UTF-8.
		if validObject(event) != nil || position == "" || len(id) > stream.MaxIDLen || !utf8.ValidString(position) || !utf8.ValidString(id) {
			return
		}
		line := appendMeta(nil, event, position, id, at)
		got, err := ReadLine(line)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		trimmed := bytes.TrimSpace(event)
		if !bytes.Equal(got.Event, trimmed) && !(emptyObject(trimmed) && string(got.Event) == "{}") {
			t.Fatalf("event %q read back as %q", event, got.Event)
		}
		if got.Position != position || (id != "" && got.ID != id) || !got.Received.Equal(at) {
			t.Fatalf("%q: read %+v", line, got)
		}
	})
}

// TestReaderReadsBack archives events of two types over three hours into the S3 test
// server and reads them back: by type, by time of receipt (the hour before Since
// included, since an object may begin there), with positions and ids.
func TestReaderReadsBack(t *testing.T) {
	a, _ := newArchive(t, nil, Options{})
	base := time.Date(2026, 12, 6, 9, 50, 0, 0, time.UTC)
	var all []sink.Document
	for i := range 60 { // one event every 3 minutes from 09:50 to 12:47
		typ := []string{"firewall", "ids"}[i%2]
		recv := base.Add(time.Duration(i) * 3 * time.Minute)
		pos := fmt.Sprintf("siem/shardId-000000000000/%020d", i+1)
		id := ""
		if i%3 == 0 {
			id = fmt.Sprintf("identity-%d", i)
		}
		docID := id
		if docID == "" {
			docID = pos
		}
		all = append(all, sink.Document{Type: typ, Time: recv, ID: docID, Position: pos,
			Original: stream.AppendEnvelope(nil, typ, id, recv, []byte(fmt.Sprintf(`{"message":"event %d"}`, i)))})
	}
	if err := NewTee(nil, a).Write(context.Background(), all); err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(context.Background(), a.cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	since, until := base.Add(40*time.Minute), base.Add(100*time.Minute) // 10:30 to 11:30
	var got []string
	var objects int
	err = r.Read(context.Background(), ReadOptions{Types: []string{"firewall"}, Since: since, Until: until, Object: func(string) { objects++ }},
		func(l Line, err error) error {
			if err != nil {
				return err
			}
			got = append(got, fmt.Sprintf("%s %s %s %s", l.Type, l.ID, l.Received.Format("15:04"), l.Event))
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, d := range all {
		if d.Type == "firewall" && !d.Time.Before(since) && !d.Time.After(until) {
			env, _ := stream.ParseEnvelope(d.Original)
			want = append(want, fmt.Sprintf("%s %s %s %s", d.Type, d.ID, d.Time.Format("15:04"), env.Event))
		}
	}
	if !slices.Equal(got, want) || objects == 0 {
		t.Fatalf("read %d objects:\n%s\nwant\n%s", objects, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Every type, and a stop after three events.
	n := 0
	err = r.Read(context.Background(), ReadOptions{Since: base.Add(-time.Hour), Until: base.Add(4 * time.Hour)}, func(l Line, err error) error {
		if n++; n == 3 {
			return ErrStop
		}
		return nil
	})
	if err != nil || n != 3 {
		t.Fatalf("stopped after %d events: %v", n, err)
	}
	types, err := r.types(context.Background())
	if err != nil || !slices.Equal(types, []string{"firewall", "ids"}) {
		t.Fatalf("types %v %v", types, err)
	}
	if err := r.Read(context.Background(), ReadOptions{}, nil); err == nil {
		t.Error("a reading without Since: no error")
	}
	var visitErr = errors.New("visit failed")
	if err := r.Read(context.Background(), ReadOptions{Since: base}, func(Line, error) error { return visitErr }); !errors.Is(err, visitErr) {
		t.Errorf("visit's error: got %v", err)
	}
}

func TestParseURL(t *testing.T) {
	for in, want := range map[string][2]string{
		"s3://siem-archive":              {"siem-archive", ""},
		"s3://siem-archive/":             {"siem-archive", ""},
		"s3://siem-archive/lake/sluice/": {"siem-archive", "lake/sluice"},
	} {
		b, p, err := ParseURL(in)
		if err != nil || b != want[0] || p != want[1] {
			t.Errorf("%s: %q %q %v", in, b, p, err)
		}
	}
	for _, bad := range []string{"", "siem-archive", "https://siem-archive/x", "s3:///x", "s3://b/x?y=1"} {
		if _, _, err := ParseURL(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestReadLineLimit(t *testing.T) {
	in := "short\n" + strings.Repeat("x", 100) + "\nlast"
	br := bufioReader(in)
	var got []string
	for {
		l, err := readLine(br, 10)
		if errors.Is(err, errLineTooLong) {
			got = append(got, "TOO LONG")
			continue
		}
		if len(l) > 0 {
			got = append(got, string(l))
		}
		if err != nil {
			break
		}
	}
	if !slices.Equal(got, []string{"short", "TOO LONG", "last"}) {
		t.Fatalf("lines %q", got)
	}
}

func bufioReader(s string) *bufio.Reader { return bufio.NewReaderSize(strings.NewReader(s), 16) }
