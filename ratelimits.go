package tapdesk

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// RateAction names an action whose pace is limited. The names are the
// words operators write in TAPDESK_RATE_LIMITS.
type RateAction string

const (
	RateSignIn   RateAction = "sign-in"   // GET /auth/login: starting a sign-in
	RateCallback RateAction = "callback"  // GET /auth/callback: coming back from the identity provider
	RateSearch   RateAction = "search"    // GET /users?q=: searching the directory
	RateUserCard RateAction = "user-card" // GET /users/:user and /requests/new: reading a user from Graph
	RateFile     RateAction = "file"      // POST /requests: filing a request (mails every approver)
	RateLink     RateAction = "link"      // /approve/:token, /dispute/:token: following a mailed link
	RateReveal   RateAction = "reveal"    // POST /requests/:id/reveal: issuing and revealing a pass
	RateExport   RateAction = "export"    // GET /audit/export: streaming the audit trail
	RateVerify   RateAction = "verify"    // GET /audit/verify: checking the whole chain
	RateReport   RateAction = "report"    // GET /reports and /reports/{chart}.csv: counting over a period of the trail
)

// RateScope says whose pace a limit counts: one signed-in person's, or
// everything that comes from one client address (anonymous or not).
type RateScope string

const (
	PerPerson  RateScope = "person"
	PerAddress RateScope = "address"
)

// RateLimit allows Count actions per Window for each person or address.
// It is a token bucket: Count at once, then one more every Window/Count.
// A refusal therefore means at least Count were allowed within the last
// Window, which is what the refusal page says. Count 0 turns it off.
type RateLimit struct {
	Action RateAction
	Scope  RateScope
	Count  int
	Window time.Duration
}

// Off reports whether the limit lets everything through.
func (l RateLimit) Off() bool { return l.Count <= 0 || l.Window <= 0 }

// Name is how the limit is written in TAPDESK_RATE_LIMITS: file.person.
func (l RateLimit) Name() string { return string(l.Action) + "." + string(l.Scope) }

// String is the limit as an operator writes it: 5/10m, or off.
func (l RateLimit) String() string {
	if l.Off() {
		return "off"
	}
	return strconv.Itoa(l.Count) + "/" + ShortDuration(l.Window)
}

// rateWords are what each action is called in the sentences people read:
// what you did (person) and what came from your address.
var rateWords = map[RateAction]struct{ did, noun string }{
	RateSignIn:   {"started signing in %d times", "%d sign-ins have been started"},
	RateCallback: {"come back from the sign-in page %d times", "%d sign-ins have come back"},
	RateSearch:   {"searched the directory %d times", "%d directory searches have been made"},
	RateUserCard: {"opened %d user cards", "%d user cards have been opened"},
	RateFile:     {"tried to file %d requests", "%d requests have been sent to be filed"},
	RateLink:     {"followed %d approval or dispute links", "%d approval or dispute links have been followed"},
	RateReveal:   {"tried to issue and reveal a pass %d times", "%d passes have been asked for"},
	RateExport:   {"exported the audit trail %d times", "%d audit exports have been made"},
	RateVerify:   {"verified the audit trail %d times", "%d audit verifications have been run"},
	RateReport:   {"asked for %d reports or report CSVs", "%d reports or report CSVs have been asked for"},
}

// DefaultRateLimits are the limits unless TAPDESK_RATE_LIMITS says
// otherwise. Per person they stop one account (or one stolen session) from
// flooding approvers' mailboxes, Graph or the database; per address they
// stop anonymous floods, and are wider because everyone behind one office
// NAT or proxy shares an address.
func DefaultRateLimits() RateLimits {
	return RateLimits{
		{RateSignIn, PerPerson, 10, 10 * time.Minute},
		{RateSignIn, PerAddress, 30, time.Minute},
		{RateCallback, PerPerson, 10, 10 * time.Minute},
		{RateCallback, PerAddress, 30, time.Minute},
		{RateSearch, PerPerson, 60, time.Minute},
		{RateSearch, PerAddress, 300, time.Minute},
		{RateUserCard, PerPerson, 60, time.Minute},
		{RateUserCard, PerAddress, 300, time.Minute},
		{RateFile, PerPerson, 5, 10 * time.Minute},
		{RateFile, PerAddress, 30, 10 * time.Minute},
		{RateLink, PerPerson, 30, 10 * time.Minute},
		{RateLink, PerAddress, 60, 10 * time.Minute},
		{RateReveal, PerPerson, 5, 10 * time.Minute},
		{RateReveal, PerAddress, 30, 10 * time.Minute},
		{RateExport, PerPerson, 10, 10 * time.Minute},
		{RateExport, PerAddress, 30, 10 * time.Minute},
		{RateVerify, PerPerson, 5, 10 * time.Minute},
		{RateVerify, PerAddress, 20, 10 * time.Minute},
		// A report reads up to ReportMaxSpan of the trail: the page and
		// its eight CSVs three times over in ten minutes is more than an
		// auditor clicks, and little for the database.
		{RateReport, PerPerson, 30, 10 * time.Minute},
		{RateReport, PerAddress, 60, 10 * time.Minute},
	}
}

