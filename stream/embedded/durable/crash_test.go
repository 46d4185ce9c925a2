package durable_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/embedded/durable"
)

// newestFile returns the path of the last file in dir matching pattern (Pebble numbers
// its files in creation order) and the sorted list of all of them.
func newestFile(t testing.TB, dir, pattern string) (string, []string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil || len(files) == 0 {
		t.Fatalf("no %s in %s (%v)", pattern, dir, err)
	}
	slices.Sort(files)
	return files[len(files)-1], files
}

func size(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// crashCopy copies the files of a stream's directory while the stream is open, which
// is what a kill -9 leaves on disk: everything written, no clean shutdown, no
// end-of-log trailer. (The lock file is left behind, as a dead process's lock is.)
func crashCopy(t testing.TB, dir string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || e.Name() == "LOCK" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestTornWAL: a crash leaves the newest write-ahead log torn in the middle of its
// last record, or followed by garbage. The stream opens, every record synced before
// the torn one is there, and a warning says the log did not end cleanly. Pebble's
// replay of a log with such a tail is exercised for real: the directory is copied
// while the stream runs, so nothing was flushed or closed.
func TestTornWAL(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damage  func(t *testing.T, wal string, before, after int64)
		records int  // records expected after recovery
		warns   bool // whether the unclean end is reported
		// dropped is the bytes the warning reports dropped, given the log's size
		// before and after the last record was put.
		dropped func(before, after int64) int64
	}{
		{"crash between writes", func(*testing.T, string, int64, int64) {}, 10, false, nil},
		{"last record torn", func(t *testing.T, wal string, before, after int64) {
			if err := os.Truncate(wal, (before+after)/2); err != nil {
				t.Fatal(err)
			}
		}, 9, true, func(before, after int64) int64 { return (before+after)/2 - before }},
		{"garbage appended", func(t *testing.T, wal string, _, _ int64) {
			f, err := os.OpenFile(wal, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Write([]byte(strings.Repeat("garbage after the last record ", 40))); err != nil {
				t.Fatal(err)
			}
		}, 10, true, func(int64, int64) int64 { return int64(len("garbage after the last record ") * 40) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config(t, newLogs(t))
			cfg.Shards = 1
			s := open(t, cfg)
			for i := range 9 {
				put(t, s, "fw", rec("k", fmt.Sprintf("r%d", i)))
			}
			wal, _ := newestFile(t, cfg.Dir, "*.log")
			before := size(t, wal)
			put(t, s, "fw", rec("k", "r9-"+strings.Repeat("x", 4000))) // synced: Put returned
			after := size(t, wal)
			crashed := crashCopy(t, cfg.Dir)
			tc.damage(t, filepath.Join(crashed, filepath.Base(wal)), before, after)

			l := newLogs(t)
			rcfg := cfg
			rcfg.Dir = crashed
			rcfg.Logger = l.logger()
			r := open(t, rcfg)
			got := drainAll(t, r, "fw")
			if len(got) != tc.records {
				t.Fatalf("recovered %d records, want %d: %v", len(got), tc.records, data(got))
			}
			for i, d := range got {
				if !strings.HasPrefix(string(d.Data), fmt.Sprintf("r%d", i)) {
					t.Errorf("record %d is %.10s", i, d.Data)
				}
			}
			warn := l.lines("WARN", "write-ahead log does not end cleanly")
			if tc.warns != (len(warn) == 1) {
				t.Errorf("warning of an unclean end: %v, want one: %v", warn, tc.warns)
			}
			if tc.warns && len(warn) == 1 {
				if want := fmt.Sprintf(" dropped_bytes=%d ", tc.dropped(before, after)); !strings.Contains(warn[0], want) {
					t.Errorf("warning %q does not say%s", warn[0], want)
				}
			}
			if lines := l.lines("ERROR"); len(lines) > 0 {
				t.Errorf("a torn tail was reported as corruption: %v", lines)
			}
			t.Logf("logged at recovery:\n%s", strings.Join(l.lines(""), "\n"))
			// The stream goes on after the recovered records.
			put(t, r, "fw", rec("k", "after"))
			all := drainAll(t, r, "fw")
			if last := all[len(all)-1]; string(last.Data) != "after" || last.Sequence <= got[len(got)-1].Sequence {
				t.Errorf("record put after recovery: %+v", last)
			}
		})
	}
}

// TestCorruptWAL: bytes flipped a third into the newest write-ahead log, with synced
// records after them, are not taken for a torn tail. Open refuses the directory with
// an error naming the damage, logs it and leaves the log as it is; with
// RecoverCorruptWAL it opens with the records before the damage, logs the offset and
// the bytes dropped as an error, and keeps those bytes in a file beside the log. The
// records after the damage share its 32 KiB block of the log, or lie in later ones;
// Pebble's replay alone takes both for a torn tail.
func TestCorruptWAL(t *testing.T) {
	for _, tc := range []struct {
		name  string
		bytes int  // of each record's data
		exact bool // every batch after the damage is counted intact (none spans blocks)
	}{
		{"within the last block", 100, true},
		{"before later blocks", 8000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config(t, newLogs(t))
			cfg.Shards = 1
			s := open(t, cfg)
			for i := range 10 {
				put(t, s, "fw", rec("k", fmt.Sprintf("r%d-%s", i, strings.Repeat("x", tc.bytes)))) // synced: Put returned
			}
			wal, _ := newestFile(t, cfg.Dir, "*.log")
			crashed := crashCopy(t, cfg.Dir)
			path := filepath.Join(crashed, filepath.Base(wal))
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for i := len(b) / 3; i < len(b)/3+8; i++ {
				b[i] ^= 0xff
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			t.Logf("flipped 8 bytes at offset %d of %d", len(b)/3, len(b))

			l := newLogs(t)
			rcfg := cfg
			rcfg.Dir = crashed
			rcfg.Logger = l.logger()
			if r, err := durable.Open(context.Background(), rcfg); err == nil {
				_ = r.Close()
				t.Fatal("Open succeeded on a log corrupt before its end")
			} else if !strings.Contains(err.Error(), "is corrupt at offset") || !strings.Contains(err.Error(), "recover_corrupt_wal") {
				t.Errorf("Open = %v, want the damage named and the option to drop it", err)
			} else {
				t.Logf("Open refused: %v", err)
			}
			refused := l.lines("ERROR", "write-ahead log is corrupt before its end", "not opening")
			if len(refused) != 1 || !strings.Contains(refused[0], " dropped_bytes=") || !strings.Contains(refused[0], " intact_batches_after=") {
				t.Errorf("logged %v, want one error with the bytes and batches lost", l.lines(""))
			}
			if l.lines("WARN", "does not end cleanly") != nil {
				t.Errorf("the damage was also reported as a torn tail: %v", l.lines("WARN"))
			}
			if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, b) {
				t.Errorf("a refused Open changed the log (%v)", err)
			}

			l = newLogs(t)
			rcfg.Logger = l.logger()
			rcfg.RecoverCorruptWAL = true
			r := open(t, rcfg)
			got := drainAll(t, r, "fw")
			if len(got) == 0 || len(got) >= 10 {
				t.Fatalf("recovered %d records, want those before the damage", len(got))
			}
			for i, d := range got {
				if !strings.HasPrefix(string(d.Data), fmt.Sprintf("r%d-", i)) {
					t.Errorf("record %d is %.10s", i, d.Data)
				}
			}
			lost := l.lines("ERROR", "write-ahead log is corrupt before its end", "dropped it")
			if len(lost) != 1 {
				t.Fatalf("logged %v, want one error saying what was dropped", l.lines(""))
			}
			t.Logf("logged at recovery: %s", lost[0])
			offset, dropped, intact := attrInt(t, lost[0], "offset"), attrInt(t, lost[0], "dropped_bytes"), attrInt(t, lost[0], "intact_batches_after")
			if offset > int64(len(b))/3 || dropped != int64(len(b))-offset {
				t.Errorf("offset %d, dropped_bytes %d: want the start of the damaged record (at most %d) and the bytes from it to the end (%d)",
					offset, dropped, len(b)/3, int64(len(b))-offset)
			}
			if lostRecords := int64(10 - len(got) - 1); intact < 1 || intact > lostRecords || (tc.exact && intact != lostRecords) {
				t.Errorf("intact_batches_after=%d, want the records after the damaged one (%d)", intact, lostRecords)
			}
			saved, err := os.ReadFile(fmt.Sprintf("%s.dropped-at-%d", path, offset))
			if err != nil || !bytes.Equal(saved, b[offset:]) {
				t.Errorf("the dropped bytes were not saved beside the log (%v)", err)
			}
			put(t, r, "fw", rec("k", "after"))
			if all := drainAll(t, r, "fw"); string(all[len(all)-1].Data) != "after" {
				t.Errorf("record put after recovery: %.10s", all[len(all)-1].Data)
			}
		})
	}
}

// attrInt returns the integer value of a key in a logged line.
func attrInt(t testing.TB, line, key string) int64 {
	t.Helper()
	for f := range strings.FieldsSeq(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("%s=%s in %q", key, v, line)
			}
			return n
		}
	}
	t.Fatalf("no %s in %q", key, line)
	return 0
}

