package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sluice-siem/sluice/config"
	sluicev1 "github.com/sluice-siem/sluice/proto/sluice/v1"
)

// sent is what a test sent, by log type: the messages of the events.
type sent map[string][]string

func (s sent) add(typ string, msgs ...string) { s[typ] = append(s[typ], msgs...) }

// send pushes events of several types through every transport of a running sluice dev:
// NDJSON over HTTP, the REST mapping, unary Push and PushStream over gRPC.
func send(t *testing.T, httpAddr, grpcAddr string) sent {
	t.Helper()
	want := sent{}

	// HTTP NDJSON: types from a field, the query and the header.
	var nd bytes.Buffer
	for i := range 50 {
		fmt.Fprintf(&nd, `{"message":"http-fw-%d","fields":{"log_type":"firewall"},"host":{"name":"fw%d"}}`+"\n", i, i%3)
		want.add("firewall", fmt.Sprintf("http-fw-%d", i))
	}
	postOK(t, "http://"+httpAddr+"/v1/events", "application/x-ndjson", nd.Bytes(), `"accepted":50`)
	postOK(t, "http://"+httpAddr+"/v1/events?type=ids", "application/json", []byte(`[{"message":"http-ids-0"},{"message":"http-ids-1"}]`), `"accepted":2`)
	want.add("ids", "http-ids-0", "http-ids-1")

	// REST mapping of Push.
	postOK(t, "http://"+httpAddr+"/v1/push", "application/json",
		[]byte(`{"events":[{"type":"waf","message":"rest-waf-0","fields":{"http":{"response":{"status_code":403}}}},{"type":"vpn","message":"rest-vpn-0"}]}`),
		`"accepted":2`)
	want.add("waf", "rest-waf-0")
	want.add("vpn", "rest-vpn-0")

	// gRPC Push and PushStream.
	conn, err := grpc.NewClient("passthrough:///"+grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := sluicev1.NewIngestServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fields, _ := structpb.NewStruct(map[string]any{"source": map[string]any{"ip": "203.0.113.9"}})
	var events []*sluicev1.Event
	for i := range 20 {
		events = append(events, &sluicev1.Event{Type: "ids", Message: fmt.Sprintf("grpc-ids-%d", i), Fields: fields, Time: timestamppb.New(time.Date(2026, 11, 25, 23, 59, 0, 0, time.UTC))})
		want.add("ids", fmt.Sprintf("grpc-ids-%d", i))
	}
	resp, err := client.Push(ctx, &sluicev1.PushRequest{Events: events})
	if err != nil || resp.GetAccepted() != 20 {
		t.Fatalf("Push = %v, %v", resp, err)
	}
	ps, err := client.PushStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for b := range 5 {
		var evs []*sluicev1.Event
		for i := range 10 {
			msg := fmt.Sprintf("stream-fw-%d-%d", b, i)
			evs = append(evs, &sluicev1.Event{Type: "firewall", Message: msg})
			want.add("firewall", msg)
		}
		if err := ps.Send(&sluicev1.PushStreamRequest{Id: fmt.Sprint("batch-", b), Events: evs}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ps.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	for {
		ack, err := ps.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ack.GetCode() != 0 || ack.GetAccepted() != 10 {
			t.Fatalf("ack %v", ack)
		}
		acked = append(acked, ack.GetId())
	}
	slices.Sort(acked)
	if strings.Join(acked, ",") != "batch-0,batch-1,batch-2,batch-3,batch-4" {
		t.Fatalf("acks for %v", acked)
	}
	return want
}

func postOK(t *testing.T, url, contentType string, body []byte, contains string) {
	t.Helper()
	resp, err := http.Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), contains) {
		t.Fatalf("POST %s: %d %s", url, resp.StatusCode, b)
	}
}

// checkSink asserts that the data dir holds exactly the events sent, per type, each a
// JSON object with @timestamp and event.dataset, in files named by UTC date.
func checkSink(t *testing.T, dir string, want sent) {
	t.Helper()
	got := sent{}
	types, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range types {
		files, _ := filepath.Glob(filepath.Join(dir, typ.Name(), "*.ndjson"))
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for line := range strings.Lines(string(data)) {
				var doc struct {
					Message   string    `json:"message"`
					Timestamp time.Time `json:"@timestamp"`
					Event     struct {
						Dataset string `json:"dataset"`
					} `json:"event"`
				}
				if err := json.Unmarshal([]byte(line), &doc); err != nil {
					t.Fatalf("%s: %v: %q", f, err, line)
				}
				if doc.Event.Dataset != typ.Name() || doc.Timestamp.IsZero() {
					t.Fatalf("%s: event.dataset %q, @timestamp %v in %s", f, doc.Event.Dataset, doc.Timestamp, line)
				}
				if wantFile := doc.Timestamp.UTC().Format("2006-01-02") + ".ndjson"; filepath.Base(f) != wantFile {
					t.Fatalf("event of %v in %s, want %s", doc.Timestamp, f, wantFile)
				}
				got.add(typ.Name(), doc.Message)
			}
		}
	}
	for typ := range want {
		slices.Sort(want[typ])
		slices.Sort(got[typ])
	}
	for typ := range got {
		if _, ok := want[typ]; !ok {
			t.Errorf("unexpected type %s in the sink: %v", typ, got[typ])
		}
	}
	for typ, msgs := range want {
		if !slices.Equal(got[typ], msgs) {
			t.Errorf("type %s: sink holds %d events, sent %d\nsink: %v\nsent: %v", typ, len(got[typ]), len(msgs), got[typ], msgs)
		}
	}
}

