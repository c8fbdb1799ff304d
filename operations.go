package tapdesk

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// HeaderXRequestID carries a request's id: a trusted proxy may set it, and
// tapdesk answers with the id it used, so a support call and the proxy's
// log find the same line.
const HeaderXRequestID = "X-Request-Id"

// MaxRequestIDLength bounds an id taken from a proxy. Proxies use UUIDs (36)
// or 32 hex characters; 128 leaves room for a prefix without letting a
// header fill log lines and audit events.
const MaxRequestIDLength = 128

// ParseRequestID reads the X-Request-Id a trusted proxy sent. It accepts
// only a bounded run of characters that are safe in a log line, a CSV cell
// and a header without quoting: letters, digits and - _ . : / + = @. An id
// that is anything else is refused whole (never trimmed or cleaned), so a
// forged line break or escape never reaches a log.
func ParseRequestID(s string) (string, bool) {
	if s == "" || len(s) > MaxRequestIDLength {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if !requestIDChar(s[i]) {
			return "", false
		}
	}
	return s, true
}

func requestIDChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-_.:/+=@", c) >= 0
}

// RequestScope is what one web request carries through its context, in a
// single value made when the request comes in: its id, which the audit
// events it writes record, and what it adds up as it is served, the time
// it waited on Graph with its exchanges (entra, through metrics) and its
// turns to write the database (store), which Server-Timing reports.
type RequestScope struct {
	ID string

	graphCalls, writeTurns atomic.Int64

	graphMu    sync.Mutex
	graphOpen  int           // waits on Graph going on now
	graphSince time.Time     // when the waits going on now began
	graphLast  time.Time     // the latest time marked
	graphTotal time.Duration // time with at least one wait going on, until graphSince
}

// graphStamp is now, or the latest time marked if that is later: times
// are read before the lock is taken, so a wait's beginning may come in
// after another's end it preceded. s.graphMu is held.
func (s *RequestScope) graphStamp(now time.Time) time.Time {
	if now.Before(s.graphLast) {
		return s.graphLast
	}
	s.graphLast = now
	return now
}

// GraphBegin marks the start of a wait on Graph at now: an HTTP exchange,
// or a pause before a retry. GraphEnd marks its end; call says it was an
// exchange.
func (s *RequestScope) GraphBegin(now time.Time) {
	s.graphMu.Lock()
	now = s.graphStamp(now)
	if s.graphOpen == 0 {
		s.graphSince = now
	}
	s.graphOpen++
	s.graphMu.Unlock()
}

// GraphEnd marks the end of a wait GraphBegin began.
func (s *RequestScope) GraphEnd(now time.Time, call bool) {
	s.graphMu.Lock()
	now = s.graphStamp(now)
	if s.graphOpen--; s.graphOpen == 0 {
		s.graphTotal += now.Sub(s.graphSince)
	}
	s.graphMu.Unlock()
	if call {
		s.graphCalls.Add(1)
	}
}

// GraphTime is the time during which the request waited on Graph so far.
// Waits that overlap (reads made at once) count once, so the wall time
// less it is the time tapdesk itself kept the person waiting.
func (s *RequestScope) GraphTime() time.Duration {
	s.graphMu.Lock()
	defer s.graphMu.Unlock()
	t := s.graphTotal
	if s.graphOpen > 0 {
		t += time.Since(s.graphSince)
	}
	return t
}

// GraphCalls is the number of HTTP exchanges with Graph or its token
// authority so far.
func (s *RequestScope) GraphCalls() int64 { return s.graphCalls.Load() }

// AddWriteTurn counts one turn to write (a write transaction, a session
// save, an outbox claim).
func (s *RequestScope) AddWriteTurn() { s.writeTurns.Add(1) }

// WriteTurns is the number of turns to write taken so far.
func (s *RequestScope) WriteTurns() int64 { return s.writeTurns.Load() }

// requestScopeKey is the context key of the scope of the request being served.
type requestScopeKey struct{}

// WithRequestScope returns ctx carrying s.
func WithRequestScope(ctx context.Context, s *RequestScope) context.Context {
	return context.WithValue(ctx, requestScopeKey{}, s)
}

// IsRequestScopeKey says whether key is the one RequestScopeFrom looks
// up: a context type of its own that holds a scope (the web pipeline's
// request state) answers it from its Value, sparing a context made just
// to carry the scope.
func IsRequestScopeKey(key any) bool {
	_, ok := key.(requestScopeKey)
	return ok
}

// RequestScopeFrom is the scope of the web request ctx serves (nil outside
// one: the sweep, the mail worker, the command line).
func RequestScopeFrom(ctx context.Context) *RequestScope {
	s, _ := ctx.Value(requestScopeKey{}).(*RequestScope)
	return s
}

// WithRequestID returns ctx carrying the id of the web request it serves
// (in a scope of its own); the audit events written for that request
// record it.
func WithRequestID(ctx context.Context, id string) context.Context {
	return WithRequestScope(ctx, &RequestScope{ID: id})
}

// RequestIDFrom is the id of the web request ctx serves ("" outside one:
// the sweep, the mail worker, the command line).
func RequestIDFrom(ctx context.Context) string {
	if s := RequestScopeFrom(ctx); s != nil {
		return s.ID
	}
	return ""
}

// Readiness results are cached so that a load balancer probing every
// second from several nodes costs one token request and one SMTP dial per
// window, not one per probe: Entra throttles token requests, and a probe
// storm must not become one. A failure is kept shorter, so a recovered
// dependency is seen soon.
const (
	ReadyCacheOK     = 10 * time.Second
	ReadyCacheFailed = 2 * time.Second
	// ReadyCheckTimeout bounds one dependency's check, below the usual
	// probe timeouts (Kubernetes: 1s default, commonly raised to 5s+).
	ReadyCheckTimeout = 4 * time.Second
)

// Bounds of TAPDESK_SWEEP_INTERVAL: sweeping more often than every few
// seconds only loads the database and Graph (closing the loop reads every
// issued pass's user); less often than hourly leaves expired requests
// looking open and escalations late.
const (
	MinSweepInterval     = 5 * time.Second
	MaxSweepInterval     = time.Hour
	DefaultSweepInterval = time.Minute
)

// SweepIntervalProblem says what is wrong with a sweep interval ("" if
// nothing).
func SweepIntervalProblem(d time.Duration) string {
	if d < MinSweepInterval || d > MaxSweepInterval {
		return fmt.Sprintf("%s is outside %s to %s: background jobs (expiry, escalation, closing the loop) run at this pace",
			ShortDuration(d), ShortDuration(MinSweepInterval), ShortDuration(MaxSweepInterval))
	}
	return ""
}

// DefaultShutdownGrace is how long a stopping tapdesk lets requests in
// flight finish (TAPDESK_SHUTDOWN_GRACE). An issue and reveal waits on
// Graph, whose calls are bounded at well under this; Kubernetes' default
// termination grace is 30s too, so the process is not killed first.
const DefaultShutdownGrace = 30 * time.Second

// Log formats of TAPDESK_LOG_FORMAT.
const (
	LogFormatJSON = "json"
	LogFormatText = "text"
)

// ParseLogFormat reads TAPDESK_LOG_FORMAT (empty: def).
func ParseLogFormat(s, def string) (string, error) {
	switch s = strings.ToLower(strings.TrimSpace(s)); s {
	case "":
		return def, nil
	case LogFormatJSON, LogFormatText:
		return s, nil
	}
	return "", Titledf(EINVALID, "Log format not understood", "%q is not json or text", s)
}
