package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
)

var (
	agent        = tapdesk.Actor{TenantID: "t", ObjectID: "agent", UPN: "agent@x", Name: "Agent"}
	approver     = tapdesk.Actor{TenantID: "t", ObjectID: "appr", UPN: "appr@x", Name: "Approver"}
	second       = tapdesk.Actor{TenantID: "t", ObjectID: "appr2", UPN: "appr2@x", Name: "Approver Two"}
	testAuditKey = "store-test-audit-key-0123456789abcdef"
	t0           = time.Date(2026, 11, 23, 10, 0, 0, 123456000, time.UTC)
)

func openDB(t *testing.T) (*store.DB, string) {
	t.Helper()
	path := pgtest.DSN(t, filepath.Join(t.TempDir(), "tapdesk.db"))
	db, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	db.Now = func() time.Time { return t0 }
	if err := db.SetAuditKey(testAuditKey); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

// newRequest is a pending request for a target of its own: a target has at
// most one open request.
func newRequest(id string, approvals int) *tapdesk.Request {
	start := t0.Add(time.Hour)
	return &tapdesk.Request{
		ID: id, CorrelationID: "corr-" + id, State: tapdesk.StatePending,
		Requester: agent, TargetID: "target-" + id, TargetUPN: "target@x", TargetName: "Target Person",
		TicketRef: "INC-1", Justification: "locked out", VerificationMethod: tapdesk.VerifyCallback,
		VerificationNote: "called +1 555", LifetimeMinutes: 60, UsableOnce: true, StartAt: &start,
		ApprovalsRequired: approvals, CreatedAt: t0, UpdatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour),
	}
}

func fileRequest(t *testing.T, db *store.DB, r *tapdesk.Request, mail ...store.Mail) {
	t.Helper()
	ev := tapdesk.Event{Activity: tapdesk.ActRequestFiled, Category: tapdesk.CatRequest, Actor: agent,
		Details: map[string]string{"approvals_required": fmt.Sprint(r.ApprovalsRequired),
			"lifetime_minutes": fmt.Sprint(r.LifetimeMinutes), "usable_once": fmt.Sprint(r.UsableOnce)}}
	if err := db.FileRequest(context.Background(), r, ev, mail); err != nil {
		t.Fatal(err)
	}
}

func events(t *testing.T, db *store.DB, f store.EventFilter) []tapdesk.Event {
	t.Helper()
	evs, err := db.Events(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestRequestRoundTrip(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		ctx := context.Background()
		in := newRequest("r1", 1)
		fileRequest(t, db, in, store.Mail{Kind: "approval_request", To: "appr@x"})

		got, err := db.Request(ctx, "r1")
		if err != nil {
			t.Fatal(err)
		}
		if got.TargetUPN != in.TargetUPN || got.VerificationNote != in.VerificationNote || !got.UsableOnce ||
			got.LifetimeMinutes != 60 || got.State != tapdesk.StatePending || got.Requester != agent {
			t.Errorf("round trip changed the request: %+v", got)
		}
		if got.StartAt == nil || !got.StartAt.Equal(*in.StartAt) || !got.CreatedAt.Equal(t0) {
			t.Errorf("times changed: start %v created %v, want %v and %v", got.StartAt, got.CreatedAt, in.StartAt, t0)
		}
		if _, err := db.Request(ctx, "nope"); tapdesk.ErrorCode(err) != tapdesk.ENOTFOUND {
			t.Errorf("missing request: got %v, want ENOTFOUND", err)
		}
		evs := events(t, db, store.EventFilter{RequestID: "r1"})
		if len(evs) != 2 || evs[1].Activity != tapdesk.ActRequestFiled || evs[0].Activity != tapdesk.ActMailQueued {
			t.Fatalf("want filed + queued events, got %+v", evs)
		}
		if evs[1].CorrelationID != "corr-r1" || evs[1].TargetUPN != "target@x" {
			t.Errorf("event lacks request fields: %+v", evs[1])
		}
		list, err := db.Requests(ctx, store.RequestFilter{RequesterOID: "agent", States: []tapdesk.State{tapdesk.StatePending}})
		if err != nil || len(list) != 1 {
			t.Fatalf("list: %v %d", err, len(list))
		}
	})
}

