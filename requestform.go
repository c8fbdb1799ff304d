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
	StartAt          string // StartLayout, UTC
}

// StartLayout is how the form's datetime-local start field is read: UTC.
const StartLayout = "2006-01-02T15:04"

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
		start, err := time.ParseInLocation(StartLayout, d.StartAt, time.UTC)
		switch {
		case err != nil:
			ve.Add("start_at", "Enter the start as date and time in UTC, like 2026-11-23T14:30, or leave it empty.")
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
