package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/internal/pgtest"
)

// rateRows counts d's rows of rate limits.
func rateRows(t *testing.T, d *testDemo) int {
	t.Helper()
	var n int
	if err := d.app.db.SQL().QueryRow(`SELECT COUNT(*) FROM rate_limits`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Two instances on one PostgreSQL database behind a round-robin balancer:
// an attacker alternating between them gets the limit once, not once per
// instance, whether anonymous (the address's limit) or signed in on both
// (the person's). With each instance counting in memory, as before, the
// alternation let twice the limit through. Afterwards the sweep of either
// instance deletes the rows of keys whose limit is whole again.
func TestRateLimitsHoldAcrossTwoInstances(t *testing.T) {
	dsn := pgtest.URL(t)
	clock := &testClock{now: time.Now()} // stopped: nothing refills while the test runs
	limits, err := tapdesk.ParseRateLimits("sign-in.address=4/1m,search.person=5/1m", tapdesk.DefaultRateLimits())
	if err != nil {
		t.Fatal(err)
	}
	onOneDatabase := func(o *demoOptions) { o.DBPath, o.Now, o.RateLimits = dsn, clock.Now, limits }
	instances := []*testDemo{startTestDemoWith(t, onOneDatabase), startTestDemoWith(t, onOneDatabase)}
	for i, d := range instances {
		if !d.app.sharedLimits {
			t.Fatalf("instance %d on PostgreSQL counts its limits alone", i)
		}
	}

	t.Run("signed in", func(t *testing.T) {
		// The same person, signed in on each instance.
		agents := make([]*browser, 2)
		for i, d := range instances {
			agents[i] = d.browser(t)
			agents[i].signIn("/", "agent")
		}
		answered, limited := 0, 0
		for i := range 12 {
			switch res := rawGet(t, agents[i%2], "/users?q=nina", nil); res.StatusCode {
			case http.StatusOK:
				answered++
			case http.StatusTooManyRequests:
				limited++
			default:
				t.Fatalf("search on instance %d answered %d", i%2, res.StatusCode)
			}
		}
		if answered != 5 || limited != 7 {
			t.Fatalf("12 searches by one person across two instances: %d answered, %d refused; want 5 (the limit) and 7", answered, limited)
		}
	})

	// A minute on, the sign-ins above count no more against the address.
	clock.advance(time.Minute)
	t.Run("anonymous", func(t *testing.T) {
		started, limited := 0, 0
		for i := range 12 {
			anon := instances[i%2].browser(t)
			switch res := rawGet(t, anon, "/auth/login?next=/", nil); res.StatusCode {
			case http.StatusFound, http.StatusSeeOther:
				started++
			case http.StatusTooManyRequests:
				limited++
			default:
				t.Fatalf("sign-in start on instance %d answered %d", i%2, res.StatusCode)
			}
		}
		if started != 4 || limited != 8 {
			t.Fatalf("12 sign-in starts from one address across two instances: %d started, %d refused; want 4 (the limit) and 8", started, limited)
		}
	})

	if n := rateRows(t, instances[0]); n == 0 {
		t.Fatal("no rate limit rows after the floods")
	}
	// Later, every bucket above is whole again: one sweep, on either
	// instance, deletes them all.
	clock.advance(11 * time.Minute)
	instances[1].app.sweepOnce(context.Background(), nil)
	if n := rateRows(t, instances[0]); n != 0 {
		t.Fatalf("%d rate limit rows left after the sweep a minute on", n)
	}
}

// On SQLite the one instance counts in memory: the table stays empty.
func TestRateLimitsInMemoryOnSQLite(t *testing.T) {
	d := startTestDemo(t)
	if d.app.sharedLimits {
		t.Fatal("a SQLite instance counts its limits in the database")
	}
	anon := d.browser(t)
	for range 3 {
		rawGet(t, anon, "/auth/login?next=/", nil)
	}
	if n := rateRows(t, d); n != 0 {
		t.Fatalf("%d rate limit rows on SQLite", n)
	}
}
