package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/tidwall/gjson"
)

// maxAnswerBytes bounds the answer read from the subject.
const maxAnswerBytes = 64 << 20

// httpTransport posts batches over HTTP/1.1, one request at a time per connection:
// NDJSON to /v1/events, or an Elasticsearch bulk body to /_bulk. The bodies of full
// batches are built (and compressed) once up front.
type httpTransport struct {
	name string // "http" or "bulk"
	url  string
	gzip bool
	// byStatus: a 2xx answer acknowledges every event of the request (--http-ack
	// status), for peers whose answer says nothing more.
	byStatus bool
	apiKey   string
	client   *http.Client
	tr       *http.Transport
	evs      []event
	index    string // bulk: the index of every document, %s is the log type
	batch    int
	// bodies[i] is the body of the full batch starting at event i*batch.
	bodies [][]byte
}

func newHTTPTransport(name, addr string, gz, byStatus bool, apiKey, index string, conns, batch int, timeout time.Duration, evs []event, wire *atomic.Int64) (*httpTransport, []int, error) {
	path := "/v1/events"
	if name == "bulk" {
		path = "/_bulk"
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return dialCounting(ctx, addr, wire)
		},
		MaxConnsPerHost:     conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	t := &httpTransport{
		name: name, url: "http://" + addr + path, gzip: gz, byStatus: byStatus, apiKey: apiKey, index: index, batch: batch, evs: evs,
		tr: tr, client: &http.Client{Transport: tr, Timeout: timeout},
	}
	sizes := make([]int, len(evs))
	for i, e := range evs {
		sizes[i] = len(e.doc)
	}
	for first := 0; first+batch <= len(evs); first += batch {
		body, err := t.build(first, batch)
		if err != nil {
			return nil, nil, err
		}
		t.bodies = append(t.bodies, body)
	}
	return t, sizes, nil
}

// build makes the body of events [first, first+n).
func (t *httpTransport) build(first, n int) ([]byte, error) {
	var raw bytes.Buffer
	for _, e := range t.evs[first : first+n] {
		if t.name == "bulk" {
			fmt.Fprintf(&raw, `{"create":{"_index":%q}}`+"\n", fmt.Sprintf(t.index, e.typ))
		}
		raw.Write(e.doc)
		raw.WriteByte('\n')
	}
	if !t.gzip {
		return raw.Bytes(), nil
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, fmt.Errorf("gzip body: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip body: %w", err)
	}
	return gz.Bytes(), nil
}

func (t *httpTransport) dial(context.Context) (conn, error) { return httpConn{t}, nil }

func (t *httpTransport) close() { t.tr.CloseIdleConnections() }

// httpConn is one worker's sequence of requests; the transport's pool holds its
// connection between requests.
type httpConn struct{ t *httpTransport }

// close does nothing: the transport's pool owns the connections.
func (httpConn) close() {}

// send posts one batch and waits for the answer.
func (c httpConn) send(ctx context.Context, b batch, done func(outcome)) error {
	t := c.t
	var body []byte
	if b.n == t.batch && b.first%t.batch == 0 {
		body = t.bodies[b.first/t.batch]
	} else {
		var err error
		if body, err = t.build(b.first, b.n); err != nil {
			done(outcome{kind: t.name + "_build", err: err})
			return nil
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		done(outcome{kind: t.name + "_request", err: err})
		return nil
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if t.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if t.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+t.apiKey)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		done(outcome{kind: errKind(t.name, err), err: err})
		return nil
	}
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	_ = resp.Body.Close()
	if err != nil {
		done(outcome{kind: errKind(t.name, err), err: fmt.Errorf("read answer: %w", err)})
		return nil
	}
	done(t.outcome(b.n, resp.StatusCode, answer))
	return nil
}

// outcome reads an answer: /v1/events says how many events it accepted; _bulk says
// whether any item failed, and each item's status.
func (t *httpTransport) outcome(n, status int, answer []byte) outcome {
	kind := t.name + "_" + strconv.Itoa(status)
	if t.name == "bulk" {
		if status != http.StatusOK {
			return outcome{kind: kind, err: answerError(answer)}
		}
		if !gjson.GetBytes(answer, "errors").Bool() {
			return outcome{acked: n}
		}
		var acked int
		for _, st := range gjson.GetBytes(answer, "items.#.*.status").Array() {
			if st.Int() == http.StatusCreated {
				acked++
			}
		}
		return outcome{acked: acked, rejected: n - acked, kind: "bulk_item_errors", err: answerError(answer)}
	}
	if t.byStatus {
		if status >= 200 && status < 300 {
			return outcome{acked: n}
		}
		return outcome{kind: kind, err: answerError(answer)}
	}
	accepted := gjson.GetBytes(answer, "accepted")
	switch {
	case status == http.StatusOK && int(accepted.Int()) == n:
		return outcome{acked: n}
	case accepted.Exists():
		return outcome{acked: int(accepted.Int()), rejected: n - int(accepted.Int()), kind: kind, err: answerError(answer)}
	default:
		return outcome{kind: kind, err: answerError(answer)}
	}
}

// answerError quotes the start of an error answer.
func answerError(answer []byte) error {
	const most = 300
	if len(answer) > most {
		return fmt.Errorf("answer: %s (cut at %d bytes)", answer[:most], most)
	}
	return fmt.Errorf("answer: %s", answer)
}
