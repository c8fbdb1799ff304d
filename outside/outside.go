// Package outside finds Temporary Access Passes made outside tapdesk: in
// the Entra admin center, by a script, by another tool, or with tapdesk's
// own app registration but without a request in tapdesk. It reads Entra's
// directory audit log for pass registrations (through the entra package),
// matches each against the issues in tapdesk's audit trail, records and
// audits the ones nothing explains, and, when told to, deletes them.
//
// It runs as one of the sweep's jobs (cmd/tapdesk, (*app).sweepOnce), on
// the app's clock. Mail about a finding is the alerts' business: they
// watch the trail for tapdesk.ActOutsidePassFound.
package outside

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/metrics"
)

// AuditLog is what the job reads and changes in Entra (entra.Client).
type AuditLog interface {
	// AppID is tapdesk's own app registration, as the audit log names it.
	AppID() string
	// PassRegistrations lists the passes registered for users at or after
	// from and before to, oldest first. With maxPages > 0, a span needing
	// more pages fails with an error wrapping tapdesk.ErrAuditSpanTooLong.
	PassRegistrations(ctx context.Context, from, to time.Time, maxPages int) ([]tapdesk.PassRegistration, error)
	TAPs(ctx context.Context, userID string) ([]tapdesk.TAPInfo, error)
	DeleteTAP(ctx context.Context, userID, methodID string) error
}

// Store keeps the cursor, the entries examined and the outside passes
// (store.DB).
type Store interface {
	OutsidePassCursor(ctx context.Context) (time.Time, bool, error)
	SetOutsidePassCursor(ctx context.Context, at, forgetBefore time.Time) error
	DirectoryAuditExamined(ctx context.Context, auditID string) (bool, error)
	ExplainByIssue(ctx context.Context, r tapdesk.PassRegistration, from, to, now time.Time) (bool, error)
	RecordOutsidePass(ctx context.Context, p tapdesk.OutsidePass, ev tapdesk.Event) (bool, error)
	OutsidePassDeleted(ctx context.Context, auditID string, at time.Time, gone bool, ev *tapdesk.Event) error
	OutsidePassesToDelete(ctx context.Context, limit int) ([]tapdesk.OutsidePass, error)
	TAPRecorded(ctx context.Context, methodID string) (bool, error)
	// AppendEvent records that the scan is failing (tapdesk.ActOutsideScanFailing).
	AppendEvent(ctx context.Context, ev tapdesk.Event) error
}

// Options configure a Watch.
type Options struct {
	// Delete deletes outside passes in Entra (TAPDESK_OUTSIDE_PASS_DELETE).
	Delete  bool
	Logger  *slog.Logger
	Metrics *metrics.Metrics
	// AuditPages bounds the pages one slice of the audit log reads
	// (0: tapdesk.AuditPagesPerSlice); tests make it small.
	AuditPages int
}

// Watch is the job.
type Watch struct {
	log   AuditLog
	store Store
	opts  Options

	// What the runs found, for /readyz (Health) and the failing streak's
	// one audit event; the sweep writes it, probes read it.
	mu sync.Mutex
	// failures counts the runs in a row that could not read the log to
	// the end (the metric shows it), since failingSince; lastErr is the
	// latest run's error.
	failures     int
	failingSince time.Time
	lastErr      error
	// recorded: this streak's ActOutsideScanFailing event is written.
	recorded bool
	// readAt is when a run last read the log to the end.
	readAt time.Time
}

// New returns the job reading log and recording in st.
func New(log AuditLog, st Store, opts Options) *Watch {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.AuditPages <= 0 {
		opts.AuditPages = tapdesk.AuditPagesPerSlice
	}
	return &Watch{log: log, store: st, opts: opts}
}

// graphTimeout bounds one scan's Graph calls.
const graphTimeout = 2 * time.Minute

// deletesPerRun bounds the passes one run deletes; the rest wait for the
// next sweep.
const deletesPerRun = 50