// The in-memory limiter's bounds. Person keys need none: only the tenant's
// people sign in. Address keys do, since anyone can send from ever new
// addresses (an IPv6 /48 holds 65,536 /64s).
const (
	// RateMaxAddressKeys bounds the address buckets held at once: about 200
	// bytes each, so some 20 MB at most.
	RateMaxAddressKeys = 100_000
	// RateOverflowShare is how many addresses' worth of a limit the
	// addresses arriving while the map is full share: a flood from fresh
	// addresses is held to one bucket, yet newcomers are paced, not locked out.
	RateOverflowShare = 100
	// RateSweepStep is how many held buckets each check looks at to drop
	// the idle ones: a bounded cost per request instead of a sweep of the
	// whole map under the lock.
	RateSweepStep = 16
)

// Interval is how often a limit gives back one action: Window/Count.
func (l RateLimit) Interval() time.Duration { return l.Window / time.Duration(l.Count) }

// A limiter shared by several instances keeps each limit and key as one
// time, the theoretical arrival time (TAT) of the generic cell rate
// algorithm: the same token bucket as one kept in memory, in one number a
// single SQL statement can test and move. A key never seen, or whose TAT
// has passed, has its whole Count left.

// Admits reports whether an action at now is let through by a limit
// whose key's TAT is tat (zero: never seen), and the key's TAT afterwards.
// It is let through when at most Count-1 intervals are spent ahead of now;
// each action spends one.
func (l RateLimit) Admits(tat, now time.Time) (next time.Time, ok bool) {
	if tat.After(l.LatestTAT(now)) {
		return tat, false
	}
	if tat.Before(now) {
		tat = now
	}
	return tat.Add(l.Interval()), true
}

// LatestTAT is the last TAT at which an action at now is let through:
// now plus Count-1 intervals.
func (l RateLimit) LatestTAT(now time.Time) time.Time {
	return now.Add(l.Window - l.Interval())
}

// RetryAt is when a key refused with TAT tat is let through again.
func (l RateLimit) RetryAt(tat time.Time) time.Time {
	return tat.Add(l.Interval() - l.Window)
}

// RateLimits is every limit, one per action and scope.
type RateLimits []RateLimit

// For returns the limit of an action in a scope (off if none is set).
func (ls RateLimits) For(a RateAction, s RateScope) RateLimit {
	for _, l := range ls {
		if l.Action == a && l.Scope == s {
			return l
		}
	}
	return RateLimit{Action: a, Scope: s}
}

// String lists the limits as TAPDESK_RATE_LIMITS takes them.
func (ls RateLimits) String() string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = l.Name() + "=" + l.String()
	}
	return strings.Join(parts, ",")
}

// ParseRateLimits applies an operator's overrides to base. Each entry is
// ACTION.SCOPE=COUNT/WINDOW (file.person=5/10m), or ACTION=... for both
// scopes, or =off. Every malformed entry is named in one error.
func ParseRateLimits(s string, base RateLimits) (RateLimits, error) {
	out := append(RateLimits(nil), base...)
	var bad []string
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, value, ok := strings.Cut(entry, "=")
		action, scope, hasScope := strings.Cut(strings.TrimSpace(name), ".")
		a := RateAction(strings.ToLower(action))
		if _, known := rateWords[a]; !ok || !known {
			bad = append(bad, fmt.Sprintf("%q does not start with a known action (%s)", entry, rateActionList()))
			continue
		}
		scopes := []RateScope{PerPerson, PerAddress}
		if hasScope {
			sc := RateScope(strings.ToLower(scope))
			if sc != PerPerson && sc != PerAddress {
				bad = append(bad, fmt.Sprintf("%q: the scope after the dot is person or address", entry))
				continue
			}
			scopes = []RateScope{sc}
		}
		count, window, err := parseRate(strings.TrimSpace(value))
		if err != nil {
			bad = append(bad, fmt.Sprintf("%q: %v", entry, err))
			continue
		}
		for _, sc := range scopes {
			l := RateLimit{Action: a, Scope: sc, Count: count, Window: window}
			replaced := false
			for i := range out {
				if out[i].Action == a && out[i].Scope == sc {
					out[i], replaced = l, true
				}
			}
			if !replaced {
				out = append(out, l)
			}
		}
	}
	if len(bad) > 0 {
		return nil, Titledf(EINVALID, "Rate limits not understood", "%s; write entries like file.person=5/10m or search=off, separated by commas", strings.Join(bad, "; "))
	}
	return out, nil
}

