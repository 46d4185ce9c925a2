package search

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"unicode/utf8"

	elasticsearch "github.com/elastic/go-elasticsearch/v8"
	opensearch "github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/signer/awsv2"

	"github.com/sluice-siem/sluice/internal/awsclient"
	"github.com/sluice-siem/sluice/internal/jsonx"
)

// engine is what the sink needs of a search engine client: one _bulk request in, the
// result of each item out, and plain JSON requests for templates. Both clients sit
// behind it (go-elasticsearch for Elasticsearch, opensearch-go for OpenSearch), so the
// bulk encoding, per-item handling and retries are written once.
type engine interface {
	// Bulk sends one _bulk body. It returns the items' results in request order, or an
	// error for the request as a whole (see requestError).
	Bulk(ctx context.Context, body []byte) ([]itemResult, error)
	// Do sends a request with an optional JSON body and returns the status and body.
	Do(ctx context.Context, method, path string, body []byte) (int, []byte, error)
}

// itemResult is one item of a _bulk answer.
type itemResult struct {
	Status int
	// ErrType and Reason come from the item's error object, if any.
	ErrType string
	Reason  string
}

// requestError is a _bulk request that failed as a whole: the engine could not be
// reached (Status 0) or answered with a status other than 200.
type requestError struct {
	Status int
	Err    error
}

func (e *requestError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("bulk request: %v", e.Err)
	}
	return fmt.Sprintf("bulk request: status %d: %v", e.Status, e.Err)
}

func (e *requestError) Unwrap() error { return e.Err }

// retryable reports whether the whole request may be sent again: transport failures,
// 429 and 5xx.
func (e *requestError) retryable() bool {
	return e.Status == 0 || e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// performer is the one method both clients share: they pick a node, add credentials
// and TLS, and send the request.
type performer interface {
	Perform(*http.Request) (*http.Response, error)
}

// httpEngine implements engine over either client's Perform.
type httpEngine struct {
	client performer
	// header is added to every request (the API key for OpenSearch).
	header http.Header
	// close releases the client's background work, if it has any.
	close func() error
}

// newEngine builds the client of cfg.Engine. Client-level retries are off: the sink
// retries items itself and knows which ones.
func newEngine(ctx context.Context, cfg Config) (*httpEngine, error) {
	var ca []byte
	if cfg.CAFile != "" {
		var err error
		if ca, err = os.ReadFile(cfg.CAFile); err != nil {
			return nil, fmt.Errorf("read ca file: %w", err)
		}
	}
	switch cfg.Engine {
	case EngineElasticsearch:
		// The client's own transport, so that Close can close its idle connections:
		// go-elasticsearch would share http.DefaultTransport, and its Close leaves the
		// connections (and their goroutines) open.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if ca != nil {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(ca) {
				return nil, fmt.Errorf("ca file %s: no PEM certificate in it", cfg.CAFile)
			}
			if tr.TLSClientConfig == nil {
				tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			}
			tr.TLSClientConfig.RootCAs = pool
		}
		c, err := elasticsearch.NewClient(elasticsearch.Config{
			Addresses:    cfg.Addresses,
			Username:     cfg.Username,
			Password:     string(cfg.Password),
			APIKey:       string(cfg.APIKey),
			Transport:    tr,
			DisableRetry: true,
		})
		if err != nil {
			return nil, fmt.Errorf("create elasticsearch client: %w", err)
		}
		// Once: the client's Close fails when called again, and Sink.Close may be.
		closeOnce := sync.OnceValue(func() error {
			defer tr.CloseIdleConnections()
			if err := c.Close(context.Background()); err != nil {
				return fmt.Errorf("close elasticsearch client: %w", err)
			}
			return nil
		})
		return &httpEngine{client: c, close: closeOnce}, nil
	case EngineOpenSearch:
		oc := opensearch.Config{
			Addresses:    cfg.Addresses,
			Username:     cfg.Username,
			Password:     string(cfg.Password),
			CACert:       ca,
			DisableRetry: true,
		}
		if cfg.AWSRegion != "" {
			ac, err := awsclient.Load(ctx, awsclient.Settings{Region: cfg.AWSRegion})
			if err != nil {
				return nil, fmt.Errorf("load aws config for sigv4: %w", err)
			}
			oc.Signer, err = awsv2.NewSignerWithService(ac.AWS, cfg.AWSService)
			if err != nil {
				return nil, fmt.Errorf("create sigv4 signer: %w", err)
			}
		}
		c, err := opensearch.NewClient(oc)
		if err != nil {
			return nil, fmt.Errorf("create opensearch client: %w", err)
		}
		e := &httpEngine{client: c, close: c.Close}
		if cfg.APIKey != "" {
			e.header = http.Header{"Authorization": {"ApiKey " + string(cfg.APIKey)}}
		}
		return e, nil
	default:
		return nil, fmt.Errorf("unknown engine %q", cfg.Engine)
	}
}