func TestDecideNeedsDistinctApprovers(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		ctx := context.Background()
		r := newRequest("r2", 2)
		fileRequest(t, db, r)
		decide := func(a tapdesk.Actor, d tapdesk.Decision) (tapdesk.State, error) {
			ev := tapdesk.Event{Activity: tapdesk.ActApprove, Category: tapdesk.CatApproval, Actor: a}
			return db.Decide(ctx, r, tapdesk.Approval{RequestID: r.ID, Approver: a, Decision: d, CreatedAt: t0}, ev, nil)
		}
		st, err := decide(approver, tapdesk.DecisionApprove)
		if err != nil || st != tapdesk.StatePending {
			t.Fatalf("first approval: %v %v, want still pending", st, err)
		}
		if _, err := decide(approver, tapdesk.DecisionApprove); tapdesk.ErrorCode(err) != tapdesk.ECONFLICT {
			t.Fatalf("same approver twice: %v, want ECONFLICT", err)
		}
		st, err = decide(second, tapdesk.DecisionApprove)
		if err != nil || st != tapdesk.StateApproved {
			t.Fatalf("second approver: %v %v, want approved", st, err)
		}
		got, _ := db.Request(ctx, r.ID)
		if got.State != tapdesk.StateApproved || got.ApprovalCount() != 2 {
			t.Errorf("stored: %s with %d approvals", got.State, got.ApprovalCount())
		}
		fileRequest(t, db, newRequest("r2b", 1)) // one without approvals in the same list
		list, err := db.Requests(ctx, store.RequestFilter{WithApprovals: true})
		if err != nil || len(list) != 2 {
			t.Fatalf("list: %d %v", len(list), err)
		}
		for _, l := range list {
			if want := map[string]int{"r2": 2, "r2b": 0}[l.ID]; len(l.Approvals) != want || !l.DecidedBy(approver) == (want == 2) {
				t.Errorf("%s listed with %d approvals, want %d", l.ID, len(l.Approvals), want)
			}
		}
	})
}

func TestDenyEndsRequest(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		ctx := context.Background()
		r := newRequest("r3", 1)
		fileRequest(t, db, r)
		ev := tapdesk.Event{Activity: tapdesk.ActDeny, Category: tapdesk.CatApproval, Actor: approver}
		st, err := db.Decide(ctx, r, tapdesk.Approval{Approver: approver, Decision: tapdesk.DecisionDeny, Reason: "caller hung up", CreatedAt: t0}, ev,
			[]store.Mail{{Kind: "request_decided", To: "agent@x"}})
		if err != nil || st != tapdesk.StateDenied {
			t.Fatalf("deny: %v %v", st, err)
		}
		got, _ := db.Request(ctx, r.ID)
		if got.DecisionNote != "caller hung up" {
			t.Errorf("reason lost: %q", got.DecisionNote)
		}
		if _, err := db.Decide(ctx, r, tapdesk.Approval{Approver: second, Decision: tapdesk.DecisionApprove, CreatedAt: t0}, ev, nil); tapdesk.ErrorCode(err) != tapdesk.ECONFLICT {
			t.Errorf("decision after denial: %v, want ECONFLICT", err)
		}
	})
}

func TestTransitionIsConditional(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		ctx := context.Background()
		r := newRequest("r4", 1)
		fileRequest(t, db, r)
		ev := tapdesk.Event{Activity: tapdesk.ActRequestCancel, Category: tapdesk.CatRequest, Actor: agent}

		// Many concurrent cancels: exactly one wins, the rest get ECONFLICT and
		// write no event.
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, conflicts := 0, 0
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := db.Transition(ctx, r, store.Change{From: tapdesk.StatePending, To: tapdesk.StateCancelled, At: t0}, nil, ev)
				mu.Lock()
				defer mu.Unlock()
				switch tapdesk.ErrorCode(err) {
				case "":
					wins++
				case tapdesk.ECONFLICT:
					conflicts++
				default:
					t.Errorf("unexpected: %v", err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 || conflicts != 7 {
			t.Errorf("wins %d conflicts %d, want 1 and 7", wins, conflicts)
		}
		if n := len(events(t, db, store.EventFilter{RequestID: r.ID, Activity: string(tapdesk.ActRequestCancel)})); n != 1 {
			t.Errorf("%d cancel events, want 1", n)
		}
		if err := db.Transition(ctx, r, store.Change{From: tapdesk.StateCancelled, To: tapdesk.StateApproved}, nil, ev); err == nil {
			t.Error("a transition outside the state machine was allowed")
		}
	})
}

