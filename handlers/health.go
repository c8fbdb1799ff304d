package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/sync/singleflight"

	"github.com/tapdesk/tapdesk"
)

// healthz says the process is alive. It checks nothing else: a liveness
// probe that failed when Graph did would have the orchestrator restart
// every instance for someone else's outage.
func (h *Handler) healthz(c echo.Context) error { return c.String(http.StatusOK, "ok\n") }

// ReadyCheck is one dependency /readyz reports on besides the database.
// Check returns a short note for a dependency that is fine ("" for none),
// or why it is not; the reason is logged and shown only to a caller
// tapdesk.ReadyDetailsAllowed admits, yet checks must not put secrets in
// it.
type ReadyCheck struct {
	Name  string
	Check func(ctx context.Context) (note string, err error)
	// Degrades: a failure of this dependency shows as "degraded" and
	// leaves the instance ready. For what every instance lacks alike and
	// the portal's own work does not need (Entra's audit log for the
	// outside-pass job): failing the probe would take every instance out
	// of the load balancer, and the whole portal down, over it.
	Degrades bool
}

// schemaReporter is a store that knows its schema version and the newest
// this binary knows.
type schemaReporter interface {
	SchemaVersion(ctx context.Context) (current, known int64, err error)
}

// readyState is one dependency's state, as /readyz shows it.
type readyState struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// Degraded: not OK, yet the instance is ready (ReadyCheck.Degrades).
	Degraded bool   `json:"degraded,omitempty"`
	Detail   string `json:"detail,omitempty"`
}

// readyReport is the state of every dependency at one moment.
type readyReport struct {
	Ready     bool         `json:"ready"`
	CheckedAt time.Time    `json:"checked_at"`
	Checks    []readyState `json:"checks"`
}

// readiness checks the dependencies and keeps the answer briefly
// (keepOK, keepFailed: tapdesk.ReadyCacheOK, ReadyCacheFailed); probes arriving while a check
// runs wait for it instead of starting their own.
type readiness struct {
	checks []ReadyCheck
	log    *slog.Logger
	// keepOK and keepFailed are how long a passing and a failing answer
	// are kept.
	keepOK, keepFailed time.Duration
	flight             singleflight.Group
	mu                 sync.Mutex
	last               *readyReport
	until              time.Time
}

func (rd *readiness) report() readyReport {
	rd.mu.Lock()
	if rd.last != nil && time.Now().Before(rd.until) {
		r := *rd.last
		rd.mu.Unlock()
		return r
	}
	rd.mu.Unlock()
	v, _, _ := rd.flight.Do("ready", func() (any, error) {
		r := rd.run()
		keep := rd.keepOK
		if !r.Ready {
			keep = rd.keepFailed
		}
		rd.mu.Lock()
		rd.last, rd.until = &r, time.Now().Add(keep)
		rd.mu.Unlock()
		return r, nil
	})
	return v.(readyReport)
}

// run checks every dependency at once, each within
// tapdesk.ReadyCheckTimeout. The probe that asked may hang up; the check
// goes on for the probes waiting on it.
func (rd *readiness) run() readyReport {
	ctx, cancel := context.WithTimeout(context.Background(), tapdesk.ReadyCheckTimeout)
	defer cancel()
	r := readyReport{Ready: true, CheckedAt: time.Now().UTC(), Checks: make([]readyState, len(rd.checks))}
	var wg sync.WaitGroup
	for i, chk := range rd.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			note, err := chk.Check(ctx)
			r.Checks[i] = readyState{Name: chk.Name, OK: err == nil, Detail: note}
			switch {
			case err != nil && chk.Degrades:
				r.Checks[i].Degraded, r.Checks[i].Detail = true, readyReason(err)
				rd.log.Warn("degraded", "dependency", chk.Name, "reason", r.Checks[i].Detail)
			case err != nil:
				r.Checks[i].Detail = readyReason(err)
				rd.log.Warn("not ready", "dependency", chk.Name, "reason", r.Checks[i].Detail)
			}
		}()
	}
	wg.Wait()
	for _, s := range r.Checks {
		r.Ready = r.Ready && (s.OK || s.Degraded)
	}
	return r
}

// maxReadyReason bounds a reason on /readyz: one line someone reads.
const maxReadyReason = 200

// readyReason is a failed check's reason in one short line. A Graph
// refusal is named by its status and code (the authority's message can be
// long); anything else by its text, cut short.
func readyReason(err error) string {
	var ge *tapdesk.GraphError
	if errors.As(err, &ge) {
		s := ge.Code
		if ge.Status != 0 {
			s = fmt.Sprintf("%s (status %d)", ge.Code, ge.Status)
		}
		if ge.Message != "" {
			s += ": " + ge.Message
		}
		err = errors.New(s)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer within " + tapdesk.ReadyCheckTimeout.String()
	}
	return tapdesk.BoundText(strings.Join(strings.Fields(err.Error()), " "), maxReadyReason)
}

// databaseCheck: the database answers, and its schema is the one this
// binary knows (an older one means migrations did not run, a newer one a
// newer tapdesk migrated it).
func (h *Handler) databaseCheck(ctx context.Context) (string, error) {
	if err := h.store.Ping(ctx); err != nil {
		return "", err
	}
	sr, ok := h.store.(schemaReporter)
	if !ok {
		return "", nil
	}
	cur, known, err := sr.SchemaVersion(ctx)
	if err != nil {
		return "", err
	}
	if cur != known {
		return "", fmt.Errorf("schema %d, but this tapdesk runs on schema %d", cur, known)
	}
	return fmt.Sprintf("schema %d", cur), nil
}

// readyz lists each dependency with its state: 200 when all are fine, 503
// otherwise, as text or (Accept: application/json) as JSON. The notes and
// reasons go only to a caller tapdesk.ReadyDetailsAllowed lets see them;
// the log always has the reasons.
func (h *Handler) readyz(c echo.Context) error {
	r := h.ready.report()
	if !tapdesk.ReadyDetailsAllowed(c.Request().RemoteAddr, c.Request().Header) {
		checks := make([]readyState, len(r.Checks))
		for i, s := range r.Checks {
			checks[i] = readyState{Name: s.Name, OK: s.OK, Degraded: s.Degraded}
		}
		r.Checks = checks
	}
	status := http.StatusOK
	if !r.Ready {
		status = http.StatusServiceUnavailable
	}
	if strings.Contains(c.Request().Header.Get(echo.HeaderAccept), echo.MIMEApplicationJSON) {
		return c.JSON(status, r)
	}
	var b strings.Builder
	if r.Ready {
		b.WriteString("ready\n")
	} else {
		b.WriteString("not ready\n")
	}
	for _, s := range r.Checks {
		b.WriteString(s.Name + ": ")
		switch {
		case s.Degraded && s.Detail == "":
			b.WriteString("degraded")
		case s.Degraded:
			b.WriteString("degraded: " + s.Detail)
		case !s.OK && s.Detail == "":
			b.WriteString("failing")
		case !s.OK:
			b.WriteString("failing: " + s.Detail)
		case s.Detail != "":
			b.WriteString("ok (" + s.Detail + ")")
		default:
			b.WriteString("ok")
		}
		b.WriteByte('\n')
	}
	return c.String(status, b.String())
}
