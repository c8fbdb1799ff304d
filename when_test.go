package tapdesk

import (
	"testing"
	"time"
)

func TestTimeHalves(t *testing.T) {
	now := time.Date(2026, 11, 23, 14, 8, 30, 0, time.UTC)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{now.Add(-20 * time.Second), "14:08 UTC · just now"},
		{now.Add(20 * time.Second), "14:08 UTC · just now"},
		{time.Date(2026, 11, 23, 14, 5, 0, 0, time.UTC), "14:05 UTC · 3 min ago"},
		{time.Date(2026, 11, 23, 15, 5, 0, 0, berlin), "14:05 UTC · 3 min ago"}, // shown in UTC whatever its zone
		{now.Add(59*time.Minute + 59*time.Second), "15:08 UTC · in 59 min"},
		{now.Add(-2 * time.Hour), "12:08 UTC · 2 h ago"},
		{now.Add(-13 * time.Hour), "01:08 UTC · 13 h ago"},
		{now.Add(-15 * time.Hour), "2026-11-22 23:08 UTC · 15 h ago"},
		{now.Add(47 * time.Hour), "2026-11-25 13:08 UTC · in 47 h"},
		{now.Add(-72 * time.Hour), "2026-11-20 14:08 UTC · 3 days ago"},
	} {
		if got := TimeClock(tc.t, now) + " · " + RelativeTime(tc.t, now); got != tc.want {
			t.Errorf("time %s shown as %q, want %q", tc.t, got, tc.want)
		}
	}
}
