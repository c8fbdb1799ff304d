package mail

import (
	"context"
	"fmt"
	"strings"

	"github.com/tapdesk/tapdesk"
)

// KindSecurityAlert is an alert's mail to the security addresses
// (TAPDESK_SECURITY_EMAILS): the outbox row names no request, the store's
// alert_mail row names the alert.
const KindSecurityAlert = "security_alert"

// AlertStore is what composing alert mail needs from the database.
type AlertStore interface {
	// MailedAlert is the alert outbox item id mails (ENOTFOUND: none).
	MailedAlert(ctx context.Context, outboxID int64) (tapdesk.Alert, error)
}

// AlertComposer writes alert mail and hands every other kind to Next.
type AlertComposer struct {
	Store   AlertStore
	BaseURL string // public URL of the portal, no trailing slash
	Next    Composer
}

// Compose implements Composer.
func (c *AlertComposer) Compose(ctx context.Context, it Item) (Message, error) {
	if it.Kind != KindSecurityAlert {
		return c.Next.Compose(ctx, it)
	}
	a, err := c.Store.MailedAlert(ctx, it.ID)
	if tapdesk.ErrorCode(err) == tapdesk.ENOTFOUND {
		return Message{}, fmt.Errorf("outbox item %d: %w", it.ID, ErrPermanent)
	}
	if err != nil {
		return Message{}, err
	}
	return alertMessage(it, a, strings.TrimRight(c.BaseURL, "/")), nil
}

// ComposeBatch implements BatchComposer: alert mail is composed here one
// by one, the rest of the batch goes to Next in one piece when it composes
// batches (each request read once, the links stored in one write).
func (c *AlertComposer) ComposeBatch(ctx context.Context, items []Item) ([]Message, []error) {
	ms, errs := make([]Message, len(items)), make([]error, len(items))
	var rest []Item
	var at []int
	for i, it := range items {
		if it.Kind == KindSecurityAlert {
			ms[i], errs[i] = c.Compose(ctx, it)
			continue
		}
		rest, at = append(rest, it), append(at, i)
	}
	if len(rest) == 0 {
		return ms, errs
	}
	bc, ok := c.Next.(BatchComposer)
	if !ok {
		for j, it := range rest {
			ms[at[j]], errs[at[j]] = c.Next.Compose(ctx, it)
		}
		return ms, errs
	}
	rms, rerrs := bc.ComposeBatch(ctx, rest)
	for j := range rest {
		ms[at[j]], errs[at[j]] = rms[j], rerrs[j]
	}
	return ms, errs
}

var _ BatchComposer = (*AlertComposer)(nil)

// alertMessage says what happened, about whom, when, and where the
// evidence is in tapdesk. It holds what the audit trail holds, never a
// pass (no event does).
func alertMessage(it Item, a tapdesk.Alert, base string) Message {
	subject := tapdesk.StripBidiControls(a.Subject)
	var b strings.Builder
	fmt.Fprintf(&b, "tapdesk raised an alert: %s.\n\n", a.Rule.Title())
	fmt.Fprintf(&b, "What happened: %s\n\n", oneLine(tapdesk.StripBidiControls(a.Summary)))
	fmt.Fprintf(&b, "Who or what:   %s\n", subject)
	fmt.Fprintf(&b, "When:          %s\n", a.At.UTC().Format("2006-01-02 15:04:05 UTC"))
	fmt.Fprintf(&b, "Raised:        %s\n", a.RaisedAt.UTC().Format("2006-01-02 15:04:05 UTC"))
	if a.RequestID != "" {
		fmt.Fprintf(&b, "Request:       %s\n", a.RequestID)
	}
	fmt.Fprintf(&b, "\nThe evidence in tapdesk (sign in as an auditor):\n%s%s\n\n", base, a.Evidence)
	fmt.Fprintf(&b, "All alerts:\n%s/alerts\n\n", base)
	b.WriteString("Check with the people named on a known number before acting; do not reply to this mail.\n")
	return Message{To: []string{it.To}, Subject: fmt.Sprintf("tapdesk alert: %s (%s)", a.Rule.Title(), subject), Text: b.String()}
}
