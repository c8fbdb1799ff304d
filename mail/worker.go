package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tapdesk/tapdesk/metrics"
)

// Worker defaults.
const (
	DefaultInterval    = 2 * time.Second
	DefaultBatch       = 20
	DefaultMaxAttempts = 8
	// DefaultKickDelay is how long a kicked worker waits before it claims:
	// the handler that kicked it has yet to save its session and send its
	// page, and would otherwise queue for SQLite's one writer behind the
	// claim it caused. Mail kicked meanwhile joins the same batch.
	DefaultKickDelay = 100 * time.Millisecond
)

// storeTimeout bounds recording an attempt's outcome. Recording runs on a
// context detached from the caller's: a mail that went out during shutdown
// must still be marked sent, or it would be sent again.
const storeTimeout = 10 * time.Second

// maxReasonLen keeps a failure reason to a readable line; SMTP servers can
// answer with long multi-line texts.
const maxReasonLen = 500

// WorkerOptions tune a Worker. Zero values mean the defaults.
type WorkerOptions struct {
	Interval    time.Duration // how often to poll the outbox; DefaultInterval
	Batch       int           // items claimed per poll; DefaultBatch
	MaxAttempts int           // attempts before giving up; DefaultMaxAttempts
	// KickDelay is the wait between a Kick and the claim it causes;
	// DefaultKickDelay, negative for none.
	KickDelay time.Duration
	// Backoff is the wait before the next attempt, given the number of
	// attempts made so far (1 after the first failure); DefaultBackoff.
	Backoff func(attempt int) time.Duration
	Now     func() time.Time // time.Now
	Logger  *slog.Logger     // slog.Default()
	// Metrics counts sends and failed attempts (nil: not counted).
	Metrics *metrics.Metrics
}

// DefaultBackoff waits 30s after the first failure and doubles each time up
// to an hour, minus up to 20% jitter so mails that failed together (the relay
// was down) do not all retry in the same second.
func DefaultBackoff(attempt int) time.Duration {
	const base, ceiling = 30 * time.Second, time.Hour
	d := ceiling
	if attempt < 1 {
		attempt = 1
	}
	if attempt <= 8 { // 30s<<7 = 64m already passes the ceiling
		d = min(base<<(attempt-1), ceiling)
	}
	return d - rand.N(d/5)
}

// Worker delivers outbox mail: it claims due items, has them composed, sends
// them and records the outcome, retrying failures with backoff.
type Worker struct {
	outbox      Outbox
	composer    Composer
	sender      Sender
	interval    time.Duration
	batch       int
	maxAttempts int
	kickDelay   time.Duration
	backoff     func(int) time.Duration
	now         func() time.Time
	log         *slog.Logger
	metrics     *metrics.Metrics
	kick        chan struct{}
}

// NewWorker returns a worker; call Run to start it.
func NewWorker(outbox Outbox, composer Composer, sender Sender, opts WorkerOptions) *Worker {
	w := &Worker{
		outbox:      outbox,
		composer:    composer,
		sender:      sender,
		interval:    opts.Interval,
		batch:       opts.Batch,
		maxAttempts: opts.MaxAttempts,
		kickDelay:   opts.KickDelay,
		backoff:     opts.Backoff,
		now:         opts.Now,
		log:         opts.Logger,
		metrics:     opts.Metrics,
		kick:        make(chan struct{}, 1),
	}
	if w.interval <= 0 {
		w.interval = DefaultInterval
	}
	if w.batch <= 0 {
		w.batch = DefaultBatch
	}
	if w.maxAttempts <= 0 {
		w.maxAttempts = DefaultMaxAttempts
	}
	if w.kickDelay == 0 {
		w.kickDelay = DefaultKickDelay
	}
	if w.backoff == nil {
		w.backoff = DefaultBackoff
	}
	if w.now == nil {
		w.now = time.Now
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	return w
}

// Kick wakes Run at once instead of at the next poll. Handlers call it after
// committing an outbox row so the mail goes out without the poll delay. It
// never blocks: a kick already pending covers this one.
func (w *Worker) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run delivers mail until ctx is done, then returns nil. Items claimed but
// not finished at shutdown are picked up again when their lease runs out.
func (w *Worker) Run(ctx context.Context) error {
	timer := time.NewTimer(w.interval)
	defer timer.Stop()
	for {
		sent, failed, err := w.RunOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			w.log.ErrorContext(ctx, "mail outbox", "err", err)
		} else if sent+failed >= w.batch {
			// A full batch: there may be more waiting, so go again now.
			continue
		}
		timer.Reset(w.interval)
		select {
		case <-ctx.Done():
			return nil
		case <-w.kick:
			if w.kickDelay > 0 {
				timer.Reset(w.kickDelay)
				select {
				case <-ctx.Done():
					return nil
				case <-timer.C:
				}
			}
		case <-timer.C:
		}
	}
}

