// Package metrics is tapdesk's Prometheus instrumentation: one registry per
// app (never the global default one) holding every collector, handed to the
// parts that count through their constructors.
//
// Labels are templates and small fixed sets (route, Graph endpoint, state,
// category, outcome): never a person's name, UPN, mail address, request id
// or object id, so a scrape is safe to keep and the series stay few.
package metrics

import (
	"context"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Label values that are not taken from a request.
const (
	// RouteUnmatched is the route of a request no route matched (404s,
	// scanners): its path is not a label, or anyone could mint series.
	RouteUnmatched = "unmatched"
	// MailTemporary and MailPermanent are the kinds of a failed send.
	MailTemporary = "temporary"
	MailPermanent = "permanent"
	// VerifyOK, VerifyBroken and VerifyError are the results of a check
	// of the audit trail's hash chain.
	VerifyOK     = "ok"
	VerifyBroken = "broken"
	VerifyError  = "error"
	// SweepOK and SweepFailed are the outcomes of one background job run.
	SweepOK     = "ok"
	SweepFailed = "failed"
)

// Build is what tapdesk_build_info reports.
type Build struct {
	Version, Commit string
}

// Metrics holds the app's registry and collectors. A nil *Metrics counts
// nothing, so parts built without one (unit tests) need no guard.
type Metrics struct {
	registry *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	httpInFlight prometheus.Gauge
	// httpSeries holds each (route, method, status)'s counter and
	// histogram once looked up (httpSeriesKey to *httpSeries): the vectors'
	// own lookup hashes the label values and formats the status on every
	// request. Its keys are bounded as the labels are: route templates,
	// methodLabel's methods, statuses.
	httpSeries sync.Map

	graphRequests     *prometheus.CounterVec
	graphDuration     *prometheus.HistogramVec
	graphThrottled    *prometheus.CounterVec
	graphThrottleWait *prometheus.CounterVec

	mailSent     prometheus.Counter
	mailFailures *prometheus.CounterVec

	auditEvents *prometheus.CounterVec
	auditVerify *prometheus.CounterVec

	sweepRuns        *prometheus.CounterVec
	sweepItems       *prometheus.CounterVec
	sweepLastSuccess *prometheus.GaugeVec

	rateLimited *prometheus.CounterVec

	// alertsRaised counts alerts by rule (alerts.go).
	alertsRaised *prometheus.CounterVec

	// lastSweeps keeps each background job's last run for the admin's
	// dashboard (sweeps.go).
	lastSweeps sweepLog

	outside outsidePasses // outside.go
}

// New builds a registry with tapdesk's collectors, the build info and the
// Go runtime and process collectors.
func New(b Build) *Metrics {
	r := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { r.MustRegister(c) }
	m := &Metrics{registry: r}

	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tapdesk_http_requests_total",
		Help: "HTTP requests answered, by route template, method and status."}, []string{"route", "method", "status"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tapdesk_http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by route template and method.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"route", "method"})
	m.httpInFlight = prometheus.NewGauge(prometheus.GaugeOpts{Name: "tapdesk_http_requests_in_flight",
		Help: "HTTP requests being answered now."})

	m.graphRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tapdesk_graph_requests_total",
		Help: "HTTP requests to Microsoft Graph and its token authority (each attempt), by endpoint template, method and outcome (2xx, 4xx, 429, 5xx, timeout, canceled, error; abandoned: given up by tapdesk, its answer no longer needed)."},
		[]string{"endpoint", "method", "outcome"})
	m.graphDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tapdesk_graph_request_duration_seconds",
		Help:    "Time of one HTTP request to Graph or the token authority, by endpoint template and method.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"endpoint", "method"})
	m.graphThrottled = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tapdesk_graph_throttled_total",
		Help: "Graph answers of 429 Too Many Requests, by endpoint template."}, []string{"endpoint"})
	m.graphThrottleWait = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tapdesk_graph_throttle_wait_seconds_total",
		Help: "Time spent waiting before repeating a Graph request Graph refused (Retry-After or backoff), by endpoint template."}, []string{"endpoint"})

	m.mailSent = prometheus.NewCounter(prometheus.CounterOpts{Name: "tapdesk_mail_sent_total",
		Help: "Mails handed to the relay (SMTP or Graph sendMail)."})
	m.mailFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tapdesk_mail_failures_total",
		Help: "Failed send attempts, by kind: temporary (will retry) or permanent (given up)."}, []string{"kind"})

	m.auditEvents = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tapdesk_audit_events_total",
		Help: "Audit events committed to the trail, by category."}, []string{"category"})
	m.auditVerify = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tapdesk_audit_verify_total",
		Help: "Checks of the audit trail's hash chain from the portal, by result: ok, broken or error."}, []string{"result"})

	m.sweepRuns = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tapdesk_sweep_runs_total",
		Help: "Runs of the background jobs, by task and outcome (ok, failed)."}, []string{"task", "outcome"})
	m.sweepItems = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tapdesk_sweep_items_total",
		Help: "Items the background jobs acted on (requests expired, escalated, ...), by task."}, []string{"task"})
	m.sweepLastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tapdesk_sweep_last_success_timestamp_seconds",
		Help: "Unix time of the last run of each background job that did not fail, by task."}, []string{"task"})

	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tapdesk_rate_limited_total",
		Help: "Requests refused by a rate limit, by action and scope (person or address)."}, []string{"action", "scope"})

	m.alertsRaised = newAlertsRaised()

	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tapdesk_build_info",
		Help: "Always 1; the labels say which tapdesk is running."}, []string{"version", "commit", "goversion"})
	buildInfo.WithLabelValues(b.Version, b.Commit, runtime.Version()).Set(1)

	for _, c := range []prometheus.Collector{m.httpRequests, m.httpDuration, m.httpInFlight,
		m.graphRequests, m.graphDuration, m.graphThrottled, m.graphThrottleWait,
		m.mailSent, m.mailFailures, m.auditEvents, m.auditVerify,
		m.sweepRuns, m.sweepItems, m.sweepLastSuccess, m.rateLimited, m.alertsRaised, buildInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		f(c)
	}
	// Zero series for the fixed label sets, so rates and alerts work before
	// the first failure.
	m.outside.register(r)
	m.mailFailures.WithLabelValues(MailTemporary)
	m.mailFailures.WithLabelValues(MailPermanent)
	for _, r := range []string{VerifyOK, VerifyBroken, VerifyError} {
		m.auditVerify.WithLabelValues(r)
	}
	return m
}

