package main

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/entra/fakegraph"
	"github.com/tapdesk/tapdesk/mail"
	"github.com/tapdesk/tapdesk/store"
)

var disputeLink = regexp.MustCompile(`http://[^\s]+/dispute/([A-Za-z0-9_-]+)`)

const (
	requestedSubject = "A Temporary Access Pass was requested"
	issuedSubject    = "A Temporary Access Pass was issued"
	attackerMail     = "attackerMail@evil.example"
)

// fileWithExtras files a request for upn from the user card's form, adding
// fields a hostile agent might hope tapdesk reads (an address of their own).
func fileWithExtras(t *testing.T, b *browser, d *testDemo, upn, justification string, extra url.Values) string {
	t.Helper()
	b.get("/requests/new?user=" + url.QueryEscape(d.userID(t, upn))).status(http.StatusOK)
	vals := url.Values{
		"ticket_ref": {"INC-5150"}, "justification": {justification},
		"verification": {"callback"}, "verification_note": {"Called back the number on file"},
		"lifetime": {"60"}, "usable_once": {"on"},
	}
	for k, v := range extra {
		vals[k] = v
	}
	b.submit(`form[action="/requests"]`, vals).status(http.StatusOK)
	if !strings.HasPrefix(b.path(), "/requests/") {
		t.Fatalf("filing did not land on the request: %s\n%s", b.path(), b.body)
	}
	return b.path()
}

// mailsTo lists captured mail to addr whose subject contains subject.
func mailsTo(c *mail.Capture, addr, subject string) []mail.Captured {
	var out []mail.Captured
	for _, m := range c.Messages() {
		if strings.Contains(m.Subject, subject) && strings.Contains(strings.ToLower(strings.Join(m.To, ",")), strings.ToLower(addr)) {
			out = append(out, m)
		}
	}
	return out
}

// outboxDrained waits until the worker has sent everything queued.
func outboxDrained(t *testing.T, d *testDemo) {
	t.Helper()
	eventually(t, "the outbox to drain", func() bool {
		pending, _, err := d.app.db.OutboxCounts(context.Background())
		return err == nil && pending == 0
	})
}

func stateOf(t *testing.T, d *testDemo, reqPath string) tapdesk.State {
	t.Helper()
	return storedRequest(t, d, strings.TrimPrefix(reqPath, "/requests/")).State
}

func approveAs(t *testing.T, d *testDemo, reqPath, persona string) {
	t.Helper()
	a := d.browser(t)
	a.signIn(reqPath, persona).submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
	if got := stateOf(t, d, reqPath); got != tapdesk.StateApproved {
		t.Fatalf("after approval the request is %s", got)
	}
}

