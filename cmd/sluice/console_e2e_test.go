package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/internal/browsertest"
)

// devProcess is a `sluice dev` binary running for a test, on the HTTP port only (and
// lumberjack's when asked).
type devProcess struct {
	cmd      *exec.Cmd
	httpAddr string
	dataDir  string
}

// startDevProcess runs `sluice dev` with the HTTP port only, env added to the
// environment, and waits until it is ready; it is killed at the end of the test (its
// log printed if the test failed). An env entry SLUICE_LUMBERJACK_ADDR=host:port opens
// the lumberjack listener there.
func startDevProcess(t *testing.T, env ...string) *devProcess {
	t.Helper()
	bin := sluiceBinary(t)
	p := &devProcess{dataDir: t.TempDir(), httpAddr: freeAddr(t)}
	logFile, err := os.Create(filepath.Join(t.TempDir(), "sluice.log"))
	if err != nil {
		t.Fatal(err)
	}
	lumberjack := ""
	for _, kv := range env {
		if addr, ok := strings.CutPrefix(kv, "SLUICE_LUMBERJACK_ADDR="); ok {
			lumberjack = addr
		}
	}
	p.cmd = exec.Command(bin, "dev", "--http", p.httpAddr, "--grpc", "", "--lumberjack", lumberjack, "--data-dir", p.dataDir)
	p.cmd.Env = append(append(os.Environ(), "SLUICE_LOG_FORMAT=text", "SLUICE_GRPC_ADDR=", "SLUICE_LUMBERJACK_ADDR="), env...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // registered before a browser's cleanups: runs after them
		_ = p.cmd.Process.Kill() // by PID; nothing to do after a clean stop
		_ = p.cmd.Wait()
		logFile.Close()
		if t.Failed() {
			data, _ := os.ReadFile(logFile.Name())
			t.Logf("sluice log:\n%s", data)
		}
	})
	waitHealthy(t, p.httpAddr)
	return p
}

// send posts NDJSON events of a log type to /v1/events and fails unless all are
// accepted.
func (p *devProcess) send(t *testing.T, typ string, header http.Header, events ...string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+p.httpAddr+"/v1/events", strings.NewReader(strings.Join(events, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("X-Sluice-Type", typ)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res struct{ Accepted int }
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != http.StatusOK || res.Accepted != len(events) {
		t.Fatalf("POST /v1/events: %d, accepted %d of %d (%v)", resp.StatusCode, res.Accepted, len(events), err)
	}
}

// stop stops the process with SIGTERM and fails unless it exits cleanly.
func (p *devProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("sluice dev exited with %v after SIGTERM", err)
	}
}

// message wraps a line as an event.
func message(line string) string {
	b, _ := json.Marshal(map[string]string{"message": line})
	return string(b)
}

// iptablesLine is a firewall line the firewall sample parses.
const iptablesLine = "<4>Nov 26 07:00:01 fw01 kernel: [UFW BLOCK] IN=eth0 OUT= MAC=00:00 SRC=203.0.113.7 DST=10.0.0.5 LEN=60 PROTO=TCP SPT=51234 DPT=22 WINDOW=1024 SYN URGP=0"

// TestConsoleInBrowser runs `sluice dev`, sends events of two types, some the
// firewall pipeline cannot parse, and drives the console at /ui in a real headless
// Chromium, as an operator would: Flow shows the counts per type, Failures the bad
// lines with their errors, Tap the events sent while it runs, and the Playground turns
// a pasted iptables line into its document. Each view is saved as a screenshot
// ($SLUICE_TEST_SCREENSHOT_DIR: console-flow.png, ...), and the page runs under its
// strict Content-Security-Policy without a violation.
func TestConsoleInBrowser(t *testing.T) {
	browsertest.Chromium(t) // skips without a browser, before building anything
	p := startDevProcess(t, "SLUICE_UI_SAMPLE_INTERVAL=500ms")
	good := []string{message(iptablesLine), message(strings.Replace(iptablesLine, "DPT=22", "DPT=23", 1)), message(strings.Replace(iptablesLine, "SRC=203.0.113.7", "SRC=198.51.100.9", 1))}
	bad := []string{message("not a firewall line at all"), message("neither is this one")}
	p.send(t, "firewall", nil, append(good, bad...)...)
	p.send(t, "waf", nil, `{"message":"{\"action\":\"BLOCK\"}"}`, `{"message":"{\"action\":\"ALLOW\"}"}`)

	tab := browsertest.Open(t, "http://"+p.httpAddr+"/ui", 1280, 900)
	tab.WaitFor("the console to load", 30*time.Second, `document.body.dataset.ready === "true"`)

	// Flow: the counts per type, in and out.
	row := func(typ string) string {
		return `(() => { const r = document.querySelector('#flow-types tr[data-type="` + typ + `"]');
  return r ? [r.querySelector(".in").textContent, r.querySelector(".out").textContent, r.querySelector(".failed").textContent].join("/") : ""; })()`
	}
	tab.WaitFor("Flow to show 5 firewall events in and out, 2 failed, and 2 waf", 30*time.Second,
		row("firewall")+` === "5/5/2" && `+row("waf")+`.startsWith("2/2/")`)
	// A trickle of another type for a few seconds: its rate shows in the chart.
	for i := range 15 {
		eve := fmt.Sprintf(`{"timestamp":"2026-11-26T07:00:%02d.345678+0000","event_type":"alert","src_ip":"203.0.113.%d","src_port":51234,"dest_ip":"10.1.2.3","dest_port":22,"proto":"TCP","alert":{"action":"allowed","signature_id":2001219,"signature":"ET SCAN Potential SSH Scan","severity":2}}`, i, i+1)
		p.send(t, "ids", nil, message(eve), message(eve))
		time.Sleep(200 * time.Millisecond)
	}
	tab.WaitFor("the chart of events in to draw the rate of ids", 30*time.Second,
		`(() => { const l = document.querySelector('#chart-in polyline[data-series="ids"]');
  return l !== null && l.getAttribute("points").split(" ").some((p) => parseFloat(p.split(",")[1]) < 140); })()`)
	tab.WaitFor("Flow to show the 37 events in by http", 30*time.Second,
		`(document.querySelector('#flow-receivers tr[data-receiver="http"] td:nth-child(2)') || {}).textContent === "37"`)
	tab.Screenshot("console-flow.png")

	// Failures: the bad lines, their error and the class.
	tab.Do("open Failures", 10*time.Second, chromedp.Click(chromedp.CSS(`nav a[data-view="failures"]`)))
	tab.WaitFor("Failures to list the bad lines", 30*time.Second,
		`[...document.querySelectorAll("#failure-list li")].filter((li) => li.textContent.includes("not a firewall line at all") && li.textContent.includes("no grok pattern matched")).length === 1`)
	classes := browsertest.Eval[string](tab, `document.querySelector("#failure-classes tbody").innerText`)
	if !strings.Contains(classes, "firewall: processors[0] grok") || !strings.Contains(classes, "2") {
		t.Errorf("Failures' classes:\n%s", classes)
	}
	tab.Screenshot("console-failures.png")

	// A failure opens in the playground: its pipeline chosen, its message pasted.
	tab.Do("try a failure in the playground", 10*time.Second, chromedp.Click(chromedp.CSS(`#failure-list li[data-type="firewall"] button.try`)))
	tab.WaitFor("the playground with the failed line", 30*time.Second,
		`location.hash === "#playground" && document.querySelector("#pg-pipeline").value === "firewall" && ["neither is this one", "not a firewall line at all"].includes(document.querySelector("#pg-lines").value)`)
	tab.Do("run the failed line", 30*time.Second,
		chromedp.Click(chromedp.CSS(`#pg-run`)),
		chromedp.WaitVisible(chromedp.CSS(`#pg-results .result.failed`)),
	)
	if failure := browsertest.Eval[string](tab, `document.querySelector("#pg-results .result .err").textContent`); !strings.Contains(failure, "no grok pattern matched") {
		t.Errorf("the failed line in the playground: %q", failure)
	}
	browsertest.Eval[bool](tab, `(document.querySelector("#pg-lines").value = "", document.querySelector("#pg-results").textContent = "", true)`)

	// Tap: events sent while it runs show up.
	tab.Do("start the tap", 10*time.Second,
		chromedp.Click(chromedp.CSS(`nav a[data-view="tap"]`)),
		chromedp.Click(chromedp.CSS(`#tap-toggle`)),
	)
	tab.WaitFor("the tap to start", 10*time.Second, `document.querySelector("#tap-toggle").textContent === "Stop"`)
	tapped := strings.Replace(iptablesLine, "fw01", "fw-tapped", 1)
	deadline := time.Now().Add(30 * time.Second)
	for !browsertest.Eval[bool](tab, `document.querySelector("#tap-list").textContent.includes("fw-tapped")`) {
		if time.Now().After(deadline) {
			t.Fatal("the Tap shows none of the events sent while it runs")
		}
		p.send(t, "firewall", nil, message(tapped)) // the tap subscribes on its own time
		time.Sleep(200 * time.Millisecond)
	}
	tab.Screenshot("console-tap.png")
	tab.Do("stop the tap", 10*time.Second, chromedp.Click(chromedp.CSS(`#tap-toggle`)))

	// Playground: a pasted iptables line through the firewall pipeline.
	tab.Do("open the Playground", 10*time.Second, chromedp.Click(chromedp.CSS(`nav a[data-view="playground"]`)))
	tab.WaitFor("the firewall pipeline to choose", 30*time.Second, `document.querySelector('#pg-pipeline option[value="firewall"]') !== null`)
	tab.Do("choose the firewall pipeline and run a line", 30*time.Second,
		chromedp.SetValue(chromedp.CSS(`#pg-pipeline`), "firewall"),
		chromedp.SendKeys(chromedp.CSS(`#pg-lines`), iptablesLine),
		chromedp.Click(chromedp.CSS(`#pg-run`)),
		chromedp.WaitVisible(chromedp.CSS(`#pg-results .result pre.document`)),
	)
	var doc struct {
		Source      struct{ IP string }
		Destination struct {
			IP   string
			Port int
		}
		Event struct{ Action, Original string }
		Error any
	}
	text := browsertest.Eval[string](tab, `document.querySelector("#pg-results .result pre.document").textContent`)
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("the playground's document is not JSON: %v\n%s", err, text)
	}
	if doc.Source.IP != "203.0.113.7" || doc.Destination.IP != "10.0.0.5" || doc.Destination.Port != 22 || doc.Event.Original != iptablesLine || doc.Error != nil {
		t.Errorf("the playground's document:\n%s", text)
	}
	if steps := browsertest.Eval[int](tab, `document.querySelectorAll("#pg-results .steps tbody tr").length`); steps < 5 {
		t.Errorf("the playground explains %d processor rows", steps)
	}
	if tc := browsertest.Eval[string](tab, `document.querySelector("#pg-testcase").textContent`); !strings.Contains(tc, "pipeline: firewall") || !strings.Contains(tc, "203.0.113.7") {
		t.Errorf("the test case offered:\n%s", tc)
	}
	tab.Screenshot("console-playground.png")

	if v := tab.CSPViolations(); len(v) > 0 {
		t.Errorf("the console's Content-Security-Policy refused:\n%s", strings.Join(v, "\n"))
	}
	p.stop(t)
}

