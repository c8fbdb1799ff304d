package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/tapdesk/tapdesk"
)

// viewport is a screen the pages must fit.
type viewport struct {
	name          string
	width, height int64
	dark          bool
}

var (
	phone   = viewport{"phone", 375, 812, false}
	desktop = viewport{"desktop", 1366, 900, false}
)

// designPage is one page as one person meets it.
type designPage struct {
	persona, name, path, ready string
}

// requestsInEveryState files requests through the real handlers and moves
// them to pending, approved, denied, cancelled, issued and revoked; it
// returns their paths by state.
func requestsInEveryState(t *testing.T, d *testDemo) map[string]string {
	t.Helper()
	agent := d.browser(t)
	agent.signIn("/", "agent")
	approver := d.browser(t)
	approver.signIn("/", "approver")
	decide := func(path, action string, form url.Values) {
		t.Helper()
		approver.get(path).status(http.StatusOK).submit(`form[action$="/`+action+`"]`, form).status(http.StatusOK)
	}
	own := func(path, action string) {
		t.Helper()
		agent.get(path).status(http.StatusOK).submit(`form[action$="/`+action+`"]`, nil).status(http.StatusOK)
	}
	paths := map[string]string{
		// A privileged target: the approval page names the role.
		"pending":   fileRequestFor(t, agent, "grace.global@contoso.example", "Locked out after a phone swap; needs a pass to register the new Authenticator"),
		"approved":  fileRequestFor(t, agent, "nina.newhire@contoso.example", "New starter, first day, no methods yet"),
		"denied":    fileRequestFor(t, agent, "chen.wei@contoso.example", "Lost phone"),
		"cancelled": fileRequestFor(t, agent, "marco.rossi@contoso.example", "Caller hung up"),
		"issued":    fileRequestFor(t, agent, "omar.haddad@contoso.example", "New laptop, no passkey yet"),
		"revoked":   fileRequestFor(t, agent, "sofia.garcia@contoso.example", "Forgot PIN"),
	}
	for _, s := range []string{"approved", "issued", "revoked"} {
		decide(paths[s], "approve", nil)
	}
	decide(paths["denied"], "deny", url.Values{"reason": {"The ticket names another person; call the user back on the number in HR's record first."}})
	own(paths["cancelled"], "cancel")
	own(paths["issued"], "reveal")
	own(paths["revoked"], "reveal")
	own(paths["revoked"], "revoke")
	return paths
}

// TestDesignDarkScheme opens a few pages on a phone in the dark scheme:
// no page is wider than the screen, the layout's landmarks are there, and
// the skip link leads to the content. (Every page in the light scheme at
// both sizes, with axe-core, is TestEveryPageInTheBrowser's.) With
// TAPDESK_SCREENSHOTS set, each page is saved as <viewport>-<page>.png.
func TestDesignDarkScheme(t *testing.T) {
	exe := chromium(t)
	// One agent files a request of every kind and three reveals: more
	// than the default limits let one person do in ten minutes.
	limits, err := tapdesk.ParseRateLimits("file=off,reveal=off", tapdesk.DefaultRateLimits())
	if err != nil {
		t.Fatal(err)
	}
	d := startTestDemoWith(t, func(o *demoOptions) { o.RateLimits = limits })
	paths := requestsInEveryState(t, d)
	nina := "/users/" + d.userID(t, "nina.newhire@contoso.example")
	pages := []designPage{
		{"agent", "dashboard-agent", "/", "main"},
		{"agent", "users", "/users?q=nina", `[data-testid="results"]`},
		{"agent", "user-card", nina, `[data-testid="user-card"]`},
		{"agent", "request-form", "/requests/new?user=" + url.QueryEscape(d.userID(t, "fatima.zahra@contoso.example")), "#ticket_ref"},
		{"agent", "error-404", "/requests/00000000-no-such-request", `[data-testid="error"]`},
		{"approver", "dashboard-approver", "/", "main"},
		{"approver", "approval", paths["pending"], `[data-testid="approve"]`},
		{"auditor", "dashboard-auditor", "/", "main"},
		{"auditor", "audit", "/audit", `[data-testid="audit"]`},
		{"auditor", "audit-verify", "/audit/verify", "main"},
	}
	for _, s := range []string{"pending", "approved", "denied", "cancelled", "issued", "revoked"} {
		pages = append(pages, designPage{"agent", "request-" + s, paths[s], `[data-testid="state"]`})
	}

	// The dark scheme changes colours only: a few pages show it.
	var dark []designPage
	for _, p := range pages {
		if p.name == "dashboard-agent" || p.name == "approval" || p.name == "request-denied" {
			dark = append(dark, p)
		}
	}
	for _, vp := range []viewport{{"phone-dark", 375, 812, true}} {
		t.Run(vp.name, func(t *testing.T) {
			pages := dark
			// A tab lives for a few pages: its context has a deadline.
			for start := 0; start < len(pages); {
				end := start + 1
				for end < len(pages) && end-start < 5 && pages[end].persona == pages[start].persona {
					end++
				}
				t.Run(pages[start].name, func(t *testing.T) {
					tab := newTab(t, exe)
					emulate(t, tab, vp, "screen")
					signInAs(t, tab, d.baseURL+"/", pages[start].persona)
					for _, p := range pages[start:end] {
						doRetry(t, tab, chromedp.Navigate(d.baseURL+p.path), chromedp.WaitVisible(p.ready))
						checkFits(t, tab, vp, p.name)
						shot(t, tab, vp.name+"-"+p.name)
					}
				})
				start = end
			}
		})
	}
}

