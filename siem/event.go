// Package siem streams the audit trail to a SIEM as it is written: JSON
// over HTTPS POST in batches (a webhook, Splunk HEC, Microsoft Sentinel's
// Logs Ingestion API) and syslog (RFC 5424 over TLS, RFC 5425 framing).
//
// Delivery is at least once and in order. The audit trail is itself an
// ordered, durable log whose seq commits in order (all writes take turns),
// so it serves as the outbox: each sink keeps a cursor, the last seq its
// receiver acknowledged, in the database, and moves it only after an
// acknowledgement. A crash or restart between the send and the cursor
// update sends that batch again; every event carries its seq (and mac), so
// receivers drop what they already hold. Failures are retried with
// exponential backoff and jitter, forever: nothing is dropped. On
// PostgreSQL, several instances share a sink through a lease row, taken
// with a conditional update, so one of them delivers at a time.
package siem

import (
	"context"
	"errors"
	"time"
)

// Event is one audit event as it is streamed.
type Event struct {
	Seq  int64
	Time time.Time
	// Activity, Category and Result are the event's, for the syslog
	// header and structured data.
	Activity, Category, Result string
	RequestID                  string
	// Mac and KeyID are the event's link in the audit chain: a receiver
	// can keep them to check the trail against later.
	Mac, KeyID string
	// JSON is the event as one JSON object, in the shape of `tapdesk audit
	// export --format jsonl` (Graph's directoryAudit plus seq, mac and
	// macKeyId), without a line end.
	JSON []byte
}

// Sink is where events go: Send returns nil only once the receiver has
// acknowledged every event given, in order.
type Sink interface {
	// Name is the sink's name in the cursor table, metrics and /readyz
	// ("webhook", "syslog").
	Name() string
	// Target says where it sends, for /readyz and the log (no secrets).
	Target() string
	Send(ctx context.Context, events []Event) error
	Close() error
}

// Store is the durable side of delivery: the audit trail, read after a
// cursor, and each sink's cursor and lease.
type Store interface {
	// SIEMEvents returns up to limit events after seq afterSeq, in order.
	SIEMEvents(ctx context.Context, afterSeq int64, limit int) ([]Event, error)
	// TakeSIEMLease takes or renews the sink's lease for holder until
	// until, if no one else holds it unexpired, and returns the sink's
	// cursor. held is false when another holder has it.
	TakeSIEMLease(ctx context.Context, sink, holder string, now, until time.Time) (cursor int64, held bool, err error)
	// AdvanceSIEMCursor moves the sink's cursor forward from from to to,
	// if holder still holds the lease and the cursor is still at from
	// (ErrLeaseLost otherwise).
	AdvanceSIEMCursor(ctx context.Context, sink, holder string, from, to int64, now time.Time) error
	// CheckSIEMCursor says whether the trail still holds the event at the
	// sink's cursor as it was delivered (intact), and the trail's head.
	CheckSIEMCursor(ctx context.Context, sink string, cursor int64) (head int64, intact bool, err error)
	// ResumeSIEMCursor moves a cursor the trail no longer reaches from
	// from back to the trail's head (ErrLeaseLost as AdvanceSIEMCursor),
	// and returns the head.
	ResumeSIEMCursor(ctx context.Context, sink, holder string, from int64, now time.Time) (int64, error)
	// ReleaseSIEMLease gives the lease up (at shutdown), so another
	// instance, or the next start, takes over at once.
	ReleaseSIEMLease(ctx context.Context, sink, holder string) error
	// SIEMLag says how far the sink is behind the head of the trail: the
	// number of events not yet delivered, and the time of the oldest of
	// them (zero when none).
	SIEMLag(ctx context.Context, sink string) (behind int64, oldest time.Time, err error)
}

// ErrLeaseLost says another holder took the sink's lease, or the cursor
// was moved (a replay): this one reads the lease and cursor again.
var ErrLeaseLost = errors.New("siem: another instance holds this sink's lease")
