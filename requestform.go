package tapdesk

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// RequestDraft is the new-request form as typed, so a refused form comes
// back filled in.
type RequestDraft struct {
	TicketRef        string
	Justification    string
	Verification     string
	VerificationNote string
	Lifetime         string
	UsableOnce       bool
	StartAt          string // StartLayout, wall clock in StartZone
	// StartZone is the IANA time zone the start was typed in: the
	// browser's, filled in by app.js. Empty (no JavaScript) means UTC, and
	// the form's label says so.
	StartZone string
}

// StartLayout is how the form's datetime-local start field is read, as a
// wall clock time in the start's zone.
const StartLayout = "2006-01-02T15:04"

// maxZoneName bounds the zone name a browser may send (the longest IANA
// name is about 30 characters).
const maxZoneName = 64

// Limits of the new-request form's fields, in characters.
const (
	MaxTicketRef     = 64
	MinJustification = 10
	MaxJustification = 2000
	MinVerifyNote    = 5
	MaxVerifyNote    = 2000
	// MaxStartAhead is how far ahead a pass may be set to start.
	MaxStartAhead = 30 * 24 * time.Hour
	// startSlack lets a start typed a few minutes ago through (the form
	// was filled in while the caller waited).
	startSlack = 5 * time.Minute
)

// ReadRequestForm takes the form's fields from a posted form. It never
// fails: what was typed is kept for the page, and ValidateDraft judges it.
func ReadRequestForm(form url.Values) RequestDraft {
	return RequestDraft{
		TicketRef:        strings.TrimSpace(form.Get("ticket_ref")),
		Justification:    strings.TrimSpace(form.Get("justification")),
		Verification:     form.Get("verification"),
		VerificationNote: strings.TrimSpace(form.Get("verification_note")),
		Lifetime:         strings.TrimSpace(form.Get("lifetime")),
		UsableOnce:       form.Get("usable_once") != "",
		StartAt:          strings.TrimSpace(form.Get("start_at")),
		StartZone:        strings.TrimSpace(form.Get("start_zone")),
	}
}

// ParseRequestForm reads and validates a posted new-request form against
// the tenant's policy; see ValidateDraft.
func ParseRequestForm(form url.Values, pol *TAPPolicy, now time.Time) (RequestDraft, *Request, error) {
	d := ReadRequestForm(form)
	r, err := d.Validate(pol, now)
	return d, r, err
}

// Validate checks every field and says what to fix next to it (a
// *Error with Fields). On success it returns the request's ticket,
// justification, verification, lifetime, use and start; the rest (who, for
// whom, when) is the caller's.
func (d RequestDraft) Validate(pol *TAPPolicy, now time.Time) (*Request, error) {
	var ve ValidationError
	r := &Request{TicketRef: d.TicketRef, Justification: d.Justification,
		VerificationMethod: d.Verification, VerificationNote: d.VerificationNote, UsableOnce: d.UsableOnce || pol.UsableOnce}

	// Invisible and text-direction characters are refused first: what the
	// approver reads must be what was typed.
	switch hidden := CheckVisibleText("The ticket reference", d.TicketRef); {
	case d.TicketRef == "":
		ve.Add("ticket_ref", "Enter the ticket this request belongs to.")
	case hidden != nil:
		ve.Add("ticket_ref", ErrorMessage(hidden))
	case utf8.RuneCountInString(d.TicketRef) > MaxTicketRef || !Printable(d.TicketRef, false):
		ve.Add("ticket_ref", "A ticket reference is at most 64 characters on one line.")
	}
	switch hidden := CheckVisibleText("The justification", d.Justification); {
	case hidden != nil:
		ve.Add("justification", ErrorMessage(hidden))
	case utf8.RuneCountInString(d.Justification) < MinJustification:
		ve.Add("justification", "Say in a sentence why the user needs a pass (at least 10 characters).")
	case utf8.RuneCountInString(d.Justification) > MaxJustification || !Printable(d.Justification, true):
		ve.Add("justification", "The justification is at most 2,000 characters of text.")
	}
	known := false
	for _, m := range VerificationMethods {
		known = known || m.Value == d.Verification
	}
	if !known {
		ve.Add("verification", "Choose how you verified the caller.")
	}
	switch hidden := CheckVisibleText("The verification note", d.VerificationNote); {
	case hidden != nil:
		ve.Add("verification_note", ErrorMessage(hidden))
	case utf8.RuneCountInString(d.VerificationNote) < MinVerifyNote:
		ve.Add("verification_note", "Note what you checked (the number you called back, who confirmed, the ID you saw).")
	case utf8.RuneCountInString(d.VerificationNote) > MaxVerifyNote || !Printable(d.VerificationNote, true):
		ve.Add("verification_note", "The note is at most 2,000 characters of text.")
	}
	lt, err := strconv.Atoi(d.Lifetime)
	switch {
	case err != nil:
		ve.Add("lifetime", fmt.Sprintf("Enter the lifetime as a whole number of minutes between %d and %d.", pol.MinLifetime, pol.MaxLifetime))
	case lt < pol.MinLifetime || lt > pol.MaxLifetime:
		ve.Add("lifetime", fmt.Sprintf("The tenant's policy allows lifetimes from %d to %d minutes; %d is outside that.", pol.MinLifetime, pol.MaxLifetime, lt))
	default:
		r.LifetimeMinutes = lt
	}
	if d.StartAt != "" {
		start, err := ParseStart(d.StartAt, d.StartZone)
		switch {
		case err != nil:
			ve.Add("start_at", ErrorMessage(err))
		case start.Before(now.Add(-startSlack)):
			ve.Add("start_at", "The start is in the past. Leave it empty to make the pass usable at once.")
		case start.After(now.Add(MaxStartAhead)):
			ve.Add("start_at", "The start can be at most 30 days ahead.")
		default:
			r.StartAt = &start
		}
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	return r, nil
}

// Printable reports whether s is valid UTF-8 without control characters
// (line breaks and tabs allowed only in multiline text).
func Printable(s string, multiline bool) bool {
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t')) {
			return false
		}
	}
	return utf8.ValidString(s)
}

