package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readmeTraceRecipe is README.md's recipe for seeing a batch's trace: the commands of
// the indented block after the line that introduces it, a command's continuation lines
// (ending in \) joined to it.
func readmeTraceRecipe(t *testing.T) (commands []string) {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(data), "To see a batch's trace, run Jaeger")
	if !ok {
		t.Fatal("README.md: the trace recipe's introduction is gone (the parser is out of step with the README)")
	}
	lines := strings.Split(after, "\n")[1:]
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	var cmd string
	for _, l := range lines {
		if !strings.HasPrefix(l, "    ") {
			break
		}
		cmd += strings.TrimSpace(l)
		if strings.HasSuffix(cmd, `\`) {
			cmd = strings.TrimSuffix(cmd, `\`)
			continue
		}
		commands = append(commands, cmd)
		cmd = ""
	}
	return commands
}

// TestJaegerRecipe runs README.md's recipe for seeing a batch's trace as a user would:
// Jaeger (the program the recipe's `docker run` starts, built by scripts/jaeger.sh,
// on ports of its own instead of 4317 and 16686), `sluice dev` with the recipe's
// environment (OTEL_EXPORTER_OTLP_ENDPOINT pointed at Jaeger's OTLP port), the recipe's
// curl command run by bash, and then what the recipe's link shows, read from the JSON
// API Jaeger's trace page loads: the batch's spans, from the gateway's ingest under the
// client's span to the sink's write, under the client's trace id.
func TestJaegerRecipe(t *testing.T) {
	jaeger := os.Getenv("SLUICE_TEST_JAEGER")
	if jaeger == "" || testing.Short() {
		t.Skip("SLUICE_TEST_JAEGER is not set: eval \"$(scripts/jaeger.sh env)\" (scripts/test.sh does)")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is needed to run the README's commands")
	}
	recipe := readmeTraceRecipe(t)
	if len(recipe) != 3 || !strings.Contains(recipe[0], "jaegertracing/jaeger") ||
		!strings.Contains(recipe[1], " sluice dev") || !strings.HasPrefix(recipe[2], "curl ") {
		t.Fatalf("README.md's trace recipe is not docker run (Jaeger), sluice dev, curl: %q", recipe)
	}
	const traceID, clientSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	if !strings.Contains(recipe[2], traceID+"-"+clientSpan) {
		t.Fatalf("the recipe's curl sends no traceparent of trace %s: %s", traceID, recipe[2])
	}

	// Jaeger's all-in-one setup (memory storage, OTLP in, query API and UI) on ports
	// of its own.
	otlpAddr, queryAddr, queryGRPC := freeAddr(t), freeAddr(t), freeAddr(t)
	conf := fmt.Sprintf(`
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces: {receivers: [otlp], exporters: [jaeger_storage_exporter]}
  telemetry: {metrics: {level: none}, logs: {level: info}}
extensions:
  jaeger_query:
    storage: {traces: memstore}
    http: {endpoint: "%s"}
    grpc: {endpoint: "%s"}
  jaeger_storage:
    backends: {memstore: {memory: {max_traces: 1000}}}
receivers:
  otlp: {protocols: {grpc: {endpoint: "%s"}}}
exporters:
  jaeger_storage_exporter: {trace_storage: memstore}
`, queryAddr, queryGRPC, otlpAddr)
	confPath := filepath.Join(t.TempDir(), "jaeger.yaml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	startProgram(t, "jaeger", jaeger, "--config", confPath)
	waitListening(t, "Jaeger's OTLP receiver", otlpAddr)
	waitListening(t, "Jaeger's query service", queryAddr)

	// sluice dev with the recipe's environment, Jaeger's OTLP port in the endpoint.
	var env []string
	for _, word := range strings.Fields(recipe[1]) {
		if word == "sluice" {
			break
		}
		k, v, ok := strings.Cut(word, "=")
		if !ok {
			t.Fatalf("the recipe's sluice dev line: %q is not NAME=value", word)
		}
		if k == "OTEL_EXPORTER_OTLP_ENDPOINT" {
			v = strings.Replace(v, "127.0.0.1:4317", otlpAddr, 1)
		}
		env = append(env, k+"="+v)
	}
	// Spans leave in batches every 5 s by default: every 100 ms here, to wait less.
	dev := startDevProcess(t, append(env, "OTEL_BSP_SCHEDULE_DELAY=100")...)

	curl := strings.ReplaceAll(recipe[2], "127.0.0.1:8080", dev.httpAddr)
	answer, err := exec.Command("bash", "-c", curl).CombinedOutput()
	if err != nil || !strings.Contains(string(answer), `"accepted":1`) {
		t.Fatalf("the recipe's curl: %v\n%s", err, answer)
	}

	// The recipe's link, /trace/ID, is Jaeger's page; the page reads /api/traces/ID.
	type span struct {
		SpanID        string `json:"spanID"`
		OperationName string `json:"operationName"`
		References    []struct {
			RefType string `json:"refType"`
			SpanID  string `json:"spanID"`
		} `json:"references"`
	}
	var spans map[string]span // by operation name
	waitFor(t, 60*time.Second, "the batch's trace in Jaeger, from ingest to the sink's write", func() bool {
		resp, err := http.Get("http://" + queryAddr + "/api/traces/" + traceID)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var body struct {
			Data []struct {
				TraceID string `json:"traceID"`
				Spans   []span `json:"spans"`
			} `json:"data"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&body) != nil || len(body.Data) != 1 {
			return false
		}
		spans = map[string]span{}
		for _, s := range body.Data[0].Spans {
			spans[s.OperationName] = s
		}
		_, ingest := spans["sluice.gateway.ingest"]
		_, write := spans["sluice.sink.write"]
		return ingest && write
	})
	parent := func(name string) string {
		for _, r := range spans[name].References {
			if r.RefType == "CHILD_OF" {
				return r.SpanID
			}
		}
		return ""
	}
	ingest, batch := spans["sluice.gateway.ingest"], spans["sluice.transform.batch"]
	switch {
	case parent("sluice.gateway.ingest") != clientSpan:
		t.Errorf("ingest's parent %q, want the client's span %s: %+v", parent("sluice.gateway.ingest"), clientSpan, spans)
	case parent("sluice.stream.put") != ingest.SpanID || parent("sluice.transform.batch") != ingest.SpanID:
		t.Errorf("stream put and transform batch are not children of ingest: %+v", spans)
	case parent("sluice.transform.pipelines") != batch.SpanID || parent("sluice.sink.write") != batch.SpanID:
		t.Errorf("pipelines and sink write are not children of the batch: %+v", spans)
	}
	resp, err := http.Get("http://" + queryAddr + "/trace/" + traceID)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the recipe's link answered %s", resp.Status)
	}
}
