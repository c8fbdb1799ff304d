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
		if !strings.Contains(refused.body, `href="`+won.location+`"`) || !strings.Contains(refused.body, "You already have an open request for Nina Newhire") {
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

// TestOpenRequestNoticeByReader: the notice of an open request is worded
// for who reads it. Its requester is told to follow or cancel it, with a
// link. Another agent may neither open it (CanView) nor cancel it, so they
// get no link (no id to try) and are told whom to ask, on the card, on the
// form page and when a filing is refused.
func TestOpenRequestNoticeByReader(t *testing.T) {
	d := startTestDemoWith(t, manyActions)
	alex := d.browser(t)
	alex.signIn("/", "agent")
	sam := d.browser(t)
	sam.signIn("/", "agent2")
	nina := d.userID(t, "nina.newhire@contoso.example")

	alex.post("/requests", validForm(csrfOf(alex), nina)).status(http.StatusOK)
	openPath := alex.path()
	if !strings.HasPrefix(openPath, "/requests/") {
		t.Fatalf("filing landed on %s", openPath)
	}
	id := strings.TrimPrefix(openPath, "/requests/")

	// Each page where the notice shows, as the reader reaches it.
	pages := []struct {
		name   string
		status int
		open   func(b *browser) *browser
	}{
		{"card", http.StatusOK, func(b *browser) *browser { return b.get("/users/" + nina) }},
		{"form", http.StatusConflict, func(b *browser) *browser { return b.get("/requests/new?user=" + nina) }},
		{"filing", http.StatusConflict, func(b *browser) *browser { return b.post("/requests", validForm(csrfOf(b), nina)) }},
	}
	for _, pg := range pages {
		t.Run("requester/"+pg.name, func(t *testing.T) {
			alex := alex.with(t)
			pg.open(alex).status(pg.status)
			msg := alex.text(`[data-testid="open-request"]`)
			if !strings.Contains(msg, "You already have an open request for Nina Newhire (pending") || !strings.Contains(msg, "cancel it") {
				t.Errorf("the requester reads %q", msg)
			}
			if href, _ := alex.doc().Find(`[data-testid="open-request-link"]`).Attr("href"); href != openPath {
				t.Errorf("the requester's link goes to %q, want %q", href, openPath)
			}
		})
		t.Run("other agent/"+pg.name, func(t *testing.T) {
			sam := sam.with(t)
			pg.open(sam).status(pg.status)
			msg := sam.text(`[data-testid="open-request"]`)
			if !strings.Contains(msg, "Nina Newhire already has an open request (pending, filed by Alex Agent on ") ||
				!strings.Contains(msg, "Ask Alex Agent or an approver about it") {
				t.Errorf("another agent reads %q", msg)
			}
			if strings.Contains(msg, "cancel") {
				t.Errorf("another agent is told to cancel a request only its requester may cancel: %q", msg)
			}
			if n := sam.doc().Find(`[data-testid="open-request-link"]`).Length(); n != 0 {
				t.Error("another agent gets a link to a request they may not open")
			}
			if strings.Contains(sam.body, id) {
				t.Error("the page gives another agent the open request's id")
			}
		})
	}
	// What the link would have led to: the other agent may not open it.
	t.Run("other agent cannot open it", func(t *testing.T) {
		sam := sam.with(t)
		sam.get(openPath)
		if s := sam.last.StatusCode; s != http.StatusForbidden && s != http.StatusNotFound {
			t.Fatalf("another agent opening the request got %d", s)
		}
	})
}
