package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
)

// A database from before the one-open-request rule may hold two open
// requests for one person. The migration keeps both as they are (they
// still get decided or expire) and still refuses a third.
func TestMigrationKeepsLegacyOpenDuplicates(t *testing.T) {
	ctx := context.Background()
	db := keyedTestDB(t)
	p, err := db.provider()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 7); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	filing := func(id string) *tapdesk.Request {
		return &tapdesk.Request{ID: id, CorrelationID: "c-" + id, State: tapdesk.StatePending,
			Requester: tapdesk.Actor{TenantID: "t", ObjectID: "agent", Name: "Agent"}, TargetID: "nina", TargetName: "Nina",
			TicketRef: "INC-1", Justification: "locked out of everything", VerificationMethod: tapdesk.VerifyCallback,
			VerificationNote: "called back", LifetimeMinutes: 60, ApprovalsRequired: 1,
			CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour)}
	}
	ev := tapdesk.Event{Activity: tapdesk.ActRequestFiled, Category: tapdesk.CatRequest}
	if err := db.FileRequest(ctx, filing("old-1"), ev, nil); err != nil {
		t.Fatal(err)
	}
	// The duplicate an older tapdesk let through.
	for _, q := range []string{`CREATE TEMP TABLE dup AS SELECT * FROM requests WHERE id = 'old-1'`,
		`UPDATE dup SET id = 'old-2', created_at = '2026-11-23T10:00:01.000000Z'`, `INSERT INTO requests SELECT * FROM dup`} {
		if _, err := db.db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("migration with two open requests for one person: %v", err)
	}
	for _, id := range []string{"old-1", "old-2"} {
		if r, err := db.Request(ctx, id); err != nil || r.State != tapdesk.StatePending {
			t.Fatalf("%s after the migration: %+v %v", id, r, err)
		}
	}
	if open, err := db.OpenRequestFor(ctx, "nina"); err != nil || open == nil || open.ID != "old-1" {
		t.Fatalf("open request %+v %v, want the oldest", open, err)
	}
	if err := db.FileRequest(ctx, filing("new"), ev, nil); tapdesk.ErrorCode(err) != tapdesk.ECONFLICT {
		t.Fatalf("a third filing: %v, want a conflict", err)
	}
	// Past the store's own check, the index still refuses.
	if _, err := db.db.ExecContext(ctx, `CREATE TEMP TABLE dup2 AS SELECT * FROM requests WHERE id = 'old-1';
		UPDATE dup2 SET id = 'sneaked', legacy_open_duplicate = ''; INSERT INTO requests SELECT * FROM dup2`); err == nil ||
		!strings.Contains(err.Error(), "UNIQUE") {
		t.Fatalf("a second open request inserted behind the store's back: %v", err)
	}
}
