package tapdesk

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Anyone can be refused without signing in (a forged sign-in callback, a
// cross-site form post, a guessed link), as often as they like. Writing
// each refusal would let a flood bury the audit trail, so anonymous
// refusals of one kind from one address are counted per window: the first
// is written as it happens, the repeats in its window become one event with
// their count when the window closes. Signed-in refusals are written one by
// one: they name who did it, and rate limits hold a person back.
const (
	// RefusalWindow is how long after the first refusal repeats are counted.
	RefusalWindow = time.Minute
	// MaxRefusalSources bounds the windows open at once, so a flood from
	// many addresses cannot grow memory: refusals from further addresses
	// are counted per kind in one overflow window, and none is written on
	// its own.
	MaxRefusalSources = 1000
	// maxRefusalReasons distinct reasons of the repeats are named in the
	// count's event; maxRefusalReasonChars bounds each while it is held.
	maxRefusalReasons     = 3
	maxRefusalReasonChars = 200
)

// Tallied reports whether ev is counted per window rather than written each
// time: an anonymous refusal, or an anonymous "This wasn't me" link opened
// (mail scanners and reloads open them repeatedly).
func Tallied(ev Event) bool {
	if ev.Actor.ObjectID != "" {
		return false
	}
	switch ev.Activity {
	case ActSignInRefused, ActAccessRefused, ActLinkRefused, ActDisputeRefused, ActDisputeOpened:
		return true
	}
	return false
}

// RefusalTally counts tallied events per kind, address and request. It is
// safe for concurrent use.
type RefusalTally struct {
	mu       sync.Mutex
	windows  map[refusalKey]*refusalWindow
	overflow map[Activity]*refusalWindow
	// nextClose is no later than the first window closes, so a tally at
	// MaxRefusalSources looks for closed windows only when one may be.
	nextClose time.Time
}

type refusalKey struct {
	activity           Activity
	address, requestID string
}

type refusalWindow struct {
	like     Event     // what the repeats share: kind, actor, address, request
	opened   time.Time // the window runs RefusalWindow from here
	count    int       // repeats counted (the first is not one)
	from, to time.Time // first and last repeat
	reasons  []string  // distinct reasons of the repeats, at most maxRefusalReasons
	overflow bool      // the window of addresses past MaxRefusalSources
}

// NewRefusalTally returns an empty tally.
func NewRefusalTally() *RefusalTally {
	return &RefusalTally{windows: map[refusalKey]*refusalWindow{}, overflow: map[Activity]*refusalWindow{}}
}

// Note counts the tallied event ev at ev.Time. write says whether ev opens
// a window and is to be written as it is; due are the count events of
// windows that closed by ev.Time, to be written too.
func (t *RefusalTally) Note(ev Event) (write bool, due []Event) {
	now := ev.Time
	like := Event{Activity: ev.Activity, Category: ev.Category, Result: ev.Result, Actor: ev.Actor, ActorIP: ev.ActorIP,
		RequestID: ev.RequestID, CorrelationID: ev.CorrelationID, TargetID: ev.TargetID, TargetUPN: ev.TargetUPN}
	like = BoundEvent(like) // held for a minute: no more than the event would store
	key := refusalKey{like.Activity, like.ActorIP, like.RequestID}
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.windows[key]
	if w != nil && !now.Before(w.opened.Add(RefusalWindow)) {
		due = appendCount(due, w, now)
		delete(t.windows, key)
		w = nil
	}
	if w == nil && len(t.windows) >= MaxRefusalSources && !now.Before(t.nextClose) {
		due = append(due, t.closeLocked(now, false)...)
	}
	switch {
	case w != nil:
	case len(t.windows) < MaxRefusalSources:
		t.windows[key] = &refusalWindow{like: like, opened: now}
		if c := now.Add(RefusalWindow); len(t.windows) == 1 || c.Before(t.nextClose) {
			t.nextClose = c
		}
		return true, due
	default:
		if w = t.overflow[key.activity]; w != nil && !now.Before(w.opened.Add(RefusalWindow)) {
			due = appendCount(due, w, now)
			w = nil
		}
		if w == nil {
			w = &refusalWindow{like: Event{Activity: like.Activity, Category: like.Category, Result: like.Result}, opened: now, overflow: true}
			t.overflow[key.activity] = w
		}
	}
	if w.count == 0 {
		w.from = now
	}
	w.count++
	w.to = now
	if r := BoundText(ev.Reason, maxRefusalReasonChars); len(w.reasons) < maxRefusalReasons && !slices.Contains(w.reasons, r) {
		w.reasons = append(w.reasons, r)
	}
	return false, due
}

// Close returns the count events of the windows closed by now and forgets
// those windows; all closes every window, open or not (when tapdesk stops).
func (t *RefusalTally) Close(now time.Time, all bool) []Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closeLocked(now, all)
}

