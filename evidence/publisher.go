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
	if _, err := p.publish(ctx, ctx, slot, "interval"); err != nil {
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
	return p.publishNow(ctx, ctx, reason)
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
	return p.publishNow(work, deliver, "shutdown")
}

func (p *Publisher) publishNow(ctx, deliver context.Context, reason string) (Checkpoint, error) {
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
	return p.publish(ctx, deliver, slot, reason)
}

// publish verifies the trail (it must still reach the last published
// checkpoint), signs its head, records it with its audit event, and sends
// it to the log, the file and the webhook (within deliver).
func (p *Publisher) publish(ctx, deliver context.Context, slot, reason string) (Checkpoint, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var heads []store.Head
	if line, err := p.db.LatestCheckpoint(ctx); err != nil {
		return Checkpoint{}, p.release(ctx, slot, err)
	} else if line != "" {
		last, err := ParseCheckpoint([]byte(line))
		if err != nil {
			return Checkpoint{}, p.release(ctx, slot, fmt.Errorf("the last published checkpoint: %w", err))
		}
		heads = append(heads, store.Head{Seq: last.Seq, MAC: last.MAC})
	}
	rep, err := p.db.VerifyChain(ctx, heads...)
	if err != nil {
		return Checkpoint{}, p.release(ctx, slot, fmt.Errorf("verify before signing a checkpoint: %w", err))
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
	ev := tapdesk.Event{Activity: tapdesk.ActCheckpointPublished, Category: tapdesk.CatAudit, Actor: tapdesk.SystemActor,
		Details: map[string]string{"seq": strconv.FormatInt(cp.Seq, 10), "mac": cp.MAC, "key_id": cp.KeyID, "reason": reason,
			"checked": strconv.FormatInt(rep.Checked, 10)}}
	if err := p.db.RecordCheckpoint(ctx, slot, cp.Seq, cp.MAC, string(line), ev); err != nil {
		return Checkpoint{}, p.release(ctx, slot, err)
	}
	p.cfg.Logger.Info("audit checkpoint published", "checkpoint", string(line), "reason", reason)
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
// their macs (verified with the audit key first, and packed as that one
// snapshot read them) and the earliest signed checkpoint at or after the
// last of them, publishing one now if none is. A stored checkpoint is
// used only while the trail still reaches the last one published and
// carries the checkpoint's mac at its seq: an end cut off the trail (the
// request's last events with it) is refused, not signed over.
func (p *Publisher) Pack(ctx context.Context, r *tapdesk.Request, by string) ([]byte, error) {
	sealed, unverified, err := p.db.SealedRequestEvidence(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	if len(unverified) > 0 {
		p.cfg.Logger.Error("evidence pack refused: the request's events do not check out", "request", r.ID, "events", unverified)
		return nil, p.refusePack(ctx, r, fmt.Sprintf("evidence pack refused: events %v of the request's window do not check out", unverified), nil)
	}
	if len(sealed) == 0 {
		return nil, ErrNoEvents
	}
	last := sealed[len(sealed)-1].Seq
	line, err := p.db.CheckpointFrom(ctx, last)
	if err != nil {
		return nil, err
	}
	var cp Checkpoint
	if line != "" {
		cp, err = ParseCheckpoint([]byte(line))
		if err != nil {
			return nil, err
		}
	}
	// Checked whether or not a checkpoint is published for the pack, so a
	// refusal is always audited as this request's.
	reuse := line != "" && cp.KeyID == p.cfg.Signer.KeyID()
	if err := p.trailReaches(ctx, r, cp, reuse); err != nil {
		return nil, err
	}
	if !reuse {
		// None yet, or one signed with a key since replaced: sign one now,
		// so the pack checks out with one public key.
		if cp, err = p.PublishNow(ctx, "evidence"); err != nil && cp.Seq == 0 {
			return nil, err
		}
	}
	events := make([]SealedEvent, len(sealed))
	for i, s := range sealed {
		events[i] = SealedEvent{Event: s.Event, MAC: s.MAC}
	}
	return p.cfg.Signer.BuildPack(r, events, cp, by, p.cfg.Now())
}

// trailReaches checks what publish checks before signing: the trail
// verifies up to the last published checkpoint and carries its mac; and,
// for a stored checkpoint cp the pack is about to name (stored), the event
// at cp.Seq is still there with cp.MAC. Otherwise the pack is refused (and
// that is audited as tampering): events after the request's were cut off,
// and a pack naming a checkpoint beyond the trail's end would hide them.
func (p *Publisher) trailReaches(ctx context.Context, r *tapdesk.Request, cp Checkpoint, stored bool) error {
	var heads []store.Head
	if line, err := p.db.LatestCheckpoint(ctx); err != nil {
		return err
	} else if line != "" {
		l, err := ParseCheckpoint([]byte(line))
		if err != nil {
			return fmt.Errorf("the last published checkpoint: %w", err)
		}
		heads = append(heads, store.Head{Seq: l.Seq, MAC: l.MAC})
	}
	rep, err := p.db.VerifyChain(ctx, heads...)
	if err != nil {
		return fmt.Errorf("verify before signing an evidence pack: %w", err)
	}
	if b := rep.Break; b != nil {
		p.cfg.Logger.Error("evidence pack refused: the trail does not check out", "request", r.ID, "seq", b.Seq, "kind", b.Kind, "detail", b.Detail)
		return p.refusePack(ctx, r, fmt.Sprintf("evidence pack refused: event %d %s: %s", b.Seq, b.Kind, b.Detail),
			map[string]string{"break_seq": strconv.FormatInt(b.Seq, 10), "break_kind": string(b.Kind)})
	}
	if !stored {
		return nil
	}
	mac, found, err := p.db.EventMAC(ctx, cp.Seq)
	if err != nil {
		return err
	}
	if !found || mac != cp.MAC {
		p.cfg.Logger.Error("evidence pack refused: the trail no longer carries its checkpoint", "request", r.ID, "checkpoint_seq", cp.Seq, "found", found)
		return p.refusePack(ctx, r, fmt.Sprintf("evidence pack refused: the trail does not carry the mac of checkpoint %d", cp.Seq),
			map[string]string{"break_seq": strconv.FormatInt(cp.Seq, 10), "break_kind": string(store.BreakChanged)})
	}
	return nil
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
