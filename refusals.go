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
// cross-site form post, a guessed link, a body of the wrong kind), as often
// as they like, and a signed-in person can be refused a page or a form as
// often as they like too. Writing each refusal would let a flood bury the
// audit trail, so refusals are counted per window: the first of a kind from
// one source is written as it happens, the repeats in its window become one
// event with their count when the window closes. The source of an anonymous
// refusal is its AddressKey (an IPv4 address, or an IPv6 /64, so a host
// cannot open a window per address it takes); of a signed-in one, the person,
// whom its events still name.
const (
	// RefusalWindow is how long after the first refusal repeats are counted.
	RefusalWindow = time.Minute
	// MaxRefusalFirsts bounds how many anonymous refusals are written on
	// their own in a window, across every address: past it, refusals from
	// addresses without an open window are counted per kind in one overflow
	// window, so a flood from many addresses writes MaxRefusalFirsts events
	// and one count a minute.
	MaxRefusalFirsts = 100
	// MaxRefusalSources bounds the windows open at once, so a flood from
	// many addresses cannot grow memory: refusals from further addresses
	// go to the overflow window too.
	MaxRefusalSources = 1000
	// MaxHeldEvents bounds the events held after a failed write (the
	// database busy or down) to be written by the sweep. Only the sweep
	// writes them, in one batch: a refusal writes no more than its own
	// event and its own window's count.
	MaxHeldEvents = 1000
	// MaxEventWriteTries is how many failed writes an event is held
	// through before it is dropped (and its activity logged), so an event
	// the store always refuses is not held forever.
	MaxEventWriteTries = 5
	// MaxRefusalRequests distinct requests refused to one person in a
	// window are named in its count (the first's included), so a person
	// walking others' requests leaves which ones; the rest are counted.
	MaxRefusalRequests = 50
	// MaxRefusalTargets distinct targets of those requests are named.
	MaxRefusalTargets = 20
	// MaxRefusalAddresses distinct addresses a window's refusals came
	// from are named in its count.
	MaxRefusalAddresses = 20
	// AuditWriteTimeout bounds the write of a standalone event. The write
	// does not end when the client hangs up: a refusal's event, and the
	// counts the tally hands over with it, would be lost.
	AuditWriteTimeout = 10 * time.Second
	// MaxRefusedContentTypeChars is as much of a refused body's content
	// type as its event keeps: enough to tell multipart or text/plain.
	MaxRefusedContentTypeChars = 128
	// maxRefusalReasons distinct reasons of the repeats are named in the
	// count's event; maxRefusalReasonChars bounds each while it is held.
	maxRefusalReasons     = 3
	maxRefusalReasonChars = 200
)

// Tallied reports whether ev is counted per window rather than written each
// time: a refusal of access or a rate limit (anonymous or signed in: a
// shared address's bucket refuses many people, each counted apart), or an
// anonymous refused sign-in, link, or "This wasn't me" link opened (mail
// scanners and reloads open them repeatedly).
func Tallied(ev Event) bool {
	switch ev.Activity {
	case ActAccessRefused, ActRateLimited:
		return true
	case ActSignInRefused, ActLinkRefused, ActDisputeRefused, ActDisputeOpened:
		return ev.Actor.ObjectID == ""
	}
	return false
}

// RefusalTally counts tallied events per kind, source and request. It is
// safe for concurrent use.
//
// Each instance keeps its own, even when several share one PostgreSQL
// database (unlike the rate limits, which they count together). The tally
// only decides which refusals are written one by one and which are counted;
// it guards no limit, and no alarm reads it (alarms read
// tapdesk_rate_limited_total, counted per refusal, which Prometheus sums
// over instances). With N instances a source's refusals in a window give up
// to N first events and N counts, each count saying what its instance saw:
// nothing is lost, their in_window add up to the whole, and the bound on
// what a flood writes grows with the instances the operator runs, not with
// anything an attacker controls. Kept in the database, every refusal would
// cost a write, which is what the tally is there to spare.
type RefusalTally struct {
	mu       sync.Mutex
	windows  map[refusalKey]*refusalWindow
	overflow map[Activity]*refusalWindow
	// nextClose is no later than the first window closes, so a tally at
	// MaxRefusalSources looks for closed windows only when one may be.
	nextClose time.Time
	// firsts anonymous refusals were written on their own since
	// firstsSince (MaxRefusalFirsts per RefusalWindow).
	firsts      int
	firstsSince time.Time
	// held are events whose write failed (or counts closed to make room),
	// for the sweep to write.
	held []HeldEvent
	// lost counts events not held since the last sweep (past MaxHeldEvents).
	lost int
}

