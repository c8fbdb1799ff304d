package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
)

// hostileHeaderSize is how much an attacker can put in one header or URL
// and still reach tapdesk: 900 KB, or less if the server reads fewer
// header bytes.
func hostileHeaderSize(d *testDemo) int {
	size := 900 << 10
	if m := d.app.echo.Server.MaxHeaderBytes; m > 0 && m-(4<<10) < size {
		size = m - (4 << 10)
	}
	return size
}

// rawClient sends requests as they are written: its own User-Agent and
// headers, no redirects followed.
func rawClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func send(t *testing.T, c *http.Client, method, u string, header http.Header, form url.Values) (int, string) {
	t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %.80s: %v", method, u, err)
	}
	defer res.Body.Close()
	page, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(page)
}

// storedEvent is one row of the audit table as the database file holds it.
type storedEvent struct {
	seq      int64
	bytes    int
	activity string
	ev       tapdesk.Event
}

// eventsAfter reads the events after seq straight from the database file,
// with the size of each stored record in bytes.
func eventsAfter(t *testing.T, raw *sql.DB, d *testDemo, seq int64) []storedEvent {
	t.Helper()
	rows, err := raw.Query(`SELECT seq, length(CAST(record AS BLOB)), activity FROM audit_events WHERE seq > ? ORDER BY seq`, seq)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []storedEvent
	for rows.Next() {
		var s storedEvent
		if err := rows.Scan(&s.seq, &s.bytes, &s.activity); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	evs, err := d.app.db.Events(context.Background(), store.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	bySeq := map[int64]tapdesk.Event{}
	for _, ev := range evs {
		bySeq[ev.Seq] = ev
	}
	for i := range out {
		out[i].ev = bySeq[out[i].seq]
	}
	// The portal's own background work (the mail the worker sends, alerts,
	// signed checkpoints, passes made outside tapdesk) runs on its own
	// schedule: the floods count what the refusals wrote.
	kept := out[:0]
	for _, e := range out {
		switch tapdesk.Activity(e.activity) {
		case tapdesk.ActMailQueued, tapdesk.ActMailSent, tapdesk.ActMailFailed, tapdesk.ActCheckpointPublished,
			tapdesk.ActAlertRaised, tapdesk.ActOutsidePassFound, tapdesk.ActOutsidePassDeleted:
			continue
		}
		kept = append(kept, e)
	}
	return kept
}

// clip shortens hostile text for a failure message.
func clip(s string) string {
	if len(s) > 120 {
		return s[:60] + "..." + s[len(s)-60:]
	}
	return s
}

// summary names events briefly for a failure message.
func summary(evs []storedEvent) string {
	var b strings.Builder
	for i, e := range evs {
		if i == 5 {
			fmt.Fprintf(&b, " ... %d more", len(evs)-i)
			break
		}
		fmt.Fprintf(&b, " [%d %q %d bytes %s]", e.seq, e.activity, e.bytes, clip(e.ev.Reason))
	}
	return b.String()
}

func headSeq(t *testing.T, raw *sql.DB) int64 {
	t.Helper()
	var seq int64
	if err := raw.QueryRow(`SELECT COALESCE(MAX(seq), 0) FROM audit_events`).Scan(&seq); err != nil {
		t.Fatal(err)
	}
	return seq
}

// TestAuditTrailTakesBoundedText sends megabyte user agents and a megabyte
// error_description to the refusals anyone can reach without signing in:
// every event they leave is small, cut with a visible mark, and the trail
// still verifies.
func TestAuditTrailTakesBoundedText(t *testing.T) {
	clock := &testClock{now: time.Now()}
	d := startTestDemoWith(t, func(o *demoOptions) { o.Now = clock.Now })
	raw := attacker(t, d)
	size := hostileHeaderSize(d)
	hugeAgent := strings.Repeat("A", size)
	hugeDescription := strings.Repeat("Call +1 555 0100 ", size/17)
	const maxRecord = 4 << 10

	// Each attack in its own window, so each leaves its own event.
	attack := func(t *testing.T, wantActivity tapdesk.Activity, do func(c *http.Client) (int, string), wantStatus int, wantPage string) tapdesk.Event {
		t.Helper()
		clock.set(clock.Now().Add(tapdesk.RefusalWindow + time.Second))
		before := headSeq(t, raw)
		status, page := do(rawClient())
		if status != wantStatus || !strings.Contains(page, wantPage) {
			t.Fatalf("status %d, want %d with %q; page %.300s", status, wantStatus, wantPage, page)
		}
		evs := eventsAfter(t, raw, d, before)
		if len(evs) != 1 || evs[0].activity != string(wantActivity) {
			t.Fatalf("%d events, want one %q: %s", len(evs), wantActivity, summary(evs))
		}
		if evs[0].bytes >= maxRecord {
			t.Errorf("the stored event is %d bytes, want under %d", evs[0].bytes, maxRecord)
		}
		t.Logf("sent %d bytes; stored event %d is %d bytes", size, evs[0].seq, evs[0].bytes)
		return evs[0].ev
	}
	wantAgentCut := func(t *testing.T, ev tapdesk.Event) {
		t.Helper()
		// What is kept and what the mark says was left out add up to what was sent.
		kept := len(ev.ActorAgent) - len(strings.TrimLeft(ev.ActorAgent, "A"))
		if n := utf8.RuneCountInString(ev.ActorAgent); n != tapdesk.MaxEventAgentChars || kept < 200 ||
			!strings.HasSuffix(ev.ActorAgent, fmt.Sprintf("…[truncated %d characters]", size-kept)) {
			t.Errorf("user agent stored as %d characters: %q", n, clip(ev.ActorAgent))
		}
	}

	t.Run("user agent on a refused sign-in callback", func(t *testing.T) {
		ev := attack(t, tapdesk.ActSignInRefused, func(c *http.Client) (int, string) {
			return send(t, c, http.MethodGet, d.baseURL+"/auth/callback?code=x&state=y", http.Header{"User-Agent": {hugeAgent}}, nil)
		}, http.StatusUnauthorized, "not started in this browser")
		wantAgentCut(t, ev)
	})
	t.Run("error_description on a refused sign-in callback", func(t *testing.T) {
		ev := attack(t, tapdesk.ActSignInRefused, func(c *http.Client) (int, string) {
			// A sign-in started in this browser, so the provider's error is read.
			if status, _ := send(t, c, http.MethodGet, d.baseURL+"/auth/login", nil, nil); status != http.StatusSeeOther {
				t.Fatalf("login: status %d", status)
			}
			q := url.Values{"error": {"access_denied"}, "error_description": {hugeDescription}, "state": {"y"}}
			return send(t, c, http.MethodGet, d.baseURL+"/auth/callback?"+q.Encode(), nil, nil)
		}, http.StatusUnauthorized, "")
		if n := utf8.RuneCountInString(ev.Reason); n > tapdesk.MaxEventReasonChars || !strings.Contains(ev.Reason, "Call +1 555 0100") ||
			!strings.Contains(ev.Reason, "…[truncated ") {
			t.Errorf("reason stored as %d characters: %.200q", n, ev.Reason)
		}
		if strings.Contains(d.logs.String(), strings.Repeat("Call +1 555 0100 ", 200)) {
			t.Error("the log holds the whole error_description")
		}
	})
	t.Run("user agent on a post without a CSRF token", func(t *testing.T) {
		ev := attack(t, tapdesk.ActAccessRefused, func(c *http.Client) (int, string) {
			return send(t, c, http.MethodPost, d.baseURL+"/auth/logout", http.Header{"User-Agent": {hugeAgent}}, url.Values{})
		}, http.StatusForbidden, "did not come from tapdesk")
		wantAgentCut(t, ev)
	})
	t.Run("user agent on a cross-site post echo refuses before the token check", func(t *testing.T) {
		ev := attack(t, tapdesk.ActAccessRefused, func(c *http.Client) (int, string) {
			return send(t, c, http.MethodPost, d.baseURL+"/requests", http.Header{"User-Agent": {hugeAgent}, "Sec-Fetch-Site": {"cross-site"},
				"Origin": {"https://evil.example"}}, url.Values{"upn": {"nina.newhire@contoso.example"}})
		}, http.StatusForbidden, "did not come from tapdesk")
		wantAgentCut(t, ev)
		if !strings.Contains(ev.Reason, "Sec-Fetch-Site: cross-site") || ev.Details["path"] != "/requests" || ev.Details["method"] != "POST" {
			t.Errorf("cross-site refusal recorded as %q %v", ev.Reason, ev.Details)
		}
	})
	t.Run("a huge Sec-Fetch-Site value", func(t *testing.T) {
		attack(t, tapdesk.ActAccessRefused, func(c *http.Client) (int, string) {
			return send(t, c, http.MethodPost, d.baseURL+"/auth/logout", http.Header{"Sec-Fetch-Site": {hugeAgent}}, url.Values{})
		}, http.StatusForbidden, "did not come from tapdesk")
	})
	t.Run("the trail still verifies", func(t *testing.T) {
		// The alert mail about the sample tenant's outside pass records
		// its sending on its own time: let it, so the walk and the head
		// read after it see the same trail.
		outboxDrained(t, d)
		rep, err := d.app.db.VerifyChain(context.Background())
		if err != nil || rep.Break != nil || rep.Checked != headSeq(t, raw) {
			t.Fatalf("verify: %v %+v", err, rep)
		}
	})
}

// TestAnonymousRefusalsAreCounted floods the refusals anyone can reach
// without signing in: each kind from one address leaves its first event and
// one event with the count when its window closes.
func TestAnonymousRefusalsAreCounted(t *testing.T) {
	clock := &testClock{now: time.Now()}
	d := startTestDemoWith(t, func(o *demoOptions) {
		o.Now = clock.Now
		// The floods here test the counting of what gets through to tapdesk's
		// own refusals; the rate limits (ratelimit_test.go) would stop them first.
		limits, err := tapdesk.ParseRateLimits("callback=off,link=off", tapdesk.DefaultRateLimits())
		if err != nil {
			t.Fatal(err)
		}
		o.RateLimits = limits
	})
	raw := attacker(t, d)
	ctx := context.Background()

	flood := func(t *testing.T, activity tapdesk.Activity, sent int, wantStatus int, hit func(c *http.Client, i int) int) {
		t.Helper()
		clock.set(clock.Now().Add(tapdesk.RefusalWindow + time.Second))
		start := clock.Now()
		before := headSeq(t, raw)
		c := rawClient()
		for i := range sent {
			if status := hit(c, i); status != wantStatus {
				t.Fatalf("hit %d: status %d, want %d", i, status, wantStatus)
			}
			clock.set(start.Add(time.Duration(i) * time.Millisecond)) // all inside one window
		}
		if evs := eventsAfter(t, raw, d, before); len(evs) != 1 || evs[0].activity != string(activity) {
			t.Fatalf("during the window: %d events, want the first %q only: %s", len(evs), activity, summary(evs))
		}
		clock.set(start.Add(tapdesk.RefusalWindow))
		d.app.sweepOnce(ctx, nil)
		evs := eventsAfter(t, raw, d, before)
		if len(evs) != 2 {
			t.Fatalf("after the window: %d events, want 2: %s", len(evs), summary(evs))
		}
		count := evs[1].ev
		want := fmt.Sprintf("Refused %d more times from 127.0.0.1 between ", sent-1)
		if count.Activity != activity || count.Result != tapdesk.ResultFailure || !strings.HasPrefix(count.Reason, want) ||
			count.Details["in_window"] != fmt.Sprint(sent) || count.ActorIP != "127.0.0.1" {
			t.Errorf("count event %+v, want %q and %d in the window", count, want, sent)
		}
		t.Logf("%d %q sent: %d events (%d and %d bytes); %s", sent, activity, len(evs), evs[0].bytes, evs[1].bytes, count.Reason)
	}

	t.Run("1000 posts without a CSRF token", func(t *testing.T) {
		flood(t, tapdesk.ActAccessRefused, 1000, http.StatusForbidden, func(c *http.Client, i int) int {
			status, _ := send(t, c, http.MethodPost, d.baseURL+"/auth/logout", nil, url.Values{})
			return status
		})
	})
	t.Run("300 cross-site posts", func(t *testing.T) {
		flood(t, tapdesk.ActAccessRefused, 300, http.StatusForbidden, func(c *http.Client, i int) int {
			status, _ := send(t, c, http.MethodPost, d.baseURL+"/requests", http.Header{"Sec-Fetch-Site": {"cross-site"}}, url.Values{})
			return status
		})
	})
	t.Run("300 refused sign-in callbacks", func(t *testing.T) {
		flood(t, tapdesk.ActSignInRefused, 300, http.StatusUnauthorized, func(c *http.Client, i int) int {
			status, _ := send(t, c, http.MethodGet, fmt.Sprintf("%s/auth/callback?code=%d&state=x", d.baseURL, i), nil, nil)
			return status
		})
	})
	t.Run("300 unknown dispute links", func(t *testing.T) {
		flood(t, tapdesk.ActDisputeRefused, 300, http.StatusNotFound, func(c *http.Client, i int) int {
			status, _ := send(t, c, http.MethodGet, fmt.Sprintf("%s/dispute/%043d", d.baseURL, i), nil, nil)
			return status
		})
	})
	t.Run("signed-in refusals are counted per person", func(t *testing.T) {
		clock.set(clock.Now().Add(tapdesk.RefusalWindow + time.Second))
		agent := d.browser(t)
		agent.signIn("/", "agent")
		before := headSeq(t, raw)
		for range 3 {
			agent.post("/auth/logout", url.Values{}).status(http.StatusForbidden)
		}
		evs := eventsAfter(t, raw, d, before)
		if len(evs) != 1 || evs[0].activity != string(tapdesk.ActAccessRefused) || evs[0].ev.Actor.UPN != "alex.agent@contoso.example" {
			t.Fatalf("%d events for 3 signed-in refusals in a window, want the first, naming the person: %s", len(evs), summary(evs))
		}
	})
}

// TestRefusalCountsSurviveShutdown: repeats counted in a window still open
// when tapdesk stops are written before the database closes.
func TestRefusalCountsSurviveShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env, err := startDemo(ctx, demoOptions{Addr: "127.0.0.1:0", DBPath: filepath.Join(t.TempDir(), "tapdesk.db"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MailInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- env.run(ctx) }()
	c := rawClient()
	const sent = 50
	for range sent {
		if status, _ := send(t, c, http.MethodPost, env.baseURL+"/auth/logout", nil, url.Values{}); status != http.StatusForbidden {
			t.Fatalf("status %d, want 403", status)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("demo stopped with: %v", err)
	}

	raw := attacker(t, &testDemo{demoEnv: env})
	rows, err := raw.Query(`SELECT record FROM audit_events WHERE activity = ? ORDER BY seq`, string(tapdesk.ActAccessRefused))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var details []map[string]string
	for rows.Next() {
		var record string
		var fields []string
		if err := rows.Scan(&record); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(record), &fields); err != nil || len(fields) != 18 {
			t.Fatalf("record %q: %v", record, err)
		}
		d := map[string]string{}
		if err := json.Unmarshal([]byte(fields[16]), &d); err != nil {
			t.Fatal(err)
		}
		details = append(details, d)
	}
	if len(details) != 2 || details[1]["in_window"] != fmt.Sprint(sent) {
		t.Fatalf("after stopping: %d events, want the first and a count of %d (last details: %v)", len(details), sent, details[len(details)-1])
	}
}
