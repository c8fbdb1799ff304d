package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
)

// floodWindow runs hit sent times inside one refusal window on clock and
// returns the events written during the window and after the sweep that
// closes it.
func floodWindow(t *testing.T, d *testDemo, raw *sql.DB, clock *testClock, sent int, hit func(i int)) (during, after []storedEvent) {
	t.Helper()
	clock.set(clock.Now().Add(tapdesk.RefusalWindow + time.Second))
	start := clock.Now()
	before := headSeq(t, raw)
	for i := range sent {
		hit(i)
		clock.set(start.Add(time.Duration(i) * time.Millisecond))
	}
	during = eventsAfter(t, raw, d, before)
	// Every window opened during the flood (the overflow's too) has closed.
	clock.set(start.Add(tapdesk.RefusalWindow + time.Duration(sent)*time.Millisecond))
	d.app.sweepOnce(context.Background(), nil)
	return during, eventsAfter(t, raw, d, before)
}

// TestRefusalEventsOutliveTheClient: a refusal whose client hangs up at
// once (net/http cancels the request's context when the connection goes)
// is still written, and so are the counts of the window it closed, which
// the tally has already handed over.
func TestRefusalEventsOutliveTheClient(t *testing.T) {
	clock := &testClock{now: time.Now()}
	d := startTestDemoWith(t, func(o *demoOptions) { o.Now = clock.Now })
	raw := attacker(t, d)
	start := clock.Now()
	before := headSeq(t, raw)
	c := rawClient()
	const sent = 40
	for range sent {
		if status, _ := send(t, c, http.MethodPost, d.baseURL+"/auth/logout", nil, url.Values{}); status != http.StatusForbidden {
			t.Fatalf("status %d, want 403", status)
		}
	}
	// A window later, one more; its client has reset the connection, so the
	// request reaches tapdesk with its context already cancelled.
	clock.set(start.Add(tapdesk.RefusalWindow + time.Second))
	gone, hangUp := context.WithCancel(context.Background())
	hangUp()
	req := httptest.NewRequestWithContext(gone, http.MethodPost, "/auth/logout", strings.NewReader(""))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = "127.0.0.1:40000"
	rec := httptest.NewRecorder()
	d.app.echo.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("status %d, want 403", rec.Code)
	}
	evs := eventsAfter(t, raw, d, before)
	if len(evs) != 3 || evs[1].ev.Details["in_window"] != fmt.Sprint(sent) || evs[2].activity != string(tapdesk.ActAccessRefused) {
		t.Fatalf("%d events, want the first, the count of %d and the refusal whose client hung up: %s", len(evs), sent, summary(evs))
	}
	t.Logf("sent %d + 1 after a hang-up: %d events (%s)", sent, len(evs), evs[1].ev.Reason)
}

// TestSignedInRefusalsAreCounted: a signed-in person without the auditor
// role looping GET /audit, and posting forms without a token, writes the
// first refusal and one count naming them per window, not an event each.
func TestSignedInRefusalsAreCounted(t *testing.T) {
	clock := &testClock{now: time.Now()}
	d := startTestDemoWith(t, func(o *demoOptions) { o.Now = clock.Now })
	raw := attacker(t, d)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	for _, tc := range []struct {
		name string
		sent int
		hit  func() int
	}{
		{"wrong-role GET /audit", 500, func() int { return rawGet(t, agent, "/audit", nil).StatusCode }},
		{"posts without a CSRF token", 300, func() int { return rawPost(t, agent, "/auth/logout", url.Values{}).StatusCode }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			during, after := floodWindow(t, d, raw, clock, tc.sent, func(i int) {
				if status := tc.hit(); status != http.StatusForbidden {
					t.Fatalf("hit %d: status %d, want 403", i, status)
				}
			})
			if len(during) != 1 || len(after) != 2 {
				t.Fatalf("%d events during the window and %d after, want 1 and 2: %s", len(during), len(after), summary(after))
			}
			for _, e := range after {
				if e.activity != string(tapdesk.ActAccessRefused) || e.ev.Actor.UPN != "alex.agent@contoso.example" {
					t.Errorf("event does not name the person: %+v", e.ev)
				}
			}
			if count := after[1].ev; count.Details["in_window"] != fmt.Sprint(tc.sent) ||
				!strings.HasPrefix(count.Reason, fmt.Sprintf("Refused %d more times for alex.agent@contoso.example", tc.sent-1)) {
				t.Errorf("count event %q %v", count.Reason, count.Details)
			}
			t.Logf("%s: sent %d, events %d; %s", tc.name, tc.sent, len(after), after[1].ev.Reason)
		})
	}
}

