package main

import (
	"encoding/json"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// recordCSPViolations keeps every Content-Security-Policy violation a page
// reports, for the test to read (the console may not show them all).
const recordCSPViolations = `window.cspViolations = [];
document.addEventListener("securitypolicyviolation", e => window.cspViolations.push(e.violatedDirective + " " + e.blockedURI));`

// assetLoad is what the browser's resource timing says of one file.
type assetLoad struct {
	Name     string  `json:"name"`
	Encoded  float64 `json:"encodedBodySize"`
	Decoded  float64 `json:"decodedBodySize"`
	Transfer float64 `json:"transferSize"`
}

// TestPagesLoadHashedAssets: in Chromium, a page loads its stylesheet and
// script from their content-hashed names under the CSP, applies and runs
// them, gets them gzipped, and the next page takes them from the cache
// without asking the server.
func TestPagesLoadHashedAssets(t *testing.T) {
	exe := chromium(t)
	d := startTestDemo(t)
	tab := newTab(t, exe)
	if _, err := chromedp.Call(tab, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: recordCSPViolations}); err != nil {
		t.Fatal(err)
	}
	signInAs(t, tab, d.baseURL+"/", "agent")

	loads := func() map[string]assetLoad {
		t.Helper()
		raw := get(t, tab, chromedp.Evaluate[string](`JSON.stringify(performance.getEntriesByType("resource").filter(e => e.name.includes("/static/")))`))
		var list []assetLoad
		if err := json.Unmarshal([]byte(raw), &list); err != nil {
			t.Fatal(err)
		}
		byPath := map[string]assetLoad{}
		for _, l := range list {
			byPath[l.Name[len(d.baseURL):]] = l
		}
		return byPath
	}
	css := get(t, tab, chromedp.Evaluate[string](`document.querySelector('link[rel="stylesheet"]').getAttribute("href")`))
	js := get(t, tab, chromedp.Evaluate[string](`document.querySelector("script[src]").getAttribute("src")`))
	if !hashedCSS.MatchString(css) || !hashedJS.MatchString(js) {
		t.Fatalf("the page links %q and %q, not content-hashed names", css, js)
	}
	first := loads()
	for _, p := range []string{css, js} {
		l, ok := first[p]
		if !ok {
			t.Fatalf("the browser did not load %s; it loaded %v", p, first)
		}
		if l.Encoded <= 0 || l.Encoded >= l.Decoded {
			t.Errorf("%s came %v bytes for %v: not compressed", p, l.Encoded, l.Decoded)
		}
	}
	if n := len(first); n != 3 { // the stylesheet, the script and the icon
		t.Errorf("the page loaded %d static files: %v", n, first)
	}
	if rules := get(t, tab, chromedp.Evaluate[int](`[...document.styleSheets].find(s => s.href && s.href.endsWith("`+css+`")).cssRules.length`)); rules == 0 {
		t.Error("the stylesheet has no rules applied")
	}
	if ran := get(t, tab, chromedp.Evaluate[bool](`typeof countdown === "function"`)); !ran {
		t.Error("the script did not run")
	}

	// Another page: the files are fresh for a year, so nothing is fetched.
	do(t, tab, chromedp.Navigate(d.baseURL+"/users"), chromedp.WaitVisible(`#q`))
	for _, p := range []string{css, js} {
		if l, ok := loads()[p]; !ok || l.Transfer != 0 {
			t.Errorf("the next page fetched %s again (%+v, loaded %v)", p, l, ok)
		}
	}
	if v := get(t, tab, chromedp.Evaluate[[]string](`window.cspViolations`)); len(v) > 0 {
		t.Errorf("CSP violations: %q", v)
	}
}
