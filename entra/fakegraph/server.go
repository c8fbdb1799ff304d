// Package fakegraph is a faithful fake of the Microsoft Graph endpoints
// tapdesk uses, and of the Entra token endpoint that issues tapdesk's
// app-only tokens. It serves HTTPS on loopback so the real msgraph-sdk-go and
// azidentity code run against it unchanged: in tests, in `tapdesk demo`, and
// as a stand-alone server.
//
// Shapes, @odata.type values, status codes, error bodies and messages are
// those of Graph v1.0 as the team's GRAPH.md records them. State lives in a
// Tenant (SampleTenant is a seeded contoso.example); faults can be injected
// per path. It deliberately does not import the Graph SDK, so it compiles in
// seconds.
package fakegraph

import (
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server serves a Tenant over TLS.
type Server struct {
	tenant *Tenant
	now    func() time.Time
	addr   string
	logger *slog.Logger
	http1  bool // WithHTTP1Only

	srv *httptest.Server
	// connections counts the connections clients opened, for tests that
	// check a client keeps its connections instead of handshaking anew.
	connections atomic.Int64

	mu       sync.Mutex
	tokens   map[string]time.Time // access token -> expiry (wall clock: azidentity uses it)
	faults   []*faultRule
	requests []RecordedRequest
	mail     []SentMail
}

// Option configures a Server.
type Option func(*Server)

// WithClock makes the server read time from now: TAP creation, start and
// usability follow it. Tokens keep wall-clock expiry.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithAddr listens on addr (host:port) instead of a free loopback port.
func WithAddr(addr string) Option { return func(s *Server) { s.addr = addr } }

// WithHTTP1Only serves HTTP/1.1 alone, as a proxy or gateway in front of
// Graph that does not speak HTTP/2 would; by default the fake offers h2
// (with HTTP/1.1 as the fallback), as Graph does.
func WithHTTP1Only() Option { return func(s *Server) { s.http1 = true } }

// WithLogger logs every request the fake answers, at debug level.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.logger = l } }

// New prepares a server for t; call Start to serve.
func New(t *Tenant, opts ...Option) *Server {
	s := &Server{
		tenant: t,
		now:    time.Now,
		logger: slog.New(slog.DiscardHandler),
		tokens: map[string]time.Time{},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// NewServer is New followed by Start.
func NewServer(t *Tenant, opts ...Option) (*Server, error) {
	s := New(t, opts...)
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// Start serves HTTPS with a fresh self-signed certificate for 127.0.0.1,
// ::1, localhost and the WithAddr host.
func (s *Server) Start() error {
	if s.srv != nil {
		return fmt.Errorf("fakegraph: already started")
	}
	if err := s.tenant.validateShared(); err != nil {
		return err
	}
	srv := httptest.NewUnstartedServer(s.Handler())
	if s.addr != "" {
		l, err := net.Listen("tcp", s.addr)
		if err != nil {
			return fmt.Errorf("fakegraph: %w", err)
		}
		srv.Listener.Close()
		srv.Listener = l
	}
	host, _, _ := net.SplitHostPort(s.addr)
	cert, err := newCertificate(host)
	if err != nil {
		srv.Close()
		return fmt.Errorf("fakegraph: certificate: %w", err)
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	// Graph offers HTTP/2, where one connection carries every call; a fake
	// on HTTP/1.1 alone made its clients open (and TLS-handshake) a
	// connection for each concurrent call, CPU that a real deployment does
	// not spend on its own machine.
	srv.EnableHTTP2 = !s.http1
	if s.http1 {
		srv.TLS.NextProtos = []string{"http/1.1"}
	}
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.connections.Add(1)
		}
	}
	// TLS handshake noise from clients that hang up is not interesting.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	s.srv = srv
	return nil
}

// URL is the base URL, e.g. https://127.0.0.1:40123; Graph lives under
// URL()+"/v1.0" and the token authority is URL() itself.
func (s *Server) URL() string { return s.srv.URL }

// Client returns an HTTP client that trusts the server's certificate.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// ClientTLSConfig is a client TLS configuration that trusts the server's
// certificate, for a transport of one's own.
func (s *Server) ClientTLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(s.srv.Certificate())
	return &tls.Config{RootCAs: pool}
}

// Connections is how many connections clients have opened to the server.
func (s *Server) Connections() int64 { return s.connections.Load() }

// CertificatePEM is the server's certificate, which is its own CA, for
// SSL_CERT_FILE.
func (s *Server) CertificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}

// Close stops the server.
func (s *Server) Close() {
	if s.srv != nil {
		s.srv.Close()
	}
}

// Tenant is the served directory; tests change it through its methods.
func (s *Server) Tenant() *Tenant { return s.tenant }

// RevokeTokens invalidates every access token issued so far, as an expired
// secret or a revoked consent would: Graph calls with them get 401.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// IssueToken returns a valid access token without the OAuth dance, for
// tests that talk to the Graph endpoints with a plain http.Client.
func (s *Server) IssueToken() string {
	tok := "fakegraph." + randomHex(24)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[tok] = time.Now().Add(time.Hour)
	return tok
}

// maxRecorded bounds the request log; the older half is dropped when full.
const maxRecorded = 10000

// RecordedRequest is one request the server received.
type RecordedRequest struct {
	Method string     `json:"method"`
	Path   string     `json:"path"` // normalised: /v1.0/users/{as sent, unescaped}/...
	Query  url.Values `json:"query,omitempty"`
	Status int        `json:"status"`
	// Attempt is the Retry-Attempt header: "" first time, then "1", "2"...
	Attempt string `json:"attempt,omitempty"`
}

// Requests returns what the server has received so far, oldest first.
func (s *Server) Requests() []RecordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RecordedRequest(nil), s.requests...)
}

