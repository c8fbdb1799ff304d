package evidence

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
)

// PublisherConfig is where checkpoints go and how often.
type PublisherConfig struct {
	Signer   *Signer
	Interval time.Duration // 0: tapdesk.DefaultAuditHeadInterval
	// File, when set, gets every checkpoint appended as a JSON line
	// (opened O_APPEND, synced before the publish counts as done).
	File string
	// Webhook, when set, is POSTed every checkpoint as JSON, retried with
	// backoff (WebhookAttempts tries, the first wait WebhookBackoff,
	// doubling) for as long as the caller's context allows.
	Webhook         string
	WebhookAttempts int           // 0: 5
	WebhookBackoff  time.Duration // 0: 1s
	HTTPClient      *http.Client  // nil: a client with a 10s timeout
	Logger          *slog.Logger
	Now             tapdesk.Clock
}

// Publisher publishes signed checkpoints of the audit trail's head and
// builds evidence packs on them.
type Publisher struct {
	db  *store.DB
	cfg PublisherConfig
	// mu makes one publish at a time in this process: an evidence pack
	// asking for a checkpoint and the interval's never sign twice at once.
	mu sync.Mutex
	// doneSlot is the interval slot this instance last saw settled (by
	// itself or another instance), so a sweep in the same interval asks
	// the database nothing.
	doneSlot string
	// lastFull is when this instance last walked the whole trail and found
	// it intact (zero: not yet since it started). Between full walks a
	// publish or a pack walks from the last signed checkpoint only (see
	// tapdesk.AuditFullWalkDue). fullMu guards it alone: Pack walks
	// without mu.
	fullMu   sync.Mutex
	lastFull time.Time
}

