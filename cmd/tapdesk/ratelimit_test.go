package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/mail"
	"github.com/tapdesk/tapdesk/store"
)

// manyActions lifts the filing and reveal limits for tests that file or
// reveal more in a minute than a person would in ten.
func manyActions(o *demoOptions) {
	limits, err := tapdesk.ParseRateLimits("file=off,reveal=off", tapdesk.DefaultRateLimits())
	if err != nil {
		panic(err)
	}
	o.RateLimits = limits
}

// rateEvents are the audit events of refusals over a rate limit.
func rateEvents(t *testing.T, d *testDemo) []tapdesk.Event {
	t.Helper()
	evs, err := d.app.db.Events(context.Background(), store.EventFilter{Activity: string(tapdesk.ActRateLimited)})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// queuedMail counts the outbox rows of a kind.
func queuedMail(t *testing.T, d *testDemo, kind string) int {
	t.Helper()
	var n int
	if err := d.app.db.SQL().QueryRow(`SELECT count(*) FROM outbox WHERE kind = ?`, kind).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// filingForm opens the request form for upn and returns the values to
// post, CSRF token included.
func filingForm(t *testing.T, d *testDemo, b *browser, upn string) url.Values {
	t.Helper()
	b.get("/requests/new?user=" + url.QueryEscape(d.userID(t, upn))).status(http.StatusOK)
	vals := url.Values{}
	form := b.doc().Find(`form[action="/requests"]`)
	if form.Length() == 0 {
		t.Fatalf("no request form for %s:\n%s", upn, b.body)
	}
	form.Find("input[type=hidden]").Each(func(_ int, in *goquery.Selection) {
		vals.Set(in.AttrOr("name", ""), in.AttrOr("value", ""))
	})
	vals.Set("ticket_ref", "INC-9")
	vals.Set("justification", "Locked out, verified by callback")
	vals.Set("verification", "callback")
	vals.Set("verification_note", "Called back the number on file")
	vals.Set("lifetime", "60")
	return vals
}

// rawPost posts a form with b's cookies, without following redirects, so
// many can run at once.
func rawPost(t *testing.T, b *browser, path string, form url.Values) *http.Response {
	req, _ := http.NewRequest(http.MethodPost, b.abs(path), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c := *b.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := c.Do(req)
	if err != nil {
		t.Error(err)
		return nil
	}
	res.Body.Close()
	return res
}

var filingTargets = []string{"nina.newhire@contoso.example", "marco.rossi@contoso.example", "chen.wei@contoso.example",
	"fatima.zahra@contoso.example", "lukas.becker@contoso.example"}

// One agent fires 20 filings at once (the flood of issue 9 was 20 in 0.6
// s, 40 approval mails). The first 5 (the per-person limit) are filed,
// the other 15 get 429 with Retry-After and a sentence saying when to try
// again; the refusals write one audit event, and only 5 filings' approval
// mails are queued.
func TestFilingFloodIsLimited(t *testing.T) {
	d, _ := startClockedDemo(t) // a stopped clock: nothing refills while the test runs
	agent := d.browser(t)
	agent.signIn("/", "agent")
	// A different target for each filing, so only the pace is refused.
	forms := make([]url.Values, 20)
	for i := range forms {
		forms[i] = filingForm(t, d, agent, filingTargets[i%len(filingTargets)])
	}
	mailsBefore := queuedMail(t, d, mail.KindApprovalRequest)

	statuses := make([]*http.Response, len(forms))
	var wg sync.WaitGroup
	for i, f := range forms {
		wg.Add(1)
		go func() { defer wg.Done(); statuses[i] = rawPost(t, agent, "/requests", f) }()
	}
	wg.Wait()
	filed, second, limited := 0, 0, 0
	retryAfter := ""
	for _, res := range statuses {
		switch {
		case res == nil:
		case res.StatusCode == http.StatusSeeOther && strings.HasPrefix(res.Header.Get("Location"), "/requests/"):
			filed++
		case res.StatusCode == http.StatusConflict:
			// Past the limiter, but a second open request for a target
			// (the 20 filings share 5 targets).
			second++
		case res.StatusCode == http.StatusTooManyRequests:
			limited++
			retryAfter = res.Header.Get("Retry-After")
			if retryAfter == "" {
				t.Error("a 429 without Retry-After")
			}
		default:
			t.Errorf("filing answered %d", res.StatusCode)
		}
	}
	perPerson := tapdesk.DefaultRateLimits().For(tapdesk.RateFile, tapdesk.PerPerson).Count
	if filed+second != perPerson || limited != len(forms)-perPerson || filed == 0 {
		t.Fatalf("%d filed, %d second requests and %d refused of %d, want %d past the limit and %d refused",
			filed, second, limited, len(forms), perPerson, len(forms)-perPerson)
	}
	// A token comes back every 10m/5 = 2 minutes.
	if s, err := strconv.Atoi(retryAfter); err != nil || s < 1 || s > 120 {
		t.Errorf("Retry-After %q, want 1..120 seconds", retryAfter)
	}

	// The page says what happened and when to try again, in words.
	agent.post("/requests", forms[0]).status(http.StatusTooManyRequests)
	msg := regexp.MustCompile(`You have tried to file 5 requests in the last 10 minutes\. Try again at \d\d:\d\d UTC \(in (2 minutes|a minute|\d+ seconds)\)\.`)
	if !msg.MatchString(agent.body) {
		t.Errorf("the refusal page does not say when to try again:\n%s", agent.body)
	}

	evs := rateEvents(t, d)
	if len(evs) != 1 {
		t.Fatalf("%d audit events for %d refusals, want 1", len(evs), limited+1)
	}
	ev := evs[0]
	if ev.Actor.UPN != "alex.agent@contoso.example" || ev.Details["limit"] != "file.person=5/10m" || ev.Result != tapdesk.ResultFailure ||
		!strings.Contains(ev.Reason, "You have tried to file 5 requests") {
		t.Errorf("refusal event: %+v", ev)
	}

	reqs, err := d.app.db.Requests(context.Background(), store.RequestFilter{})
	if err != nil {
		t.Fatal(err)
	}
	approvers := 0
	for _, a := range d.app.cfg.ApproverEmails {
		if a != "alex.agent@contoso.example" && !containsFold(filingTargets, a) {
			approvers++
		}
	}
	mails := queuedMail(t, d, mail.KindApprovalRequest) - mailsBefore
	if len(reqs) != filed || mails != filed*approvers {
		t.Errorf("%d requests and %d approval mails queued, want %d and %d", len(reqs), mails, filed, filed*approvers)
	}
	t.Logf("filing flood: sent %d, filed %d, 429 %d, refusal events %d, approval mails %d (%d approvers)",
		len(forms)+1, filed, limited+1, len(evs), mails, approvers)
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// rawGet fetches with b's cookies, not following redirects.
func rawGet(t *testing.T, b *browser, path string, header http.Header) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.abs(path), nil)
	for k, v := range header {
		req.Header[k] = v
	}
	c := *b.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

// One person searching the directory 80 times in a row: 60 (the limit per
// minute) are answered, then 429; one event. A colleague at the same
// address is not held back by it: the limit is per person, and the
// address's own limit is wider.
func TestSearchFloodFromOneAddress(t *testing.T) {
	d, _ := startClockedDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	colleague := d.browser(t)
	colleague.signIn("/", "agent2")

	ok, limited := 0, 0
	for i := range 80 {
		switch res := rawGet(t, agent, fmt.Sprintf("/users?q=nina%d", i%3), nil); res.StatusCode {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("search answered %d", res.StatusCode)
		}
	}
	if ok != 60 || limited != 20 {
		t.Fatalf("%d searches answered and %d refused, want 60 and 20", ok, limited)
	}
	// The search page itself (no query) is not a search.
	agent.get("/users").status(http.StatusOK)
	colleague.get("/users?q=nina").status(http.StatusOK).contains("nina.newhire@contoso.example")
	if evs := rateEvents(t, d); len(evs) != 1 || evs[0].Details["limit"] != "search.person=60/1m" || evs[0].ActorIP != "127.0.0.1" {
		t.Fatalf("want one event for the search flood, got %+v", evs)
	}
	t.Logf("search flood: sent 80, answered %d, 429 %d, events %d", ok, limited, len(rateEvents(t, d)))
}

// Two people behind one address share the address's limit: with it set
// to 20 searches a minute, 15 from each means the second person is turned
// away after 5, with a sentence about the address, not about them. Each
// person the shared address's limit refuses is audited (the first of
// their window), not only the first person the address's bucket refused;
// the repeats are counted per person.
func TestTwoPeopleFromOneAddress(t *testing.T) {
	limits, err := tapdesk.ParseRateLimits("search.address=20/1m", tapdesk.DefaultRateLimits())
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{now: time.Now()}
	d := startTestDemoWith(t, func(o *demoOptions) { o.RateLimits, o.Now = limits, clock.Now })
	first, second := d.browser(t), d.browser(t)
	first.signIn("/", "agent")
	second.signIn("/", "agent2")
	count := func(b *browser) (ok, limited int) {
		for range 15 {
			switch res := rawGet(t, b, "/users?q=nina", nil); res.StatusCode {
			case http.StatusOK:
				ok++
			case http.StatusTooManyRequests:
				limited++
			}
		}
		return
	}
	if ok, limited := count(first); ok != 15 || limited != 0 {
		t.Fatalf("first person: %d answered, %d refused; want 15, 0", ok, limited)
	}
	ok, limited := count(second)
	if ok != 5 || limited != 10 {
		t.Fatalf("second person: %d answered, %d refused; want 5, 10", ok, limited)
	}
	second.get("/users?q=nina").status(http.StatusTooManyRequests).
		contains("20 directory searches have been made from your network address in the last minute.")
	// The first person, now refused by the same bucket, three times.
	if ok, again := count3(t, first); ok != 0 || again != 3 {
		t.Fatalf("first person after the address's limit: %d answered, %d refused", ok, again)
	}
	evs := rateEvents(t, d)
	if len(evs) != 2 || evs[0].Details["limit"] != "search.address=20/1m" || evs[0].Details["key"] != "127.0.0.1" ||
		evs[1].Actor.UPN != "sam.second@contoso.example" || evs[0].Actor.UPN != "alex.agent@contoso.example" { // newest first
		t.Fatalf("want one event per person refused, naming the address, got %+v", evs)
	}
	clock.set(clock.Now().Add(tapdesk.RefusalWindow + time.Second))
	d.app.sweepOnce(context.Background(), nil)
	counted := map[string]string{}
	for _, ev := range rateEvents(t, d) {
		if n, ok := ev.Details["in_window"]; ok {
			counted[ev.Actor.UPN] = n
		}
	}
	if len(counted) != 2 || counted["sam.second@contoso.example"] != "11" || counted["alex.agent@contoso.example"] != "3" {
		t.Fatalf("counts per person: %v", counted)
	}
	t.Logf("two people, one address: sent 34, answered %d, 429 %d, events %d", 15+ok, limited+4, len(rateEvents(t, d)))
}

// Anonymous sign-in starts from one address stop at 30 a minute, and a
// forged X-Forwarded-For, new on every try, does not make each one a new
// address (no proxy is trusted).
func TestSignInFloodWithRotatingForgedAddress(t *testing.T) {
	d, _ := startClockedDemo(t)
	ok, limited := signInStarts(t, d, 50, func(i int) http.Header {
		return http.Header{"X-Forwarded-For": {fmt.Sprintf("198.51.100.%d", i+1)}, "X-Real-Ip": {fmt.Sprintf("203.0.113.%d", i+1)}}
	})
	if ok != 30 || limited != 20 {
		t.Fatalf("%d sign-ins started and %d refused, want 30 and 20", ok, limited)
	}
	evs := rateEvents(t, d)
	if len(evs) != 1 || evs[0].ActorIP != "127.0.0.1" || evs[0].Details["limit"] != "sign-in.address=30/1m" {
		t.Fatalf("want one event for the peer address, got %+v", evs)
	}
	t.Logf("sign-in flood with forged XFF: sent 50, started %d, 429 %d, events %d", ok, limited, len(evs))
}

// A limit gives back one filing per 2 minutes and is whole again after its
// 10-minute window, on the portal's clock. Its refusals are audited like
// every refusal, the first of a person's refusal minute on its own: the
// refusal 2 minutes later is a new minute's, and so is the one in the new
// window.
func TestFilingLimitResetsAfterWindow(t *testing.T) {
	d, clock := startClockedDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	form := func(i int) url.Values { return filingForm(t, d, agent, filingTargets[i%len(filingTargets)]) }
	// Each filing is cancelled at once, so the five targets can be filed
	// for again (one open request per target) and only the pace is refused.
	file := func(i int) int {
		s := agent.post("/requests", form(i)).last.StatusCode
		if s == http.StatusOK {
			agent.submit(`form[action$="/cancel"]`, nil).status(http.StatusOK)
		}
		return s
	}

	for i := range 5 {
		if s := file(i); s != http.StatusOK {
			t.Fatalf("filing %d: status %d", i+1, s)
		}
	}
	if s := file(5); s != http.StatusTooManyRequests {
		t.Fatalf("sixth filing: status %d, want 429", s)
	}
	if ra := agent.last.Header.Get("Retry-After"); ra != "120" {
		t.Errorf("Retry-After %q, want 120 (one filing back every 2 minutes)", ra)
	}
	agent.contains("(in 2 minutes)")

	clock.advance(2 * time.Minute)
	if s := file(6); s != http.StatusOK {
		t.Fatalf("after 2 minutes: status %d, want one more let in", s)
	}
	if s := file(7); s != http.StatusTooManyRequests {
		t.Fatalf("second filing after 2 minutes: status %d, want 429", s)
	}
	if n := len(rateEvents(t, d)); n != 2 {
		t.Fatalf("%d refusal events, want 2 (one a refusal minute)", n)
	}

	clock.advance(10 * time.Minute)
	for i := range 5 {
		if s := file(10 + i); s != http.StatusOK {
			t.Fatalf("new window, filing %d: status %d", i+1, s)
		}
	}
	if s := file(15); s != http.StatusTooManyRequests {
		t.Fatalf("new window, sixth filing: status %d, want 429", s)
	}
	if n := len(rateEvents(t, d)); n != 3 {
		t.Fatalf("%d refusal events over two windows, want 3", n)
	}
}

// forwardingTransport sends every request as if through a proxy that
// names client as the browser's address.
type forwardingTransport struct{ client string }

func (f forwardingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.client)
	return http.DefaultTransport.RoundTrip(r)
}

// The address in audit events: a forged X-Forwarded-For from a peer that
// is not a trusted proxy is ignored (the event records the peer,
// 127.0.0.1); with 127.0.0.0/8 trusted the forwarded client is recorded.
func TestClientAddressFromTrustedProxiesOnly(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted string
		want    string
	}{
		{"forged header from an untrusted peer", "", "127.0.0.1"},
		{"header from a trusted proxy", "127.0.0.0/8", "203.0.113.50"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxies, err := tapdesk.ParseTrustedProxies(strings.Fields(tc.trusted))
			if err != nil {
				t.Fatal(err)
			}
			d := startTestDemoWith(t, func(o *demoOptions) { o.TrustedProxies = proxies })
			agent := d.browser(t)
			agent.client.Transport = forwardingTransport{client: "203.0.113.50"}
			agent.signIn("/", "agent")
			evs, err := d.app.db.Events(context.Background(), store.EventFilter{Activity: string(tapdesk.ActSignIn)})
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 1 || evs[0].ActorIP != tc.want {
				t.Fatalf("sign-in events %+v, want one from %s", evs, tc.want)
			}
		})
	}
}

