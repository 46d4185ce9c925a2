package durable

import (
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Pebble's memory, bounded for `sluice dev`: two memtables may exist at once (one
// being flushed), plus the block cache. 16 MiB memtables rather than 4 MiB: `sluice
// dev` moved from 0.71x to 0.82x the in-memory stream's events per core, its peak RSS
// from 190 to 226 MiB (BENCHMARKS.md, "Durable embedded stream").
const (
	memTableSize = 16 << 20
	cacheSize    = 8 << 20
	// maxOpenFiles bounds the table cache; the data of a stream is a few dozen
	// sstables.
	maxOpenFiles = 256
	// flushDelayDeleteRange flushes a memtable holding deletions after this long even
	// when no writes fill it, so that consumed records leave the disk when the stream
	// goes idle.
	flushDelayDeleteRange = 10 * time.Second
)

// pebbleOptions returns the options the stream opens its database with.
func pebbleOptions(log *slog.Logger, syncs *atomic.Int64) *pebble.Options {
	o := &pebble.Options{
		FS:                    &countingFS{FS: vfs.Default, syncs: syncs},
		Logger:                pebbleLogger{log: log},
		EventListener:         eventListener(log),
		MemTableSize:          memTableSize,
		CacheSize:             cacheSize,
		MaxOpenFiles:          maxOpenFiles,
		FlushDelayDeleteRange: flushDelayDeleteRange,
		FormatMajorVersion:    pebble.FormatNewest,
	}
	// No block compression: records are read back within seconds of being written, and
	// flushing memtables through Snappy took 6-7% of `sluice dev`'s CPU; disk is the
	// cheaper resource here (BENCHMARKS.md, "Durable embedded stream").
	o.ApplyCompressionSettings(func() pebble.DBCompressionSettings { return pebble.DBCompressionNone })
	return o
}

// pebbleLogger passes Pebble's messages to slog: Infof at info (Pebble logs little at
// that level: the WALs it replays at Open and how far it read each), Errorf at error.
type pebbleLogger struct{ log *slog.Logger }

// Infof logs an informational message of Pebble.
func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Info("pebble: " + strings.TrimSpace(fmt.Sprintf(format, args...)))
}

// Errorf logs an error of Pebble.
func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error("pebble: " + strings.TrimSpace(fmt.Sprintf(format, args...)))
}

// Fatalf logs an unrecoverable error of Pebble and panics. Pebble calls it when going
// on would risk the data (a failed write of its log or manifest, a broken invariant)
// and relies on it not returning, as its default logger exits the process.
func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, args...))
	l.log.Error("pebble: fatal: " + msg)
	panic("pebble: " + msg)
}

// eventListener logs the events of Pebble an operator needs: failures of background
// work, corrupt data found, and write stalls (flushes and compactions falling behind,
// which Put feels as latency).
func eventListener(log *slog.Logger) *pebble.EventListener {
	return &pebble.EventListener{
		BackgroundError: func(err error) {
			log.Error("pebble background work failed", errAttr(err))
		},
		DataCorruption: func(info pebble.DataCorruptionInfo) {
			log.Error("pebble found corrupt data", "file", info.Path, errAttr(info.Details))
		},
		WriteStallBegin: func(info pebble.WriteStallBeginInfo) {
			log.Warn("pebble stalls writes", "reason", info.Reason)
		},
		WriteStallEnd: func() {
			log.Info("pebble write stall ended")
		},
	}
}

// errAttr is the attribute of an error in a log line: its message. Pebble's errors
// print a stack trace when formatted with %+v, as slog's text handler formats them.
func errAttr(err error) slog.Attr {
	if err == nil {
		return slog.String("err", "")
	}
	return slog.String("err", err.Error())
}

// countingFS counts the fsyncs of write-ahead log files, for the metric of syncs and
// to show that concurrent Puts share them.
type countingFS struct {
	vfs.FS
	syncs *atomic.Int64
}

func (fs *countingFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return &countingFile{File: f, syncs: fs.syncs}, nil
}

// Create creates a file, counting the syncs of a log file.
func (fs *countingFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	return fs.wrap(name, f, err)
}

// ReuseForWrite renames a file for reuse (Pebble recycles logs), counting the syncs of
// a log file.
func (fs *countingFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, category)
	return fs.wrap(newname, f, err)
}

// OpenReadWrite opens a file for writing, counting the syncs of a log file.
func (fs *countingFS) OpenReadWrite(name string, category vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.OpenReadWrite(name, category, opts...)
	return fs.wrap(name, f, err)
}

// Unwrap returns the file system counted.
func (fs *countingFS) Unwrap() vfs.FS { return fs.FS }

type countingFile struct {
	vfs.File
	syncs *atomic.Int64
}

// Sync fsyncs the file and counts it.
func (f *countingFile) Sync() error {
	f.syncs.Add(1)
	return f.File.Sync()
}

// SyncData fdatasyncs the file and counts it.
func (f *countingFile) SyncData() error {
	f.syncs.Add(1)
	return f.File.SyncData()
}

// SyncTo syncs a prefix of the file and counts it when it was a full sync.
func (f *countingFile) SyncTo(length int64) (bool, error) {
	full, err := f.File.SyncTo(length)
	if full {
		f.syncs.Add(1)
	}
	return full, err
}
