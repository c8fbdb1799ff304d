package tapdesk

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseStart(t *testing.T) {
	for _, tc := range []struct {
		value, zone string
		want        string // RFC 3339 UTC, or empty when refused
		refusal     string // part of the sentence when refused
	}{
		{"2026-11-23T14:30", "", "2026-11-23T14:30:00Z", ""},
		{"2026-11-23T14:30", "UTC", "2026-11-23T14:30:00Z", ""},
		{"2026-11-23T14:30", "Europe/Berlin", "2026-11-23T13:30:00Z", ""},       // CET, +1
		{"2026-07-01T14:30", "Europe/Berlin", "2026-07-01T12:30:00Z", ""},       // CEST, +2
		{"2026-11-23T09:00", "America/New_York", "2026-11-23T14:00:00Z", ""},    // EST, -5
		{"2026-11-23T09:00", "Asia/Kolkata", "2026-11-23T03:30:00Z", ""},        // half-hour offset
		{"2026-11-23T09:00", "Australia/Lord_Howe", "2026-11-22T22:00:00Z", ""}, // half-hour DST, +11
		// Spring forward: 02:00–02:59 does not happen in Berlin on 29 March 2026.
		{"2026-03-29T02:30", "Europe/Berlin", "", "does not exist in Europe/Berlin"},
		{"2026-03-29T03:00", "Europe/Berlin", "2026-03-29T01:00:00Z", ""},
		{"2026-03-29T01:59", "Europe/Berlin", "2026-03-29T00:59:00Z", ""},
		// Fall back: 02:30 happens twice on 25 October 2026; the first is taken.
		{"2026-10-25T02:30", "Europe/Berlin", "2026-10-25T00:30:00Z", ""},
		{"2026-11-01T01:30", "America/New_York", "2026-11-01T05:30:00Z", ""},
		{"2026-11-23T14:30", "Mars/Olympus_Mons", "", "does not know the time zone"},
		{"2026-11-23T14:30", "Local", "", "does not know the time zone"},
		{"2026-11-23T14:30", "../../etc/passwd", "", "does not know the time zone"},
		{"2026-11-23T14:30", "Europe/Berlin\x00", "", "does not know the time zone"},
		{"2026-11-23T14:30", strings.Repeat("A", 100), "", "does not know the time zone"},
		{"yesterday", "", "", "date and time in UTC"},
		{"yesterday", "Europe/Berlin", "", "your time zone (Europe/Berlin)"},
		{"2026-11-23 14:30", "", "", "date and time in UTC"},
	} {
		got, err := ParseStart(tc.value, tc.zone)
		switch {
		case tc.want != "" && err != nil:
			t.Errorf("ParseStart(%q, %q): %v", tc.value, tc.zone, err)
		case tc.want != "" && got.Format(time.RFC3339) != tc.want:
			t.Errorf("ParseStart(%q, %q) = %s, want %s", tc.value, tc.zone, got.Format(time.RFC3339), tc.want)
		case tc.want == "" && err == nil:
			t.Errorf("ParseStart(%q, %q) = %s, want a refusal", tc.value, tc.zone, got)
		case tc.want == "" && !strings.Contains(ErrorMessage(err), tc.refusal):
			t.Errorf("ParseStart(%q, %q) says %q, want %q in it", tc.value, tc.zone, ErrorMessage(err), tc.refusal)
		case err == nil && got.Location() != time.UTC:
			t.Errorf("ParseStart(%q, %q) is in %s, not UTC", tc.value, tc.zone, got.Location())
		}
	}
}

// The form's zone field reaches validation: the same typed start files a
// different moment in Berlin than in UTC, and an unknown zone is a field
// error on the start.
func TestRequestDraftStartZone(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	pol := &TAPPolicy{MinLifetime: 60, MaxLifetime: 480}
	form := map[string][]string{"ticket_ref": {"INC-1"}, "justification": {"Lost phone, travelling"},
		"verification": {VerificationMethods[0].Value}, "verification_note": {"Called back"}, "lifetime": {"60"},
		"start_at": {"2026-11-23T14:30"}, "start_zone": {"Europe/Berlin"}}
	d, r, err := ParseRequestForm(form, pol, now)
	if err != nil {
		t.Fatal(err)
	}
	if d.StartZone != "Europe/Berlin" || d.StartZoneName() != "Europe/Berlin" {
		t.Errorf("zone read as %q", d.StartZone)
	}
	if got := r.StartAt.Format(time.RFC3339); got != "2026-11-23T13:30:00Z" {
		t.Errorf("start %s, want 13:30 UTC", got)
	}
	form["start_zone"] = []string{"Nowhere/Atlantis"}
	_, _, err = ParseRequestForm(form, pol, now)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("unknown zone: %v", err)
	}
	if msg := e.Fields["start_at"]; !strings.Contains(msg, "does not know the time zone") {
		t.Errorf("unknown zone: start_at error %q (%v)", msg, err)
	}
	form["start_zone"] = nil
	if _, r, err = ParseRequestForm(form, pol, now); err != nil || r.StartAt.Format(time.RFC3339) != "2026-11-23T14:30:00Z" {
		t.Errorf("no zone: start %v (%v), want 14:30 UTC", r, err)
	}
}
