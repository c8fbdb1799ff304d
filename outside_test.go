package tapdesk_test

import (
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
)

func TestPassRegistrationNames(t *testing.T) {
	for _, c := range []struct {
		r    tapdesk.PassRegistration
		want string
	}{
		{tapdesk.PassRegistration{ByName: "Grace Global", ByUPN: "grace@contoso.example"}, "Grace Global (grace@contoso.example)"},
		{tapdesk.PassRegistration{ByUPN: "grace@contoso.example"}, "grace@contoso.example"},
		{tapdesk.PassRegistration{ByID: "35458ec8"}, "35458ec8"},
		{tapdesk.PassRegistration{}, "someone Entra does not name"},
		{tapdesk.PassRegistration{ByApp: true, ByID: "0c8a", ByName: "Onboarding script"}, "Onboarding script (app 0c8a)"},
		{tapdesk.PassRegistration{ByApp: true}, "an app"},
	} {
		if got := c.r.Initiator(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.r, got, c.want)
		}
	}
	app := tapdesk.PassRegistration{ByApp: true, ByID: "0C8A5A53-4C2E-4F43-9D1C-7A0E5B1F2D3C"}
	if !app.ByTapdeskApp("0c8a5a53-4c2e-4f43-9d1c-7a0e5b1f2d3c") || app.ByTapdeskApp("") ||
		(tapdesk.PassRegistration{ByID: "0c8a5a53-4c2e-4f43-9d1c-7a0e5b1f2d3c"}).ByTapdeskApp("0c8a5a53-4c2e-4f43-9d1c-7a0e5b1f2d3c") {
		t.Error("ByTapdeskApp: the app's id, case-insensitive, and only for an app")
	}
}

// An issue begun shortly before the registration (Graph called after the
// claim) explains it; one begun long before or after does not.
func TestIssueWindow(t *testing.T) {
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	from, to := tapdesk.IssueWindow(at)
	for _, c := range []struct {
		start time.Time
		in    bool
	}{
		{at.Add(-time.Minute), true}, {at.Add(2 * time.Minute), true}, {at.Add(-9 * time.Minute), true},
		{at.Add(-11 * time.Minute), false}, {at.Add(6 * time.Minute), false},
	} {
		if got := !c.start.Before(from) && !c.start.After(to); got != c.in {
			t.Errorf("issue begun at %v: in window %v, want %v", c.start.Sub(at), got, c.in)
		}
	}
}
