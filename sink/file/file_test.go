package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/sink"
)

var (
	day1 = time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)
	day2 = time.Date(2026, 11, 27, 0, 30, 0, 0, time.UTC)
)

func newSink(t *testing.T, cfg Config) *Sink {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func doc(typ string, at time.Time, body string) sink.Document {
	return sink.Document{Type: typ, Time: at, ID: "s/0/1", Body: []byte(body)}
}

// readLines returns the lines of the file at path, failing if the file does not end
// in a newline.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if len(b) == 0 {
		return nil
	}
	if b[len(b)-1] != '\n' {
		t.Fatalf("%s does not end in a newline", path)
	}
	return strings.Split(string(b[:len(b)-1]), "\n")
}

// listFiles returns the paths of all regular files under dir, relative to it.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk: %v", err)
	}
	return files
}

func TestWriteByTypeAndDate(t *testing.T) {
	dir := t.TempDir()
	s := newSink(t, Config{Dir: dir})
	// A time in another zone is filed by its UTC date.
	east := time.FixedZone("UTC+10", 10*3600)
	docs := []sink.Document{
		doc("firewall", day1, `{"n":1}`),
		doc("ids", day1, `{"n":2}`),
		doc("firewall", day2, `{"n":3}`),
		doc("firewall", day1, `{"n":4}`),
		doc("firewall", time.Date(2026, 11, 27, 9, 0, 0, 0, east), `{"n":5}`), // 2026-11-26 UTC
		doc("_dead_letter", day2, `{"error":"x"}`),
	}
	if err := s.Write(context.Background(), docs); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := s.Write(context.Background(), docs[:1]); err != nil {
		t.Fatalf("second Write: %v", err)
	}

	want := map[string][]string{
		"firewall/2026-11-26.ndjson":     {`{"n":1}`, `{"n":4}`, `{"n":5}`, `{"n":1}`},
		"firewall/2026-11-27.ndjson":     {`{"n":3}`},
		"ids/2026-11-26.ndjson":          {`{"n":2}`},
		"_dead_letter/2026-11-27.ndjson": {`{"error":"x"}`},
	}
	files := listFiles(t, dir)
	if len(files) != len(want) {
		t.Errorf("files = %v, want %d files", files, len(want))
	}
	for name, lines := range want {
		got := readLines(t, filepath.Join(dir, name))
		if strings.Join(got, "|") != strings.Join(lines, "|") {
			t.Errorf("%s = %q, want %q", name, got, lines)
		}
	}
	for _, p := range []string{dir + "/firewall", dir + "/firewall/2026-11-26.ndjson"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		wantMode := os.FileMode(0o644)
		if fi.IsDir() {
			wantMode = 0o755 | os.ModeDir
		}
		// The umask may only remove permission bits.
		if fi.Mode()&^wantMode != 0 {
			t.Errorf("%s mode = %v, want at most %v", p, fi.Mode(), wantMode)
		}
	}
}

func TestWriteAppendsToExistingFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "waf"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "waf", "2026-11-26.ndjson")
	if err := os.WriteFile(path, []byte("{\"old\":true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newSink(t, Config{Dir: dir, Fsync: true})
	if err := s.Write(context.Background(), []sink.Document{doc("waf", day1, `{"new":true}`)}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	got := readLines(t, path)
	if want := []string{`{"old":true}`, `{"new":true}`}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("lines = %q, want %q", got, want)
	}
}

// A file whose last line was cut off (a crash mid-write) is ended first, so the next
// document is a line of its own and the fragment stays one unreadable line.
func TestWriteEndsATornLastLine(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "waf"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "waf", "2026-11-26.ndjson")
	if err := os.WriteFile(path, []byte("{\"old\":true}\n{\"torn\":"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newSink(t, Config{Dir: dir})
	for range 2 { // the second write finds the file ended
		if err := s.Write(context.Background(), []sink.Document{doc("waf", day1, `{"new":true}`)}); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	got := readLines(t, path)
	if want := []string{`{"old":true}`, `{"torn":`, `{"new":true}`, `{"new":true}`}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("lines = %q, want %q", got, want)
	}
}

func TestWriteRefusesInvalidBatch(t *testing.T) {
	good := doc("firewall", day1, `{"ok":true}`)
	tests := []struct {
		name string
		bad  sink.Document
		want string
	}{
		{"parent dir type", doc("../x", day1, `{}`), `type "../x"`},
		{"slash type", doc("a/b", day1, `{}`), `type "a/b"`},
		{"dot type", doc("..", day1, `{}`), `type ".."`},
		{"empty type", doc("", day1, `{}`), `type ""`},
		{"upper case type", doc("Firewall", day1, `{}`), `type "Firewall"`},
		{"other underscore type", doc("_other", day1, `{}`), `type "_other"`},
		{"newline in body", doc("firewall", day1, "{\"a\":\n1}"), "newline"},
		{"array body", doc("firewall", day1, `[1]`), "not a JSON object"},
		{"empty body", doc("firewall", day1, ``), "not a JSON object"},
		{"leading space", doc("firewall", day1, ` {}`), "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "root")
			s := newSink(t, Config{Dir: dir})
			err := s.Write(context.Background(), []sink.Document{good, tt.bad, good})
			if !errors.Is(err, ErrInvalidDocument) {
				t.Fatalf("Write error = %v, want ErrInvalidDocument", err)
			}
			if msg := err.Error(); !strings.Contains(msg, "document 1") || !strings.Contains(msg, tt.want) {
				t.Errorf("Write error = %q, want it to name document 1 and %q", msg, tt.want)
			}
			if files := listFiles(t, parent); len(files) != 0 {
				t.Errorf("files written: %v", files)
			}
		})
	}
}

func TestConcurrentWritersWriteWholeLines(t *testing.T) {
	dir := t.TempDir()
	s := newSink(t, Config{Dir: dir, MaxOpenFiles: 1})
	const (
		writers = 8
		batches = 20
		perDoc  = 10
	)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				docs := make([]sink.Document, perDoc)
				for i := range docs {
					// Every tenth body is larger than the write buffer, so one line
					// takes several write system calls.
					pad := strings.Repeat("x", 10+(w*7+i)%50)
					if i == 0 && b%10 == 0 {
						pad = strings.Repeat("y", writeBufferSize+123)
					}
					day := day1
					if i%2 == 1 {
						day = day2
					}
					docs[i] = doc("fw", day, fmt.Sprintf(`{"w":%d,"b":%d,"i":%d,"pad":%q}`, w, b, i, pad))
				}
				if err := s.Write(context.Background(), docs); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Write: %v", err)
	}

	seen := make(map[string]bool)
	for _, name := range []string{"fw/2026-11-26.ndjson", "fw/2026-11-27.ndjson"} {
		lines := readLines(t, filepath.Join(dir, name))
		if len(lines) != writers*batches*perDoc/2 {
			t.Errorf("%s has %d lines, want %d", name, len(lines), writers*batches*perDoc/2)
		}
		for _, line := range lines {
			var w, b, i int
			var pad string
			if _, err := fmt.Sscanf(line, `{"w":%d,"b":%d,"i":%d,"pad":%q}`, &w, &b, &i, &pad); err != nil {
				t.Fatalf("line is not whole: %.80q: %v", line, err)
			}
			key := fmt.Sprint(w, b, i)
			if seen[key] {
				t.Errorf("line %s written twice", key)
			}
			seen[key] = true
		}
	}
	if len(seen) != writers*batches*perDoc {
		t.Errorf("%d distinct lines, want %d", len(seen), writers*batches*perDoc)
	}
}

