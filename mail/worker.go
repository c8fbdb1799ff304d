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
		case <-timer.C:
		}
	}
}

// RunOnce claims one batch of due items and tries each once. sent and failed
// count attempts; err reports trouble with the outbox itself (or ctx ending),
// not a failed delivery, which is recorded on the item.
func (w *Worker) RunOnce(ctx context.Context) (sent, failed int, err error) {
	items, err := w.outbox.DueMail(ctx, w.now(), w.batch)
	if err != nil {
		return 0, 0, fmt.Errorf("mail: claim due mail: %w", err)
	}
	var errs []error
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			// The rest stay claimed until their lease runs out.
			errs = append(errs, err)
			break
		}
		res, err := w.attempt(ctx, it)
		switch res {
		case resultSent:
			sent++
		case resultFailed:
			failed++
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return sent, failed, errors.Join(errs...)
}

// attemptResult is what became of one attempt.
type attemptResult int

const (
	resultSent        attemptResult = iota
	resultFailed                    // recorded (or tried to) as a failed attempt
	resultInterrupted               // shutdown; nothing recorded, the lease brings it back
)

// attempt composes and sends one item and records the outcome. err is an
// outbox error, or ctx's error when shutdown interrupted the attempt.
func (w *Worker) attempt(ctx context.Context, it Item) (attemptResult, error) {
	n := it.Attempts + 1
	log := w.log.With("mail_id", it.ID, "kind", it.Kind, "request_id", it.RequestID,
		"to_domain", recipientDomain(it.To), "attempt", n)

	msg, sendErr := w.composer.Compose(ctx, it)
	if sendErr != nil {
		sendErr = fmt.Errorf("compose: %w", sendErr)
	} else {
		msg.Key = fmt.Sprintf("%s.%d", it.RequestID, it.ID)
		sendErr = w.sender.Send(ctx, msg)
	}

	storeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	now := w.now()

	if sendErr == nil {
		w.metrics.MailSent()
		if err := w.outbox.MarkMailSent(storeCtx, it.ID, now); err != nil {
			// It went out; the store may offer it again, and then the
			// recipient gets it twice. Better than losing it.
			log.ErrorContext(ctx, "mail sent but not recorded", "result", "sent", "err", err)
			return resultSent, fmt.Errorf("mail: mark %d sent: %w", it.ID, err)
		}
		log.InfoContext(ctx, "mail sent", "result", "sent")
		return resultSent, nil
	}

	if ctx.Err() != nil {
		// Shutdown, not the relay's fault: do not spend an attempt on it.
		log.WarnContext(ctx, "mail attempt interrupted", "result", "interrupted")
		return resultInterrupted, ctx.Err()
	}

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
		return resultFailed, fmt.Errorf("mail: mark %d failed: %w", it.ID, err)
	}
	if retryAt.IsZero() {
		log.ErrorContext(ctx, "mail given up", "result", "gave_up", "err", reason)
	} else {
		log.WarnContext(ctx, "mail failed, will retry", "result", "retry", "retry_at", retryAt, "err", reason)
	}
	return resultFailed, nil
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