// Run reads the directory audit log from the cursor (the first time, from
// tapdesk.OutsidePassLookBack ago) up to now, in time slices oldest first,
// records every pass registration no issue of tapdesk explains, then
// deletes outside passes if set to. It returns how many it found. The
// cursor moves to the end of each slice once it is examined, so what was
// read is kept: a Graph outage or a timeout leaves the cursor where the
// last complete slice ended, and the next run reads on from there,
// skipping what it examined. A slice holding more entries than
// Options.AuditPages pages is halved (tapdesk.MinAuditSlice at least).
func (w *Watch) Run(ctx context.Context, now time.Time) (int, error) {
	if w == nil {
		return 0, nil // the directory reads no audit log (tests' stand-ins)
	}
	found, err := w.scan(ctx, now)
	if err != nil {
		if ctx.Err() != nil {
			return found, err // shutting down: not Entra's failure
		}
		n := w.failed(ctx, now, err)
		return found, fmt.Errorf("reading Entra's directory audit log (AuditLog.Read.All), %d runs in a row: %w", n, err)
	}
	w.read(now)
	if w.opts.Delete {
		if err := w.deleteAll(ctx, now); err != nil {
			return found, err
		}
	}
	return found, nil
}

// failed counts a failed run and returns how many failed in a row. When
// the streak reaches tapdesk.OutsideScanFailingRuns it writes one audit
// event saying so (the alerts raise and mail it); a write that fails is
// tried again at the next run.
func (w *Watch) failed(ctx context.Context, now time.Time, err error) int {
	w.mu.Lock()
	if w.failures == 0 {
		w.failingSince = now
	}
	w.failures++
	w.lastErr = err
	n, since, record := w.failures, w.failingSince, w.failures >= tapdesk.OutsideScanFailingRuns && !w.recorded
	w.mu.Unlock()
	w.opts.Metrics.OutsidePassScanFailures(n)
	if !record {
		return n
	}
	problem := tapdesk.OutsideScanProblem(err)
	details := map[string]string{"runs": fmt.Sprint(n), "failing_since": since.UTC().Format(time.RFC3339)}
	if cursor, ok, cerr := w.store.OutsidePassCursor(ctx); cerr == nil && ok {
		// The alert's key: instances failing on one stuck cursor raise one.
		details["read_up_to"] = cursor.UTC().Format(time.RFC3339Nano)
	}
	var ge *tapdesk.GraphError
	if errors.As(err, &ge) {
		details["graph_status"], details["graph_code"] = fmt.Sprint(ge.Status), ge.Code
	}
	ev := tapdesk.Event{Time: now, Activity: tapdesk.ActOutsideScanFailing, Category: tapdesk.CatSecurity, Result: tapdesk.ResultFailure,
		Actor: tapdesk.SystemActor, Reason: tapdesk.OutsideScanFailing(n, since, problem), Details: details}
	if aerr := w.store.AppendEvent(ctx, ev); aerr != nil {
		w.opts.Logger.Error("outside passes: cannot record that the directory audit log cannot be read", "err", aerr)
		return n
	}
	w.mu.Lock()
	w.recorded = true
	w.mu.Unlock()
	w.opts.Logger.Error("passes made outside tapdesk are not being looked for", "runs", n, "problem", problem)
	return n
}

// read notes a run that read the log to the end: the failing streak, if
// any, is over.
func (w *Watch) read(now time.Time) {
	w.mu.Lock()
	was := w.failures
	w.failures, w.lastErr, w.recorded, w.readAt = 0, nil, false, now
	w.mu.Unlock()
	w.opts.Metrics.OutsidePassScanFailures(0)
	if was >= tapdesk.OutsideScanFailingRuns {
		w.opts.Logger.Info("Entra's directory audit log is read again", "failed_runs", was)
	}
}