// CountRequests counts received requests matching a fault-style pattern
// ("POST /v1.0/users/*/authentication/temporaryAccessPassMethods").
func (s *Server) CountRequests(pattern string) int {
	method, glob := splitPattern(pattern)
	n := 0
	for _, r := range s.Requests() {
		if matchPattern(method, glob, r.Method, r.Path) {
			n++
		}
	}
	return n
}

// SentMail is a message sent through POST /users/{id}/sendMail.
type SentMail struct {
	From        string   `json:"from"`
	To          []string `json:"to"`
	Subject     string   `json:"subject"`
	ContentType string   `json:"contentType"` // "text" or "html"
	Body        string   `json:"body"`
	// SaveToSentItems is what the request asked for (Graph's default: true).
	SaveToSentItems bool `json:"saveToSentItems"`
}

// SentMail returns the messages sent through Graph so far.
func (s *Server) SentMail() []SentMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SentMail(nil), s.mail...)
}

// Handler is the fake as an http.Handler, for mounting without TLS.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// statusWriter remembers the status for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (s *Server) serveHTTP(rw http.ResponseWriter, r *http.Request) {
	start := time.Now()
	// Graph stamps every response with request-id and echoes the caller's
	// client-request-id; both end up in error bodies and support tickets.
	rw.Header().Set("request-id", newGUID())
	if crid := r.Header.Get("client-request-id"); crid != "" {
		rw.Header().Set("client-request-id", crid)
	} else {
		rw.Header().Set("client-request-id", rw.Header().Get("request-id"))
	}
	if strings.HasPrefix(r.URL.Path, adminPrefix) {
		// The control endpoints are not Graph: no faults, not recorded.
		s.serveAdmin(rw, r)
		return
	}
	w := &statusWriter{ResponseWriter: rw}
	segs, isGraph, err := splitPath(r)
	normPath := "/" + strings.Join(segs, "/")
	if isGraph {
		normPath = "/v1.0" + normPath
	}
	defer func() {
		s.mu.Lock()
		if len(s.requests) >= maxRecorded { // a long-running demo must not grow without bound
			s.requests = append(s.requests[:0], s.requests[len(s.requests)-maxRecorded/2:]...)
		}
		s.requests = append(s.requests, RecordedRequest{
			Method: r.Method, Path: normPath, Query: r.URL.Query(),
			Status: w.status, Attempt: r.Header.Get("Retry-Attempt"),
		})
		s.mu.Unlock()
		s.logger.Debug("fakegraph", "method", r.Method, "path", normPath, "status", w.status,
			"duration", time.Since(start), "request_id", rw.Header().Get("request-id"))
	}()
	if err != nil {
		s.graphError(w, r, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}

	// The SDK gzips request bodies; Graph accepts that, and answers 415 to
	// encodings it does not know (the SDK then resends uncompressed).
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			s.graphError(w, r, http.StatusBadRequest, "BadRequest", "The request body is not valid gzip.")
			return
		}
		defer zr.Close()
		r.Body = io.NopCloser(zr)
		r.Header.Del("Content-Encoding")
	default:
		s.graphError(w, r, http.StatusUnsupportedMediaType, "UnsupportedMediaType", "Content-Encoding "+enc+" is not supported.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)

	if f := s.takeFault(r.Method, normPath); f != nil {
		if s.applyFault(w, r, f, func(w http.ResponseWriter) { s.route(w, r, segs, isGraph) }) {
			return
		}
	}
	s.route(w, r, segs, isGraph)
}