// TestNotices: the target and their manager are told, at the addresses
// Entra holds, and nothing an agent sends changes where notices go.
func TestNotices(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")

	t.Run("filing tells the user and manager at Entra's addresses", func(t *testing.T) {
		// Every field name a hostile agent might try, with their own address.
		extra := url.Values{}
		for _, k := range []string{"mail", "email", "to", "recipient", "notify", "notify_to", "notice", "notice_to",
			"user_mail", "target_mail", "otherMails", "manager", "manager_mail", "cc", "bcc"} {
			extra.Set(k, attackerMail)
		}
		req := fileWithExtras(t, agent, d, "nina.newhire@contoso.example", "Locked out after a phone swap, verified", extra)
		user := waitMail(t, d.capture, "nina.newhire@contoso.example", requestedSubject)
		manager := waitMail(t, d.capture, "lukas.becker@contoso.example", requestedSubject)
		for _, m := range []mail.Captured{user, manager} {
			if !strings.Contains(m.Text, "by "+tapdesk.IsolateName("Alex Agent")) || !strings.Contains(m.Text, "INC-5150") || !disputeLink.MatchString(m.Text) {
				t.Errorf("notice to %v lacks the agent, ticket or link:\n%s", m.To, m.Text)
			}
			if strings.Contains(m.Text, "phone swap") || strings.Contains(m.Text, "number on file") {
				t.Errorf("notice to %v carries the justification or verification note:\n%s", m.To, m.Text)
			}
		}
		outboxDrained(t, d)
		for _, m := range d.capture.Messages() {
			if bytes.Contains(bytes.ToLower(m.Raw), []byte("evil.example")) {
				t.Errorf("a form field steered mail: %q to %v", m.Subject, m.To)
			}
		}
		evs, err := d.app.db.Events(context.Background(), store.EventFilter{Activity: string(tapdesk.ActRequestFiled),
			RequestID: strings.TrimPrefix(req, "/requests/")})
		if err != nil || len(evs) != 1 || evs[0].Details["notice_user"] != "nina.newhire@contoso.example" ||
			evs[0].Details["notice_manager"] != "lukas.becker@contoso.example" {
			t.Errorf("the filing event does not record who was told: %+v %v", evs, err)
		}
	})

	t.Run("otherMails when Entra holds no mail; no manager, no manager notice", func(t *testing.T) {
		before := len(d.capture.Messages())
		fileWithExtras(t, agent, d, "omar.haddad@contoso.example", "Frontline worker locked out, verified", nil)
		waitMail(t, d.capture, "omar.haddad@home.example", requestedSubject)
		waitMail(t, d.capture, "fatima.zahra@contoso.example", requestedSubject)
		fileWithExtras(t, agent, d, "sofia.garcia@contoso.example", "Locked out on a trip, verified by video", nil)
		waitMail(t, d.capture, "sofia.garcia@contoso.example", requestedSubject)
		outboxDrained(t, d)
		var notices int
		for _, m := range d.capture.Messages()[before:] {
			if strings.Contains(m.Subject, requestedSubject) {
				notices++
			}
		}
		if notices != 3 {
			t.Errorf("%d notices for two requests (one manager), want 3", notices)
		}
	})

	t.Run("a user without an address: filed anyway, audited", func(t *testing.T) {
		if err := d.fake.Tenant().UpdateUser("marco.rossi@contoso.example", func(u *fakegraph.User) {
			u.Mail, u.OtherMails = "", nil
		}); err != nil {
			t.Fatal(err)
		}
		req := fileWithExtras(t, agent, d, "marco.rossi@contoso.example", "Locked out, no mailbox yet, verified", url.Values{"mail": {attackerMail}})
		if got := stateOf(t, d, req); got != tapdesk.StatePending {
			t.Fatalf("request is %s, want pending", got)
		}
		mustAudit(t, d, string(tapdesk.ActNoticeSkipped), "failure", "Entra holds no address (mail or otherMails) for marco.rossi@contoso.example")
		waitMail(t, d.capture, "chen.wei@contoso.example", requestedSubject) // the manager is still told
		outboxDrained(t, d)
		if len(mailsTo(d.capture, "marco.rossi", requestedSubject))+len(mailsTo(d.capture, attackerMail, "")) != 0 {
			t.Error("a notice went to the UPN or the agent's address")
		}
	})
}

// TestManagerUnreadable: when Graph will not say who the manager is, the
// request is not filed unnoticed: the agent reads why and tries again.
func TestManagerUnreadable(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	d.fake.SetFault("GET /v1.0/users/*/manager", fakegraph.Fault{Status: http.StatusForbidden, Code: "Authorization_RequestDenied",
		Message: "Insufficient privileges to complete the operation."})
	agent.get("/requests/new?user=" + url.QueryEscape(d.userID(t, "nina.newhire@contoso.example"))).status(http.StatusOK)
	agent.submit(`form[action="/requests"]`, url.Values{
		"ticket_ref": {"INC-5150"}, "justification": {"Locked out after a phone swap"},
		"verification": {"callback"}, "verification_note": {"Called back the number on file"}, "lifetime": {"60"},
	})
	if agent.last.StatusCode < 400 || !strings.Contains(agent.body, "Graph permission") {
		t.Fatalf("filing with an unreadable manager: %d\n%s", agent.last.StatusCode, agent.body)
	}
	if rs, err := d.app.db.Requests(context.Background(), store.RequestFilter{}); err != nil || len(rs) != 0 {
		t.Fatalf("a request was filed without its manager notice: %d %v", len(rs), err)
	}
	mustAudit(t, d, "Refuse request", "failure", "the manager to notify could not be read")
}

