package samples

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluice-siem/sluice/transform/event"
)

// idsFamilies are the event types the ids benchmark also measures on their own: the
// records a sensor writes the most of, and the longest stretches of the pipeline.
var idsFamilies = []string{"alert", "flow", "dns", "http", "tls"}

// idsBenchLines returns the lines of testdata/ids.log, all of them and by event_type
// (a line that is not JSON, such as the sample's truncated record, is only in all).
func idsBenchLines(tb testing.TB) (all []string, byType map[string][]string) {
	tb.Helper()
	in, err := os.ReadFile(filepath.Join("testdata", "ids.log"))
	if err != nil {
		tb.Fatal(err)
	}
	byType = map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(in))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		all = append(all, line)
		var rec struct {
			EventType string `json:"event_type"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.EventType != "" {
			byType[rec.EventType] = append(byType[rec.EventType], line)
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return all, byType
}

// BenchmarkIdsPipeline runs the ids sample pipeline over the lines of testdata/ids.log
// in turn (all), and over those of one event type (alert, flow, dns, http, tls);
// events/s is the per-core rate with -cpu 1.
func BenchmarkIdsPipeline(b *testing.B) {
	p := build(b).Get("ids")
	if p == nil {
		b.Fatal("no sample pipeline ids")
	}
	all, byType := idsBenchLines(b)
	run := func(b *testing.B, lines []string, mustParse bool) {
		if len(lines) == 0 {
			b.Skip("no lines")
		}
		ctx := context.Background()
		benchLoop(b, func(i int) {
			e := event.Event{Type: "ids", Received: received, Fields: map[string]any{"message": lines[i%len(lines)]}}
			if err := p.Process(ctx, &e); err != nil {
				b.Fatal(err)
			}
			if _, failed := e.Fields["error"]; failed && mustParse {
				b.Fatal(e.Fields["error"])
			}
		})
	}
	// The sample holds a truncated record on purpose: all measures its failure too.
	b.Run("all", func(b *testing.B) { run(b, all, false) })
	for _, kind := range idsFamilies {
		b.Run(kind, func(b *testing.B) { run(b, byType[kind], true) })
	}
}
