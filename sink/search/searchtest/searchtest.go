// Package searchtest runs tests against a real search engine: the OpenSearch that
// scripts/opensearch.sh installs and starts on 127.0.0.1 and scripts/test.sh exports as
// SLUICE_TEST_OPENSEARCH_URL. It finds the engine, names what a test creates so that
// tests sharing the engine never collide, and counts what the engine holds. It is for
// tests only.
package searchtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
)

// OpenSearchEnv names the variable that holds the test engine's URL.
const OpenSearchEnv = "SLUICE_TEST_OPENSEARCH_URL"

// OpenSearchURL returns the test engine's URL without a trailing slash. When
// OpenSearchEnv is unset it skips the test, except under CI=true, where it fails it:
// CI must never skip these tests silently.
func OpenSearchURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(OpenSearchEnv); u != "" {
		return strings.TrimRight(u, "/")
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not set and CI=true: run the tests with scripts/test.sh, which starts OpenSearch", OpenSearchEnv)
	}
	t.Skipf("%s is not set: run scripts/test.sh (or `scripts/opensearch.sh start` and export %s=<url>) to run this test against OpenSearch",
		OpenSearchEnv, OpenSearchEnv)
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
// hold, failing the test if the engine does not answer.
func Count(t testing.TB, url, pattern string) int {
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
	var c struct {
		Count int `json:"count"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatalf("count %s: decode answer (status %d): %v", pattern, resp.StatusCode, err)
	}
	return c.Count
}