// TestManagerNoticesOff: TAPDESK_NOTIFY_MANAGER=false tells the user only.
func TestManagerNoticesOff(t *testing.T) {
	d := startTestDemoWith(t, func(o *demoOptions) { o.ManagerNoticesOff = true })
	agent := d.browser(t)
	agent.signIn("/", "agent")
	fileWithExtras(t, agent, d, "nina.newhire@contoso.example", "Locked out after a phone swap, verified", nil)
	waitMail(t, d.capture, "nina.newhire@contoso.example", requestedSubject)
	outboxDrained(t, d)
	if n := len(mailsTo(d.capture, "lukas.becker@contoso.example", "")); n != 0 {
		t.Errorf("the manager got %d mails with manager notices off", n)
	}
	if n := d.fake.CountRequests("GET /v1.0/users/*/manager"); n != 0 {
		t.Errorf("tapdesk asked Graph for the manager %d times with manager notices off", n)
	}
}

// TestDispute: "This wasn't me" works without sign-in and can only stop.
func TestDispute(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	ctx := context.Background()

	// Nina's request is approved before she hears of it; Marco's manager
	// disputes his while it is pending.
	nina := fileWithExtras(t, agent, d, "nina.newhire@contoso.example", "Caller says she lost her phone", nil)
	approveAs(t, d, nina, "approver")
	link := disputeLink.FindString(waitMail(t, d.capture, "nina.newhire@contoso.example", requestedSubject).Text)
	creates := d.fake.CountRequests(createTAP)

	anon := d.browser(t) // never signs in
	t.Run("GET shows and does not stop", func(t *testing.T) {
		anon := anon.with(t)
		anon.get(link).status(http.StatusOK).contains(`data-testid="dispute-summary"`).contains("Alex Agent").contains("INC-5150")
		if strings.Contains(anon.body, "lost her phone") || strings.Contains(anon.body, "number on file") {
			t.Error("the landing shows the justification or verification note")
		}
		anon.get(link).status(http.StatusOK) // a mail scanner, twice
		if got := stateOf(t, d, nina); got != tapdesk.StateApproved {
			t.Fatalf("GET changed the request to %s", got)
		}
		mustAudit(t, d, string(tapdesk.ActDisputeOpened), "success", "")
	})
	t.Run("POST without the CSRF token is refused", func(t *testing.T) {
		anon.with(t).post(link, url.Values{}).status(http.StatusForbidden)
		if got := stateOf(t, d, nina); got != tapdesk.StateApproved {
			t.Fatalf("a POST without CSRF token changed the request to %s", got)
		}
	})
	t.Run("POST stops", func(t *testing.T) {
		anon := anon.with(t)
		anon.get(link).submit(`form[action^="/dispute/"]`, nil).status(http.StatusOK).contains(`data-testid="dispute-done"`)
		if got := stateOf(t, d, nina); got != tapdesk.StateDisputed {
			t.Fatalf("after the dispute the request is %s", got)
		}
		mustAudit(t, d, string(tapdesk.ActDispute), "success", "This wasn't me")
		for _, to := range []string{"alex.agent@contoso.example", "avery.approver@contoso.example", "blake.backup@contoso.example", demoSecurityEmail} {
			waitMail(t, d.capture, to, "Disputed")
		}
	})
	t.Run("no pass can be issued", func(t *testing.T) {
		agent := agent.with(t)
		agent.get(nina).status(http.StatusOK).contains("Disputed")
		agent.post(nina+"/reveal", url.Values{"_csrf": {csrfOf(agent)}}).status(http.StatusConflict).contains("answered the notice with")
		if n := d.fake.CountRequests(createTAP); n != creates {
			t.Errorf("Graph was asked to create %d passes for a disputed request", n-creates)
		}
		mustAudit(t, d, "Refuse reveal", "failure", "This wasn't me")
	})
	t.Run("reused, forged and altered tokens", func(t *testing.T) {
		anon := anon.with(t)
		anon.get(link).status(http.StatusConflict).contains("already been used")
		anon.post(link, url.Values{"_csrf": {csrfCookie(anon)}}).status(http.StatusConflict)
		anon.get("/dispute/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").status(http.StatusNotFound).contains("not valid")
		anon.get(link[:len(link)-1] + "x").status(http.StatusNotFound)
		mustAudit(t, d, string(tapdesk.ActDisputeRefused), "failure", "already been used")
		mustAudit(t, d, string(tapdesk.ActDisputeRefused), "failure", "not valid")
		evs, _ := d.app.db.Events(ctx, store.EventFilter{})
		token := link[strings.LastIndex(link, "/")+1:]
		for _, ev := range evs {
			if strings.Contains(ev.Reason, token) || strings.Contains(strings.Join(mapValues(ev.Details), " "), token) {
				t.Fatalf("the token is in the audit trail: %+v", ev)
			}
		}
	})

	t.Run("a disputed request cannot be approved", func(t *testing.T) {
		marco := fileWithExtras(t, agent.with(t), d, "marco.rossi@contoso.example", "Caller says he is Marco, verified", nil)
		mgr := disputeLink.FindString(waitMail(t, d.capture, "chen.wei@contoso.example", requestedSubject).Text)
		b := d.browser(t)
		b.get(mgr).status(http.StatusOK).submit(`form[action^="/dispute/"]`, nil).status(http.StatusOK)
		approver := d.browser(t)
		approver.signIn(marco, "approver")
		if approver.doc().Find(`form[action$="/approve"]`).Length() != 0 {
			t.Error("an approve button is offered on a disputed request")
		}
		approver.post(marco+"/approve", url.Values{"_csrf": {csrfOf(approver)}}).status(http.StatusConflict).contains("answered the notice with")
		if got := stateOf(t, d, marco); got != tapdesk.StateDisputed {
			t.Fatalf("request is %s", got)
		}
		// The user's own link now only says it is over.
		own := disputeLink.FindString(waitMail(t, d.capture, "marco.rossi@contoso.example", requestedSubject).Text)
		b.get(own).status(http.StatusConflict).contains("already stopped")
	})
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// TestIssuedNotice: the user and manager are told again when the pass is
// issued, never the pass; their fresh link then deletes the pass.
func TestIssuedNotice(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	chen := d.userID(t, "chen.wei@contoso.example")
	req := fileWithExtras(t, agent, d, "chen.wei@contoso.example", "New laptop, no methods yet, verified", nil)
	approveAs(t, d, req, "approver")
	agent.get(req).submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
	pass, ok := shownPass(agent.doc().Find(`[data-testid="pass"]`))
	if !ok || len(pass) < 8 {
		t.Fatalf("no pass revealed:\n%s", agent.body)
	}
	user := waitMail(t, d.capture, "chen.wei@contoso.example", issuedSubject)
	waitMail(t, d.capture, "grace.global@contoso.example", issuedSubject)
	outboxDrained(t, d)
	if len(d.capture.Messages()) == 0 {
		t.Fatal("no mail captured: the check below proves nothing")
	}
	for _, m := range d.capture.Messages() {
		if bytes.Contains(m.Raw, []byte(pass)) {
			t.Errorf("the pass is in the mail %q to %v", m.Subject, m.To)
		}
	}

	// Chen did not ask: his link from the issued notice deletes the pass.
	link := disputeLink.FindString(user.Text)
	if link == "" {
		t.Fatalf("the issued notice has no link:\n%s", user.Text)
	}
	if d.fake.Tenant().CurrentTAP(chen) == nil {
		t.Fatal("no pass in Entra before the dispute")
	}
	b := d.browser(t)
	b.get(link).status(http.StatusOK).submit(`form[action^="/dispute/"]`, nil).status(http.StatusOK).contains("deleted in Entra")
	if got := stateOf(t, d, req); got != tapdesk.StateDisputed {
		t.Fatalf("request is %s", got)
	}
	if tap := d.fake.Tenant().CurrentTAP(chen); tap != nil {
		t.Fatalf("the disputed pass still exists in Entra: %+v", tap)
	}
	mustAudit(t, d, string(tapdesk.ActRevoke), "success", "Disputed by the notice recipient")
	waitMail(t, d.capture, demoSecurityEmail, "Disputed")
}

// TestDisputeDuringIssue: a dispute while Graph is creating the pass wins;
// the pass Graph made is deleted and nobody sees it.
func TestDisputeDuringIssue(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	nina := d.userID(t, "nina.newhire@contoso.example")
	req := fileWithExtras(t, agent, d, "nina.newhire@contoso.example", "Caller says she lost her phone", nil)
	approveAs(t, d, req, "approver")
	link := disputeLink.FindString(waitMail(t, d.capture, "nina.newhire@contoso.example", requestedSubject).Text)
	anon := d.browser(t)
	anon.get(link).status(http.StatusOK)

	// Graph holds the create until the dispute is in, however long that
	// takes.
	gate := fakegraph.NewGate()
	t.Cleanup(gate.Open)
	d.fake.SetFault(createTAP, fakegraph.Fault{Gate: gate, Times: 1})
	agent.get(req).status(http.StatusOK)
	form := url.Values{"_csrf": {csrfOf(agent)}}
	revealed := make(chan int, 1)
	post, _ := http.NewRequest(http.MethodPost, agent.abs(req+"/reveal"), strings.NewReader(form.Encode()))
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	go func() {
		res, err := agent.client.Do(post)
		if err != nil {
			revealed <- 0
			return
		}
		res.Body.Close()
		revealed <- res.StatusCode
	}()
	id := strings.TrimPrefix(req, "/requests/")
	eventually(t, "the reveal to claim the request", func() bool { return claimed(t, d, id) })
	eventually(t, "the create to reach Graph", func() bool { return gate.Arrived() == 1 })
	// Graph is creating the pass for the claimed request: now the dispute.
	anon.submit(`form[action^="/dispute/"]`, nil).status(http.StatusOK).contains(`data-testid="dispute-done"`)
	gate.Open()
	if status := <-revealed; status != http.StatusConflict {
		t.Fatalf("the racing reveal answered %d, want 409", status)
	}
	if got := stateOf(t, d, req); got != tapdesk.StateDisputed {
		t.Fatalf("request is %s", got)
	}
	if n := d.fake.CountRequests(createTAP); n != 1 {
		t.Fatalf("Graph saw %d creates, want the one under way", n)
	}
	if tap := d.fake.Tenant().CurrentTAP(nina); tap != nil {
		t.Fatalf("the pass created during the dispute is left in Entra: %+v", tap)
	}
}

// claimed reports whether a reveal has claimed the request (its "Begin
// issuing" event is in the trail).
func claimed(t *testing.T, d *testDemo, id string) bool {
	evs, err := d.app.db.Events(context.Background(), store.EventFilter{Activity: string(tapdesk.ActIssueStart), RequestID: id})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs) > 0
}

// csrfCookie is the browser's CSRF token (double-submit cookie) for pages
// that show no form of their own.
func csrfCookie(b *browser) string {
	u, _ := url.Parse(b.base)
	for _, c := range b.client.Jar.Cookies(u) {
		if strings.HasSuffix(c.Name, "tapdesk_csrf") {
			return c.Value
		}
	}
	return ""
}
