package entra

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	netmail "net/mail"
	"strings"

	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/mail"
)

// sendMail sends m from the mailbox from (a UPN, address or object id)
// through POST /users/{from}/sendMail, without keeping a copy in the
// mailbox's Sent Items. It needs the Mail.Send application permission,
// which an Exchange application access policy can narrow to that mailbox.
//
// Errors never contain the body: approval mails carry link tokens. A
// refusal that resending cannot cure (a recipient or message Graph
// rejects) wraps mail.ErrPermanent. A missing permission or an unknown
// sender mailbox does not: they are the operator's to fix, and the outbox
// keeps the mail until then.
func (c *Client) sendMail(ctx context.Context, from string, m mail.Message) error {
	ctx = withExchange(ctx)
	if err := requireID("sender mailbox", from); err != nil {
		return err
	}
	if len(m.To) == 0 {
		return fmt.Errorf("entra: send mail: no recipient: %w", mail.ErrPermanent)
	}
	if m.Text == "" && m.HTML == "" {
		return fmt.Errorf("entra: send mail: no body: %w", mail.ErrPermanent)
	}
	msg := models.NewMessage()
	subject := m.Subject
	msg.SetSubject(&subject)
	// Graph takes one body. The HTML part, when there is one, is the richer
	// alternative; the text part stands in otherwise.
	body := models.NewItemBody()
	content, kind := m.Text, models.TEXT_BODYTYPE
	if m.HTML != "" {
		content, kind = m.HTML, models.HTML_BODYTYPE
	}
	body.SetContent(&content)
	body.SetContentType(&kind)
	msg.SetBody(body)
	var to []models.Recipientable
	for _, addr := range m.To {
		a, err := netmail.ParseAddress(addr)
		if err != nil {
			return fmt.Errorf("entra: send mail: recipient is not an address: %w", mail.ErrPermanent)
		}
		ea := models.NewEmailAddress()
		ea.SetAddress(&a.Address)
		if a.Name != "" {
			ea.SetName(&a.Name)
		}
		r := models.NewRecipient()
		r.SetEmailAddress(ea)
		to = append(to, r)
	}
	msg.SetToRecipients(to)
	req := users.NewItemSendMailPostRequestBody()
	req.SetMessage(msg)
	save := false
	req.SetSaveToSentItems(&save)

	err := c.graph.Users().ByUserId(from).SendMail().Post(ctx, req, nil)
	if err == nil {
		return nil
	}
	failure := graphError(ctx, "send mail", err)
	var ge *tapdesk.GraphError
	if !errors.As(failure, &ge) {
		return failure
	}
	switch {
	case ge.Kind == tapdesk.GraphForbidden:
		return fmt.Errorf("entra: Graph refused to send mail as %s: the app registration needs the Mail.Send application permission (and, if an application access policy limits it, access to that mailbox): %w", from, ge)
	case ge.Kind == tapdesk.GraphNotFound:
		return fmt.Errorf("entra: Graph knows no mailbox %s to send mail from: set TAPDESK_MAIL_FROM to a user or shared mailbox of the tenant: %w", from, ge)
	case ge.Status == http.StatusBadRequest:
		return fmt.Errorf("entra: Graph rejected the message (a recipient or the message itself): %w: %w", mail.ErrPermanent, ge)
	}
	return fmt.Errorf("entra: send mail: %w", ge)
}

// MailSender delivers tapdesk's mail through Graph's sendMail instead of
// SMTP; it satisfies mail.Sender.
type MailSender struct {
	client *Client
	from   string
}

var _ mail.Sender = (*MailSender)(nil)

// MailSender returns a sender that sends as from ("tapdesk@contoso.com" or
// "tapdesk <tapdesk@contoso.com>"; the display name is the mailbox's own).
func (c *Client) MailSender(from string) (*MailSender, error) {
	addr := strings.TrimSpace(from)
	if addr == "" {
		return nil, errors.New("entra: mail sender: no sender mailbox")
	}
	if a, err := netmail.ParseAddress(addr); err == nil {
		addr = a.Address
	} else if strings.ContainsAny(addr, " <>\"") {
		return nil, fmt.Errorf("entra: mail sender %q is not an address or a mailbox's UPN", from)
	}
	return &MailSender{client: c, from: addr}, nil
}

// Send implements mail.Sender.
func (s *MailSender) Send(ctx context.Context, m mail.Message) error {
	return s.client.sendMail(ctx, s.from, m)
}
