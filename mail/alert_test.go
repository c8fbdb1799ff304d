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
