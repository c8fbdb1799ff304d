package main

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// A dashboard row is one link in a real browser: a click anywhere on the
// row (here on its ticket cell, which holds no link of its own) opens the
// request, on a desktop and on a phone.
func TestDashboardRowClickOpensRequestInBrowser(t *testing.T) {
	exe := chromium(t)
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	req := fileRequestFor(t, agent, "nina.newhire@contoso.example", "New starter, first day, no methods yet")

	tab := newTab(t, exe)
	signInAs(t, tab, d.baseURL+"/", "agent")
	for _, vp := range []struct{ w, h int64 }{{1366, 900}, {375, 812}} {
		t.Run(fmt.Sprintf("%dx%d", vp.w, vp.h), func(t *testing.T) {
			if _, err := chromedp.Call(tab, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
				Width: vp.w, Height: vp.h, DeviceScaleFactor: 1, Mobile: vp.w < 500}); err != nil {
				t.Fatal(err)
			}
			doRetry(t, tab, chromedp.Navigate(d.baseURL+"/"), chromedp.WaitVisible(`table[data-testid="waiting"]`))
			shot(t, tab, fmt.Sprintf("dashboard-agent-%d", vp.w))
			do(t, tab, chromedp.Click(`table[data-testid="waiting"] td[data-label="Ticket"]`), chromedp.WaitVisible(`[data-testid="state"]`))
			loc, err := url.Parse(get(t, tab, chromedp.Location()))
			if err != nil || loc.Path != req {
				t.Fatalf("a click on the row's ticket cell went to %v, want %s", loc, req)
			}
		})
	}
}
