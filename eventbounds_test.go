package tapdesk_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tapdesk/tapdesk"
)

func TestBoundText(t *testing.T) {
	cases := []struct {
		name, in string
		limit    int
		want     string
	}{
		{"short stays", "Mozilla/5.0", 256, "Mozilla/5.0"},
		{"exactly the limit stays", strings.Repeat("a", 64), 64, strings.Repeat("a", 64)},
		{"multi-byte within the limit stays", strings.Repeat("é", 64), 64, strings.Repeat("é", 64)},
		{"one over is cut", strings.Repeat("a", 65), 64, strings.Repeat("a", 38) + "…[truncated 27 characters]"},
		{"900 KB user agent", strings.Repeat("A", 900<<10), 256, strings.Repeat("A", 226) + "…[truncated 921374 characters]"},
		{"cut between runes", strings.Repeat("日本", 100), 64, strings.Repeat("日本", 18) + "日…[truncated 163 characters]"},
		{"emoji not split", strings.Repeat("🔑", 100), 64, strings.Repeat("🔑", 37) + "…[truncated 63 characters]"},
		{"invalid bytes count one each", strings.Repeat("\xff", 100), 64, strings.Repeat("\xff", 37) + "…[truncated 63 characters]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := tapdesk.BoundText(c.in, c.limit)
			if got != c.want {
				t.Fatalf("BoundText(%d chars, %d) = %q (%d chars), want %q", utf8.RuneCountInString(c.in), c.limit, short(got), utf8.RuneCountInString(got), short(c.want))
			}
			if n := utf8.RuneCountInString(got); n > c.limit {
				t.Errorf("%d characters, over the limit %d", n, c.limit)
			}
			if utf8.ValidString(c.in) && !utf8.ValidString(got) {
				t.Error("cut inside a character: the result is not valid UTF-8")
			}
			if got != c.in {
				// The mark says how much is missing: kept + left out = original.
				i := strings.LastIndex(got, "…[truncated ")
				left, _ := strconv.Atoi(strings.TrimSuffix(got[i+len("…[truncated "):], " characters]"))
				if kept := utf8.RuneCountInString(got[:i]); kept+left != utf8.RuneCountInString(c.in) {
					t.Errorf("kept %d + truncated %d != %d characters", kept, left, utf8.RuneCountInString(c.in))
				}
			}
		})
	}
}

func short(s string) string {
	if len(s) > 80 {
		return s[:40] + "..." + s[len(s)-40:]
	}
	return s
}

