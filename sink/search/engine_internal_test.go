package search

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

// An item's error keeps its causes (Elasticsearch names what went wrong only there) and
// each reason is cut to maxReasonBytes at a character's start, whatever the engine
// quotes.
func TestEngineErrorText(t *testing.T) {
	long := strings.Repeat("é", 2*maxReasonBytes) // two bytes a character
	e := &engineError{Type: "document_parsing_exception", Reason: "failed to parse [a]: '" + long + "'",
		CausedBy: &engineError{Type: "illegal_argument_exception", Reason: "Document contains at least one immense term",
			CausedBy: &engineError{Type: "max_bytes_length_exceeded_exception", Reason: "bytes can be at most 32766"}}}
	got := e.text()
	if !utf8.ValidString(got) {
		t.Errorf("text is not valid UTF-8: %q", got)
	}
	first, rest, ok := strings.Cut(got, "; caused by ")
	if !ok || len(first) > maxReasonBytes+len("...") || !strings.HasSuffix(first, "...") {
		t.Errorf("first reason of %d bytes (%q...), want it cut to %d bytes and marked", len(first), first[:40], maxReasonBytes)
	}
	want := "illegal_argument_exception: Document contains at least one immense term; caused by max_bytes_length_exceeded_exception: bytes can be at most 32766"
	if rest != want {
		t.Errorf("causes %q, want %q", rest, want)
	}
	deep := &engineError{Reason: "top"}
	for c, n := deep, 0; n < 10; n++ {
		c.CausedBy = &engineError{Type: "t", Reason: "r"}
		c = c.CausedBy
	}
	if n := strings.Count(deep.text(), "; caused by "); n != maxCauses {
		t.Errorf("%d causes kept of 10, want %d", n, maxCauses)
	}
}

// With an AWS region the OpenSearch engine signs each request with SigV4 for the
// configured service, with the credentials of the AWS default chain.
func TestOpenSearchSigV4(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDSIGV4TEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "very-secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- r.Header.Get("Authorization"):
		default:
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"errors":false,"items":[]}`))
	}))
	defer srv.Close()
	cfg := DefaultConfig()
	cfg.Engine = EngineOpenSearch
	cfg.Addresses = []string{srv.URL}
	cfg.AWSRegion = "eu-west-1"
	e, err := newEngine(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = e.close() }()
	if _, _, err := e.Do(context.Background(), http.MethodPost, "/_bulk", []byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	auth := <-got
	for _, want := range []string{"AWS4-HMAC-SHA256", "Credential=AKIDSIGV4TEST/", "/eu-west-1/es/aws4_request"} {
		if !strings.Contains(auth, want) {
			t.Errorf("Authorization %q lacks %q", auth, want)
		}
	}
}

// TestAllCreated: the answer of a bulk request whose items all succeeded ("errors":
// false) is counted without decoding its items, each created; any other answer is
// left to the full decoder.
func TestAllCreated(t *testing.T) {
	for _, c := range []struct {
		answer string
		n      int
		ok     bool
	}{
		{`{"took":3,"errors":false,"items":[{"create":{"_id":"a","status":201}},{"create":{"status":201}}]}`, 2, true},
		{" {\n \"errors\" : false , \"items\" : [ ] } ", 0, true},
		{`{"items":[{"create":{"status":201}}],"errors":false}`, 1, true},
		{`{"took":3,"errors":true,"items":[{"create":{"status":409}}]}`, 0, false},
		{`{"took":3,"items":[{"create":{"status":201}}]}`, 0, false},
		{`{"errors":false}`, 0, false},
		{`{"errors":false,"items":{}}`, 0, false},
		{`{"errors":false,"items":[{"create":{}}]`, 0, false},
		{`{"errors":"false","items":[]}`, 0, false},
		{`{"errors":false,"items":[{"create":{}},1]}`, 0, false},
	} {
		out, ok := allCreated([]byte(c.answer))
		if ok != c.ok || len(out) != c.n {
			t.Errorf("allCreated(%s) = %d items, %v; want %d, %v", c.answer, len(out), ok, c.n, c.ok)
		}
		for i, r := range out {
			if r.Status != http.StatusCreated || r.ErrType != "" {
				t.Errorf("%s: item %d = %+v, want created", c.answer, i, r)
			}
		}
	}
}

// FuzzAllCreated: whatever the engine answers, the fast path never panics, and when it
// takes an answer, the full decoder reads it too, with as many items, none failed.
func FuzzAllCreated(f *testing.F) {
	for _, s := range []string{
		`{"took":3,"errors":false,"items":[{"create":{"_id":"a","status":201}},{"create":{"status":201}}]}`,
		`{"errors":false,"items":[]}`, `{"errors":true,"items":[{"create":{"status":400,"error":{"type":"x"}}}]}`,
		`{"errors":false,"items":[1,"]",[{}]]}`, `{"errors":false,"items":[`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, ok := allCreated(data)
		if !ok {
			return
		}
		var ans bulkAnswer
		var top struct {
			Errors bool `json:"errors"`
		}
		if err := json.Unmarshal(data, &ans); err != nil || json.Unmarshal(data, &top) != nil || top.Errors || len(ans.Items) != len(out) {
			t.Fatalf("%q: fast path %d items; the full decoder %d, errors %v, %v", data, len(out), len(ans.Items), top.Errors, err)
		}
	})
}
