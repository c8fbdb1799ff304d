package entra

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/metrics"
)

// loggingTransport writes one line per HTTP exchange with Graph or the token
// authority. It sits below the SDK's retry middleware, so every attempt is
// its own line. It never reads bodies (the create response holds the pass,
// the token request the client secret) and never logs query strings or ids
// (a $filter holds what the agent typed, a path holds a UPN).
//
// It also counts each exchange in the metrics, by the same path template,
// and marks it as a wait in the incoming request's Graph time
// (Server-Timing).
type loggingTransport struct {
	next    http.RoundTripper
	logger  *slog.Logger
	metrics *metrics.Metrics
}

func (t *loggingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start, end := time.Now(), metrics.GraphWait(req.Context())
	defer end(true)
	resp, err := t.next.RoundTrip(req)
	took := time.Since(start)
	endpoint := pathTemplate(req.URL.EscapedPath())
	result := outcome(req, resp, err)
	t.metrics.ObserveGraph(endpoint, req.Method, result, took)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		t.metrics.GraphThrottled(endpoint)
	}
	attrs := []slog.Attr{
		slog.String("method", req.Method),
		slog.String("host", req.URL.Host),
		slog.String("path", endpoint),
		slog.Duration("duration", took),
	}
	if a := req.Header.Get("Retry-Attempt"); a != "" {
		attrs = append(attrs, slog.String("attempt", a))
	}
	if result == outcomeAbandoned {
		// No failure: it is logged below the warnings.
		t.logger.LogAttrs(req.Context(), slog.LevelDebug, "graph call abandoned", attrs...)
		return resp, err
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
		t.logger.LogAttrs(req.Context(), slog.LevelWarn, "graph call failed", attrs...)
		return resp, err
	}
	// Graph names its request "request-id"; the token authority "x-ms-request-id".
	rid := resp.Header.Get("request-id")
	if rid == "" {
		rid = resp.Header.Get("x-ms-request-id")
	}
	attrs = append(attrs, slog.Int("status", resp.StatusCode), slog.String("request_id", rid))
	recordAnswer(req.Context(), answer{resp.StatusCode, rid, resp.Header.Get("Retry-After")})
	level := slog.LevelInfo
	if resp.StatusCode >= 400 {
		level = slog.LevelWarn
	}
	t.logger.LogAttrs(req.Context(), level, "graph call", attrs...)
	return resp, err
}

// outcomeAbandoned labels an exchange given up (outcome).
const outcomeAbandoned = "abandoned"

// outcome is the metric label of one exchange: its status class (429 on
// its own: throttling is watched apart from other refusals), or the kind
// of error when there was no answer. A read given up because its answer
// was no longer needed (tapdesk.ErrReadAbandoned) is no failure:
// outcomeAbandoned.
func outcome(req *http.Request, resp *http.Response, err error) string {
	var netErr net.Error
	switch {
	case err != nil && errors.Is(context.Cause(req.Context()), tapdesk.ErrReadAbandoned):
		return outcomeAbandoned
	case err == nil && resp.StatusCode == http.StatusTooManyRequests:
		return "429"
	case err == nil:
		return strconv.Itoa(resp.StatusCode/100) + "xx"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	}
	return "error"
}

// answer is what the transport saw of one HTTP response.
type answer struct {
	status                int
	requestID, retryAfter string
}

// exchange remembers the last answer within one Client call, for errors the
// SDK reports without a status.
type exchange struct {
	mu   sync.Mutex
	last answer
	// attempts counts requests sent to Graph (token requests aside): zero
	// after a failure means Graph never saw the call.
	attempts int
}

type exchangeKey struct{}

// withExchange starts recording the answers to the calls made with ctx.
func withExchange(ctx context.Context) context.Context {
	return context.WithValue(ctx, exchangeKey{}, &exchange{})
}

func recordAnswer(ctx context.Context, a answer) {
	if x, ok := ctx.Value(exchangeKey{}).(*exchange); ok {
		x.mu.Lock()
		x.last = a
		x.mu.Unlock()
	}
}

func countAttempt(ctx context.Context) {
	if x, ok := ctx.Value(exchangeKey{}).(*exchange); ok {
		x.mu.Lock()
		x.attempts++
		x.mu.Unlock()
	}
}

