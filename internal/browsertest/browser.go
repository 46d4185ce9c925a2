// Package browsertest runs the pages sluice serves (the API reference at /docs, the
// console at /ui) in a real headless Chromium, for tests: a Tab loads a page, runs
// actions and scripts in it, keeps the browser's console and what the page's
// Content-Security-Policy refused, and saves screenshots.
//
// The browser is the one $SLUICE_TEST_CHROMIUM names (scripts/chromium.sh install
// prints one); a test without it is skipped. Each Tab has its own browser process and
// profile, stopped at the end of the test. The browser resolves no name but 127.0.0.1
// and uses no proxy, so nothing leaves the machine whatever the page asks for.
package browsertest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Chromium returns the browser of $SLUICE_TEST_CHROMIUM, or skips the test.
func Chromium(t testing.TB) string {
	t.Helper()
	path := os.Getenv("SLUICE_TEST_CHROMIUM")
	if path == "" {
		t.Skip("SLUICE_TEST_CHROMIUM is unset: set it to a Chromium binary (scripts/chromium.sh install prints one) to test pages in a browser")
	}
	return path
}

// recordCSP runs in the page before the page's own scripts and keeps every violation of
// its Content-Security-Policy.
const recordCSP = `window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " refused " + (e.blockedURI || "inline") + " at " + e.sourceFile + ":" + e.lineNumber);
});`

// Tab is a page open in a browser of its own.
type Tab struct {
	t   testing.TB
	ctx context.Context // the tab; each action runs with a timeout of its own

	mu      sync.Mutex
	console []string
}

// Open starts a browser with a window of width x height and loads url. On failure the
// test's log gets the browser's console.
func Open(t testing.TB, url string, width, height int) *Tab {
	t.Helper()
	chromium := Chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // the tests run as root, where Chromium's sandbox refuses to start
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.Flag("no-proxy-server", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser) // stops the browser process and waits for it
	tab := &Tab{t: t, ctx: ctx}

	// The first action starts the browser, which lives as long as ctx: no timeout here.
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: recordCSP})
		return err
	}))
	if err != nil {
		t.Fatalf("start %s: %v", chromium, err)
	}
	consoleCtx, stopConsole := context.WithCancel(ctx)
	consoleDone := make(chan struct{})
	go func() {
		defer close(consoleDone)
		for m, err := range chromedp.Console(consoleCtx) {
			if err != nil {
				return
			}
			tab.mu.Lock()
			tab.console = append(tab.console, string(m.Type)+": "+m.String())
			tab.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		stopConsole()
		<-consoleDone
		if t.Failed() && len(tab.console) > 0 {
			t.Logf("browser console:\n%s", strings.Join(tab.console, "\n"))
		}
	})
	tab.Do("load "+url, 60*time.Second, chromedp.Navigate(url))
	return tab
}

// Do runs actions in the tab within d, and fails the test if one fails.
func (tab *Tab) Do(what string, d time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, d)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tab.t.Fatalf("%s: %v", what, err)
	}
}

// Eval runs a script in the page and decodes its value; it fails the test if the
// script fails.
func Eval[T any](tab *Tab, script string) T {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](script))
	if err != nil {
		tab.t.Fatalf("in the page: %v\n%s", err, script)
	}
	return v
}

// WaitFor evaluates a script until it is true, within d; it fails the test with what
// when it never is.
func (tab *Tab) WaitFor(what string, d time.Duration, script string) {
	tab.t.Helper()
	deadline := time.Now().Add(d)
	for !Eval[bool](tab, script) {
		if time.Now().After(deadline) {
			tab.t.Fatalf("waited %v for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// CSPViolations lists what the page's Content-Security-Policy refused so far.
func (tab *Tab) CSPViolations() []string {
	tab.t.Helper()
	return Eval[[]string](tab, `window.__cspViolations || []`)
}

// Screenshot saves the page to $SLUICE_TEST_SCREENSHOT_DIR/name, when that is set,
// and returns the file's path ("" when not saved).
func (tab *Tab) Screenshot(name string) string {
	dir := os.Getenv("SLUICE_TEST_SCREENSHOT_DIR")
	if dir == "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(tab.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: a PNG
	file := filepath.Join(dir, name)
	if err == nil {
		err = os.WriteFile(file, png, 0o644)
	}
	if err != nil {
		tab.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	tab.t.Logf("screenshot: %s", file)
	return file
}

// JSString quotes s as a JavaScript string literal (a JSON string is one).
func JSString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}
