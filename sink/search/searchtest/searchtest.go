// Package searchtest runs tests against real search engines: the OpenSearch and the
// Elasticsearch that scripts/opensearch.sh and scripts/elasticsearch.sh install and
// start on 127.0.0.1, and scripts/test.sh exports as SLUICE_TEST_OPENSEARCH_URL and
// SLUICE_TEST_ELASTICSEARCH_URL. It finds the engines, names what a test creates so
// that tests sharing an engine never collide, and counts what an engine holds. It is
// for tests only.
package searchtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// The variables that hold the test engines' URLs.
const (
	OpenSearchEnv    = "SLUICE_TEST_OPENSEARCH_URL"
	ElasticsearchEnv = "SLUICE_TEST_ELASTICSEARCH_URL"
)

// OpenSearchURL returns the test OpenSearch's URL without a trailing slash. When
// OpenSearchEnv is unset it skips the test, except under CI=true, where it fails it:
// CI must never skip these tests silently.
func OpenSearchURL(t testing.TB) string {
	t.Helper()
	return engineURL(t, OpenSearchEnv, "OpenSearch", "scripts/opensearch.sh")
}

// ElasticsearchURL is OpenSearchURL for the test Elasticsearch (ElasticsearchEnv). It
// has no data streams and no ILM (the integ-test-zip distribution): tests use the
// daily index layout on it.
func ElasticsearchURL(t testing.TB) string {
	t.Helper()
	return engineURL(t, ElasticsearchEnv, "Elasticsearch", "scripts/elasticsearch.sh")
}

func engineURL(t testing.TB, env, engine, script string) string {
	t.Helper()
	if u := os.Getenv(env); u != "" {
		return strings.TrimRight(u, "/")
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not set and CI=true: run the tests with scripts/test.sh, which starts %s", env, engine)
	}
	t.Skipf("%s is not set: run scripts/test.sh (or `%s start` and export %s=<url>) to run this test against %s",
		env, script, env, engine)
	return ""
}

// Name returns prefix and eight random hex digits: a lowercase name, valid in index,
// data stream and namespace names, that no other test or run uses.
func Name(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Count refreshes the indices matching pattern and returns how many documents they
// hold. A 503 (a new index whose shards are not allocated yet answers "all shards
// failed") is asked again for up to countPatience; any other answer but 200 fails the
// test.
func Count(t testing.TB, url, pattern string) int {
	t.Helper()
	deadline := time.Now().Add(countPatience)
	for {
		n, status, answer := count(t, url, pattern)
		switch {
		case status == http.StatusOK:
			return n
		case status == http.StatusServiceUnavailable && time.Now().Before(deadline):
			time.Sleep(100 * time.Millisecond)
		default:
			t.Fatalf("count %s: status %d: %s", pattern, status, answer)
		}
	}
}

// countPatience bounds how long Count asks again while the engine answers 503.
const countPatience = 15 * time.Second

func count(t testing.TB, url, pattern string) (n, status int, answer []byte) {
	t.Helper()
	resp, err := http.Post(url+"/"+pattern+"/_refresh", "application/json", nil)
	if err != nil {
		t.Fatalf("refresh %s: %v", pattern, err)
	}
	resp.Body.Close()
	resp, err = http.Get(url + "/" + pattern + "/_count")
	if err != nil {
		t.Fatalf("count %s: %v", pattern, err)
	}
	defer resp.Body.Close()
	answer, err = io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("count %s: read answer: %v", pattern, err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, resp.StatusCode, answer
	}
	var c struct {
		Count *int `json:"count"`
	}
	if err := json.Unmarshal(answer, &c); err != nil || c.Count == nil {
		t.Fatalf("count %s: no count in the answer %s (%v)", pattern, answer, err)
	}
	return *c.Count, resp.StatusCode, answer
}