func parseRate(v string) (int, time.Duration, error) {
	if strings.EqualFold(v, "off") {
		return 0, 0, nil
	}
	c, w, ok := strings.Cut(v, "/")
	count, err := strconv.Atoi(strings.TrimSpace(c))
	if !ok || err != nil || count < 1 || count > 1_000_000 {
		return 0, 0, fmt.Errorf("the value is COUNT/WINDOW with a whole COUNT of at least 1, like 5/10m, or off")
	}
	w = strings.TrimSpace(w)
	if w != "" && (w[0] < '0' || w[0] > '9') {
		w = "1" + w // "60/m" reads as per minute
	}
	window, err := time.ParseDuration(w)
	if err != nil || window < time.Second || window > 24*time.Hour {
		return 0, 0, fmt.Errorf("the window after the slash is a duration from 1s to 24h, like 1m or 10m")
	}
	return count, window, nil
}

func rateActionList() string {
	names := make([]string, 0, len(rateWords))
	for _, l := range DefaultRateLimits() {
		if l.Scope == PerPerson {
			names = append(names, string(l.Action))
		}
	}
	return strings.Join(names, ", ")
}

// RateCheck is one limit to spend a token of, for one key: a person's
// object id, or an AddressKey.
type RateCheck struct {
	Limit RateLimit
	Key   string
}

// Checks are the limits one action spends a token of: the person's own
// (when signed in; first, so it is the one named when both are hit) and
// the client address's.
func (ls RateLimits) Checks(a RateAction, personID, clientIP string) []RateCheck {
	address := RateCheck{Limit: ls.For(a, PerAddress), Key: AddressKey(clientIP)}
	if personID == "" {
		return []RateCheck{address}
	}
	return []RateCheck{{Limit: ls.For(a, PerPerson), Key: personID}, address}
}

// RateRefusal is a refused action: the limit it hit, for which key, and
// when one more will be allowed.
type RateRefusal struct {
	Limit   RateLimit
	Key     string
	RetryAt time.Time
}

// Sentence is what the refused person reads: what they did, and when they
// can try again, in words.
//
// "You have tried to file 5 requests in the last 10 minutes. Try again at 14:32 UTC (in 3 minutes)."
func (r RateRefusal) Sentence(now time.Time) string {
	w := rateWords[r.Limit.Action]
	var did string
	if r.Limit.Scope == PerPerson {
		did = "You have " + fmt.Sprintf(w.did, r.Limit.Count)
	} else {
		did = fmt.Sprintf(w.noun, r.Limit.Count) + " from your network address"
	}
	// The clock time is never earlier than the wait: seconds are shown
	// when the wait is short, else the minute is rounded up.
	at := r.RetryAt.UTC().Format("15:04:05")
	if r.RetryAt.Sub(now) >= time.Minute {
		at = r.RetryAt.UTC().Add(time.Minute - time.Nanosecond).Truncate(time.Minute).Format("15:04")
	}
	return fmt.Sprintf("%s in the last %s. Try again at %s UTC (in %s).", did, windowWords(r.Limit.Window), at, waitWords(r.RetryAt.Sub(now)))
}

// RetryAfterSeconds is the Retry-After header value: whole seconds, at
// least 1, rounded up so a client that waits that long is let in.
func (r RateRefusal) RetryAfterSeconds(now time.Time) int {
	d := r.RetryAt.Sub(now)
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// AddressKey is what counts as one client address for the per-address
// limits: an IPv4 address, or an IPv6 /64, since one host is usually given
// a whole /64 and could otherwise take a fresh address for every try.
func AddressKey(ip string) string {
	parsed := net.ParseIP(ip)
	if parsed == nil {
		return ip
	}
	if v4 := parsed.To4(); v4 != nil {
		return v4.String()
	}
	return (&net.IPNet{IP: parsed.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}).String()
}

func windowWords(d time.Duration) string {
	switch {
	case d == time.Minute:
		return "minute"
	case d == time.Hour:
		return "hour"
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + " hours"
	case d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + " minutes"
	}
	return strconv.Itoa(int((d+time.Second-1)/time.Second)) + " seconds"
}

// waitWords rounds up: whoever waits as long as it says is let in.
func waitWords(d time.Duration) string {
	switch {
	case d <= time.Second:
		return "a second"
	case d < time.Minute:
		return strconv.Itoa(int((d+time.Second-1)/time.Second)) + " seconds"
	case d == time.Minute:
		return "a minute"
	case d <= 2*time.Hour:
		return strconv.Itoa(int((d+time.Minute-1)/time.Minute)) + " minutes"
	}
	return strconv.Itoa(int((d+time.Hour-1)/time.Hour)) + " hours"
}

// ShortDuration writes 10m rather than Go's 10m0s.
func ShortDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	case d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	}
	return d.String()
}
