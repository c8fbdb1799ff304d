package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/tapdesk/tapdesk"
)

// Graph tells its TAP refusals apart only by message text (GRAPH.md, "For
// policy failures only the message tells the cases apart"), so these
// fragments are the one place tapdesk matches on error strings.
const (
	msgPolicyDisallows = "Converged UserCredentialPolicy does not allow"
	msgLifetime        = "Invalid LifetimeInMinutes"
	msgGuest           = "external guest"
)

// graphError turns whatever the SDK returned into a *tapdesk.GraphError, or
// wraps it when it is not a refusal from Graph (a bug or a malformed answer).
//
// It must never call Error() on an *odataerrors.ODataError: that method
// dereferences the message and panics when the body has none.
func graphError(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}

	var odata *odataerrors.ODataError
	if errors.As(err, &odata) {
		ge := &tapdesk.GraphError{Status: odata.ResponseStatusCode}
		if main := odata.GetErrorEscaped(); main != nil {
			ge.Code = deref(main.GetCode())
			ge.Message = deref(main.GetMessage())
			if inner := main.GetInnerError(); inner != nil {
				ge.RequestID = deref(inner.GetRequestId())
			}
		}
		fromHeaders(ge, odata.ResponseHeaders)
		ge.Kind = kindOf(ge.Status, ge.Message)
		return ge
	}

	// No error body, or none the SDK could read.
	var api *abs.ApiError
	if errors.As(err, &api) {
		ge := &tapdesk.GraphError{Status: api.ResponseStatusCode, Message: api.Message}
		fromHeaders(ge, api.ResponseHeaders)
		ge.Kind = kindOf(ge.Status, "")
		return ge
	}

	// The token authority refused (wrong secret, unknown app) or could not
	// be reached.
	var authFailed *azidentity.AuthenticationFailedError
	if errors.As(err, &authFailed) {
		ge := &tapdesk.GraphError{Kind: tapdesk.GraphUnavailable, Code: "token_request_failed"}
		if resp := authFailed.RawResponse; resp != nil {
			ge.Status = resp.StatusCode
			ge.RequestID = resp.Header.Get("x-ms-request-id")
			ge.Code, ge.Message = authorityError(resp)
			if resp.StatusCode < 500 {
				ge.Kind = tapdesk.GraphUnauthorized
			}
		} else {
			// Without a response MSAL never reached the authority: a network
			// fault, reported as unavailable rather than as bad credentials.
			ge.Message = oneLine(authFailed.Error())
		}
		return ge
	}

	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return &tapdesk.GraphError{Kind: tapdesk.GraphUnavailable, Code: "timeout", Message: op + ": " + err.Error()}
	case errors.As(err, &netErr):
		return &tapdesk.GraphError{Kind: tapdesk.GraphUnavailable, Code: "network_error", Message: op + ": " + err.Error()}
	}

	// The SDK could not read the error body (an HTML page from a gateway, a
	// content type it has no parser for) and kept no status. The transport
	// saw the status, so the refusal is still reported as Graph's.
	if x := lastAnswer(ctx); x.status >= 400 {
		return &tapdesk.GraphError{
			Kind: kindOf(x.status, ""), Status: x.status, RequestID: x.requestID,
			RetryAfter: parseRetryAfter(x.retryAfter, time.Now()),
			Message:    "unreadable error body: " + oneLine(err.Error()),
		}
	}
	return fmt.Errorf("entra: %s: %w", op, err)
}

// emptyAnswer reports a success status without the body the call needs:
// the SDK then returns neither a result nor an error. For a create the
// outcome is unknown, as after a timeout.
func emptyAnswer(ctx context.Context, op string) error {
	a := lastAnswer(ctx)
	return &tapdesk.GraphError{
		Kind: tapdesk.GraphUnavailable, Status: a.status, RequestID: a.requestID,
		Code: "empty_response", Message: op + ": Graph answered without a body",
	}
}

// kindOf classifies a Graph refusal by status and, for 400, by message.
func kindOf(status int, message string) tapdesk.GraphErrorKind {
	switch {
	case status == http.StatusBadRequest:
		switch {
		case strings.Contains(message, msgPolicyDisallows):
			return tapdesk.GraphPolicyDisallows
		case strings.Contains(message, msgLifetime):
			return tapdesk.GraphLifetimeOutOfRange
		case strings.Contains(message, msgGuest):
			return tapdesk.GraphGuestUser
		}
		return tapdesk.GraphBadRequest
	case status == http.StatusUnauthorized:
		return tapdesk.GraphUnauthorized
	case status == http.StatusForbidden:
		return tapdesk.GraphForbidden
	case status == http.StatusNotFound:
		return tapdesk.GraphNotFound
	case status == http.StatusTooManyRequests:
		return tapdesk.GraphThrottled
	case status == http.StatusRequestTimeout || status >= 500:
		return tapdesk.GraphUnavailable
	}
	return tapdesk.GraphUnknown
}

// fromHeaders fills the request id (when the body had none) and Retry-After.
func fromHeaders(ge *tapdesk.GraphError, h *abs.ResponseHeaders) {
	if h == nil {
		return
	}
	if ge.RequestID == "" {
		if v := h.Get("request-id"); len(v) > 0 {
			ge.RequestID = v[0]
		}
	}
	if v := h.Get("Retry-After"); len(v) > 0 {
		ge.RetryAfter = parseRetryAfter(v[0], time.Now())
	}
}

// parseRetryAfter reads seconds (Graph may send fractions) or an HTTP date;
// anything unreadable is no wait.
func parseRetryAfter(v string, now time.Time) time.Duration {
	d, _ := readRetryAfter(v, now)
	return d
}

// maxRetryAfter keeps absurd values from overflowing a Duration.
const maxRetryAfter = 24 * time.Hour

// readRetryAfter reads a Retry-After value: delay-seconds, which Graph may
// send with a fraction ("1.5"), or an HTTP date in any of the three forms
// HTTP allows. A date in the past means no wait.
func readRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		switch {
		case secs < 0 || secs != secs: // negative or NaN
			return 0, false
		case secs > maxRetryAfter.Seconds(): // also +Inf, which ParseFloat accepts
			return maxRetryAfter, true
		}
		return time.Duration(secs * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter), true
	}
	return 0, false
}

// authorityError reads the OAuth error body of a failed token request.
func authorityError(resp *http.Response) (code, message string) {
	code = "token_request_failed"
	body, err := runtime.Payload(resp)
	if err != nil {
		return code, http.StatusText(resp.StatusCode)
	}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error == "" {
		return code, http.StatusText(resp.StatusCode)
	}
	// Drop the trace and correlation ids and timestamp Entra appends.
	desc, _, _ := strings.Cut(e.Description, " Trace ID:")
	return e.Error, oneLine(desc)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