func (s *Server) route(w http.ResponseWriter, r *http.Request, segs []string, isGraph bool) {
	if !isGraph {
		s.serveAuthority(w, r, segs)
		return
	}
	if !s.authorized(w, r) {
		return
	}
	s.serveGraph(w, r, segs)
}

// splitPath turns the escaped request path into unescaped segments, with the
// /v1.0 prefix removed for Graph paths. It also accepts OData key syntax,
// users('$x@y.com'), which Graph needs for UPNs starting with '$'.
func splitPath(r *http.Request) (segs []string, isGraph bool, err error) {
	raw := strings.Trim(r.URL.EscapedPath(), "/")
	for _, part := range strings.Split(raw, "/") {
		if part == "" {
			continue
		}
		seg, err := url.PathUnescape(part)
		if err != nil {
			return nil, false, fmt.Errorf("Invalid path segment %q.", part)
		}
		// users('x') -> users, x ; ('x') alone (a key escaped by a client) -> x
		if i := strings.Index(seg, "('"); i >= 0 && strings.HasSuffix(seg, "')") {
			key := strings.ReplaceAll(seg[i+2:len(seg)-2], "''", "'")
			if i > 0 {
				segs = append(segs, seg[:i])
			}
			segs = append(segs, key)
			continue
		}
		segs = append(segs, seg)
	}
	if len(segs) > 0 && segs[0] == "v1.0" {
		return segs[1:], true, nil
	}
	return segs, false, nil
}

// ---- Errors ----

// Messages Graph uses, verbatim (GRAPH.md, "Errors Graph returns").
const (
	msgPolicyDisallows = "Converged UserCredentialPolicy does not allow creating or updating this authentication method. AuthMethodType [TemporaryAccessPass]."
	msgGuest           = "Temporary Access Pass cannot be added to an external guest user."
	msgForbidden       = "Insufficient privileges to complete the operation."
	msgThrottled       = "Please retry again later."
)

func msgLifetime(p Policy) string {
	return fmt.Sprintf("Invalid LifetimeInMinutes specified. The valid range between %d and %d.",
		p.MinimumLifetimeInMinutes, p.MaximumLifetimeInMinutes)
}

func msgUserNotFound(id string) string {
	return fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id)
}

// graphError writes Graph's error body:
// {"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}.
func (s *Server) graphError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	body := map[string]any{"error": map[string]any{
		"code":    code,
		"message": message,
		"innerError": map[string]any{
			"date":              s.now().UTC().Format("2006-01-02T15:04:05"),
			"request-id":        w.Header().Get("request-id"),
			"client-request-id": w.Header().Get("client-request-id"),
		},
	}}
	writeJSON(w, status, body)
}

const graphContentType = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", graphContentType)
	w.WriteHeader(status)
	w.Write(b)
}

// ---- Faults ----