// NewPublisher wires a publisher to the trail in db.
func NewPublisher(db *store.DB, cfg PublisherConfig) *Publisher {
	if cfg.Interval <= 0 {
		cfg.Interval = tapdesk.DefaultAuditHeadInterval
	}
	if cfg.WebhookAttempts <= 0 {
		cfg.WebhookAttempts = 5
	}
	if cfg.WebhookBackoff <= 0 {
		cfg.WebhookBackoff = time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	// The interval under way when tapdesk starts counts as done: the
	// first checkpoint comes at the next interval's start (and one at
	// every shutdown), not with every restart.
	return &Publisher{db: db, cfg: cfg, doneSlot: slotOf(cfg.Now(), cfg.Interval)}
}

// slotOf names the interval t falls in by its start.
func slotOf(t time.Time, every time.Duration) string {
	return t.UTC().Truncate(every).Format(time.RFC3339)
}

// Signer is the key packs and checkpoints are signed with.
func (p *Publisher) Signer() *Signer { return p.cfg.Signer }

// claimLease is how long an unsigned claim holds its slot: verifying a
// trail of millions of events takes seconds, not minutes.
const claimLease = 10 * time.Minute

// ErrTrailBroken: the trail did not verify, so nothing was signed.
var ErrTrailBroken = errors.New("the audit trail does not check out; no checkpoint was signed")

// PublishDue publishes the checkpoint of the current interval unless this
// or another instance already has (the sweep calls it; 1 when it
// published).
func (p *Publisher) PublishDue(ctx context.Context) (int, error) {
	now := p.cfg.Now()
	slot := slotOf(now, p.cfg.Interval)
	p.mu.Lock()
	done := p.doneSlot == slot
	p.mu.Unlock()
	if done {
		return 0, nil
	}
	claimed, err := p.db.ClaimCheckpointSlot(ctx, slot, now, claimLease)
	if err != nil {
		return 0, err
	}
	if !claimed {
		p.mu.Lock()
		p.doneSlot = slot
		p.mu.Unlock()
		return 0, nil
	}
	if _, err := p.publish(ctx, ctx, slot, "interval", nil); err != nil {
		return 0, err
	}
	p.mu.Lock()
	p.doneSlot = slot
	p.mu.Unlock()
	return 1, nil
}

// PublishNow publishes a checkpoint at once (for an evidence pack newer
// than the last one), for this instance alone.
func (p *Publisher) PublishNow(ctx context.Context, reason string) (Checkpoint, error) {
	return p.publishNow(ctx, ctx, reason, nil)
}

// finalWork bounds the local part of the shutdown checkpoint (verify,
// sign, record, file): seconds even on a trail of millions of events.
const finalWork = time.Minute

// PublishFinal publishes the shutdown checkpoint. The local part runs to
// its end (finalWork at most); the webhook gets what is left of deliver
// (the shutdown grace), so a receiver that does not answer never holds
// the process beyond it.
func (p *Publisher) PublishFinal(deliver context.Context) (Checkpoint, error) {
	work, done := context.WithTimeout(context.WithoutCancel(deliver), finalWork)
	defer done()
	return p.publishNow(work, deliver, "shutdown", nil)
}

func (p *Publisher) publishNow(ctx, deliver context.Context, reason string, rep *store.VerifyReport) (Checkpoint, error) {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	slot := reason + "/" + p.cfg.Now().UTC().Format(time.RFC3339Nano) + "/" + hex.EncodeToString(b)
	claimed, err := p.db.ClaimCheckpointSlot(ctx, slot, p.cfg.Now(), claimLease)
	if err != nil {
		return Checkpoint{}, err
	}
	if !claimed {
		return Checkpoint{}, fmt.Errorf("checkpoint slot %s was taken", slot)
	}
	return p.publish(ctx, deliver, slot, reason, rep)
}

// publish verifies the trail (unless rep, a walk the caller just made,
// is given), signs its head, records it with its audit event, and sends
// it to the log, the file and the webhook (within deliver). How far back
// it walks is verify's to decide.
func (p *Publisher) publish(ctx, deliver context.Context, slot, reason string, rep *store.VerifyReport) (Checkpoint, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if rep == nil {
		r, _, err := p.verify(ctx, store.TrailWalk{})
		if err != nil {
			return Checkpoint{}, p.release(ctx, slot, fmt.Errorf("verify before signing a checkpoint: %w", err))
		}
		rep = &r
	}
	if b := rep.Break; b != nil {
		p.cfg.Logger.Error("audit checkpoint NOT published: the trail does not check out", "seq", b.Seq, "kind", b.Kind, "detail", b.Detail)
		ev := tapdesk.Event{Activity: tapdesk.ActTamperDetected, Category: tapdesk.CatAudit, Result: tapdesk.ResultFailure,
			Actor: tapdesk.SystemActor, Reason: fmt.Sprintf("checkpoint not published: event %d %s: %s", b.Seq, b.Kind, b.Detail),
			Details: map[string]string{"break_seq": strconv.FormatInt(b.Seq, 10), "break_kind": string(b.Kind), "checkpoint": reason}}
		if aerr := p.db.AppendEvent(ctx, ev); aerr != nil {
			p.cfg.Logger.Error("auditing the failed verify", "err", aerr)
		}
		return Checkpoint{}, p.release(ctx, slot, fmt.Errorf("%w: event %d %s", ErrTrailBroken, b.Seq, b.Kind))
	}
	if rep.Checked == 0 {
		return Checkpoint{}, p.release(ctx, slot, errors.New("the audit trail is empty: no checkpoint to sign"))
	}
	now := p.cfg.Now()
	cp := p.cfg.Signer.SignCheckpoint(rep.LastSeq, rep.HeadMAC, now)
	line := cp.Line()
	walked := "whole trail"
	switch {
	case rep.SignedSeq > 0 && rep.FirstSeq == rep.SignedSeq:
		walked = fmt.Sprintf("from checkpoint %d", rep.SignedSeq)
	case rep.SignedSeq > 0:
		walked = fmt.Sprintf("from event %d, the request's first (checkpoint %d)", rep.FirstSeq, rep.SignedSeq)
	}
	ev := tapdesk.Event{Activity: tapdesk.ActCheckpointPublished, Category: tapdesk.CatAudit, Actor: tapdesk.SystemActor,
		Details: map[string]string{"seq": strconv.FormatInt(cp.Seq, 10), "mac": cp.MAC, "key_id": cp.KeyID, "reason": reason,
			"checked": strconv.FormatInt(rep.Checked, 10), "walked": walked}}
	if err := p.db.RecordCheckpoint(ctx, slot, cp.Seq, cp.MAC, string(line), ev); err != nil {
		return Checkpoint{}, p.release(ctx, slot, err)
	}
	p.cfg.Logger.Info("audit checkpoint published", "checkpoint", string(line), "reason", reason, "walked", walked)
	var errs []error
	if p.cfg.File != "" {
		if err := appendLine(p.cfg.File, line); err != nil {
			p.cfg.Logger.Error("audit checkpoint: appending to the checkpoint file failed", "file", p.cfg.File, "err", err)
			errs = append(errs, err)
		}
	}
	if p.cfg.Webhook != "" {
		if err := p.post(deliver, line); err != nil {
			p.cfg.Logger.Error("audit checkpoint: the webhook did not take it", "err", err)
			errs = append(errs, err)
		}
	}
	return cp, errors.Join(errs...)
}

// verify walks the trail as w says, from the last checkpoint this
// installation signed. A latest checkpoint whose signature does not check
// out with this signing key (one signed before the key was replaced, or a
// row someone wrote) is still held to its mac, but nothing is skipped on
// its word: the walk covers the whole trail. So does every walk for which
// tapdesk.AuditFullWalkDue says a full one is due: by this process's
// schedule before it starts, or, after a walk from the checkpoint met an
// alarm, again over the whole trail (see store.TrailWalk for why the walk
// from a checkpoint is sound, and what only the full walk sees).
func (p *Publisher) verify(ctx context.Context, w store.TrailWalk) (store.VerifyReport, []store.SealedEvent, error) {
	line, err := p.db.LatestCheckpoint(ctx)
	if err != nil {
		return store.VerifyReport{}, nil, err
	}
	if line != "" {
		last, err := ParseCheckpoint([]byte(line))
		if err != nil {
			return store.VerifyReport{}, nil, fmt.Errorf("the last published checkpoint: %w", err)
		}
		w.Signed = &store.Head{Seq: last.Seq, MAC: last.MAC}
		if last.Verify(p.cfg.Signer.Public()) != nil {
			w.Full = true
		}
	}
	now := p.cfg.Now()
	p.fullMu.Lock()
	lastFull := p.lastFull
	p.fullMu.Unlock()
	if tapdesk.AuditFullWalkDue(lastFull, now, false) {
		w.Full = true
	}
	rep, sealed, err := p.walk(ctx, w)
	if err == nil && !w.Full && rep.Break == nil && tapdesk.AuditFullWalkDue(lastFull, now, rep.AlarmSeq > 0) {
		p.cfg.Logger.Warn("audit trail: an alarm after the last checkpoint; walking the whole trail before signing", "alarm_seq", rep.AlarmSeq)
		w.Full = true
		rep, sealed, err = p.walk(ctx, w)
	}
	if err == nil && w.Full && rep.Break == nil {
		p.fullMu.Lock()
		if now.After(p.lastFull) {
			p.lastFull = now
		}
		p.fullMu.Unlock()
	}
	return rep, sealed, err
}

// walk is one walk of the trail.
func (p *Publisher) walk(ctx context.Context, w store.TrailWalk) (store.VerifyReport, []store.SealedEvent, error) {
	start := time.Now()
	rep, sealed, err := p.db.VerifySince(ctx, w)
	if err == nil {
		// One line per walk: how far back a publish or a pack reads, and
		// what it cost, for an operator sizing the trail.
		p.cfg.Logger.Debug("audit trail walked", "from_seq", rep.FirstSeq, "signed_seq", rep.SignedSeq, "checked", rep.Checked,
			"full", w.Full, "took", time.Since(start).String())
	}
	return rep, sealed, err
}

// release gives the slot back after a failure and returns err.
func (p *Publisher) release(ctx context.Context, slot string, err error) error {
	if rerr := p.db.ReleaseCheckpointSlot(context.WithoutCancel(ctx), slot); rerr != nil {
		p.cfg.Logger.Error("releasing a checkpoint claim", "slot", slot, "err", rerr)
	}
	return err
}

// appendLine appends one line to the checkpoint file and syncs it: a
// checkpoint counts once it is on disk.
func appendLine(path string, line []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// post sends the checkpoint to the webhook, retrying with backoff until
// it answers 2xx, the attempts are spent or ctx ends.
func (p *Publisher) post(ctx context.Context, line []byte) error {
	wait := p.cfg.WebhookBackoff
	var last error
	for attempt := 1; attempt <= p.cfg.WebhookAttempts; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.cfg.Webhook, bytes.NewReader(line))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := p.cfg.HTTPClient.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode/100 == 2 {
				return nil
			}
			err = fmt.Errorf("the webhook answered %s", res.Status)
		}
		last = fmt.Errorf("attempt %d of %d: %w", attempt, p.cfg.WebhookAttempts, err)
		if attempt == p.cfg.WebhookAttempts {
			break
		}
		p.cfg.Logger.Warn("audit checkpoint: webhook failed, retrying", "err", last, "wait", wait.String())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w; then stopped waiting: %w", last, ctx.Err())
		case <-t.C:
		}
		wait *= 2
	}
	return last
}

