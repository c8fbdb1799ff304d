package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk/internal/pgtest"
	"github.com/tapdesk/tapdesk/store"
)

// The audit page pages by seq both ways and counts what a filter selects
// without reading past the cap.
func TestEventsKeysetPagingAndCount(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		seed(t, db, 25)
		ctx := context.Background()
		seqs := func(f store.EventFilter) []int64 {
			t.Helper()
			evs, err := db.Events(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			var out []int64
			for _, ev := range evs {
				out = append(out, ev.Seq)
			}
			return out
		}
		if got := seqs(store.EventFilter{BeforeSeq: 11, Limit: 3}); !slices.Equal(got, []int64{10, 9, 8}) {
			t.Errorf("older page %v", got)
		}
		// Back from the page starting at 8: the three just newer, newest first.
		if got := seqs(store.EventFilter{AfterSeq: 10, Limit: 3}); !slices.Equal(got, []int64{13, 12, 11}) {
			t.Errorf("newer page %v", got)
		}
		if got := seqs(store.EventFilter{AfterSeq: 23, Limit: 3}); !slices.Equal(got, []int64{25, 24}) {
			t.Errorf("newest page %v", got)
		}
		for _, tc := range []struct {
			f          store.EventFilter
			upTo, want int
		}{
			{store.EventFilter{}, 100, 25},
			{store.EventFilter{}, 10, 10},
			{store.EventFilter{From: t0.Add(20 * time.Minute)}, 100, 5},
			{store.EventFilter{Target: "user3@x", BeforeSeq: 2, Limit: 1}, 100, 1}, // paging does not narrow the count
			{store.EventFilter{Activity: "Nothing"}, 100, 0},
		} {
			n, err := db.CountEvents(ctx, tc.f, tc.upTo)
			if err != nil || n != tc.want {
				t.Errorf("CountEvents(%+v, %d) = %d, %v; want %d", tc.f, tc.upTo, n, err, tc.want)
			}
		}
	})
}
