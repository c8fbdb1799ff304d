package mail

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"github.com/tapdesk/tapdesk"
)

// Outbox kinds the RequestComposer knows.
const (
	KindApprovalRequest = "approval_request"
	KindRequestDecided  = "request_decided"
	// KindApprovalReminder is an escalation: the approval request again,
	// with a fresh link, marked as a reminder.
	KindApprovalReminder = "approval_reminder"
	// The people concerned are told (notice.go): the target and their
	// manager when a pass is requested and when it is issued, and the
	// agent, approvers and security when one of them disputes it.
	KindPassRequested = "pass_requested"
	KindPassIssued    = "pass_issued"
	KindDisputeAlert  = "dispute_alert"
)

// RequestStore is what composing request mail needs from the database.
type RequestStore interface {
	Request(ctx context.Context, id string) (*tapdesk.Request, error)
	CreateLink(ctx context.Context, token, requestID, recipient string, now, expires time.Time) error
	CreateDisputeLink(ctx context.Context, token, requestID, recipient string, now, expires time.Time) error
}

// RequestComposer writes tapdesk's request emails. Approval links are
// minted here, at send time, so the token exists only in the sent mail and
// as a hash in the database: never in the outbox.
type RequestComposer struct {
	Store   RequestStore
	BaseURL string        // public URL of the portal, no trailing slash
	LinkTTL time.Duration // how long an approval link works
	Now     tapdesk.Clock
}

// Link is a link token minted for a mail, to store (as its hash) before
// the mail goes out: an approval link, or with Dispute a "This wasn't me"
// link.
type Link struct {
	Dispute                     bool
	Token, RequestID, Recipient string
	CreatedAt, ExpiresAt        time.Time
}

// LinkBatchStore is a RequestStore that stores several links in one write
// (RequestComposer.ComposeBatch uses it).
type LinkBatchStore interface {
	CreateLinks(ctx context.Context, links []Link) error
}

// Compose implements Composer.
func (c *RequestComposer) Compose(ctx context.Context, it Item) (Message, error) {
	r, err := c.request(ctx, it)
	if err != nil {
		return Message{}, err
	}
	return c.compose(it, r, c.storeLinkNow(ctx))
}

// storeLinkNow stores each link as the message is composed.
func (c *RequestComposer) storeLinkNow(ctx context.Context) func(Link) error {
	return func(l Link) error {
		if l.Dispute {
			return c.Store.CreateDisputeLink(ctx, l.Token, l.RequestID, l.Recipient, l.CreatedAt, l.ExpiresAt)
		}
		return c.Store.CreateLink(ctx, l.Token, l.RequestID, l.Recipient, l.CreatedAt, l.ExpiresAt)
	}
}

var _ BatchComposer = (*RequestComposer)(nil)

// ComposeBatch implements BatchComposer: each request of the batch is read
// once (a file queues five mails about one request), and, when the store
// can, the batch's links are stored in one write. A message whose link
// could not be stored gets that error: it is not sent.
func (c *RequestComposer) ComposeBatch(ctx context.Context, items []Item) ([]Message, []error) {
	msgs, errs := make([]Message, len(items)), make([]error, len(items))
	type read struct {
		r   *tapdesk.Request
		err error
	}
	reads := map[string]read{}
	batch, _ := c.Store.(LinkBatchStore)
	var links []Link
	var linkOf []int // the item of each link
	for i, it := range items {
		if err := ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		rd, ok := reads[it.RequestID]
		if !ok {
			rd.r, rd.err = c.request(ctx, it)
			reads[it.RequestID] = rd
		}
		if rd.err != nil {
			errs[i] = rd.err
			continue
		}
		if batch == nil {
			msgs[i], errs[i] = c.compose(it, rd.r, c.storeLinkNow(ctx))
			continue
		}
		msgs[i], errs[i] = c.compose(it, rd.r, func(l Link) error {
			links = append(links, l)
			linkOf = append(linkOf, i)
			return nil
		})
	}
	if len(links) > 0 {
		if err := batch.CreateLinks(ctx, links); err != nil {
			for _, i := range linkOf {
				msgs[i], errs[i] = Message{}, err
			}
		}
	}
	return msgs, errs
}

// request reads it's request; one that is gone is a permanent failure.
func (c *RequestComposer) request(ctx context.Context, it Item) (*tapdesk.Request, error) {
	r, err := c.Store.Request(ctx, it.RequestID)
	if tapdesk.ErrorCode(err) == tapdesk.ENOTFOUND {
		return nil, fmt.Errorf("request %s does not exist: %w", it.RequestID, ErrPermanent)
	}
	if err != nil {
		return nil, fmt.Errorf("load request %s: %w", it.RequestID, err)
	}
	return r, nil
}