// A malformed entry in TAPDESK_TRUSTED_PROXIES or TAPDESK_RATE_LIMITS
// stops serve and demo with a sentence naming it.
func TestNetworkSettingsRefuseMalformedEntries(t *testing.T) {
	for _, tc := range []struct{ env, value, want string }{
		{"TAPDESK_TRUSTED_PROXIES", "10.0.0.0/8, 10.0.0.0/33", `TAPDESK_TRUSTED_PROXIES: "10.0.0.0/33" is not an address range`},
		{"TAPDESK_TRUSTED_PROXIES", "proxy.internal", `"proxy.internal" is not an address range`},
		{"TAPDESK_RATE_LIMITS", "file.person=five/10m", `TAPDESK_RATE_LIMITS: "file.person=five/10m": the value is COUNT/WINDOW`},
		{"TAPDESK_RATE_LIMITS", "fly=5/1m", `"fly=5/1m" does not start with a known action`},
	} {
		getenv := func(k string) string {
			if k == tc.env {
				return tc.value
			}
			return ""
		}
		var out strings.Builder
		err := run(context.Background(), []string{"demo", "--addr", "127.0.0.1:0"}, getenv, &out, &out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("demo with %s=%s: %v, want %q", tc.env, tc.value, err, tc.want)
		}
		err = run(context.Background(), []string{"serve"}, getenv, &out, &out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("serve with %s=%s: %v, want %q", tc.env, tc.value, err, tc.want)
		}
	}
}

