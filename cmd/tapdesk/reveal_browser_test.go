package main

import (
	"context"
	"html"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/heapprofiler"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/tapdesk/tapdesk"
)

// Issue 9, item 7: the pass in the browser. The reveal page holds the pass
// once; Copy exists only where the script runs; the pass leaves the page
// when the page is left or the pass expires, and the clipboard is emptied
// a minute after Copy if it still holds the pass.

// TestRevealPageHoldsThePassOnce counts the pass in the reveal response as
// sent: attributes, labels, script data and hidden inputs count too. The
// spelling is another text and is grouped as the agent reads it aloud.
func TestRevealPageHoldsThePassOnce(t *testing.T) {
	d, agent, approver := startClaimsDemo(t)
	path, _ := approvedFor(t, agent, approver, "nina.newhire@contoso.example")
	agent.get(path).submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
	pass, ok := shownPass(agent.doc().Find(`[data-testid="pass"]`))
	if !ok || !d.fake.Tenant().CheckPass(d.userID(t, "nina.newhire@contoso.example"), pass) {
		t.Fatalf("the reveal page does not show Nina's pass:\n%s", agent.body)
	}
	n := strings.Count(agent.body, pass)
	if esc := html.EscapeString(pass); esc != pass {
		n += strings.Count(agent.body, esc)
	}
	if n != 1 {
		t.Errorf("the pass occurs %d times in the reveal page's HTML, want once", n)
	}
	// Each character is spelled once, in groups of four.
	groups := agent.doc().Find(`[data-testid="spelled"] ol`)
	if items := groups.Find("li").Length(); items != len(pass) {
		t.Errorf("the spelling has %d entries for a pass of %d characters", items, len(pass))
	}
	if want := (len(pass) + 3) / 4; groups.Length() != want {
		t.Errorf("the spelling is in %d groups, want %d of four", groups.Length(), want)
	}
	// The Copy button needs the script: it is sent hidden.
	if _, hidden := agent.doc().Find(`[data-testid="copy"]`).Attr("hidden"); !hidden {
		t.Error("the Copy button is sent visible; without the script it does nothing")
	}
}

// testClock is installed in every page of a tab before the page's own
// scripts run: Date.now stands still at the time the page loaded and moves
// only by what the test advances, and the setTimeout timers that fall due
// within an advance run then. Real time passing does not count, so "a
// second before the minute is up" is a second before however slowly the
// test gets there. The page's script is unchanged and keeps its real
// delays (60 seconds for the clipboard), which still fire in real time as
// well: far longer than the test takes between Copy and its checks.
const browserTestClock = `(() => {
  const realSet = window.setTimeout, realClear = window.clearTimeout;
  let now = Date.now(), seq = 0;
  const pending = new Map();
  Date.now = () => now;
  window.setTimeout = (fn, ms = 0, ...args) => {
    const id = ++seq, run = () => { if (pending.delete(id)) fn(...args); };
    pending.set(id, { due: now + Number(ms), run, real: realSet(run, ms) });
    return id;
  };
  window.clearTimeout = (id) => {
    const p = pending.get(id);
    if (p) { realClear(p.real); pending.delete(id); }
  };
  window.testClock = { advance(ms) {
    now += ms;
    const due = [...pending.values()].filter((p) => p.due <= now).sort((a, b) => a.due - b.due);
    for (const p of due) { realClear(p.real); p.run(); }
  } };
})();`

// revealInBrowser signs the agent in in tab, opens the approved request at
// path and presses Issue and reveal.
func revealInBrowser(t *testing.T, tab context.Context, base, path string) {
	t.Helper()
	do(t, tab, chromedp.Navigate(base+path), chromedp.WaitVisible(`[data-testid="reveal"]`),
		chromedp.Click(`[data-testid="reveal"]`), chromedp.WaitVisible(`[data-testid="pass"]`))
}

// visible says whether the element matching sel takes up room on the page.
func visible(t *testing.T, tab context.Context, sel string) bool {
	t.Helper()
	return get(t, tab, chromedp.Evaluate[bool](`(() => { const e = document.querySelector(`+"`"+sel+"`"+`);
		return !!e && getComputedStyle(e).display !== "none" && e.getClientRects().length > 0; })()`))
}

