package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/tapdesk/tapdesk/internal/pgtest"
	"github.com/tapdesk/tapdesk/mail"
	"github.com/tapdesk/tapdesk/store"
)

var approveLink = regexp.MustCompile(`http://[^\s]+/approve/([A-Za-z0-9_-]+)`)

// fileRequestFor signs nothing in: b must be a signed-in requester. It walks
// search -> card -> form -> submit and returns the request page path.
func fileRequestFor(t testing.TB, b *browser, upn, justification string) string {
	t.Helper()
	b.get("/users?q=" + url.QueryEscape(upn[:4])).status(http.StatusOK)
	href := ""
	b.doc().Find(`[data-testid="results"] li`).Each(func(_ int, s *goquery.Selection) {
		if strings.Contains(s.Text(), upn) {
			href, _ = s.Find("a").Attr("href")
		}
	})
	if href == "" {
		t.Fatalf("search for %s did not list them:\n%s", upn, b.body)
	}
	b.get(href).status(http.StatusOK)
	newHref, ok := b.doc().Find(`[data-testid="new-request"]`).Attr("href")
	if !ok {
		t.Fatalf("user card of %s offers no request:\n%s", upn, b.body)
	}
	b.get(newHref).status(http.StatusOK)
	b.submit(`form[action="/requests"]`, url.Values{
		"ticket_ref": {"INC-4711"}, "justification": {justification},
		"verification": {"callback"}, "verification_note": {"Called back +1 555 0100 from HR record"},
		"lifetime": {"60"}, "usable_once": {"on"},
	}).status(http.StatusOK)
	if !strings.HasPrefix(b.path(), "/requests/") {
		t.Fatalf("filing did not land on the request: %s\n%s", b.path(), b.body)
	}
	return b.path()
}

