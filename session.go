package tapdesk

import "time"

// MaxSessionActivityStep is the most a session's last activity may lag the
// last request before it is written again.
//
// Recording every request's time would make every page, even one that only
// reads, a write to the database: pages would queue behind SQLite's one
// writer and the write-ahead log would grow with page views. Recording it
// only when it is older than a step costs at most one write per session per
// step. The price is that an idle session ends up to one step before the
// idle timeout counted from its very last request, never after: the safe
// side for a helpdesk PC left signed in.
const MaxSessionActivityStep = time.Minute

// SessionActivityStep is how stale a session's recorded last activity may
// grow before a request records it again: a minute, or a tenth of a short
// idle timeout, so the early end stays a small part of it.
func SessionActivityStep(idle time.Duration) time.Duration {
	return min(MaxSessionActivityStep, idle/10)
}

// FlashLifetime is how long a flash (the one-line message shown on the
// page after a redirect) waits to be shown: long enough to cover a fresh
// sign-in at the identity provider between the redirect and the page
// (the "sign in again" flash), short enough that a copy of its cookie
// cannot be replayed much later.
const FlashLifetime = 10 * time.Minute

// FlashMaxCookieBytes is the longest flash kept in its own cookie, well
// inside a browser's 4 KB per cookie; a longer one is kept in the session.
const FlashMaxCookieBytes = 3000

// ScriptRequest says whether a request was made by a page's script rather
// than by the person (fetch or XMLHttpRequest send Sec-Fetch-Dest: empty;
// navigations, form posts and subresources never do, and scripts cannot
// set the header). Such requests, like the request page's live status,
// are the browser at work: they must not keep an idle session alive.
func ScriptRequest(secFetchDest string) bool { return secFetchDest == "empty" }

// SessionActivityDue says whether a request at now should record it as the
// session's last activity, last being the activity recorded so far.
func SessionActivityDue(last, now time.Time, idle time.Duration) bool {
	return now.Sub(last) >= SessionActivityStep(idle) || now.Before(last)
}