// TestRefusalsFromManyAddresses: behind a trusted proxy, one host taking a
// new IPv6 address in its /64 for every refusal is one source; a flood
// from as many /64s as it likes writes at most MaxRefusalFirsts events and
// one count a minute.
func TestRefusalsFromManyAddresses(t *testing.T) {
	clock := &testClock{now: time.Now()}
	proxies, err := tapdesk.ParseTrustedProxies([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	d := startTestDemoWith(t, func(o *demoOptions) { o.Now, o.TrustedProxies = clock.Now, proxies })
	raw := attacker(t, d)
	c := rawClient()
	post := func(from string) {
		if status, _ := send(t, c, http.MethodPost, d.baseURL+"/auth/logout", http.Header{"X-Forwarded-For": {from}}, url.Values{}); status != http.StatusForbidden {
			t.Fatalf("status %d, want 403", status)
		}
	}
	const sent = 2000

	t.Run("2000 addresses in one /64", func(t *testing.T) {
		during, after := floodWindow(t, d, raw, clock, sent, func(i int) { post(fmt.Sprintf("2001:db8:1:2::%x", i+1)) })
		if len(during) != 1 || len(after) != 2 || after[1].ev.Details["in_window"] != fmt.Sprint(sent) ||
			after[1].ev.Details["source"] != "2001:db8:1:2::/64" || after[1].ev.ActorIP != "" {
			t.Fatalf("%d events during the window, %d after, want 1 and 2 counting %d from the /64: %s", len(during), len(after), sent, summary(after))
		}
		t.Logf("sent %d from one /64: %d events; %s", sent, len(after), after[1].ev.Reason)
	})
	t.Run("2000 /64s", func(t *testing.T) {
		during, after := floodWindow(t, d, raw, clock, sent, func(i int) { post(fmt.Sprintf("2001:db8:%x:%x::1", i>>8, i&255)) })
		if len(during) != tapdesk.MaxRefusalFirsts || len(after) != tapdesk.MaxRefusalFirsts+1 {
			t.Fatalf("%d events during the window, %d after, want %d and %d", len(during), len(after), tapdesk.MaxRefusalFirsts, tapdesk.MaxRefusalFirsts+1)
		}
		if count := after[len(after)-1].ev; count.Details["counted"] != fmt.Sprint(sent-tapdesk.MaxRefusalFirsts) {
			t.Errorf("overflow count %q %v", count.Reason, count.Details)
		}
		t.Logf("sent %d from %d /64s: %d events", sent, sent, len(after))
	})
}

// TestRateLimitRefusalsFromManyAddresses: with one sign-in a minute per
// address, 300 /64s each starting two are refused 300 times; the refusals
// go through the tally and its cap rather than one event per address.
func TestRateLimitRefusalsFromManyAddresses(t *testing.T) {
	clock := &testClock{now: time.Now()}
	proxies, err := tapdesk.ParseTrustedProxies([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	limits, err := tapdesk.ParseRateLimits("sign-in.address=1/1m", tapdesk.DefaultRateLimits())
	if err != nil {
		t.Fatal(err)
	}
	d := startTestDemoWith(t, func(o *demoOptions) { o.Now, o.TrustedProxies, o.RateLimits = clock.Now, proxies, limits })
	raw := attacker(t, d)
	c := rawClient()
	const addresses = 300
	limited := 0
	_, after := floodWindow(t, d, raw, clock, 2*addresses, func(i int) {
		status, _ := send(t, c, http.MethodGet, d.baseURL+"/auth/login", http.Header{"X-Forwarded-For": {fmt.Sprintf("2001:db8:%x:%x::1", i/2>>8, i/2&255)}}, nil)
		if status == http.StatusTooManyRequests {
			limited++
		}
	})
	evs := rateEvents(t, d)
	if limited != addresses || len(evs) != tapdesk.MaxRefusalFirsts+1 {
		t.Fatalf("%d refused, %d rate-limit events; want %d and %d", limited, len(evs), addresses, tapdesk.MaxRefusalFirsts+1)
	}
	counts := 0
	for _, ev := range evs {
		if n, ok := ev.Details["counted"]; ok {
			counts++
			if n != fmt.Sprint(addresses-tapdesk.MaxRefusalFirsts) {
				t.Errorf("overflow count %q %v", ev.Reason, ev.Details)
			}
		}
	}
	if counts != 1 {
		t.Errorf("%d count events, want 1", counts)
	}
	t.Logf("sent %d from %d /64s: 429 %d, events %d (all kinds %d)", 2*addresses, addresses, limited, len(evs), len(after))
}

// TestMalformedApprovalLinksAreAudited: an approval token of the wrong
// shape is refused and audited, like an altered dispute token; anonymous
// ones are counted.
func TestMalformedApprovalLinksAreAudited(t *testing.T) {
	clock := &testClock{now: time.Now()}
	d := startTestDemoWith(t, func(o *demoOptions) { o.Now = clock.Now })
	raw := attacker(t, d)
	c := rawClient()
	const sent = 50
	during, after := floodWindow(t, d, raw, clock, sent, func(i int) {
		if status, _ := send(t, c, http.MethodGet, fmt.Sprintf("%s/approve/altered-%d", d.baseURL, i), nil, nil); status != http.StatusNotFound {
			t.Fatalf("status %d, want 404", status)
		}
	})
	if len(during) != 1 || len(after) != 2 || during[0].activity != string(tapdesk.ActLinkRefused) ||
		!strings.Contains(during[0].ev.Reason, "wrong shape") || after[1].ev.Details["in_window"] != fmt.Sprint(sent) {
		t.Fatalf("%d events during the window and %d after, want the first refusal and a count of %d: %s", len(during), len(after), sent, summary(after))
	}
	if strings.Contains(during[0].ev.Details["path"], "altered-") {
		t.Errorf("the event holds the token: %v", during[0].ev.Details)
	}

	approver := d.browser(t)
	approver.signIn("/", "approver")
	before := headSeq(t, raw)
	approver.get("/approve/altered").status(http.StatusNotFound)
	if evs := eventsAfter(t, raw, d, before); len(evs) != 1 || evs[0].ev.Actor.UPN != "avery.approver@contoso.example" {
		t.Fatalf("signed-in approver: %s", summary(evs))
	}
	t.Logf("sent %d malformed approval links: %d events", sent, len(after))
}

// TestUnreadBodiesAreAudited: a cross-site multipart or text/plain post is
// a CSRF attempt that limitBody refuses before any session is loaded; it is
// audited with the address, path, method and content type, and counted.
func TestUnreadBodiesAreAudited(t *testing.T) {
	clock := &testClock{now: time.Now()}
	d := startTestDemoWith(t, func(o *demoOptions) { o.Now = clock.Now })
	raw := attacker(t, d)
	c := rawClient()
	postAs := func(contentType, body string) int {
		req, err := http.NewRequest(http.MethodPost, d.baseURL+"/requests", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", contentType)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	const sent = 300
	multipart := "multipart/form-data; boundary=" + strings.Repeat("x", 4000)
	during, after := floodWindow(t, d, raw, clock, sent, func(i int) {
		if status := postAs(multipart, "--x\r\n"); status != http.StatusUnsupportedMediaType {
			t.Fatalf("status %d, want 415", status)
		}
	})
	if len(during) != 1 || len(after) != 2 || after[1].ev.Details["in_window"] != fmt.Sprint(sent) {
		t.Fatalf("%d events during the window and %d after, want 1 and 2 counting %d: %s", len(during), len(after), sent, summary(after))
	}
	first := during[0].ev
	if first.Activity != tapdesk.ActAccessRefused || first.Details["path"] != "/requests" || first.Details["method"] != "POST" ||
		first.Details["status"] != "415" || !strings.HasPrefix(first.Details["content_type"], "multipart/form-data") ||
		len(first.Details["content_type"]) > 4*tapdesk.MaxRefusedContentTypeChars {
		t.Errorf("first event %q %v", first.Reason, first.Details)
	}

	_, after = floodWindow(t, d, raw, clock, 1, func(int) {
		if status := postAs("text/plain", "upn=nina.newhire@contoso.example"); status != http.StatusUnsupportedMediaType {
			t.Fatalf("status %d, want 415", status)
		}
	})
	if len(after) != 1 || after[0].ev.Details["content_type"] != "text/plain" {
		t.Fatalf("text/plain post: %s", summary(after))
	}
	t.Logf("sent %d multipart posts: %d events; %s", sent, 2, first.Reason)
}

// TestHeldAuditEventsWaitForTheSweep: while the audit store refuses writes
// (a trigger stands in for a database that is down), 20 refusals from 20
// addresses are held. When it recovers, the next refusal (an attacker's
// anonymous post) writes its own event only, not the backlog; the sweep
// writes the backlog once, in a batch, with no duplicates. An event the
// store always refuses is dropped after MaxEventWriteTries tries.
func TestHeldAuditEventsWaitForTheSweep(t *testing.T) {
	clock := &testClock{now: time.Now()}
	proxies, err := tapdesk.ParseTrustedProxies([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	// startTestDemoWith waits for the sweep that runs at start, which would
	// write the held events if it ran late, after the store recovered below.
	d := startTestDemoWith(t, func(o *demoOptions) { o.Now, o.TrustedProxies = clock.Now, proxies })
	raw := attacker(t, d)
	write(t, raw, `CREATE TABLE audit_down (down INTEGER NOT NULL)`)
	write(t, raw, `INSERT INTO audit_down VALUES (1)`)
	write(t, raw, `CREATE TRIGGER audit_down BEFORE INSERT ON audit_events WHEN (SELECT down FROM audit_down) = 1
		BEGIN SELECT RAISE(ABORT, 'audit store down'); END`)
	// The refusal from this address is one the store never takes.
	write(t, raw, `CREATE TRIGGER audit_poison BEFORE INSERT ON audit_events WHEN CAST(NEW.record AS TEXT) LIKE '%198.51.100.66%'
		BEGIN SELECT RAISE(ABORT, 'refused'); END`)
	c := rawClient()
	post := func(from string) {
		if status, _ := send(t, c, http.MethodPost, d.baseURL+"/auth/logout", http.Header{"X-Forwarded-For": {from}}, url.Values{}); status != http.StatusForbidden {
			t.Fatalf("status %d, want 403", status)
		}
	}
	before := headSeq(t, raw)
	const down = 20
	for i := range down {
		post(fmt.Sprintf("203.0.113.%d", i+1))
	}
	post("198.51.100.66")
	if evs := eventsAfter(t, raw, d, before); len(evs) != 0 {
		t.Fatalf("written while down: %s", summary(evs))
	}
	write(t, raw, `UPDATE audit_down SET down = 0`)
	post("192.0.2.1")
	if evs := eventsAfter(t, raw, d, before); len(evs) != 1 || evs[0].ev.ActorIP != "192.0.2.1" {
		t.Fatalf("a refusal wrote %d events, want its own only: %s", len(evs), summary(evs))
	}
	sweeps := 0
	sweep := func() {
		sweeps++
		d.app.sweepOnce(context.Background(), nil)
	}
	sweep()
	// The refusals only: the sweep also records the test's triggers on
	// the audit table as tampering (its walk of the trail, which holds
	// heightened-threat mode on).
	refusals := func() []storedEvent {
		var out []storedEvent
		for _, e := range eventsAfter(t, raw, d, before) {
			if e.ev.Activity != tapdesk.ActTamperDetected {
				out = append(out, e)
			}
		}
		return out
	}
	evs := refusals()
	seen := map[string]int{}
	for _, e := range evs {
		seen[e.ev.ActorIP]++
	}
	if len(evs) != down+1 || len(seen) != down+1 || seen["198.51.100.66"] != 0 {
		t.Fatalf("after the sweep: %d events from %d addresses, want %d, each once: %v", len(evs), len(seen), down+1, seen)
	}
	// The poisoned event failed once at its refusal and once per sweep.
	for range tapdesk.MaxEventWriteTries - 2 {
		sweep()
	}
	write(t, raw, `DROP TRIGGER audit_poison`)
	sweep()
	if after := refusals(); len(after) != len(evs) {
		t.Fatalf("the event the store refused was not dropped after %d tries: %s", tapdesk.MaxEventWriteTries, summary(after[len(evs):]))
	}
	t.Logf("%d refusals while down + 1 after: that one wrote 1 event, the sweep %d; the refused event dropped after %d tries (%d sweeps)",
		down+1, down, tapdesk.MaxEventWriteTries, sweeps)
}

// TestProbedRequestsAreNamed: a signed-in agent walking 30 requests that
// are not theirs to see gets "no such request" each time; the first
// refusal is its own event and the count names every request probed, and
// their targets, rather than folding the walk into one number.
func TestProbedRequestsAreNamed(t *testing.T) {
	clock := &testClock{now: time.Now()}
	d := startTestDemoWith(t, func(o *demoOptions) { o.Now = clock.Now })
	raw := attacker(t, d)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	path := fileRequestFor(t, agent, "marco.rossi@contoso.example", "Engineer lost laptop and phone at once")
	first := strings.TrimPrefix(path, "/requests/")
	const probed = 30
	ids := []string{first}
	for i := 1; i < probed; i++ {
		id := fmt.Sprintf("%s%02d", first[:24], i)
		if id == first { // the filed request's id may end in these digits
			id = fmt.Sprintf("%s%02d", first[:24], i+50)
		}
		ids = append(ids, id)
		write(t, raw, `CREATE TEMP TABLE copy AS SELECT * FROM requests WHERE id = ?`, first)
		write(t, raw, `UPDATE copy SET id = ?, correlation_id = ?, target_id = ?, target_upn = ?`,
			id, fmt.Sprintf("corr-%d", i), fmt.Sprintf("target-%d", i), fmt.Sprintf("user%d@contoso.example", i))
		write(t, raw, `INSERT INTO requests SELECT * FROM copy`)
		write(t, raw, `DROP TABLE copy`)
	}
	other := d.browser(t)
	other.signIn("/", "agent2")
	_, after := floodWindow(t, d, raw, clock, probed, func(i int) {
		if status := rawGet(t, other, "/requests/"+ids[i], nil).StatusCode; status != http.StatusNotFound {
			t.Fatalf("probe %d: status %d, want 404", i, status)
		}
	})
	if len(after) != 2 || after[0].ev.RequestID != ids[0] || after[1].ev.Details["in_window"] != fmt.Sprint(probed) {
		t.Fatalf("%d events, want the first refusal and one count: %s", len(after), summary(after))
	}
	count := after[1].ev
	named := strings.Fields(count.Details["requests"] + " " + count.Details["requests_2"])
	if got := named; !slices.Equal(got, ids) {
		t.Errorf("the count names %d of the %d requests probed: %v", len(got), probed, count.Details)
	}
	if targets := strings.Fields(count.Details["targets"]); len(targets) != tapdesk.MaxRefusalTargets || count.Details["targets_left_out"] != fmt.Sprint(probed-tapdesk.MaxRefusalTargets) {
		t.Errorf("targets: %v", count.Details)
	}
	if count.ActorIP != "127.0.0.1" || count.Details["addresses"] != "127.0.0.1" {
		t.Errorf("ActorIP %q, addresses %q", count.ActorIP, count.Details["addresses"])
	}
	t.Logf("probed %d requests: %d events; the count names %d requests (%d chars over requests, requests_2)",
		probed, len(after), len(named), len(count.Details["requests"])+len(count.Details["requests_2"]))
}
