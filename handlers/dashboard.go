package handlers

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
	"github.com/tapdesk/tapdesk/views"
)

// dashboard shows the person's sections, tasks first. The part read from
// requests and approvals (views.DashboardLists) is kept rendered per person
// (dashboardCache) while the database has committed nothing since and no
// listed request has reached its deadline or changed its age phrase, so a
// shift of agents reloading their dashboards costs no query and no render.
// A filtered or paged history is read afresh and not kept. The auditor's
// and the admin's sections are read every time: audit events and the
// deployment's state do not advance the database's write count.
func (h *Handler) dashboard(c echo.Context) error {
	p := principal(c)
	if p.IsZero() {
		return c.Redirect(http.StatusSeeOther, "/auth/login")
	}
	ctx := c.Request().Context()
	page := h.page(c, "Dashboard")
	now := h.now()
	status := http.StatusOK

	q := tapdesk.HistoryQuery{Page: 1}
	var qerr error
	// The plain dashboard (the one reloaded all day) has no query to parse.
	if p.Has(tapdesk.RoleRequester) && c.Request().URL.RawQuery != "" {
		qp := c.QueryParams()
		q, qerr = tapdesk.ParseHistoryQuery(qp.Get("state"), qp.Get("q"), qp.Get("page"))
		if qerr != nil {
			status = statusOf(tapdesk.ErrorCode(qerr))
		}
	}
	key := viewerKey(p)
	lists, err := h.dashboardListsHTML(ctx, key, p, now, q, qerr)
	if err != nil {
		return err
	}
	if q.IsZero() && qerr == nil {
		// The plain dashboard, reloaded all day, is kept compressed too
		// (render).
		stateOf(c).pageKey = key
	}
	var o *views.Oversight
	if p.Has(tapdesk.RoleAuditor) {
		if o, err = h.oversight(ctx, now); err != nil {
			return err
		}
	}
	var dep *views.Deployment
	if p.Has(tapdesk.RoleAdmin) {
		dep = h.deployment(ctx, now)
	}
	comp := func() templ.Component { return views.DashboardPage(page, templ.Raw(lists), o, dep) }
	// The page around the lists is the same from load to load (the
	// person, the lists and the CSRF token aside) unless it shows a flash,
	// the threat banner (its phrase of time moves; or it says the mode
	// could not be read) or a section read afresh: otherwise it is kept
	// whole too.
	if q.IsZero() && qerr == nil && o == nil && dep == nil && page.Flash == "" && !page.Threat.On && !page.ThreatUnread {
		return h.renderKept(c, key, lists, comp)
	}
	return h.render(c, status, comp())
}

// dashboardListsHTML is p's rendered lists: kept ones when they still hold,
// else read and rendered (and kept, for the plain first page).
func (h *Handler) dashboardListsHTML(ctx context.Context, key string, p tapdesk.Principal, now time.Time, q tapdesk.HistoryQuery, qerr error) (string, error) {
	keep := qerr == nil && q.IsZero()
	// The count is read before the lists are: a write committed while they
	// are read advances it past what the entry is stored under.
	gen, trusted := h.store.Generation()
	if keep && trusted {
		if html, ok := h.lists.get(key, gen, now); ok {
			return html, nil
		}
	}
	d, until, err := h.dashboardLists(ctx, p, now, q, qerr)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := views.DashboardLists(views.Page{User: p}, d).Render(context.Background(), &b); err != nil {
		return "", err
	}
	html := b.String()
	if keep && trusted {
		h.lists.put(key, dashboardEntry{gen: gen, built: now, until: until, html: html})
	}
	return html, nil
}

// dashboardLists reads the lists p's roles show at now, and until when
// they hold as far as time goes: the first deadline of an open request
// read (at which it leaves a list: tapdesk.CheckDecide, CheckReveal), or
// the next change of an age phrase shown. Zero: time changes nothing.
func (h *Handler) dashboardLists(ctx context.Context, p tapdesk.Principal, now time.Time, q tapdesk.HistoryQuery, qerr error) (d views.Dashboard, until time.Time, err error) {
	clock := func() time.Time { return now }
	bound := func(t time.Time) {
		if now.Before(t) && (until.IsZero() || t.Before(until)) {
			until = t
		}
	}
	phrases := false
	if p.Has(tapdesk.RoleRequester) {
		open, err := h.store.Requests(ctx, store.RequestFilter{RequesterOID: p.ObjectID, States: tapdesk.OpenStates, Limit: 200, Summary: true})
		if err != nil {
			return d, until, err
		}
		tapdesk.SortByDue(open)
		for _, r := range open {
			bound(r.ExpiresAt)
			switch {
			case tapdesk.ReadyToIssue(r, p, now):
				d.Ready = append(d.Ready, views.NewRequestRow(r, clock))
				phrases = true
			case tapdesk.WaitingForApproval(r, p, now):
				d.Waiting = append(d.Waiting, views.NewRequestRow(r, clock))
				phrases = true
			}
		}
		if d.History, err = h.history(ctx, p, q, qerr); err != nil {
			return d, until, err
		}
	}
	if p.Has(tapdesk.RoleApprover) {
		pending, err := h.store.Requests(ctx, store.RequestFilter{States: []tapdesk.State{tapdesk.StatePending}, Limit: 200, WithApprovals: true, Summary: true})
		if err != nil {
			return d, until, err
		}
		tapdesk.SortByDue(pending)
		for _, r := range pending {
			bound(r.ExpiresAt)
			if tapdesk.WaitingForDecisionBy(r, p, now) {
				d.Awaiting = append(d.Awaiting, views.NewRequestRow(r, clock))
				phrases = true
			}
		}
		decided, err := h.store.DecidedBy(ctx, p.ObjectID, tapdesk.DashboardRecentlyDecided)
		if err != nil {
			return d, until, err
		}
		for _, x := range decided {
			row := views.NewRequestRow(x.Request, nil)
			row.Decision, row.DecidedAt = tapdesk.DecisionLabel(x.Decision), views.UTC(x.DecidedAt)
			row.DecidedISO = x.DecidedAt.UTC().Format(views.ISOMinute)
			d.Decided = append(d.Decided, row)
		}
	}
	if phrases {
		bound(now.Add(tapdesk.DashboardPhraseStep))
	}
	return d, until, nil
}

