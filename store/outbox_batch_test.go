package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"github.com/tapdesk/tapdesk/mail"
	"github.com/tapdesk/tapdesk/store"
)

// A batch recorded as sent in one transaction leaves the same trail as the
// same mail recorded one by one: each row sent, one "mail sent" event per
// message, in the order given, naming the request, its target and the
// outbox row, and the chain still verifies.
func TestMarkMailsSentRecordsLikeOneByOne(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openDB(t)
		r1, r2 := newRequest("mb1", 1), newRequest("mb2", 1)
		fileRequest(t, db, r1, store.Mail{Kind: mail.KindApprovalRequest, To: "a@x"}, store.Mail{Kind: mail.KindPassRequested, To: "t@x"})
		fileRequest(t, db, r2, store.Mail{Kind: mail.KindApprovalRequest, To: "b@x"})
		now := t0.Add(time.Minute)
		items, err := db.DueMail(ctx, now, 10)
		if err != nil || len(items) != 3 {
			t.Fatalf("due mail: %d, %v", len(items), err)
		}
		if err := db.MarkMailSent(ctx, items[0].ID, now); err != nil {
			t.Fatal(err)
		}
		// Out of id order: the events follow the order given.
		if err := db.MarkMailsSent(ctx, []int64{items[2].ID, items[1].ID}, now); err != nil {
			t.Fatal(err)
		}
		if pending, failed, err := db.OutboxCounts(ctx); err != nil || pending != 0 || failed != 0 {
			t.Fatalf("outbox after: %d pending, %d failed, %v", pending, failed, err)
		}
		evs, err := db.Events(ctx, store.EventFilter{Activity: string(tapdesk.ActMailSent)})
		if err != nil || len(evs) != 3 {
			t.Fatalf("mail sent events: %d, %v", len(evs), err)
		}
		// Newest first: items[1], items[2], items[0].
		for i, it := range []mail.Item{items[1], items[2], items[0]} {
			ev := evs[i]
			r := r1
			if it.RequestID == r2.ID {
				r = r2
			}
			if ev.RequestID != r.ID || ev.CorrelationID != r.CorrelationID || ev.TargetID != r.TargetID || ev.TargetUPN != r.TargetUPN ||
				ev.Result != tapdesk.ResultSuccess || ev.Details["kind"] != it.Kind || ev.Details["to"] != it.To ||
				ev.Details["outbox_id"] != fmt.Sprint(it.ID) || !ev.Time.Equal(now) {
				t.Errorf("event %d: %+v, want the mail sent of outbox row %+v", i, ev, it)
			}
		}
		if rep, err := db.VerifyChain(ctx); err != nil || rep.Break != nil {
			t.Fatalf("verify: %v %+v", err, rep)
		}
		// A row that is not there takes the whole batch back.
		if err := db.MarkMailsSent(ctx, []int64{items[0].ID, 999999}, now); err == nil {
			t.Error("a batch naming a missing row was recorded")
		}
	})
}

// The links of a batch are stored in one transaction, each as CreateLink
// or CreateDisputeLink stores it: an approval link retires the earlier
// unused one of the same recipient, dispute links live side by side.
func TestCreateLinks(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openDB(t)
		r := newRequest("cl1", 1)
		fileRequest(t, db, r)
		now := t0.Add(time.Minute)
		exp := now.Add(time.Hour)
		if err := db.CreateLink(ctx, "old-approval", r.ID, "a@x", now, exp); err != nil {
			t.Fatal(err)
		}
		later := now.Add(time.Second)
		if err := db.CreateLinks(ctx, []mail.Link{
			{Token: "new-approval", RequestID: r.ID, Recipient: "a@x", CreatedAt: later, ExpiresAt: exp},
			{Token: "other-approval", RequestID: r.ID, Recipient: "b@x", CreatedAt: later, ExpiresAt: exp},
			{Dispute: true, Token: "dispute-1", RequestID: r.ID, Recipient: "t@x", CreatedAt: later, ExpiresAt: exp},
			{Dispute: true, Token: "dispute-2", RequestID: r.ID, Recipient: "m@x", CreatedAt: later, ExpiresAt: exp},
		}); err != nil {
			t.Fatal(err)
		}
		if l, err := db.Link(ctx, "old-approval"); err != nil || l.ExpiresAt.After(later) {
			t.Errorf("the earlier link of a@x: %+v, %v; want it retired", l, err)
		}
		for _, tok := range []string{"new-approval", "other-approval"} {
			if l, err := db.Link(ctx, tok); err != nil || !l.ExpiresAt.Equal(exp) || l.RequestID != r.ID {
				t.Errorf("link %s: %+v, %v", tok, l, err)
			}
		}
		for _, tok := range []string{"dispute-1", "dispute-2"} {
			if _, l, err := db.DisputeLink(ctx, tok, later); err != nil || l.RequestID != r.ID {
				t.Errorf("dispute link %s: %+v, %v", tok, l, err)
			}
		}
		if _, err := db.Link(ctx, "missing"); !errors.Is(err, tapdesk.ErrLinkUnknown) {
			t.Errorf("unknown token: %v", err)
		}
	})
}
