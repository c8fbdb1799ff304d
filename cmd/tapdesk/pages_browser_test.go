package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/entra/fakegraph"
)

// Issue 12, browser tests: every page as each role meets it in the demo,
// at a phone's and a desktop's size, in a real Chromium. Each page must
// not scroll sideways, write no console error, break no CSP rule and show
// axe-core no serious or critical violation. Screenshots of each go to
// $TAPDESK_SCREENSHOTS (default cmd/tapdesk/testdata/screenshots, which
// git ignores).

// browserViewport is a screen size the pages are checked at.
type browserViewport struct {
	name   string
	w, h   int64
	mobile bool // a phone: touch, meta viewport honoured
}

var browserViewports = []browserViewport{
	{"phone", 375, 812, true},
	{"desktop", 1366, 900, false},
}

// offsetClock is the demo's clock, real time moved by an offset: requests
// filed "yesterday" expire today while everything else runs on real time
// (the browser's countdowns and relative times agree with the server).
type offsetClock struct{ offset atomic.Int64 }

func (c *offsetClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

func (c *offsetClock) set(d time.Duration) { c.offset.Store(int64(d)) }

// startChromium starts one headless Chromium for a whole test; each person
// gets a tab in a browser context of their own (own cookies), which is far
// cheaper than a browser each.
func startChromium(t *testing.T, exe string) context.Context {
	t.Helper()
	ctx, _ := startBrowser(t, exe,
		// Scrollbars take no room, as on phones: the overflow check
		// measures the page, not the scrollbar.
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(1366, 900),
	)
	return ctx
}

// checkedTab is one person's tab. It records what the pages write to the
// console and every CSP violation they report.
type checkedTab struct {
	ctx   context.Context
	mu    sync.Mutex
	notes []string // console errors and exceptions since the last take
	marks map[string]bool
}

// openTab opens a tab in a new browser context of the browser at root.
// Scripts in inject run in every page before the page's own, through the
// DevTools protocol: the page's CSP does not apply to them (axe-core is
// added so; the page itself stays under its CSP).
func openTab(t *testing.T, root context.Context, inject ...string) *checkedTab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("open tab: %v", err)
	}
	tab := &checkedTab{ctx: ctx, marks: map[string]bool{}}
	done := watchConsole(ctx, func(m chromedp.ConsoleMessage) {
		tab.mu.Lock()
		defer tab.mu.Unlock()
		switch {
		case m.Type == chromedp.ConsoleDebug && strings.HasPrefix(m.Text, consoleMark):
			tab.marks[m.Text] = true
		case consoleProblem(m):
			tab.notes = append(tab.notes, m.String())
		}
	})
	for _, src := range append([]string{recordCSPViolations}, inject...) {
		if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: src}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { cancel(); <-done })
	return tab
}

const consoleMark = "tapdesk-browser-test-mark "

var markSeq atomic.Int64