// signedInAs is a new HTTP browser signed in as persona.
func signedInAs(t *testing.T, d *testDemo, persona string) *browser {
	b := d.browser(t)
	b.signIn("/", persona)
	return b
}

// emulate sets the tab's screen size, colour scheme and media type.
func emulate(t *testing.T, tab context.Context, vp viewport, media string) {
	t.Helper()
	var opts []chromedp.EmulateViewportOption
	if vp.width < 600 {
		opts = append(opts, chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	do(t, tab, chromedp.EmulateViewport(vp.width, vp.height, opts...))
	scheme := "light"
	if vp.dark {
		scheme = "dark"
	}
	if _, err := chromedp.Call(tab, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: media,
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}}); err != nil {
		t.Fatal(err)
	}
}

// checkFits fails when the page is wider than the screen, naming the
// widest elements that stick out, or lacks the layout's landmarks.
func checkFits(t *testing.T, tab context.Context, vp viewport, page string) {
	t.Helper()
	wide := get(t, tab, chromedp.Evaluate[string](fmt.Sprintf(`(() => {
		const w = %d;
		if (document.documentElement.scrollWidth <= w) return "";
		return [...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > w + 1)
			.slice(-5).map(e => e.tagName.toLowerCase() + (e.className ? "." + e.className : "") + " " + Math.round(e.getBoundingClientRect().right) + "px").join(", ")
			+ " (page " + document.documentElement.scrollWidth + "px)";
	})()`, vp.width)))
	if wide != "" {
		t.Errorf("%s at %s is wider than the screen: %s", page, vp.name, wide)
	}
	landmarks := get(t, tab, chromedp.Evaluate[bool](`document.querySelector("body > a.skip-link[href='#main']") !== null &&
		document.querySelector("main#main") !== null && document.querySelector("body > header") !== null`))
	if !landmarks {
		t.Errorf("%s lacks the skip link, the banner or main", page)
	}
}

