package store

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/mail"
)

// The mail worker's writes for one batch are a fixed few, whatever its
// size: the claim, the links its mails carry and the record of what went
// out. A filed request's five mails (three approvers, the target and the
// manager) took eleven before (a claim, five links, five records), each a
// turn at SQLite's one writer that a page's write could queue behind.
func TestMailBatchWrites(t *testing.T) {
	ctx := context.Background()
	db := keyedTestDB(t)
	if db.writeTurn == nil {
		t.Skip("writes are counted on SQLite's write turn")
	}
	now := time.Now().UTC()
	start := now.Add(time.Hour)
	r := &tapdesk.Request{ID: "01JBATCHWRITES000000000000", CorrelationID: "corr", State: tapdesk.StatePending,
		Requester: tapdesk.Actor{TenantID: "t", ObjectID: "agent", UPN: "agent@x", Name: "Agent"},
		TargetID:  "target", TargetUPN: "target@x", TargetName: "Target Person", TicketRef: "INC-1",
		Justification: "locked out", VerificationMethod: tapdesk.VerifyCallback, VerificationNote: "called",
		LifetimeMinutes: 60, UsableOnce: true, StartAt: &start, ApprovalsRequired: 1,
		CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	ev := tapdesk.Event{Time: now, Activity: tapdesk.ActRequestFiled, Category: tapdesk.CatRequest, Actor: r.Requester}
	mails := []Mail{{Kind: mail.KindApprovalRequest, To: "a1@x"}, {Kind: mail.KindApprovalRequest, To: "a2@x"},
		{Kind: mail.KindApprovalRequest, To: "a3@x"}, {Kind: mail.KindPassRequested, To: "target@x"},
		{Kind: mail.KindPassRequested, To: "boss@x"}}
	if err := db.FileRequest(ctx, r, ev, mails); err != nil {
		t.Fatal(err)
	}

	capture, err := mail.StartCapture()
	if err != nil {
		t.Fatal(err)
	}
	defer capture.Close()
	sender, err := mail.NewSMTPSender(mail.SMTPConfig{Host: capture.Host(), Port: capture.Port(), TLS: mail.TLSNone,
		From: "tapdesk@x.example", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	composer := &mail.RequestComposer{Store: db, BaseURL: "https://tapdesk.example"}
	w := mail.NewWorker(db, composer, sender, mail.WorkerOptions{Logger: slog.New(slog.DiscardHandler)})

	before := db.writes.Load()
	sent, failed, err := w.RunOnce(ctx)
	if err != nil || sent != 5 || failed != 0 {
		t.Fatalf("RunOnce = %d sent, %d failed, %v", sent, failed, err)
	}
	if n := db.writes.Load() - before; n != 3 {
		t.Errorf("a batch of five mails took %d writes, want 3 (claim, links, record)", n)
	}
	if pending, _, err := db.OutboxCounts(ctx); err != nil || pending != 0 {
		t.Errorf("outbox after: %d pending, %v", pending, err)
	}
	if msgs, err := capture.Wait(ctx, 5); err != nil || len(msgs) != 5 {
		t.Errorf("captured %d, %v", len(msgs), err)
	}
}
