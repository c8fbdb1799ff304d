package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/tapdesk/tapdesk"
)

// TestBrowserAuditPageFits: the audit page, with long names, ids and
// details in its rows, fits a 1366 px desktop without scrolling sideways
// (it was 1,548 px wide), also with a row's details unfolded, and at 375 px
// its rows become cards that fit the phone.
func TestBrowserAuditPageFits(t *testing.T) {
	exe := chromium(t)
	d := startTestDemo(t)
	seedAuditPage(t, d, 40)
	long := tapdesk.Event{Time: time.Now().UTC(), Activity: tapdesk.ActRequestFiled, Category: tapdesk.CatRequest,
		Actor:   tapdesk.Actor{UPN: "a.very.long.name.for.an.agent.who.files.requests@subsidiary.contoso-international.example", ObjectID: "0b8e2c7a-4f2d-4c55-9d1e-1f2a3b4c5d6e"},
		ActorIP: "2001:0db8:85a3:0000:0000:8a2e:0370:7334", TargetUPN: "someone.with.an.equally.long.principal.name@another-subsidiary.contoso.example",
		TargetID: "6f1c9a2e-0000-4000-8000-00000000abcd", RequestID: "01JDQ8Z3W4X5Y6Z7A8B9C0D1E2",
		Details: map[string]string{"filter": strings.Repeat("activity=Deny+request&actor=", 8), "user_agent": strings.Repeat("Mozilla/5.0(X11;Linux)", 6)}}
	if err := d.app.db.AppendEvent(context.Background(), long); err != nil {
		t.Fatal(err)
	}
	tab := newTab(t, exe)
	signInAs(t, tab, d.baseURL+"/", "auditor")
	for _, vp := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{{"desktop", 1366, 900, false}, {"phone", 375, 812, true}} {
		t.Run(vp.name, func(t *testing.T) {
			if _, err := chromedp.Call(tab, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
				Width: vp.width, Height: vp.height, DeviceScaleFactor: 1, Mobile: vp.mobile}); err != nil {
				t.Fatal(err)
			}
			do(t, tab, chromedp.Navigate(d.baseURL+"/audit"), chromedp.WaitVisible(`[data-testid="audit"]`))
			// The page's own content: main and everything in it. (The
			// header is the layout's.)
			const overflow = `(() => { const m = document.querySelector("main"); let right = 0;
				for (const el of m.querySelectorAll("*")) right = Math.max(right, el.getBoundingClientRect().right);
				return Math.max(m.scrollWidth - m.clientWidth, right - window.innerWidth, document.documentElement.scrollWidth - window.innerWidth); })()`
			if px := get(t, tab, chromedp.Evaluate[float64](overflow)); px > 0.5 {
				t.Errorf("the audit page is %.0f px wider than %d px", px, vp.width)
			}
			do(t, tab, chromedp.Click(`[data-testid="audit"] tbody tr:first-child details summary`))
			if open := get(t, tab, chromedp.Evaluate[bool](`document.querySelector('[data-testid="audit"] tbody tr details').open`)); !open {
				t.Fatal("the details did not unfold")
			}
			if px := get(t, tab, chromedp.Evaluate[float64](overflow)); px > 0.5 {
				t.Errorf("with details unfolded the audit page is %.0f px wider than %d px", px, vp.width)
			}
			shot(t, tab, "audit-"+vp.name)
			if vp.mobile {
				if get(t, tab, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('[data-testid="audit"] thead')).display`)) != "none" {
					t.Error("the table keeps its header row on a phone: no cards")
				}
			}
		})
	}
}
