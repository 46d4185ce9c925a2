package kinesis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluice-siem/sluice/stream/kinesis/kpl"
)

// newTestCall returns a call of n events, as Put makes it.
func newTestCall(tag string, n int) *call {
	c := &call{events: make([]event, n), done: make(chan struct{}), remaining: n}
	for i := range c.events {
		key := fmt.Sprintf("%s-%d", tag, i)
		data := []byte(fmt.Sprintf(`{"tag":%q,"i":%d}`, tag, i))
		c.events[i] = event{key: key, data: data, hash: hashOf(key), size: len(key) + len(data), call: c}
	}
	return c
}

// aggEntry seals events into one aggregated record, as the batcher does.
func aggEntry(evs ...*event) *entry {
	agg := &kpl.Aggregator{}
	e := &entry{shard: "shard-0", events: evs}
	for _, ev := range evs {
		agg.Add(ev.key, "", ev.data)
		e.bytes += int64(ev.size)
	}
	e.key, e.agg, e.size = agg.PartitionKey(), agg, agg.Size()
	e.data = agg.AppendTo(nil)
	e.agg = nil
	return e
}

func outcomeOf(t *testing.T, c *call) string {
	t.Helper()
	o, gaveUp, err := c.giveUp()
	if !gaveUp {
		t.Fatalf("giveUp: the call had finished (%v)", err)
	}
	return o.String()
}

// TestOutcomeTracking drives the states of a Put's events through the sender's steps
// (claim before a try, settle after an answer that did not make them durable, finish)
// and checks what a caller giving up or failing is told, that events of a caller who
// gave up are left out of later tries (the record is packed again without them), and
// which writes count as late.
func TestOutcomeTracking(t *testing.T) {
	s := testStream(t, DefaultConfig())

	t.Run("queued", func(t *testing.T) {
		c := newTestCall("q", 3)
		want := "none of the 3 records were written (all were still queued; they will not be sent)"
		if got := outcomeOf(t, c); got != want {
			t.Errorf("outcome %q, want %q", got, want)
		}
	})

	t.Run("in flight, then left out of the retry", func(t *testing.T) {
		a, b := newTestCall("a", 3), newTestCall("b", 2)
		e := aggEntry(&a.events[0], &a.events[1], &b.events[0], &b.events[1]) // a's third event stays queued
		oldSize := e.size
		if kept, resent := s.claim([]*entry{e}); len(kept) != 1 || resent != 0 {
			t.Fatalf("claim: %d entries, %d resent; want 1 and 0", len(kept), resent)
		}
		want := "2 of the 3 records may have been written (their request is in flight or its answer was lost), 1 were not and will not be sent: resend; events with ids are indexed once"
		if got := outcomeOf(t, a); got != want {
			t.Errorf("outcome %q, want %q", got, want)
		}
		s.settle([]*entry{e}, true) // the request timed out
		kept, resent := s.claim([]*entry{e})
		if len(kept) != 1 || resent != 2 {
			t.Fatalf("retry: %d entries, %d resent; want 1 entry and b's 2 events resent", len(kept), resent)
		}
		users, err := kpl.Deaggregate(e.key, e.data)
		if err != nil {
			t.Fatal(err)
		}
		if len(users) != 2 || !bytes.Equal(users[0].Data, b.events[0].data) || !bytes.Equal(users[1].Data, b.events[1].data) {
			t.Errorf("retried record holds %d user records, want b's two only", len(users))
		}
		if e.size != len(e.key)+len(e.data) || e.size > oldSize || e.bytes != int64(b.events[0].size+b.events[1].size) {
			t.Errorf("resealed entry: size %d (key %d, data %d, was %d), bytes %d", e.size, len(e.key), len(e.data), oldSize, e.bytes)
		}
		s.finish(e, nil)
		select {
		case <-b.done:
			if b.err != nil {
				t.Errorf("b: %v", b.err)
			}
		default:
			t.Error("b is not done although its events are durable")
		}
		// a's events in the lost request may still turn up: a late write.
		if late, after := a.complete([]*event{&a.events[0]}, nil, nil); late != 1 || after != "gave_up" {
			t.Errorf("durable after giving up: late %d after %q, want 1 after gave_up", late, after)
		}
	})

	t.Run("every caller gone", func(t *testing.T) {
		c := newTestCall("g", 2)
		e := aggEntry(&c.events[0], &c.events[1])
		c.giveUp()
		if kept, _ := s.claim([]*entry{e}); len(kept) != 0 {
			t.Errorf("claim kept %d entries of a caller who gave up", len(kept))
		}
	})

	t.Run("refused and queued", func(t *testing.T) {
		c := newTestCall("r", 3)
		e := aggEntry(&c.events[0], &c.events[1])
		s.claim([]*entry{e})
		s.settle([]*entry{e}, false) // entry error, or a 4xx
		want := "none of the 3 records were written (2 were refused or never reached Kinesis, the others were still queued; they will not be sent)"
		if got := outcomeOf(t, c); got != want {
			t.Errorf("outcome %q, want %q", got, want)
		}
	})

	t.Run("refused after an unknown outcome", func(t *testing.T) {
		c := newTestCall("u", 2)
		e := aggEntry(&c.events[0], &c.events[1])
		s.claim([]*entry{e})
		s.settle([]*entry{e}, true)  // timed out: may be written
		s.claim([]*entry{e})         // retried
		s.settle([]*entry{e}, false) // refused this time: the first try may still have written it
		want := "2 of the 2 records may have been written"
		if got := outcomeOf(t, c); !strings.HasPrefix(got, want) {
			t.Errorf("outcome %q, want %q", got, want)
		}
	})

	t.Run("some durable", func(t *testing.T) {
		c := newTestCall("d", 2)
		e1, e2 := aggEntry(&c.events[0]), aggEntry(&c.events[1])
		s.claim([]*entry{e1, e2})
		s.finish(e1, nil)
		s.settle([]*entry{e2}, false)
		want := "1 of the 2 records were written, the other 1 were not and will not be sent: resend; events with ids are indexed once"
		if got := outcomeOf(t, c); got != want {
			t.Errorf("outcome %q, want %q", got, want)
		}
	})

	t.Run("failed", func(t *testing.T) {
		c := newTestCall("f", 2)
		e1, e2 := aggEntry(&c.events[0]), aggEntry(&c.events[1])
		s.claim([]*entry{e1, e2})
		s.settle([]*entry{e1}, false)
		s.finishEntries([]*entry{e1}, &failure{kind: failServer, err: errors.New("InternalFailure"), attempts: 3})
		<-c.done
		want := "not durable after 3 attempts in 0s (retry budget spent): InternalFailure; 1 of the 2 records may have been written (their request is in flight or its answer was lost), 1 were not and will not be sent"
		if c.err == nil || !strings.Contains(c.err.Error(), want) {
			t.Errorf("error %v, want it to say %q", c.err, want)
		}
		if late, after := c.complete([]*event{&c.events[1]}, nil, nil); late != 1 || after != "failed" {
			t.Errorf("durable after failing: late %d after %q, want 1 after failed", late, after)
		}
	})
}

