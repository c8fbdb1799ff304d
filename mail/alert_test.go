package mail

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
)

type alertStore map[int64]tapdesk.Alert

func (s alertStore) MailedAlert(_ context.Context, id int64) (tapdesk.Alert, error) {
	a, ok := s[id]
	if !ok {
		return a, tapdesk.Errorf(tapdesk.ENOTFOUND, "none")
	}
	return a, nil
}

type otherKinds struct{ got []string }

func (o *otherKinds) Compose(_ context.Context, it Item) (Message, error) {
	o.got = append(o.got, it.Kind)
	return Message{Subject: "other"}, nil
}

func TestAlertComposer(t *testing.T) {
	at := time.Date(2026, 11, 28, 23, 10, 0, 0, time.UTC)
	store := alertStore{7: {ID: 3, Rule: tapdesk.AlertOutsidePass, Subject: "nina@contoso.example\u202e",
		Summary: "A Temporary Access Pass for nina@contoso.example was created outside tapdesk by eve@contoso.example.",
		At:      at, RaisedAt: at.Add(time.Minute), Evidence: "/audit?before=42"}}
	next := &otherKinds{}
	c := &AlertComposer{Store: store, BaseURL: "https://tapdesk.contoso.example/", Next: next}

	m, err := c.Compose(context.Background(), Item{ID: 7, Kind: KindSecurityAlert, To: "security@contoso.example"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "tapdesk alert: Pass made outside tapdesk (nina@contoso.example)" {
		t.Errorf("subject %q", m.Subject)
	}
	for _, want := range []string{"created outside tapdesk by eve@contoso.example", "2026-11-28 23:10:00 UTC",
		"https://tapdesk.contoso.example/audit?before=42", "https://tapdesk.contoso.example/alerts"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("body lacks %q:\n%s", want, m.Text)
		}
	}
	if strings.ContainsRune(m.Text+m.Subject, '\u202e') {
		t.Error("a bidi control reached the mail")
	}
	if len(m.To) != 1 || m.To[0] != "security@contoso.example" {
		t.Errorf("to %v", m.To)
	}
	if _, err := c.Compose(context.Background(), Item{ID: 8, Kind: KindSecurityAlert}); !errors.Is(err, ErrPermanent) {
		t.Errorf("an outbox row naming no alert: %v, want a permanent failure", err)
	}
	if m, err := c.Compose(context.Background(), Item{ID: 9, Kind: KindApprovalRequest}); err != nil || m.Subject != "other" || len(next.got) != 1 {
		t.Errorf("other kinds are not handed on: %+v %v %v", m, err, next.got)
	}
}

// batchKinds composes batches, so the worker's one-read-per-request path
// stays in use behind the alert composer.
type batchKinds struct {
	otherKinds
	batches [][]int64
}

func (b *batchKinds) ComposeBatch(_ context.Context, items []Item) ([]Message, []error) {
	var ids []int64
	ms := make([]Message, len(items))
	for i, it := range items {
		ids = append(ids, it.ID)
		ms[i] = Message{Subject: "batched " + it.Kind}
	}
	b.batches = append(b.batches, ids)
	return ms, make([]error, len(items))
}

func TestAlertComposerKeepsBatches(t *testing.T) {
	at := time.Date(2026, 11, 28, 23, 10, 0, 0, time.UTC)
	store := alertStore{2: {ID: 1, Rule: tapdesk.AlertDispute, Subject: "nina@contoso.example", At: at, RaisedAt: at}}
	next := &batchKinds{}
	c := &AlertComposer{Store: store, BaseURL: "https://tapdesk.example", Next: next}
	items := []Item{{ID: 1, Kind: KindApprovalRequest}, {ID: 2, Kind: KindSecurityAlert, To: "sec@example"},
		{ID: 3, Kind: KindApprovalRequest}, {ID: 4, Kind: KindSecurityAlert}}
	ms, errs := c.ComposeBatch(context.Background(), items)
	if len(next.batches) != 1 || len(next.batches[0]) != 2 || next.batches[0][0] != 1 || next.batches[0][1] != 3 {
		t.Fatalf("the other kinds were not handed on as one batch: %v (single: %v)", next.batches, next.got)
	}
	if ms[0].Subject != "batched "+KindApprovalRequest || ms[2].Subject != "batched "+KindApprovalRequest || errs[0] != nil || errs[2] != nil {
		t.Errorf("batched messages out of place: %+v %v", ms, errs)
	}
	if errs[1] != nil || !strings.HasPrefix(ms[1].Subject, "tapdesk alert: ") {
		t.Errorf("alert mail: %+v %v", ms[1], errs[1])
	}
	if !errors.Is(errs[3], ErrPermanent) {
		t.Errorf("an alert row naming no alert: %v, want a permanent failure", errs[3])
	}
}
