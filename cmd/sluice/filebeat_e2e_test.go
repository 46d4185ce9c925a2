package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// filebeatEnv names the Filebeat binary the process tests run: scripts/filebeat.sh
// builds it from the Go module proxy and prints the export.
const filebeatEnv = "SLUICE_TEST_FILEBEAT"

// filebeatBinary returns the Filebeat of filebeatEnv, or skips (fails under CI=true,
// where scripts/test.sh sets it).
func filebeatBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(filebeatEnv); p != "" {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not set and CI=true: run the tests with scripts/test.sh, which builds Filebeat", filebeatEnv)
	}
	t.Skipf("%s is not set: run scripts/test.sh (or `eval \"$(scripts/filebeat.sh env)\"`) to run this test with a real Filebeat", filebeatEnv)
	return ""
}

// TestFilebeatElasticsearchOutputDefaults runs `sluice dev` and a real Filebeat 7.17
// (scripts/filebeat.sh) with output.elasticsearch and only its hosts set, reading a
// file: Filebeat starts (version and license checks, ILM on through /_xpack, policy,
// template, rollover alias), sends, and every line is in the file sink, each copy of a
// line with one id: Filebeat resends a bulk request whose answer it lost (a connection
// cut under load), which the file sink appends again, but the resent events keep the
// identity of their coordinates (beatsid), so a search engine holds each line once.
// A recording proxy between them checks that no answer was an error and that the
// start-up requests are those gateway/httprecv's TestFilebeat717StartsAndSends drives.
// A second run sets setup.ilm.overwrite: true, so that Filebeat writes the policy and
// template and bootstraps the rollover index (PUT /%3Cfilebeat-...-%7Bnow%2Fd%7D-000001%3E);
// a third turns ILM off, as the README used to require.
func TestFilebeatElasticsearchOutputDefaults(t *testing.T) {
	fb := filebeatBinary(t)
	out, err := exec.Command(fb, "version").Output()
	if err != nil {
		t.Fatalf("%s version: %v", fb, err)
	}
	m := regexp.MustCompile(`^filebeat version (7\.\d+\.\d+) `).FindSubmatch(out)
	if m == nil {
		t.Fatalf("%s version = %q: this test knows Filebeat 7.x's start-up", fb, out)
	}
	version := string(m[1])
	dev := startDevProcess(t, filebeatDevEnv...)
	httpAddr, dataDir := dev.httpAddr, dev.dataDir

	alias := "filebeat-" + version
	runs := []struct {
		name    string
		lines   int
		extra   string   // more of filebeat.yml
		startup []string // the requests before the first _bulk
		// loseAnswer is the _bulk request (1-based) whose answer the proxy drops, cutting
		// Filebeat's connection after sluice took the events: Filebeat sends them again.
		loseAnswer int
	}{
		{"defaults", 5000, "", []string{
			"GET /", "GET /_license?human=false", "GET /_xpack", "GET /_ilm/policy/filebeat",
			"HEAD /_index_template/" + alias, "GET /_alias/" + alias,
		}, 3},
		{"ilm-overwrite", 500, "setup.ilm.overwrite: true\n", []string{
			"GET /", "GET /_license?human=false", "GET /_xpack", "PUT /_ilm/policy/filebeat",
			"HEAD /_index_template/" + alias, "PUT /_index_template/" + alias,
			"PUT /%3C" + alias + "-%7Bnow%2Fd%7D-000001%3E",
		}, 0},
		// setup.ilm.enabled: false is not needed; it only skips calls.
		{"ilm-disabled", 500, "setup.ilm.enabled: false\n", []string{
			"GET /", "GET /_license?human=false", "HEAD /_index_template/" + alias,
		}, 0},
	}
	for _, run := range runs {
		t.Run(run.name, func(t *testing.T) {
			rec := newRequestRecorder(t, "http://"+httpAddr, run.loseAnswer)
			dir := t.TempDir()
			input := writeLines(t, dir, run.name, run.lines)
			cfg := fmt.Sprintf("filebeat.inputs:\n  - type: filestream\n    id: e2e\n    paths: [%q]\noutput.elasticsearch:\n  hosts: [%q]\n%s",
				input, rec.srv.URL, run.extra)
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("requests:\n%s", strings.Join(rec.log(), "\n"))
				}
			})
			stopFilebeat, fbLog := startFilebeat(t, fb, dir, cfg)
			waitForLines(t, dataDir, run.name, run.lines)
			stopFilebeat()

			data, _ := os.ReadFile(fbLog)
			if strings.Contains(string(data), "Connection marked as failed") {
				t.Errorf("Filebeat failed a connection:\n%s", grepLines(string(data), "Connection marked as failed"))
			}
			var startup []string
			for _, r := range rec.requests() {
				if r.status >= 300 {
					t.Errorf("%s answered %d: Filebeat takes that as absent or failed", r.request, r.status)
				}
				if strings.HasPrefix(r.request, "POST /_bulk") {
					break
				}
				if !slices.Contains(startup, r.request) {
					startup = append(startup, r.request)
				}
			}
			slices.Sort(startup)
			want := slices.Sorted(slices.Values(run.startup))
			if !slices.Equal(startup, want) {
				t.Errorf("start-up requests %q, want %q", startup, want)
			}
			// Every line, and one id for all copies of a line: Filebeat 7 gives events
			// no _id, so without the identity a resend would be a second document.
			time.Sleep(time.Second)
			if resent := checkCopies(t, runSeqs(t, dataDir, run.name)); run.loseAnswer > 0 && resent == 0 {
				t.Errorf("the answer to _bulk request %d was lost, and no line is in the sink twice: Filebeat sent nothing again?", run.loseAnswer)
			}
		})
	}

	dev.stop(t)
	// After a clean stop the sink holds what it held while running, still once each.
	for _, run := range runs {
		got := runSeqs(t, dataDir, run.name)
		if len(got) != run.lines {
			t.Errorf("%s: %d of %d lines in the sink after stopping", run.name, len(got), run.lines)
		}
		checkCopies(t, got)
	}
}

