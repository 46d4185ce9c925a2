// Package discard is a null stream, in the stream step of the data path as a benchmark
// tool for the receive step: a gateway.Producer that accepts every record at once and
// drops it, counting what it dropped. With `stream.kind: discard` (gateway role only) a
// gateway measures its receivers, routing and envelopes alone, without the cost of a
// real stream; nothing sent to it is kept, so it must never serve real traffic.
package discard

import (
	"context"
	"sync/atomic"

	"github.com/sluice-siem/sluice/stream"
)

// Stream drops every record put into it. Its methods are safe for concurrent use; the
// zero value is ready to use.
type Stream struct {
	records atomic.Int64
	bytes   atomic.Int64
}

// New returns an empty null stream.
func New() *Stream { return &Stream{} }

// Put counts recs and drops them. It never blocks and always returns nil: for the
// gateway every record is "durable" at once. It does not keep recs.
func (s *Stream) Put(_ context.Context, _ string, recs []stream.Record) error {
	var n int64
	for _, r := range recs {
		n += int64(r.Size())
	}
	s.records.Add(int64(len(recs)))
	s.bytes.Add(n)
	return nil
}

// Records returns how many records Put has dropped.
func (s *Stream) Records() int64 { return s.records.Load() }

// Bytes returns the bytes (partition keys plus data, as stream.Record.Size counts them)
// of the records Put has dropped.
func (s *Stream) Bytes() int64 { return s.bytes.Load() }