type statusErr int

func (e statusErr) Error() string       { return fmt.Sprintf("status %d", int(e)) }
func (e statusErr) HTTPStatusCode() int { return int(e) }

func TestMayHaveWritten(t *testing.T) {
	for _, tc := range []struct {
		err  error
		sent bool
		want bool
	}{
		{fmt.Errorf("op: %w", statusErr(400)), true, false}, // refused before processing
		{fmt.Errorf("op: %w", statusErr(429)), true, false},
		{fmt.Errorf("op: %w", statusErr(500)), true, true}, // may have processed it
		// An answer proves the request arrived, even when the transport reported the
		// end of its writing after the answer (the test proxy's 500 raced that way).
		{fmt.Errorf("op: %w", statusErr(500)), false, true},
		{fmt.Errorf("op: %w", statusErr(400)), false, false},
		{fmt.Errorf("op: %w", statusErr(200)), true, true}, // an answer that cannot be read
		{context.DeadlineExceeded, true, true},             // timed out after sending
		{context.DeadlineExceeded, false, false},           // timed out before sending
		{errors.New("dial tcp: connection refused"), false, false},
	} {
		if got := mayHaveWritten(tc.err, tc.sent); got != tc.want {
			t.Errorf("mayHaveWritten(%v, sent %v) = %v, want %v", tc.err, tc.sent, got, tc.want)
		}
	}
}

// TestSendTrace checks what the HTTP trace tells: nothing sent to a closed port, the
// whole request sent to a server that read it and closed the connection unanswered.
func TestSendTrace(t *testing.T) {
	post := func(url string) *sendTrace {
		var tr sendTrace
		req, err := http.NewRequestWithContext(tr.context(context.Background()), http.MethodPost, url, strings.NewReader(`{"Records":[]}`))
		if err != nil {
			t.Fatal(err)
		}
		c := &http.Client{Transport: &http.Transport{}}
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("POST %s answered %s", url, resp.Status)
		}
		c.CloseIdleConnections()
		return &tr
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	if tr := post(closed); tr.started.Load() {
		t.Error("a request to a closed port counts as sent")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
	}))
	defer srv.Close()
	if tr := post(srv.URL); !tr.started.Load() || tr.cut.Load() {
		t.Errorf("a request the server read: started %v, cut %v; want sent", tr.started.Load(), tr.cut.Load())
	}
}