func TestIssueOnce(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		ctx := context.Background()
		r := newRequest("r5", 1)
		fileRequest(t, db, r)
		ev := tapdesk.Event{Activity: tapdesk.ActApprove, Category: tapdesk.CatApproval, Actor: approver}
		if _, err := db.Decide(ctx, r, tapdesk.Approval{Approver: approver, Decision: tapdesk.DecisionApprove, CreatedAt: t0}, ev, nil); err != nil {
			t.Fatal(err)
		}
		start := tapdesk.Event{Activity: tapdesk.ActIssueStart, Category: tapdesk.CatMethod, Actor: agent}
		if err := db.ClaimIssue(ctx, r, start); err != nil {
			t.Fatal(err)
		}
		if err := db.ClaimIssue(ctx, r, start); tapdesk.ErrorCode(err) != tapdesk.ECONFLICT {
			t.Fatalf("second claim: %v, want ECONFLICT", err)
		}
		if evs := events(t, db, store.EventFilter{Activity: string(tapdesk.ActIssueStart)}); len(evs) != 1 || evs[0].RequestID != r.ID || evs[0].CorrelationID != r.CorrelationID {
			t.Fatalf("the claim is audited once, with the request: %+v", evs)
		}
		tap := &tapdesk.TAPInfo{MethodID: "m-1", StartAt: t0, LifetimeMinutes: 60, UsableOnce: true}
		rev := tapdesk.Event{Activity: tapdesk.ActReveal, Category: tapdesk.CatMethod, Actor: agent}
		// A claimed request cannot be cancelled under the running issue.
		cancel := tapdesk.Event{Activity: tapdesk.ActRequestCancel, Category: tapdesk.CatRequest, Actor: agent}
		if err := db.Transition(ctx, r, store.Change{From: tapdesk.StateApproved, To: tapdesk.StateCancelled, Unclaimed: true}, nil, cancel); tapdesk.ErrorCode(err) != tapdesk.ECONFLICT {
			t.Fatalf("cancel during issue: %v, want ECONFLICT", err)
		}
		if err := db.Transition(ctx, r, store.Change{From: tapdesk.StateApproved, To: tapdesk.StateIssued, At: t0, TAP: tap, Revealed: true}, nil, rev); err != nil {
			t.Fatal(err)
		}
		got, _ := db.Request(ctx, r.ID)
		if got.State != tapdesk.StateIssued || got.TAPMethodID != "m-1" || got.RevealedAt == nil ||
			got.TAPExpiresAt == nil || !got.TAPExpiresAt.Equal(t0.Add(time.Hour)) {
			t.Errorf("issued request: %+v", got)
		}
		evs := events(t, db, store.EventFilter{Activity: string(tapdesk.ActReveal)})
		if len(evs) != 1 || evs[0].TAPMethodID != "m-1" {
			t.Errorf("reveal event: %+v", evs)
		}
	})
}

