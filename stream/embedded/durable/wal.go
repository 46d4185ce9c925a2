package durable

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2/batchrepr"
	"github.com/cockroachdb/pebble/v2/record"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/wal"
)

// The check of the newest write-ahead log before Pebble replays it.

const (
	// walBlockSize is the block of Pebble's log format (package record): a chunk of
	// a record never crosses a block boundary and a block starts with a chunk, so a
	// reader started at a boundary reads the records that begin after it.
	walBlockSize = 32 << 10
	// walLogNumAt is where a chunk header of the formats Pebble writes (recyclable and
	// WAL-sync) holds the low 32 bits of its log's number, after the checksum, length
	// and type. It only picks the offsets worth handing to Pebble's reader.
	walLogNumAt = 7
	// maxWALRescans bounds the readers started at block boundaries after damage that
	// names the log but does not read (each may read the file to its end).
	maxWALRescans = 16
)

// walTail is what inspectWAL found after the last record Pebble will replay.
type walTail struct {
	path     string // of the physical log file
	offset   int64  // where replay stops: the start of the first record it drops
	size     int64  // of the file
	replayed int    // complete batches before offset
	err      error  // why the record at offset does not read
	// intact counts the batches after offset whose chunks all pass their checksums
	// and name this log (not counting the empty batches of Pebble's syncs), and first
	// is the offset from which the first of them was read.
	intact int
	first  int64
}

// dropped is how many bytes of the file replay drops.
func (t *walTail) dropped() int64 { return t.size - t.offset }

// inspectWAL reads the newest write-ahead log in dir, as Pebble will replay it, and
// reports when it does not end cleanly. Pebble replays a log up to the first record
// that does not read and drops the rest, and says so only in an info line. That is
// right for a tail torn by a crash (only bytes not yet synced, hence not
// acknowledged, can be torn) and wrong for damage in the middle of the log, after
// which acknowledged records follow. Pebble's reader tells the two apart only by the
// sync offsets recorded in chunks of later 32 KiB blocks (which a new database's
// first log does not have), and in tests took damage with 5 to 7 synced records after
// it, in the same block or in later ones, for a torn tail. So inspectWAL scans the
// rest of the log itself, with Pebble's record reader, for records of this log that
// read intact (a recycled log file holds records of an older log after the new one's,
// with another log number: those do not count). One false alarm remains: a power loss
// may leave the unsynced tail's blocks written out of order, a later one intact after
// a missing one; with Sync always nothing in that tail was acknowledged.
//
//   - A log that ends after a complete record (a process killed between writes) or
//     with Pebble's end-of-log trailer (a clean Close) is not reported.
//   - A torn tail, with nothing intact after it, is logged as a warning with the
//     bytes dropped.
//   - Damage with intact records after it is logged as an error and returned, so
//     that Open fails, unless recoverCorrupt: then the bytes from the damage on are
//     saved in a file beside the log (<log>.dropped-at-<offset>, which Pebble
//     ignores) and cut from the log, so that Pebble replays what precedes the damage.
//
// A failure to read the log is logged and left to Pebble's own recovery.
func inspectWAL(dir string, recoverCorrupt bool, log *slog.Logger) error {
	tail, err := scanNewestWAL(dir)
	if err != nil {
		log.Warn("inspect write-ahead log before recovery", "dir", dir, errAttr(err))
		return nil
	}
	if tail == nil {
		return nil
	}
	attrs := []any{"wal", filepath.Base(tail.path), "complete_batches", tail.replayed,
		"offset", tail.offset, "dropped_bytes", tail.dropped(), errAttr(tail.err)}
	if tail.intact == 0 {
		log.Warn("write-ahead log does not end cleanly: a write was torn by a crash or the file has bytes after its last record; "+
			"recovery replays the complete records before the offset and drops the rest", attrs...)
		return nil
	}
	attrs = append(attrs, "intact_batches_after", tail.intact, "intact_from_offset", tail.first)
	if !recoverCorrupt {
		log.Error("write-ahead log is corrupt before its end: records synced after the damage would be lost; not opening the stream", attrs...)
		return fmt.Errorf("write-ahead log %s is corrupt at offset %d, and %d intact batches of records follow the damage: "+
			"recovery would drop them with the %d bytes from the offset on; to drop them and open, set recover_corrupt_wal "+
			"(stream.embedded.recover_corrupt_wal: true)", tail.path, tail.offset, tail.intact, tail.dropped())
	}
	saved, err := dropWALTail(tail)
	if err != nil {
		return fmt.Errorf("drop the corrupt end of write-ahead log %s as recover_corrupt_wal allows: %w", tail.path, err)
	}
	log.Error("write-ahead log is corrupt before its end: dropped it from the damage on, as recover_corrupt_wal allows; "+
		"acknowledged records after the damage are lost", append(attrs, "saved_to", filepath.Base(saved))...)
	return nil
}

