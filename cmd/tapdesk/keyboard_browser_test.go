package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// Issue 12: the whole flow by keyboard only (sign in through the persona
// picker, find the user, file, approve as a second person, reveal), once
// with the script and once with JavaScript disabled. Only Tab, Enter,
// Space, arrow keys and typed text touch the pages; opening the email's
// link and reloading the request page stand for what a person does in
// the mail client and the browser's own bar.

// tabTo presses Tab until the focused element matches sel, and checks that
// the focus can be seen there. It fails when Tab never reaches sel: the
// element cannot be reached by keyboard.
func tabTo(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	const presses = 80 // the persona picker and the forms have fewer stops
	for range presses {
		if get(t, ctx, chromedp.Evaluate[bool](`!!document.activeElement && document.activeElement.matches(`+jsString(sel)+`)`)) {
			if !get(t, ctx, chromedp.Evaluate[bool](focusShows)) {
				t.Errorf("%s has the keyboard focus but shows no focus indicator (outline or box-shadow)", sel)
			}
			return
		}
		do(t, ctx, chromedp.KeyEvent(kb.Tab))
	}
	t.Fatalf("%d presses of Tab never reached %s", presses, sel)
}

// focusShows says whether the focused element draws a focus indicator.
const focusShows = `(() => {
	const s = getComputedStyle(document.activeElement);
	return (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== "none";
})()`

// press sends keys to the focused element (text, kb.Enter, " ").
func press(t *testing.T, ctx context.Context, keys string) {
	t.Helper()
	do(t, ctx, chromedp.KeyEvent(keys))
}

// waitFor waits until sel is on the page (after a key press navigated).
func waitFor(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	doRetry(t, ctx, chromedp.WaitVisible(sel))
}

func TestKeyboardOnlyFlow(t *testing.T) {
	exe := chromium(t)
	started := time.Now()
	d := startTestDemo(t)
	root := startChromium(t, exe)
	for _, c := range []struct {
		name   string
		script bool
		upn    string
	}{
		{"with JavaScript", true, "nina.newhire@contoso.example"},
		{"without JavaScript", false, "marco.rossi@contoso.example"},
	} {
		t.Run(c.name, func(t *testing.T) {
			agent, approver := openTab(t, root), openTab(t, root)
			for _, tab := range []*checkedTab{agent, approver} {
				if _, err := chromedp.Call(tab.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !c.script}); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(agent.ctx, 2*time.Minute)
			defer cancel()
			keyboardFlow(t, d, ctx, approver, c.script, c.upn)
			for _, tab := range []*checkedTab{agent, approver} {
				for _, m := range tab.take(t, tab.ctx) {
					t.Errorf("console: %s", m)
				}
				if v := get(t, tab.ctx, chromedp.Evaluate[[]string](`window.cspViolations || []`)); len(v) > 0 {
					t.Errorf("CSP violations: %q", v)
				}
			}
		})
	}
	t.Logf("both keyboard flows in %v", time.Since(started).Round(time.Millisecond))
}

