package handlers

import (
	"context"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
)

// Limiter keeps the pace of limited actions. ratelimit.Memory counts in
// one process; store.RateLimiter counts for every instance on one database.
type Limiter interface {
	// Take spends one token of every check at now, or none: it returns the
	// first check over its limit, nil if all passed.
	Take(ctx context.Context, now time.Time, checks ...tapdesk.RateCheck) (*tapdesk.RateRefusal, error)
}

// limit holds an action to its per-person and per-address limits. It runs
// after require, so the person is known where there is one. Over a limit:
// 429 with Retry-After and a page saying when to try again. Every refusal
// goes to the refusal tally, which writes a person's first of a window and
// counts the rest (per person, not per bucket: a shared address's bucket
// refuses many people), writes the first from an address and counts the
// rest, and caps how many addresses are written on their own (an attacker
// has many keys).
func (h *Handler) limit(action tapdesk.RateAction) echo.MiddlewareFunc {
	return h.limitWhen(action, nil)
}

// limitWhen limits only the requests counts says count (nil: all).
func (h *Handler) limitWhen(action tapdesk.RateAction, counts func(echo.Context) bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if counts != nil && !counts(c) {
				return next(c)
			}
			now := h.now()
			checks := h.cfg.RateLimits.Checks(action, principal(c).ObjectID, c.RealIP())
			refused, err := h.limiter.Take(c.Request().Context(), now, checks...)
			if err != nil {
				// A limiter that cannot count must not lock everyone out.
				h.log.Error("rate limiter failed; letting the request through", "action", action, "err", err)
				return next(c)
			}
			if refused == nil {
				return next(c)
			}
			h.metrics.RateLimited(string(refused.Limit.Action), string(refused.Limit.Scope))
			sentence := refused.Sentence(now)
			h.audit(c, tapdesk.Event{Activity: tapdesk.ActRateLimited, Category: tapdesk.CatAccess, Result: tapdesk.ResultFailure,
				Reason: sentence, Details: map[string]string{"limit": refused.Limit.Name() + "=" + refused.Limit.String(),
					"key": refused.Key, "path": auditPath(c), "method": c.Request().Method,
					"retry_at": refused.RetryAt.UTC().Format(time.RFC3339)}})
			c.Response().Header().Set("Retry-After", strconv.Itoa(refused.RetryAfterSeconds(now)))
			return tapdesk.Titledf(tapdesk.ELIMITED, "Wait a moment", "%s", sentence)
		}
	}
}
