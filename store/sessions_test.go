package store_test

import (
	"context"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"testing"
	"time"
)

// Session rows round-trip, are not found once expired or deleted, and
// expired rows are removed by DeleteExpired while live ones stay.
func TestSessionRows(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		ctx := context.Background()
		rows := db.SessionRows()
		if err := rows.CommitCtx(ctx, "live", []byte("data one"), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := rows.CommitCtx(ctx, "gone", []byte("data two"), time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		if b, ok, err := rows.FindCtx(ctx, "live"); err != nil || !ok || string(b) != "data one" {
			t.Fatalf("live row: %q %v %v", b, ok, err)
		}
		if err := rows.CommitCtx(ctx, "live", []byte("data three"), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if b, ok, err := rows.FindCtx(ctx, "live"); err != nil || !ok || string(b) != "data three" {
			t.Fatalf("rewritten row: %q %v %v", b, ok, err)
		}
		if _, ok, err := rows.FindCtx(ctx, "gone"); err != nil || ok {
			t.Fatalf("expired row found: %v %v", ok, err)
		}
		if err := rows.DeleteExpired(ctx); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("after DeleteExpired %d rows (%v), want the live one", n, err)
		}
		if err := rows.DeleteCtx(ctx, "live"); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := rows.FindCtx(ctx, "live"); err != nil || ok {
			t.Fatalf("deleted row found: %v %v", ok, err)
		}
	})
}
