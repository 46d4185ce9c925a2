package deadletter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/sink"
	"github.com/sluice-siem/sluice/sink/deadletter"
	"github.com/sluice-siem/sluice/sink/file"
	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/transform"
)

// capture is a transform.Sink that keeps what it is given.
type capture struct{ docs []sink.Document }

func (c *capture) Write(_ context.Context, docs []sink.Document) error {
	for _, d := range docs {
		d.Body = bytes.Clone(d.Body)
		c.docs = append(c.docs, d)
	}
	return nil
}

// TestParseTransformerDeadLetter reads back the dead letter the transformer makes of a
// record it cannot decode: the record whole, its id and position, and the error.
func TestParseTransformerDeadLetter(t *testing.T) {
	var c capture
	tr, err := transform.New(&c, transform.Options{})
	if err != nil {
		t.Fatal(err)
	}
	data := []byte(`{"v":1,"type":"waf","event":"not an object"}`)
	b := stream.Batch{Stream: "s", Shard: "shardId-1", Records: []stream.Delivered{{
		Record: stream.Record{PartitionKey: "k", Data: data}, Stream: "s", Shard: "shardId-1",
		Sequence: "4955", SubSequence: 3, Aggregated: true,
	}}}
	if err := tr.Handle(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if len(c.docs) != 1 || c.docs[0].Type != deadletter.Type {
		t.Fatalf("documents = %+v", c.docs)
	}
	if !bytes.Equal(c.docs[0].Original, data) {
		t.Errorf("Original = %q, want the record's data", c.docs[0].Original)
	}
	l, err := deadletter.Parse(c.docs[0].Body)
	if err != nil {
		t.Fatal(err)
	}
	if l.ErrorType != deadletter.ErrorTypeTransform || !strings.Contains(l.Reason, "not a JSON object") {
		t.Errorf("error = %s %q", l.ErrorType, l.Reason)
	}
	if l.ID != "s/shardId-1/4955/3" || l.Position == nil || *l.Position.SubSequence != 3 || l.Position.Sequence != "4955" {
		t.Errorf("id %q position %+v", l.ID, l.Position)
	}
	if !bytes.Equal(l.Original, data) || l.Document != nil || l.At.IsZero() {
		t.Errorf("letter = %+v", l)
	}
}

// TestTransformerSetsOriginal: every document refers to the record it was made from.
func TestTransformerSetsOriginal(t *testing.T) {
	var c capture
	tr, err := transform.New(&c, transform.Options{})
	if err != nil {
		t.Fatal(err)
	}
	data := stream.AppendEnvelope(nil, "fw", "", time.Now(), []byte(`{"message":"m"}`))
	b := stream.Batch{Records: []stream.Delivered{{Record: stream.Record{Data: data}, Stream: "s", Shard: "sh", Sequence: "1"}}}
	if err := tr.Handle(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if len(c.docs) != 1 || &c.docs[0].Original[0] != &data[0] || len(c.docs[0].Original) != len(data) {
		t.Fatalf("Original does not refer to the record's data: %+v", c.docs)
	}
}

func TestParseRefusesWhatIsNotADeadLetter(t *testing.T) {
	for in, want := range map[string]string{
		`not json`:                               "decode dead letter",
		`{"message":"an event"}`:                 "not a dead letter",
		`{"error":{"type":"x","reason":"y"}}`:    "no log_type",
		`{"@timestamp":"yesterday","error":"x"}`: "@timestamp",
		`{"error":"x","data_base64":"%%%"}`:      "data_base64",
	} {
		if _, err := deadletter.Parse([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s) = %v, want an error containing %q", in, err, want)
		}
	}
}

func TestParsePosition(t *testing.T) {
	for id, want := range map[string]string{
		"s/shardId-0/123":    "s shardId-0 123 -",
		"s/shardId-0/123/7":  "s shardId-0 123 7",
		"s/shardId-0/12x":    "nil",
		"s/shardId-0":        "nil",
		"s//123":             "nil",
		"s/shardId-0/123/-1": "nil",
		"":                   "nil",
	} {
		p := deadletter.ParsePosition(id)
		got := "nil"
		if p != nil {
			sub := "-"
			if p.SubSequence != nil {
				sub = itoa(*p.SubSequence)
			}
			got = p.Stream + " " + p.Shard + " " + p.Sequence + " " + sub
		}
		if got != want {
			t.Errorf("ParsePosition(%q) = %s, want %s", id, got, want)
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestMarkReplayed: the mark is read back, also behind the file sink's id field.
func TestMarkReplayed(t *testing.T) {
	at := time.Date(2026, 11, 26, 10, 0, 0, 5, time.UTC)
	body := []byte(`{"@timestamp":"2026-11-26T09:00:00Z","log_type":"fw","index":"i","error":{"type":"t","reason":"r"},"event":{"a":1}}`)
	marked := deadletter.MarkReplayed(body, at)
	l, err := deadletter.Parse(marked)
	if err != nil {
		t.Fatal(err)
	}
	if !l.ReplayedAt.Equal(at) || string(l.Document) != `{"a":1}` {
		t.Errorf("letter = %+v", l)
	}
	if got := deadletter.MarkReplayed([]byte(`{}`), at); !json.Valid(got) {
		t.Errorf("MarkReplayed({}) = %s, not JSON", got)
	}
}

// putter records the records put, or fails.
type putter struct {
	mu   sync.Mutex
	recs []stream.Record
	err  error
}

func (p *putter) Put(_ context.Context, _ string, recs []stream.Record) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	for _, r := range recs {
		r.Data = bytes.Clone(r.Data)
		p.recs = append(p.recs, r)
	}
	return nil
}

// TestKinesisShrinksOversizedDeadLetters: a dead letter larger than a record loses
// its bulkiest fields, says which, and still parses. (The putter is a recorder of the
// writer's own narrow interface; the real producer is exercised in kinesis_test.go.)
func TestKinesisShrinksOversizedDeadLetters(t *testing.T) {
	var p putter
	k, err := deadletter.NewKinesis(&p, "dlq", deadletter.KinesisOptions{MaxRecordBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 5000)
	mk := func(event, original string) sink.Document {
		b, _ := json.Marshal(deadletter.Body{Timestamp: "2026-11-26T10:00:00Z", LogType: "fw", Index: "logs-fw-default", ID: "s/sh/1",
			Error: deadletter.Error{Type: "mapper_parsing_exception", Reason: "bad"}, Event: json.RawMessage(event), Original: json.RawMessage(original)})
		return sink.Document{Type: deadletter.Type, ID: "s/sh/1", Body: b}
	}
	docs := []sink.Document{
		mk(`{"small":1}`, `{"o":1}`),
		mk(`{"m":"`+big+`"}`, `{"o":1}`),
		mk(`{"m":"`+big+`"}`, `{"o":"`+big+`"}`),
	}
	if err := k.Write(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	if len(p.recs) != 3 {
		t.Fatalf("%d records, want 3", len(p.recs))
	}
	wantTrunc := [][]string{nil, {"event"}, {"event", "original"}}
	for i, r := range p.recs {
		if r.PartitionKey != "s/sh/1" || r.Size() > 4096 {
			t.Errorf("record %d: key %q, %d bytes", i, r.PartitionKey, r.Size())
		}
		l, err := deadletter.Parse(r.Data)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		var b deadletter.Body
		_ = json.Unmarshal(r.Data, &b)
		if strings.Join(b.Truncated, ",") != strings.Join(wantTrunc[i], ",") || l.ErrorType != "mapper_parsing_exception" || l.ID != "s/sh/1" {
			t.Errorf("record %d: truncated %v, error type %q, id %q", i, b.Truncated, l.ErrorType, l.ID)
		}
		if i == 1 && string(l.Original) != `{"o":1}` {
			t.Errorf("record 1 lost its original: %s", l.Original)
		}
	}

	p.err = errors.New("stream gone")
	if err := k.Write(context.Background(), docs[:1]); err == nil || !strings.Contains(err.Error(), "stream gone") || !strings.Contains(err.Error(), "dlq") {
		t.Errorf("Write with a failing producer = %v", err)
	}
}

// TestReadFiles reads the dead letters the file sink wrote (with its id field), in
// day order, within --since and --until, reporting an unreadable line and going on.
func TestReadFiles(t *testing.T) {
	dir := t.TempDir()
	fs, err := file.New(file.Config{Dir: dir, IDField: "_id"})
	if err != nil {
		t.Fatal(err)
	}
	var docs []sink.Document
	for i, at := range []time.Time{
		time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC),
	} {
		b, _ := json.Marshal(deadletter.Body{Timestamp: at.Format(time.RFC3339Nano), LogType: "fw", ID: "s/sh/" + itoa(i),
			Error: deadletter.Error{Type: "t", Reason: "r"}, Event: json.RawMessage(`{"n":` + itoa(i) + `}`)})
		docs = append(docs, sink.Document{Type: deadletter.Type, Time: at, ID: "s/sh/" + itoa(i), Body: b})
	}
	if err := fs.Write(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	_ = fs.Close()
	f, err := os.OpenFile(filepath.Join(deadletter.Dir(dir), "2026-11-25.ndjson"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("{broken\n")
	_ = f.Close()

	read := func(opts deadletter.ReadOptions, root ...string) (ids []string, bad int) {
		r := dir
		if len(root) > 0 {
			r = root[0]
		}
		err := deadletter.ReadFiles(context.Background(), r, opts, func(l deadletter.Letter, err error) error {
			if err != nil {
				if !strings.Contains(l.Source, "2026-11-25.ndjson:3") {
					t.Errorf("unreadable line named %q", l.Source)
				}
				bad++
				return nil
			}
			ids = append(ids, l.ID)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return ids, bad
	}
	if ids, bad := read(deadletter.ReadOptions{}); strings.Join(ids, " ") != "s/sh/0 s/sh/1 s/sh/2" || bad != 1 {
		t.Errorf("all: %v, %d unreadable", ids, bad)
	}
	since := deadletter.ReadOptions{Since: time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC)}
	if ids, _ := read(since); strings.Join(ids, " ") != "s/sh/2" {
		t.Errorf("since: %v", ids)
	}
	until := deadletter.ReadOptions{Until: time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC)}
	if ids, _ := read(until); strings.Join(ids, " ") != "s/sh/0 s/sh/1" {
		t.Errorf("until: %v", ids)
	}
	// The directory of dead letters itself works too; a missing one is an error.
	if ids, _ := read(deadletter.ReadOptions{}, deadletter.Dir(dir)); len(ids) != 3 {
		t.Errorf("dir: %v", ids)
	}
	if err := deadletter.ReadFiles(context.Background(), filepath.Join(dir, "nope"), deadletter.ReadOptions{}, nil); err == nil {
		t.Error("ReadFiles of a missing directory succeeded")
	}
}

// FuzzParse: any bytes read from a dead-letter stream or file parse or fail with an
// error, never a panic, and a parsed letter's replay id is stable and non-empty.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"@timestamp":"2026-11-26T10:00:00Z","log_type":"fw","index":"i","id":"s/sh/1/2","error":{"type":"t","reason":"r"},"event":{"a":1},"original":{"v":1}}`))
	f.Add([]byte(`{"@timestamp":"2026-11-26T10:00:00Z","error":"decode envelope","id":"s/sh/1","stream":"s","shard":"sh","sequence":"1","data":"{\"v\":1}"}`))
	f.Add([]byte(`{"replayed_at":"2026-11-26T10:00:00Z","error":"x","data_base64":"AAE="}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := deadletter.Parse(data)
		if err != nil {
			return
		}
		if id := l.ReplayID(); id == "" || id != l.ReplayID() {
			t.Fatalf("ReplayID %q unstable or empty", id)
		}
		_ = deadletter.MarkReplayed(data, time.Now())
	})
}
