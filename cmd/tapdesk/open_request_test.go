package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
)

// TestOneOpenRequestPerTarget files twice for one user at the same moment:
// one filing lands on its request (303), the other gets 409 with a link to
// it. While it is open the card and the form show it instead of a form;
// once it is denied, cancelled or expired, filing works again.
func TestOneOpenRequestPerTarget(t *testing.T) {
	d := startTestDemoWith(t, func(o *demoOptions) { o.SweepInterval = time.Hour; manyActions(o) })
	agent := d.browser(t)
	agent.signIn("/", "agent")
	approver := d.browser(t)
	approver.signIn("/", "approver")
	csrf := csrfOf(agent)
	nina := d.userID(t, "nina.newhire@contoso.example")
	// No redirects followed, so the 303 is seen; the session is the agent's.
	raw := &http.Client{Jar: agent.client.Jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	fileTwiceAtOnce := func(t *testing.T) (openPath string) {
		t.Helper()
		type answer struct {
			status   int
			location string
			body     string
		}
		answers := make([]answer, 2)
		var wg sync.WaitGroup
		for i := range answers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodPost, agent.abs("/requests"), strings.NewReader(validForm(csrf, nina).Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				res, err := raw.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				defer res.Body.Close()
				var b strings.Builder
				_, _ = io.Copy(&b, res.Body)
				answers[i] = answer{res.StatusCode, res.Header.Get("Location"), b.String()}
			}()
		}
		wg.Wait()
		var won, refused *answer
		for i := range answers {
			switch answers[i].status {
			case http.StatusSeeOther:
				won = &answers[i]
			case http.StatusConflict:
				refused = &answers[i]
			}
		}
		if won == nil || refused == nil {
			t.Fatalf("two filings at once got %d and %d, want one 303 and one 409", answers[0].status, answers[1].status)
		}
		if !strings.Contains(refused.body, `href="`+won.location+`"`) || !strings.Contains(refused.body, "already has an open request") {
			t.Fatalf("the refusal does not link to %s with a sentence:\n%s", won.location, refused.body)
		}
		return won.location
	}

	assertOpenShown := func(t *testing.T, openPath string) {
		t.Helper()
		agent := agent.with(t)
		agent.get("/users/" + nina).status(http.StatusOK)
		if agent.doc().Find(`[data-testid="new-request"]`).Length() != 0 {
			t.Error("the card offers a new request while one is open")
		}
		if href, _ := agent.doc().Find(`[data-testid="open-request-link"]`).Attr("href"); href != openPath {
			t.Errorf("the card links to %q, want %q", href, openPath)
		}
		agent.get("/requests/new?user=" + nina).status(http.StatusConflict)
		if agent.doc().Find(`form[action="/requests"]`).Length() != 0 {
			t.Error("the form is offered while a request is open")
		}
		if href, _ := agent.doc().Find(`[data-testid="open-request-link"]`).Attr("href"); href != openPath {
			t.Errorf("the form page links to %q, want %q", href, openPath)
		}
	}

	t.Run("denied", func(t *testing.T) {
		open := fileTwiceAtOnce(t)
		assertOpenShown(t, open)
		approver.with(t).get(open).submit(`form[action$="/deny"]`, url.Values{"reason": {"Caller could not confirm the callback number"}}).status(http.StatusOK)
	})
	t.Run("cancelled", func(t *testing.T) {
		open := fileTwiceAtOnce(t)
		// Approved is still open.
		approver.with(t).get(open).submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
		assertOpenShown(t, open)
		agent.with(t).get(open).submit(`form[action$="/cancel"]`, nil).status(http.StatusOK)
	})
	t.Run("expired", func(t *testing.T) {
		open := fileTwiceAtOnce(t)
		r := storedRequest(t, d, strings.TrimPrefix(open, "/requests/"))
		if n, err := d.app.db.ExpireDue(t.Context(), r.ExpiresAt.Add(time.Minute)); err != nil || n != 1 {
			t.Fatalf("expired %d (%v), want 1", n, err)
		}
		if got := storedRequest(t, d, r.ID).State; got != tapdesk.StateExpired {
			t.Fatalf("state %s", got)
		}
	})
	t.Run("filing works again", func(t *testing.T) {
		agent := agent.with(t)
		agent.get("/users/" + nina).status(http.StatusOK)
		if agent.doc().Find(`[data-testid="new-request"]`).Length() != 1 {
			t.Fatal("no new request offered once the open one closed")
		}
		fileTwiceAtOnce(t)
	})
}