// scanNewestWAL reads the newest log in dir with Pebble's reader; it returns nil if
// the log reads to its end.
func scanNewestWAL(dir string) (*walTail, error) {
	logs, err := wal.Scan(wal.Dir{FS: vfs.Default, Dirname: dir})
	if err != nil || len(logs) == 0 {
		return nil, err
	}
	newest := logs[len(logs)-1]
	r := newest.OpenForRead()
	defer func() { _ = r.Close() }()
	replayed := 0
	for {
		rec, offset, err := r.NextRecord()
		if err == nil {
			_, err = io.Copy(io.Discard, rec)
		}
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		if err != nil {
			data, rerr := os.ReadFile(offset.PhysicalFile)
			if rerr != nil {
				return nil, fmt.Errorf("read %s after the unreadable record at offset %d (%w): %w", offset.PhysicalFile, offset.Physical, err, rerr)
			}
			t := &walTail{path: offset.PhysicalFile, offset: offset.Physical, size: int64(len(data)), replayed: replayed, err: err}
			t.intact, t.first = intactAfter(data, newest.Num, offset.Physical)
			return t, nil
		}
		replayed++
	}
}

// intactAfter counts the batches of log num that read intact from data after offset,
// and returns the offset from which the first was read. Pebble's record reader
// decides what is intact. In the block of the damage, where the chunks after it lie
// at offsets unknown, a reader is given the rest of the block from every offset whose
// bytes name the log; from the next block boundary on, a reader is started at each
// boundary whose first chunk names the log, and after a failure at the boundary
// following the record that failed.
func intactAfter(data []byte, num wal.NumWAL, offset int64) (intact int, first int64) {
	var name [4]byte
	binary.LittleEndian.PutUint32(name[:], uint32(num))
	names := func(at int64) bool {
		return at+walLogNumAt+4 <= int64(len(data)) && bytes.Equal(data[at+walLogNumAt:at+walLogNumAt+4], name[:])
	}
	blockEnd := min((offset/walBlockSize+1)*walBlockSize, int64(len(data)))
	for at := offset + 1; at < blockEnd; at++ {
		if !names(at) {
			continue
		}
		if n, _ := readBatches(data[at:blockEnd], num); n > 0 {
			intact, first = n, at
			break
		}
	}
	rescans := 0
	for at := blockEnd; at < int64(len(data)) && rescans < maxWALRescans; {
		if !names(at) {
			at += walBlockSize
			continue
		}
		n, failedAt := readBatches(data[at:], num)
		if n > 0 && intact == 0 {
			first = at
		}
		intact += n
		if failedAt < 0 {
			break
		}
		rescans++
		at += (failedAt/walBlockSize + 1) * walBlockSize
	}
	return intact, first
}

// readBatches reads the records of log num in data from its start, with Pebble's
// record reader, and counts the non-empty batches among them up to the first record
// that does not read; failedAt is that record's offset in data, or -1 if data reads
// to its end.
func readBatches(data []byte, num wal.NumWAL) (n int, failedAt int64) {
	r := newRecordReader(record.NewReader, bytes.NewReader(data), num)
	for {
		at := r.Offset()
		rec, err := r.Next()
		var b []byte
		if err == nil {
			b, err = io.ReadAll(rec)
		}
		if errors.Is(err, io.EOF) {
			return n, -1
		}
		if err != nil {
			return n, at
		}
		if h, ok := batchrepr.ReadHeader(b); ok && h.Count > 0 {
			n++
		}
	}
}

// newRecordReader calls record.NewReader, whose log number has a type of an internal
// package of Pebble: N stands for it.
func newRecordReader[N ~uint64](newReader func(io.Reader, N) *record.Reader, r io.Reader, num wal.NumWAL) *record.Reader {
	return newReader(r, N(num))
}

// dropWALTail saves the bytes of the log from the damage on in a file beside it, then
// cuts them from the log, syncing both; it returns the saved file's path.
func dropWALTail(t *walTail) (string, error) {
	saved := fmt.Sprintf("%s.dropped-at-%d", t.path, t.offset)
	f, err := os.OpenFile(t.path, os.O_RDWR, 0)
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	rest := make([]byte, t.dropped())
	if _, err := f.ReadAt(rest, t.offset); err != nil {
		return "", fmt.Errorf("read the end of the log: %w", err)
	}
	if err := writeSynced(saved, rest); err != nil {
		return "", fmt.Errorf("save the end of the log: %w", err)
	}
	if err := f.Truncate(t.offset); err != nil {
		return "", fmt.Errorf("truncate the log: %w", err)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("sync the log: %w", err)
	}
	return saved, f.Close()
}

// writeSynced writes a new file and syncs it and its directory.
func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	d, err := vfs.Default.OpenDir(filepath.Dir(path))
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