// HeldEvent is an event whose write failed, and how many writes of it
// have failed.
type HeldEvent struct {
	Event Event
	Tries int
}

type refusalKey struct {
	activity          Activity
	source, requestID string
}

type refusalWindow struct {
	like     Event     // what the repeats share: kind, actor, source, request
	opened   time.Time // the window runs RefusalWindow from here
	count    int       // repeats counted (the first is not one)
	from, to time.Time // first and last repeat
	reasons  []string  // distinct reasons of the repeats, at most maxRefusalReasons
	overflow bool      // the window of addresses past the caps
	source   string    // AddressKey of an anonymous window
	// Distinct requests, targets and addresses of the window's refusals
	// (the first's included), bounded, with how many more there were.
	requests, targets, addresses namedList
}

// namedList holds distinct values up to a limit, and counts the rest.
type namedList struct {
	names   []string
	leftOut int
}

// add adds v unless it is there or empty; past limit it counts v as left
// out (a value seen again past the limit is counted again: the count says
// how many refusals were not named, at most).
func (l *namedList) add(v string, limit int) {
	switch {
	case v == "" || slices.Contains(l.names, v):
	case len(l.names) >= limit:
		l.leftOut++
	default:
		l.names = append(l.names, v)
	}
}

func (w *refusalWindow) name(ev Event) {
	if w.overflow {
		return
	}
	w.requests.add(BoundText(ev.RequestID, MaxEventFieldChars), MaxRefusalRequests)
	w.targets.add(BoundText(ev.TargetUPN, MaxEventFieldChars), MaxRefusalTargets)
	w.addresses.add(BoundText(ev.ActorIP, MaxEventFieldChars), MaxRefusalAddresses)
}

// NewRefusalTally returns an empty tally.
func NewRefusalTally() *RefusalTally {
	return &RefusalTally{windows: map[refusalKey]*refusalWindow{}, overflow: map[Activity]*refusalWindow{}}
}

// Hold keeps events for the sweep to write (TakeHeld); their Tries say how
// many writes of each failed. It returns those it dropped, for the caller
// to log: tried MaxEventWriteTries times, or past MaxHeldEvents.
func (t *RefusalTally) Hold(evs []HeldEvent) (dropped []HeldEvent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.holdLocked(evs)
}

func (t *RefusalTally) holdLocked(evs []HeldEvent) (dropped []HeldEvent) {
	for _, h := range evs {
		if h.Tries >= MaxEventWriteTries || len(t.held) >= MaxHeldEvents {
			dropped = append(dropped, h)
			continue
		}
		h.Event = BoundEvent(h.Event)
		t.held = append(t.held, h)
	}
	return dropped
}

// TakeHeld hands out the held events, and how many were lost since the
// last call (past MaxHeldEvents when the tally closed windows to make
// room), and forgets them.
func (t *RefusalTally) TakeHeld() (held []HeldEvent, lost int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	held, lost = t.held, t.lost
	t.held, t.lost = nil, 0
	return held, lost
}

