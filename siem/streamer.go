package siem

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tapdesk/tapdesk/metrics"
)

// Defaults of Options.
const (
	DefaultInterval      = 2 * time.Second
	DefaultBatch         = 100
	DefaultMaxBatchBytes = 512 << 10 // Sentinel takes at most 1 MB a call
	DefaultLease         = time.Minute
	DefaultMinBackoff    = time.Second
	DefaultMaxBackoff    = 5 * time.Minute
	// storeTimeout bounds recording an acknowledgement: it runs on a
	// context detached from shutdown's, so a batch acknowledged as
	// tapdesk stops is recorded and not sent again.
	storeTimeout = 10 * time.Second
)

// Options tune a Streamer. Zero values mean the defaults.
type Options struct {
	// Interval is how often an idle sink looks for new events (Kick wakes
	// it at once), and how often a sink another instance holds asks again.
	Interval time.Duration
	// Batch bounds the events in one send; MaxBatchBytes their JSON's
	// size (a batch always holds at least one event).
	Batch         int
	MaxBatchBytes int
	// Lease is how long a sink's lease lasts without renewal; it must
	// outlast one send (the sinks time out after SendTimeout).
	Lease time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failed send: it
	// doubles from MinBackoff with each failure in a row, up to MaxBackoff,
	// with jitter.
	MinBackoff, MaxBackoff time.Duration
	Now                    func() time.Time // the app's clock; time.Now
	Logger                 *slog.Logger
	Metrics                *metrics.SIEM
}

// Streamer delivers the audit trail to its sinks, one goroutine per sink.
type Streamer struct {
	store  Store
	sinks  []Sink
	opts   Options
	holder string
	kick   []chan struct{}
	state  []sinkState
	mu     sync.Mutex
}

// sinkState is what /readyz says of a sink.
type sinkState struct {
	standby      bool // another instance holds the lease
	cursor       int64
	lastSent     time.Time
	failingSince time.Time
	failures     int
	lastErr      string
	retryAt      time.Time
	// trailCut says the audit trail was cut below the cursor (it stays
	// until restart: someone altered the trail).
	trailCut string
}

// NewStreamer returns a streamer for sinks; Run starts it.
func NewStreamer(store Store, sinks []Sink, opts Options) *Streamer {
	opts.Interval = cmp.Or(opts.Interval, DefaultInterval)
	opts.Batch = cmp.Or(opts.Batch, DefaultBatch)
	opts.MaxBatchBytes = cmp.Or(opts.MaxBatchBytes, DefaultMaxBatchBytes)
	opts.Lease = cmp.Or(opts.Lease, DefaultLease)
	opts.MinBackoff = cmp.Or(opts.MinBackoff, DefaultMinBackoff)
	opts.MaxBackoff = max(cmp.Or(opts.MaxBackoff, DefaultMaxBackoff), opts.MinBackoff)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Streamer{store: store, sinks: sinks, opts: opts, holder: newHolder(),
		kick: make([]chan struct{}, len(sinks)), state: make([]sinkState, len(sinks))}
	for i := range sinks {
		s.kick[i] = make(chan struct{}, 1)
	}
	return s
}

// newHolder names this process in the lease rows: the host, for people
// reading the table, and random bytes, for two processes on one host.
func newHolder() string {
	host, _ := os.Hostname()
	b := make([]byte, 6)
	rand.Read(b)
	return cmp.Or(host, "tapdesk") + "-" + hex.EncodeToString(b)
}

// Sinks are the streamer's sinks.
func (s *Streamer) Sinks() []Sink { return s.sinks }

// Kick wakes idle sinks at once: an event was just committed. It never
// blocks.
func (s *Streamer) Kick() {
	for _, k := range s.kick {
		select {
		case k <- struct{}{}:
		default:
		}
	}
}

// Run delivers until ctx ends, then gives up its leases and closes the
// sinks. Events sent but not yet acknowledged at that moment are sent
// again by whoever takes the sink next.
func (s *Streamer) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range s.sinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.runSink(ctx, i)
		}()
	}
	wg.Wait()
}

