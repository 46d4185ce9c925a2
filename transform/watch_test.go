package transform_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/internal/console"
	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/transform"
	"github.com/sluice-siem/sluice/transform/pipeline"
	"github.com/sluice-siem/sluice/transform/pipeline/samples"
)

// consoleWatch is the console as cmd/sluice wires it: the tap and the failures.
type consoleWatch struct {
	*console.Tap
	failures *console.Failures
}

func (w consoleWatch) Failed(f console.Failure) { w.failures.Record(f) }

// TestWatchFailuresAndDeadLetters: the console is told each event its pipeline failed
// on, with the event as shipped and the failing processor, and each record that became
// a dead letter, with the record; events that parse are not failures.
func TestWatchFailuresAndDeadLetters(t *testing.T) {
	set := pipelines(t, `
fw:
  processors:
    - grok: {tag: head, field: message, patterns: ['^%{WORD:event.action} %{IP:source.ip}$']}
`)
	w := consoleWatch{console.NewTap(0), console.NewFailures(10)}
	s := &recordingSink{}
	tr := newTransformer(t, s, transform.Options{Pipelines: set, Watch: w})
	err := tr.Handle(context.Background(), batch(
		envelope("fw", `{"message":"deny 203.0.113.7"}`),
		envelope("fw", `{"message":"not a firewall line"}`),
		[]byte("not an envelope"),
	))
	if err != nil {
		t.Fatal(err)
	}
	v := w.failures.View("", 0)
	if v.Total != 2 || len(v.Latest) != 2 {
		t.Fatalf("failures %+v", v)
	}
	dead, parse := v.Latest[0], v.Latest[1]
	if parse.Type != "fw" || parse.Processor != "processors[0] grok head" || parse.Event != `{"message":"not a firewall line"}` ||
		!strings.Contains(parse.Error, "no grok pattern matched") || parse.DeadLetter {
		t.Errorf("parse failure %+v", parse)
	}
	if !dead.DeadLetter || dead.Event != "not an envelope" || !strings.Contains(dead.Error, "envelope") {
		t.Errorf("dead letter %+v", dead)
	}
	if len(s.calls) != 1 || len(s.calls[0]) != 3 {
		t.Errorf("the sink got %d calls: the console changes nothing of what is written", len(s.calls))
	}
}

// TestWatchTap: the documents are offered at "transformed" before the sink's write and
// at "indexed" after it succeeded, only while someone watches; a failed write shows
// nothing indexed.
func TestWatchTap(t *testing.T) {
	w := consoleWatch{console.NewTap(0), console.NewFailures(10)}
	s := &recordingSink{}
	tr := newTransformer(t, s, transform.Options{Watch: w})
	transformed, err := w.Subscribe(console.TapFilter{Point: console.PointTransformed}, 100, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer transformed.Close()
	indexed, err := w.Subscribe(console.TapFilter{Point: console.PointIndexed, Type: "fw"}, 100, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer indexed.Close()
	if err := tr.Handle(context.Background(), batch(envelope("fw", `{"message":"a"}`), envelope("ids", `{"message":"b"}`))); err != nil {
		t.Fatal(err)
	}
	if len(transformed.C) != 2 || len(indexed.C) != 1 {
		t.Fatalf("transformed %d, indexed %d: want 2 and the 1 of type fw", len(transformed.C), len(indexed.C))
	}
	if got := <-indexed.C; got.Type != "fw" || !strings.Contains(string(got.Event), `"message":"a"`) || !strings.Contains(string(got.Event), `"event":{"dataset":"fw"}`) {
		t.Errorf("indexed %+v: want the document as written", got)
	}
	<-transformed.C
	<-transformed.C
	s.err = errors.New("engine down")
	if err := tr.Handle(context.Background(), batch(envelope("fw", `{"message":"c"}`))); err == nil {
		t.Fatal("the sink's error is lost")
	}
	if len(transformed.C) != 1 || len(indexed.C) != 0 {
		t.Errorf("after a failed write: transformed %d, indexed %d; want 1 and 0", len(transformed.C), len(indexed.C))
	}
}

// BenchmarkHandleConsole is Handle of batches of 500 firewall events through the
// firewall sample pipeline, without a console, with one no one watches, and with
// taps watching both of the transformer's points: what the console costs the
// transformer per event.
//
//	go test -run '^$' -bench HandleConsole -cpu 1 -count 3 ./transform/
func BenchmarkHandleConsole(b *testing.B) {
	set, err := samples.Pipelines()
	if err != nil {
		b.Fatal(err)
	}
	pipes, err := pipeline.Build(set, pipeline.Deps{})
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	recs := make([]stream.Delivered, 500)
	for i := range recs {
		ev := fmt.Appendf(nil, `{"message":"<4>Nov 26 07:00:01 fw01 kernel: [UFW BLOCK] IN=eth0 OUT= MAC=00:00 SRC=203.0.113.%d DST=10.0.0.5 LEN=60 PROTO=TCP SPT=%d DPT=22 WINDOW=1024 SYN URGP=0"}`, i%250, 1024+i)
		recs[i] = stream.Delivered{Record: stream.Record{Data: stream.AppendEnvelope(nil, "firewall", "", at, ev)}, Stream: "s", Shard: "sh", Sequence: fmt.Sprint(i)}
	}
	for _, mode := range []string{"off", "on,unwatched", "on,watched"} {
		b.Run(mode, func(b *testing.B) {
			opts := transform.Options{Pipelines: pipes}
			if mode != "off" {
				w := consoleWatch{console.NewTap(0), console.NewFailures(0)}
				opts.Watch = w
				if mode == "on,watched" {
					for _, point := range []string{console.PointTransformed, console.PointIndexed} {
						sub, err := w.Subscribe(console.TapFilter{Point: point}, console.DefaultTapRate, 64)
						if err != nil {
							b.Fatal(err)
						}
						defer sub.Close()
						go func() {
							for range sub.C {
							}
						}()
					}
				}
			}
			tr, err := transform.New(discardSink{}, opts)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := tr.Handle(context.Background(), stream.Batch{Stream: "s", Shard: "sh", Records: recs}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/event")
		})
	}
}