// Health is the job's state for /readyz: a note while it reads the log
// (or has failed fewer than tapdesk.OutsideScanFailingRuns runs in a row),
// or, once it has failed that many, the sentence saying what goes unseen
// and why, as an error.
func (w *Watch) Health() (note string, failing error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.failures >= tapdesk.OutsideScanFailingRuns:
		return "", errors.New(tapdesk.OutsideScanHealth(w.failures, w.failingSince, tapdesk.OutsideScanProblem(w.lastErr)))
	case w.failures == 1:
		return "the last run could not read it, tried again at each sweep: " + tapdesk.OutsideScanProblem(w.lastErr), nil
	case w.failures > 0:
		return fmt.Sprintf("the last %d runs could not read it, tried again at each sweep: %s", w.failures, tapdesk.OutsideScanProblem(w.lastErr)), nil
	case w.readAt.IsZero():
		return "not read yet", nil
	}
	return "read at " + w.readAt.UTC().Format(time.RFC3339), nil
}

// scan reads the log from the cursor to now, slice by slice.
func (w *Watch) scan(ctx context.Context, now time.Time) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, graphTimeout)
	defer cancel()
	cursor, started, err := w.store.OutsidePassCursor(ctx)
	if err != nil {
		return 0, err
	}
	from := now.Add(-tapdesk.OutsidePassLookBack)
	if started {
		from = cursor.Add(-tapdesk.OutsidePassLogDelay)
	}
	found := 0
	span := now.Sub(from) // one read, unless the span holds too much
	for from.Before(now) {
		to := now
		if span < now.Sub(from) {
			to = from.Add(span)
		}
		pages := w.opts.AuditPages
		if span <= tapdesk.MinAuditSlice {
			pages = 0 // the shortest slice is read to the end: the scan must move on
		}
		regs, err := w.log.PassRegistrations(ctx, from, to, pages)
		if errors.Is(err, tapdesk.ErrAuditSpanTooLong) {
			span = max(span/2, tapdesk.MinAuditSlice)
			continue
		}
		if err != nil {
			return found, err
		}
		for _, r := range regs {
			ok, err := w.examine(ctx, r, now)
			if err != nil {
				return found, err
			}
			if ok {
				found++
			}
		}
		// Entries from before the next read's start are never read again.
		if err := w.store.SetOutsidePassCursor(ctx, to, to.Add(-2*tapdesk.OutsidePassLogDelay)); err != nil {
			return found, err
		}
		from = to
		span *= 2 // a burst is past: read the rest in longer slices again
	}
	return found, nil
}

// examine decides on one registration and records a finding; found is true
// for a new outside pass.
func (w *Watch) examine(ctx context.Context, r tapdesk.PassRegistration, now time.Time) (found bool, err error) {
	seen, err := w.store.DirectoryAuditExamined(ctx, r.AuditID)
	if err != nil || seen {
		return false, err
	}
	viaTapdesk := r.ByTapdeskApp(w.log.AppID())
	if viaTapdesk {
		from, to := tapdesk.IssueWindow(r.At)
		explained, err := w.store.ExplainByIssue(ctx, r, from, to, now)
		if err != nil || explained {
			return false, err
		}
	}
	p := tapdesk.OutsidePass{PassRegistration: r, ViaTapdeskApp: viaTapdesk, FoundAt: now}
	if id, err := w.findPass(ctx, r); err != nil {
		// The finding stands without the pass's id; deleting looks again.
		w.opts.Logger.Warn("outside pass: cannot list the user's passes", "audit_id", r.AuditID, "err", err)
	} else {
		p.MethodID = id
	}
	ev := tapdesk.Event{Time: now, Activity: tapdesk.ActOutsidePassFound, Category: tapdesk.CatSecurity, Actor: tapdesk.SystemActor,
		TargetID: r.TargetID, TargetUPN: r.Target(), TAPMethodID: p.MethodID,
		Reason: tapdesk.OutsidePassReason(p), Details: tapdesk.OutsidePassDetails(p)}
	recorded, err := w.store.RecordOutsidePass(ctx, p, ev)
	if err != nil || !recorded {
		return false, err
	}
	w.opts.Metrics.OutsidePassFound(outsideInitiator(p))
	w.opts.Logger.Warn("a pass was made outside tapdesk", "target", r.Target(), "created_by", r.Initiator(),
		"created_at", r.At.UTC().Format(time.RFC3339), "via_tapdesk_app", viaTapdesk, "audit_id", r.AuditID)
	return true, nil
}