// TestCorruptTable: bytes flipped in an sstable between two good ones make Read fail
// with a clear error at the damaged records, every time (never skipped), logged; what
// comes before is read, and a reader placed after the damage goes on.
func TestCorruptTable(t *testing.T) {
	cfg := config(t, newLogs(t))
	cfg.Shards = 1
	const shard = "shardId-000000000000"
	s, err := durable.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var last []string // the last sequence number of each part
	var want []string // every record's data, in order
	for _, part := range []string{"a", "b", "c"} {
		recs := records("k", part+"-"+strings.Repeat("x", 200), 100)
		for _, r := range recs {
			want = append(want, string(r.Data))
		}
		put(t, s, "fw", recs...)
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
		all := drainAll(t, s, "fw")
		last = append(last, all[len(all)-1].Sequence)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, tables := newestFile(t, cfg.Dir, "*.sst")
	if len(tables) != 3 {
		t.Fatalf("%d sstables, want one per flush: %v", len(tables), tables)
	}
	middle := tables[1]
	b, err := os.ReadFile(middle)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(b) / 4; i < len(b)/4+16; i++ {
		b[i] ^= 0xff
	}
	if err := os.WriteFile(middle, b, 0o600); err != nil {
		t.Fatal(err)
	}

	l := newLogs(t)
	cfg.Logger = l.logger()
	s = open(t, cfg)
	r := reader(t, s, "fw", shard, stream.Checkpoint{}, stream.Start{Position: stream.TrimHorizon})
	var read []stream.Delivered
	var readErr error
	for readErr == nil {
		var page stream.Page
		page, readErr = r.Read(context.Background(), 1000)
		if readErr == nil && len(page.Records) == 0 {
			t.Fatal("the damaged records were skipped: an empty page instead of an error")
		}
		read = append(read, page.Records...)
	}
	if errors.Is(readErr, context.Canceled) || !strings.Contains(readErr.Error(), "read shard shardId-000000000000 of fw") {
		t.Fatalf("Read = %v", readErr)
	}
	t.Logf("Read failed with: %v", readErr)
	// What was read is every record up to the damaged block of the middle table: all
	// of the first table, part of the second.
	if !slices.Equal(data(read), want[:len(read)]) || len(read) < 100 || len(read) >= 200 {
		t.Fatalf("read %d records before the error, want the first 100 to 199 in order", len(read))
	}
	t.Logf("%d records read before the damaged block", len(read))
	if _, err := r.Read(context.Background(), 1000); err == nil || err.Error() != readErr.Error() {
		t.Errorf("second Read = %v, want the same error again", err)
	}
	if lines := l.lines("ERROR", "read shard"); len(lines) != 1 {
		t.Errorf("the read error was logged %d times, want once: %v", len(lines), l.lines("ERROR"))
	}
	t.Logf("logged:\n%s", strings.Join(l.lines("ERROR"), "\n"))
	after := drain(t, reader(t, s, "fw", shard, stream.Checkpoint{Sequence: last[1]}, stream.Start{}))
	if len(after) != 100 || !strings.HasPrefix(string(after[0].Data), "c-") {
		t.Errorf("reading after the damage: %d records", len(after))
	}
}
