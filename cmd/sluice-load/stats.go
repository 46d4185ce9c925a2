package main

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// outcome is how one batch ended.
type outcome struct {
	// acked events are acknowledged (durable at the subject); rejected events were
	// refused one by one (the subject answered, but did not take them).
	acked, rejected int
	// kind is empty when the whole batch was acknowledged; otherwise it names the
	// error: the transport and its status or code ("http_429", "grpc_UNAVAILABLE",
	// "lumberjack_eof").
	kind string
	// err describes the first error of a kind, for the summary.
	err error
	// latencies, when set, are the acknowledgement latencies of the batch's events one
	// by one (RELP answers every message), recorded instead of the batch's latency.
	latencies []time.Duration
	// noAck says the protocol acknowledges nothing (plain syslog): acked means
	// written, and there is no latency to record.
	noAck bool
}

// batch is one batch on its way: where its events are in the pool and when its
// latency starts.
type batch struct {
	seq   uint64
	first int // index of its first event in the transport's pool
	n     int
	bytes int64 // payload bytes: the event documents
	// start is when the batch was due: its send time, or its scheduled time under a
	// fixed rate.
	start time.Time
}

// stats are the counters of a run. Every batch counted as sent gets exactly one done.
type stats struct {
	mu sync.Mutex
	// sent, acked, rejected and failed count events; the *Batches batches.
	sent, acked, rejected, failed         int64
	sentBatches, ackedBatches, errBatches int64
	sentBytes, ackedBytes                 int64
	errors                                map[string]int64
	samples                               map[string]string
	hist                                  *histogram
	lastDone                              time.Time
	// acks, when trackAcks is set, holds the running total of acknowledged events
	// after every batch that acknowledged any (for --search-url).
	trackAcks bool
	acks      []ackPoint
}

func newStats() *stats {
	return &stats{errors: map[string]int64{}, samples: map[string]string{}, hist: newHistogram()}
}

func (s *stats) sendBatch(b batch) {
	s.mu.Lock()
	s.sent += int64(b.n)
	s.sentBatches++
	s.sentBytes += b.bytes
	s.mu.Unlock()
}

// done records the outcome of b at time now.
func (s *stats) done(b batch, o outcome, now time.Time) {
	o.acked = min(max(o.acked, 0), b.n)
	o.rejected = min(max(o.rejected, 0), b.n-o.acked)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acked += int64(o.acked)
	s.rejected += int64(o.rejected)
	s.failed += int64(b.n - o.acked - o.rejected)
	s.ackedBytes += b.bytes * int64(o.acked) / int64(max(b.n, 1))
	switch {
	case o.latencies != nil:
		for _, d := range o.latencies {
			s.hist.recordDuration(d)
		}
	case o.kind == "" && !o.noAck:
		s.hist.recordDuration(now.Sub(b.start))
	}
	if o.kind == "" {
		s.ackedBatches++
	} else {
		s.errBatches++
		s.errors[o.kind]++
		if _, ok := s.samples[o.kind]; !ok && o.err != nil {
			s.samples[o.kind] = o.err.Error()
		}
	}
	s.lastDone = now
	if s.trackAcks && o.acked > 0 {
		s.acks = append(s.acks, ackPoint{at: now, n: s.acked})
	}
}

// failure records an error that is not a batch's (a failed dial).
func (s *stats) failure(kind string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errors[kind]++
	if _, ok := s.samples[kind]; !ok && err != nil {
		s.samples[kind] = err.Error()
	}
}

// snapshot is a copy of the counters for the progress line.
type snapshot struct {
	sent, acked, failed, rejected int64
	ackedBytes                    int64
	errors                        int64
	p99                           time.Duration
}

func (s *stats) snapshot() snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs int64
	for _, n := range s.errors {
		errs += n
	}
	return snapshot{
		sent: s.sent, acked: s.acked, failed: s.failed, rejected: s.rejected,
		ackedBytes: s.ackedBytes, errors: errs, p99: time.Duration(s.hist.percentile(99)),
	}
}

// errKind names an error of a transport for the errors-by-kind table: the transport,
// then the class of the error.
func errKind(transport string, err error) string {
	var ne net.Error
	class := "other"
	switch {
	case err == nil:
		class = "unknown"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		class = "timeout"
	case errors.Is(err, context.Canceled):
		class = "canceled"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		class = "eof"
	case errors.Is(err, syscall.ECONNREFUSED):
		class = "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		class = "reset"
	case errors.Is(err, net.ErrClosed):
		class = "closed"
	default:
		if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
			class = st.Code().String() // a gRPC status
		}
	}
	return transport + "_" + class
}