func (s *Streamer) runSink(ctx context.Context, i int) {
	sink := s.sinks[i]
	log := s.opts.Logger.With("sink", sink.Name(), "target", sink.Target())
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		defer cancel()
		if err := s.store.ReleaseSIEMLease(rctx, sink.Name(), s.holder); err != nil {
			log.Warn("siem: giving up the lease at shutdown", "err", err)
		}
		sink.Close()
	}()
	failures := 0
	var l lease
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		kick := s.kick[i]
		if failures > 0 {
			kick = nil // backing off: new events do not cut the wait short
		}
		select {
		case <-ctx.Done():
			return false
		case <-kick:
		case <-t.C:
		}
		return true
	}
	for ctx.Err() == nil {
		next, err := s.round(ctx, i, &l, &failures, log)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			log.Error("siem: the database", "err", err)
			next = s.opts.Interval
		}
		if next > 0 && !wait(next) {
			return
		}
	}
}

// lease is what a sink's goroutine knows of its lease: held until until,
// and while held, the cursor is its own to move.
type lease struct {
	until  time.Time
	cursor int64
}

// round takes the lease, sends one batch and records the outcome. It
// returns how long to wait before the next round (0: go on at once).
func (s *Streamer) round(ctx context.Context, i int, l *lease, failures *int, log *slog.Logger) (time.Duration, error) {
	sink := s.sinks[i]
	now := s.opts.Now()
	// Renew the lease once half of it has gone, not every round: a busy
	// trail then costs one write per batch (the cursor), not two.
	if now.After(l.until.Add(-s.opts.Lease / 2)) {
		cursor, held, err := s.store.TakeSIEMLease(ctx, sink.Name(), s.holder, now, now.Add(s.opts.Lease))
		if err != nil {
			l.until = time.Time{}
			return 0, err
		}
		if !held {
			l.until = time.Time{}
			s.note(i, func(st *sinkState) { st.standby = true })
			return s.opts.Interval, nil
		}
		l.until, l.cursor = now.Add(s.opts.Lease), cursor
	}
	cursor := l.cursor
	// A cursor the trail no longer reaches (someone cut its tail; new
	// events reuse the seqs) would read nothing until the trail grew past
	// it, and never send the events that reuse those seqs.
	head, intact, err := s.store.CheckSIEMCursor(ctx, sink.Name(), cursor)
	if err != nil {
		return 0, err
	}
	if !intact {
		log.Error("siem: the audit trail no longer reaches this sink's cursor: it was cut; resuming from its head",
			"seq", cursor, "head", head)
		resumed, err := s.store.ResumeSIEMCursor(ctx, sink.Name(), s.holder, cursor, now)
		if errors.Is(err, ErrLeaseLost) {
			l.until = time.Time{}
			return s.opts.Interval, nil
		}
		if err != nil {
			return 0, err
		}
		msg := fmt.Sprintf("the audit trail was cut below seq %d (found at %s); resumed from seq %d",
			cursor, now.UTC().Format(time.RFC3339), resumed)
		s.note(i, func(st *sinkState) { st.trailCut = msg })
		l.cursor, cursor = resumed, resumed
	}
	events, err := s.store.SIEMEvents(ctx, cursor, s.opts.Batch)
	if err != nil {
		return 0, err
	}
	s.note(i, func(st *sinkState) { st.standby, st.cursor = false, cursor })
	if len(events) == 0 {
		return s.opts.Interval, nil
	}
	read := len(events)
	events = boundBytes(events, s.opts.MaxBatchBytes)
	sendErr := sink.Send(ctx, events)
	if ctx.Err() != nil {
		return 0, nil // shutdown: not the receiver's fault; the next holder sends again
	}
	now = s.opts.Now()
	if sendErr != nil {
		*failures++
		s.opts.Metrics.Failed(sink.Name())
		wait := Backoff(*failures, s.opts.MinBackoff, s.opts.MaxBackoff)
		reason := oneLine(sendErr)
		s.note(i, func(st *sinkState) {
			if st.failures == 0 {
				st.failingSince = now
			}
			st.failures, st.lastErr, st.retryAt = *failures, reason, now.Add(wait)
		})
		log.Warn("siem: send failed; will retry", "from_seq", events[0].Seq, "to_seq", events[len(events)-1].Seq,
			"attempt", *failures, "retry_in", wait.String(), "err", reason)
		// Keep the lease through the wait, so another instance does not
		// cut the backoff short.
		if _, held, err := s.store.TakeSIEMLease(ctx, sink.Name(), s.holder, now, now.Add(wait+s.opts.Lease)); err != nil || !held {
			l.until = time.Time{} // take it again next round
			if err != nil && ctx.Err() == nil {
				log.Warn("siem: renewing the lease", "err", err)
			}
		} else {
			l.until = now.Add(wait + s.opts.Lease)
		}
		return wait, nil
	}
	last := events[len(events)-1].Seq
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := s.store.AdvanceSIEMCursor(actx, sink.Name(), s.holder, cursor, last, now); err != nil {
		l.until = time.Time{}
		if errors.Is(err, ErrLeaseLost) {
			log.Warn("siem: another instance took this sink over, or its cursor was moved; reading it again", "to_seq", last)
			return s.opts.Interval, nil
		}
		return 0, err
	}
	if *failures > 0 {
		log.Info("siem: delivering again", "after_failures", *failures)
	}
	*failures = 0
	l.cursor = last
	s.opts.Metrics.Sent(sink.Name(), len(events))
	s.note(i, func(st *sinkState) {
		st.cursor, st.lastSent, st.failures, st.lastErr, st.failingSince, st.retryAt = last, now, 0, "", time.Time{}, time.Time{}
	})
	log.Debug("siem: sent", "from_seq", events[0].Seq, "to_seq", last, "events", len(events))
	if read == s.opts.Batch || len(events) < read {
		return 0, nil // a full (or byte-bounded) batch: there may be more
	}
	return s.opts.Interval, nil
}

