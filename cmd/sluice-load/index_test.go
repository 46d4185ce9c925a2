package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluice-siem/sluice/sink/search/searchtest"
)

// indexRunCmd runs `sluice-load index` and returns its summary, exit code and stderr.
func indexRunCmd(t *testing.T, args ...string) (summary, int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"index"}, args...), &out, &errOut)
	var s summary
	if code != 2 {
		if err := json.Unmarshal(out.Bytes(), &s); err != nil {
			t.Fatalf("index %q: exit %d, summary: %v\nstderr: %s", args, code, err, errOut.String())
		}
	}
	return s, code, errOut.String()
}

// TestIndexIntoNullEndpoint drives both real clients, sluice's sink and esutil's
// BulkIndexer, into the null _bulk endpoint of `sluice-load null-bulk` (the benchmark's
// own tool under test here, not a stand-in for an engine): what each reports indexed
// is what the endpoint received.
func TestIndexIntoNullEndpoint(t *testing.T) {
	for _, client := range []string{clientSluice, clientEsutil} {
		t.Run(client, func(t *testing.T) {
			var requests, items atomic.Int64
			srv := httptest.NewServer(nullBulkHandler(64<<20, &requests, &items))
			defer srv.Close()
			s, code, stderr := indexRunCmd(t, "--client", client, "--url", srv.URL, "--null", "--duration", "300ms",
				"--bulk-bytes", "64KiB", "--workers", "2", "--label", "null", "--role", "baseline")
			if code != 0 || !s.OK {
				t.Fatalf("exit %d, problems %q, stderr %s", code, s.Problems, stderr)
			}
			if s.Events.Acked == 0 || s.Events.Acked != items.Load() || requests.Load() < 2 {
				t.Errorf("indexed %d, the endpoint got %d actions in %d requests", s.Events.Acked, items.Load(), requests.Load())
			}
			if s.Events.Sent != s.Events.Acked+s.Errors["esutil_not_sent"] {
				t.Errorf("sent %d, indexed %d, not sent %d: do not add up", s.Events.Sent, s.Events.Acked, s.Errors["esutil_not_sent"])
			}
			if s.Process == nil || s.Process.EventsPerCore <= 0 || s.Latency.Count == 0 {
				t.Errorf("process %+v, latency %+v: want per-core figures and request latencies", s.Process, s.Latency)
			}
		})
	}
}

func TestIndexRefusesBadFlagsAndDeadEndpoints(t *testing.T) {
	for _, args := range [][]string{
		{"--client", "olivere", "--url", "http://127.0.0.1:9"},
		{"--url", "http://127.0.0.1:9", "--bulk-bytes", "12"},
		{"--url", "http://127.0.0.1:9", "--workers", "0"},
		{"--url", "ftp://127.0.0.1:9"},
		{"--url", "http://192.0.2.1:9200"},
		{},
	} {
		if _, code, _ := indexRunCmd(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	// A server that refuses every _bulk request (400): the run fails and counts the
	// documents as failed.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/_bulk") {
			http.Error(w, `{"error":"no"}`, http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte("{}"))
	}))
	defer srv.Close()
	s, code, _ := indexRunCmd(t, "--client", clientEsutil, "--url", srv.URL, "--null", "--duration", "100ms", "--bulk-bytes", "4KiB")
	if code != 1 || s.OK || s.Events.Failed == 0 {
		t.Errorf("refused bulk requests: exit %d, ok %v, events %+v", code, s.OK, s.Events)
	}
}

// TestIndexIntoOpenSearch indexes with both clients into the OpenSearch of
// scripts/opensearch.sh: the engine's count equals what each reports, and the run's
// data stream and template are gone afterwards.
func TestIndexIntoOpenSearch(t *testing.T) {
	url := searchtest.OpenSearchURL(t)
	for _, client := range []string{clientSluice, clientEsutil} {
		t.Run(client, func(t *testing.T) {
			s, code, stderr := indexRunCmd(t, "--client", client, "--url", url, "--duration", "500ms", "--bulk-bytes", "256KiB")
			if code != 0 || !s.OK || s.Events.Acked == 0 {
				t.Fatalf("exit %d, events %+v, problems %q, stderr %s", code, s.Events, s.Problems, stderr)
			}
			index := s.Target[strings.LastIndex(s.Target, "/")+1:]
			st, body, err := engineCall(context.Background(), http.MethodGet, url+"/_data_stream/"+index)
			if err != nil || st != http.StatusNotFound {
				t.Errorf("data stream %s after the run: status %d %s %v, want 404", index, st, body, err)
			}
		})
	}
}

// TestRunRefusesBadSearchFlags checks the whole chain's flags of `run`: each mistake is
// reported by name and the run does not start.
func TestRunRefusesBadSearchFlags(t *testing.T) {
	for args, want := range map[string][]string{
		"--search-url needs --search-index":             {"--search-url", "http://127.0.0.1:9200"},
		"--search-url and --sink-dir exclude":           {"--search-url", "http://127.0.0.1:9200", "--search-index", "x", "--sink-dir", "d"},
		"--search-poll must be 10ms to 1m":              {"--search-poll", "1ms"},
		"--also-pid needs --pid or --subject-cmd":       {"--also-pid", "12"},
		`--search-url "ftp://x": want http://host:port`: {"--search-url", "ftp://x", "--search-index", "x"},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), append([]string{"run", "--addr", "127.0.0.1:9", "--duration", "1s"}, want...), &out, &errOut)
		if code != 2 || !strings.Contains(errOut.String(), args) {
			t.Errorf("%q: exit %d, stderr %q: want 2 and %q", want, code, errOut.String(), args)
		}
	}
}