// waitMail waits for a message to `to` whose subject contains subject.
func waitMail(t *testing.T, c *mail.Capture, to, subject string) mail.Captured {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range c.Messages() {
			if strings.Contains(m.Subject, subject) && strings.Contains(strings.Join(m.To, ","), to) {
				return m
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no mail to %s about %q; have %d messages", to, subject, len(c.Messages()))
	return mail.Captured{}
}

func TestEndToEnd(t *testing.T) { pgtest.Backends(t, testEndToEnd) }

func testEndToEnd(t *testing.T) {
	d := startTestDemo(t)
	nina := d.userID(t, "nina.newhire@contoso.example")

	// 1. The agent signs in through the OIDC provider.
	agent := d.browser(t)
	agent.signIn("/", "agent").contains("Alex Agent").contains(`data-testid="demo-banner"`)

	// 2. Looks up the user (the card warns that her current pass will be
	//    replaced) and files a request.
	agent.get("/users/" + nina).status(http.StatusOK)
	if w := agent.text(`[data-testid="existing-tap"]`); !strings.Contains(w, "usable now") || !strings.Contains(w, "replaces it") {
		t.Errorf("existing-pass warning: %q", w)
	}
	reqPath := fileRequestFor(t, agent, "nina.newhire@contoso.example", "New starter, first day, no methods yet")
	if got := agent.text(`[data-testid="state"]`); got != "Pending" {
		t.Fatalf("new request is %q, want Pending", got)
	}

	// 3. The approver gets an email over SMTP; its link leads through sign-in
	//    to the request.
	msg := waitMail(t, d.capture, "avery.approver@contoso.example", "Approval needed")
	m := approveLink.FindStringSubmatch(msg.Text)
	if m == nil {
		t.Fatalf("approval mail has no link:\n%s", msg.Text)
	}
	link := m[0]
	approver := d.browser(t)
	approver.signIn(link, "approver")
	if approver.path() != reqPath {
		t.Fatalf("approval link landed on %s, want %s", approver.path(), reqPath)
	}
	approver.contains("Called back +1 555 0100 from HR record") // approvers see the caller check
	approver.submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
	if got := approver.text(`[data-testid="state"]`); got != "Approved" {
		t.Fatalf("after approval the request is %q:\n%s", got, approver.body)
	}

	// The link works once; opened again by its signed-in recipient it
	// shows the request and what happened to it.
	approver.get(link).status(http.StatusOK)
	if approver.path() != reqPath || approver.text(`[data-testid="flash"]`) != "You already approved this request." {
		t.Fatalf("used link landed on %s with %q", approver.path(), approver.text(`[data-testid="flash"]`))
	}

	// 4. The agent is told, then issues and reveals the pass once.
	waitMail(t, d.capture, "alex.agent@contoso.example", "approved")
	agent.get(reqPath).status(http.StatusOK)
	agent.submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
	pass, ok := shownPass(agent.doc().Find(`[data-testid="pass"]`))
	if !ok || len(pass) < 8 {
		t.Fatalf("reveal page shows no pass:\n%s", agent.body)
	}
	if cc := agent.last.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("reveal page Cache-Control %q, want no-store", cc)
	}
	if !d.fake.Tenant().CheckPass(nina, pass) {
		t.Fatal("the revealed pass is not the one Entra (the fake) holds")
	}
	// Reloading (posting again) shows that it was already revealed.
	agent.get(reqPath).status(http.StatusOK).contains(`data-testid="revealed"`)
	agent.post(reqPath+"/reveal", url.Values{"_csrf": {csrfOf(agent)}}).status(http.StatusConflict).contains("already revealed")

	// 5. The auditor sees every step and downloads it as CSV.
	auditor := d.browser(t)
	auditor.signIn("/audit", "auditor").contains("Reveal temporary access pass")
	auditor.get("/audit/export?format=csv").status(http.StatusOK)
	if !strings.HasPrefix(auditor.body, "\ufeff") {
		t.Error("CSV lacks the UTF-8 byte-order mark")
	}
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(auditor.body, "\ufeff"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range rows[1:] {
		seen[r[2]]++
	}
	for _, act := range []string{"Start service", "Sign in", "Look up user", "File request", "Queue mail", "Send mail",
		"Open approval link", "Refuse approval link", "Approve request", "Issue temporary access pass",
		"Reveal temporary access pass", "Refuse reveal", "Export audit log"} {
		if seen[act] == 0 {
			t.Errorf("audit CSV lacks %q (has %v)", act, seen)
		}
	}

	// After the whole flow the chain holds, tail check included.
	auditor.get("/audit/verify").status(http.StatusOK).contains(`data-testid="chain-holds"`)

	// The pass is nowhere: not in any database file, log line or email.
	d.app.db.Close() // flush the WAL into the files we read
	assertAbsent(t, pass, d)
}

func csrfOf(b *browser) string {
	v, _ := b.doc().Find(`input[name="_csrf"]`).Attr("value")
	return v
}

// assertAbsent checks the pass appears in no file of the database folder,
// no log output and no captured email.
func assertAbsent(t *testing.T, pass string, d *testDemo) {
	t.Helper()
	if store.IsPostgresURL(d.dbPath) {
		if where := postgresHolds(t, d.dbPath, pass); where != "" {
			t.Errorf("the pass is stored in %s", where)
		}
	} else {
		assertAbsentFromFiles(t, pass, d)
	}
	assertAbsentFromLogsAndMail(t, pass, d)
}

// assertAbsentFromFiles checks the pass appears in no file of the SQLite
// database's folder.
func assertAbsentFromFiles(t *testing.T, pass string, d *testDemo) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(d.dbPath), "*"))
	if len(files) == 0 {
		t.Fatal("no database files found")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue // the -shm or -wal of the last connection, removed as it closed
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(pass)) {
			t.Errorf("the pass is stored in %s", f)
		}
	}
}

func assertAbsentFromLogsAndMail(t *testing.T, pass string, d *testDemo) {
	t.Helper()
	if strings.Contains(d.logs.String(), pass) {
		t.Error("the pass appears in the logs")
	}
	if len(d.logs.String()) == 0 {
		t.Error("no logs captured: the check above proves nothing")
	}
	for _, m := range d.capture.Messages() {
		if bytes.Contains(m.Raw, []byte(pass)) {
			t.Errorf("the pass is in the email %q", m.Subject)
		}
	}
}
