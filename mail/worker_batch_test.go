package mail

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// batchOutbox is a fakeOutbox that also records a batch's sent mail in one
// call, and counts those calls.
type batchOutbox struct {
	*fakeOutbox
	mu      sync.Mutex
	batches [][]int64
}

func (o *batchOutbox) MarkMailsSent(ctx context.Context, ids []int64, now time.Time) error {
	o.mu.Lock()
	o.batches = append(o.batches, append([]int64(nil), ids...))
	o.mu.Unlock()
	for _, id := range ids {
		if err := o.fakeOutbox.MarkMailSent(ctx, id, now); err != nil {
			return err
		}
	}
	return nil
}

// countingProxy forwards TCP connections to addr and counts them.
func countingProxy(t *testing.T, addr string) (host string, port int, conns *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns = &atomic.Int64{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { io.Copy(up, c); up.Close() }()
				io.Copy(c, up)
			}()
		}
	}()
	a := ln.Addr().(*net.TCPAddr)
	return a.IP.String(), a.Port, conns
}

// A claimed batch goes out over one SMTP connection and is recorded as sent
// in one write; before, each message had its own connection and its own
// write.
func TestWorkerSendsABatchOverOneConnection(t *testing.T) {
	c := startCapture(t)
	host, port, conns := countingProxy(t, c.Addr())
	sender, err := NewSMTPSender(SMTPConfig{Host: host, Port: port, TLS: TLSNone,
		From: "tapdesk <tapdesk@contoso.example>", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	outbox := &batchOutbox{fakeOutbox: newFakeOutbox()}
	w := NewWorker(outbox, &fakeComposer{}, sender, WorkerOptions{Now: clock.now})
	var ids []int64
	for _, to := range []string{"ann@contoso.example", "ben@contoso.example", "cy@contoso.example"} {
		ids = append(ids, outbox.add("approval_request", "req-1", to, clock.now()))
	}
	broken := outbox.add("broken", "req-1", "dee@contoso.example", clock.now())

	sent, failed, err := w.RunOnce(t.Context())
	if err != nil || sent != 3 || failed != 1 {
		t.Fatalf("RunOnce = %d sent, %d failed, %v; want 3, 1, nil", sent, failed, err)
	}
	msgs, err := c.Wait(waitCtx(t), 3)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, m := range msgs {
		got[m.To[0]] = true
	}
	if len(got) != 3 || !got["ann@contoso.example"] || !got["cy@contoso.example"] {
		t.Errorf("delivered to %v", got)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("the batch of three opened %d SMTP connections, want 1", n)
	}
	if len(outbox.batches) != 1 || len(outbox.batches[0]) != 3 {
		t.Errorf("sent mail recorded in %v, want one write of the three", outbox.batches)
	}
	for _, id := range ids {
		if outbox.row(id).sentAt.IsZero() {
			t.Errorf("row %d not marked sent", id)
		}
	}
	if r := outbox.row(broken); r.item.Attempts != 1 || r.gaveUp || !strings.Contains(r.reasons[0], "template exploded") {
		t.Errorf("the message that did not compose: attempts %d, gave up %v, reasons %q", r.item.Attempts, r.gaveUp, r.reasons)
	}
}

// A refused recipient fails alone: the rest of the batch on the same
// connection still goes out, and a relay that is down fails every message
// of the batch for a retry.
func TestSMTPSenderSendBatch(t *testing.T) {
	c := startCapture(t)
	s := captureSender(t, c)
	errs := s.SendBatch(waitCtx(t), []Message{
		{To: []string{"ann@contoso.example"}, Subject: "one", Text: "first"},
		{To: []string{"not an address"}, Subject: "two", Text: "second"},
		{To: []string{"ben@contoso.example"}, Subject: "three", Text: "third"},
	})
	if errs[0] != nil || errs[2] != nil || !errors.Is(errs[1], ErrPermanent) {
		t.Fatalf("SendBatch = %v; want the bad address alone refused for good", errs)
	}
	if msgs, err := c.Wait(waitCtx(t), 2); err != nil || msgs[0].Subject != "one" || msgs[1].Subject != "three" {
		t.Fatalf("captured %v, %v", msgs, err)
	}

	dead := deadSender(t)
	errs = dead.SendBatch(waitCtx(t), []Message{
		{To: []string{"ann@contoso.example"}, Subject: "one", Text: "first"},
		{To: []string{"ben@contoso.example"}, Subject: "two", Text: "second"},
	})
	for i, err := range errs {
		if err == nil || errors.Is(err, ErrPermanent) {
			t.Errorf("message %d to a relay that is down: %v, want a failure to retry", i, err)
		}
	}
}

// A kick claims after KickDelay, not at once: the handler that kicked has
// its session to save and its page to send first.
func TestKickWaitsItsDelay(t *testing.T) {
	e := newWorkerEnv(t, senderFunc(func(context.Context, Message) error { return nil }), WorkerOptions{Interval: time.Hour, KickDelay: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.worker.Run(ctx) }()
	<-e.outbox.polled // the first, empty poll
	e.outbox.add("approval_request", "req-1", "ann@contoso.example", e.clock.now())
	e.worker.Kick()
	select {
	case <-e.outbox.polled:
		t.Error("a kick claimed before its delay")
	case <-time.After(300 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil at shutdown during the delay", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return when stopped during a kick's delay")
	}
}