// Fault is a failure the server injects instead of (or around) a normal
// answer, to test throttling, outages and lost responses.
type Fault struct {
	// Status answers with this status and a Graph error body instead of
	// handling the request. 0 handles the request normally (useful with
	// Delay, Gate or DropAfterWrite).
	Status int `json:"status,omitempty"`
	// Code and Message override the error body's defaults for Status.
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// Body, when set, is sent verbatim as the JSON body (e.g. an error with
	// no message); EmptyBody sends none at all.
	Body      string `json:"body,omitempty"`
	EmptyBody bool   `json:"emptyBody,omitempty"`
	// RetryAfter is the Retry-After header, in seconds ("0", "1.5").
	RetryAfter string `json:"retryAfter,omitempty"`
	// Delay holds the answer back; a client whose deadline passes sees a timeout.
	// (FaultSpec carries it as text.)
	Delay time.Duration `json:"-"`
	// DropAfterWrite handles the request (a TAP really gets created) and
	// then drops the connection without answering: the lost-response case.
	DropAfterWrite bool `json:"dropAfterWrite,omitempty"`
	// HoldAfterWrite handles the request (a TAP really gets created), then
	// holds the answer back this long before sending it: a caller that dies
	// or gives up meanwhile never learns what Graph did. (FaultSpec carries
	// it as text.)
	HoldAfterWrite time.Duration `json:"-"`
	// Gate, when set, holds the request back before it is handled until
	// the gate is opened; a client that gives up meanwhile gets no answer,
	// as with Delay. Where a Delay only makes it likely that something
	// happens while the request waits, a Gate makes it certain, however
	// slow the machine. (Tests only: FaultSpec cannot carry it.)
	Gate *Gate `json:"-"`
	// Times is how many matching requests the fault applies to; 0 means
	// until ClearFaults.
	Times int `json:"times,omitempty"`
	// Rate is the share of matching requests the fault hits, spread evenly
	// so tests stay repeatable: 0.25 hits every fourth. 0 (or 1) hits all.
	Rate float64 `json:"rate,omitempty"`
}

// A Gate holds back the requests of the Fault that names it until it is
// opened, and counts the requests that reach it, so a test can wait for
// them to arrive and then let them go on.
type Gate struct {
	open    chan struct{}
	once    sync.Once
	arrived atomic.Int64
}

// NewGate returns a gate that holds requests until Open.
func NewGate() *Gate { return &Gate{open: make(chan struct{})} }

// Open lets the requests held at g go on, and any later one through at
// once. Calling it again does nothing.
func (g *Gate) Open() { g.once.Do(func() { close(g.open) }) }

// Arrived is how many requests have reached g, held or let through.
func (g *Gate) Arrived() int { return int(g.arrived.Load()) }

