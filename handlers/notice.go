package handlers

import (
	"context"
	"strings"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/internal/background"
	"github.com/tapdesk/tapdesk/mail"
	"github.com/tapdesk/tapdesk/store"
)

// notices resolves, while a request is filed, whom tapdesk tells that a
// pass was requested: the target at the address Entra holds for them and,
// if Entra names one, their manager at theirs. Nothing the agent typed takes
// part: a caller pretending to be the user would give their own address.
//
// skipped lists, as sentences for the audit trail, who could not be told.
// A manager that cannot be read (Graph refused) fails the filing: the
// notice is a control, and Graph's sentence tells the agent to try again.
// manager is the read of target's manager started beside the target's
// (readManager); none, or made for someone else, it is read now.
func (h *Handler) notices(ctx context.Context, target *tapdesk.DirectoryUser, manager managerRead) (mails []store.Mail, details map[string]string, skipped []string, err error) {
	details = map[string]string{"notice_user": "off", "notice_manager": "off"}
	var to []string
	if h.cfg.NotifyUser {
		if a := target.NoticeAddress(); a != "" {
			to = append(to, a)
			details["notice_user"] = a
		} else {
			details["notice_user"] = "none"
			skipped = append(skipped, "Entra holds no address (mail or otherMails) for "+target.UPN+", so they could not be told that a pass was requested for them.")
		}
	}
	if h.cfg.NotifyManager {
		var m *tapdesk.DirectoryUser
		var err error
		if manager.read != nil && strings.EqualFold(manager.of, target.ID) {
			m, err = manager.read.Result()
		} else {
			m, err = h.dir.Manager(ctx, target.ID)
		}
		switch {
		case err != nil:
			return nil, nil, nil, err
		case m == nil:
			details["notice_manager"] = "none: Entra names no manager"
		case m.NoticeAddress() == "":
			details["notice_manager"] = "none"
			skipped = append(skipped, "Entra holds no address for "+target.UPN+"'s manager "+m.DisplayName+" ("+m.ID+"), so they could not be told that a pass was requested.")
		default:
			to = append(to, m.NoticeAddress())
			details["notice_manager"] = m.NoticeAddress()
		}
	}
	return mailsTo(mail.KindPassRequested, tapdesk.UniqueAddresses(to...)), details, skipped, nil
}

// managerRead is a read of a user's manager going on in the background;
// its zero value is no read.
type managerRead struct {
	read *background.Read[*tapdesk.DirectoryUser]
	of   string // the user's object id
}

// readManager starts reading the manager of the user the form names, when
// filings tell managers and the form names the user by object id (as the
// user card's form does): a UPN must be looked up first. Otherwise it
// starts nothing, and notices reads the manager itself.
func (h *Handler) readManager(ctx context.Context, idOrUPN string) managerRead {
	key, err := tapdesk.ParseUserKey(idOrUPN)
	if !h.cfg.NotifyManager || err != nil || !key.IsObjectID() {
		return managerRead{}
	}
	id := key.String()
	return managerRead{read: background.Start(ctx, h.log, func(ctx context.Context) (*tapdesk.DirectoryUser, error) { return h.dir.Manager(ctx, id) }), of: id}
}

// issuedNotices tells the people told at filing (the addresses resolved
// then, as queued) that the pass was issued. The mail never holds the pass:
// it is composed later from the request, which has none.
func (h *Handler) issuedNotices(ctx context.Context, r *tapdesk.Request) []store.Mail {
	to, err := h.store.NoticeRecipients(ctx, r.ID)
	if err != nil {
		h.log.Error("issued notices not queued", "request", r.ID, "err", err)
		return nil
	}
	return mailsTo(mail.KindPassIssued, to)
}

// mailsTo is one outbox mail of kind to each address.
func mailsTo(kind string, to []string) []store.Mail {
	mails := make([]store.Mail, 0, len(to))
	for _, a := range to {
		mails = append(mails, store.Mail{Kind: kind, To: a})
	}
	return mails
}
