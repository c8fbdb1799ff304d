package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeOutbox is an in-memory Outbox with the store's contract: claiming
// leases an item, MarkMailFailed counts the attempt.
type fakeOutbox struct {
	mu     sync.Mutex
	rows   []*outboxRow
	nextID int64
	polled chan struct{} // gets a value after each DueMail, if anyone listens
}

type outboxRow struct {
	item        Item
	dueAt       time.Time
	leasedUntil time.Time
	sentAt      time.Time
	gaveUp      bool
	reasons     []string
	retryAts    []time.Time
}

const testLease = 5 * time.Minute

func newFakeOutbox() *fakeOutbox { return &fakeOutbox{polled: make(chan struct{}, 1)} }

func (o *fakeOutbox) add(kind, requestID, to string, now time.Time) int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.nextID++
	o.rows = append(o.rows, &outboxRow{
		item:  Item{ID: o.nextID, Kind: kind, RequestID: requestID, To: to, CreatedAt: now},
		dueAt: now,
	})
	return o.nextID
}

func (o *fakeOutbox) row(id int64) outboxRow {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, r := range o.rows {
		if r.item.ID == id {
			return *r
		}
	}
	panic(fmt.Sprintf("no row %d", id))
}

func (o *fakeOutbox) DueMail(ctx context.Context, now time.Time, limit int) ([]Item, error) {
	o.mu.Lock()
	defer func() {
		o.mu.Unlock()
		select {
		case o.polled <- struct{}{}:
		default:
		}
	}()
	var items []Item
	for _, r := range o.rows {
		if len(items) == limit {
			break
		}
		if r.sentAt.IsZero() && !r.gaveUp && !r.dueAt.After(now) && !r.leasedUntil.After(now) {
			r.leasedUntil = now.Add(testLease)
			items = append(items, r.item)
		}
	}
	return items, nil
}

func (o *fakeOutbox) MarkMailSent(ctx context.Context, id int64, now time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, r := range o.rows {
		if r.item.ID == id {
			r.sentAt = now
			return nil
		}
	}
	return errors.New("no such row")
}

func (o *fakeOutbox) MarkMailFailed(ctx context.Context, id int64, now, retryAt time.Time, reason string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, r := range o.rows {
		if r.item.ID == id {
			r.item.Attempts++
			r.reasons = append(r.reasons, reason)
			r.retryAts = append(r.retryAts, retryAt)
			r.leasedUntil = time.Time{}
			if retryAt.IsZero() {
				r.gaveUp = true
			} else {
				r.dueAt = retryAt
			}
			return nil
		}
	}
	return errors.New("no such row")
}

// fakeComposer renders an approval-style mail with a fresh token each time.
type fakeComposer struct {
	mu     sync.Mutex
	tokens []string
}

func (c *fakeComposer) Compose(ctx context.Context, it Item) (Message, error) {
	switch it.Kind {
	case "broken":
		return Message{}, errors.New("template exploded")
	case "closed":
		return Message{}, fmt.Errorf("request %s no longer pending: %w", it.RequestID, ErrPermanent)
	}
	c.mu.Lock()
	token := fmt.Sprintf("tok%dx%d", it.ID, len(c.tokens))
	c.tokens = append(c.tokens, token)
	c.mu.Unlock()
	link := "https://tapdesk.contoso.example/approve/" + token
	return Message{
		To:      []string{it.To},
		Subject: "Approval needed – request " + it.RequestID,
		Text:    "Please review: " + link + "\n",
		HTML:    `<p><a href="` + link + `">Review</a></p>`,
	}, nil
}

// swapSender forwards to a sender that the test can replace, standing in
// for an SMTP relay that comes back at a new address.
type swapSender struct {
	mu sync.Mutex
	s  Sender
}

func (s *swapSender) set(to Sender) { s.mu.Lock(); s.s = to; s.mu.Unlock() }

func (s *swapSender) Send(ctx context.Context, m Message) error {
	s.mu.Lock()
	to := s.s
	s.mu.Unlock()
	return to.Send(ctx, m)
}

type senderFunc func(context.Context, Message) error

func (f senderFunc) Send(ctx context.Context, m Message) error { return f(ctx, m) }

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// syncBuffer is a log sink safe for the worker's goroutine and the test's.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

type workerEnv struct {
	outbox   *fakeOutbox
	composer *fakeComposer
	sender   *swapSender
	clock    *testClock
	logs     *syncBuffer
	worker   *Worker
}

const testBackoff = time.Minute

func newWorkerEnv(t *testing.T, sender Sender, opts WorkerOptions) *workerEnv {
	t.Helper()
	e := &workerEnv{
		outbox:   newFakeOutbox(),
		composer: &fakeComposer{},
		sender:   &swapSender{s: sender},
		clock:    &testClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)},
		logs:     &syncBuffer{},
	}
	opts.Now = e.clock.now
	opts.Logger = slog.New(slog.NewTextHandler(e.logs, nil))
	if opts.Backoff == nil {
		opts.Backoff = func(int) time.Duration { return testBackoff }
	}
	e.worker = NewWorker(e.outbox, e.composer, e.sender, opts)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("worker log:\n%s", e.logs.String())
		}
	})
	return e
}