func keyboardFlow(t *testing.T, d *testDemo, agent context.Context, approverTab *checkedTab, script bool, upn string) {
	// Sign in: the persona picker's button for the agent, by Enter.
	do(t, agent, chromedp.Navigate(d.baseURL+"/"))
	waitFor(t, agent, `[data-testid="persona-agent"]`)
	tabTo(t, agent, `[data-testid="persona-agent"]`)
	press(t, agent, kb.Enter)
	waitFor(t, agent, `[data-testid="whoami"]`)

	// Find the user: the header's link to the search, the query, Enter.
	tabTo(t, agent, `header a[href="/users"]`)
	press(t, agent, kb.Enter)
	waitFor(t, agent, `#q`)
	tabTo(t, agent, `#q`)
	press(t, agent, strings.SplitN(upn, ".", 2)[0])
	press(t, agent, kb.Enter)
	waitFor(t, agent, `[data-testid="results"] a`)
	tabTo(t, agent, `[data-testid="results"] a[href$="`+d.userID(t, upn)+`"]`)
	press(t, agent, kb.Enter)
	waitFor(t, agent, `[data-testid="user-card"]`)
	tabTo(t, agent, `[data-testid="new-request"]`)
	press(t, agent, kb.Enter)
	waitFor(t, agent, `#ticket_ref`)

	// The form, field by field.
	tabTo(t, agent, `#ticket_ref`)
	press(t, agent, "INC-7001")
	tabTo(t, agent, `#justification`)
	press(t, agent, "Caller lost her phone, verified by video")
	tabTo(t, agent, `#verification`)
	press(t, agent, kb.ArrowDown)
	if v := get(t, agent, chromedp.Value(`#verification`)); v == "" {
		t.Fatal("the arrow key chose no verification method")
	}
	tabTo(t, agent, `#verification_note`)
	press(t, agent, "Video call, passport matched the HR photo")
	if get(t, agent, chromedp.Evaluate[bool](`!!document.querySelector('input[type=checkbox][name=usable_once]')`)) {
		// Space toggles the one-time checkbox; twice leaves it as it was.
		tabTo(t, agent, `input[type=checkbox][name=usable_once]`)
		before := get(t, agent, chromedp.Evaluate[bool](`document.activeElement.checked`))
		press(t, agent, " ")
		if get(t, agent, chromedp.Evaluate[bool](`document.activeElement.checked`)) == before {
			t.Error("Space does not toggle the one-time checkbox")
		}
		press(t, agent, " ")
	}
	tabTo(t, agent, `[data-testid="submit-request"]`)
	press(t, agent, kb.Enter)
	waitFor(t, agent, `[data-testid="state"]`)
	request := get(t, agent, chromedp.Location())
	if !strings.Contains(request, "/requests/") {
		t.Fatalf("filing by keyboard landed on %s", request)
	}

	// The approver follows the email's link, signs in by keyboard and
	// approves with Space.
	link := approvalLinkFor(t, d, upn)
	approver, cancel := context.WithTimeout(approverTab.ctx, 2*time.Minute)
	defer cancel()
	do(t, approver, chromedp.Navigate(link))
	waitFor(t, approver, `[data-testid="persona-approver"]`)
	tabTo(t, approver, `[data-testid="persona-approver"]`)
	press(t, approver, kb.Enter)
	waitFor(t, approver, `[data-testid="approve"]`)
	tabTo(t, approver, `[data-testid="approve"]`)
	press(t, approver, " ")
	waitFor(t, approver, `[data-testid="flash"]`)
	if state := get(t, approver, chromedp.Text(`[data-testid="state"]`)); !strings.Contains(state, "Approved") {
		t.Fatalf("after Space on Approve the request is %q", state)
	}

	// The agent reloads the request page and reveals by Enter.
	do(t, agent, chromedp.Navigate(request))
	waitFor(t, agent, `[data-testid="reveal"]`)
	tabTo(t, agent, `[data-testid="reveal"]`)
	press(t, agent, kb.Enter)
	waitFor(t, agent, `[data-testid="pass"]`)
	pass := get(t, agent, chromedp.Evaluate[string](`document.querySelector('[data-testid="pass"]').textContent.trim()`))
	if !d.fake.Tenant().CheckPass(d.userID(t, upn), pass) {
		t.Fatalf("the reveal page shows %q, not the pass", pass)
	}
	// The Copy button is sent hidden and shown by the script: the run
	// without JavaScript really had none, and the one with it had it.
	shown := get(t, agent, chromedp.Evaluate[bool](`(b => !!b && !b.hidden)(document.querySelector('[data-testid="copy"]'))`))
	if shown != script {
		t.Errorf("script %v, but the Copy button shown: %v", script, shown)
	}
}