// take returns the console errors written since the last take. A marker
// written to the console last makes sure every earlier message has been
// read off the wire.
func (tab *checkedTab) take(t *testing.T, ctx context.Context) []string {
	t.Helper()
	mark := fmt.Sprintf("%s%d", consoleMark, markSeq.Add(1))
	get(t, ctx, chromedp.Evaluate[any](`console.debug(`+jsString(mark)+`); null`))
	deadline := time.Now().Add(30 * time.Second)
	for {
		tab.mu.Lock()
		seen := tab.marks[mark]
		notes := tab.notes
		if seen {
			tab.notes = nil
			delete(tab.marks, mark)
		}
		tab.mu.Unlock()
		if seen {
			return notes
		}
		if time.Now().After(deadline) {
			t.Fatal("the console marker never arrived")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// screenshotDir is where page screenshots go: $TAPDESK_SCREENSHOTS, or a
// folder in testdata that git ignores.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("TAPDESK_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("testdata", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// axeSource is axe-core as vendored by scripts/vendor-axe.
func axeSource(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "axe", "axe.min.js"))
	if err != nil {
		t.Fatalf("axe-core is not vendored (scripts/vendor-axe): %v", err)
	}
	return string(b)
}

// axeViolation is one failing axe rule, with the nodes it failed on.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// runAxe runs axe-core, which openTab put in every page (sending its
// 650 KB once per tab rather than once per page keeps this fast), and
// returns its serious and critical violations.
func runAxe(t *testing.T, ctx context.Context) []axeViolation {
	t.Helper()
	if !get(t, ctx, chromedp.Evaluate[bool](`typeof axe === "object"`)) {
		t.Fatal("axe-core is not in the page")
	}
	raw := get(t, ctx, chromedp.Evaluate[string](`axe.run(document, { resultTypes: ["violations"] }).then(r => JSON.stringify(
		r.violations.filter(v => v.impact === "serious" || v.impact === "critical").map(v => ({
			id: v.id, impact: v.impact, help: v.help,
			nodes: v.nodes.map(n => n.target.join(" ") + " (" + (n.failureSummary || "").replace(/\s+/g, " ").trim() + ")"),
		})) ))`, chromedp.EvalAwaitPromise))
	var out []axeViolation
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// overflowReport measures the page against the viewport width: the scroll
// width, and the innermost elements that stick out past the right edge
// (the ones to fix).
const overflowReport = `((limit) => {
	const sw = document.documentElement.scrollWidth, iw = window.innerWidth;
	const out = [];
	if (sw > limit) {
		const past = e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.right > limit + 0.5; };
		for (const e of document.body.querySelectorAll("*")) {
			if (!past(e) || [...e.children].some(past)) continue;
			const r = e.getBoundingClientRect();
			let name = e.tagName.toLowerCase();
			if (e.id) name += "#" + e.id;
			if (e.dataset.testid) name += "[data-testid=" + e.dataset.testid + "]";
			else if (e.classList.length) name += "." + [...e.classList].join(".");
			const p = e.parentElement;
			if (p) name = p.tagName.toLowerCase() + (p.classList.length ? "." + [...p.classList].join(".") : "") + " > " + name;
			out.push(name + " right=" + Math.round(r.right) + " width=" + Math.round(r.width));
			if (out.length >= 6) break;
		}
	}
	return JSON.stringify({ scrollWidth: sw, innerWidth: iw, culprits: out });
})`

type overflow struct {
	ScrollWidth int64    `json:"scrollWidth"`
	InnerWidth  int64    `json:"innerWidth"`
	Culprits    []string `json:"culprits"`
}

// browserPage is one page as one person reaches it.
type browserPage struct {
	name    string // role/page, names the subtest and the screenshot
	persona string // the tab it is seen in ("" anonymous)
	path    string // GET path; or open reaches the page
	wait    string // a selector on the page once it is there
	// open reaches a page that is the answer to a form (GET path is not
	// enough); once says it can be reached only once (the reveal, a
	// single-use link), so the second viewport checks the same page
	// resized.
	open func(t *testing.T, ctx context.Context)
	once bool
	// readme names the page's screenshot in docs/screenshots when the
	// test runs for `task screenshots`.
	readme string
}

// browserFixture is the demo with a request in every state, ready to be
// looked at.
type browserFixture struct {
	d        *testDemo
	ids      map[string]string // user key -> object id
	requests map[string]string // state -> request path
	links    map[string]string // "approve-pending", "approve-privileged", "dispute" -> URL
}

// fixtureUsers are the targets, one per request state, so no request is
// refused for another open one.
var fixtureUsers = map[string]string{
	"expired":    "omar.haddad@contoso.example",
	"pending":    "nina.newhire@contoso.example",
	"privileged": "grace.global@contoso.example",
	"approved":   "marco.rossi@contoso.example",
	"issued":     "chen.wei@contoso.example",
	"reveal":     "fatima.zahra@contoso.example",
	"denied":     "lukas.becker@contoso.example",
	"cancelled":  "sofia.garcia@contoso.example",
	"revoked":    "priya.patel@contoso.example",
	"disabled":   "dana.departed@contoso.example",
}

// newBrowserFixture starts the demo and files requests through the HTTP
// helpers (quick) until one request is in each state.
func newBrowserFixture(t *testing.T) *browserFixture {
	t.Helper()
	clock := &offsetClock{}
	clock.set(-25 * time.Hour)
	// The fixture files more requests per agent than the default limits
	// allow in ten minutes, and the form page with errors files once more.
	limits, err := tapdesk.ParseRateLimits("file=off,reveal=off", tapdesk.DefaultRateLimits())
	if err != nil {
		t.Fatal(err)
	}
	d := startTestDemoWith(t, func(o *demoOptions) {
		o.Now = clock.Now
		o.SweepInterval = time.Hour
		o.RateLimits = limits
	})
	f := &browserFixture{d: d, ids: map[string]string{}, requests: map[string]string{}, links: map[string]string{}}
	for k, upn := range fixtureUsers {
		f.ids[k] = d.userID(t, upn)
	}

	// Yesterday: a request nobody decided. Today it is past its deadline;
	// the sweep expires it.
	agent := d.browser(t)
	agent.signIn("/", "agent")
	f.requests["expired"] = fileRequestFor(t, agent, fixtureUsers["expired"], "Locked out after a phone swap")
	clock.set(0)
	if _, err := d.app.db.ExpireDue(context.Background(), clock.Now()); err != nil {
		t.Fatal(err)
	}
	// The sweep at start read Entra's audit log up to yesterday, the app's
	// time then; today's read finds the sample tenant's pass made outside
	// tapdesk half an hour ago.
	if n, err := d.app.outside.Run(context.Background(), clock.Now()); err != nil || n != 1 {
		t.Fatalf("passes made outside tapdesk found today: %d, %v; want the sample tenant's one", n, err)
	}

	// Omar's card shows a pass an administrator made ten days ago: its
	// times are on another day in every zone, so app.js writes them at
	// their longest ("10 days ago · Nov 20, 2026, 11:30 PM"), whatever
	// the hour of the run.
	admin := d.userID(t, "grace.global@contoso.example")
	if _, err := d.fake.Tenant().AdminCreateTAP(f.ids["expired"], admin, 480, time.Now().AddDate(0, 0, -10)); err != nil {
		t.Fatal(err)
	}

	agent = d.browser(t)
	agent.signIn("/", "agent")
	agent2 := d.browser(t)
	agent2.signIn("/", "agent2")
	approver := d.browser(t)
	approver.signIn("/", "approver")
	// Five requests each: one agent may file five in ten minutes. The
	// reveal's is Alex's, who reveals it in the browser.
	requester := map[string]*browser{"denied": agent2, "cancelled": agent2, "revoked": agent2}
	for _, k := range []string{"pending", "privileged", "approved", "issued", "reveal", "denied", "cancelled", "revoked"} {
		f.requests[k] = fileRequestFor(t, cmp.Or(requester[k], agent), fixtureUsers[k], "Caller lost their phone and cannot sign in")
	}
	for _, k := range []string{"approved", "issued", "reveal", "revoked"} {
		approver.get(f.requests[k]).submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
	}
	approver.get(f.requests["denied"]).submit(`form[action$="/deny"]`, url.Values{"reason": {"The ticket does not match the caller's account"}}).status(http.StatusOK)
	agent2.get(f.requests["cancelled"]).submit(`form[action$="/cancel"]`, nil).status(http.StatusOK)
	agent.get(f.requests["issued"]).submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
	agent2.get(f.requests["revoked"]).submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
	agent2.get(f.requests["revoked"]).submit(`form[action$="/revoke"]`, nil).status(http.StatusOK)
	// Failed: Graph's gateway times out on the create, so the request ends
	// (a pass may exist behind it). Lukas's denied request is closed, so
	// he can be the target again.
	f.requests["failed"] = fileRequestFor(t, agent, fixtureUsers["denied"], "Caller verified, needs a pass to re-register")
	approver.get(f.requests["failed"]).submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
	const create = "POST /v1.0/users/*/authentication/temporaryAccessPassMethods"
	d.fake.SetFault(create, fakegraph.Fault{Status: 504})
	agent.get(f.requests["failed"]).submit(`form[action$="/reveal"]`, nil).status(http.StatusServiceUnavailable)
	d.fake.ClearFaults()

	for k, name := range map[string]string{"pending": "approve-pending", "privileged": "approve-privileged"} {
		f.links[name] = approvalLinkFor(t, d, fixtureUsers[k])
	}
	f.links["dispute"] = disputeLink.FindString(waitMail(t, d.capture, fixtureUsers["issued"], issuedSubject).Text)
	if f.links["dispute"] == "" {
		t.Fatal("the notice of the issued pass carries no dispute link")
	}
	// An alert for the alerts pages: a pass made outside tapdesk, as the
	// outside-pass job records it, raised by the alert job now rather
	// than at the next sweep.
	if err := d.app.db.AppendEvent(context.Background(), tapdesk.Event{Activity: tapdesk.ActOutsidePassFound, Category: tapdesk.CatSecurity,
		Actor: tapdesk.SystemActor, TargetUPN: fixtureUsers["pending"],
		Details: map[string]string{"created_by": "eve.intruder@contoso.example"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.app.alerts.Run(context.Background(), clock.Now()); err != nil {
		t.Fatal(err)
	}
	return f
}

// approvalLinkFor waits for the approval email about the request for upn
// and returns its link.
func approvalLinkFor(t *testing.T, d *testDemo, upn string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range d.capture.Messages() {
			if strings.HasPrefix(m.Subject, "Approval needed") && strings.Contains(m.Text, upn) {
				if l := approveLink.FindString(m.Text); l != "" {
					return l
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no approval email about %s", upn)
	return ""
}

// pages lists every page as each role meets it in the demo.
func (f *browserFixture) pages() []browserPage {
	r := f.requests
	state := `[data-testid="state"]`
	return []browserPage{
		{name: "anonymous/sign-in", path: "/", wait: `[data-testid="persona-agent"]`},
		{name: "anonymous/mailbox", path: "/demo/mailbox", wait: `[data-testid="mail"]`},
		{name: "anonymous/dispute", path: f.links["dispute"], wait: `[data-testid="dispute-summary"]`},
		{name: "anonymous/not-found", path: "/no-such-page", wait: `[data-testid="error"]`},

		{name: "agent/dashboard", persona: "agent", path: "/", wait: `[data-testid="mine"]`, readme: "dashboard"},
		{name: "agent/search", persona: "agent", path: "/users", wait: `#q`},
		{name: "agent/search-results", persona: "agent", path: "/users?q=ma", wait: `[data-testid="results"]`},
		{name: "agent/search-none", persona: "agent", path: "/users?q=zzzzqq", wait: `[data-testid="search-message"]`},
		{name: "agent/user-card", persona: "agent", path: "/users/" + f.ids["pending"], wait: `[data-testid="user-card"]`},
		{name: "agent/user-card-privileged", persona: "agent", path: "/users/" + f.ids["privileged"], wait: `[data-testid="user-card"]`},
		{name: "agent/user-card-old-pass", persona: "agent", path: "/users/" + f.ids["expired"], wait: `[data-testid="existing-tap"] time[data-when]`},
		{name: "agent/user-card-disabled", persona: "agent", path: "/users/" + f.ids["disabled"], wait: `[data-testid="user-card"]`},
		{name: "agent/request-form", persona: "agent", path: "/requests/new?user=" + url.QueryEscape(f.ids["expired"]), wait: `#ticket_ref`},
		{name: "agent/request-form-errors", persona: "agent", open: func(t *testing.T, ctx context.Context) {
			do(t, ctx, chromedp.Navigate(f.d.baseURL+"/requests/new?user="+url.QueryEscape(f.ids["expired"])), chromedp.WaitVisible(`#lifetime`),
				chromedp.SetValue(`#lifetime`, ""), chromedp.Click(`[data-testid="submit-request"]`),
				chromedp.WaitVisible(`[data-testid="error-ticket_ref"]`))
		}},
		{name: "agent/request-pending", persona: "agent", path: r["pending"], wait: state},
		{name: "agent/request-approved", persona: "agent", path: r["approved"], wait: `[data-testid="reveal"]`},
		{name: "agent/reveal", persona: "agent", once: true, readme: "reveal", open: func(t *testing.T, ctx context.Context) {
			do(t, ctx, chromedp.Navigate(f.d.baseURL+r["reveal"]), chromedp.WaitVisible(`[data-testid="reveal"]`),
				chromedp.Click(`[data-testid="reveal"]`), chromedp.WaitVisible(`[data-testid="pass"]`))
		}},
		{name: "agent/request-after-reveal", persona: "agent", path: r["reveal"], wait: state},
		{name: "agent/request-issued", persona: "agent", path: r["issued"], wait: state},
		{name: "agent/request-denied", persona: "agent2", path: r["denied"], wait: state},
		{name: "agent/request-cancelled", persona: "agent2", path: r["cancelled"], wait: state},
		{name: "agent/request-expired", persona: "agent", path: r["expired"], wait: state},
		{name: "agent/request-revoked", persona: "agent2", path: r["revoked"], wait: state},
		{name: "agent/request-failed", persona: "agent", path: r["failed"], wait: state},
		{name: "agent/not-found", persona: "agent", path: "/requests/no-such-request", wait: `[data-testid="error"]`},
		{name: "agent/refused", persona: "agent", path: "/audit", wait: `[data-testid="error"]`},
		{name: "agent/alerts-refused", persona: "agent", path: "/alerts", wait: `[data-testid="error"]`},

		{name: "approver/dashboard", persona: "approver", path: "/", wait: `[data-testid="whoami"]`},
		{name: "approver/approval-link", persona: "approver", path: f.links["approve-pending"], wait: `[data-testid="approve"]`, once: true, readme: "approval"},
		{name: "approver/approval-link-privileged", persona: "approver", path: f.links["approve-privileged"], wait: `[data-testid="approve"]`, once: true},
		// The same link again: it was used, the approver is signed in.
		{name: "approver/approval-link-used", persona: "approver", path: f.links["approve-pending"], wait: `main h1`},
		{name: "approver/request-approved", persona: "approver", path: r["approved"], wait: state},
		{name: "approver/request-denied", persona: "approver", path: r["denied"], wait: state},
		{name: "approver/refused", persona: "approver", path: "/users", wait: `[data-testid="error"]`},

		// The sample tenant's pass made outside tapdesk is listed.
		{name: "auditor/dashboard", persona: "auditor", path: "/", wait: `[data-testid="outside-passes"]`},
		{name: "auditor/audit", persona: "auditor", path: "/audit", wait: `[data-testid="audit"]`},
		{name: "auditor/audit-filtered", persona: "auditor", path: "/audit?activity=Approve+request&result=success", wait: `[data-testid="audit"]`},
		{name: "auditor/audit-verify", persona: "auditor", path: "/audit/verify", wait: `main`},
		{name: "auditor/alerts", persona: "auditor", path: "/alerts", wait: `[data-testid="alerts"]`},
		{name: "auditor/alerts-filtered", persona: "auditor", path: "/alerts?rule=filing_burst", wait: `[data-testid="alerts-empty"]`},
		{name: "auditor/request-issued", persona: "auditor", path: r["issued"], wait: state},
		{name: "auditor/reports", persona: "auditor", path: "/reports", wait: `[data-testid="chart-outcomes"]`},
		// The numbers beside each chart, every <details> open.
		{name: "auditor/reports-numbers", persona: "auditor", open: func(t *testing.T, ctx context.Context) {
			do(t, ctx, chromedp.Navigate(f.d.baseURL+"/reports"), chromedp.WaitVisible(`[data-testid="chart-outcomes"]`))
			if n := get(t, ctx, chromedp.Evaluate[int](`[...document.querySelectorAll("details.chart-numbers")].map(d => d.open = true).length`)); n == 0 {
				t.Fatal("the reports page has no numbers to open")
			}
			do(t, ctx, chromedp.WaitVisible(`[data-testid="table-outcomes"]`))
		}},
		{name: "auditor/reports-empty", persona: "auditor", path: "/reports?from=2025-01-01T00%3A00&to=2025-01-08T00%3A00", wait: `[data-testid="reports-empty"]`},
		{name: "auditor/reports-bad-period", persona: "auditor", path: "/reports?from=yesterday", wait: `[data-testid="period-error"]`},
		{name: "agent/reports-refused", persona: "agent", path: "/reports", wait: `[data-testid="error"]`},

		{name: "admin/dashboard", persona: "admin", path: "/", wait: `[data-testid="whoami"]`},
		{name: "admin/request-issued", persona: "admin", path: r["issued"], wait: state},

		// Heightened-threat mode (titles-threat slice), last: switching it
		// on puts its banner on every page that follows.
		{name: "admin/threat-mode", persona: "admin", path: "/admin/threat-mode", wait: `[data-testid="threat-switch"]`},
		{name: "admin/threat-mode-on", persona: "admin", once: true, open: func(t *testing.T, ctx context.Context) {
			do(t, ctx, chromedp.Navigate(f.d.baseURL+"/admin/threat-mode"), chromedp.WaitVisible(`#reason`),
				chromedp.SetValue(`#reason`, "Vishing wave reported by the SOC"), chromedp.Click(`[data-testid="threat-on"]`),
				chromedp.WaitVisible(`[data-testid="threat-banner"]`))
		}},
		{name: "agent/dashboard-threat", persona: "agent", path: "/", wait: `[data-testid="threat-banner"]`},
		{name: "agent/request-form-threat", persona: "agent", path: "/requests/new?user=" + url.QueryEscape(f.ids["expired"]), wait: `[data-testid="threat-form"]`},
		{name: "approver/request-threat", persona: "approver", path: r["pending"], wait: `[data-testid="threat-banner"]`},
		{name: "auditor/audit-threat", persona: "auditor", path: "/audit", wait: `[data-testid="threat-banner"]`},
	}
}

// TestEveryPageInTheBrowser is issue 12's browser check: every page x
// role x {phone, desktop}: no sideways scrolling, no console error, no CSP
// violation, no serious or critical axe-core violation.
func TestEveryPageInTheBrowser(t *testing.T) {
	exe := chromium(t)
	axe := axeSource(t)
	started := time.Now()
	f := newBrowserFixture(t)
	root := startChromium(t, exe)
	dir := screenshotDir(t)
	readmeDir := os.Getenv("TAPDESK_README_SCREENSHOTS")

	tabs := map[string]*checkedTab{"": openTab(t, root, axe)}
	for _, persona := range []string{"agent", "agent2", "approver", "auditor", "admin"} {
		tab := openTab(t, root, axe)
		signInAs(t, tab.ctx, f.d.baseURL+"/", persona)
		tabs[persona] = tab
	}
	t.Logf("demo, fixture and browser ready in %v", time.Since(started).Round(time.Millisecond))

	for i, pg := range f.pages() {
		t.Run(pg.name, func(t *testing.T) {
			tab := tabs[pg.persona]
			for n, vp := range browserViewports {
				t.Run(vp.name, func(t *testing.T) {
					ctx, cancel := context.WithTimeout(tab.ctx, 60*time.Second)
					defer cancel()
					opts := []chromedp.EmulateViewportOption{chromedp.EmulatePortrait}
					if vp.mobile {
						opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
					} else {
						opts = []chromedp.EmulateViewportOption{chromedp.EmulateLandscape}
					}
					do(t, ctx, chromedp.EmulateViewport(vp.w, vp.h, opts...))
					switch {
					case n > 0 && pg.once: // the page as it is, resized
					case pg.open != nil:
						pg.open(t, ctx)
					default:
						u := pg.path
						if !strings.HasPrefix(u, "http") {
							u = f.d.baseURL + u
						}
						reach(t, ctx, u, pg.wait)
					}
					t0 := time.Now()
					checkBrowserPage(t, ctx, tab, vp)
					t.Logf("checked in %v", time.Since(t0).Round(time.Millisecond))
					name := fmt.Sprintf("%02d-%s-%s", i, strings.ReplaceAll(pg.name, "/", "-"), vp.name)
					buf := pageShot(t, ctx, vp)
					if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
						t.Fatal(err)
					}
					if readmeDir != "" && pg.readme != "" {
						// The first screen, as the person sees it.
						buf := get(t, ctx, chromedp.CaptureScreenshot())
						if err := os.WriteFile(filepath.Join(readmeDir, pg.readme+"-"+vp.name+".png"), buf, 0o644); err != nil {
							t.Fatal(err)
						}
					}
				})
			}
		})
	}
	t.Logf("every page checked in %v; screenshots in %s", time.Since(started).Round(time.Millisecond), dir)
}

// pageShot is a PNG of the page from the top, at most shotMaxHeight tall
// (the demo mailbox runs to tens of thousands of pixels, whose full
// screenshot takes most of a minute).
func pageShot(t *testing.T, ctx context.Context, vp browserViewport) []byte {
	t.Helper()
	const shotMaxHeight = 2400
	h := min(get(t, ctx, chromedp.Evaluate[float64](`document.documentElement.scrollHeight`)), shotMaxHeight)
	w := get(t, ctx, chromedp.Evaluate[float64](`document.documentElement.scrollWidth`))
	r, err := chromedp.Call(ctx, page.CaptureScreenshot, page.CaptureScreenshotParams{
		Format: page.CaptureScreenshotFormatPng, CaptureBeyondViewport: ptrTo(true), FromSurface: ptrTo(true),
		Clip: &page.Viewport{Width: max(w, float64(vp.w)), Height: max(h, float64(vp.h)), Scale: 1},
	})
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	return r.Data
}

func ptrTo[T any](v T) *T { return &v }

// reach opens u and waits for sel; when sel does not come, it says which
// page came instead.
func reach(t *testing.T, ctx context.Context, u, sel string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(u)); err != nil {
		t.Fatalf("open %s: %v", u, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(wctx, chromedp.WaitVisible(sel)); err != nil {
		at := get(t, ctx, chromedp.Evaluate[string](`location.href + " «" + document.title + "» " + document.body.innerText.slice(0, 300)`))
		t.Fatalf("opened %s, but %s did not show (%v); the page is %s", u, sel, err, at)
	}
}

// checkBrowserPage runs the four checks on the page the tab shows.
func checkBrowserPage(t *testing.T, ctx context.Context, tab *checkedTab, vp browserViewport) {
	t.Helper()
	var o overflow
	raw := get(t, ctx, chromedp.Evaluate[string](overflowReport+`(`+fmt.Sprint(vp.w)+`)`))
	if err := json.Unmarshal([]byte(raw), &o); err != nil {
		t.Fatal(err)
	}
	if o.ScrollWidth > vp.w || o.ScrollWidth > o.InnerWidth {
		t.Errorf("overflow: the page is %d px wide in a %d px viewport (innerWidth %d); sticking out: %s",
			o.ScrollWidth, vp.w, o.InnerWidth, strings.Join(o.Culprits, "; "))
	}
	if v := get(t, ctx, chromedp.Evaluate[[]string](`window.cspViolations || []`)); len(v) > 0 {
		t.Errorf("CSP violations: %q", v)
	}
	for _, m := range tab.take(t, ctx) {
		t.Errorf("console: %s", m)
	}
	for _, v := range runAxe(t, ctx) {
		t.Errorf("axe %s (%s): %s\n\t%s", v.ID, v.Impact, v.Help, strings.Join(v.Nodes, "\n\t"))
	}
}