// outsideInitiator is the metric's label for who made p.
func outsideInitiator(p tapdesk.OutsidePass) string {
	switch {
	case p.ViaTapdeskApp:
		return metrics.OutsideTapdeskApp
	case p.ByApp:
		return metrics.OutsideApp
	}
	return metrics.OutsideUser
}

// findPass is the id of the user's pass that r registered, if the user
// still has it: created when r says, and not one tapdesk issued. "" when
// the user has no such pass (replaced, deleted, or the user is gone).
func (w *Watch) findPass(ctx context.Context, r tapdesk.PassRegistration) (string, error) {
	taps, err := w.log.TAPs(ctx, r.TargetID)
	if notInEntra(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	for _, t := range taps {
		if d := t.CreatedAt.Sub(r.At).Abs(); d > tapdesk.PassCreatedMatch {
			continue
		}
		mine, err := w.store.TAPRecorded(ctx, t.MethodID)
		if err != nil {
			return "", err
		}
		if !mine {
			return t.MethodID, nil
		}
	}
	return "", nil
}

// deleteAll deletes the outside passes not deleted yet. One that cannot be
// deleted now is logged and tried again at the next run.
func (w *Watch) deleteAll(ctx context.Context, now time.Time) error {
	todo, err := w.store.OutsidePassesToDelete(ctx, deletesPerRun)
	if err != nil {
		return err
	}
	for _, p := range todo {
		if err := w.delete(ctx, p, now); err != nil {
			w.opts.Logger.Warn("outside pass not deleted; tried again at the next sweep", "audit_id", p.AuditID, "target", p.Target(), "err", err)
		}
	}
	return nil
}

func (w *Watch) delete(ctx context.Context, p tapdesk.OutsidePass, now time.Time) error {
	id := p.MethodID
	if id == "" {
		var err error
		if id, err = w.findPass(ctx, p.PassRegistration); err != nil {
			return err
		}
	}
	gone := id == ""
	if !gone {
		err := w.log.DeleteTAP(ctx, p.TargetID, id)
		if err != nil && !notInEntra(err) {
			return err
		}
		gone = err != nil
	}
	if gone {
		// Replaced, deleted or expired away meanwhile: nothing to do, and
		// nothing deleted to audit.
		return w.store.OutsidePassDeleted(ctx, p.AuditID, now, true, nil)
	}
	ev := tapdesk.Event{Time: now, Activity: tapdesk.ActOutsidePassDeleted, Category: tapdesk.CatSecurity, Actor: tapdesk.SystemActor,
		TargetID: p.TargetID, TargetUPN: p.Target(), TAPMethodID: id,
		Reason: "tapdesk deleted the Temporary Access Pass made outside tapdesk for " + p.Target() + " by " + p.Initiator() +
			" (TAPDESK_OUTSIDE_PASS_DELETE is on).",
		Details: map[string]string{"directory_audit_id": p.AuditID, "created_by": p.Initiator(),
			"created_at": p.At.UTC().Format(time.RFC3339), "method_id": id}}
	if err := w.store.OutsidePassDeleted(ctx, p.AuditID, now, false, &ev); err != nil {
		return err
	}
	w.opts.Metrics.OutsidePassDeleted()
	return nil
}

// notInEntra reports a Graph answer that the pass (or its user) is gone.
func notInEntra(err error) bool {
	var ge *tapdesk.GraphError
	return errors.As(err, &ge) && ge.Kind == tapdesk.GraphNotFound
}