func TestLinks(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		ctx := context.Background()
		fileRequest(t, db, newRequest("r6", 1))
		if err := db.CreateLink(ctx, "secret-token", "r6", "appr@x", t0, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateLink(ctx, "old-token", "r6", "appr2@x", t0, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		// The approver signs in with their UPN; the link was mailed to it.
		avery := tapdesk.Principal{TenantID: "t", ObjectID: "appr", UPN: "Appr@X", Email: "avery@mail.x", Roles: []tapdesk.Role{tapdesk.RoleApprover}}
		blake := tapdesk.Principal{TenantID: "t", ObjectID: "appr2", UPN: "appr2@x", Email: "b@x", Roles: []tapdesk.Role{tapdesk.RoleApprover}}
		ev := tapdesk.Event{Activity: tapdesk.ActLinkOpened, Category: tapdesk.CatApproval, Actor: approver}

		t.Run("another approver does not spend it", func(t *testing.T) {
			id, err := db.UseLink(ctx, "secret-token", blake, nil, t0, ev)
			if !errors.Is(err, tapdesk.ErrLinkNotRecipient) || id != "r6" {
				t.Fatalf("opened by another approver: %q %v, want r6 and ErrLinkNotRecipient", id, err)
			}
		})
		t.Run("a stale sign-in does not spend it", func(t *testing.T) {
			stale := tapdesk.Errorf(tapdesk.EUNAUTHORIZED, "too old")
			id, err := db.UseLink(ctx, "secret-token", avery, stale, t0, ev)
			if err != stale || id != "r6" {
				t.Fatalf("stale sign-in: %q %v, want r6 and the stale error", id, err)
			}
		})
		var used int
		if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM approval_links WHERE used_at IS NOT NULL`).Scan(&used); err != nil || used != 0 {
			t.Fatalf("refused opens spent %d links (%v)", used, err)
		}
		if evs := events(t, db, store.EventFilter{Activity: string(tapdesk.ActLinkOpened)}); len(evs) != 0 {
			t.Errorf("refused opens wrote %d link-opened events", len(evs))
		}

		id, err := db.UseLink(ctx, "secret-token", avery, nil, t0, ev)
		if err != nil || id != "r6" {
			t.Fatalf("first use: %q %v", id, err)
		}
		var usedBy string
		if err := db.SQL().QueryRow(`SELECT used_by_oid FROM approval_links WHERE recipient = 'appr@x'`).Scan(&usedBy); err != nil || usedBy != "appr" {
			t.Errorf("spent by %q (%v), want appr", usedBy, err)
		}
		if _, err := db.UseLink(ctx, "secret-token", avery, nil, t0, ev); !errors.Is(err, tapdesk.ErrLinkUsed) {
			t.Errorf("reuse: %v", err)
		}
		if _, err := db.UseLink(ctx, "secret-tokeN", avery, nil, t0, ev); !errors.Is(err, tapdesk.ErrLinkUnknown) {
			t.Errorf("altered: %v", err)
		}
		if _, err := db.UseLink(ctx, "old-token", blake, nil, t0.Add(time.Minute), ev); !errors.Is(err, tapdesk.ErrLinkExpired) {
			t.Errorf("expired: %v", err)
		}
		// A new link for the same recipient retires the unused older one. The
		// recipient matches blake's email claim, whatever its case.
		if err := db.CreateLink(ctx, "first", "r6", "B@x", t0, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateLink(ctx, "second", "r6", "B@x", t0.Add(time.Second), t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.UseLink(ctx, "first", blake, nil, t0.Add(2*time.Second), ev); !errors.Is(err, tapdesk.ErrLinkExpired) {
			t.Errorf("superseded link: %v, want expired", err)
		}
		if _, err := db.UseLink(ctx, "second", blake, nil, t0.Add(2*time.Second), ev); err != nil {
			t.Errorf("newest link: %v", err)
		}
		// Only the hash is stored.
		var n int
		if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM approval_links WHERE token_hash LIKE '%secret%'`).Scan(&n); err != nil || n != 0 {
			t.Errorf("token stored in clear (%d rows, %v)", n, err)
		}
	})
}

// Another approver racing the recipient never spends the link: only the
// recipient wins, once.
func TestLinkRace(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		ctx := context.Background()
		fileRequest(t, db, newRequest("r8", 1))
		if err := db.CreateLink(ctx, "raced", "r8", "appr@x", t0, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		avery := tapdesk.Principal{TenantID: "t", ObjectID: "appr", UPN: "appr@x", Roles: []tapdesk.Role{tapdesk.RoleApprover}}
		blake := tapdesk.Principal{TenantID: "t", ObjectID: "appr2", UPN: "appr2@x", Roles: []tapdesk.Role{tapdesk.RoleApprover}}
		ev := tapdesk.Event{Activity: tapdesk.ActLinkOpened, Category: tapdesk.CatApproval, Actor: approver}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := map[string]int{}
		for i := 0; i < 12; i++ {
			p := []tapdesk.Principal{avery, blake}[i%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := db.UseLink(ctx, "raced", p, nil, t0, ev)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins[p.ObjectID]++
				case errors.Is(err, tapdesk.ErrLinkUsed), errors.Is(err, tapdesk.ErrLinkNotRecipient) && p.ObjectID == "appr2":
				default:
					t.Errorf("%s: %v", p.ObjectID, err)
				}
			}()
		}
		wg.Wait()
		if wins["appr"] != 1 || wins["appr2"] != 0 {
			t.Errorf("wins %v, want exactly one, by the recipient", wins)
		}
		if n := len(events(t, db, store.EventFilter{RequestID: "r8", Activity: string(tapdesk.ActLinkOpened)})); n != 1 {
			t.Errorf("%d link-opened events, want 1", n)
		}
	})
}

