package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserLiveStatus: in Chromium, the agent's request page turns to
// Approved by itself (no reload) when the approver approves in another
// browser, and tells screen readers; cancel asks in a dialog first.
func TestBrowserLiveStatus(t *testing.T) {
	exe := chromium(t)
	d := startTestDemo(t)
	filer := d.browser(t)
	filer.signIn("/", "agent")
	reqPath := fileRequestFor(t, filer, "marco.rossi@contoso.example", "Phone replaced, cannot sign in")

	agent := newTab(t, exe)
	signInAs(t, agent, d.baseURL+reqPath, "agent")
	do(t, agent, chromedp.WaitVisible(`[data-testid="status-head"][data-live-url]`))
	if got := get(t, agent, chromedp.Text(`[data-testid="status-headline"]`)); got != "Waiting for approval" {
		t.Fatalf("headline %q", got)
	}
	// A mark on the window: a reload would lose it.
	get(t, agent, chromedp.Evaluate[bool](`window.stillTheSamePage = true`))

	approveAs(t, d, reqPath, "approver")
	get(t, agent, chromedp.Poll[bool](`document.querySelector('[data-testid="status-headline"]').textContent === "Approved: ready to issue"`))
	shot(t, agent, "status-live-approved")
	if !get(t, agent, chromedp.Evaluate[bool](`window.stillTheSamePage === true`)) {
		t.Error("the page was reloaded, not updated in place")
	}
	if got := get(t, agent, chromedp.Text(`[data-testid="state"]`)); got != "Approved" {
		t.Errorf("state %q", got)
	}
	announced := get(t, agent, chromedp.Evaluate[string](`(() => { const a = document.querySelector('[data-testid="live-announcer"]'); return a ? a.getAttribute("aria-live") + "|" + a.textContent : "" })()`))
	if !strings.HasPrefix(announced, "polite|Request updated: Approved") {
		t.Errorf("screen readers are told %q", announced)
	}
	do(t, agent, chromedp.WaitVisible(`[data-testid="status-head"] [data-testid="reveal"]`))

	// Cancel opens the dialog; keeping closes it and changes nothing.
	do(t, agent, chromedp.Click(`[data-testid="cancel"]`), chromedp.WaitVisible(`dialog#confirm-cancel[open]`))
	shot(t, agent, "status-confirm-cancel")
	do(t, agent, chromedp.Click(`dialog#confirm-cancel [data-testid="confirm-keep"]`), chromedp.WaitNotPresent(`dialog#confirm-cancel[open]`))
	if got := get(t, agent, chromedp.Evaluate[string](`location.pathname`)); got != reqPath {
		t.Fatalf("keeping left the page for %s", got)
	}
	if got := stateOf(t, d, reqPath); got != "approved" {
		t.Fatalf("keeping changed the request to %s", got)
	}
	// Confirming in the dialog cancels it.
	do(t, agent, chromedp.Click(`[data-testid="cancel"]`), chromedp.WaitVisible(`dialog#confirm-cancel[open]`),
		chromedp.Click(`[data-testid="confirm-cancel"]`), chromedp.WaitVisible(`[data-testid="flash"]`))
	if got := get(t, agent, chromedp.Text(`[data-testid="state"]`)); got != "Cancelled" {
		t.Errorf("after confirming, state %q", got)
	}
}
