package siem_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/tapdesk/tapdesk/siem"
)

// memSink keeps what it is sent.
type memSink struct {
	mu     sync.Mutex
	events []siem.Event
}

func (s *memSink) Name() string   { return "webhook" }
func (s *memSink) Target() string { return "memory" }
func (s *memSink) Close() error   { return nil }
func (s *memSink) Send(_ context.Context, evs []siem.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, evs...)
	return nil
}

func (s *memSink) got() []siem.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]siem.Event(nil), s.events...)
}

// Someone cuts the trail's tail below what the sink had delivered: the
// stream says so in its status (failing, naming the seq) and resumes from
// the head, so the events written after the cut, whose seqs go back below
// what the receiver holds, are sent rather than waited for.
func TestStreamResumesAfterACutTrail(t *testing.T) {
	db := trail(t, 6)
	sink := &memSink{}
	st := run(t, db, sink, siem.Options{})
	waitFor(t, "the first six events", func() bool { return len(sink.got()) == 6 })
	if _, err := db.SQL().Exec(`DELETE FROM audit_events WHERE seq > 3`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cut in the status", func() bool {
		return strings.Contains(st.Status(0), "failing: the audit trail was cut below seq 6")
	})
	appendEvents(t, db, 2) // seq 4 and 5 again
	st.Kick()
	waitFor(t, "the events after the cut", func() bool { return len(sink.got()) == 8 })
	want, err := db.SIEMEvents(context.Background(), 3, 10)
	if err != nil {
		t.Fatal(err)
	}
	got := sink.got()[6:]
	for i, ev := range got {
		if ev.Seq != want[i].Seq || ev.Mac != want[i].Mac {
			t.Errorf("sent after the cut: seq %d mac %s, want seq %d mac %s", ev.Seq, ev.Mac, want[i].Seq, want[i].Mac)
		}
	}
	// The cursor moves once the receiver has taken the batch, just after
	// the sink saw it: wait for it rather than read it at once.
	waitFor(t, "no lag after sending everything", func() bool {
		behind, _, err := db.SIEMLag(context.Background(), "webhook")
		return err == nil && behind == 0
	})
}
