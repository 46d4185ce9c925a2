package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/sluice-siem/sluice/internal/retry"
)

// ackPoint is when the run's acknowledged events reached n in all.
type ackPoint struct {
	at time.Time
	n  int64
}

// countPoint is a poll of the search engine: n documents were searchable at at.
type countPoint struct {
	at time.Time
	n  int64
}

// searchFigures measure the whole chain's end: from the gateway's acknowledgement to
// the document being searchable in the engine.
type searchFigures struct {
	URL       string  `json:"url"`
	Index     string  `json:"index"`
	Documents int64   `json:"documents"`
	Complete  bool    `json:"complete"`
	Wait      float64 `json:"wait_after_acks_s"`
	// PollMs is the interval of the _count polls: the resolution of the latencies.
	PollMs float64 `json:"poll_ms"`
	// Latency is, per acknowledged batch, the time from its acknowledgement to the
	// first poll that counted as many searchable documents as had been acknowledged up
	// to and with it (see BENCHMARKS.md: an approximation that takes the engine to
	// make documents searchable in acknowledgement order).
	Latency latency `json:"ack_to_searchable_ms"`
	// Hops are the subject's own histograms of each hop, read from --hop-metrics at
	// the end of the run.
	Hops []hopFigure `json:"hops,omitempty"`
}

// searchPoller counts the searchable documents of an index pattern at an interval.
type searchPoller struct {
	base, index string
	interval    time.Duration

	mu     sync.Mutex
	points []countPoint
	err    error // the last poll's error, nil once a poll succeeds again
}

// checkSearchURL checks that the engine's URL is http(s) and, unless allowed, loopback.
func checkSearchURL(ctx context.Context, raw string, allowRemote bool) error {
	return checkHTTPURL(ctx, "--search-url", raw, allowRemote)
}

// checkHTTPURL checks that the URL of a flag is http(s) and, unless allowed, loopback.
func checkHTTPURL(ctx context.Context, flag, raw string, allowRemote bool) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s %q: want http://host:port", flag, raw)
	}
	hostport := u.Host
	if u.Port() == "" {
		hostport = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	return checkLoopback(ctx, hostport, allowRemote)
}

// run polls until ctx ends.
func (p *searchPoller) run(ctx context.Context) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		n, err := searchCount(ctx, p.base, p.index)
		now := time.Now()
		p.mu.Lock()
		p.err = err
		if err == nil {
			p.points = append(p.points, countPoint{at: now, n: n})
		}
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// wait waits until the engine counts want documents, or timeout passes; it
// returns when the count was complete (zero if never).
func (p *searchPoller) wait(ctx context.Context, want int64, timeout time.Duration) (time.Time, int64, error) {
	deadline := time.Now().Add(timeout)
	for {
		p.mu.Lock()
		var last countPoint
		if len(p.points) > 0 {
			last = p.points[len(p.points)-1]
		}
		err := p.err
		p.mu.Unlock()
		if last.n >= want {
			return last.at, last.n, nil
		}
		if time.Now().After(deadline) || !retry.Sleep(ctx, p.interval/2) {
			return time.Time{}, last.n, err
		}
	}
}

// ackToSearchable computes, for every acknowledgement point, the time until the first
// poll that counted at least as many documents; acknowledgements never matched by a
// poll are left out (the caller reports the shortfall).
func ackToSearchable(acks []ackPoint, polls []countPoint) *histogram {
	h := newHistogram()
	for _, a := range acks {
		i, _ := slices.BinarySearchFunc(polls, a.n, func(c countPoint, n int64) int {
			switch {
			case c.n < n:
				return -1
			case c.n > n:
				return 1
			}
			return 0
		})
		// Counts only grow, so the polls are sorted by n; i is the first with n >= a.n.
		if i == len(polls) {
			continue
		}
		h.recordDuration(polls[i].at.Sub(a.at)) // negative (indexed before the ACK arrived) counts as 0
	}
	return h
}