func (t *RefusalTally) closeLocked(now time.Time, all bool) []Event {
	var due []Event
	closed := func(w *refusalWindow) bool { return all || !now.Before(w.opened.Add(RefusalWindow)) }
	var done []refusalKey
	t.nextClose = time.Time{}
	for k, w := range t.windows {
		if closed(w) {
			done = append(done, k)
		} else if c := w.opened.Add(RefusalWindow); t.nextClose.IsZero() || c.Before(t.nextClose) {
			t.nextClose = c
		}
	}
	// Sorted, so the events of one sweep come in a stable order.
	slices.SortFunc(done, compareRefusalKeys)
	for _, k := range done {
		due = appendCount(due, t.windows[k], now)
		delete(t.windows, k)
	}
	for _, a := range slices.Sorted(maps.Keys(t.overflow)) {
		if w := t.overflow[a]; closed(w) {
			due = appendCount(due, w, now)
			delete(t.overflow, a)
		}
	}
	return due
}

func compareRefusalKeys(a, b refusalKey) int {
	if c := strings.Compare(string(a.activity), string(b.activity)); c != 0 {
		return c
	}
	if c := strings.Compare(a.address, b.address); c != 0 {
		return c
	}
	return strings.Compare(a.requestID, b.requestID)
}

// appendCount appends the event that records w's repeats, if it has any.
func appendCount(due []Event, w *refusalWindow, now time.Time) []Event {
	if w.count == 0 {
		return due
	}
	ev := w.like
	ev.Time = now
	ev.Reason = RefusalCountSentence(w.like.Result, w.count, w.like.ActorIP, w.overflow, w.from, w.to)
	total := w.count
	if !w.overflow {
		total++ // the first, written on its own
	}
	ev.Details = map[string]string{
		"counted":         strconv.Itoa(w.count),
		"in_window":       strconv.Itoa(total),
		"first_counted":   w.from.UTC().Format(time.RFC3339Nano),
		"last_counted":    w.to.UTC().Format(time.RFC3339Nano),
		"window":          RefusalWindow.String(),
		"reasons_counted": strings.Join(w.reasons, " | "),
	}
	if w.overflow {
		ev.Details["addresses"] = fmt.Sprintf("beyond the %d tapdesk counts one by one", MaxRefusalSources)
	}
	return append(due, ev)
}

// RefusalCountSentence is the reason of the event that counts repeats: n
// repeats from address (or from addresses past MaxRefusalSources) between
// from and to.
func RefusalCountSentence(r Result, n int, address string, overflow bool, from, to time.Time) string {
	verb := "Refused"
	if r == ResultSuccess {
		verb = "Repeated"
	}
	span := fmt.Sprintf("between %s and %s", from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	if overflow {
		return fmt.Sprintf("%s %d times from addresses beyond the %d counted one by one, %s (anonymous, so counted rather than written one by one).",
			verb, n, MaxRefusalSources, span)
	}
	return fmt.Sprintf("%s %d more times from %s %s (anonymous, so counted rather than written one by one; the first in the window is its own event).",
		verb, n, address, span)
}