// Await waits until at least n requests have reached g, for at most
// within, and says whether they did.
func (g *Gate) Await(n int, within time.Duration) bool {
	for deadline := time.Now().Add(within); g.Arrived() < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

type faultRule struct {
	pattern      string
	method, glob string
	fault        Fault
	left         int // remaining uses; <0 unlimited
	seen         int // matching requests so far, for Rate
}

// SetFault makes requests matching pattern fail as f says. The pattern is
// an optional method and a path.Match glob over the unescaped path, e.g.
// "POST /v1.0/users/*/authentication/temporaryAccessPassMethods" or
// "/v1.0/users/*"; a trailing "/**" matches everything below a prefix
// ("/v1.0/**"), and "*" alone every request. A later SetFault with
// the same pattern replaces the earlier one.
func (s *Server) SetFault(pattern string, f Fault) {
	method, glob := splitPattern(pattern)
	rule := &faultRule{pattern: strings.TrimSpace(pattern), method: method, glob: glob, fault: f, left: f.Times}
	if f.Times == 0 {
		rule.left = -1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, old := range s.faults {
		if old.method == method && old.glob == glob {
			s.faults[i] = rule
			return
		}
	}
	s.faults = append(s.faults, rule)
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// RemoveFault removes the fault set for pattern and reports whether there
// was one.
func (s *Server) RemoveFault(pattern string) bool {
	method, glob := splitPattern(pattern)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.faults)
	s.faults = slices.DeleteFunc(s.faults, func(r *faultRule) bool { return r.method == method && r.glob == glob })
	return len(s.faults) < n
}

// ClearRequests forgets the requests recorded so far.
func (s *Server) ClearRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// ClearMail forgets the mail sent so far.
func (s *Server) ClearMail() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mail = nil
}

func splitPattern(pattern string) (method, glob string) {
	pattern = strings.TrimSpace(pattern)
	if m, rest, ok := strings.Cut(pattern, " "); ok && !strings.HasPrefix(m, "/") {
		return strings.ToUpper(m), strings.TrimSpace(rest)
	}
	return "", pattern
}

func matchPattern(method, glob, reqMethod, reqPath string) bool {
	if method != "" && method != reqMethod {
		return false
	}
	if glob == "*" || glob == "" {
		return true
	}
	if prefix, ok := strings.CutSuffix(glob, "/**"); ok {
		return strings.HasPrefix(reqPath, prefix+"/")
	}
	ok, _ := path.Match(glob, reqPath)
	return ok
}

func (s *Server) takeFault(method, p string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rule := range s.faults {
		if rule.left == 0 || !matchPattern(rule.method, rule.glob, method, p) {
			continue
		}
		rule.seen++
		if r := rule.fault.Rate; r > 0 && r < 1 && math.Floor(float64(rule.seen)*r) == math.Floor(float64(rule.seen-1)*r) {
			continue // not this one's turn
		}
		if rule.left > 0 {
			rule.left--
		}
		f := rule.fault
		return &f
	}
	return nil
}

// applyFault acts out f and reports whether it fully answered the request.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, f *Fault, handle func(http.ResponseWriter)) bool {
	if g := f.Gate; g != nil {
		g.arrived.Add(1)
		select {
		case <-g.open:
		case <-r.Context().Done():
			panic(http.ErrAbortHandler) // as for Delay: nothing at all is sent
		}
	}
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			// The client gave up. Returning normally would send an empty 200,
			// which a client racing its own cancellation can still read as
			// success; abort so that nothing at all is sent.
			panic(http.ErrAbortHandler)
		}
	}
	if f.DropAfterWrite {
		// Do the work, throw the answer away, and abort the connection.
		handle(httptest.NewRecorder())
		panic(http.ErrAbortHandler)
	}
	if f.HoldAfterWrite > 0 {
		rec := httptest.NewRecorder()
		handle(rec)
		t := time.NewTimer(f.HoldAfterWrite)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			panic(http.ErrAbortHandler)
		}
		maps.Copy(w.Header(), rec.Header())
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		return true
	}
	if f.Status == 0 {
		return false
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	switch {
	case f.EmptyBody:
		w.WriteHeader(f.Status)
	case f.Body != "":
		w.Header().Set("Content-Type", graphContentType)
		w.WriteHeader(f.Status)
		io.WriteString(w, f.Body)
	default:
		code, msg := defaultFaultBody(f.Status)
		if f.Code != "" {
			code = f.Code
		}
		if f.Message != "" {
			msg = f.Message
		}
		s.graphError(w, r, f.Status, code, msg)
	}
	return true
}

func defaultFaultBody(status int) (code, message string) {
	switch status {
	case http.StatusTooManyRequests:
		return "TooManyRequests", msgThrottled
	case http.StatusServiceUnavailable:
		return "serviceNotAvailable", "The service is temporarily unavailable. Please retry later."
	case http.StatusGatewayTimeout:
		return "gatewayTimeout", "The gateway did not receive a response within the specified time period."
	case http.StatusInternalServerError:
		return "generalException", "An unexpected error occurred."
	case http.StatusForbidden:
		return "Authorization_RequestDenied", msgForbidden
	case http.StatusUnauthorized:
		return "InvalidAuthenticationToken", "Access token validation failure."
	}
	return "UnknownError", http.StatusText(status)
}

// ---- helpers ----

func newGUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func hashPass(p string) [32]byte { return sha256.Sum256([]byte(p)) }
