// Package file is the NDJSON file destination of the index step (the last step of the
// data path) for `sluice dev`: it appends transformed documents to one file per log type
// and UTC day,
//
//	<Dir>/<type>/<YYYY-MM-DD>.ndjson
//
// so that a developer can follow events with tail and grep without running a search
// engine. It is not a production destination: files cannot overwrite a document by its
// id, so a replayed batch appears twice.
package file

import (
	"bufio"
	"bytes"
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sluice-siem/sluice/sink"
	"github.com/sluice-siem/sluice/stream"
)

// DefaultMaxOpenFiles is the number of file handles a Sink keeps open when
// Config.MaxOpenFiles is zero.
const DefaultMaxOpenFiles = 64

// deadLetterType is the log type under which the transformer writes records it could
// not decode. It starts with '_' so that it can never collide with a routed log type,
// which is also why stream.ValidType refuses it and the sink accepts it by name.
const deadLetterType = "_dead_letter"

// writeBufferSize is the buffer each file's bytes are gathered in before a write system
// call, so that a batch of small documents costs few system calls.
const writeBufferSize = 64 << 10

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("file sink closed")

// ErrInvalidDocument reports a document the sink refuses to write: its type cannot
// name a directory, or its body is not one line holding a JSON object. Retrying the
// same document does not help.
var ErrInvalidDocument = errors.New("invalid document")

// Config configures a Sink; it is the sink.file section of the configuration.
type Config struct {
	// Dir is the root directory; it is created if missing.
	Dir string `yaml:"dir" doc:"root directory (--data-dir)"`
	// Fsync makes Write fsync every file it wrote to (and the directories of files it
	// opened) before it returns. By default Write returns once the bytes are handed to
	// the operating system, which survives a crash of sluice but not of the machine.
	Fsync bool `yaml:"fsync" doc:"fsync files before acknowledging (slower, survives power loss)"`
	// MaxOpenFiles bounds the file handles kept open between writes; beyond it the
	// least recently used file is closed. Zero means DefaultMaxOpenFiles.
	MaxOpenFiles int `yaml:"max_open_files" doc:"most files kept open between writes (least recently used closed first); 0: 64"`
	// IDField, when set, makes each line begin with the document's id under this
	// top-level field (an object's later duplicate key, if the event has one, is left
	// as it is). Replays of a record then show as repeated ids.
	IDField string `yaml:"id_field" doc:"top-level field to write each document's id under (stream/shard/sequence); empty: not written"`
	// Logger receives problems that no caller can act on, such as a failure to close
	// an evicted file. Nil discards them.
	Logger *slog.Logger `yaml:"-"`
}

// DefaultConfig returns the sink's defaults: files under ./data, written without fsync,
// at most DefaultMaxOpenFiles open, without ids.
func DefaultConfig() Config {
	return Config{Dir: "data"}
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.Dir) == "" {
		errs = append(errs, errors.New("dir: required"))
	}
	if c.MaxOpenFiles < 0 {
		errs = append(errs, fmt.Errorf("max_open_files: %d, want 0 (default) or more", c.MaxOpenFiles))
	}
	return errors.Join(errs...)
}

// Sink writes documents as NDJSON files. It is safe for concurrent use; writes are
// serialized, so lines of concurrent writers never interleave.
type Sink struct {
	dir     string
	fsync   bool
	maxOpen int
	log     *slog.Logger
	// idKey is `"IDField":` in JSON, or nil when ids are not written.
	idKey []byte

	mu     sync.Mutex
	closed bool
	files  map[string]*list.Element // by path; each element's Value is an *openFile
	lru    list.List                // front: most recently used
	buf    *bufio.Writer            // reset onto the file being written
}

// openFile is a file handle kept open between writes.
type openFile struct {
	path string
	f    *os.File
}

// New validates cfg, creates cfg.Dir if it is missing and returns a Sink writing under
// it.
func New(cfg Config) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("file sink config: %w", err)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create file sink dir: %w", err)
	}
	s := &Sink{
		dir:     cfg.Dir,
		fsync:   cfg.Fsync,
		maxOpen: cfg.MaxOpenFiles,
		log:     cfg.Logger,
		files:   make(map[string]*list.Element),
		buf:     bufio.NewWriterSize(io.Discard, writeBufferSize),
	}
	if s.maxOpen == 0 {
		s.maxOpen = DefaultMaxOpenFiles
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if cfg.IDField != "" {
		key, _ := json.Marshal(cfg.IDField) // a string always encodes
		s.idKey = append(key, ':')
	}
	return s, nil
}

// fileGroup is the documents of one Write call that go to one file, in batch order.
type fileGroup struct {
	path string
	docs []int
}

// Write appends each document's body and a newline to the file of its type and the
// UTC date of its time. It checks every document first and writes nothing if one is
// invalid; the error then names the first invalid document's index and wraps
// ErrInvalidDocument. Write returns once every byte is handed to the operating system
// (and fsynced, with Config.Fsync). If it returns an error after checking, a prefix of
// the batch, possibly ending in a partial line, may have been written; the caller
// retries the batch. Write does not keep docs after it returns. If ctx is already done,
// Write writes nothing and returns ctx's error; once writing has started, it finishes.
func (s *Sink) Write(ctx context.Context, docs []sink.Document) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write %d documents: %w", len(docs), err)
	}
	for i := range docs {
		if err := checkDocument(&docs[i]); err != nil {
			return fmt.Errorf("document %d: %w", i, err)
		}
	}
	groups := s.group(docs)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	for _, g := range groups {
		if err := s.writeGroup(g, docs); err != nil {
			return err
		}
	}
	return nil
}

