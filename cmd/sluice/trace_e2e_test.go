package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/internal/syncbuf"
	"github.com/sluice-siem/sluice/stream/kinesis/kinesistest"
	"github.com/sluice-siem/sluice/stream/kinesis/leases/dynamodbtest"
)

// TestTraceAcrossTiers runs a sluice gateway and a sluice transform process with
// tracing on (sampling nothing on their own) against kinesalite and dynalite, an
// OpenTelemetry Collector (scripts/otelcol.sh) as the trace backend printing spans
// (its debug exporter, detailed), and sends a batch over HTTP with a sampled W3C traceparent: the gateway's
// spans and the transformer's, in two processes, form one trace under the client's
// span, the transformer's batch span a child of the gateway's ingest span. Then a
// batch without a traceparent, which the ratio (0) does not sample: with keep_slow at
// 1ns every batch counts as slow, so the gateway keeps it and exports its ingest
// span, as a trace of its own, through the same exporter.
func TestTraceAcrossTiers(t *testing.T) {
	otelcol := os.Getenv("SLUICE_TEST_OTELCOL")
	if otelcol == "" || testing.Short() {
		t.Skip("SLUICE_TEST_OTELCOL is not set: eval \"$(scripts/otelcol.sh install)\" (scripts/test.sh does)")
	}
	kEndpoint, dEndpoint := kinesistest.Endpoint(t), dynamodbtest.Endpoint(t)
	dir := t.TempDir()
	otlpAddr := freeAddr(t)
	conf := fmt.Sprintf(`
receivers:
  otlp: {protocols: {grpc: {endpoint: "%s"}}}
exporters:
  debug: {verbosity: detailed}
service:
  telemetry: {metrics: {level: none}, logs: {level: info}}
  pipelines:
    traces: {receivers: [otlp], exporters: [debug]}
`, otlpAddr)
	confPath := filepath.Join(dir, "otelcol.yaml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	col := startProgram(t, "collector", otelcol, "--config", confPath)
	waitListening(t, "the collector's OTLP port", otlpAddr)

	// Both processes inherit these: OTLP to the collector, spans exported at once,
	// nothing sampled but what a client asks for.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+otlpAddr)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
	t.Setenv("SLUICE_TRACING_ENABLED", "true")
	t.Setenv("SLUICE_TRACING_SAMPLE_RATIO", "0")
	t.Setenv("SLUICE_TRACING_KEEP_SLOW", "1ns")

	f := newFleetWith(t, kEndpoint, dEndpoint, fleetOptions{shards: 1})
	gwConfig := filepath.Join(f.root, "gateway.yaml")
	gw := fmt.Sprintf(`
http: {addr: "127.0.0.1:0"}
grpc: {addr: ""}
lumberjack: {addr: ""}
gateway:
  auth: {disabled: true}
  routing: {streams: {firewall: %[1]s}, default_stream: %[1]s}
stream:
  kind: kinesis
  kinesis: {region: %[2]s, endpoint: %[3]s, credentials: {access_key_id: %[4]s, secret_access_key: %[5]s}, linger: 5ms}
shutdown: {timeout: 10s, drain_delay: 0s}
log: {level: info, format: json}
`, f.stream, kinesistest.Region, kEndpoint, kinesistest.AccessKeyID, kinesistest.SecretAccessKey)
	if err := os.WriteFile(gwConfig, []byte(gw), 0o600); err != nil {
		t.Fatal(err)
	}
	f.run("gateway", "", "gateway", "-c", gwConfig)
	httpAddr := f.addr("gateway", "http listening", 30*time.Second)
	f.start("w1")
	f.waitOwners(30*time.Second, "w1")

	const traceID, clientSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	req, _ := http.NewRequest(http.MethodPost, "http://"+httpAddr+"/v1/events?type=firewall", strings.NewReader(`{"message":"traced 1"}`+"\n"+`{"message":"traced 2"}`))
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("traceparent", "00-"+traceID+"-"+clientSpan+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("post: %v %v", resp, err)
	}
	resp.Body.Close()
	f.waitDelivered([]string{"traced 1", "traced 2"})

	var spans []debugSpan
	waitFor(t, 30*time.Second, "the trace's spans of both tiers", func() bool {
		spans = debugSpans(col.out.String(), traceID)
		seen := map[string]bool{}
		for _, s := range spans {
			seen[s.service+" "+s.name] = true
		}
		return seen["sluice-gateway sluice.gateway.ingest"] && seen["sluice-transform sluice.sink.write"]
	})
	byName := map[string]debugSpan{}
	for _, s := range spans {
		byName[s.name] = s
	}
	ingest, put, batch := byName["sluice.gateway.ingest"], byName["sluice.stream.put"], byName["sluice.transform.batch"]
	switch {
	case ingest.parent != clientSpan:
		t.Errorf("gateway ingest span's parent %q, want the client's %s", ingest.parent, clientSpan)
	case put.parent != ingest.id:
		t.Errorf("stream put span's parent %q, want the ingest span %s", put.parent, ingest.id)
	case batch.service != "sluice-transform" || batch.parent != ingest.id:
		t.Errorf("transform batch span %+v: want the child of the gateway's ingest span %s", batch, ingest.id)
	case byName["sluice.transform.pipelines"].parent != batch.id || byName["sluice.sink.write"].parent != batch.id:
		t.Errorf("pipelines and sink write spans are not children of the batch span: %+v", spans)
	}
	t.Logf("trace %s: %d spans: %+v", traceID, len(spans), spans)

	req, _ = http.NewRequest(http.MethodPost, "http://"+httpAddr+"/v1/events?type=firewall", strings.NewReader(`{"message":"kept 1"}`))
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("post: %v %v", resp, err)
	}
	resp.Body.Close()
	f.waitDelivered([]string{"kept 1"})
	waitFor(t, 30*time.Second, "the kept batch's ingest span, in a trace of its own", func() bool {
		for _, s := range debugSpans(col.out.String(), "") {
			if s.service == "sluice-gateway" && s.name == "sluice.gateway.ingest" && s.trace != traceID && s.parent == "" {
				return true
			}
		}
		return false
	})
}

