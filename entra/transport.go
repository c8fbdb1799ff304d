package entra

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// loggingTransport writes one line per HTTP exchange with Graph or the token
// authority. It sits below the SDK's retry middleware, so every attempt is
// its own line. It never reads bodies (the create response holds the pass,
// the token request the client secret) and never logs query strings or ids
// (a $filter holds what the agent typed, a path holds a UPN).
type loggingTransport struct {
	next   http.RoundTripper
	logger *slog.Logger
}

func (t *loggingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	attrs := []slog.Attr{
		slog.String("method", req.Method),
		slog.String("host", req.URL.Host),
		slog.String("path", pathTemplate(req.URL.EscapedPath())),
		slog.Duration("duration", time.Since(start)),
	}
	if a := req.Header.Get("Retry-Attempt"); a != "" {
		attrs = append(attrs, slog.String("attempt", a))
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
// else in a path is an id, a UPN or a tenant and is logged as {id}.
var pathSegments = map[string]bool{
	"v1.0": true, "beta": true,
	"users": true, "authentication": true, "methods": true, "temporaryAccessPassMethods": true,
	"memberOf": true, "transitiveMemberOf": true, "sendMail": true,
	"policies": true, "authenticationMethodsPolicy": true, "authenticationMethodConfigurations": true,
	"TemporaryAccessPass": true,
	"oauth2":              true, "v2.0": true, "token": true, ".well-known": true, "openid-configuration": true,
}

// pathTemplate turns /v1.0/users/alex@contoso.example/authentication/methods
// into /v1.0/users/{id}/authentication/methods.
func pathTemplate(escapedPath string) string {
	segs := strings.Split(escapedPath, "/")
	for i, s := range segs {
		if s != "" && !pathSegments[s] {
			segs[i] = "{id}"
		}
	}
	return strings.Join(segs, "/")
}
