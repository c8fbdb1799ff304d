package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/tapdesk/tapdesk/entra/fakegraph"
)

// TestBrowserStartTimeZone files a start time from a browser in
// Europe/Berlin: the form names the zone, a refused form keeps the typed
// start and the zone, its errors are tied to their fields and the summary
// takes focus, and the request shows the start as the right UTC instant,
// rewritten into Berlin time by the script.
func TestBrowserStartTimeZone(t *testing.T) {
	exe := chromium(t)
	d := startTestDemo(t)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	nina, ok := fakegraph.SampleTenant().LookupUser("nina.newhire@contoso.example")
	if !ok {
		t.Fatal("sample tenant lacks nina.newhire")
	}
	// Tomorrow 10:30 on a Berlin wall clock.
	y, m, day := time.Now().In(berlin).AddDate(0, 0, 1).Date()
	start := time.Date(y, m, day, 10, 30, 0, 0, berlin)
	typed := start.Format("2006-01-02T15:04")

	agent := newTab(t, exe)
	if _, err := chromedp.Call(agent, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Europe/Berlin"}); err != nil {
		t.Fatal(err)
	}
	signInAs(t, agent, d.baseURL+"/", "agent")
	do(t, agent, chromedp.Navigate(d.baseURL+"/requests/new?user="+nina.ID), chromedp.WaitVisible(`#start_at`))
	if zone := get(t, agent, chromedp.Text(`[data-testid="start-zone"]`)); zone != "Europe/Berlin" {
		t.Errorf("the start's label names %q, want Europe/Berlin", zone)
	}

	// Refused (no justification): the start and its zone come back.
	do(t, agent,
		chromedp.SendKeys(`#ticket_ref`, "INC-7001"),
		chromedp.SetValue(`#verification`, "video_id"),
		chromedp.SendKeys(`#verification_note`, "Video call, passport matched"),
		chromedp.SetValue(`#start_at`, typed),
		chromedp.Click(`[data-testid="submit-request"]`),
		chromedp.WaitVisible(`[data-testid="error-justification"]`))
	shot(t, agent, "tz-01-form-refused")
	if v := get(t, agent, chromedp.Evaluate[string](`document.querySelector("#start_at").value`)); v != typed {
		t.Errorf("the refused form lost the start: %q, want %q", v, typed)
	}
	if v := get(t, agent, chromedp.Evaluate[string](`document.querySelector('input[name="start_zone"]').getAttribute("value")`)); v != "Europe/Berlin" {
		t.Errorf("the refused form came back with zone %q, want Europe/Berlin from the server", v)
	}
	if v := get(t, agent, chromedp.Evaluate[string](`(() => { const f = document.querySelector("#justification");
		return f.getAttribute("aria-invalid") + " " + f.getAttribute("aria-describedby") + " " + document.getElementById(f.getAttribute("aria-describedby")).textContent })()`)); !strings.HasPrefix(v, "true justification-error Say in a sentence") {
		t.Errorf("the justification's error is not tied to it: %q", v)
	}
	if v := get(t, agent, chromedp.Evaluate[string](`document.activeElement.id`)); v != "error-summary" {
		t.Errorf("focus is on %q, not the error summary", v)
	}

	do(t, agent,
		chromedp.SendKeys(`#justification`, "Lost phone, travelling tomorrow"),
		chromedp.Click(`[data-testid="submit-request"]`),
		chromedp.WaitVisible(`[data-testid="state"]`))
	shot(t, agent, "tz-02-request")
	when := `[data-testid="starts"] time`
	if v := get(t, agent, chromedp.AttributeValue(when, "datetime")).Value; v != start.UTC().Format(time.RFC3339) {
		t.Errorf("the request starts at %s, want %s (10:30 in Berlin)", v, start.UTC().Format(time.RFC3339))
	}
	if v := get(t, agent, chromedp.AttributeValue(when, "title")).Value; v != start.UTC().Format("2006-01-02 15:04:05 UTC") {
		t.Errorf("title %q", v)
	}
	// The script shows it in the browser's zone: 10:30 (however the locale
	// writes it), and a phrase that it is ahead.
	text := get(t, agent, chromedp.Text(when))
	if !strings.Contains(text, "10:30") || !strings.HasPrefix(text, "in ") {
		t.Errorf("the start reads %q, want it ahead and at 10:30 Berlin time", text)
	}
}