func TestBoundEvent(t *testing.T) {
	huge := strings.Repeat("x", 900<<10)
	details := map[string]string{"path": huge, huge: "key too long"}
	for i := range 100 {
		details[fmt.Sprintf("k%03d", i)] = "v"
	}
	ev := tapdesk.Event{Activity: tapdesk.Activity(huge), Category: tapdesk.Category(huge), Result: tapdesk.Result(huge), Reason: huge,
		Actor:   tapdesk.Actor{TenantID: huge, ObjectID: huge, UPN: huge, Name: huge},
		ActorIP: huge, ActorAgent: huge, TargetID: huge, TargetUPN: huge, RequestID: huge, CorrelationID: huge, TAPMethodID: huge,
		Details: details}
	got := tapdesk.BoundEvent(ev)
	limits := map[string]struct {
		v     string
		limit int
	}{
		"activity": {string(got.Activity), tapdesk.MaxEventFieldChars}, "category": {string(got.Category), tapdesk.MaxEventFieldChars},
		"result": {string(got.Result), tapdesk.MaxEventFieldChars}, "reason": {got.Reason, tapdesk.MaxEventReasonChars},
		"actor tenant": {got.Actor.TenantID, tapdesk.MaxEventFieldChars}, "actor id": {got.Actor.ObjectID, tapdesk.MaxEventFieldChars},
		"actor upn": {got.Actor.UPN, tapdesk.MaxEventFieldChars}, "actor name": {got.Actor.Name, tapdesk.MaxEventFieldChars},
		"address": {got.ActorIP, tapdesk.MaxEventFieldChars}, "user agent": {got.ActorAgent, tapdesk.MaxEventAgentChars},
		"target id": {got.TargetID, tapdesk.MaxEventFieldChars}, "target upn": {got.TargetUPN, tapdesk.MaxEventFieldChars},
		"request id": {got.RequestID, tapdesk.MaxEventFieldChars}, "correlation id": {got.CorrelationID, tapdesk.MaxEventFieldChars},
		"pass id": {got.TAPMethodID, tapdesk.MaxEventFieldChars},
	}
	for name, f := range limits {
		if n := utf8.RuneCountInString(f.v); n > f.limit || !strings.Contains(f.v, "…[truncated ") {
			t.Errorf("%s: %d characters (limit %d), marked %v", name, n, f.limit, strings.Contains(f.v, "…[truncated "))
		}
	}
	if got.ActorAgent != tapdesk.BoundText(huge, 256) {
		t.Errorf("user agent not cut to 256 characters: %d", utf8.RuneCountInString(got.ActorAgent))
	}
	if len(got.Details) != tapdesk.MaxEventDetails {
		t.Errorf("%d details kept, want %d", len(got.Details), tapdesk.MaxEventDetails)
	}
	for k, v := range got.Details {
		if utf8.RuneCountInString(k) > tapdesk.MaxEventDetailKeyChars || utf8.RuneCountInString(v) > tapdesk.MaxEventDetailValueChars {
			t.Errorf("detail %q: key %d, value %d characters", short(k), utf8.RuneCountInString(k), utf8.RuneCountInString(v))
		}
	}
	if want := "39 more details left out (an event holds at most 64)"; got.Details[tapdesk.EventDetailsLeftOut] != want {
		t.Errorf("left out: %q, want %q", got.Details[tapdesk.EventDetailsLeftOut], want)
	}
	if len(ev.Details) != 102 || ev.Details["path"] != huge {
		t.Error("BoundEvent changed the caller's details")
	}

	t.Run("a small event is unchanged", func(t *testing.T) {
		ev := tapdesk.Event{Activity: tapdesk.ActSignIn, Reason: "ok", ActorAgent: "Mozilla/5.0", Details: map[string]string{"mfa": "true"}}
		got := tapdesk.BoundEvent(ev)
		if fmt.Sprint(got) != fmt.Sprint(ev) {
			t.Errorf("got %+v, want %+v", got, ev)
		}
	})
}