// Note counts the tallied event ev at ev.Time. write says whether ev opens
// a window and is to be written as it is; due are the counts of ev's own
// window and kind that closed by ev.Time, to be written too. Counts of
// other windows closed to make room are held for the sweep.
func (t *RefusalTally) Note(ev Event) (write bool, due []Event) {
	now := ev.Time
	anonymous := ev.Actor.ObjectID == ""
	source := AddressKey(ev.ActorIP)
	like := Event{Activity: ev.Activity, Category: ev.Category, Result: ev.Result, Actor: ev.Actor,
		RequestID: ev.RequestID, CorrelationID: ev.CorrelationID, TargetID: ev.TargetID, TargetUPN: ev.TargetUPN}
	key := refusalKey{activity: like.Activity, source: source, requestID: like.RequestID}
	if !anonymous {
		// One window per person and kind, whatever they were refused: a
		// person looping over requests or pages opens no new ones. The
		// count names them, and the requests, targets and addresses.
		like.RequestID, like.CorrelationID, like.TargetID, like.TargetUPN = "", "", "", ""
		key = refusalKey{activity: like.Activity, source: "person " + ev.Actor.ObjectID}
		source = ""
	}
	like = BoundEvent(like) // held for a minute: no more than the event would store
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.windows[key]
	if w != nil && !now.Before(w.opened.Add(RefusalWindow)) {
		due = appendCount(due, w, now)
		delete(t.windows, key)
		w = nil
	}
	if w == nil && len(t.windows) >= MaxRefusalSources && !now.Before(t.nextClose) {
		for _, ev := range t.closeLocked(now, false) {
			t.lost += len(t.holdLocked([]HeldEvent{{Event: ev}}))
		}
	}
	if w == nil && anonymous && !now.Before(t.firstsSince.Add(RefusalWindow)) {
		t.firsts, t.firstsSince = 0, now
	}
	switch {
	case w != nil:
	case !anonymous || (len(t.windows) < MaxRefusalSources && t.firsts < MaxRefusalFirsts):
		w = &refusalWindow{like: like, opened: now, source: source}
		w.name(ev)
		t.windows[key] = w
		if c := now.Add(RefusalWindow); len(t.windows) == 1 || c.Before(t.nextClose) {
			t.nextClose = c
		}
		if anonymous {
			t.firsts++
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
	w.name(ev)
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
	if c := strings.Compare(a.source, b.source); c != 0 {
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
	named := w.like
	named.ActorIP = w.source
	ev.Reason = RefusalCountSentence(named, w.count, w.overflow, w.from, w.to)
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
		ev.Details["addresses"] = fmt.Sprintf("beyond the %d a minute written on their own (or the %d counted at once)", MaxRefusalFirsts, MaxRefusalSources)
		return append(due, ev)
	}
	// ActorIP is an address a filter can match: the one address the
	// window's refusals came from, or none when they came from several
	// (all of them are in addresses). An anonymous window's /64 is source.
	ev.ActorIP = ""
	if len(w.addresses.names) == 1 && w.addresses.leftOut == 0 {
		ev.ActorIP = w.addresses.names[0]
	}
	if w.source != "" {
		ev.Details["source"] = w.source
	}
	listDetails(ev.Details, "addresses", w.addresses)
	listDetails(ev.Details, "requests", w.requests)
	listDetails(ev.Details, "targets", w.targets)
	return append(due, ev)
}

// listDetails names l in details under key, split across key, key_2,
// ... so that no value passes MaxEventDetailValueChars (BoundEvent would
// cut it), and how many more there were under key_left_out.
func listDetails(details map[string]string, key string, l namedList) {
	if len(l.names) == 0 {
		return
	}
	part, value := 1, ""
	put := func() {
		k := key
		if part > 1 {
			k = fmt.Sprintf("%s_%d", key, part)
		}
		details[k] = value
		part, value = part+1, ""
	}
	for _, v := range l.names {
		if value != "" && len(value)+1+len(v) > MaxEventDetailValueChars {
			put()
		}
		if value != "" {
			value += " "
		}
		value += v
	}
	put()
	if l.leftOut > 0 {
		details[key+"_left_out"] = strconv.Itoa(l.leftOut)
	}
}

// RefusalCountSentence is the reason of the event that counts the n
// repeats like stands for (from its ActorIP, an AddressKey, or by its
// person; or from addresses past the caps) between from and to.
func RefusalCountSentence(like Event, n int, overflow bool, from, to time.Time) string {
	verb := "Refused"
	if like.Result == ResultSuccess {
		verb = "Repeated"
	}
	span := fmt.Sprintf("between %s and %s", from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	switch {
	case overflow:
		return fmt.Sprintf("%s %d times from addresses beyond the %d a minute written on their own, %s (anonymous, so counted rather than written one by one).",
			verb, n, MaxRefusalFirsts, span)
	case like.Actor.ObjectID != "":
		who := like.Actor.UPN
		if who == "" {
			who = like.Actor.ObjectID
		}
		return fmt.Sprintf("%s %d more times for %s %s (counted per person rather than written one by one; the first in the window is its own event).",
			verb, n, who, span)
	}
	return fmt.Sprintf("%s %d more times from %s %s (anonymous, so counted rather than written one by one; the first in the window is its own event).",
		verb, n, like.ActorIP, span)
}
