package search_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/sink"
	"github.com/sluice-siem/sluice/sink/search"
)

// benchBatch makes a batch of n firewall-like documents (about 330 bytes each) with ids
// unique to round, so that every round creates new documents.
func benchBatch(round, n int) []sink.Document {
	at := time.Now().UTC()
	out := make([]sink.Document, n)
	for i := range out {
		out[i] = sink.Document{
			Type: "firewall",
			Time: at,
			ID:   fmt.Sprintf("fw/shardId-000000000000/%d/%d", round, i),
			Body: fmt.Appendf(nil, `{"@timestamp":%q,"event":{"dataset":"firewall","action":"deny"},"source":{"ip":"10.1.%d.%d","port":%d},"destination":{"ip":"192.0.2.%d","port":443},"network":{"transport":"tcp"},"message":"deny tcp 10.1.%d.%d:%d -> 192.0.2.%d:443 rule 42"}`,
				at.Format(time.RFC3339Nano), i/250%250, i%250+1, 1024+i, i%200+1, i/250%250, i%250+1, 1024+i, i%200+1),
		}
	}
	return out
}

func benchWrite(b *testing.B, url string, batch int, mod func(*search.Config)) {
	cfg := search.DefaultConfig()
	cfg.Addresses = []string{url}
	cfg.Namespace = fmt.Sprintf("bench%d", time.Now().UnixNano())
	if mod != nil {
		mod(&cfg)
	}
	s, err := search.New(context.Background(), cfg, search.Options{DeadLetters: &deadLetters{}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	batches := make([][]sink.Document, 8)
	for i := range batches {
		batches[i] = benchBatch(i, batch)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		docs := batches[i%len(batches)]
		for j := range docs { // fresh ids, so that the engine creates every document
			docs[j].ID = "fw/shardId-000000000000/" + strconv.Itoa(i) + "/" + strconv.Itoa(j)
		}
		if err := s.Write(context.Background(), docs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "docs/s")
}

// BenchmarkWriteOpenSearch indexes batches into the OpenSearch of
// scripts/opensearch.sh, which shares the machine's cores with the benchmark.
func BenchmarkWriteOpenSearch(b *testing.B) {
	url := os.Getenv("SLUICE_TEST_OPENSEARCH_URL")
	if url == "" {
		b.Skip("SLUICE_TEST_OPENSEARCH_URL is not set (scripts/opensearch.sh start)")
	}
	for _, bulk := range []int{500, 1000, 5000} {
		b.Run(fmt.Sprintf("bulk=%d", bulk), func(b *testing.B) {
			benchWrite(b, url, 5000, func(c *search.Config) { c.BulkMaxDocs = bulk; c.BulkMaxBytes = 64 << 20 })
		})
	}
}

// BenchmarkWriteNull is the sink's own cost: a null endpoint that reads the request and
// answers every item created (a benchmark baseline, never a stand-in in tests).
func BenchmarkWriteNull(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n := bytes.Count(body, []byte("\n")) / 2
		w.Header().Set("Content-Type", "application/json")
		var out bytes.Buffer
		out.WriteString(`{"took":1,"errors":false,"items":[`)
		for i := range n {
			if i > 0 {
				out.WriteByte(',')
			}
			out.WriteString(`{"create":{"_index":"x","_id":"y","status":201}}`)
		}
		out.WriteString("]}")
		_, _ = w.Write(out.Bytes())
	}))
	defer srv.Close()
	benchWrite(b, srv.URL, 5000, func(c *search.Config) { c.Template, c.Lifecycle.Mode = false, search.LifecycleOff })
}