func TestRefusalTally(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	hugeAgent := strings.Repeat("A", 900<<10)
	refusal := func(at time.Time, addr string) tapdesk.Event {
		return tapdesk.Event{Time: at, Activity: tapdesk.ActAccessRefused, Category: tapdesk.CatAccess, Result: tapdesk.ResultFailure,
			Reason: "missing or invalid CSRF token", ActorIP: addr, ActorAgent: hugeAgent}
	}

	t.Run("1000 from one address: the first written, the rest one count", func(t *testing.T) {
		tally := tapdesk.NewRefusalTally()
		written := 0
		for i := range 1000 {
			write, due := tally.Note(refusal(t0.Add(time.Duration(i)*time.Millisecond), "203.0.113.9"))
			if write {
				written++
			}
			if len(due) > 0 {
				t.Fatalf("refusal %d closed a window early", i)
			}
		}
		if written != 1 {
			t.Fatalf("%d written one by one, want 1", written)
		}
		if due := tally.Close(t0.Add(30*time.Second), false); len(due) != 0 {
			t.Fatalf("an open window was closed: %+v", due)
		}
		due := tally.Close(t0.Add(tapdesk.RefusalWindow), false)
		if len(due) != 1 {
			t.Fatalf("%d count events, want 1", len(due))
		}
		ev := due[0]
		if ev.Details["in_window"] != "1000" || ev.Details["counted"] != "999" || ev.ActorIP != "203.0.113.9" || ev.Activity != tapdesk.ActAccessRefused {
			t.Errorf("count event: %+v", ev)
		}
		if want := "Refused 999 more times from 203.0.113.9 between 2026-11-28T09:00:00Z and 2026-11-28T09:00:00Z"; !strings.HasPrefix(ev.Reason, want) {
			t.Errorf("reason %q, want it to start %q", ev.Reason, want)
		}
		if ev.ActorAgent != "" {
			t.Error("the count event holds a user agent")
		}
		if due := tally.Close(t0.Add(time.Hour), true); len(due) != 0 {
			t.Errorf("the window was not forgotten: %+v", due)
		}
	})

	t.Run("the next refusal after the window writes the count and opens a new window", func(t *testing.T) {
		tally := tapdesk.NewRefusalTally()
		tally.Note(refusal(t0, "203.0.113.9"))
		tally.Note(refusal(t0.Add(time.Second), "203.0.113.9"))
		write, due := tally.Note(refusal(t0.Add(tapdesk.RefusalWindow+time.Second), "203.0.113.9"))
		if !write || len(due) != 1 || due[0].Details["counted"] != "1" {
			t.Fatalf("write %v, due %+v", write, due)
		}
	})

	t.Run("a lone refusal leaves no count", func(t *testing.T) {
		tally := tapdesk.NewRefusalTally()
		tally.Note(refusal(t0, "203.0.113.9"))
		if due := tally.Close(t0.Add(time.Hour), true); len(due) != 0 {
			t.Errorf("count events for no repeats: %+v", due)
		}
	})

	t.Run("stopping closes open windows", func(t *testing.T) {
		tally := tapdesk.NewRefusalTally()
		tally.Note(refusal(t0, "203.0.113.9"))
		tally.Note(refusal(t0.Add(time.Second), "203.0.113.9"))
		if due := tally.Close(t0.Add(2*time.Second), true); len(due) != 1 {
			t.Errorf("%d count events at stop, want 1", len(due))
		}
	})

	t.Run("kinds, addresses and requests are counted apart", func(t *testing.T) {
		tally := tapdesk.NewRefusalTally()
		other := refusal(t0, "203.0.113.9")
		other.Activity = tapdesk.ActSignInRefused
		onRequest := refusal(t0, "203.0.113.9")
		onRequest.RequestID = "r1"
		for _, ev := range []tapdesk.Event{refusal(t0, "203.0.113.9"), refusal(t0, "198.51.100.7"), other, onRequest} {
			if write, _ := tally.Note(ev); !write {
				t.Errorf("%s from %s on %q was not written", ev.Activity, ev.ActorIP, ev.RequestID)
			}
		}
	})

	t.Run("a flood of addresses stays bounded", func(t *testing.T) {
		tally := tapdesk.NewRefusalTally()
		const sent = 5000
		written := 0
		for i := range sent {
			if write, _ := tally.Note(refusal(t0, fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255))); write {
				written++
			}
		}
		if written != tapdesk.MaxRefusalFirsts {
			t.Errorf("%d written one by one, want %d", written, tapdesk.MaxRefusalFirsts)
		}
		due := tally.Close(t0.Add(tapdesk.RefusalWindow), false)
		if len(due) != 1 || due[0].Details["counted"] != strconv.Itoa(sent-tapdesk.MaxRefusalFirsts) || !strings.Contains(due[0].Reason, "beyond the 100 a minute") {
			t.Fatalf("overflow count: %+v", due)
		}
		// A new window makes room again.
		if write, _ := tally.Note(refusal(t0.Add(tapdesk.RefusalWindow), "192.0.2.1")); !write {
			t.Error("a new address after the window was not written")
		}
	})

	t.Run("an IPv6 /64 is one source", func(t *testing.T) {
		tally := tapdesk.NewRefusalTally()
		written := 0
		for i := range 2000 {
			if write, _ := tally.Note(refusal(t0, fmt.Sprintf("2001:db8:1:2::%x", i+1))); write {
				written++
			}
		}
		due := tally.Close(t0.Add(tapdesk.RefusalWindow), false)
		if written != 1 || len(due) != 1 || due[0].Details["in_window"] != "2000" || due[0].Details["source"] != "2001:db8:1:2::/64" {
			t.Fatalf("%d written, counts %+v", written, due)
		}
		// ActorIP is an address or nothing: these came from 2000.
		if ev := due[0]; ev.ActorIP != "" || !strings.HasPrefix(ev.Details["addresses"], "2001:db8:1:2::1 2001:db8:1:2::2 ") ||
			ev.Details["addresses_left_out"] != strconv.Itoa(2000-tapdesk.MaxRefusalAddresses) || !strings.Contains(ev.Reason, "from 2001:db8:1:2::/64") {
			t.Errorf("count event: ActorIP %q, reason %q, details %v", ev.ActorIP, ev.Reason, ev.Details)
		}
	})

	t.Run("signed-in refusals are counted per person", func(t *testing.T) {
		tally := tapdesk.NewRefusalTally()
		alex := tapdesk.Actor{ObjectID: "oid-alex", UPN: "alex.agent@contoso.example"}
		written := 0
		for i := range 500 {
			ev := refusal(t0, "203.0.113.9")
			ev.Actor, ev.RequestID = alex, fmt.Sprintf("r%d", i) // a different request each time
			if !tapdesk.Tallied(ev) {
				t.Fatal("a signed-in access refusal is not tallied")
			}
			if write, _ := tally.Note(ev); write {
				written++
			}
		}
		// Another person is counted apart, and not held back by the cap.
		other := refusal(t0, "203.0.113.9")
		other.Actor = tapdesk.Actor{ObjectID: "oid-sam"}
		if write, _ := tally.Note(other); !write {
			t.Error("another person's first refusal was not written")
		}
		due := tally.Close(t0.Add(tapdesk.RefusalWindow), false)
		if written != 1 || len(due) != 1 || due[0].Actor != alex || due[0].Details["in_window"] != "500" ||
			!strings.HasPrefix(due[0].Reason, "Refused 499 more times for alex.agent@contoso.example between") {
			t.Fatalf("%d written, counts %+v", written, due)
		}
		if got := tapdesk.BoundEvent(due[0]); got.Details["requests_left_out"] != strconv.Itoa(500-tapdesk.MaxRefusalRequests) ||
			len(strings.Fields(got.Details["requests"]+" "+got.Details["requests_2"])) != tapdesk.MaxRefusalRequests || got.ActorIP != "203.0.113.9" {
			t.Errorf("count event: %+v", got)
		}
	})

	t.Run("a person probing requests from several addresses: the count names them all", func(t *testing.T) {
		tally := tapdesk.NewRefusalTally()
		alex := tapdesk.Actor{ObjectID: "oid-alex", UPN: "alex.agent@contoso.example"}
		var ids, targets []string
		for i := range 30 {
			ev := refusal(t0.Add(time.Duration(i)*time.Second), []string{"203.0.113.9", "2001:db8:5::7"}[i%2])
			// Request ids as tapdesk makes them (36 characters): 30 of them pass one detail's 1,024.
			ev.Actor, ev.RequestID, ev.TargetUPN = alex, fmt.Sprintf("00000000-0000-4000-8000-%012d", i), fmt.Sprintf("user%d@contoso.example", i%25)
			ids = append(ids, ev.RequestID)
			if i%25 < tapdesk.MaxRefusalTargets && !slices.Contains(targets, ev.TargetUPN) {
				targets = append(targets, ev.TargetUPN)
			}
			tally.Note(ev)
		}
		due := tally.Close(t0.Add(time.Hour), false)
		if len(due) != 1 {
			t.Fatalf("%d counts", len(due))
		}
		ev := tapdesk.BoundEvent(due[0]) // as it is stored
		if got := strings.Fields(ev.Details["requests"] + " " + ev.Details["requests_2"]); !slices.Equal(got, ids) || ev.Details["requests_left_out"] != "" {
			t.Errorf("requests named %d of 30: %v", len(got), ev.Details)
		}
		if got := strings.Fields(ev.Details["targets"]); !slices.Equal(got, targets) || ev.Details["targets_left_out"] != "5" {
			t.Errorf("targets %v, want %v; %v", got, targets, ev.Details)
		}
		if ev.ActorIP != "" || ev.Details["addresses"] != "203.0.113.9 2001:db8:5::7" || ev.Details["source"] != "" {
			t.Errorf("ActorIP %q, addresses %q", ev.ActorIP, ev.Details["addresses"])
		}
		for k, v := range ev.Details {
			if len(v) > tapdesk.MaxEventDetailValueChars || strings.Contains(v, "…") {
				t.Errorf("detail %s cut: %q", k, v)
			}
		}
	})

	t.Run("held events wait for the sweep, and are dropped after their tries", func(t *testing.T) {
		tally := tapdesk.NewRefusalTally()
		failed := refusal(t0, "203.0.113.9")
		if dropped := tally.Hold([]tapdesk.HeldEvent{{Event: failed, Tries: 1}}); len(dropped) != 0 {
			t.Fatalf("dropped %v", dropped)
		}
		// A refusal writes its own event, not the backlog.
		if write, due := tally.Note(refusal(t0, "198.51.100.7")); !write || len(due) != 0 {
			t.Fatalf("a refusal was handed the backlog: %+v", due)
		}
		held, lost := tally.TakeHeld()
		if len(held) != 1 || held[0].Tries != 1 || held[0].Event.ActorIP != "203.0.113.9" || len(held[0].Event.ActorAgent) > 1024 || lost != 0 {
			t.Fatalf("held %+v, lost %d", held, lost)
		}
		if held, _ := tally.TakeHeld(); len(held) != 0 {
			t.Fatalf("held twice: %+v", held)
		}
		if dropped := tally.Hold([]tapdesk.HeldEvent{{Event: failed, Tries: tapdesk.MaxEventWriteTries}}); len(dropped) != 1 {
			t.Fatalf("an event tried %d times was held again", tapdesk.MaxEventWriteTries)
		}
	})

	t.Run("what is tallied", func(t *testing.T) {
		signedIn := tapdesk.Actor{ObjectID: "oid", UPN: "alex.agent@contoso.example"}
		for _, tc := range []struct {
			activity tapdesk.Activity
			actor    tapdesk.Actor
			want     bool
		}{
			{tapdesk.ActAccessRefused, tapdesk.Actor{}, true},
			{tapdesk.ActAccessRefused, signedIn, true},
			{tapdesk.ActRateLimited, tapdesk.Actor{}, true},
			{tapdesk.ActRateLimited, signedIn, true},
			{tapdesk.ActLinkRefused, tapdesk.Actor{}, true},
			{tapdesk.ActSignIn, tapdesk.Actor{}, false},
		} {
			ev := refusal(t0, "203.0.113.9")
			ev.Activity, ev.Actor = tc.activity, tc.actor
			if got := tapdesk.Tallied(ev); got != tc.want {
				t.Errorf("%s by %q: tallied %v, want %v", tc.activity, tc.actor.UPN, got, tc.want)
			}
		}
	})
}

