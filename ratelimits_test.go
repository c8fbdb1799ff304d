package tapdesk

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseRateLimits(t *testing.T) {
	t.Run("overrides", func(t *testing.T) {
		ls, err := ParseRateLimits(" file.person=3/5m, search=off ,verify.address=2/h", DefaultRateLimits())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			a    RateAction
			s    RateScope
			want string
		}{
			{RateFile, PerPerson, "3/5m"}, {RateFile, PerAddress, "30/10m"},
			{RateSearch, PerPerson, "off"}, {RateSearch, PerAddress, "off"},
			{RateVerify, PerAddress, "2/1h"}, {RateSignIn, PerAddress, "30/1m"},
		} {
			if got := ls.For(c.a, c.s).String(); got != c.want {
				t.Errorf("%s.%s = %s, want %s", c.a, c.s, got, c.want)
			}
		}
	})
	t.Run("the defaults read back as themselves", func(t *testing.T) {
		ls, err := ParseRateLimits(DefaultRateLimits().String(), nil)
		if err != nil || ls.String() != DefaultRateLimits().String() {
			t.Fatalf("%v: %s", err, ls)
		}
	})
	for _, bad := range []string{"file", "file.team=5/1m", "file=0/1m", "file=5", "file=5/0s", "file=5/48h", "file=-1/1m", "upload=5/1m", "file=5/soon"} {
		t.Run(bad, func(t *testing.T) {
			_, err := ParseRateLimits("search=10/1m,"+bad, DefaultRateLimits())
			if ErrorCode(err) != EINVALID || !strings.Contains(ErrorMessage(err), `"`+bad+`"`) {
				t.Fatalf("%q: %v", bad, err)
			}
		})
	}
}

func TestRateRefusalSentence(t *testing.T) {
	now := time.Date(2026, 11, 28, 14, 29, 20, 0, time.UTC)
	file := DefaultRateLimits().For(RateFile, PerPerson)
	for _, c := range []struct {
		r     RateRefusal
		want  string
		after int
	}{
		{RateRefusal{Limit: file, RetryAt: now.Add(2*time.Minute + 40*time.Second)},
			"You have tried to file 5 requests in the last 10 minutes. Try again at 14:32 UTC (in 3 minutes).", 160},
		{RateRefusal{Limit: file, RetryAt: now.Add(2*time.Minute + 41*time.Second)},
			"You have tried to file 5 requests in the last 10 minutes. Try again at 14:33 UTC (in 3 minutes).", 161},
		{RateRefusal{Limit: DefaultRateLimits().For(RateSearch, PerAddress), RetryAt: now.Add(199 * time.Millisecond)},
			"300 directory searches have been made from your network address in the last minute. Try again at 14:29:20 UTC (in a second).", 1},
		{RateRefusal{Limit: RateLimit{RateVerify, PerPerson, 2, 2 * time.Hour}, RetryAt: now.Add(time.Hour)},
			"You have verified the audit trail 2 times in the last 2 hours. Try again at 15:30 UTC (in 60 minutes).", 3600},
	} {
		if got := c.r.Sentence(now); got != c.want {
			t.Errorf("got  %s\nwant %s", got, c.want)
		}
		if got := c.r.RetryAfterSeconds(now); got != c.after {
			t.Errorf("Retry-After %d, want %d", got, c.after)
		}
	}
	for a := range rateWords {
		for _, s := range []RateScope{PerPerson, PerAddress} {
			if got := (RateRefusal{Limit: DefaultRateLimits().For(a, s), RetryAt: now.Add(time.Minute)}).Sentence(now); strings.Contains(got, "%!") {
				t.Errorf("%s.%s: %s", a, s, got)
			}
		}
	}
}

func TestAddressKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":                  "192.0.2.7",
		"::ffff:192.0.2.7":           "192.0.2.7",
		"2001:db8:1:2:aaaa::1":       "2001:db8:1:2::/64",
		"2001:db8:1:2:bbbb:cccc::99": "2001:db8:1:2::/64",
		"not an address":             "not an address",
	} {
		if got := AddressKey(in); got != want {
			t.Errorf("AddressKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseTrustedProxies(t *testing.T) {
	ns, err := ParseTrustedProxies([]string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32"})
	if err != nil || len(ns) != 3 || ns[1].String() != "192.0.2.7/32" {
		t.Fatalf("%v %v", ns, err)
	}
	_, err = ParseTrustedProxies([]string{"10.0.0.0/8", "10.0.0.0/33", "proxy"})
	if ErrorCode(err) != EINVALID || !strings.Contains(ErrorMessage(err), `"10.0.0.0/33", "proxy" is not an address range`) {
		t.Fatalf("%v", err)
	}
}

// The README's table of rate limits is the defaults.
func TestRateLimitsDocumented(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	ls := DefaultRateLimits()
	for a := range rateWords {
		row := "| `" + string(a) + "` |"
		line := ""
		for _, l := range strings.Split(string(readme), "\n") {
			if strings.HasPrefix(l, row) {
				line = l
			}
		}
		want := "| " + ls.For(a, PerPerson).String() + " | " + ls.For(a, PerAddress).String() + " |"
		if !strings.HasSuffix(line, want) {
			t.Errorf("README row for %s is %q, want it to end %q", a, line, want)
		}
	}
}

// A key's arrival time lets Count through at once, then one every
// Window/Count; a refusal names when the next one is let through.
func TestRateAdmits(t *testing.T) {
	l := RateLimit{Action: RateFile, Scope: PerPerson, Count: 5, Window: 10 * time.Minute}
	now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	var tat time.Time // never seen
	for i := range l.Count {
		next, ok := l.Admits(tat, now)
		if !ok {
			t.Fatalf("try %d of the first %d refused", i+1, l.Count)
		}
		tat = next
	}
	if tat != now.Add(l.Window) {
		t.Fatalf("after the burst the arrival time is %s, want the window on", tat)
	}
	next, ok := l.Admits(tat, now)
	if ok || next != tat {
		t.Fatalf("the sixth at once: %v, %s", ok, next)
	}
	retry := l.RetryAt(tat)
	if retry != now.Add(2*time.Minute) {
		t.Fatalf("retry at %s, want one interval (2m) on", retry)
	}
	if _, ok := l.Admits(tat, retry.Add(-time.Nanosecond)); ok {
		t.Fatal("let through before the retry time")
	}
	if next, ok := l.Admits(tat, retry); !ok || next != tat.Add(2*time.Minute) {
		t.Fatalf("at the retry time: %v, %s", ok, next)
	}
	// Long idle: a stale arrival time counts from now, with the whole burst.
	later := now.Add(time.Hour)
	if next, ok := l.Admits(tat, later); !ok || next != later.Add(l.Interval()) {
		t.Fatalf("after an hour: %v, %s", ok, next)
	}
}

func TestReportRateSentence(t *testing.T) {
	now := time.Date(2026, 11, 28, 14, 29, 20, 0, time.UTC)
	r := RateRefusal{Limit: DefaultRateLimits().For(RateReport, PerPerson), RetryAt: now.Add(20 * time.Second)}
	if got, want := r.Sentence(now), "You have asked for 30 reports or report CSVs in the last 10 minutes. Try again at 14:29:40 UTC (in 20 seconds)."; got != want {
		t.Errorf("%q, want %q", got, want)
	}
	r.Limit = DefaultRateLimits().For(RateReport, PerAddress)
	if got, want := r.Sentence(now), "60 reports or report CSVs have been asked for from your network address in the last 10 minutes. Try again at 14:29:40 UTC (in 20 seconds)."; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}