// graphAttempts is how many requests went to Graph within ctx.
func graphAttempts(ctx context.Context) int {
	x, ok := ctx.Value(exchangeKey{}).(*exchange)
	if !ok {
		return 0
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.attempts
}

// lastAnswer returns the last answer recorded for ctx (zero if none).
func lastAnswer(ctx context.Context) answer {
	x, ok := ctx.Value(exchangeKey{}).(*exchange)
	if !ok {
		return answer{}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.last
}

// pathSegments are the literal parts of the URLs tapdesk calls; anything
// else in a path is an id, a UPN or a tenant and is written as {id}. An
// allowlist, not a pattern for ids: a segment nobody listed can never reach
// a log line or a metric label, whatever it holds.
var pathSegments = map[string]bool{
	"v1.0": true, "beta": true,
	"users": true, "authentication": true, "methods": true, "temporaryAccessPassMethods": true,
	"memberOf": true, "transitiveMemberOf": true, "sendMail": true, "manager": true,
	"servicePrincipals": true, "appRoleAssignedTo": true,
	"policies": true, "authenticationMethodsPolicy": true, "authenticationMethodConfigurations": true,
	"TemporaryAccessPass": true,
	"auditLogs":           true, "directoryAudits": true,
	"$count": true, "$ref": true, "$value": true, "$metadata": true,
	"oauth2": true, "v2.0": true, "token": true, ".well-known": true, "openid-configuration": true,
}

// keySegmentNames are the property names Graph addresses an entity by in
// the key form servicePrincipals(appId='...').
var keySegmentNames = map[string]bool{"appId": true, "id": true, "userPrincipalName": true}

// pathTemplate turns a request path into the endpoint it calls, for log
// lines and metric labels: /v1.0/users/alex@contoso.example/authentication/methods
// becomes /v1.0/users/{id}/authentication/methods, /v1.0/users('alex@contoso.example')
// becomes /v1.0/users({id}), /v1.0/servicePrincipals(appId='...') becomes
// /v1.0/servicePrincipals(appId={id}). The query ($filter holds what an
// agent typed) is never part of it.
func pathTemplate(escapedPath string) string {
	path, _, _ := strings.Cut(escapedPath, "?")
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if s == "" || pathSegments[s] {
			continue
		}
		segs[i] = keySegmentTemplate(s)
	}
	return strings.Join(segs, "/")
}

// keySegmentTemplate is the template of one segment that is not a literal:
// name('key') or name(prop='key') for a listed name (and prop), else {id}.
func keySegmentTemplate(escaped string) string {
	s, err := url.PathUnescape(escaped)
	if err != nil {
		return "{id}"
	}
	name, key, ok := strings.Cut(s, "(")
	if !ok || !pathSegments[name] || !strings.HasSuffix(key, ")") {
		return "{id}"
	}
	if prop, _, ok := strings.Cut(key, "="); ok && keySegmentNames[prop] {
		return name + "(" + prop + "={id})"
	}
	return name + "({id})"
}

// idleConnsPerHost is how many idle connections to one host (Graph, the
// token authority) the transport keeps. Over HTTP/2 one connection carries
// every call; over HTTP/1.1 (a proxy or gateway that does not speak h2)
// each call in flight needs its own, and net/http's default of 2 idle made
// every burst of concurrent page views open, and TLS-handshake, almost all
// of its connections again.
const idleConnsPerHost = 64

// NewTransport is the transport tapdesk calls Graph and the token authority
// through: HTTP/2 wherever the server offers it, as Graph does, and an idle
// pool sized for concurrent requests where it does not. tlsConfig, when
// set, replaces the TLS settings (a private CA for a fake or a
// TLS-inspecting proxy); nil keeps the system's trust.
func NewTransport(tlsConfig *tls.Config) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	// A transport with its own TLS settings only tries h2 when asked to.
	t.ForceAttemptHTTP2 = true
	t.MaxIdleConns = 2 * idleConnsPerHost // Graph and the authority
	t.MaxIdleConnsPerHost = idleConnsPerHost
	if tlsConfig != nil {
		t.TLSClientConfig = tlsConfig.Clone()
	}
	return t
}
