package tapdesk

import "strings"

// IsLinkRecipient reports whether p is the approver an approval link was
// mailed to. Only such a person spends the link; any other approver who
// opens it is shown the request (they may still decide it there) and the
// link keeps working for its recipient.
//
// Approval mail goes to configured addresses (TAPDESK_APPROVER_EMAILS and
// the escalation addresses), so the match is on the two ID token claims
// that carry a mail address: email (Entra's mail attribute) and
// preferred_username (the UPN, usually the same as the primary address).
// Both compare case-insensitively, as mail addresses do in practice; an
// empty claim matches nothing. Both claims are editable by directory
// administrators, which is fine here: the match only narrows who may spend
// a link, and every approver can already decide from the portal. It never
// grants anything the approver role does not.
func IsLinkRecipient(p Principal, recipient string) bool {
	recipient = strings.TrimSpace(recipient)
	if recipient == "" {
		return false
	}
	for _, addr := range []string{p.Email, p.UPN} {
		if addr = strings.TrimSpace(addr); addr != "" && strings.EqualFold(addr, recipient) {
			return true
		}
	}
	return false
}

// Approval link refusals, told apart so each is audited with its reason.
var (
	ErrLinkUnknown = Titledf(ENOTFOUND, "Link not valid", "This approval link is not valid. It may have been altered or mistyped; open the request from your tapdesk dashboard instead.")
	ErrLinkUsed    = Titledf(ECONFLICT, "Link already used", "This approval link has already been used. Links work once; open the request from your tapdesk dashboard instead.")
	ErrLinkExpired = Titledf(ECONFLICT, "Link expired", "This approval link has expired. Open the request from your tapdesk dashboard instead.")
	// ErrLinkNotRecipient: the link was mailed to another approver. It is
	// not spent; the handler shows the request instead.
	ErrLinkNotRecipient = Titledf(EFORBIDDEN, "Link mailed to someone else", "This approval link was mailed to another approver, so it was not used up and still works for them. You can decide the request here.")
)