// RunOnce claims one batch of due items and tries each once. sent and failed
// count attempts; err reports trouble with the outbox itself (or ctx ending),
// not a failed delivery, which is recorded on the item.
//
// The batch is composed, sent and recorded as a whole where the parts can
// (BatchComposer, BatchSender, BatchOutbox): one connection to the relay
// and one write for what went out, not one of each per message. The price
// is that a crash between sending and recording sends up to a batch again
// rather than one message; each carries the Message-ID of its outbox row,
// so mail systems drop the copies.
func (w *Worker) RunOnce(ctx context.Context) (sent, failed int, err error) {
	items, err := w.outbox.DueMail(ctx, w.now(), w.batch)
	if err != nil {
		return 0, 0, fmt.Errorf("mail: claim due mail: %w", err)
	}
	if len(items) == 0 {
		return 0, 0, nil
	}
	sendErrs := w.compose(ctx, items, w.send)

	storeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	now := w.now()
	var errs []error
	var sentIDs []int64
	interrupted := false
	for i, it := range items {
		switch {
		case sendErrs[i] == nil:
			w.metrics.MailSent()
			sentIDs = append(sentIDs, it.ID)
			sent++
		case ctx.Err() != nil:
			// Shutdown, not the relay's fault: do not spend an attempt on
			// it. The item stays claimed until its lease runs out.
			w.itemLog(it).WarnContext(ctx, "mail attempt interrupted", "result", "interrupted")
			interrupted = true
		default:
			failed++
			if err := w.fail(ctx, storeCtx, it, now, sendErrs[i]); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if interrupted {
		errs = append(errs, ctx.Err())
	}
	errs = append(errs, w.recordSent(ctx, storeCtx, items, sentIDs, now))
	return sent, failed, errors.Join(errs...)
}

// compose composes items (as a batch if the composer can) and hands the
// messages composed to send; it returns each item's outcome.
func (w *Worker) compose(ctx context.Context, items []Item, send func(context.Context, []Message) []error) []error {
	outcome := make([]error, len(items))
	var msgs []Message
	if bc, ok := w.composer.(BatchComposer); ok {
		msgs, outcome = bc.ComposeBatch(ctx, items)
	} else {
		msgs = make([]Message, len(items))
		for i, it := range items {
			if err := ctx.Err(); err != nil {
				outcome[i] = err
				continue
			}
			msgs[i], outcome[i] = w.composer.Compose(ctx, it)
		}
	}
	var ready []Message
	var at []int
	for i, it := range items {
		if outcome[i] != nil {
			outcome[i] = fmt.Errorf("compose: %w", outcome[i])
			continue
		}
		m := msgs[i]
		m.Key = fmt.Sprintf("%s.%d", it.RequestID, it.ID)
		ready = append(ready, m)
		at = append(at, i)
	}
	if len(ready) > 0 {
		for j, err := range send(ctx, ready) {
			outcome[at[j]] = err
		}
	}
	return outcome
}

// send delivers ms over one connection if the sender can, else one by one;
// once ctx is done the rest are not tried.
func (w *Worker) send(ctx context.Context, ms []Message) []error {
	if bs, ok := w.sender.(BatchSender); ok {
		return bs.SendBatch(ctx, ms)
	}
	errs := make([]error, len(ms))
	for i, m := range ms {
		if err := ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		errs[i] = w.sender.Send(ctx, m)
	}
	return errs
}

// recordSent records the items of ids as sent, in one write if the outbox
// can, and logs each.
func (w *Worker) recordSent(ctx, storeCtx context.Context, items []Item, ids []int64, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	byID := make(map[int64]Item, len(items))
	for _, it := range items {
		byID[it.ID] = it
	}
	notRecorded := func(id int64, err error) error {
		// It went out; the store may offer it again, and then the
		// recipient gets it twice. Better than losing it.
		w.itemLog(byID[id]).ErrorContext(ctx, "mail sent but not recorded", "result", "sent", "err", err)
		return fmt.Errorf("mail: mark %d sent: %w", id, err)
	}
	if bo, ok := w.outbox.(BatchOutbox); ok && len(ids) > 1 {
		if err := bo.MarkMailsSent(storeCtx, ids, now); err != nil {
			errs := make([]error, 0, len(ids))
			for _, id := range ids {
				errs = append(errs, notRecorded(id, err))
			}
			return errors.Join(errs...)
		}
		for _, id := range ids {
			w.itemLog(byID[id]).InfoContext(ctx, "mail sent", "result", "sent")
		}
		return nil
	}
	var errs []error
	for _, id := range ids {
		if err := w.outbox.MarkMailSent(storeCtx, id, now); err != nil {
			errs = append(errs, notRecorded(id, err))
			continue
		}
		w.itemLog(byID[id]).InfoContext(ctx, "mail sent", "result", "sent")
	}
	return errors.Join(errs...)
}

// itemLog is the logger for it's attempt: what logs may say about it.
func (w *Worker) itemLog(it Item) *slog.Logger {
	return w.log.With("mail_id", it.ID, "kind", it.Kind, "request_id", it.RequestID,
		"to_domain", recipientDomain(it.To), "attempt", it.Attempts+1)
}

// fail records a failed attempt at it: a retry after the backoff, or, after
// the last attempt or a permanent failure, giving up. err is an outbox error.
func (w *Worker) fail(ctx, storeCtx context.Context, it Item, now time.Time, sendErr error) error {
	n := it.Attempts + 1
	log := w.itemLog(it)
	reason := failureReason(sendErr, it.To)
	var retryAt time.Time
	if n < w.maxAttempts && !errors.Is(sendErr, ErrPermanent) {
		retryAt = now.Add(w.backoff(n))
		w.metrics.MailFailed(metrics.MailTemporary)
	} else {
		w.metrics.MailFailed(metrics.MailPermanent)
	}
	if err := w.outbox.MarkMailFailed(storeCtx, it.ID, now, retryAt, reason); err != nil {
		log.ErrorContext(ctx, "mail failure not recorded", "result", "failed", "err", reason, "store_err", err)
		return fmt.Errorf("mail: mark %d failed: %w", it.ID, err)
	}
	if retryAt.IsZero() {
		log.ErrorContext(ctx, "mail given up", "result", "gave_up", "err", reason)
	} else {
		log.WarnContext(ctx, "mail failed, will retry", "result", "retry", "retry_at", retryAt, "err", reason)
	}
	return nil
}

// recipientDomain is what logs may say about a recipient: people's addresses
// stay out of the logs.
func recipientDomain(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return "?"
}

// failureReason is err as one short line without the recipient's address
// (SMTP errors often quote it), fit for the log and the outbox row.
func failureReason(err error, to string) string {
	s := err.Error()
	if to != "" {
		s = strings.ReplaceAll(s, to, "…@"+recipientDomain(to))
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxReasonLen {
		cut := maxReasonLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut-- // do not split a character
		}
		s = s[:cut] + "…"
	}
	return s
}