func TestEvictionKeepsAppending(t *testing.T) {
	dir := t.TempDir()
	s := newSink(t, Config{Dir: dir, MaxOpenFiles: 2})
	types := []string{"a", "b", "c", "d", "e"}
	const rounds = 4
	for r := range rounds {
		// One batch touching every type, then one batch per type.
		var all []sink.Document
		for _, typ := range types {
			all = append(all, doc(typ, day1, fmt.Sprintf(`{"r":%d,"all":true}`, r)))
		}
		if err := s.Write(context.Background(), all); err != nil {
			t.Fatalf("Write: %v", err)
		}
		for _, typ := range types {
			if err := s.Write(context.Background(), []sink.Document{doc(typ, day1, fmt.Sprintf(`{"r":%d}`, r))}); err != nil {
				t.Fatalf("Write: %v", err)
			}
		}
		s.mu.Lock()
		open, cached := s.lru.Len(), len(s.files)
		s.mu.Unlock()
		if open > 2 || cached != open {
			t.Fatalf("%d files open, %d cached, want at most 2", open, cached)
		}
	}
	for _, typ := range types {
		lines := readLines(t, filepath.Join(dir, typ, "2026-11-26.ndjson"))
		var want []string
		for r := range rounds {
			want = append(want, fmt.Sprintf(`{"r":%d,"all":true}`, r), fmt.Sprintf(`{"r":%d}`, r))
		}
		if strings.Join(lines, "|") != strings.Join(want, "|") {
			t.Errorf("%s lines = %q, want %q", typ, lines, want)
		}
	}
}

func TestWriteAfterClose(t *testing.T) {
	dir := t.TempDir()
	s, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(context.Background(), []sink.Document{doc("fw", day1, `{}`)}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Write(context.Background(), []sink.Document{doc("fw", day1, `{"late":1}`)}); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if lines := readLines(t, filepath.Join(dir, "fw", "2026-11-26.ndjson")); len(lines) != 1 {
		t.Errorf("lines = %q, want the one written before Close", lines)
	}
}

func TestWriteCanceledContextWritesNothing(t *testing.T) {
	dir := t.TempDir()
	s := newSink(t, Config{Dir: dir})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Write(ctx, []sink.Document{doc("fw", day1, `{}`)}); !errors.Is(err, context.Canceled) {
		t.Errorf("Write = %v, want context.Canceled", err)
	}
	if files := listFiles(t, dir); len(files) != 0 {
		t.Errorf("files written: %v", files)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	_, err := New(Config{MaxOpenFiles: -1})
	if err == nil {
		t.Fatal("New accepted an empty dir and negative max open files")
	}
	for _, want := range []string{"dir: required", "max_open_files: -1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("New error = %q, want it to mention %q", err, want)
		}
	}
	dir := filepath.Join(t.TempDir(), "a", "b")
	s, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer s.Close()
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Errorf("dir not created: %v", err)
	}
	if s.maxOpen != DefaultMaxOpenFiles {
		t.Errorf("max open = %d, want %d", s.maxOpen, DefaultMaxOpenFiles)
	}
}

func BenchmarkWrite(b *testing.B) {
	s, err := New(Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	body := `{"@timestamp":"2026-11-26T07:00:00Z","source":{"ip":"10.0.0.1","port":51514},"destination":{"ip":"192.0.2.10","port":443},"event":{"action":"allow","dataset":"firewall"},"message":"` + strings.Repeat("m", 200) + `"}`
	docs := make([]sink.Document, 500)
	for i := range docs {
		docs[i] = doc("firewall", day1, body)
	}
	b.SetBytes(int64(len(docs) * (len(body) + 1)))
	for b.Loop() {
		if err := s.Write(context.Background(), docs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(docs))/b.Elapsed().Seconds(), "docs/s")
}

// TestIDField writes each document's id as the first field of its line, with valid
// JSON for empty and non-empty objects alike.
func TestIDField(t *testing.T) {
	s := newSink(t, Config{IDField: "_id"})
	docs := []sink.Document{
		{Type: "fw", Time: day1, ID: "fw-stream/shardId-000000000001/4959/3", Body: []byte(`{"message":"a"}`)},
		{Type: "fw", Time: day1, ID: `quote"d`, Body: []byte(`{}`)},
		{Type: "fw", Time: day1, ID: "x", Body: []byte(`{ }`)},
	}
	if err := s.Write(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	got := readLines(t, filepath.Join(s.dir, "fw", "2026-11-26.ndjson"))
	want := []string{
		`{"_id":"fw-stream/shardId-000000000001/4959/3","message":"a"}`,
		`{"_id":"quote\"d"}`,
		`{"_id":"x" }`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