// writeLines writes n lines of a run, numbered, to dir/app.log for Filebeat to read,
// and returns the file's path.
func writeLines(t *testing.T, dir, run string, n int) string {
	t.Helper()
	input := filepath.Join(dir, "app.log")
	var lines strings.Builder
	for i := range n {
		fmt.Fprintf(&lines, "2026-12-06T17:00:00Z web-1 app: run=%s seq=%06d a line Filebeat ships\n", run, i)
	}
	if err := os.WriteFile(input, []byte(lines.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return input
}

// startFilebeat writes cfg to dir/filebeat.yml and runs Filebeat on it, its state and
// logs under dir. stop ends it with SIGTERM; it is killed at the test's end if still
// running, and when the test failed its errors, warnings and last lines are printed.
// It returns the path of its output.
func startFilebeat(t *testing.T, fb, dir, cfg string) (stop func(), logPath string) {
	t.Helper()
	cfgPath := filepath.Join(dir, "filebeat.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil { // Filebeat refuses a config others may write
		t.Fatal(err)
	}
	logPath = filepath.Join(dir, "filebeat.out")
	out, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(fb, "-e", "-c", cfgPath, "--path.home", dir, "--path.data", filepath.Join(dir, "data"), "--path.logs", filepath.Join(dir, "logs"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	running := true
	stop = func() {
		if running {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
			running = false
		}
	}
	t.Cleanup(func() {
		if running {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		out.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("filebeat's errors and warnings:\n%s", grepLines(string(b), "ERROR", "WARN"))
			t.Logf("filebeat log (end):\n%s", tail(logPath))
		}
	})
	return stop, logPath
}

// waitForLines waits up to two minutes until the file sink under dataDir holds every
// one of the n lines of a run.
func waitForLines(t *testing.T, dataDir, run string, n int) {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for got := len(runSeqs(t, dataDir, run)); got < n; got = len(runSeqs(t, dataDir, run)) {
		if time.Now().After(deadline) {
			t.Fatalf("after 120 s the sink holds %d of %d lines of run %s", got, n, run)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// filebeatDevEnv is the environment of the Filebeat tests' `sluice dev`: no sample
// pipelines (the documents as shipped), the file sink writing each document's id.
var filebeatDevEnv = []string{"SLUICE_SAMPLE_PIPELINES=false", "SLUICE_SINK_FILE_ID_FIELD=" + sinkIDField}

// sinkIDField is where the file sink writes each document's id in these tests.
const sinkIDField = "_sluice_id"

// checkCopies fails t for a line whose copies in the sink (ids, by sequence number)
// have more than one id, and returns how many lines Filebeat sent more than once.
func checkCopies(t *testing.T, ids map[int][]string) (resent int) {
	t.Helper()
	for seq, got := range ids {
		if len(got) > 1 {
			resent++
		}
		for _, id := range got {
			if id == "" || id != got[0] {
				t.Errorf("line %d is in the sink %d times with ids %q: want one id, the document a search engine keeps", seq, len(got), got)
				break
			}
		}
	}
	if resent > 0 {
		t.Logf("%d lines were sent more than once (each copy with its line's one id)", resent)
	}
	return resent
}

// runSeqs returns, per sequence number, the ids (sinkIDField) of the lines of a run
// in the file sink (every log type's directory under dataDir), one per copy.
func runSeqs(t *testing.T, dataDir, run string) map[int][]string {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(dataDir, "*"))
	marker := "run=" + run + " seq="
	out := map[int][]string{}
	idPrefix := `{"` + sinkIDField + `":"`
	for _, d := range dirs {
		if filepath.Base(d)[0] == '_' { // the embedded stream's own
			continue
		}
		for line := range strings.Lines(readFiles(t, d)) {
			i := strings.Index(line, marker)
			if i < 0 || len(line) < i+len(marker)+6 {
				continue
			}
			seq, err := strconv.Atoi(line[i+len(marker) : i+len(marker)+6])
			if err != nil {
				continue
			}
			id, _, _ := strings.Cut(strings.TrimPrefix(line, idPrefix), `"`)
			if !strings.HasPrefix(line, idPrefix) {
				id = "" // written without an id: checkCopies says so
			}
			out[seq] = append(out[seq], id)
		}
	}
	return out
}

// requestRecorder is a reverse proxy in front of sluice that notes each request, with the
// path as sent, and its answer's status; it can lose the answer to one _bulk request.
type requestRecorder struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []recordedRequest
}

type recordedRequest struct {
	request string // METHOD /escaped/path?query
	status  int
}

// newRequestRecorder starts a requestRecorder in front of target that drops the answer
// to its loseAnswer-th POST /_bulk (1-based; 0: none): sluice takes the request, and the
// client's connection is closed instead of answered.
func newRequestRecorder(t *testing.T, target string, loseAnswer int) *requestRecorder {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	rec := &requestRecorder{}
	var bulks atomic.Int64
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		request := r.Method + " " + r.URL.RequestURI()
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/_bulk") && bulks.Add(1) == int64(loseAnswer) {
			lost := httptest.NewRecorder()
			proxy.ServeHTTP(lost, r)
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				_ = conn.Close()
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			rec.got = append(rec.got, recordedRequest{request: request + " (answer lost)", status: lost.Code})
			return
		}
		sw := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		proxy.ServeHTTP(sw, r)
		rec.mu.Lock()
		defer rec.mu.Unlock()
		rec.got = append(rec.got, recordedRequest{request: request, status: sw.status})
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (rec *requestRecorder) requests() []recordedRequest {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.got)
}

func (rec *requestRecorder) log() []string {
	var out []string
	for _, r := range rec.requests() {
		out = append(out, fmt.Sprintf("%s -> %d", r.request, r.status))
	}
	return out
}

// statusRecorder notes the status written through it.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// grepLines returns the lines of s that contain any of subs.
func grepLines(s string, subs ...string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		for _, sub := range subs {
			if strings.Contains(line, sub) {
				b.WriteString(line)
				break
			}
		}
	}
	return b.String()
}
