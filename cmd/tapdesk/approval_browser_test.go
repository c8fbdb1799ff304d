package main

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// On a phone (375×812) the approver sees Approve on the first screen,
// without scrolling, and the page does not scroll sideways; Deny opens
// from its disclosure without any script.
func TestApprovalPageOnAPhone(t *testing.T) {
	exe := chromium(t)
	d := startTestDemoWith(t, func(o *demoOptions) { o.WorkingHours = outOfHoursNow(t) })
	agent := d.browser(t)
	agent.signIn("/", "agent")
	// Grace: a privileged target with several risks makes the longest top.
	req := fileRequestFor(t, agent, "grace.global@contoso.example", "Lost her security key on a trip; needs to register a new one today")

	phone := newTab(t, exe)
	do(t, phone, chromedp.EmulateViewport(375, 812, chromedp.EmulateScale(2)))
	signInAs(t, phone, d.baseURL+req, "approver")
	do(t, phone, chromedp.Navigate(d.baseURL+req), chromedp.WaitVisible(`[data-testid="approve"]`))
	shot(t, phone, "approval-phone")

	bottom := get(t, phone, chromedp.Evaluate[float64](`(() => {
		const r = document.querySelector('[data-testid="approve"]').getBoundingClientRect();
		return r.bottom; })()`))
	top := get(t, phone, chromedp.Evaluate[float64](`document.querySelector('[data-testid="approve"]').getBoundingClientRect().top`))
	inner := get(t, phone, chromedp.Evaluate[float64](`window.innerHeight`))
	if top < 0 || bottom > inner || inner > 812 {
		t.Errorf("Approve spans %.0f–%.0f px on a %.0f px high first screen", top, bottom, inner)
	}
	if w := get(t, phone, chromedp.Evaluate[float64](`document.querySelector('[data-testid="target-glance"]').scrollWidth - document.querySelector('[data-testid="target-glance"]').clientWidth`)); w > 0 {
		t.Errorf("the target summary is %.0f px wider than its box on a phone", w)
	}
	// checkVisibility: a closed <details> hides its content with
	// content-visibility, which getClientRects does not see.
	if get(t, phone, chromedp.Evaluate[bool](`document.querySelector('#reason').checkVisibility()`)) {
		t.Error("the deny reason shows before Deny was opened")
	}
	do(t, phone, chromedp.Click(`[data-testid="deny-open"]`))
	if !get(t, phone, chromedp.Evaluate[bool](`document.querySelector('#reason').checkVisibility()`)) {
		t.Error("opening Deny does not show the reason field")
	}
	shot(t, phone, "approval-phone-deny")
}