// debugSpan is a span as the Collector's debug exporter prints it.
type debugSpan struct{ service, name, trace, id, parent string }

var (
	debugService = regexp.MustCompile(`-> service\.name: Str\(([^)]*)\)`)
	debugField   = regexp.MustCompile(`^\s*(Trace ID|Parent ID|ID|Name)\s*: ?(.*)$`)
)

// debugSpans reads the spans of trace traceID ("": of every trace) from the debug
// exporter's detailed output: each ResourceSpans names its service.name, then each
// Span its Trace ID, Parent ID, ID and Name on lines of their own.
func debugSpans(out, traceID string) []debugSpan {
	var spans []debugSpan
	var service string
	var cur *debugSpan
	flush := func() {
		if cur != nil && (traceID == "" || strings.EqualFold(cur.trace, traceID)) {
			spans = append(spans, *cur)
		}
		cur = nil
	}
	for line := range strings.Lines(out) {
		if m := debugService.FindStringSubmatch(line); m != nil {
			flush()
			service = m[1]
			continue
		}
		if strings.Contains(line, "Span #") {
			flush()
			cur = &debugSpan{service: service}
			continue
		}
		m := debugField.FindStringSubmatch(strings.TrimRight(line, "\r\n"))
		if m == nil || cur == nil {
			continue
		}
		v := strings.ToLower(strings.TrimSpace(m[2]))
		switch m[1] {
		case "Trace ID":
			cur.trace = v
		case "Parent ID":
			cur.parent = v
		case "ID":
			cur.id = v
		case "Name":
			cur.name = strings.TrimSpace(m[2])
		}
	}
	flush()
	return spans
}

// syncBuffer is syncbuf.Buffer: output written by one goroutine, read by another.
type syncBuffer = syncbuf.Buffer