func (s *Streamer) note(i int, f func(*sinkState)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.state[i])
}

// boundBytes cuts events to at most limit bytes of JSON, keeping at
// least one.
func boundBytes(events []Event, limit int) []Event {
	size := 0
	for n, ev := range events {
		size += len(ev.JSON) + 1
		if size > limit && n > 0 {
			return events[:n:n]
		}
	}
	return events
}

// Backoff is the wait after the nth failure in a row: min doubled n-1
// times, at most max, less up to half of it at random ("equal jitter"), so
// the instances and sinks that failed together do not retry together,
// while the wait still grows.
func Backoff(n int, min, max time.Duration) time.Duration {
	d := max
	if n < 1 {
		n = 1
	}
	if n <= 32 && min<<(n-1) > 0 && min<<(n-1) < max {
		d = min << (n - 1)
	}
	return d - mathrand.N(d/2+1)
}

// oneLine is err as one short line.
func oneLine(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// Status says, in one line, how a sink is doing, for /readyz. A failing
// sink does not make tapdesk unready: the portal works without its SIEM,
// and the events wait in the trail.
func (s *Streamer) Status(i int) string {
	s.mu.Lock()
	st := s.state[i]
	s.mu.Unlock()
	now := s.opts.Now()
	cut := ""
	if st.trailCut != "" {
		cut = "failing: " + st.trailCut + "; "
	}
	return cut + st.status(now)
}

func (st sinkState) status(now time.Time) string {
	switch {
	case st.standby:
		return "another instance delivers to this sink"
	case st.failures > 0:
		return fmt.Sprintf("failing since %s (%d attempts): %s; retrying in %s; delivered up to seq %d",
			st.failingSince.UTC().Format(time.RFC3339), st.failures, st.lastErr, max(0, st.retryAt.Sub(now)).Round(time.Second), st.cursor)
	case st.lastSent.IsZero():
		return fmt.Sprintf("delivered up to seq %d", st.cursor)
	default:
		return fmt.Sprintf("delivered up to seq %d, last at %s", st.cursor, st.lastSent.UTC().Format(time.RFC3339))
	}
}
