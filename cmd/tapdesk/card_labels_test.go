package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// cardLabelReport lists, for every cell of every card table on the page,
// its column's heading and the label the phone layout draws before it
// (its ::before content, quotes and all).
const cardLabelReport = `JSON.stringify([...document.querySelectorAll("table.cards")].flatMap((t) => {
  const heads = [...t.querySelectorAll("thead th")].map((th) => th.textContent.trim());
  return [...t.querySelectorAll("tbody tr")].flatMap((tr) => [...tr.cells].map((td, i) => ({
    table: t.dataset.testid || "", head: heads[i] || "", label: getComputedStyle(td, "::before").content })));
}))`

// On a phone, without JavaScript, every cell of the dashboards' card
// tables is labelled with its column: the labels come from app.css by the
// column set's class, not from a data-label on each cell (nor app.js).
func TestCardLabelsOnAPhoneWithoutScript(t *testing.T) {
	exe := chromium(t)
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	fileRequestFor(t, agent, "nina.newhire@contoso.example", "New starter, first day, no methods yet")

	for _, persona := range []string{"agent", "auditor"} {
		t.Run(persona, func(t *testing.T) {
			tab := newTab(t, exe)
			signInAs(t, tab, d.baseURL+"/", persona)
			if _, err := chromedp.Call(tab, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
				t.Fatal(err)
			}
			if _, err := chromedp.Call(tab, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
				Width: 375, Height: 812, DeviceScaleFactor: 1, Mobile: true}); err != nil {
				t.Fatal(err)
			}
			doRetry(t, tab, chromedp.Navigate(d.baseURL+"/"), chromedp.WaitVisible(`table.cards`))
			// app.js, had it run, would have copied the headings onto the cells.
			if n := get(t, tab, chromedp.Evaluate[float64](`document.querySelectorAll("td[data-label]").length`)); n != 0 {
				t.Fatalf("%v cells carry a data-label: the script ran, or the server wrote them", n)
			}
			var cells []struct{ Table, Head, Label string }
			if err := json.Unmarshal([]byte(get(t, tab, chromedp.Evaluate[string](cardLabelReport))), &cells); err != nil {
				t.Fatal(err)
			}
			if len(cells) == 0 {
				t.Fatal("no card table cell on the dashboard")
			}
			labels := map[string]string{"Last run on this instance": "Last run"}
			for _, c := range cells {
				want := c.Head
				if l, ok := labels[want]; ok {
					want = l
				}
				if c.Label != `"`+want+`"` {
					t.Errorf("table %s: a cell under %q is labelled %s on a phone", c.Table, c.Head, c.Label)
				}
			}
			t.Logf("%d cells labelled", len(cells))
		})
	}
}

// A list row's time is written once by the server (its UTC text and a
// datetime to the minute); app.js shows it in the reader's zone and keeps
// the UTC time in its title, as the title the server used to write did.
func TestListRowTimeKeepsUTCInTitle(t *testing.T) {
	exe := chromium(t)
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	fileRequestFor(t, agent, "nina.newhire@contoso.example", "New starter, first day, no methods yet")
	served := agent.get("/").doc().Find(`table[data-testid="mine"] tbody time`).First()
	utc := served.Text()
	if _, ok := served.Attr("title"); ok || !strings.HasSuffix(utc, " UTC") {
		t.Fatalf("the server wrote the row's time as %q (title %q), want UTC text and no title", utc, served.AttrOr("title", ""))
	}

	tab := newTab(t, exe)
	signInAs(t, tab, d.baseURL+"/", "agent")
	doRetry(t, tab, chromedp.Navigate(d.baseURL+"/"), chromedp.WaitVisible(`table[data-testid="mine"]`))
	sel := `table[data-testid="mine"] tbody time`
	if title := get(t, tab, chromedp.AttributeValue(sel, "title")).Value; title != utc {
		t.Errorf("the row's time has title %q in the browser, want %q", title, utc)
	}
	if text := get(t, tab, chromedp.Text(sel)); text == utc || !strings.Contains(text, "ago") && !strings.Contains(text, "just now") {
		t.Errorf("app.js did not rewrite the row's time: %q", text)
	}
}
