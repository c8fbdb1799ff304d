package handlers

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/views"
)

// deployment reads the admin's section: the pass policy (from Graph, kept
// for tapdesk.DashboardPolicyTTL), who approves, mail and the other
// dependencies as /readyz last saw them, the outbox, and the background
// jobs' last runs on this instance. A part that cannot be read says so in
// its place; the page still shows.
func (h *Handler) deployment(ctx context.Context, now time.Time) *views.Deployment {
	d := &views.Deployment{ApproverEmails: h.cfg.ApproverEmails}
	var err error
	if d.Policy, err = h.tapPolicy.get(ctx, h.dir, now); err != nil {
		d.PolicyError = tapdesk.ErrorMessage(err)
		h.log.Warn("dashboard: reading the TAP policy", "err", err)
	}
	signIns, err := h.store.LatestSignIns(ctx, now.Add(-tapdesk.ApproverSignInWindow), 500)
	if err != nil {
		h.log.Warn("dashboard: reading sign-ins", "err", err)
	}
	for _, ev := range signIns {
		if slices.Contains(tapdesk.SignInRoles(ev), tapdesk.RoleApprover) {
			d.Approvers = append(d.Approvers, views.PersonRow{Name: ev.Actor.Name, UPN: ev.Actor.UPN, SignedIn: views.UTC(ev.Time)})
		}
	}
	for g, r := range h.cfg.RoleGroups {
		if r == tapdesk.RoleApprover {
			d.ApproverGroups = append(d.ApproverGroups, g)
		}
	}
	slices.Sort(d.ApproverGroups)
	for _, s := range h.ready.report().Checks {
		d.Checks = append(d.Checks, views.CheckRow{Name: s.Name, OK: s.OK, Detail: s.Detail})
	}
	if ob, ok := h.store.(outboxCounter); ok {
		pending, failed, err := ob.OutboxCounts(ctx)
		if err != nil {
			d.OutboxError = "the database did not answer"
			h.log.Warn("dashboard: counting the outbox", "err", err)
		}
		d.OutboxPending, d.OutboxFailed = strconv.Itoa(pending), strconv.Itoa(failed)
	} else {
		d.OutboxError = "this store keeps no outbox"
	}
	runs := map[string]views.JobRow{}
	for _, r := range h.metrics.LastSweeps() {
		runs[r.Task] = views.JobRow{LastRun: views.UTC(r.At), Items: strconv.Itoa(r.Items), Failed: r.Failed}
	}
	for _, j := range tapdesk.BackgroundJobs {
		row, ok := runs[j.Task]
		if !ok && j.Task == "rate_limits_swept" {
			continue // only where limits are counted in the database
		}
		row.Label, row.Never = j.Label, !ok
		d.Jobs = append(d.Jobs, row)
	}
	return d
}

// outboxCounter is a store that counts its outbox.
type outboxCounter interface {
	OutboxCounts(ctx context.Context) (pending, failed int, err error)
}

// policyCache keeps the tenant's pass policy read from Graph for
// tapdesk.DashboardPolicyTTL: the admin's dashboard shows it on every
// load, and the policy changes rarely. Loads that find it stale while
// Graph is being asked wait for that one answer (singleflight) without
// holding the lock, so a load that finds it fresh never waits on Graph.
// Its zero value is ready.
type policyCache struct {
	mu     sync.Mutex
	policy *tapdesk.TAPPolicy
	at     time.Time
	flight singleflight.Group
}

func (pc *policyCache) get(ctx context.Context, dir tapdesk.Directory, now time.Time) (*tapdesk.TAPPolicy, error) {
	pc.mu.Lock()
	p, at := pc.policy, pc.at
	pc.mu.Unlock()
	if p != nil && !now.Before(at) && now.Sub(at) < tapdesk.DashboardPolicyTTL {
		return p, nil
	}
	v, err, _ := pc.flight.Do("policy", func() (any, error) {
		// Detached from the first loader's request, so its going away
		// does not fail the others waiting; bounded like a page's lookup.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), glanceLookupTimeout)
		defer cancel()
		p, err := dir.TAPPolicy(ctx)
		if err != nil {
			return nil, err
		}
		pc.mu.Lock()
		pc.policy, pc.at = p, now
		pc.mu.Unlock()
		return p, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*tapdesk.TAPPolicy), nil
}