// Do implements engine.
func (e *httpEngine) Do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, path, r)
	if err != nil {
		return 0, nil, fmt.Errorf("build %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range e.header {
		req.Header[k] = v
	}
	resp, err := e.client.Perform(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	return resp.StatusCode, data, nil
}

// bulkAnswer is the part of a _bulk answer the sink reads.
type bulkAnswer struct {
	Items []map[string]struct {
		Status int          `json:"status"`
		Error  *engineError `json:"error"`
	} `json:"items"`
}

// engineError is an item's error object: its type, its reason and the error that caused
// it. Elasticsearch 8 answers a refused field with document_parsing_exception, whose
// reason quotes the field's value, and puts what went wrong (an immense term, say) in
// caused_by only.
type engineError struct {
	Type     string       `json:"type"`
	Reason   string       `json:"reason"`
	CausedBy *engineError `json:"caused_by"`
}

// maxReasonBytes caps each reason kept from an item's error, and maxCauses the causes
// read. The reason can quote the refused field whole (Elasticsearch's value preview),
// which the dead letter already holds in its event.
const (
	maxReasonBytes = 1024
	maxCauses      = 4
)

// text is the reason followed by the type and reason of each cause.
func (e *engineError) text() string {
	var b strings.Builder
	b.WriteString(truncate(e.Reason, maxReasonBytes))
	c := e.CausedBy
	for n := 0; c != nil && n < maxCauses; n++ {
		fmt.Fprintf(&b, "; caused by %s: %s", c.Type, truncate(c.Reason, maxReasonBytes))
		c = c.CausedBy
	}
	return b.String()
}

// Bulk implements engine.
func (e *httpEngine) Bulk(ctx context.Context, body []byte) ([]itemResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/_bulk", bytes.NewReader(body))
	if err != nil {
		return nil, &requestError{Err: err}
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	for k, v := range e.header {
		req.Header[k] = v
	}
	resp, err := e.client.Perform(req)
	if err != nil {
		return nil, &requestError{Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, &requestError{Err: fmt.Errorf("read answer: %w", err)}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &requestError{Status: resp.StatusCode, Err: fmt.Errorf("%s", truncate(string(data), 300))}
	}
	if out, ok := allCreated(data); ok {
		return out, nil
	}
	var ans bulkAnswer
	if err := json.Unmarshal(data, &ans); err != nil {
		return nil, &requestError{Status: resp.StatusCode, Err: fmt.Errorf("decode answer: %w", err)}
	}
	out := make([]itemResult, len(ans.Items))
	for i, it := range ans.Items {
		for _, r := range it { // one key: the action
			out[i].Status = r.Status
			if r.Error != nil {
				out[i].ErrType, out[i].Reason = r.Error.Type, r.Error.text()
			}
		}
	}
	return out, nil
}

// allCreated reads the usual _bulk answer, one that says "errors": false: every item
// succeeded (a conflict or a refusal sets it true), so only the items are counted,
// each created, without decoding them; encoding/json decoding 5,000 items was half
// of the sink's CPU. ok is false for anything else (errors true, no errors member,
// not valid JSON), which Bulk decodes in full.
func allCreated(data []byte) (out []itemResult, ok bool) {
	var errs, items []byte
	if jsonx.NewScanner(jsonx.DefaultMaxDepth).Scan(data, func(keyStart, keyEnd, valueEnd int) {
		m := jsonx.Member{KeyStart: keyStart, KeyEnd: keyEnd, ValueEnd: valueEnd}
		switch key := m.Key(data); {
		case jsonx.KeyIs(key, "errors"):
			errs = m.Value(data)
		case jsonx.KeyIs(key, "items"):
			items = m.Value(data)
		}
	}) != nil || string(errs) != "false" || len(items) == 0 || items[0] != '[' {
		return nil, false
	}
	n, objects := 0, true
	jsonx.Elements(items, func(start, _ int) {
		n++
		objects = objects && items[start] == '{'
	})
	if !objects { // not a bulk answer's items: the full decoder says what is wrong
		return nil, false
	}
	out = make([]itemResult, n)
	for i := range out {
		out[i].Status = http.StatusCreated
	}
	return out, true
}

// truncate shortens s to at most n bytes, cut at a character's start, for an error
// message.
func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
