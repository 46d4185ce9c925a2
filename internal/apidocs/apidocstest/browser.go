// Package apidocstest drives the docs page of internal/apidocs in a real headless
// Chromium (internal/browsertest), for tests: it lists the operations the page renders
// and sends a request with the page's own "Try it out", as a person would.
package apidocstest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sluice-siem/sluice/internal/browsertest"
)

// Chromium returns the browser of $SLUICE_TEST_CHROMIUM, or skips the test.
func Chromium(t testing.TB) string { return browsertest.Chromium(t) }

// Page is the docs page open in a browser.
type Page struct {
	t testing.TB
	*browsertest.Tab
}

// Open starts a browser, loads the docs page at url and waits until it renders
// operations. On failure the test's log gets the browser's console and, when
// $SLUICE_TEST_SCREENSHOT_DIR is set, the page is saved there as docs.png (also on
// success).
func Open(t testing.TB, url string) *Page {
	t.Helper()
	p := &Page{t: t, Tab: browsertest.Open(t, url, 1280, 1024)}
	t.Cleanup(func() { p.Screenshot("docs.png") }) // first of the cleanups: the browser still runs
	p.Do("wait for the operations of "+url, 60*time.Second,
		chromedp.WaitVisible(chromedp.CSS(".swagger-ui .opblock .opblock-summary-path")),
	)
	return p
}

// eval runs a script in the page and decodes its value.
func eval[T any](p *Page, script string) T {
	p.t.Helper()
	return browsertest.Eval[T](p.Tab, script)
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string { return browsertest.JSString(s) }

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
	p.Do("try "+method+" "+path+" from the page", 30*time.Second,
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
