package kinesis_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// faultProxy is a fault-injecting HTTP proxy in front of a real Kinesis-compatible
// server. For PutRecords it can answer a whole request with an error, or fail chosen
// entries: a failed entry is not forwarded, and the proxy merges the server's results
// for the forwarded entries with the failures into one response, as Kinesis reports a
// partial failure. It can also stall: hold requests before forwarding them, or lose the
// answer of a request the server handled (withhold it, or close the connection), as a
// stalled network does. Every entry is logged by a digest of its key and data, so that
// a test can tell which entries were sent how often and which reached the server.
type faultProxy struct {
	target string
	srv    *httptest.Server
	client *http.Client

	mu sync.Mutex
	// requestFault, when set, may answer PutRecords request n (from 1) as a whole:
	// a status and an error code, or 0 to go on.
	requestFault func(n int) (status int, code string)
	// entryFault, when set, may fail an entry on its try-th arrival (from 1): an
	// error code, or "" to forward it.
	entryFault func(digest string, try int) string
	// hold, when set, is waited on before each PutRecords is handled; held counts
	// the requests that waited on it.
	hold chan struct{}
	held int
	// answerFault, when set, may lose the answer of PutRecords request n (from 1)
	// once the server has handled it (the server's part of the request is done even
	// if the client leaves): answerHeld withholds it until release is closed,
	// answerWithheld until the client gives up and leaves, answerDropped closes the
	// connection without an answer. answersLost counts them.
	answerFault func(n int) answerLoss
	release     chan struct{}
	answersLost int

	// callFault, when set, may answer call n (from 1) of another operation than
	// PutRecords (target such as "GetRecords") with an error: a status and an error
	// code, or 0 to forward it.
	callFault func(target string, n int) (status int, code string)
	calls     map[string]int
	// pageShards, when positive, makes ListShards answer in pages of that many
	// shards with NextToken, as Kinesis does for large streams (kinesalite does not
	// paginate).
	pageShards int

	requests       int
	seen           map[string]int // digest -> arrivals
	failed         map[string]int // digest -> arrivals failed by the proxy
	stored         map[string]int // digest -> times the server accepted it
	failedRequests int
	failedEntries  int
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	p := &faultProxy{
		target: target,
		client: &http.Client{Transport: tr},
		seen:   map[string]int{},
		failed: map[string]int{},
		stored: map[string]int{},
	}
	p.srv = httptest.NewServer(p)
	t.Cleanup(func() {
		p.srv.Close()
		tr.CloseIdleConnections()
	})
	return p
}

// answerLoss is what becomes of the answer to a PutRecords request the server handled.
type answerLoss int

const (
	answerSent     answerLoss = iota
	answerHeld                // withheld until release is closed (or the client leaves)
	answerWithheld            // withheld until the client leaves: its request times out
	answerDropped             // the connection is closed without an answer
)

// URL is the proxy's endpoint.
func (p *faultProxy) URL() string { return p.srv.URL }

// putRecords is the JSON shape of a PutRecords request and response.
type putRecordsIn struct {
	StreamName string            `json:"StreamName,omitempty"`
	StreamARN  string            `json:"StreamARN,omitempty"`
	Records    []json.RawMessage `json:"Records"`
}

type putEntry struct {
	Data         string `json:"Data"`
	PartitionKey string `json:"PartitionKey"`
}

type putRecordsOut struct {
	FailedRecordCount int               `json:"FailedRecordCount"`
	Records           []json.RawMessage `json:"Records"`
	EncryptionType    string            `json:"EncryptionType,omitempty"`
}

type putResult struct {
	SequenceNumber string `json:"SequenceNumber,omitempty"`
	ShardID        string `json:"ShardId,omitempty"`
	ErrorCode      string `json:"ErrorCode,omitempty"`
	ErrorMessage   string `json:"ErrorMessage,omitempty"`
}