func TestOutbox(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		ctx := context.Background()
		fileRequest(t, db, newRequest("r7", 1), store.Mail{Kind: "approval_request", To: "a@x"}, store.Mail{Kind: "approval_request", To: "b@x"})

		items, err := db.DueMail(ctx, t0, 10)
		if err != nil || len(items) != 2 {
			t.Fatalf("due: %d %v", len(items), err)
		}
		if again, _ := db.DueMail(ctx, t0, 10); len(again) != 0 {
			t.Errorf("leased items handed out twice: %d", len(again))
		}
		if err := db.MarkMailSent(ctx, items[0].ID, t0); err != nil {
			t.Fatal(err)
		}
		retry := t0.Add(time.Minute)
		if err := db.MarkMailFailed(ctx, items[1].ID, t0, retry, "connection refused"); err != nil {
			t.Fatal(err)
		}
		if due, _ := db.DueMail(ctx, t0.Add(30*time.Second), 10); len(due) != 0 {
			t.Errorf("retried before its time: %d", len(due))
		}
		due, _ := db.DueMail(ctx, retry, 10)
		if len(due) != 1 || due[0].To != "b@x" || due[0].Attempts != 1 {
			t.Fatalf("retry: %+v", due)
		}
		if err := db.MarkMailFailed(ctx, due[0].ID, retry, time.Time{}, "gave up"); err != nil {
			t.Fatal(err)
		}
		pending, failed, err := db.OutboxCounts(ctx)
		if err != nil || pending != 0 || failed != 1 {
			t.Errorf("counts: pending %d failed %d %v", pending, failed, err)
		}
		if n := len(events(t, db, store.EventFilter{Activity: string(tapdesk.ActMailFailed)})); n != 2 {
			t.Errorf("%d mail failure events, want 2", n)
		}
		if evs := events(t, db, store.EventFilter{Activity: string(tapdesk.ActMailSent)}); len(evs) != 1 || evs[0].RequestID != "r7" {
			t.Errorf("sent event: %+v", evs)
		}
	})
}

func TestEventFilters(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		ctx := context.Background()
		for i, a := range []tapdesk.Actor{agent, approver, agent} {
			ev := tapdesk.Event{Time: t0.Add(time.Duration(i) * time.Minute), Activity: tapdesk.ActSignIn, Category: tapdesk.CatSignIn, Actor: a,
				Details: map[string]string{"n": string(rune('a' + i))}}
			if i == 2 {
				ev.Result, ev.Activity = tapdesk.ResultFailure, tapdesk.ActSignInRefused
			}
			if err := db.AppendEvent(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(events(t, db, store.EventFilter{Actor: "agent@x"})); n != 2 {
			t.Errorf("actor filter: %d", n)
		}
		if n := len(events(t, db, store.EventFilter{Result: "failure"})); n != 1 {
			t.Errorf("result filter: %d", n)
		}
		if n := len(events(t, db, store.EventFilter{From: t0.Add(time.Minute), To: t0.Add(2 * time.Minute)})); n != 1 {
			t.Errorf("time filter: %d", n)
		}
		evs := events(t, db, store.EventFilter{Limit: 1})
		if len(evs) != 1 || evs[0].Details["n"] != "c" || !evs[0].Time.Equal(t0.Add(2*time.Minute)) {
			t.Errorf("newest first with details and exact time: %+v", evs)
		}
	})
}