// history reads one page of p's requests as q selects them. A refused
// query (qerr) shows its sentence and no rows.
func (h *Handler) history(ctx context.Context, p tapdesk.Principal, q tapdesk.HistoryQuery, qerr error) (views.History, error) {
	hist := views.History{Query: q}
	if qerr != nil {
		hist.Message = tapdesk.ErrorMessage(qerr)
		return hist, nil
	}
	f := store.RequestFilter{RequesterOID: p.ObjectID, Search: q.Search, Limit: tapdesk.DashboardPageSize + 1, Offset: q.Offset(), Summary: true}
	if q.State != "" {
		f.States = []tapdesk.State{q.State}
	}
	rs, err := h.store.Requests(ctx, f)
	if err != nil {
		return hist, err
	}
	more := len(rs) > tapdesk.DashboardPageSize
	if more {
		rs = rs[:tapdesk.DashboardPageSize]
	}
	hist.Rows = make([]views.RequestRow, len(rs))
	for i, r := range rs {
		hist.Rows[i] = views.NewRequestRow(r, nil)
	}
	if q.Page > 1 {
		hist.PrevHref = historyHref(q, q.Page-1)
	}
	if more && q.Page < tapdesk.DashboardMaxPage {
		hist.NextHref = historyHref(q, q.Page+1)
	}
	return hist, nil
}

// historyHref is the dashboard showing page of q's history.
func historyHref(q tapdesk.HistoryQuery, page int) string {
	v := url.Values{}
	if q.State != "" {
		v.Set("state", string(q.State))
	}
	if q.Search != "" {
		v.Set("q", q.Search)
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return "/#history"
	}
	return "/?" + v.Encode() + "#history"
}

// oversight reads the auditor's section: the latest audit events, the
// latest check of the chain, and the counts.
func (h *Handler) oversight(ctx context.Context, now time.Time) (*views.Oversight, error) {
	o := &views.Oversight{}
	if err := h.outsidePasses(ctx, o); err != nil {
		return nil, err
	}
	evs, err := h.store.Events(ctx, store.EventFilter{Limit: tapdesk.DashboardRecentActivity})
	if err != nil {
		return nil, err
	}
	for _, ev := range evs {
		a := views.ActivityRow{Href: "/audit?before=" + strconv.FormatInt(ev.Seq+1, 10), Time: views.UTC(ev.Time),
			Activity: string(ev.Activity), Actor: ev.Actor.Name, Target: ev.TargetUPN, Failed: ev.Result == tapdesk.ResultFailure, Reason: ev.Reason}
		if a.Actor == "" {
			a.Actor = cmp.Or(ev.Actor.UPN, tapdesk.SystemActor.Name)
		}
		o.Activity = append(o.Activity, a)
	}
	checks, err := h.store.Events(ctx, store.EventFilter{Activity: string(tapdesk.ActAuditVerified), Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(checks) == 1 {
		ev := checks[0]
		o.Chain = views.ChainStatus{Recorded: true, At: views.UTC(ev.Time), By: ev.Actor.Name, Holds: ev.Result != tapdesk.ResultFailure,
			Reason: ev.Reason, Checked: ev.Details["checked"]}
	}
	counts, err := h.store.RequestCountsByState(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range tapdesk.AllStates {
		o.Counts = append(o.Counts, views.StateCount{State: s, Label: s.Label(), Count: strconv.Itoa(counts[s])})
	}
	if o.IssuedLately, err = h.store.PassesIssuedSince(ctx, now.Add(-tapdesk.DashboardIssuedWindow)); err != nil {
		return nil, err
	}
	recent, err := h.store.Requests(ctx, store.RequestFilter{Limit: tapdesk.DashboardPageSize, Summary: true})
	if err != nil {
		return nil, err
	}
	for _, r := range recent {
		o.Recent = append(o.Recent, views.NewRequestRow(r, nil))
	}
	if o.Alerts, err = h.latestAlerts(ctx); err != nil {
		return nil, err
	}
	return o, nil
}