// checkDocument reports why doc cannot be written, or nil.
func checkDocument(doc *sink.Document) error {
	switch {
	case doc.Type != deadLetterType && !stream.ValidType(doc.Type):
		return fmt.Errorf("%w: type %q cannot name a directory", ErrInvalidDocument, doc.Type)
	case len(doc.Body) == 0 || doc.Body[0] != '{':
		return fmt.Errorf("%w: body is not a JSON object", ErrInvalidDocument)
	}
	if bytes.IndexByte(doc.Body, '\n') >= 0 {
		return fmt.Errorf("%w: body contains a newline", ErrInvalidDocument)
	}
	return nil
}

// group sorts docs by destination file, files in order of first use.
func (s *Sink) group(docs []sink.Document) []fileGroup {
	var groups []fileGroup
	index := make(map[string]int)
	// A batch's documents are mostly of one type and one day: the path is made again
	// only when either changes.
	var (
		lastType string
		lastDay  [3]int
		p        string
	)
	for i := range docs {
		t := docs[i].Time.UTC()
		y, m, d := t.Date()
		if day := [3]int{y, int(m), d}; p == "" || docs[i].Type != lastType || day != lastDay {
			p = filepath.Join(s.dir, docs[i].Type, t.Format(time.DateOnly)+".ndjson")
			lastType, lastDay = docs[i].Type, day
		}
		g, ok := index[p]
		if !ok {
			g = len(groups)
			index[p] = g
			groups = append(groups, fileGroup{path: p})
		}
		groups[g].docs = append(groups[g].docs, i)
	}
	return groups
}

// writeGroup appends the documents of g to its file. s.mu is held. A file that failed
// is closed and forgotten, so that the next write opens it afresh.
func (s *Sink) writeGroup(g fileGroup, docs []sink.Document) error {
	of, err := s.open(g.path)
	if err != nil {
		return err
	}
	s.buf.Reset(of.f)
	for _, i := range g.docs {
		// Errors are sticky and reported by Flush.
		if s.idKey != nil {
			body := docs[i].Body
			id, _ := json.Marshal(docs[i].ID)
			s.buf.WriteByte('{')
			s.buf.Write(s.idKey)
			s.buf.Write(id)
			if rest := bytes.TrimLeft(body[1:], " \t\r"); len(rest) > 0 && rest[0] != '}' {
				s.buf.WriteByte(',')
			}
			s.buf.Write(body[1:])
		} else {
			s.buf.Write(docs[i].Body)
		}
		s.buf.WriteByte('\n')
	}
	err = s.buf.Flush()
	s.buf.Reset(io.Discard)
	if err == nil && s.fsync {
		err = of.f.Sync()
	}
	if err != nil {
		s.forget(s.files[g.path])
		return fmt.Errorf("write %s: %w", g.path, err)
	}
	return nil
}

// open returns the open file for path, opening it (and closing the least recently
// used file beyond the limit) if needed. s.mu is held.
func (s *Sink) open(path string) (*openFile, error) {
	if e, ok := s.files[path]; ok {
		s.lru.MoveToFront(e)
		return e.Value.(*openFile), nil
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := s.endTornLine(path, f); err != nil {
		f.Close()
		return nil, err
	}
	if s.fsync {
		// A new file, or a new type directory, is durable only once its directory
		// entry is.
		for _, d := range []string{dir, s.dir} {
			if err := syncDir(d); err != nil {
				f.Close()
				return nil, err
			}
		}
	}
	of := &openFile{path: path, f: f}
	s.files[path] = s.lru.PushFront(of)
	for s.lru.Len() > s.maxOpen {
		s.forget(s.lru.Back())
	}
	return of, nil
}

// endTornLine ends with a newline a file whose last line is not ended (a write cut
// off by a crash or a full disk), so that the next document starts a line of its own
// instead of being glued to the fragment, which stays one unreadable line. The
// documents of the fragment are written again by the at-least-once delivery.
func (s *Sink) endTornLine(path string, f *os.File) error {
	r, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer r.Close()
	st, err := r.Stat()
	if err != nil || st.Size() == 0 {
		return err
	}
	last := make([]byte, 1)
	if _, err := r.ReadAt(last, st.Size()-1); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if last[0] == '\n' {
		return nil
	}
	s.log.Warn("ndjson file ends in a torn line (a write cut off); ending it, its documents are written again", "path", path, "size", st.Size())
	if _, err := f.Write([]byte{'\n'}); err != nil {
		return fmt.Errorf("end torn line of %s: %w", path, err)
	}
	return nil
}

// forget closes the file of e and drops it from the cache. The file's bytes are
// already written, so a close error cannot be acted on by the caller; it is logged.
// s.mu is held.
func (s *Sink) forget(e *list.Element) {
	of := s.lru.Remove(e).(*openFile)
	delete(s.files, of.path)
	if err := of.f.Close(); err != nil {
		s.log.Warn("close ndjson file", "path", of.path, "err", err)
	}
}

// syncDir fsyncs the directory dir, making the entries in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// Close closes every open file and makes later writes fail with ErrClosed. Nothing is
// buffered between writes, so no data is flushed here; close errors are returned
// joined. Calling Close again returns nil.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for e := s.lru.Front(); e != nil; e = e.Next() {
		of := e.Value.(*openFile)
		if err := of.f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", of.path, err))
		}
	}
	s.lru.Init()
	clear(s.files)
	return errors.Join(errs...)
}

// Start implements the lifecycle of cmd/sluice: the sink has no background work, and
// writes from New on.
func (s *Sink) Start(context.Context) error { return nil }

// Shutdown closes the sink (Close): it is safe without Start, and a second call
// returns nil.
func (s *Sink) Shutdown(context.Context) error { return s.Close() }
