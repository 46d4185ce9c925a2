package gateway_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/internal/console"
)

// TestWatchReceived: the events the stream took are offered to the console's tap at
// "received", with their receiver and log type, while someone watches; rejected
// events and batches the stream refused are not.
func TestWatchReceived(t *testing.T) {
	tap := console.NewTap(0)
	p := &producer{}
	g, err := gateway.New(gateway.DefaultConfig(), p, gateway.Options{Watch: tap})
	if err != nil {
		t.Fatal(err)
	}
	batch := gateway.Batch{Receiver: "http", Events: []gateway.Event{
		{Type: "firewall", Doc: []byte(`{"message":"m1"}`)},
		{Type: "firewall", Doc: []byte(`not json`)},
		{Type: "ids", Doc: []byte(`{"message":"m2"}`)},
	}}
	if _, err := g.Ingest(context.Background(), batch); err != nil { // nobody watching: nothing offered
		t.Fatal(err)
	}
	sub, err := tap.Subscribe(console.TapFilter{Point: console.PointReceived}, 100, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	res, err := g.Ingest(context.Background(), batch)
	if err != nil || res.Accepted != 2 {
		t.Fatalf("Ingest %+v %v", res, err)
	}
	if len(sub.C) != 2 {
		t.Fatalf("%d samples, want the 2 accepted events", len(sub.C))
	}
	for _, want := range []struct{ typ, doc string }{{"firewall", `{"message":"m1"}`}, {"ids", `{"message":"m2"}`}} {
		s := <-sub.C
		if s.Type != want.typ || s.Source != "http" || string(s.Event) != want.doc {
			t.Errorf("sample %+v, want %s %s", s, want.typ, want.doc)
		}
	}
	p.err = errors.New("stream down")
	if _, err := g.Ingest(context.Background(), batch); err == nil {
		t.Fatal("the stream's error is lost")
	}
	if len(sub.C) != 0 {
		t.Errorf("%d samples of a batch the stream refused", len(sub.C))
	}
}

// BenchmarkIngestConsole is Ingest of batches of 500 events without a console, with
// one no one watches (the cost when the console is on and closed), and with a tap
// watching at its default rate: what the console costs the gateway per event.
//
//	go test -run '^$' -bench IngestConsole -cpu 1 -count 3 ./gateway/
func BenchmarkIngestConsole(b *testing.B) {
	events := benchBatch(500)
	for _, mode := range []string{"off", "on,unwatched", "on,watched"} {
		b.Run(mode, func(b *testing.B) {
			var opts gateway.Options
			if mode != "off" {
				tap := console.NewTap(0)
				opts.Watch = tap
				if mode == "on,watched" {
					sub, err := tap.Subscribe(console.TapFilter{Point: console.PointReceived}, console.DefaultTapRate, 64)
					if err != nil {
						b.Fatal(err)
					}
					defer sub.Close()
					go func() {
						for range sub.C { // a viewer reading as fast as it gets them
						}
					}()
				}
			}
			benchIngest(b, opts, events)
		})
	}
}