// TestTopAndTap runs `sluice top` and `sluice tap` against a running `sluice dev`
// whose console asks for its own key: without it they say so; with it top shows the
// counts per type and receiver, and tap streams the events sent while it runs.
func TestTopAndTap(t *testing.T) {
	const key = "console-key-for-the-test"
	p := startDevProcess(t, "SLUICE_UI_SAMPLE_INTERVAL=200ms", "SLUICE_UI_ADMIN_KEY_SHA256="+gateway.HashKey(key))
	p.send(t, "firewall", nil, message(iptablesLine), message("unparseable"))
	p.send(t, "waf", nil, `{"message":"{}"}`)
	url := "http://" + p.httpAddr
	noKey := func(string) (string, bool) { return "", false }
	withKey := func(name string) (string, bool) {
		if name == "SLUICE_UI_KEY" {
			return key, true
		}
		return "", false
	}

	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"top", "--url", url, "--once"}, nil, &stdout, &stderr, noKey); code != 1 || !strings.Contains(stderr.String(), "SLUICE_UI_KEY") {
		t.Errorf("top without the key: exit %d\n%s", code, stderr.String())
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		stdout.Reset()
		stderr.Reset()
		if code := run(context.Background(), []string{"top", "--url", url, "--once"}, nil, &stdout, &stderr, withKey); code != 0 {
			t.Fatalf("top: exit %d\n%s", code, stderr.String())
		}
		if topShows(stdout.String(), "firewall", "2", "2", "1") && topShows(stdout.String(), "waf", "1", "1") && topShows(stdout.String(), "http", "3") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("top does not show the counts sent:\n%s", stdout.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("sluice top:\n%s", stdout.String())

	var out syncBuffer
	var code int
	var wg sync.WaitGroup
	wg.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	go func() {
		defer wg.Done()
		var errOut bytes.Buffer
		code = run(ctx, []string{"tap", "--url", url, "--point", "indexed", "--type", "firewall", "-n", "2"}, nil, &out, &errOut, withKey)
		if code != 0 {
			t.Errorf("tap: exit %d\n%s", code, errOut.String())
		}
	}()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for i := 0; ; i++ {
		select {
		case <-done:
		case <-time.After(200 * time.Millisecond):
			p.send(t, "firewall", nil, message(strings.Replace(iptablesLine, "fw01", fmt.Sprintf("tapped-%d", i), 1)))
			p.send(t, "waf", nil, `{"message":"{}"}`)
			continue
		}
		break
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("tap -n 2 wrote %d lines:\n%s", len(lines), out.String())
	}
	for _, l := range lines {
		var s struct {
			Point, Type string
			Event       map[string]any
		}
		if err := json.Unmarshal([]byte(l), &s); err != nil || s.Point != "indexed" || s.Type != "firewall" || s.Event["source"] == nil {
			t.Errorf("tap line %s (%v): want an indexed firewall document", l, err)
		}
	}
	p.stop(t)
}

// topShows reports whether a line of top's output starts with name (after spaces)
// and holds the values in order.
func topShows(out, name string, values ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != name {
			continue
		}
		rest := strings.Join(f[1:], " ")
		for _, v := range values {
			i := strings.Index(" "+rest+" ", " "+v+" ")
			if i < 0 {
				return false
			}
			rest = rest[i+len(v):]
		}
		return true
	}
	return false
}
