package entra

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/auditlogs"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/tapdesk/tapdesk"
)

// auditPageSize is how many directory audit entries one page asks for.
const auditPageSize = 200

// AppID is the client id of the app registration tapdesk calls Graph as:
// the initiator Entra's audit log names for what tapdesk does.
func (c *Client) AppID() string { return c.appID }

// PassRegistrations reads Entra's directory audit log for the passes
// administrators and apps registered for users at or after from and
// before to, oldest first, following @odata.nextLink. It needs
// AuditLog.Read.All.
//
// Graph filters on the activity and the time; the result reason, which
// tells a pass from the other methods an administrator may register, is
// not filterable and is checked here. Failed registrations made no pass and
// are left out. The activity covers every method an administrator
// registers, so a span may hold far more entries than passes: with
// maxPages > 0, a span that needs more pages than that is not read to the
// end, and the error wraps tapdesk.ErrAuditSpanTooLong (the caller reads a
// shorter span).
func (c *Client) PassRegistrations(ctx context.Context, from, to time.Time, maxPages int) ([]tapdesk.PassRegistration, error) {
	ctx = withExchange(ctx)
	filter := fmt.Sprintf("activityDisplayName eq '%s' and activityDateTime ge %s and activityDateTime lt %s",
		strings.ReplaceAll(tapdesk.PassRegisteredActivity, "'", "''"),
		from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano))
	top := int32(auditPageSize)
	b := c.graph.AuditLogs().DirectoryAudits()
	resp, err := b.Get(ctx, &auditlogs.DirectoryAuditsRequestBuilderGetRequestConfiguration{
		QueryParameters: &auditlogs.DirectoryAuditsRequestBuilderGetQueryParameters{Filter: &filter, Top: &top},
	})
	var out []tapdesk.PassRegistration
	for page := 0; ; page++ {
		if err != nil {
			return nil, graphError(ctx, "list directory audits", err)
		}
		if resp == nil {
			return nil, emptyAnswer(ctx, "list directory audits")
		}
		for _, a := range resp.GetValue() {
			if r, ok := passRegistration(a); ok {
				out = append(out, r)
			}
		}
		next := deref(resp.GetOdataNextLink())
		if next == "" {
			break
		}
		if maxPages > 0 && page+1 >= maxPages {
			return nil, fmt.Errorf("entra: more than %d pages of directory audit entries from %s to %s: %w", maxPages,
				from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), tapdesk.ErrAuditSpanTooLong)
		}
		resp, err = b.WithUrl(next).Get(ctx, nil)
	}
	// Graph lists the newest first; the caller examines them in order.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// passRegistration reads one directory audit entry; ok is false for an
// entry that does not record a pass registered for a user.
func passRegistration(a models.DirectoryAuditable) (tapdesk.PassRegistration, bool) {
	var r tapdesk.PassRegistration
	if a == nil || a.GetActivityDateTime() == nil || deref(a.GetId()) == "" {
		return r, false
	}
	if deref(a.GetActivityDisplayName()) != tapdesk.PassRegisteredActivity ||
		!strings.EqualFold(strings.TrimSpace(deref(a.GetResultReason())), tapdesk.PassRegisteredReason) {
		return r, false
	}
	if res := a.GetResult(); res != nil && *res != models.SUCCESS_OPERATIONRESULT {
		return r, false
	}
	r.AuditID = deref(a.GetId())
	r.At = a.GetActivityDateTime().UTC()
	for _, t := range a.GetTargetResources() {
		if strings.EqualFold(deref(t.GetTypeEscaped()), "User") {
			r.TargetID, r.TargetUPN, r.TargetName = deref(t.GetId()), deref(t.GetUserPrincipalName()), deref(t.GetDisplayName())
			break
		}
	}
	if r.TargetID == "" && r.TargetUPN == "" {
		return r, false
	}
	if by := a.GetInitiatedBy(); by != nil {
		if app := by.GetApp(); app != nil && (deref(app.GetAppId()) != "" || deref(app.GetServicePrincipalId()) != "") {
			r.ByApp = true
			r.ByID, r.ByName, r.ByServicePrincipalID = deref(app.GetAppId()), deref(app.GetDisplayName()), deref(app.GetServicePrincipalId())
		} else if u := by.GetUser(); u != nil {
			r.ByID, r.ByUPN, r.ByName, r.ByIP = deref(u.GetId()), deref(u.GetUserPrincipalName()), deref(u.GetDisplayName()), deref(u.GetIpAddress())
		}
	}
	return r, true
}