func TestRefusesNewerSchema(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, path := openDB(t)
		db.Close()
		driver := "sqlite"
		if pgtest.OnPostgres(t) {
			driver = "pgx"
		}
		raw, err := sql.Open(driver, path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (9999, TRUE)`); err != nil {
			t.Fatal(err)
		}
		raw.Close()
		_, err = store.Open(context.Background(), path)
		if err == nil || !strings.Contains(err.Error(), "newer tapdesk") {
			t.Fatalf("opened a database from the future: %v", err)
		}
	})
}

func TestReopenKeepsData(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, path := openDB(t)
		fileRequest(t, db, newRequest("r8", 1))
		db.Close()
		db2, err := store.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		defer db2.Close()
		if _, err := db2.Request(context.Background(), "r8"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestAppendBoundsEvents: every append, the batched one included, bounds
// the event before signing it, so what is stored is small and verifies.
func TestAppendBoundsEvents(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		ctx := context.Background()
		huge := strings.Repeat("A", 900<<10)
		details := map[string]string{"path": huge}
		for i := range 100 {
			details[fmt.Sprintf("k%03d", i)] = "v"
		}
		details["k000"] = huge
		ev := tapdesk.Event{Time: t0, Activity: tapdesk.ActAccessRefused, Category: tapdesk.CatAccess, Result: tapdesk.ResultFailure,
			Reason: huge, ActorIP: huge, ActorAgent: huge, Details: details}
		if err := db.AppendEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
		if err := db.AppendEvents(ctx, 2, 1, func(int) tapdesk.Event { return ev }); err != nil {
			t.Fatal(err)
		}
		evs := events(t, db, store.EventFilter{})
		if len(evs) != 3 {
			t.Fatalf("%d events", len(evs))
		}
		for _, got := range evs {
			if got.ActorAgent != tapdesk.BoundText(huge, tapdesk.MaxEventAgentChars) || got.Reason != tapdesk.BoundText(huge, tapdesk.MaxEventReasonChars) ||
				len(got.Details) != tapdesk.MaxEventDetails || got.Details["k000"] != tapdesk.BoundText(huge, tapdesk.MaxEventDetailValueChars) ||
				got.Details[tapdesk.EventDetailsLeftOut] == "" {
				t.Errorf("event %d not bounded: agent %v, reason %v, %d details, first detail %d bytes", got.Seq, got.ActorAgent == tapdesk.BoundText(huge, tapdesk.MaxEventAgentChars),
					got.Reason == tapdesk.BoundText(huge, tapdesk.MaxEventReasonChars), len(got.Details), len(got.Details["k000"]))
			}
		}
		if len(ev.Details) != 101 || ev.Details["path"] != huge {
			t.Error("the caller's details were changed")
		}
		rep, err := db.VerifyChain(ctx)
		if err != nil || rep.Break != nil || rep.Checked != 3 {
			t.Fatalf("verify: %v %+v", err, rep)
		}
	})
}

// A summary list carries every field a request list shows and
// tapdesk.CheckDecide reads, equal to the full read's, with the approvals.
func TestRequestSummaries(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		ctx := context.Background()
		r := newRequest("rs1", 2)
		fileRequest(t, db, r)
		ev := tapdesk.Event{Activity: tapdesk.ActApprove, Category: tapdesk.CatApproval, Actor: approver}
		if _, err := db.Decide(ctx, r, tapdesk.Approval{RequestID: r.ID, Approver: approver, Decision: tapdesk.DecisionApprove, CreatedAt: t0}, ev, nil); err != nil {
			t.Fatal(err)
		}
		full, err := db.Request(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		list, err := db.Requests(ctx, store.RequestFilter{States: []tapdesk.State{tapdesk.StatePending}, WithApprovals: true, Summary: true})
		if err != nil || len(list) != 1 {
			t.Fatalf("summary list: %d %v", len(list), err)
		}
		s := list[0]
		if s.ID != full.ID || s.State != full.State || s.TargetID != full.TargetID || s.TargetUPN != full.TargetUPN ||
			s.TargetName != full.TargetName || s.TicketRef != full.TicketRef || s.Requester.TenantID != full.Requester.TenantID ||
			s.Requester.ObjectID != full.Requester.ObjectID || s.Requester.Name != full.Requester.Name ||
			!s.CreatedAt.Equal(full.CreatedAt) || !s.ExpiresAt.Equal(full.ExpiresAt) || len(s.Approvals) != 1 {
			t.Errorf("summary %+v differs from the full read %+v", s, full)
		}
		for _, a := range []tapdesk.Actor{second, approver, agent} {
			who := tapdesk.Principal{TenantID: a.TenantID, ObjectID: a.ObjectID, Roles: []tapdesk.Role{tapdesk.RoleApprover}}
			if a, b := tapdesk.CheckDecide(s, who, t0), tapdesk.CheckDecide(full, who, t0); tapdesk.ErrorCode(a) != tapdesk.ErrorCode(b) {
				t.Errorf("CheckDecide for %s: summary %v, full %v", who.ObjectID, a, b)
			}
		}
	})
}

// Two processes starting on one new SQLite file migrate it in turns: the
// second finds nothing left to do instead of applying version 1 again.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	for round := range 5 {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("tapdesk-%d.db", round))
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db, err := store.Open(context.Background(), path)
				if err == nil {
					db.Close()
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, opener %d: %v", round, i, err)
			}
		}
	}
}
