package tapdesk

import (
	"testing"
	"time"
)

func TestSessionActivityDue(t *testing.T) {
	last := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		after time.Duration
		idle  time.Duration
		due   bool
	}{
		{0, 30 * time.Minute, false},
		{59 * time.Second, 30 * time.Minute, false},
		{time.Minute, 30 * time.Minute, true},
		{29 * time.Second, 5 * time.Minute, false},
		{30 * time.Second, 5 * time.Minute, true}, // a tenth of a short idle timeout
		{-time.Second, 30 * time.Minute, true},    // the clock went back
	} {
		if got := SessionActivityDue(last, last.Add(c.after), c.idle); got != c.due {
			t.Errorf("%s after, idle %s: due %v, want %v", c.after, c.idle, got, c.due)
		}
	}
}
