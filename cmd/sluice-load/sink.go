package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-siem/sluice/internal/retry"
)

// deadLetterDir is where the file sink puts records the transform tier could not
// decode; they are counted apart.
const deadLetterDir = "_dead_letter"

// sinkCounter counts the lines of the NDJSON files under a file sink's directory,
// reading only what was appended since its last scan.
type sinkCounter struct {
	dir         string
	offsets     map[string]int64
	lines, dead int64
	buf         []byte
}

func newSinkCounter(dir string) *sinkCounter {
	return &sinkCounter{dir: dir, offsets: map[string]int64{}, buf: make([]byte, 256<<10)}
}

// scan counts the lines appended since the last scan.
func (s *sinkCounter) scan() error {
	err := filepath.WalkDir(s.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // not created yet
			}
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".ndjson") {
			return nil
		}
		n, err := s.count(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.dir, path)
		if strings.HasPrefix(rel, deadLetterDir+string(filepath.Separator)) {
			s.dead += n
		} else {
			s.lines += n
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("count sink lines under %s: %w", s.dir, err)
	}
	return nil
}

// count returns the newlines appended to path since its last count.
func (s *sinkCounter) count(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	off := s.offsets[path]
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	var lines int64
	for {
		n, err := f.Read(s.buf)
		for _, c := range s.buf[:n] {
			if c == '\n' {
				lines++
			}
		}
		off += int64(n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	s.offsets[path] = off
	return lines, nil
}

// waitSink scans dir until it holds want lines (dead letters included, so that a
// decoding problem shows as such instead of as a timeout) or timeout passes. It
// returns the counter and when the sink was complete (zero if it never was).
func waitSink(ctx context.Context, dir string, want int64, timeout time.Duration) (*sinkCounter, time.Time, error) {
	s := newSinkCounter(dir)
	deadline := time.Now().Add(timeout)
	for {
		if err := s.scan(); err != nil {
			return s, time.Time{}, err
		}
		if s.lines+s.dead >= want {
			return s, time.Now(), nil
		}
		if time.Now().After(deadline) || !retry.Sleep(ctx, 100*time.Millisecond) {
			return s, time.Time{}, nil
		}
	}
}
