package search

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	elasticsearch "github.com/elastic/go-elasticsearch/v8"
	opensearch "github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/signer/awsv2"
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
		c, err := elasticsearch.NewClient(elasticsearch.Config{
			Addresses:    cfg.Addresses,
			Username:     cfg.Username,
			Password:     string(cfg.Password),
			APIKey:       string(cfg.APIKey),
			CACert:       ca,
			DisableRetry: true,
		})
		if err != nil {
			return nil, fmt.Errorf("create elasticsearch client: %w", err)
		}
		return &httpEngine{client: c, close: func() error { return nil }}, nil
	case EngineOpenSearch:
		oc := opensearch.Config{
			Addresses:    cfg.Addresses,
			Username:     cfg.Username,
			Password:     string(cfg.Password),
			CACert:       ca,
			DisableRetry: true,
		}
		if cfg.AWSRegion != "" {
			awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(cfg.AWSRegion))
			if err != nil {
				return nil, fmt.Errorf("load aws config for sigv4: %w", err)
			}
			oc.Signer, err = awsv2.NewSignerWithService(awsCfg, cfg.AWSService)
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
		Status int `json:"status"`
		Error  *struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		} `json:"error"`
	} `json:"items"`
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
	var ans bulkAnswer
	if err := json.Unmarshal(data, &ans); err != nil {
		return nil, &requestError{Status: resp.StatusCode, Err: fmt.Errorf("decode answer: %w", err)}
	}
	out := make([]itemResult, len(ans.Items))
	for i, it := range ans.Items {
		for _, r := range it { // one key: the action
			out[i].Status = r.Status
			if r.Error != nil {
				out[i].ErrType, out[i].Reason = r.Error.Type, r.Error.Reason
			}
		}
	}
	return out, nil
}

// truncate shortens s to at most n bytes for an error message.
func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
