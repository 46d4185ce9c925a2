package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	lj "github.com/elastic/go-lumber/client/v2"

	"github.com/sluice-siem/sluice/config"
)

// beatsEvent is a Filebeat-shaped event as Filebeat's logstash output sends it. Its log
// type comes from fields.log_type, event.dataset or, for neither, input.type.
func beatsEvent(id string, i int) []byte {
	typed := []string{`"fields":{"log_type":"firewall"},`, `"event":{"dataset":"ids","kind":"alert"},`, ``}[i%3]
	return fmt.Appendf(nil, `{"@timestamp":"2026-11-26T07:%02d:%02d.%03dZ","@metadata":{"beat":"filebeat","type":"_doc","version":"8.15.0"},`+
		`"message":"<134>1 fw01 filterlog - - deny tcp 203.0.113.%d:%d -> 198.51.100.7:443 \"quoted\" \\\\share é",`+
		`"host":{"name":"fw%02d"},"log":{"file":{"path":"/var/log/filter.log"},"offset":%d},%s"input":{"type":"filestream"},`+
		`"id":%q,"n":%d,"ratio":0.25,"ok":true,"tags":["beats",null]}`,
		i/60%60, i%60, i%1000, i%250, 1024+i, i%7, i*97, typed, id, i)
}

// TestLumberjackEndToEnd runs sluice dev in this process and sends windows with
// go-lumber's client, synchronous and asynchronous (two windows in flight), at
// compression levels 0, 3 and 9: windows of 1 and 2048 events (Filebeat's default) at
// every level, and of 10,000 events at level 3, in both modes. Every window is ACKed in
// full, and after a graceful stop the file sink holds every event once, with its
// original fields equal (without @metadata; the transform only adds event.dataset where
// it is missing).
func TestLumberjackEndToEnd(t *testing.T) {
	cfg := config.Default(config.RoleDev)
	cfg.HTTP.Addr, cfg.GRPC.Addr, cfg.Lumberjack.Addr = "127.0.0.1:0", "", "127.0.0.1:0"
	cfg.Sink.File.Dir = t.TempDir()
	cfg.SamplePipelines = false // documents as shipped
	if err := cfg.Validate(config.RoleDev); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs bytes.Buffer
	a, err := newApp(ctx, cfg, config.RoleDev, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.run(ctx) }()
	addr := a.ljSrv.Addr().String()

	var (
		mu   sync.Mutex
		sent = map[string][]byte{} // id -> event as sent
		wg   sync.WaitGroup
	)
	for _, mode := range []string{"sync", "async"} {
		for _, level := range []int{0, 3, 9} {
			windows := []int{1, 2048}
			if level == 3 {
				windows = append(windows, 10000)
			}
			var batches [][]any
			for _, n := range windows {
				batch := make([]any, n)
				for i := range batch {
					id := fmt.Sprintf("%s-%d-%d-%d", mode, level, n, i)
					ev := beatsEvent(id, i)
					batch[i] = json.RawMessage(ev)
					mu.Lock()
					sent[id] = ev
					mu.Unlock()
				}
				batches = append(batches, batch)
			}
			wg.Go(func() {
				if err := sendWindows(addr, mode, level, batches); err != nil {
					t.Errorf("%s level %d: %v", mode, level, err)
				}
			})
		}
	}
	wg.Wait()

	resp, err := http.Get("http://" + a.httpLn.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{
		`sluice_lumberjack_windows_total 14`,
		fmt.Sprintf(`sluice_lumberjack_events_total{result="accepted"} %d`, len(sent)),
		`sluice_gateway_events_received_total{receiver="lumberjack",type="firewall"}`,
		`sluice_lumberjack_ack_latency_seconds_bucket`,
		`sluice_lumberjack_connections_opened_total{result="served"} 6`,
	} {
		if !strings.Contains(string(metrics), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("sluice dev did not stop within 30s of its context ending")
	}
	if !strings.Contains(logs.String(), "lumberjack listening") {
		t.Error(`no "lumberjack listening" log line`)
	}
	checkLumberjackSink(t, cfg.Sink.File.Dir, sent)
}

// sendWindows sends each window with a go-lumber client and checks that it is ACKed in
// full.
func sendWindows(addr, mode string, level int, windows [][]any) error {
	opts := []lj.Option{lj.CompressionLevel(level), lj.Timeout(30 * time.Second)}
	if mode == "sync" {
		c, err := lj.SyncDial(addr, opts...)
		if err != nil {
			return err
		}
		defer c.Close()
		for _, w := range windows {
			if n, err := c.Send(w); err != nil || n != len(w) {
				return fmt.Errorf("window of %d events: ACKed %d: %v", len(w), n, err)
			}
		}
		return nil
	}
	c, err := lj.AsyncDial(addr, 2, opts...)
	if err != nil {
		return err
	}
	acks := make(chan error, len(windows))
	for _, w := range windows {
		n := uint32(len(w))
		err := c.Send(func(seq uint32, err error) {
			if err == nil && seq != n {
				err = fmt.Errorf("window of %d events: ACKed %d", n, seq)
			}
			acks <- err
		}, w)
		if err != nil {
			return err
		}
	}
	var errs []error
	for range windows {
		if err := <-acks; err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.Close(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%v", errs)
	}
	return nil
}

// checkLumberjackSink asserts that the data dir holds each sent event once, filed under
// its log type, with the fields it was sent with (@metadata dropped) and event.dataset.
func checkLumberjackSink(t *testing.T, dir string, sent map[string][]byte) {
	t.Helper()
	seen := map[string]bool{}
	files, err := filepath.Glob(filepath.Join(dir, "*", "*.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		typ := filepath.Base(filepath.Dir(f))
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for line := range bytes.Lines(data) {
			doc := decodeDoc(t, line)
			id, _ := doc["id"].(string)
			orig, ok := sent[id]
			if !ok {
				t.Fatalf("%s: event %q was not sent: %s", f, id, line)
			}
			if seen[id] {
				t.Fatalf("%s: event %q twice", f, id)
			}
			seen[id] = true
			want := decodeDoc(t, orig)
			delete(want, "@metadata")
			ev, _ := doc["event"].(map[string]any)
			if ev["dataset"] != typ {
				t.Fatalf("%s: event.dataset %v in %s", f, ev["dataset"], line)
			}
			if _, had := want["event"]; !had {
				if len(ev) != 1 {
					t.Fatalf("%s: event has %v, want only the dataset", f, ev)
				}
				delete(doc, "event")
			}
			if !reflect.DeepEqual(doc, want) {
				t.Fatalf("%s: event %s\n got  %v\n want %v", f, id, doc, want)
			}
		}
	}
	if len(seen) != len(sent) {
		t.Fatalf("sink holds %d of the %d events sent", len(seen), len(sent))
	}
}

func decodeDoc(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return m
}