// Registry is the app's registry.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		// A collector that fails (the database is locked) drops its series
		// from that scrape instead of failing the whole scrape.
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
}

// HTTPBegin counts a request in flight; call HTTPEnd when it is answered.
func (m *Metrics) HTTPBegin() {
	if m != nil {
		m.httpInFlight.Inc()
	}
}

// HTTPEnd counts a request begun with HTTPBegin as no longer in flight.
func (m *Metrics) HTTPEnd() {
	if m != nil {
		m.httpInFlight.Dec()
	}
}

type httpSeriesKey struct {
	route, method string
	status        int
}

type httpSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// ObserveHTTP counts one answered request. route must be a route template
// or RouteUnmatched, never a path.
func (m *Metrics) ObserveHTTP(route, method string, status int, took time.Duration) {
	if m == nil {
		return
	}
	key := httpSeriesKey{route: route, method: methodLabel(method), status: status}
	v, ok := m.httpSeries.Load(key)
	if !ok {
		v, _ = m.httpSeries.LoadOrStore(key, &httpSeries{
			requests: m.httpRequests.WithLabelValues(key.route, key.method, strconv.Itoa(status)),
			duration: m.httpDuration.WithLabelValues(key.route, key.method),
		})
	}
	s := v.(*httpSeries)
	s.requests.Inc()
	s.duration.Observe(took.Seconds())
}

// MethodOther is the method label of a request whose method is not one of
// the standard ones.
const MethodOther = "other"

// methodLabel is method if it is a standard HTTP method, else MethodOther:
// Go's server accepts any token as a method, so a raw method label would
// let anyone mint series (curl -X AAAA1), growing memory here and in
// Prometheus.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return MethodOther
}

// ObserveGraph counts one HTTP request to Graph or the token authority.
// endpoint must be a template (entra's pathTemplate).
func (m *Metrics) ObserveGraph(endpoint, method, outcome string, took time.Duration) {
	if m == nil {
		return
	}
	m.graphRequests.WithLabelValues(endpoint, method, outcome).Inc()
	m.graphDuration.WithLabelValues(endpoint, method).Observe(took.Seconds())
}

// GraphThrottled counts a 429 from Graph.
func (m *Metrics) GraphThrottled(endpoint string) {
	if m == nil {
		return
	}
	m.graphThrottled.WithLabelValues(endpoint).Inc()
}

// GraphWaited adds a wait before repeating a refused Graph request.
func (m *Metrics) GraphWaited(endpoint string, wait time.Duration) {
	if m == nil {
		return
	}
	m.graphThrottleWait.WithLabelValues(endpoint).Add(wait.Seconds())
}

// MailSent counts a mail the relay accepted.
func (m *Metrics) MailSent() {
	if m == nil {
		return
	}
	m.mailSent.Inc()
}