// Whose headers count, case by case: only a listed proxy's, and echo's
// own trust of loopback and private peers is off.
func TestClientIP(t *testing.T) {
	proxies, err := tapdesk.ParseTrustedProxies([]string{"10.1.0.0/16", "2001:db8::1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, peer, xff, realIP string
		trusted                 bool
		want                    string
	}{
		{"no proxies: forwarded header ignored", "127.0.0.1:5000", "203.0.113.5", "", false, "127.0.0.1"},
		{"no proxies: real-ip ignored", "192.168.1.9:5000", "", "203.0.113.5", false, "192.168.1.9"},
		{"loopback peer, not listed", "127.0.0.1:5000", "203.0.113.5", "", true, "127.0.0.1"},
		{"private peer, not listed", "192.168.1.9:5000", "203.0.113.5", "", true, "192.168.1.9"},
		{"listed proxy", "10.1.2.3:5000", "203.0.113.5", "", true, "203.0.113.5"},
		{"listed proxy, client forged a hop", "10.1.2.3:5000", "198.51.100.1, 203.0.113.5", "", true, "203.0.113.5"},
		{"two listed proxies", "10.1.2.3:5000", "203.0.113.5, 10.1.9.9", "", true, "203.0.113.5"},
		{"listed proxy with X-Real-IP, X-Forwarded-For read", "10.1.2.3:5000", "", "203.0.113.5", true, "10.1.2.3"},
		{"listed IPv6 proxy", "[2001:db8::1]:5000", "2001:db8:aa::7", "", true, "2001:db8:aa::7"},
		{"garbage from a listed proxy", "10.1.2.3:5000", "not-an-ip", "", true, "10.1.2.3"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = c.peer
			if c.xff != "" {
				r.Header.Set("X-Forwarded-For", c.xff)
			}
			if c.realIP != "" {
				r.Header.Set("X-Real-IP", c.realIP)
			}
			var trusted []*net.IPNet
			if c.trusted {
				trusted = proxies
			}
			if got := clientIP(trusted, "")(r); got != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
}

// Guessing link tokens: anonymous GETs of made-up approval and dispute
// links from one address stop at 60 in 10 minutes, one event for the rest.
func TestLinkGuessingFromOneAddress(t *testing.T) {
	d, _ := startClockedDemo(t)
	anon := d.browser(t)
	answered, limited := 0, 0
	for i := range 100 {
		path := fmt.Sprintf("/dispute/guess%040d", i)
		if i%2 == 1 {
			path = fmt.Sprintf("/approve/guess%040d", i)
		}
		switch res := rawGet(t, anon, path, nil); res.StatusCode {
		case http.StatusTooManyRequests:
			limited++
		case http.StatusInternalServerError:
			t.Fatalf("%s answered 500", path)
		default:
			answered++
		}
	}
	if answered != 60 || limited != 40 {
		t.Fatalf("%d answered and %d refused, want 60 and 40", answered, limited)
	}
	if evs := rateEvents(t, d); len(evs) != 1 || evs[0].Details["limit"] != "link.address=60/10m" || strings.Contains(evs[0].Details["path"], "guess") {
		t.Fatalf("want one event, without the token, got %+v", evs)
	}
	t.Logf("link guessing: sent 100, answered %d, 429 %d, events %d", answered, limited, len(rateEvents(t, d)))
}

// count3 searches three times as b and returns how many were answered and
// how many refused for the rate.
func count3(t *testing.T, b *browser) (ok, limited int) {
	t.Helper()
	for range 3 {
		switch res := rawGet(t, b, "/users?q=nina", nil); res.StatusCode {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			limited++
		}
	}
	return ok, limited
}

// signInStarts starts n anonymous sign-ins, each with the headers of its
// number, and counts those started and those refused over a limit.
func signInStarts(t *testing.T, d *testDemo, n int, headers func(i int) http.Header) (ok, limited int) {
	t.Helper()
	anon := d.browser(t)
	for i := range n {
		switch res := rawGet(t, anon, "/auth/login?next=/", headers(i)); res.StatusCode {
		case http.StatusFound, http.StatusSeeOther:
			ok++
		case http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("sign-in start answered %d", res.StatusCode)
		}
	}
	return ok, limited
}
