// Package alerts runs the alert rules (tapdesk.EvaluateAlerts) over the
// audit trail from the scheduler: it reads the events since the cursor the
// store keeps, and hands what they raise to the store, which records the
// alerts, their audit events and their mail with the cursor's advance in
// one transaction. Several instances may run it at once: one of them
// moves the cursor over a batch, and each alert's key is stored once.
package alerts

import (
	"context"
	"time"

	"github.com/tapdesk/tapdesk"
)

// Store is what the job needs from the database (store.DB).
type Store interface {
	CheckAlertCursor(ctx context.Context) (tapdesk.TrailCursor, error)
	EventsAfter(ctx context.Context, seq int64, limit int) ([]tapdesk.Event, error)
	EventsBetween(ctx context.Context, since time.Time, upTo int64, activities ...tapdesk.Activity) ([]tapdesk.Event, error)
	Requesters(ctx context.Context, ids []string) (map[string]tapdesk.Actor, error)
	RaiseAlerts(ctx context.Context, from, to int64, alerts []tapdesk.Alert, mailTo []string, now time.Time) ([]tapdesk.Alert, error)
}

// Counter counts raised alerts by rule (metrics.Metrics).
type Counter interface {
	AlertRaised(rule string)
}

// Job evaluates the alert rules. Zero Thresholds fields take the defaults;
// zero Hours the default working hours.
type Job struct {
	Store          Store
	Thresholds     tapdesk.AlertThresholds
	Hours          tapdesk.WorkingHours
	SecurityEmails []string
	Metrics        Counter
}

// maxBatches bounds one run: a trail far ahead (a restore, a long outage)
// is caught up over several runs rather than holding one sweep for long.
const maxBatches = 20

// Run evaluates the events written since the last run, at now, and
// returns how many alerts it raised.
func (j *Job) Run(ctx context.Context, now time.Time) (int, error) {
	th := j.Thresholds.OrDefaults()
	raised := 0
	for range maxBatches {
		n, more, err := j.batch(ctx, now, th)
		raised += n
		if err != nil || !more {
			return raised, err
		}
	}
	return raised, nil
}

// batch evaluates up to tapdesk.AlertBatch events; more says a full batch
// was read, so more may be waiting.
func (j *Job) batch(ctx context.Context, now time.Time, th tapdesk.AlertThresholds) (int, bool, error) {
	cur, err := j.Store.CheckAlertCursor(ctx)
	if err != nil {
		return 0, false, err
	}
	if !cur.Intact {
		return j.trailCut(ctx, cur, now)
	}
	from := cur.Seq
	evs, err := j.Store.EventsAfter(ctx, from, tapdesk.AlertBatch)
	if err != nil || len(evs) == 0 {
		return 0, false, err
	}
	in := tapdesk.AlertInput{New: evs}
	last := evs[len(evs)-1].Seq
	earliest, filed, decided := evs[0].Time, false, false
	for _, ev := range evs {
		if ev.Time.Before(earliest) {
			earliest = ev.Time
		}
		filed = filed || ev.Activity == tapdesk.ActRequestFiled
		decided = decided || ev.Activity == tapdesk.ActApprove || ev.Activity == tapdesk.ActDeny
	}
	// The count rules look back from the new events over their windows.
	if filed {
		if in.Filings, err = j.Store.EventsBetween(ctx, earliest.Add(-tapdesk.AlertFilingWindow), last, tapdesk.ActRequestFiled); err != nil {
			return 0, false, err
		}
	}
	if decided {
		if in.Decisions, err = j.Store.EventsBetween(ctx, earliest.Add(-tapdesk.AlertPairWindow), last, tapdesk.ActApprove, tapdesk.ActDeny); err != nil {
			return 0, false, err
		}
		ids := make([]string, 0, len(in.Decisions))
		for _, d := range in.Decisions {
			ids = append(ids, d.RequestID)
		}
		if in.Requesters, err = j.Store.Requesters(ctx, ids); err != nil {
			return 0, false, err
		}
	}
	found := tapdesk.EvaluateAlerts(in, th, j.Hours)
	for i := range found {
		found[i].Mail = tapdesk.AlertMailPlan(found[i].Rule, len(j.SecurityEmails))
	}
	n, err := j.raise(ctx, from, last, found, now)
	return n, err == nil && len(evs) == tapdesk.AlertBatch, err
}

// trailCut handles a cursor the trail no longer reaches: someone cut the
// trail's tail, and the events written since reuse seqs at or below the
// cursor, so reading after it would never see them (not even the tamper
// event the checkpoint publisher writes). It raises audit_failure itself,
// since no event in the trail will, and moves the cursor back to the head
// so later events are evaluated again.
func (j *Job) trailCut(ctx context.Context, cur tapdesk.TrailCursor, now time.Time) (int, bool, error) {
	a := tapdesk.TrailCutAlert(cur, now)
	a.Mail = tapdesk.AlertMailPlan(a.Rule, len(j.SecurityEmails))
	n, err := j.raise(ctx, cur.Seq, cur.Head, []tapdesk.Alert{a}, now)
	return n, false, err
}

// raise stores the alerts with the cursor's move from from to to, and
// counts them.
func (j *Job) raise(ctx context.Context, from, to int64, found []tapdesk.Alert, now time.Time) (int, error) {
	stored, err := j.Store.RaiseAlerts(ctx, from, to, found, j.SecurityEmails, now)
	if tapdesk.ErrorCode(err) == tapdesk.ECONFLICT {
		return 0, nil // another instance took this batch; the next run goes on from where it left
	}
	if err != nil {
		return 0, err
	}
	if j.Metrics != nil {
		for _, a := range stored {
			j.Metrics.AlertRaised(string(a.Rule))
		}
	}
	return len(stored), nil
}
