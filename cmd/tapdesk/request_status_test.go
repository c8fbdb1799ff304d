package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
)

// unisolated drops the isolates tapdesk.IsolateName puts around names in
// sentences.
var unisolated = strings.NewReplacer("\u2068", "", "\u2069", "").Replace

// statusPoll asks the request's status endpoint as b, with an ETag when
// etag is not empty, and returns the answer's status, ETag and body.
func statusPoll(t *testing.T, b *browser, reqPath, etag string) (int, string, map[string]string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.abs(reqPath+"/status"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	b.do(req)
	var body map[string]string
	if b.last.StatusCode == http.StatusOK && strings.Contains(b.last.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal([]byte(b.body), &body); err != nil {
			t.Fatalf("status answer is not JSON: %v\n%s", err, b.body)
		}
	}
	return b.last.StatusCode, b.last.Header.Get("ETag"), body
}

// TestRequestStatus: the request page heads with its state in words and
// the next step, and its status endpoint (what app.js polls) sees a change
// made in another browser, answers 304 while nothing changed, and is
// authorised like the page.
func TestRequestStatus(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	reqPath := fileRequestFor(t, agent, "marco.rossi@contoso.example", "Phone replaced, cannot sign in")

	head := agent.doc().Find(`[data-testid="status-head"]`)
	if got := head.Find(`[data-testid="status-headline"]`).Text(); got != "Waiting for approval" {
		t.Errorf("pending headline %q", got)
	}
	if got := head.Find(`[data-testid="status-next"]`).Text(); !strings.Contains(got, "Waiting for an approver to decide, by ") {
		t.Errorf("pending next step %q", got)
	}
	if u, _ := head.Attr("data-live-url"); u != reqPath+"/status" {
		t.Errorf("live url %q", u)
	}
	if href, _ := head.Find(`[data-testid="refresh"]`).Attr("href"); href != reqPath {
		t.Errorf("no Refresh link for browsers without JavaScript (href %q)", href)
	}

	code, etag, body := statusPoll(t, agent, reqPath, "")
	if code != http.StatusOK || body["state"] != "pending" || etag == "" {
		t.Fatalf("status: %d %q %v", code, etag, body)
	}
	if v, _ := head.Attr("data-live-version"); `"`+v+`"` != etag {
		t.Errorf("the page's version %q is not the endpoint's ETag %s", v, etag)
	}
	if code, _, _ := statusPoll(t, agent, reqPath, etag); code != http.StatusNotModified {
		t.Errorf("unchanged request: %d, want 304", code)
	}

	t.Run("unauthorised viewers get what the page gives them", func(t *testing.T) {
		agent2 := d.browser(t)
		agent2.signIn("/", "agent2")
		agent2.get(reqPath).status(http.StatusNotFound)
		if code, _, _ := statusPoll(t, agent2, reqPath, ""); code != http.StatusNotFound {
			t.Errorf("another agent polls: %d, want 404", code)
		}
		anon := d.browser(t)
		c := noRedirectClient(anon)
		res, err := c.Get(anon.abs(reqPath + "/status"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/auth/login") {
			t.Errorf("anonymous poll: %d to %q, want 303 to sign-in", res.StatusCode, res.Header.Get("Location"))
		}
		auditor := d.browser(t)
		auditor.signIn("/", "auditor")
		if code, _, body := statusPoll(t, auditor, reqPath, ""); code != http.StatusOK || body["state"] != "pending" {
			t.Errorf("auditor polls: %d %v", code, body)
		}
	})

	// The approver approves in another browser: the agent's poll with the
	// old ETag sees it.
	approveAs(t, d, reqPath, "approver")
	code, etag2, body := statusPoll(t, agent, reqPath, etag)
	if code != http.StatusOK || body["state"] != "approved" || body["label"] != "Approved" || etag2 == etag {
		t.Fatalf("after approval the poll says %d %v (etag %s -> %s)", code, body, etag, etag2)
	}
	agent.get(reqPath).status(http.StatusOK)
	head = agent.doc().Find(`[data-testid="status-head"]`)
	if got := head.Find(`[data-testid="status-headline"]`).Text(); got != "Approved: ready to issue" {
		t.Errorf("approved headline %q", got)
	}
	if head.Find(`form[action$="/reveal"] [data-testid="reveal"]`).Length() != 1 {
		t.Errorf("Issue and reveal is not the status header's action:\n%s", agent.body)
	}
	// The approver, not the agent, reads whom it waits for.
	approver := d.browser(t)
	approver.signIn(reqPath, "approver")
	if got := unisolated(approver.text(`[data-testid="status-next"]`)); !strings.Contains(got, "Waiting for Alex Agent to issue the pass") {
		t.Errorf("approver's next step %q", got)
	}
}

// TestRequestEndedReasonAndRefile: a denied or expired request says why at
// the top, and "File a new request" opens the form filled in from it,
// except the verification note, and only for someone who may see it.
func TestRequestEndedReasonAndRefile(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	marco := d.userID(t, "marco.rossi@contoso.example")
	reqPath := fileRequestFor(t, agent, "marco.rossi@contoso.example", "Phone replaced, cannot sign in")
	approver := d.browser(t)
	approver.signIn(reqPath, "approver").submit(`form[action$="/deny"]`, url.Values{"reason": {"The callback number is not the one in HR"}}).status(http.StatusOK)

	agent.get(reqPath).status(http.StatusOK)
	if got := agent.text(`[data-testid="state"]`); got != "Denied" {
		t.Fatalf("state %q", got)
	}
	if got := unisolated(agent.text(`[data-testid="status-reason"]`)); !strings.Contains(got, "Denied by Avery Approver") || !strings.Contains(got, "The callback number is not the one in HR") {
		t.Errorf("denial reason at the top: %q", got)
	}
	if agent.doc().Find(`[data-testid="status-head"][data-live-url]`).Length() != 0 {
		t.Error("an ended request is still watched live")
	}
	href, ok := agent.doc().Find(`[data-testid="status-head"] [data-testid="refile"]`).Attr("href")
	if !ok {
		t.Fatalf("no File a new request:\n%s", agent.body)
	}
	u, _ := url.Parse(href)
	if u.Path != "/requests/new" || u.Query().Get("user") != marco || "/requests/"+u.Query().Get("from") != reqPath {
		t.Fatalf("refile link %q", href)
	}

	agent.get(href).status(http.StatusOK)
	doc := agent.doc()
	if v, _ := doc.Find(`#ticket_ref`).Attr("value"); v != "INC-4711" {
		t.Errorf("ticket not carried over: %q", v)
	}
	if v := doc.Find(`#justification`).Text(); v != "Phone replaced, cannot sign in" {
		t.Errorf("justification not carried over: %q", v)
	}
	if v, _ := doc.Find(`#verification option[selected]`).Attr("value"); v != "callback" {
		t.Errorf("verification method not carried over: %q", v)
	}
	if v, _ := doc.Find(`#lifetime`).Attr("value"); v != "60" {
		t.Errorf("lifetime not carried over: %q", v)
	}
	if v := doc.Find(`#verification_note`).Text(); v != "" {
		t.Errorf("the verification note was copied (%q): a new request needs a fresh caller check", v)
	}

	t.Run("not for someone who may not see it, nor for another user", func(t *testing.T) {
		agent2 := d.browser(t)
		agent2.signIn("/", "agent2")
		agent2.get(href).status(http.StatusOK)
		if v, _ := agent2.doc().Find(`#ticket_ref`).Attr("value"); v != "" {
			t.Errorf("another agent's request filled the form: ticket %q", v)
		}
		sofia := d.userID(t, "sofia.garcia@contoso.example")
		agent.get("/requests/new?user=" + sofia + "&from=" + strings.TrimPrefix(reqPath, "/requests/")).status(http.StatusOK)
		if v, _ := agent.doc().Find(`#ticket_ref`).Attr("value"); v != "" {
			t.Errorf("a request for Marco filled Sofia's form: ticket %q", v)
		}
	})

	t.Run("expired says why", func(t *testing.T) {
		p := fileRequestFor(t, agent.with(t), "sofia.garcia@contoso.example", "Lost phone on a trip, verified")
		r := storedRequest(t, d, strings.TrimPrefix(p, "/requests/"))
		if n, err := d.app.db.ExpireDue(t.Context(), r.ExpiresAt.Add(time.Minute)); err != nil || n != 1 {
			t.Fatalf("expire: %d %v", n, err)
		}
		agent.get(p).status(http.StatusOK)
		if got := unisolated(agent.text(`[data-testid="status-reason"]`)); !strings.HasPrefix(got, "No decision before ") {
			t.Errorf("expiry reason %q", got)
		}
		if agent.doc().Find(`[data-testid="refile"]`).Length() != 1 {
			t.Error("expired request offers no File a new request")
		}
		// Someone who cannot file (an auditor) reads the reason, not the action.
		auditor := d.browser(t)
		auditor.signIn(p, "auditor")
		if auditor.doc().Find(`[data-testid="refile"]`).Length() != 0 || auditor.text(`[data-testid="status-reason"]`) == "" {
			t.Error("auditor: refile offered or reason missing")
		}
	})
}

// TestConfirmDestructive: cancel and revoke ask first. The buttons are GET
// forms to a confirmation page (no JavaScript needed) that says what will
// happen and holds the POST form; the page also carries the same form in a
// dialog for app.js. Only those the POST would let through reach the page.
func TestConfirmDestructive(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	reqPath := fileRequestFor(t, agent, "marco.rossi@contoso.example", "Phone replaced, cannot sign in")

	button := agent.doc().Find(`form[data-confirm] [data-testid="cancel"]`).Closest("form")
	if m, _ := button.Attr("method"); m != "get" {
		t.Fatalf("the cancel button's form is %q, want a GET to the confirmation page", m)
	}
	if a, _ := button.Attr("action"); a != reqPath+"/cancel" {
		t.Fatalf("cancel button goes to %q", a)
	}
	dialogID, _ := button.Attr("data-confirm")
	dialog := agent.doc().Find(`dialog#` + dialogID)
	if dialog.Find(`form[method="post"][action="`+reqPath+`/cancel"] input[name="_csrf"]`).Length() != 1 {
		t.Fatalf("no confirming POST form in dialog %q:\n%s", dialogID, agent.body)
	}

	t.Run("others are refused the confirmation page as the action", func(t *testing.T) {
		approver := d.browser(t)
		approver.signIn("/", "approver")
		approver.get(reqPath + "/cancel").status(http.StatusForbidden)
		agent2 := d.browser(t)
		agent2.signIn("/", "agent2")
		agent2.get(reqPath + "/cancel").status(http.StatusNotFound)
		agent2.get(reqPath + "/revoke").status(http.StatusNotFound)
	})

	// Without JavaScript: the button leads to the page; nothing has happened yet.
	agent.get(reqPath + "/cancel").status(http.StatusOK)
	if got := unisolated(agent.text(`[data-testid="confirm-effect"]`)); !strings.Contains(got, "no pass can be issued") || !strings.Contains(got, "cannot be undone") {
		t.Errorf("cancel confirmation says %q", got)
	}
	if got := stateOf(t, d, reqPath); got != tapdesk.StatePending {
		t.Fatalf("opening the confirmation cancelled the request: %s", got)
	}
	if href, _ := agent.doc().Find(`[data-testid="confirm-keep"]`).Attr("href"); href != reqPath {
		t.Errorf("keep goes to %q", href)
	}
	agent.submit(`[data-testid="confirm-page-cancel"] form[method="post"]`, nil).status(http.StatusOK)
	if got := agent.text(`[data-testid="state"]`); got != "Cancelled" {
		t.Fatalf("after confirming, state %q", got)
	}
	if got := unisolated(agent.text(`[data-testid="status-reason"]`)); !strings.HasPrefix(got, "Cancelled by Alex Agent on ") {
		t.Errorf("cancel reason %q", got)
	}
	agent.get(reqPath + "/cancel").status(http.StatusConflict)

	// Revoke: issue a pass, then confirm its deletion on the page.
	nina := "nina.newhire@contoso.example"
	issued := fileRequestFor(t, agent, nina, "New starter, first day, no methods yet")
	approveAs(t, d, issued, "approver")
	agent.get(issued).submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
	pass, _ := shownPass(agent.doc().Find(`[data-testid="pass"]`))
	agent.get(issued).status(http.StatusOK)
	if f := agent.doc().Find(`form[data-confirm] [data-testid="revoke"]`).Closest("form"); f.AttrOr("action", "") != issued+"/revoke" || f.AttrOr("method", "") != "get" {
		t.Errorf("revoke button: %s %s", f.AttrOr("method", ""), f.AttrOr("action", ""))
	}
	agent.get(issued + "/revoke").status(http.StatusOK)
	if got := unisolated(agent.text(`[data-testid="confirm-effect"]`)); !strings.Contains(got, "deleted in Entra ID at once") {
		t.Errorf("revoke confirmation says %q", got)
	}
	if !d.fake.Tenant().CheckPass(d.userID(t, nina), pass) {
		t.Fatal("opening the revoke confirmation deleted the pass")
	}
	agent.submit(`[data-testid="confirm-page-revoke"] form[method="post"]`, nil).status(http.StatusOK)
	if got := unisolated(agent.text(`[data-testid="status-reason"]`)); !strings.HasPrefix(got, "The pass was deleted in Entra ID by Alex Agent on ") {
		t.Errorf("revoke reason %q", got)
	}
	if d.fake.Tenant().CheckPass(d.userID(t, nina), pass) {
		t.Error("the pass still works after a confirmed revoke")
	}
}

// TestRevealWordsAndAfterReload: the reveal page gives the agent the words
// for the caller, and posting again (a reload) answers with what happened
// and what to do next, without the pass.
func TestRevealWordsAndAfterReload(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	reqPath := fileRequestFor(t, agent, "nina.newhire@contoso.example", "New starter, first day, no methods yet")
	approveAs(t, d, reqPath, "approver")
	agent.get(reqPath).submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
	pass, ok := shownPass(agent.doc().Find(`[data-testid="pass"]`))
	if !ok {
		t.Fatalf("no pass:\n%s", agent.body)
	}
	words := agent.doc().Find(`[data-testid="read-aloud"]`)
	for testid, want := range map[string]string{
		"say-lasts":    "It works for the next 60 minutes, until ",
		"say-uses":     "one sign-in only",
		"say-register": "https://aka.ms/mysecurityinfo",
		"say-never":    "Never email",
	} {
		if got := words.Find(`[data-testid="` + testid + `"]`).Text(); !strings.Contains(got, want) {
			t.Errorf("%s: %q lacks %q", testid, got, want)
		}
	}
	if !strings.Contains(words.Find(`[data-testid="say-register"]`).Text(), "nina.newhire@contoso.example") {
		t.Error("the words do not say which account to sign in as")
	}
	if strings.Contains(words.Text(), pass) {
		t.Error("the words repeat the pass: it must be on the page once")
	}
	if v, _ := words.Find(`time[data-when="clock"][data-testid="local-time"]`).Attr("datetime"); v == "" {
		t.Error("no local time beside the UTC end")
	}

	// A reload posts again: the page says what happened, with next steps.
	agent.post(reqPath+"/reveal", url.Values{"_csrf": {csrfOf(agent)}}).status(http.StatusConflict).contains("already revealed")
	after := agent.doc().Find(`[data-testid="revealed-after"]`)
	if after.Length() != 1 {
		t.Fatalf("no after-reload page:\n%s", agent.body)
	}
	if got := after.Find(`[data-testid="revealed-what"]`).Text(); !strings.Contains(got, "Issued 20") || !strings.Contains(got, "by Alex Agent") {
		t.Errorf("what happened: %q", got)
	}
	if got := after.Find(`[data-testid="revealed-until"]`).Text(); !strings.Contains(got, "Valid until 20") {
		t.Errorf("valid until: %q", got)
	}
	if after.Find(`form[method="get"][action="`+reqPath+`/revoke"]`).Length() != 1 || after.Find(`[data-testid="refile"]`).Length() != 1 {
		t.Errorf("after-reload page lacks revoke or file again:\n%s", agent.body)
	}
	if strings.Contains(agent.body, pass) {
		t.Fatal("the after-reload page holds the pass")
	}
	// Another agent posting is refused as before, with no page about it.
	agent2 := d.browser(t)
	agent2.signIn("/", "agent2")
	agent2.post(reqPath+"/reveal", url.Values{"_csrf": {csrfOf(agent2)}}).status(http.StatusNotFound)
}