// devConfig is the dev configuration for tests: listeners on free loopback ports, the
// sink in a temporary directory.
func devConfig(t *testing.T) config.Config {
	t.Helper()
	cfg := config.Default(config.RoleDev)
	cfg.HTTP.Addr, cfg.GRPC.Addr, cfg.Lumberjack.Addr = "127.0.0.1:0", "127.0.0.1:0", ""
	cfg.Sink.File.Dir = t.TempDir()
	cfg.SamplePipelines = false // documents as shipped; pipeline_e2e_test.go runs the samples
	return cfg
}

// startDev runs sluice dev in this process. stop ends it gracefully (as SIGTERM does)
// and returns run's error; it is also called at the end of the test.
func startDev(t *testing.T, cfg config.Config) (a *app, stop func() error) {
	t.Helper()
	return startApp(t, cfg, config.RoleDev)
}

// startApp runs sluice in a role in this process, as startDev does.
func startApp(t *testing.T, cfg config.Config, role config.Role) (a *app, stop func() error) {
	t.Helper()
	if err := cfg.Validate(role); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newApp(ctx, cfg, role, slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				runErr = errors.New("sluice dev did not stop within 30s of its context ending")
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return a, stop
}

// TestDevEndToEndInProcess runs sluice dev in this process and sends over every
// transport; after a graceful stop, the file sink holds exactly what was sent.
func TestDevEndToEndInProcess(t *testing.T) {
	cfg := devConfig(t)
	a, stop := startDev(t, cfg)

	want := send(t, a.httpLn.Addr().String(), a.grpcLn.Addr().String())

	resp, err := http.Get("http://" + a.httpLn.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{
		`sluice_gateway_events_received_total{receiver="http",type="firewall"} 50`,
		`sluice_gateway_events_received_total{receiver="grpc",type="ids"} 20`,
		`sluice_gateway_events_received_total{receiver="rest",type="_other"} 1`,
		`sluice_gateway_ingest_duration_seconds_bucket`,
		`sluice_stream_used_bytes`,
	} {
		if !strings.Contains(string(metrics), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}

	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	checkSink(t, cfg.Sink.File.Dir, want)
}

// TestDevEndToEndSubprocess builds the binary, runs `sluice dev` as a user would,
// sends over every transport, stops it with SIGTERM and checks the data dir.
func TestDevEndToEndSubprocess(t *testing.T) {
	bin := sluiceBinary(t)
	dataDir := t.TempDir()
	cmd := exec.Command(bin, "dev", "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--data-dir", dataDir)
	cmd.Env = append(os.Environ(), "SLUICE_LOG_FORMAT=json", "SLUICE_LUMBERJACK_ADDR=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	// Read the bound addresses from the JSON log, and keep the log for failures.
	addrs := make(chan map[string]string, 1)
	var logBuf bytes.Buffer
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		found := map[string]string{}
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logBuf.Write(sc.Bytes())
			logBuf.WriteByte('\n')
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil {
				switch rec.Msg {
				case "http listening":
					found["http"] = rec.Addr
				case "grpc listening":
					found["grpc"] = rec.Addr
				case "sluice started":
					addrs <- found
				}
			}
		}
	}()
	var bound map[string]string
	select {
	case bound = <-addrs:
	case <-time.After(30 * time.Second):
		t.Fatal("sluice dev did not start within 30s")
	}

	want := send(t, bound["http"], bound["grpc"])

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-logDone
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sluice dev exited with %v after SIGTERM; log:\n%s", err, logBuf.String())
	}
	if !strings.Contains(logBuf.String(), `"msg":"stopped"`) {
		t.Fatalf("no clean stop in the log:\n%s", logBuf.String())
	}
	checkSink(t, dataDir, want)
}