// StartZoneName is how the form names the zone its start is read in.
func (d RequestDraft) StartZoneName() string {
	if d.StartZone == "" {
		return "UTC"
	}
	return d.StartZone
}

// ParseStart reads a start typed as a wall clock time (StartLayout) in the
// IANA zone the browser reported; an empty zone is UTC. The result is UTC.
// A zone this server does not know is refused rather than guessed. Around
// daylight saving changes the rule is deliberate: a time the clocks skip
// (spring forward) does not exist and is refused with a sentence; a time
// that happens twice (fall back) is the first of the two, so the pass never
// starts later than the agent may have meant.
func ParseStart(value, zone string) (time.Time, error) {
	loc := time.UTC
	if zone != "" && zone != "UTC" {
		var err error
		// "Local" would be the server's own zone, not the browser's.
		if zone == "Local" || len(zone) > maxZoneName || !Printable(zone, false) {
			err = fmt.Errorf("not a zone name")
		} else {
			loc, err = time.LoadLocation(zone)
		}
		if err != nil {
			return time.Time{}, Titledf(EINVALID, "Time zone not known", "tapdesk does not know the time zone your browser reported (%q). Enter the start in UTC with JavaScript off, or leave it empty.", zone)
		}
	}
	wall, err := time.ParseInLocation(StartLayout, value, time.UTC)
	if err != nil {
		if loc == time.UTC {
			return time.Time{}, Titledf(EINVALID, "Check the start time", "Enter the start as date and time in UTC, like 2026-11-23T14:30, or leave it empty.")
		}
		return time.Time{}, Titledf(EINVALID, "Check the start time", "Enter the start as date and time in your time zone (%s), like 2026-11-23T14:30, or leave it empty.", zone)
	}
	// Every instant whose wall clock in loc reads wall: one offset of the
	// zone around that day each. None: skipped; two: repeated.
	var found time.Time
	for _, probe := range []time.Duration{-48 * time.Hour, 0, 48 * time.Hour} {
		_, off := wall.Add(probe).In(loc).Zone()
		at := wall.Add(-time.Duration(off) * time.Second)
		if at.In(loc).Format(StartLayout) == wall.Format(StartLayout) && (found.IsZero() || at.Before(found)) {
			found = at
		}
	}
	if found.IsZero() {
		return time.Time{}, Titledf(EINVALID, "Time skipped by the clocks", "%s does not exist in %s: the clocks skip it when daylight saving time starts. Choose a time after the change.", strings.Replace(value, "T", " ", 1), zone)
	}
	return found.UTC(), nil
}