func clipboardText(t *testing.T, tab context.Context) string {
	t.Helper()
	return get(t, tab, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
}

// clipboardEmptied waits for the page's script to empty the clipboard (its
// check is asynchronous: milliseconds, or seconds on a loaded machine) and
// says whether it did within 20 seconds.
func clipboardEmptied(t *testing.T, tab context.Context) bool {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; {
		if clipboardText(t, tab) == "" {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		do(t, tab, chromedp.Sleep(100*time.Millisecond))
	}
}

// pageHTML is the page as the browser holds it now (after the script).
func pageHTML(t *testing.T, tab context.Context) string {
	t.Helper()
	return get(t, tab, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
}

// TestRevealPassInTheBrowser drives the reveal page in a real headless
// Chromium, with the script off and on.
func TestRevealPassInTheBrowser(t *testing.T) {
	exe := chromium(t)
	d, agent, approver := startClaimsDemo(t)

	// One browser, the agent signed in: a tab with the script and one
	// without (script execution is switched per tab).
	tab := newTab(t, exe)
	for _, perm := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(tab, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: perm}, Setting: cdpbrowser.PermissionSettingGranted, Origin: d.baseURL}); err != nil {
			t.Fatal(err)
		}
	}
	// A headless tab may not count as focused; the clipboard needs focus.
	if _, err := chromedp.Call(tab, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(tab, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: browserTestClock}); err != nil {
		t.Fatal(err)
	}
	signInAs(t, tab, d.baseURL+"/", "agent")

	t.Run("without the script there is no Copy button", func(t *testing.T) {
		path, _ := approvedFor(t, agent, approver, "lukas.becker@contoso.example")
		noScript, cancel := chromedp.NewContext(tab)
		defer cancel()
		if _, err := chromedp.Call(noScript, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatal(err)
		}
		revealInBrowser(t, noScript, d.baseURL, path)
		if get(t, noScript, chromedp.Evaluate[string](`document.querySelector(".countdown").textContent`)) != "" {
			t.Fatal("the script ran: the countdown is filled in")
		}
		if visible(t, noScript, `button.copy`) {
			t.Error("without the script the Copy button shows, and does nothing")
		}
		if !visible(t, noScript, `[data-testid="pass"]`) || !visible(t, noScript, `[data-testid="spelled"]`) {
			t.Error("without the script the pass or its spelling is not shown")
		}
	})

	t.Run("with the script", func(t *testing.T) {
		t.Run("Copy, and the clipboard emptied a minute later", func(t *testing.T) {
			path, _ := approvedFor(t, agent, approver, "marco.rossi@contoso.example")
			revealInBrowser(t, tab, d.baseURL, path)
			pass := get(t, tab, chromedp.Evaluate[string](`document.querySelector('[data-testid="pass"]').textContent`))
			if !d.fake.Tenant().CheckPass(d.userID(t, "marco.rossi@contoso.example"), pass) {
				t.Fatalf("the page shows %q, not Marco's pass", pass)
			}
			if !visible(t, tab, `button.copy`) {
				t.Fatal("with the script the Copy button is not shown")
			}
			do(t, tab, chromedp.Click(`button.copy`), chromedp.WaitVisible(`[data-testid="copied"]`))
			if got := clipboardText(t, tab); got != pass {
				t.Fatalf("after Copy the clipboard holds %q, want the pass", got)
			}
			get(t, tab, chromedp.Evaluate[any](`testClock.advance(`+ms(tapdesk.PassClipboardHold-time.Second)+`)`))
			do(t, tab, chromedp.Sleep(300*time.Millisecond))
			if got := clipboardText(t, tab); got != pass {
				t.Fatalf("a second before the minute is up the clipboard holds %q, want the pass still", got)
			}
			get(t, tab, chromedp.Evaluate[any](`testClock.advance(1000)`))
			if !clipboardEmptied(t, tab) {
				t.Fatal("a minute after Copy the clipboard still holds the pass")
			}

			// The lifetime ends: the pass and its spelling leave the page.
			get(t, tab, chromedp.Evaluate[any](`testClock.advance(61 * 60 * 1000)`))
			do(t, tab, chromedp.WaitVisible(`[data-testid="pass-expired"]`))
			if body := pageHTML(t, tab); strings.Contains(body, pass) || strings.Contains(body, `data-testid="spelled"`) {
				t.Error("the pass or its spelling is still in the page after the pass expired")
			}
		})

		t.Run("leaving the page takes the pass along", func(t *testing.T) {
			path, _ := approvedFor(t, agent, approver, "chen.wei@contoso.example")
			revealInBrowser(t, tab, d.baseURL, path)
			pass := get(t, tab, chromedp.Evaluate[string](`document.querySelector('[data-testid="pass"]').textContent`))
			do(t, tab, chromedp.Click(`button.copy`), chromedp.WaitVisible(`[data-testid="copied"]`))
			// Leaving starts with beforeunload: the script checks the
			// clipboard (it still holds the pass) and empties it. The event
			// is sent by hand because whether the browser lets the check
			// finish before it tears the page down is a race the script
			// cannot win every time on a loaded machine (best effort).
			get(t, tab, chromedp.Evaluate[any](`window.dispatchEvent(new Event("beforeunload")); null`))
			if !clipboardEmptied(t, tab) {
				t.Error("as the reveal page is left the clipboard still holds the pass")
			}
			do(t, tab, chromedp.Navigate(d.baseURL+"/"), chromedp.WaitVisible(`[data-testid="mine"]`))
			if got := clipboardText(t, tab); got == pass {
				t.Error("after leaving the reveal page the clipboard still holds the pass")
			}
			// Back: the page was a POST answer sent no-store, so Chromium
			// neither caches it nor keeps it in the back-forward cache
			// (HTTPMethodNotGET); it asks to send the form again
			// (ERR_CACHE_MISS) and shows no pass.
			switch err := chromedp.Do(tab, chromedp.NavigateBack()); {
			case err == nil:
				t.Log("Back showed the reveal page again (from the back-forward cache)")
			case strings.Contains(err.Error(), "ERR_CACHE_MISS"):
				t.Log("Back asked to send the form again (ERR_CACHE_MISS): the page was not kept")
			default:
				t.Fatal(err)
			}
			if body := pageHTML(t, tab); strings.Contains(body, pass) {
				t.Errorf("after leaving and coming Back the page holds the pass")
			}
		})

		// Browsers that keep a page in the back-forward cache fire pagehide
		// (persisted) and show the very same page on Back. Chromium does not
		// keep POST answers, so the event is sent here as such a browser
		// sends it, to a page that stays alive.
		t.Run("pagehide into the back-forward cache takes the pass along", func(t *testing.T) {
			path, _ := approvedFor(t, agent, approver, "fatima.zahra@contoso.example")
			revealInBrowser(t, tab, d.baseURL, path)
			pass := get(t, tab, chromedp.Evaluate[string](`document.querySelector('[data-testid="pass"]').textContent`))
			do(t, tab, chromedp.Click(`button.copy`), chromedp.WaitVisible(`[data-testid="copied"]`))
			if !heapHolds(t, tab, pass) {
				t.Fatal("a heap snapshot of the page does not show the pass it shows: the check below would prove nothing")
			}
			get(t, tab, chromedp.Evaluate[bool](`dispatchEvent(new PageTransitionEvent("pagehide", { persisted: true }))`))
			do(t, tab, chromedp.WaitVisible(`[data-testid="pass-left"]`))
			if body := pageHTML(t, tab); strings.Contains(body, pass) || strings.Contains(body, `data-testid="spelled"`) {
				t.Error("after pagehide the pass or its spelling is still in the page")
			}
			if !clipboardEmptied(t, tab) {
				t.Error("after pagehide the clipboard still holds the pass")
			}
			// The script's own memory: nothing it can reach holds the pass.
			if heapHolds(t, tab, pass) {
				t.Error("after pagehide the page's heap still holds the pass")
			}
		})
	})
}

// heapHolds takes a heap snapshot of the page in tab (the browser collects
// garbage first, so it holds what the page can still reach) and says
// whether s is among its strings.
func heapHolds(t *testing.T, tab context.Context, s string) bool {
	t.Helper()
	listen, stop := context.WithCancel(tab)
	defer stop()
	var mu sync.Mutex
	var snapshot strings.Builder
	if err := chromedp.Listen(listen, func(ev any) {
		if c, ok := ev.(*heapprofiler.EventAddHeapSnapshotChunk); ok {
			mu.Lock()
			snapshot.WriteString(c.Chunk)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	// Listen delivers the chunks before the command's reply.
	if _, err := chromedp.Call(tab, heapprofiler.TakeHeapSnapshot, heapprofiler.TakeHeapSnapshotParams{}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if snapshot.Len() == 0 {
		t.Fatal("the heap snapshot came back empty")
	}
	return strings.Contains(snapshot.String(), s)
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