func digest(e putEntry) string {
	sum := sha256.Sum256([]byte(e.PartitionKey + "\x00" + e.Data))
	return fmt.Sprintf("%x", sum[:8])
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if target := r.Header.Get("X-Amz-Target"); target != "Kinesis_20131202.PutRecords" {
		op := strings.TrimPrefix(target, "Kinesis_20131202.")
		p.mu.Lock()
		if p.calls == nil {
			p.calls = map[string]int{}
		}
		p.calls[op]++
		n, fault, pages := p.calls[op], p.callFault, p.pageShards
		p.mu.Unlock()
		if fault != nil {
			if status, code := fault(op, n); status == cutReset || status == cutClose {
				p.cutAnswer(w, r, body, status == cutReset)
				return
			} else if status != 0 {
				writeError(w, status, code)
				return
			}
		}
		if op == "ListShards" && pages > 0 {
			p.listShardsPaged(w, r, body, pages)
			return
		}
		p.forward(w, r, body)
		return
	}
	p.mu.Lock()
	hold := p.hold
	if hold != nil {
		p.held++
	}
	p.mu.Unlock()
	if hold != nil {
		<-hold
	}
	var in putRecordsIn
	if err := json.Unmarshal(body, &in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	entries := make([]putEntry, len(in.Records))
	digests := make([]string, len(in.Records))
	for i, raw := range in.Records {
		if err := json.Unmarshal(raw, &entries[i]); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		digests[i] = digest(entries[i])
	}

	p.mu.Lock()
	p.requests++
	n := p.requests
	tries := make([]int, len(digests))
	for i, d := range digests {
		p.seen[d]++
		tries[i] = p.seen[d]
	}
	if p.requestFault != nil {
		if status, code := p.requestFault(n); status != 0 {
			p.failedRequests++
			for _, d := range digests {
				p.failed[d]++
			}
			p.mu.Unlock()
			writeError(w, status, code)
			return
		}
	}
	codes := make([]string, len(digests))
	var forward []json.RawMessage
	for i, d := range digests {
		if p.entryFault != nil {
			codes[i] = p.entryFault(d, tries[i])
		}
		if codes[i] != "" {
			p.failed[d]++
			p.failedEntries++
			continue
		}
		forward = append(forward, in.Records[i])
	}
	p.mu.Unlock()

	var fwdOut putRecordsOut
	if len(forward) > 0 {
		in.Records = forward
		fwdBody, _ := json.Marshal(in)
		// Once forwarded, the server handles the request whether or not the client
		// waits for the answer, as Kinesis behind a stalled network would.
		status, respBody, err := p.do(context.WithoutCancel(r.Context()), r, fwdBody)
		if err != nil || status != http.StatusOK {
			// The server refused the forwarded part: pass its answer on whole.
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.WriteHeader(status)
			_, _ = w.Write(respBody)
			return
		}
		if err := json.Unmarshal(respBody, &fwdOut); err != nil || len(fwdOut.Records) != len(forward) {
			http.Error(w, fmt.Sprintf("proxy: bad PutRecords answer: %v", err), http.StatusBadGateway)
			return
		}
	}
	out := putRecordsOut{Records: make([]json.RawMessage, len(digests)), EncryptionType: fwdOut.EncryptionType}
	k := 0
	p.mu.Lock()
	for i, d := range digests {
		if codes[i] != "" {
			out.FailedRecordCount++
			out.Records[i], _ = json.Marshal(putResult{ErrorCode: codes[i], ErrorMessage: "injected by the test proxy"})
			continue
		}
		res := fwdOut.Records[k]
		k++
		var pr putResult
		_ = json.Unmarshal(res, &pr)
		if pr.ErrorCode == "" {
			p.stored[d]++
		} else {
			out.FailedRecordCount++
		}
		out.Records[i] = res
	}
	loss, release := answerSent, p.release
	if p.answerFault != nil {
		loss = p.answerFault(n)
	}
	if loss != answerSent {
		p.answersLost++
	}
	p.mu.Unlock()
	switch loss {
	case answerHeld:
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
	case answerWithheld:
		<-r.Context().Done()
		return
	case answerDropped:
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	respBody, _ := json.Marshal(out)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_, _ = w.Write(respBody)
}

// cutReset and cutClose, returned by callFault as the status, forward the call and
// break its answer off halfway through the body: the connection reset (as a busy
// server's RST reaches the client: "connection reset" or "use of closed network
// connection") or closed cleanly (the body ends early).
const (
	cutReset = -1
	cutClose = -2
)

// cutAnswer forwards a call and sends half of the server's answer before the
// connection goes.
func (p *faultProxy) cutAnswer(w http.ResponseWriter, r *http.Request, body []byte, reset bool) {
	status, respBody, err := p.do(r.Context(), r, body)
	if err != nil {
		writeError(w, http.StatusBadGateway, "ProxyForwardFailed")
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("Content-Length", strconv.Itoa(len(respBody)))
	w.WriteHeader(status)
	_, _ = w.Write(respBody[:len(respBody)/2])
	conn, _, err := http.NewResponseController(w).Hijack() // flushes what was written
	if err != nil {
		return
	}
	if tcp, ok := conn.(*net.TCPConn); ok && reset {
		_ = tcp.SetLinger(0) // close sends RST
	}
	conn.Close()
}

func writeError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `{"__type":%q,"message":"injected by the test proxy"}`, code)
}

// listShardsPaged answers ListShards in pages of n shards. The NextToken it makes
// names the stream and the offset of the next page.
func (p *faultProxy) listShardsPaged(w http.ResponseWriter, r *http.Request, body []byte, n int) {
	var in struct {
		StreamName string `json:"StreamName,omitempty"`
		NextToken  string `json:"NextToken,omitempty"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	offset := 0
	if in.NextToken != "" {
		name, off, ok := strings.Cut(in.NextToken, "|")
		if !ok || in.StreamName != "" {
			writeError(w, http.StatusBadRequest, "InvalidArgumentException")
			return
		}
		in.StreamName = name
		offset, _ = strconv.Atoi(off)
	}
	fwd, _ := json.Marshal(map[string]string{"StreamName": in.StreamName})
	status, respBody, err := p.do(r.Context(), r, fwd)
	if err != nil || status != http.StatusOK {
		w.WriteHeader(status)
		_, _ = w.Write(respBody)
		return
	}
	var out struct {
		Shards    []json.RawMessage `json:"Shards"`
		NextToken string            `json:"NextToken,omitempty"`
	}
	if err := json.Unmarshal(respBody, &out); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	total := len(out.Shards)
	end := min(offset+n, total)
	out.Shards = out.Shards[min(offset, end):end]
	if end < total {
		out.NextToken = fmt.Sprintf("%s|%d", in.StreamName, end)
	}
	respBody, _ = json.Marshal(out)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_, _ = w.Write(respBody)
}

// callCount returns how many calls of an operation other than PutRecords arrived.
func (p *faultProxy) callCount(op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[op]
}

// forward sends a request on to the server unchanged and copies the answer back.
func (p *faultProxy) forward(w http.ResponseWriter, r *http.Request, body []byte) {
	status, respBody, err := p.do(r.Context(), r, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	_, _ = w.Write(respBody)
}

func (p *faultProxy) do(ctx context.Context, r *http.Request, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for k, v := range r.Header {
		if k != "Content-Length" {
			req.Header[k] = v
		}
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return http.StatusBadGateway, []byte(err.Error()), err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// waitHeld waits until n PutRecords requests are held.
func (p *faultProxy) waitHeld(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		p.mu.Lock()
		held := p.held
		p.mu.Unlock()
		if held >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests held after %v, want %d", held, patience, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitAnswersLost waits until the answers of n PutRecords requests the server handled
// were withheld or dropped.
func (p *faultProxy) waitAnswersLost(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		p.mu.Lock()
		lost := p.answersLost
		p.mu.Unlock()
		if lost >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d answers lost after %v, want %d", lost, patience, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stats returns a copy of the proxy's log.
func (p *faultProxy) stats() (seen, failed, stored map[string]int, failedRequests, failedEntries int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.seen), maps.Clone(p.failed), maps.Clone(p.stored), p.failedRequests, p.failedEntries
}