// ErrNoEvents: the request has no audit events to pack.
var ErrNoEvents = errors.New("the request has no audit events")

// Pack builds the evidence pack of request r for by: its events with
// their macs and the earliest signed checkpoint at or after the last of
// them, publishing one now if none is. One walk verifies it all, in one
// snapshot: from the last signed checkpoint (or the request's first event,
// if older) to the head, holding the trail to the checkpoint the pack
// names; the events packed are the ones that walk verified, and a
// checkpoint published for the pack signs the head that walk reached.
//
// A trail that does not check out is refused, never packed: the pack's
// signature says "tapdesk vouches for this", and a pack carrying a
// failure unsigned would be a file an auditor cannot tell from evidence
// without reading it closely. The refusal is audited as tampering (so the
// alerts and the security team see it), with the sentence of where the
// trail breaks; audit verify shows the whole walk.
func (p *Publisher) Pack(ctx context.Context, r *tapdesk.Request, by string) ([]byte, error) {
	// The checkpoint the pack will name, chosen by the request's last event
	// before the walk, so the walk can hold the trail to its mac. Events
	// written meanwhile go past it: then a checkpoint is published.
	lastSeq, err := p.db.RequestLastSeq(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	var cp Checkpoint
	var carry []store.Head
	if lastSeq > 0 {
		line, err := p.db.CheckpointFrom(ctx, lastSeq)
		if err != nil {
			return nil, err
		}
		if line != "" {
			if cp, err = ParseCheckpoint([]byte(line)); err != nil {
				return nil, err
			}
			// One signed with a key since replaced is not reused: the
			// pack checks out with one public key.
			if cp.Verify(p.cfg.Signer.Public()) == nil {
				carry = append(carry, store.Head{Seq: cp.Seq, MAC: cp.MAC})
			}
		}
	}
	rep, sealed, err := p.verify(ctx, store.TrailWalk{RequestID: r.ID, Carry: carry})
	if err != nil {
		return nil, fmt.Errorf("verify before signing an evidence pack: %w", err)
	}
	if b := rep.Break; b != nil {
		p.cfg.Logger.Error("evidence pack refused: the trail does not check out", "request", r.ID, "seq", b.Seq, "kind", b.Kind, "detail", b.Detail)
		return nil, p.refusePack(ctx, r, fmt.Sprintf("evidence pack refused: event %d %s: %s", b.Seq, b.Kind, b.Detail),
			map[string]string{"break_seq": strconv.FormatInt(b.Seq, 10), "break_kind": string(b.Kind)})
	}
	if len(sealed) == 0 {
		return nil, ErrNoEvents
	}
	if len(carry) == 0 || sealed[len(sealed)-1].Seq > cp.Seq {
		// None yet (or not with this key, or the request moved on since):
		// sign the head this walk verified.
		if cp, err = p.publishNow(ctx, ctx, "evidence", &rep); err != nil && cp.Seq == 0 {
			return nil, err
		}
	}
	events := make([]SealedEvent, len(sealed))
	for i, s := range sealed {
		events[i] = SealedEvent{Event: s.Event, MAC: s.MAC}
	}
	return p.cfg.Signer.BuildPack(r, events, cp, by, p.cfg.Now())
}

// refusePack audits a refused evidence pack as tampering and returns
// ErrTrailBroken.
func (p *Publisher) refusePack(ctx context.Context, r *tapdesk.Request, reason string, details map[string]string) error {
	ev := tapdesk.Event{Activity: tapdesk.ActTamperDetected, Category: tapdesk.CatAudit, Result: tapdesk.ResultFailure,
		Actor: tapdesk.SystemActor, Reason: reason, Details: details}.ForRequest(r)
	if aerr := p.db.AppendEvent(context.WithoutCancel(ctx), ev); aerr != nil {
		p.cfg.Logger.Error("auditing the refused evidence pack", "err", aerr)
	}
	return fmt.Errorf("%w (%s)", ErrTrailBroken, reason)
}