// compose writes it's message about r; storeLink stores a link the
// message carries before it may go out.
func (c *RequestComposer) compose(it Item, r *tapdesk.Request, storeLink func(Link) error) (Message, error) {
	base := strings.TrimRight(c.BaseURL, "/")
	switch it.Kind {
	case KindApprovalRequest:
		return c.approvalRequest(it, r, base, storeLink)
	case KindApprovalReminder:
		m, err := c.approvalRequest(it, r, base, storeLink)
		if err == nil && r.State == tapdesk.StatePending {
			m.Subject = "Reminder: " + m.Subject
			m.Text = "No one has decided this request yet, and half its time is gone. The link below replaces the one in the first mail.\n\n" + m.Text
		}
		return m, err
	case KindRequestDecided:
		return decided(it, r, base), nil
	case KindPassRequested, KindPassIssued:
		return c.notice(it, r, base, storeLink)
	case KindDisputeAlert:
		return disputeAlert(it, r, base), nil
	}
	return Message{}, fmt.Errorf("unknown mail kind %q: %w", it.Kind, ErrPermanent)
}

func (c *RequestComposer) approvalRequest(it Item, r *tapdesk.Request, base string, storeLink func(Link) error) (Message, error) {
	var b strings.Builder
	// Mail gets forwarded: it says only who asked, for whom, the ticket, how
	// the caller was verified (the method, not the note) and the link with
	// its expiry. The justification and the note are on the request page,
	// after sign-in. Directory names are isolated (tapdesk.IsolateName).
	target := tapdesk.StripBidiControls(r.TargetName)
	subject := fmt.Sprintf("Approval needed: Temporary Access Pass for %s (%s)", target, r.TicketRef)
	fmt.Fprintf(&b, "%s asks for a Temporary Access Pass for %s (%s).\n\n",
		tapdesk.IsolateName(r.Requester.Name), tapdesk.IsolateName(r.TargetName), r.TargetUPN)
	fmt.Fprintf(&b, "Ticket:            %s\n", r.TicketRef)
	fmt.Fprintf(&b, "Caller verified:   %s\n\n", tapdesk.VerificationLabel(r.VerificationMethod))
	if r.ApprovalsRequired > 1 {
		// Say why, so the first approver knows a second one must follow.
		fmt.Fprintf(&b, "Needs two approvers: %s %s.\n\n", tapdesk.IsolateName(r.TargetName), cmp.Or(r.PrivilegeReason, "is privileged"))
	}
	if r.State != tapdesk.StatePending {
		subject = fmt.Sprintf("No longer needed: Temporary Access Pass for %s (%s)", target, r.TicketRef)
		fmt.Fprintf(&b, "This request is now %s; nothing is left to decide.\n", r.State)
		return Message{To: []string{it.To}, Subject: subject, Text: b.String()}, nil
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	token, err := newToken()
	if err != nil {
		return Message{}, err
	}
	ttl := c.LinkTTL
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	expires := now().Add(ttl)
	if r.ExpiresAt.Before(expires) {
		expires = r.ExpiresAt
	}
	if err := storeLink(Link{Token: token, RequestID: r.ID, Recipient: it.To, CreatedAt: now(), ExpiresAt: expires}); err != nil {
		return Message{}, err
	}
	b.WriteString("The justification and the agent's note on the caller check are on the request page, after you sign in.\n\n")
	fmt.Fprintf(&b, "Review and decide:\n%s/approve/%s\n\n", base, token)
	fmt.Fprintf(&b, "The link works once, until %s, and only for you, after you sign in to tapdesk as an approver.\n", expires.UTC().Format("2006-01-02 15:04 UTC"))
	b.WriteString("If you did not expect this, do not approve: call the requesting agent back on a known number.\n")
	return Message{To: []string{it.To}, Subject: subject, Text: b.String()}, nil
}

func decided(it Item, r *tapdesk.Request, base string) Message {
	var b strings.Builder
	subject := fmt.Sprintf("Request %s: Temporary Access Pass for %s (%s)", r.State, tapdesk.StripBidiControls(r.TargetName), r.TicketRef)
	fmt.Fprintf(&b, "Your request for a Temporary Access Pass for %s (%s) is %s.\n", tapdesk.IsolateName(r.TargetName), r.TargetUPN, r.State)
	if r.State == tapdesk.StateDenied && r.DecisionNote != "" {
		fmt.Fprintf(&b, "Reason: %s\n", oneLine(r.DecisionNote))
	}
	if r.State == tapdesk.StateApproved {
		b.WriteString("Open the request while the caller is on the line and press \"Issue and reveal\". The pass is shown there only, once.\n")
	}
	fmt.Fprintf(&b, "\n%s/requests/%s\n", base, r.ID)
	return Message{To: []string{it.To}, Subject: subject, Text: b.String()}
}

// newToken returns 256 random bits, URL-safe.
func newToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return tapdesk.EncodeLinkToken(b), nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