// FuzzBoundText: whatever the text, the result is within the limit, starts
// with the text it cut, and cuts no character in two.
func FuzzBoundText(f *testing.F) {
	for _, s := range []string{"", "Mozilla/5.0", strings.Repeat("日本", 200), strings.Repeat("🔑", 300), "\xff\xfe" + strings.Repeat("a", 300), "a\u0301" + strings.Repeat("é", 300)} {
		f.Add(s, 64)
	}
	f.Fuzz(func(t *testing.T, s string, limit int) {
		limit = 32 + abs(limit)%2048 // the limits tapdesk uses are at least 64
		got := tapdesk.BoundText(s, limit)
		if n := utf8.RuneCountInString(got); n > limit {
			t.Fatalf("%d characters, limit %d", n, limit)
		}
		if got == s {
			return
		}
		i := strings.LastIndex(got, "…[truncated ")
		if i < 0 || !strings.HasPrefix(s, got[:i]) {
			t.Fatalf("%q is not a marked prefix of the input", short(got))
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatal("cut inside a character")
		}
		left, err := strconv.Atoi(strings.TrimSuffix(got[i+len("…[truncated "):], " characters]"))
		if err != nil || utf8.RuneCountInString(got[:i])+left != utf8.RuneCountInString(s) {
			t.Fatalf("the mark %q does not add up", got[i:])
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
