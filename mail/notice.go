package mail

import (
	"fmt"
	"strings"
	"time"

	"github.com/tapdesk/tapdesk"
)

// notice tells the target of a request (or their manager) that a pass was
// requested or issued for their account, with a fresh "This wasn't me" link
// while the request can still be stopped. It names who asked and the
// ticket, never the justification, the verification note or the pass: it
// goes to whoever holds the mailbox.
func (c *RequestComposer) notice(it Item, r *tapdesk.Request, base string, storeLink func(Link) error) (Message, error) {
	var b strings.Builder
	what := "requested"
	if it.Kind == KindPassIssued {
		what = "issued"
	}
	// Directory names are isolated in the body and stripped of direction
	// controls in the subject, as in every other mail (compose.go).
	subject := fmt.Sprintf("A Temporary Access Pass was %s for %s (%s)", what, tapdesk.StripBidiControls(r.TargetName), r.TicketRef)
	fmt.Fprintf(&b, "A Temporary Access Pass was %s for the account of %s (%s) by %s of the helpdesk, ticket %s.\n",
		what, tapdesk.IsolateName(r.TargetName), r.TargetUPN, tapdesk.IsolateName(r.Requester.Name), r.TicketRef)
	b.WriteString("You get this mail because it is your account, or because the directory names you as its owner's manager.\n\n")
	b.WriteString("A Temporary Access Pass lets whoever holds it sign in as this account and set up new sign-in methods. The helpdesk reads it out to the person it helps; it is never sent by mail.\n")
	if it.Kind == KindPassIssued && r.TAPStartAt != nil && r.TAPExpiresAt != nil {
		fmt.Fprintf(&b, "The pass works from %s until %s.\n", utc(*r.TAPStartAt), utc(*r.TAPExpiresAt))
	}
	b.WriteString("\nIf you asked the helpdesk for this, or know the person did, there is nothing to do.\n\n")

	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	if err := tapdesk.CheckDispute(r, now()); err != nil {
		// Delivered late: the request already ended, nothing left to stop.
		fmt.Fprintf(&b, "This request has since ended (%s). If it wasn't you, tell your IT security team.\n", r.State)
		return Message{To: []string{it.To}, Subject: subject, Text: b.String()}, nil
	}
	token, err := newToken()
	if err != nil {
		return Message{}, err
	}
	expires := tapdesk.DisputeLinkExpiry(r)
	if err := storeLink(Link{Dispute: true, Token: token, RequestID: r.ID, Recipient: it.To, CreatedAt: now(), ExpiresAt: expires}); err != nil {
		return Message{}, err
	}
	b.WriteString("If this wasn't you, stop it here (no sign-in needed):\n")
	fmt.Fprintf(&b, "%s/dispute/%s\n\n", base, token)
	fmt.Fprintf(&b, "The link works once, until %s. It can only stop the request", utc(expires))
	if r.State == tapdesk.StateIssued {
		b.WriteString(" and delete the pass")
	}
	b.WriteString("; it cannot approve or change anything. The helpdesk and security are told at once.\n")
	return Message{To: []string{it.To}, Subject: subject, Text: b.String()}, nil
}

// disputeAlert tells the agent, the approvers and security that a request
// was disputed: a possible social-engineering attempt on the helpdesk.
func disputeAlert(it Item, r *tapdesk.Request, base string) Message {
	var b strings.Builder
	subject := fmt.Sprintf("Disputed: Temporary Access Pass for %s (%s) - \"This wasn't me\"", tapdesk.StripBidiControls(r.TargetName), r.TicketRef)
	fmt.Fprintf(&b, "The notice about a Temporary Access Pass for %s (%s) was answered with \"This wasn't me\".\n", tapdesk.IsolateName(r.TargetName), r.TargetUPN)
	fmt.Fprintf(&b, "The request is stopped (%s): no pass can be issued for it.\n", r.State)
	if r.DecisionNote != "" {
		fmt.Fprintf(&b, "%s\n", oneLine(r.DecisionNote))
	}
	fmt.Fprintf(&b, "\nRequested by:     %s (%s)\n", tapdesk.IsolateName(r.Requester.Name), r.Requester.UPN)
	fmt.Fprintf(&b, "Ticket:           %s\n", r.TicketRef)
	fmt.Fprintf(&b, "Caller verified:  %s\n\n", tapdesk.VerificationLabel(r.VerificationMethod))
	b.WriteString("Treat the call behind this request as a possible attempt to take over the account: do not file again before calling the user back on a number from the directory.\n")
	fmt.Fprintf(&b, "\n%s/requests/%s\n", base, r.ID)
	return Message{To: []string{it.To}, Subject: subject, Text: b.String()}
}

func utc(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }
