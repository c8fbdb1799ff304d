package entra

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/tapdesk/tapdesk/metrics"
)

// Retry bounds. A person is usually waiting on a page, so tapdesk waits for
// Graph only as long as that is reasonable and otherwise says when to try
// again.
const (
	// DefaultMaxRetries is how many times one call is repeated after the first
	// attempt (Graph's SDK default, kept).
	DefaultMaxRetries = 3
	// DefaultMaxRetryWait caps one wait. A longer Retry-After ends the call
	// at once with a throttled error that carries Graph's Retry-After.
	DefaultMaxRetryWait = 30 * time.Second
	// DefaultMaxRetryTotal caps the waits of one call added together.
	DefaultMaxRetryTotal = 60 * time.Second
)

// retryTransport repeats Graph calls that Graph refused without doing them,
// honouring Retry-After. It replaces kiota's RetryHandler, which
//   - truncates fractional Retry-After values ("0.5" becomes no wait at all),
//   - reads an HTTP date only in RFC 1123 form,
//   - caps the sum of its waits only before each wait, so one long
//     Retry-After keeps a person waiting for minutes, and
//   - repeats POSTs after 503 and 504, although Graph may have done the
//     work: for a create that could issue a second pass, which silently
//     replaces the first.
//
// What it repeats: 429 for every method (throttling refuses a request
// before it runs), and 503/504 only for GET and HEAD. Anything else is the
// caller's to judge; CreateTAP checks what happened after an unclear outcome.
//
// It sits below kiota's middleware, so it resends exactly the (compressed)
// request the middleware built, and it hands each attempt its own copy of
// the body. kiota's handler rewinds the one reader it already gave net/http,
// which may still be reading it on its write goroutine after RoundTrip
// returned (Graph answers 429 before reading the body), so a retry could go
// out as "ContentLength=128 with Body length 0".
type retryTransport struct {
	next       http.RoundTripper
	maxRetries int
	maxWait    time.Duration
	maxTotal   time.Duration
	metrics    *metrics.Metrics
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		body, err = io.ReadAll(req.Body)
		req.Body.Close() // a RoundTripper must close the body it was given
		if err != nil {
			return nil, err
		}
	}
	ctx := req.Context()
	var waited time.Duration
	for attempt := 0; ; attempt++ {
		try := req.Clone(ctx)
		if body != nil {
			try.ContentLength = int64(len(body))
			try.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
			try.Body, _ = try.GetBody()
		}
		if attempt > 0 {
			// Graph and the fake read this header; kiota's handler sent it too.
			try.Header.Set("Retry-Attempt", strconv.Itoa(attempt))
		}
		countAttempt(ctx)
		resp, err := t.next.RoundTrip(try)
		if err != nil || attempt >= t.maxRetries || !retriable(req.Method, resp.StatusCode) {
			return resp, err
		}
		wait, ok := retryDelay(resp.Header.Get("Retry-After"), attempt, time.Now())
		if !ok || wait > t.maxWait || waited+wait > t.maxTotal || pastDeadline(ctx, wait) {
			// Not worth waiting for: hand back the refusal, whose Retry-After
			// tells the person when to try again.
			return resp, nil
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		// The wait counts as Graph's time, whether it ends or ctx does.
		endpoint, slept, end := pathTemplate(req.URL.EscapedPath()), time.Now(), metrics.GraphWait(ctx)
		timer := time.NewTimer(wait)
		canceled := false
		select {
		case <-ctx.Done():
			timer.Stop()
			canceled = true
		case <-timer.C:
		}
		end(false)
		t.metrics.GraphWaited(endpoint, time.Since(slept))
		if canceled {
			return nil, ctx.Err()
		}
		waited += wait
	}
}

// retriable reports whether Graph certainly did not act on a request that
// got status, or the request is safe to repeat anyway.
func retriable(method string, status int) bool {
	switch status {
	case http.StatusTooManyRequests:
		return true
	case http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return method == http.MethodGet || method == http.MethodHead
	}
	return false
}

// retryDelay is how long to wait before attempt+1: Retry-After when Graph
// sent one (seconds, fractions of seconds, or an HTTP date), otherwise an
// exponential backoff of 1, 2, 4... seconds with some jitter. ok is false
// for a header that cannot be read, which is not worth guessing about.
func retryDelay(header string, attempt int, now time.Time) (wait time.Duration, ok bool) {
	if header == "" {
		base := time.Second << min(attempt, 5)
		return base + rand.N(base/4), true
	}
	return readRetryAfter(header, now)
}

// pastDeadline reports whether waiting d would outlast ctx: then the wait
// only delays the same answer.
func pastDeadline(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return ok && time.Until(deadline) <= d
}
