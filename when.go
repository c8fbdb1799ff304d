package tapdesk

import (
	"fmt"
	"time"
)

// Times on pages are shown in UTC with a phrase relative to the server's
// clock ("14:05 UTC · 3 min ago"), so they read right without JavaScript;
// app.js rewrites them into the reader's own time zone.

// TimeTitleLayout is the full UTC time a page keeps in a time's title.
const TimeTitleLayout = "2006-01-02 15:04:05 UTC"

// TimeClock is the first half of a time as a page shows it before any
// script runs: the UTC clock time, with the date unless it is now's UTC
// day. RelativeTime is the second ("14:05 UTC · 3 min ago").
func TimeClock(t, now time.Time) string {
	t, now = t.UTC(), now.UTC()
	layout := "2006-01-02 15:04 UTC"
	if y, m, d := t.Date(); y == now.Year() && m == now.Month() && d == now.Day() {
		layout = "15:04 UTC"
	}
	return t.Format(layout)
}

// RelativeTime says how far t is from now in the largest whole unit that
// fits: "just now", "3 min ago", "in 2 h", "5 days ago". static/app.js
// follows the same steps.
func RelativeTime(t, now time.Time) string {
	d := t.Sub(now)
	future := d > 0
	if !future {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		s = fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%d h", int(d/time.Hour))
	default:
		s = fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}