// MailFailed counts a failed send of kind MailTemporary or MailPermanent.
func (m *Metrics) MailFailed(kind string) {
	if m == nil {
		return
	}
	m.mailFailures.WithLabelValues(kind).Inc()
}

// AuditAppended counts committed audit events of one category.
func (m *Metrics) AuditAppended(category string, n int) {
	if m == nil {
		return
	}
	m.auditEvents.WithLabelValues(category).Add(float64(n))
}

// AuditVerified counts one check of the chain: VerifyOK, VerifyBroken or
// VerifyError.
func (m *Metrics) AuditVerified(result string) {
	if m == nil {
		return
	}
	m.auditVerify.WithLabelValues(result).Inc()
}

// SweepRan counts one run of a background task that acted on items; a run
// without err also sets the task's last success time.
func (m *Metrics) SweepRan(task string, items int, err error, at time.Time) {
	if m == nil {
		return
	}
	outcome := SweepOK
	if err != nil {
		outcome = SweepFailed
	} else {
		m.sweepLastSuccess.WithLabelValues(task).Set(float64(at.UnixNano()) / 1e9)
	}
	m.sweepRuns.WithLabelValues(task, outcome).Inc()
	m.sweepItems.WithLabelValues(task).Add(float64(items))
	m.lastSweeps.note(SweepRun{Task: task, At: at, Items: items, Failed: err != nil})
}

// RateLimited counts a refusal by the limit of action and scope.
func (m *Metrics) RateLimited(action, scope string) {
	if m == nil {
		return
	}
	m.rateLimited.WithLabelValues(action, scope).Inc()
}

// cachedCount runs an expensive count at most once per ttl, so frequent
// scrapes (or several Prometheus servers) do not each query the database.
type cachedCount[T any] struct {
	ttl   time.Duration
	count func(context.Context) (T, error)
	now   func() time.Time

	mu   sync.Mutex
	at   time.Time
	last T
	err  error
}

func (c *cachedCount[T]) get() (T, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.now(); c.at.IsZero() || now.Sub(c.at) >= c.ttl {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c.last, c.err = c.count(ctx)
		cancel()
		c.at = now
	}
	return c.last, c.err
}

// CountTTL is how long a count read at scrape time is reused.
const CountTTL = 5 * time.Second

// RequestsByState registers tapdesk_requests{state}, read at scrape time
// through count (at most once per CountTTL). Every state in states has a
// series, zero or not.
func (m *Metrics) RequestsByState(states []string, count func(context.Context) (map[string]int, error)) {
	m.registry.MustRegister(&requestsByState{states: states,
		c:    &cachedCount[map[string]int]{ttl: CountTTL, count: count, now: time.Now},
		desc: prometheus.NewDesc("tapdesk_requests", "Requests by state, counted in the database.", []string{"state"}, nil)})
}

type requestsByState struct {
	states []string
	c      *cachedCount[map[string]int]
	desc   *prometheus.Desc
}

func (r *requestsByState) Describe(ch chan<- *prometheus.Desc) { ch <- r.desc }

func (r *requestsByState) Collect(ch chan<- prometheus.Metric) {
	counts, err := r.c.get()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(r.desc, err)
		return
	}
	seen := map[string]bool{}
	for _, s := range r.states {
		seen[s] = true
		ch <- prometheus.MustNewConstMetric(r.desc, prometheus.GaugeValue, float64(counts[s]), s)
	}
	// A state the list does not know (a newer binary wrote it) still shows.
	for s, n := range counts {
		if !seen[s] {
			ch <- prometheus.MustNewConstMetric(r.desc, prometheus.GaugeValue, float64(n), s)
		}
	}
}

// OutboxDepth registers tapdesk_outbox_depth, the mail waiting to go out,
// read at scrape time through count (at most once per CountTTL).
func (m *Metrics) OutboxDepth(count func(context.Context) (int, error)) {
	m.registry.MustRegister(&outboxDepth{c: &cachedCount[int]{ttl: CountTTL, count: count, now: time.Now},
		desc: prometheus.NewDesc("tapdesk_outbox_depth", "Mails waiting in the outbox (not sent, not given up).", nil, nil)})
}

type outboxDepth struct {
	c    *cachedCount[int]
	desc *prometheus.Desc
}

func (o *outboxDepth) Describe(ch chan<- *prometheus.Desc) { ch <- o.desc }

func (o *outboxDepth) Collect(ch chan<- prometheus.Metric) {
	n, err := o.c.get()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(o.desc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(o.desc, prometheus.GaugeValue, float64(n))
}