func (e *workerEnv) runOnce(t *testing.T, wantSent, wantFailed int) {
	t.Helper()
	sent, failed, err := e.worker.RunOnce(t.Context())
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	if sent != wantSent || failed != wantFailed {
		t.Fatalf("RunOnce sent %d failed %d, want %d and %d", sent, failed, wantSent, wantFailed)
	}
}

// deadSender is an SMTPSender for a port nothing listens on.
func deadSender(t *testing.T) *SMTPSender {
	t.Helper()
	s, err := NewSMTPSender(SMTPConfig{Host: "127.0.0.1", Port: freePort(t), TLS: TLSNone,
		From: "tapdesk@contoso.example", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestWorker(t *testing.T) {
	t.Run("sends due items and marks them sent", func(t *testing.T) {
		c := startCapture(t)
		e := newWorkerEnv(t, captureSender(t, c), WorkerOptions{})
		now := e.clock.now()
		id1 := e.outbox.add("approval_request", "req-1", "ann@contoso.example", now)
		id2 := e.outbox.add("approval_request", "req-1", "ben@fabrikam.example", now)
		e.outbox.add("approval_request", "req-2", "later@contoso.example", now.Add(time.Hour)) // not due

		e.runOnce(t, 2, 0)
		msgs, err := c.Wait(waitCtx(t), 2)
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
		for i, m := range msgs {
			link := "https://tapdesk.contoso.example/approve/" + e.composer.tokens[i]
			if !strings.Contains(m.Text, link) || !strings.Contains(m.HTML, link) {
				t.Errorf("message %d lacks %s:\n%s", i, link, m.Text)
			}
		}
		for _, id := range []int64{id1, id2} {
			if r := e.outbox.row(id); !r.sentAt.Equal(now) {
				t.Errorf("row %d sentAt = %s, want %s", id, r.sentAt, now)
			}
		}
		e.runOnce(t, 0, 0) // nothing sent twice

		// Logs name the domain and the request, never the address or link.
		logs := e.logs.String()
		for _, secret := range append([]string{"ann@", "ben@", "approve/"}, e.composer.tokens...) {
			if strings.Contains(logs, secret) {
				t.Errorf("log contains %q:\n%s", secret, logs)
			}
		}
		for _, want := range []string{"to_domain=fabrikam.example", "request_id=req-1", "result=sent"} {
			if !strings.Contains(logs, want) {
				t.Errorf("log lacks %q:\n%s", want, logs)
			}
		}
	})

	t.Run("SMTP down then back", func(t *testing.T) {
		e := newWorkerEnv(t, deadSender(t), WorkerOptions{})
		id := e.outbox.add("approval_request", "req-1", "ann@contoso.example", e.clock.now())

		e.runOnce(t, 0, 1)
		r := e.outbox.row(id)
		if r.item.Attempts != 1 || !r.dueAt.Equal(e.clock.now().Add(testBackoff)) || r.gaveUp {
			t.Fatalf("after a failure: attempts %d, due %s, gave up %v", r.item.Attempts, r.dueAt, r.gaveUp)
		}
		if strings.Contains(r.reasons[0], "ann@") {
			t.Errorf("reason names the recipient: %q", r.reasons[0])
		}
		e.runOnce(t, 0, 0) // not due before the backoff

		c := startCapture(t)
		e.sender.set(captureSender(t, c))
		e.clock.advance(testBackoff)
		e.runOnce(t, 1, 0)
		msgs, err := c.Wait(waitCtx(t), 1)
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
		if msgs[0].To[0] != "ann@contoso.example" {
			t.Errorf("delivered to %q", msgs[0].To)
		}
		if e.outbox.row(id).sentAt.IsZero() {
			t.Error("row not marked sent")
		}
	})

	t.Run("gives up after MaxAttempts", func(t *testing.T) {
		e := newWorkerEnv(t, deadSender(t), WorkerOptions{MaxAttempts: 3})
		id := e.outbox.add("approval_request", "req-1", "ann@contoso.example", e.clock.now())
		for range 3 {
			e.runOnce(t, 0, 1)
			e.clock.advance(testBackoff)
		}
		r := e.outbox.row(id)
		if !r.gaveUp || r.item.Attempts != 3 {
			t.Fatalf("gave up %v after %d attempts, want true after 3", r.gaveUp, r.item.Attempts)
		}
		if r.retryAts[0].IsZero() || r.retryAts[1].IsZero() || !r.retryAts[2].IsZero() {
			t.Errorf("retryAts %v, want two times then zero", r.retryAts)
		}
		e.clock.advance(24 * time.Hour)
		e.runOnce(t, 0, 0)
		if !strings.Contains(e.logs.String(), "result=gave_up") {
			t.Errorf("log lacks the give-up:\n%s", e.logs.String())
		}
	})

	t.Run("compose error retries", func(t *testing.T) {
		c := startCapture(t)
		e := newWorkerEnv(t, captureSender(t, c), WorkerOptions{})
		id := e.outbox.add("broken", "req-1", "ann@contoso.example", e.clock.now())
		e.runOnce(t, 0, 1)
		r := e.outbox.row(id)
		if r.gaveUp || !strings.Contains(r.reasons[0], "template exploded") {
			t.Errorf("gave up %v, reasons %q", r.gaveUp, r.reasons)
		}
	})

	t.Run("permanent error gives up at once", func(t *testing.T) {
		c := startCapture(t)
		e := newWorkerEnv(t, captureSender(t, c), WorkerOptions{})
		id := e.outbox.add("closed", "req-1", "ann@contoso.example", e.clock.now())
		e.runOnce(t, 0, 1)
		if r := e.outbox.row(id); !r.gaveUp || r.item.Attempts != 1 {
			t.Errorf("gave up %v after %d attempts", r.gaveUp, r.item.Attempts)
		}
	})

	t.Run("Kick wakes Run", func(t *testing.T) {
		c := startCapture(t)
		e := newWorkerEnv(t, captureSender(t, c), WorkerOptions{Interval: time.Hour})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- e.worker.Run(ctx) }()

		<-e.outbox.polled // the first, empty poll; the next is an hour away
		e.outbox.add("approval_request", "req-1", "ann@contoso.example", e.clock.now())
		e.worker.Kick()
		e.worker.Kick() // a second kick must not block
		wctx, wcancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer wcancel()
		if _, err := c.Wait(wctx, 1); err != nil {
			t.Fatalf("no mail after Kick: %v", err)
		}

		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil at shutdown", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	})

	t.Run("Run drains a backlog larger than a batch", func(t *testing.T) {
		c := startCapture(t)
		e := newWorkerEnv(t, captureSender(t, c), WorkerOptions{Interval: time.Hour, Batch: 2})
		for i := range 5 {
			e.outbox.add("approval_request", fmt.Sprintf("req-%d", i), "ann@contoso.example", e.clock.now())
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go e.worker.Run(ctx)
		if _, err := c.Wait(waitCtx(t), 5); err != nil {
			t.Fatalf("backlog not drained without waiting for the poll: %v", err)
		}
	})

	t.Run("a cancelled attempt is not counted", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		e := newWorkerEnv(t, senderFunc(func(context.Context, Message) error {
			cancel() // shutdown while the relay is talking
			return errors.New("connection reset")
		}), WorkerOptions{})
		id := e.outbox.add("approval_request", "req-1", "ann@contoso.example", e.clock.now())
		sent, failed, err := e.worker.RunOnce(ctx)
		if !errors.Is(err, context.Canceled) || sent != 0 || failed != 0 {
			t.Errorf("RunOnce = %d, %d, %v; want 0, 0, canceled", sent, failed, err)
		}
		if r := e.outbox.row(id); r.item.Attempts != 0 {
			t.Errorf("attempts = %d, want 0", r.item.Attempts)
		}
	})
}

func TestDefaultBackoff(t *testing.T) {
	for attempt, want := range map[int]time.Duration{
		0: 30 * time.Second, 1: 30 * time.Second, 2: time.Minute, 3: 2 * time.Minute,
		7: 32 * time.Minute, 8: time.Hour, 60: time.Hour,
	} {
		for range 20 {
			got := DefaultBackoff(attempt)
			if got > want || got < want*8/10 {
				t.Errorf("DefaultBackoff(%d) = %s, want within 80-100%% of %s", attempt, got, want)
			}
		}
	}
	seen := map[time.Duration]bool{}
	for range 10 {
		seen[DefaultBackoff(5)] = true
	}
	if len(seen) == 1 {
		t.Error("DefaultBackoff has no jitter")
	}
}

func TestFailureReason(t *testing.T) {
	err := errors.New("rcpt failed: 550 <ann@contoso.example> unknown,\n  affected recipient(s): ann@contoso.example " + strings.Repeat("ü", 400))
	got := failureReason(err, "ann@contoso.example")
	if strings.Contains(got, "ann@") || strings.Contains(got, "\n") {
		t.Errorf("reason %q names the recipient or spans lines", got)
	}
	if !strings.HasPrefix(got, "rcpt failed: 550 <…@contoso.example> unknown,") || len(got) > maxReasonLen+len("…") {
		t.Errorf("reason = %q (%d bytes)", got, len(got))
	}
	if !strings.HasSuffix(got, "ü…") {
		t.Errorf("reason cut inside a character: %q", got[len(got)-8:])
	}
}