// pressSlash presses "/" as a keyboard does: one keydown that carries its
// text, so a handler that prevents it also prevents the character (a
// separate char event, as chromedp.KeyEvent sends, would not be).
func pressSlash(t *testing.T, tab context.Context) {
	t.Helper()
	for _, ev := range []input.DispatchKeyEventParams{
		{Type: input.DispatchKeyEventTypeKeyDown, Key: "/", Code: "Slash", Text: "/", UnmodifiedText: "/", WindowsVirtualKeyCode: 191, NativeVirtualKeyCode: 191},
		{Type: input.DispatchKeyEventTypeKeyUp, Key: "/", Code: "Slash", WindowsVirtualKeyCode: 191, NativeVirtualKeyCode: 191},
	} {
		if _, err := chromedp.Call(tab, input.DispatchKeyEvent, ev); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDesignBehaviour: the "/" shortcut, the confirmation dialog of a
// form[data-confirm] from the keyboard, and the print style, in Chromium.
func TestDesignBehaviour(t *testing.T) {
	exe := chromium(t)
	d := startTestDemo(t)
	tab := newTab(t, exe)
	signInAs(t, tab, d.baseURL+"/", "agent")
	active := func() string {
		return get(t, tab, chromedp.Evaluate[string](`document.activeElement ? (document.activeElement.id || document.activeElement.dataset.testid || document.activeElement.tagName) : ""`))
	}

	t.Run("slash focuses the user search", func(t *testing.T) {
		doRetry(t, tab, chromedp.Navigate(d.baseURL+"/"), chromedp.WaitVisible(`#q`))
		pressSlash(t, tab)
		if got := active(); got != "q" {
			t.Fatalf("after / the focus is on %q, not the search", got)
		}
		// Typing in the field: "/" is a character like any other.
		do(t, tab, chromedp.KeyEvent("a"))
		pressSlash(t, tab)
		do(t, tab, chromedp.KeyEvent("b"))
		if v := get(t, tab, chromedp.Evaluate[string](`document.getElementById("q").value`)); v != "a/b" {
			t.Errorf("typing a/b in the search gave %q", v)
		}
	})

	req := fileRequestFor(t, signedInAs(t, d, "agent"), "nina.newhire@contoso.example", "New starter, first day")
	t.Run("slash elsewhere opens the search page", func(t *testing.T) {
		doRetry(t, tab, chromedp.Navigate(d.baseURL+req), chromedp.WaitVisible(`[data-testid="state"]`))
		pressSlash(t, tab)
		do(t, tab, chromedp.WaitVisible(`#q`))
		if p := get(t, tab, chromedp.Evaluate[string](`location.pathname`)); p != "/users" {
			t.Fatalf("/ on a request page went to %s", p)
		}
	})

	t.Run("a form with data-confirm asks first", func(t *testing.T) {
		// The request page's Cancel names its <dialog> (views.ConfirmButton):
		// from the keyboard, as from the mouse (TestBrowserLiveStatus).
		doRetry(t, tab, chromedp.Navigate(d.baseURL+req), chromedp.WaitVisible(`[data-testid="cancel"]`))
		do(t, tab, chromedp.Focus(`[data-testid="cancel"]`), chromedp.KeyEvent("\r"), chromedp.WaitVisible(`dialog.confirm[open]`))
		if got := get(t, tab, chromedp.Text(`dialog.confirm[open] [data-testid="confirm-effect"]`)); got == "" {
			t.Error("the dialog does not say what cancelling does")
		}
		if got := active(); got != "confirm-keep" {
			t.Errorf("the dialog opened with the focus on %q, not on the harmless answer", got)
		}
		// Escape: nothing is sent, the focus goes back to the button.
		do(t, tab, chromedp.KeyEvent("\x1b"), chromedp.WaitNotPresent(`dialog.confirm[open]`))
		if got := active(); got != "cancel" {
			t.Errorf("after Escape the focus is on %q, not the Cancel button", got)
		}
		if p := get(t, tab, chromedp.Evaluate[string](`location.pathname`)); p != req {
			t.Fatalf("Escape sent the form: the page is %s", p)
		}
		if got := stateOf(t, d, req); got != tapdesk.StatePending {
			t.Fatalf("Escape changed the request to %s", got)
		}
		// Confirmed: the dialog's form is sent as the confirmation page's is.
		do(t, tab, chromedp.Click(`[data-testid="cancel"]`), chromedp.WaitVisible(`dialog.confirm[open]`),
			chromedp.Click(`dialog.confirm[open] [data-testid="confirm-cancel"]`), chromedp.WaitVisible(`[data-testid="flash"]`))
		if s := get(t, tab, chromedp.Text(`[data-testid="state"]`)); s != "Cancelled" {
			t.Fatalf("after confirming, the request is %q", s)
		}
	})

	t.Run("print drops navigation and buttons", func(t *testing.T) {
		emulate(t, tab, desktop, "print")
		defer emulate(t, tab, desktop, "screen")
		doRetry(t, tab, chromedp.Navigate(d.baseURL+req), chromedp.WaitReady(`[data-testid="state"]`))
		shown := get(t, tab, chromedp.Evaluate[string](`[...document.querySelectorAll("nav, button, .skip-link, .demo-banner, form")]
			.filter(e => getComputedStyle(e).display !== "none").map(e => e.tagName.toLowerCase() + "." + e.className).join(", ")`))
		if shown != "" {
			t.Errorf("printed: %s", shown)
		}
		if !get(t, tab, chromedp.Evaluate[bool](`getComputedStyle(document.querySelector("dl")).display !== "none" && getComputedStyle(document.querySelector(".timeline")).display !== "none"`)) {
			t.Error("the request's details or timeline are not printed")
		}
		shot(t, tab, "print-request")
	})
}
