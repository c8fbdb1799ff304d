package main

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/tapdesk/tapdesk"
)

// The attack on signed-in staff through the address table: a flood of
// anonymous approval-link guesses from fresh IPv6 /64s (a free /48 holds
// 65,536) fills the table and drains the overflow bucket new addresses
// share. An approver signed in from an address the table holds no bucket
// for then opens their link: their own person bucket governs, not the
// drained overflow, so they are not refused. The table is lowered to 20
// keys and link.address to 1 per 10 minutes (overflow: 100) so the flood
// is short.
func TestAddressFloodDoesNotLockOutStaff(t *testing.T) {
	proxies, err := tapdesk.ParseTrustedProxies([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	limits, err := tapdesk.ParseRateLimits("link.address=1/10m", tapdesk.DefaultRateLimits())
	if err != nil {
		t.Fatal(err)
	}
	d := startTestDemoWith(t, func(o *demoOptions) {
		o.TrustedProxies, o.RateLimits, o.RateMaxAddressKeys = proxies, limits, 20
	})
	agent := d.browser(t)
	agent.signIn("/", "agent")
	req := fileRequestFor(t, agent, "nina.newhire@contoso.example", "Lost phone, needs to re-register")
	link, _ := linkFor(t, d, "avery.approver@contoso.example")
	approver := d.browser(t)
	approver.signIn("/", "approver")

	anon := d.browser(t)
	const flood = 200
	refused := 0
	for i := range flood {
		h := http.Header{"X-Forwarded-For": {fmt.Sprintf("2001:db8:7:%x::1", i+1)}}
		switch res := rawGet(t, anon, fmt.Sprintf("/approve/guess%040d", i), h); res.StatusCode {
		case http.StatusTooManyRequests:
			refused++
		case http.StatusNotFound:
		default:
			t.Fatalf("guess %d answered %d", i, res.StatusCode)
		}
	}
	if last := rawGet(t, anon, "/approve/guess-after", http.Header{"X-Forwarded-For": {"2001:db8:7:ffff::1"}}); refused == 0 || last.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the flood did not drain the overflow: %d of %d refused, a new address then answered %d", refused, flood, last.StatusCode)
	}
	approver.get(link).status(http.StatusOK)
	if approver.path() != req {
		t.Fatalf("the approver's link landed on %s, want the request %s", approver.path(), req)
	}
	t.Logf("anonymous link guesses from %d fresh /64s: %d refused (429); the signed-in approver's link then: %d", flood, refused, approver.last.StatusCode)
}
