package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/internal/apidocs/apidocstest"
)

// TestDocsPageInBrowser runs `sluice dev` and a real headless Chromium: /docs renders
// sluice's OpenAPI document with every HTTP ingest endpoint under the page's strict
// Content-Security-Policy, and "Try it out" on POST /v1/push sends an event from the
// page that the file sink writes.
func TestDocsPageInBrowser(t *testing.T) {
	apidocstest.Chromium(t) // skips without a browser, before building anything
	bin := sluiceBinary(t)
	dataDir := t.TempDir()
	httpAddr := freeAddr(t)
	logFile, err := os.Create(filepath.Join(t.TempDir(), "sluice.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "dev", "--http", httpAddr, "--grpc", "", "--lumberjack", "", "--data-dir", dataDir)
	cmd.Env = append(os.Environ(), "SLUICE_SAMPLE_PIPELINES=false", "SLUICE_LOG_FORMAT=text", "SLUICE_GRPC_ADDR=", "SLUICE_LUMBERJACK_ADDR=")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // after the browser's cleanups: registered before them
		_ = cmd.Process.Kill() // by PID; nothing to do after the clean stop below
		_ = cmd.Wait()
		if t.Failed() {
			data, _ := os.ReadFile(logFile.Name())
			t.Logf("sluice log:\n%s", data)
		}
	})
	waitHealthy(t, httpAddr)
	resp, err := http.Get("http://" + httpAddr + "/docs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /docs: %d: the HTTP receiver does not serve internal/apidocs", resp.StatusCode)
	}

	page := apidocstest.Open(t, "http://"+httpAddr+"/docs")
	ops := page.Operations()
	t.Logf("%s: operations %v", page.Title(), ops)
	for _, want := range []string{"POST /v1/events", "POST /v1/push", "POST /_bulk"} {
		if !slices.Contains(ops, want) {
			t.Errorf("/docs does not show %s", want)
		}
	}

	const message = "sent-from-the-docs-page"
	status, shown := page.TryIt("POST", "/v1/push", `{"events":[{"type":"docs","message":"`+message+`"}]}`)
	if status != "200" || !strings.Contains(shown, `"accepted": 1`) {
		t.Fatalf("the page shows status %q for the request:\n%s", status, shown)
	}
	if v := page.CSPViolations(); len(v) > 0 {
		t.Errorf("the page's Content-Security-Policy refused:\n%s", strings.Join(v, "\n"))
	}

	deadline := time.Now().Add(30 * time.Second)
	for !sinkHolds(t, filepath.Join(dataDir, "docs"), message) {
		if time.Now().After(deadline) {
			t.Fatalf("the file sink under %s does not hold the event sent from the page", dataDir)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("sluice dev exited with %v after SIGTERM", err)
	}
}

// sinkHolds reports whether a file of the sink's directory of a type has an event with
// the message.
func sinkHolds(t *testing.T, dir, message string) bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), `"message":"`+message+`"`) {
			return true
		}
	}
	return false
}
