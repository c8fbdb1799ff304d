package tapdesk

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Anyone can put text into an audit event (a User-Agent, a path, the
// error_description of a forged sign-in callback), and events are permanent
// and signed. So every string an event holds is cut to a limit, in
// characters (runes), before the event is signed; the cut ends in a mark
// saying how much was left out. The store bounds every event it appends,
// so no code path can skip it.
const (
	// MaxEventAgentChars bounds the user agent.
	MaxEventAgentChars = 256
	// MaxEventReasonChars bounds the reason (a sentence; tampering findings
	// are the longest tapdesk writes itself).
	MaxEventReasonChars = 2048
	// MaxEventFieldChars bounds every other field: activity, category,
	// result, the actor's and target's ids, names and UPNs, the client
	// address, request, correlation and pass ids.
	MaxEventFieldChars = 256
	// MaxEventDetails bounds the number of details; past it, details in key
	// order are left out and one more, EventDetailsLeftOut, says how many.
	MaxEventDetails = 64
	// MaxEventDetailKeyChars and MaxEventDetailValueChars bound each detail.
	MaxEventDetailKeyChars   = 64
	MaxEventDetailValueChars = 1024
)

// EventDetailsLeftOut is the detail that says how many details an event had
// beyond MaxEventDetails.
const EventDetailsLeftOut = "details_left_out"

// truncationMark ends a cut string: an auditor reading it knows the text
// went on, and for how long.
func truncationMark(leftOut int) string {
	return "…[truncated " + strconv.Itoa(leftOut) + " characters]"
}

// BoundText returns s if it has at most limit characters; otherwise its
// first characters followed by a truncation mark, cut on a character
// boundary, limit characters in all (mark included). Invalid UTF-8 bytes
// count as one character each.
func BoundText(s string, limit int) string {
	if len(s) <= limit { // no more bytes than the limit: no more characters
		return s
	}
	n := utf8.RuneCountInString(s)
	if n <= limit {
		return s
	}
	// The mark for n left out is at least as long as the one for fewer.
	keep := max(limit-utf8.RuneCountInString(truncationMark(n)), 0)
	cut, i := len(s), 0
	for at := range s {
		if i == keep {
			cut = at
			break
		}
		i++
	}
	return s[:cut] + truncationMark(n-keep)
}

// BoundEvent returns ev with every string cut to its limit and at most
// MaxEventDetails details. The caller's details map is not changed.
func BoundEvent(ev Event) Event {
	f := func(s string) string { return BoundText(s, MaxEventFieldChars) }
	ev.Activity, ev.Category, ev.Result = Activity(f(string(ev.Activity))), Category(f(string(ev.Category))), Result(f(string(ev.Result)))
	ev.Reason = BoundText(ev.Reason, MaxEventReasonChars)
	ev.Actor.TenantID, ev.Actor.ObjectID, ev.Actor.UPN, ev.Actor.Name = f(ev.Actor.TenantID), f(ev.Actor.ObjectID), f(ev.Actor.UPN), f(ev.Actor.Name)
	ev.ActorIP, ev.ActorAgent = f(ev.ActorIP), BoundText(ev.ActorAgent, MaxEventAgentChars)
	ev.TargetID, ev.TargetUPN, ev.RequestID = f(ev.TargetID), f(ev.TargetUPN), f(ev.RequestID)
	ev.CorrelationID, ev.TAPMethodID, ev.HTTPRequestID = f(ev.CorrelationID), f(ev.TAPMethodID), f(ev.HTTPRequestID)
	ev.Details = boundDetails(ev.Details)
	return ev
}

// boundDetails keeps the details in key order up to the limit; two keys
// that are cut to the same text keep the first, and the other counts as
// left out.
func boundDetails(d map[string]string) map[string]string {
	if len(d) == 0 {
		return d
	}
	out := make(map[string]string, min(len(d), MaxEventDetails))
	room := MaxEventDetails
	if len(d) > MaxEventDetails {
		room-- // for the detail that says how many were left out
	}
	leftOut := 0
	for _, k := range slices.Sorted(maps.Keys(d)) {
		bk := BoundText(k, MaxEventDetailKeyChars)
		if _, taken := out[bk]; taken || len(out) >= room {
			leftOut++
			continue
		}
		out[bk] = BoundText(d[k], MaxEventDetailValueChars)
	}
	if leftOut > 0 {
		out[EventDetailsLeftOut] = fmt.Sprintf("%d more details left out (an event holds at most %d)", leftOut, MaxEventDetails)
	}
	return out
}
