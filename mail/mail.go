// Package mail sends tapdesk's email: an SMTP sender on go-mail, an outbox
// worker that delivers queued mail with retries, and a loopback SMTP capture
// server that the demo mailbox and the tests read from.
//
// Mail is never sent inside a web request. A handler writes an outbox row in
// the same transaction as the state change it reports, so a request is not
// lost when SMTP is down, and the worker delivers it later. The row holds no
// body: approval mails carry a single-use link token that is stored only as a
// hash, so a Composer renders the message (and mints the token) at send time.
//
// Message bodies hold such links, so nothing in this package logs a body or a
// full recipient address.
package mail

import (
	"context"
	"errors"
	"time"
)

// Message is a composed email.
type Message struct {
	// Key names this message stably across attempts (the worker sets it
	// from the outbox row). Senders derive the Message-ID from it, so a mail
	// sent again after a crash between the relay's acceptance and tapdesk's
	// record of it carries the same Message-ID, and mail systems drop the
	// copy instead of delivering it twice.
	Key     string
	To      []string
	Subject string
	Text    string // plain text body
	HTML    string // optional HTML alternative
}

// Sender delivers one composed message.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// BatchSender is a Sender that can deliver several messages over one
// connection; the worker sends each claimed batch that way. errs[i] is
// ms[i]'s outcome, as Send would give it.
type BatchSender interface {
	Sender
	SendBatch(ctx context.Context, ms []Message) (errs []error)
}

// Item is one outbox row as the worker sees it.
type Item struct {
	ID        int64
	Kind      string // e.g. "approval_request", "request_decided"
	RequestID string
	To        string // one recipient per row
	Attempts  int    // failed attempts so far; the store counts them in MarkMailFailed
	CreatedAt time.Time
}

// Outbox is the store side of the worker.
type Outbox interface {
	// DueMail claims up to limit items whose next attempt is due at now
	// (claiming must be safe with two workers: a lease/conditional update).
	DueMail(ctx context.Context, now time.Time, limit int) ([]Item, error)
	MarkMailSent(ctx context.Context, id int64, now time.Time) error
	// MarkMailFailed records a failed attempt; retryAt zero means give up.
	MarkMailFailed(ctx context.Context, id int64, now, retryAt time.Time, reason string) error
}

// BatchOutbox is an Outbox that records the messages of a batch that went
// out in one write instead of one per message.
type BatchOutbox interface {
	Outbox
	MarkMailsSent(ctx context.Context, ids []int64, now time.Time) error
}

// Composer turns an outbox item into a message (minting link tokens etc.).
type Composer interface {
	Compose(ctx context.Context, it Item) (Message, error)
}

// BatchComposer is a Composer that composes a claimed batch at once (each
// request read once, the batch's links stored in one write); errs[i] is
// items[i]'s error, ms[i] its message when errs[i] is nil.
type BatchComposer interface {
	Composer
	ComposeBatch(ctx context.Context, items []Item) (ms []Message, errs []error)
}

// ErrPermanent marks a failure that retrying cannot fix: the server refused
// the recipient for good, or a Composer finds there is nothing to send any
// more. The worker gives such an item up at once instead of retrying it for
// hours. Wrap it: fmt.Errorf("request %s is closed: %w", id, mail.ErrPermanent).
var ErrPermanent = errors.New("permanent mail failure")
