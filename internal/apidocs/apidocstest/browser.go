// Package apidocstest drives the docs page of internal/apidocs in a real headless
// Chromium, for tests: it lists the operations the page renders and sends a request
// with the page's own "Try it out", as a person would.
//
// The browser is the one $SLUICE_TEST_CHROMIUM names (scripts/chromium.sh install
// prints one); a test without it is skipped. Each Page has its own browser process and
// profile, stopped at the end of the test. The browser resolves no name but 127.0.0.1
// and uses no proxy, so nothing leaves the machine whatever the page asks for.
package apidocstest

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
		t.Skip("SLUICE_TEST_CHROMIUM is unset: set it to a Chromium binary (scripts/chromium.sh install prints one) to test /docs in a browser")
	}
	return path
}

// recordCSP runs in the page before the page's own scripts and keeps every violation of
// its Content-Security-Policy.
const recordCSP = `window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " refused " + (e.blockedURI || "inline") + " at " + e.sourceFile + ":" + e.lineNumber);
});`

// Page is the docs page open in a browser.
type Page struct {
	t   testing.TB
	ctx context.Context // the tab; each action runs with a timeout of its own

	mu      sync.Mutex
	console []string
}

// Open starts a browser, loads the docs page at url and waits until it renders
// operations. On failure the test's log gets the browser's console and, when
// $SLUICE_TEST_SCREENSHOT_DIR is set, the page is saved there as docs.png (also on
// success).
func Open(t testing.TB, url string) *Page {
	t.Helper()
	chromium := Chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // the tests run as root, where Chromium's sandbox refuses to start
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1024),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.Flag("no-proxy-server", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser) // stops the browser process and waits for it
	p := &Page{t: t, ctx: ctx}

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
			p.mu.Lock()
			p.console = append(p.console, string(m.Type)+": "+m.String())
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		stopConsole()
		<-consoleDone
		if t.Failed() && len(p.console) > 0 {
			t.Logf("browser console:\n%s", strings.Join(p.console, "\n"))
		}
	})
	t.Cleanup(p.screenshot) // first of the cleanups: the browser still runs

	p.do("load "+url+" and wait for its operations", 60*time.Second,
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(".swagger-ui .opblock .opblock-summary-path")),
	)
	return p
}

// do runs actions in the tab within d, and fails the test if one fails.
func (p *Page) do(what string, d time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, d)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// eval runs a script in the page and decodes its value; it fails the test if the script
// fails.
func eval[T any](p *Page, script string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](script))
	if err != nil {
		p.t.Fatalf("in the page: %v\n%s", err, script)
	}
	return v
}

// Operations lists the operations the page renders, as "METHOD /path".
func (p *Page) Operations() []string {
	p.t.Helper()
	return eval[[]string](p, `Array.from(document.querySelectorAll(".opblock")).map((op) =>
  op.querySelector(".opblock-summary-method").textContent.trim().toUpperCase() + " " +
  (op.querySelector(".opblock-summary-path").getAttribute("data-path") || ""))`)
}

// Title is the document's title as the page shows it, with the badges of its version
// and of its OpenAPI version, such as "sluice ingest API v1 OAS 3.1".
func (p *Page) Title() string {
	p.t.Helper()
	return eval[string](p, `(document.querySelector(".info .title") || {innerText: ""}).innerText.replace(/\s+/g, " ").trim()`)
}

// DocumentLink is the link to the OpenAPI document under the title, as a URL.
func (p *Page) DocumentLink() string {
	p.t.Helper()
	return eval[string](p, `(document.querySelector(".info .link, .info .main a") || {href: ""}).href`)
}

// TryIt sends a request from the page as a person does: it opens the operation, clicks
// "Try it out", replaces the example body with body by typing it, clicks "Execute" and
// waits for the answer. It returns the status code the page shows, and the response
// section as the page shows it.
func (p *Page) TryIt(method, path, body string) (status, shown string) {
	p.t.Helper()
	summary := ".opblock-" + strings.ToLower(method) + ` .opblock-summary-path[data-path="` + path + `"]`
	op := eval[string](p, `(() => {
  const p = document.querySelector(`+jsString(summary)+`);
  return p ? "#" + CSS.escape(p.closest(".opblock").id) : "";
})()`)
	if op == "" {
		p.t.Fatalf("the page has no operation %s %s", method, path)
	}
	textarea := op + " textarea.body-param__text"
	result := op + " .live-responses-table tbody .response-col_status"
	p.do("try "+method+" "+path+" from the page", 30*time.Second,
		chromedp.Click(chromedp.CSS(op+" .opblock-summary-control")),
		chromedp.Click(chromedp.CSS(op+" .try-out__btn")),
		chromedp.WaitVisible(chromedp.CSS(textarea)),
		// Select the example so that the typed keys replace it.
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[chromedp.Void](`document.querySelector(`+jsString(textarea)+`).select()`)(ctx, tg)
			return err
		}),
		chromedp.SendKeys(chromedp.CSS(textarea), body),
		chromedp.Click(chromedp.CSS(op+" button.execute")),
		chromedp.WaitVisible(chromedp.CSS(result)),
	)
	if typed := eval[string](p, `document.querySelector(`+jsString(textarea)+`).value`); typed != body {
		p.t.Fatalf("the body on the page is %q, typed %q", typed, body)
	}
	status = eval[string](p, `document.querySelector(`+jsString(result)+`).textContent.trim()`)
	shown = eval[string](p, `document.querySelector(`+jsString(op+" .live-responses-table")+`).innerText`)
	return status, shown
}

// CSPViolations lists what the page's Content-Security-Policy refused so far.
func (p *Page) CSPViolations() []string {
	p.t.Helper()
	return eval[[]string](p, `window.__cspViolations`)
}

// screenshot saves the page to $SLUICE_TEST_SCREENSHOT_DIR/docs.png, when that is set.
func (p *Page) screenshot() {
	dir := os.Getenv("SLUICE_TEST_SCREENSHOT_DIR")
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: a PNG
	file := filepath.Join(dir, "docs.png")
	if err == nil {
		err = os.WriteFile(file, png, 0o644)
	}
	if err != nil {
		p.t.Logf("screenshot: %v", err)
		return
	}
	p.t.Logf("the page as the test left it: %s", file)
}

// jsString quotes s as a JavaScript string literal (a JSON string is one).
func jsString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}
