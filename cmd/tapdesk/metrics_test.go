package main

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/internal/freeport"
	"github.com/tapdesk/tapdesk/signin/demoidp"
)

// scrape reads /metrics over HTTP and parses it.
func scrape(t *testing.T, metricsURL string) (string, map[string]*dto.MetricFamily) {
	t.Helper()
	res, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", metricsURL, res.StatusCode, err, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("scrape does not parse: %v\n%s", err, body)
	}
	return string(body), families
}

// sample is the value of the series of name whose labels include want
// (summed over the others); found is false when there is none.
func sample(families map[string]*dto.MetricFamily, name string, want map[string]string) (v float64, found bool) {
	f := families[name]
	if f == nil {
		return 0, false
	}
series:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, w := range want {
			if labels[k] != w {
				continue series
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			v += m.GetCounter().GetValue()
		case m.Gauge != nil:
			v += m.GetGauge().GetValue()
		case m.Histogram != nil:
			v += float64(m.GetHistogram().GetSampleCount())
		case m.Untyped != nil:
			v += m.GetUntyped().GetValue()
		}
	}
	return v, found
}

var (
	guidPattern    = regexp.MustCompile(`(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	serverTimingRe = regexp.MustCompile(`^app;dur=([0-9.]+), graph;dur=([0-9.]+), graph-calls;desc=([0-9]+), db-writes;desc=([0-9]+)$`)
)

// TestMetricsAfterAFlow runs file -> approve -> reveal -> revoke, a rate
// limit's 429 and a Graph throttling fault on the real demo stack, scrapes
// the metrics listener and checks the counters moved under the right
// labels, and that no label (nor the scrape at all) names a person, an id
// or the pass.
func TestMetricsAfterAFlow(t *testing.T) {
	limits, err := tapdesk.ParseRateLimits("search.person=3/1h", tapdesk.DefaultRateLimits())
	if err != nil {
		t.Fatal(err)
	}
	d := startTestDemoWith(t, func(o *demoOptions) { o.MetricsAddr, o.RateLimits = "127.0.0.1:0", limits })
	if !strings.HasPrefix(d.metricsURL, "http://127.0.0.1:") {
		t.Fatalf("metrics URL %q", d.metricsURL)
	}
	// The portal's own address does not serve metrics.
	if res, err := http.Get(d.baseURL + "/metrics"); err != nil {
		t.Fatal(err)
	} else if res.Body.Close(); res.StatusCode != http.StatusNotFound {
		t.Errorf("the portal answers /metrics with %d, want 404", res.StatusCode)
	}
	const ninaUPN = "nina.newhire@contoso.example"
	nina := d.userID(t, ninaUPN)

	agent := d.browser(t)
	agent.signIn("/", "agent")

	// Graph throttles the next user lookup once; the retry waits Graph's
	// Retry-After out, and that wait counts as Graph's time.
	fault := `{"pattern":"GET /v1.0/users/**","status":429,"retryAfter":"0.3","times":1}`
	res, err := d.fake.Client().Post(d.fake.URL()+"/_fake/faults", "application/json", strings.NewReader(fault))
	if err != nil {
		t.Fatal(err)
	}
	if res.Body.Close(); res.StatusCode/100 != 2 {
		t.Fatalf("adding the fault: %d", res.StatusCode)
	}
	agent.get("/users/" + nina).status(http.StatusOK)
	m := serverTimingRe.FindStringSubmatch(agent.last.Header.Get("Server-Timing"))
	if m == nil {
		t.Fatalf("Server-Timing %q", agent.last.Header.Get("Server-Timing"))
	}
	app, _ := strconv.ParseFloat(m[1], 64)
	graph, _ := strconv.ParseFloat(m[2], 64)
	// Not a speed figure: the fault makes the retry wait at least 300ms.
	if graph < 300 || app < graph {
		t.Errorf("Server-Timing app=%vms graph=%vms: Graph's time must include the 300ms throttling wait, within the app's", app, graph)
	}

	reqPath := fileRequestFor(t, agent, ninaUPN, "New starter, first day, no methods yet")
	requestID := strings.TrimPrefix(reqPath, "/requests/")
	msg := waitMail(t, d.capture, "avery.approver@contoso.example", "Approval needed")
	link := approveLink.FindString(msg.Text)
	approver := d.browser(t)
	approver.signIn(link, "approver").submit(`form[action$="/approve"]`, nil).status(http.StatusOK)
	agent.get(reqPath).submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
	pass, ok := shownPass(agent.doc().Find(`[data-testid="pass"]`))
	if !ok {
		t.Fatalf("no pass shown:\n%s", agent.body)
	}
	agent.get(reqPath).submit(`form[action$="/revoke"]`, nil).status(http.StatusOK)

	// Searching past the person's limit: 429.
	refused := false
	for i := 0; i < 5 && !refused; i++ {
		agent.get("/users?q=nina")
		refused = agent.last.StatusCode == http.StatusTooManyRequests
	}
	if !refused {
		t.Fatal("searching never hit the limit of 3 an hour")
	}
	// A path no route knows, holding a UPN.
	agent.get("/no-such-page/" + url.PathEscape(ninaUPN)).status(http.StatusNotFound)

	auditor := d.browser(t)
	auditor.signIn("/audit/verify", "auditor").status(http.StatusOK)

	body, families := scrape(t, d.metricsURL)

	for _, c := range []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"tapdesk_http_requests_total", map[string]string{"route": "/users/:user", "method": "GET", "status": "200"}, 1},
		{"tapdesk_http_requests_total", map[string]string{"route": "/requests", "method": "POST"}, 1},
		{"tapdesk_http_requests_total", map[string]string{"route": "/requests/:id/approve", "method": "POST"}, 1},
		{"tapdesk_http_requests_total", map[string]string{"route": "/requests/:id/reveal", "method": "POST"}, 1},
		{"tapdesk_http_requests_total", map[string]string{"route": "/requests/:id/revoke", "method": "POST"}, 1},
		{"tapdesk_http_requests_total", map[string]string{"route": "/users", "method": "GET", "status": "429"}, 1},
		{"tapdesk_http_requests_total", map[string]string{"route": "unmatched", "method": "GET", "status": "404"}, 1},
		{"tapdesk_http_request_duration_seconds", map[string]string{"route": "/requests/:id", "method": "GET"}, 1},
		{"tapdesk_requests", map[string]string{"state": "revoked"}, 1},
		{"tapdesk_graph_requests_total", map[string]string{"endpoint": "/v1.0/users/{id}/authentication/temporaryAccessPassMethods", "method": "POST", "outcome": "2xx"}, 1},
		{"tapdesk_graph_requests_total", map[string]string{"outcome": "429", "method": "GET"}, 1},
		{"tapdesk_graph_request_duration_seconds", map[string]string{"endpoint": "/{id}/oauth2/v2.0/token", "method": "POST"}, 1},
		{"tapdesk_graph_throttled_total", nil, 1},
		{"tapdesk_graph_throttle_wait_seconds_total", nil, 0.3},
		{"tapdesk_mail_sent_total", nil, 1},
		{"tapdesk_audit_events_total", map[string]string{"category": string(tapdesk.CatRequest)}, 1},
		{"tapdesk_audit_events_total", map[string]string{"category": string(tapdesk.CatApproval)}, 1},
		{"tapdesk_audit_events_total", map[string]string{"category": string(tapdesk.CatMethod)}, 1},
		{"tapdesk_audit_events_total", map[string]string{"category": string(tapdesk.CatAccess)}, 1},
		{"tapdesk_audit_verify_total", map[string]string{"result": "ok"}, 1},
		{"tapdesk_rate_limited_total", map[string]string{"action": "search", "scope": "person"}, 1},
		{"tapdesk_sweep_runs_total", map[string]string{"task": "expired", "outcome": "ok"}, 1},
		{"tapdesk_sweep_last_success_timestamp_seconds", map[string]string{"task": "expired"}, 1},
		{"tapdesk_build_info", nil, 1},
		{"go_goroutines", nil, 1},
		{"process_resident_memory_bytes", nil, 1},
	} {
		if v, found := sample(families, c.name, c.labels); !found || v < c.min {
			t.Errorf("%s%v = %v (found %v), want at least %v", c.name, c.labels, v, found, c.min)
		}
	}
	for _, name := range []string{"tapdesk_outbox_depth", "tapdesk_http_requests_in_flight", "tapdesk_sweep_items_total"} {
		if families[name] == nil {
			t.Errorf("no %s in the scrape", name)
		}
	}
	if v, _ := sample(families, "tapdesk_requests", map[string]string{"state": "pending"}); v != 0 {
		t.Errorf("tapdesk_requests{state=pending} = %v after the only request was revoked", v)
	}
	if v, _ := sample(families, "tapdesk_mail_failures_total", nil); v != 0 {
		t.Errorf("mail failures %v with a working relay", v)
	}

	// Nothing in the scrape names a person, an id or the pass.
	secrets := []string{pass, requestID, nina}
	for _, p := range append(demoidp.DefaultPersonas(), dualPersona) {
		secrets = append(secrets, p.Name, p.UPN, p.Email, p.ObjectID)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(body, s) {
			t.Errorf("the scrape holds %q", s)
		}
	}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				v := l.GetValue()
				if strings.Contains(v, "@") || strings.Contains(v, "%40") || guidPattern.MatchString(v) {
					t.Errorf("%s{%s=%q}: a label holds an address or id", name, l.GetName(), v)
				}
				for _, p := range demoidp.DefaultPersonas() {
					if strings.EqualFold(v, p.Key) {
						t.Errorf("%s{%s=%q}: a label names a persona", name, l.GetName(), v)
					}
				}
			}
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", body)
	}
}

// TestServeMetricsListener: serve opens no metrics listener unless
// TAPDESK_METRICS_ADDR names one, and never serves metrics on the portal's
// own address.
func TestServeMetricsListener(t *testing.T) {
	t.Run("off by default", func(t *testing.T) {
		before := listeningSockets(t)
		addr, _ := startServe(t, validServeEnv(t))
		if got := listeningSockets(t) - before; got != 1 {
			t.Errorf("serve opened %d listening sockets, want 1 (the portal's)", got)
		}
		res, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		if res.Body.Close(); res.StatusCode != http.StatusNotFound {
			t.Errorf("the portal answers /metrics with %d", res.StatusCode)
		}
		// Server-Timing is the demo's: production does not tell clients
		// how long its Graph calls take.
		if st := res.Header.Get("Server-Timing"); st != "" {
			t.Errorf("serve sends Server-Timing %q", st)
		}
	})
	t.Run("on when set", func(t *testing.T) {
		env := validServeEnv(t)
		env["TAPDESK_METRICS_ADDR"] = freeport.MustAddr(t)
		// The shortest sweep interval allowed, so the test sees it honoured.
		env["TAPDESK_SWEEP_INTERVAL"] = "5s"
		// Nothing answers for Entra: the sweep's Graph jobs fail at once
		// rather than wait on the internet, which this machine lacks.
		env["TAPDESK_AUTHORITY_HOST"] = "https://127.0.0.1:1"
		before := listeningSockets(t)
		startServe(t, env)
		if got := listeningSockets(t) - before; got != 2 {
			t.Errorf("serve opened %d listening sockets, want 2 (the portal's and the metrics')", got)
		}
		_, families := scrape(t, "http://"+env["TAPDESK_METRICS_ADDR"]+"/metrics")
		if v, _ := sample(families, "tapdesk_audit_events_total", map[string]string{"category": string(tapdesk.CatService)}); v < 1 {
			t.Errorf("the start-up event is not counted: %v", v)
		}
		// The sweep runs at start, then every TAPDESK_SWEEP_INTERVAL (or
		// as soon as the last ends, if it ran longer: here its Graph jobs
		// take seconds to give up): a second run well inside the default
		// minute is the setting's.
		start := time.Now()
		for {
			_, families := scrape(t, "http://"+env["TAPDESK_METRICS_ADDR"]+"/metrics")
			if v, _ := sample(families, "tapdesk_sweep_runs_total", map[string]string{"task": "expired", "outcome": "ok"}); v >= 2 {
				break
			}
			if time.Since(start) > 30*time.Second {
				t.Fatal("no second sweep within 30s of TAPDESK_SWEEP_INTERVAL=5s")
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
}

// listeningSockets counts the TCP sockets this process listens on, from
// /proc: its socket descriptors matched against the kernel's tables.
func listeningSockets(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	mine := map[string]bool{}
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasPrefix(target, "socket:[") {
			mine[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = true
		}
	}
	n := 0
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			const listen = "0A"
			if len(f) > 9 && f[3] == listen && mine[f[9]] {
				n++
			}
		}
	}
	return n
}

// TestMetricsMadeUpMethods: Go's server takes any token as a method, so a
// raw method label would let anyone mint series; made-up methods all count
// as method="other".
func TestMetricsMadeUpMethods(t *testing.T) {
	d := startTestDemoWith(t, func(o *demoOptions) { o.MetricsAddr = "127.0.0.1:0" })
	made := []string{"AAAA1", "XYZ3", "BREW"}
	for i, m := range made {
		path := []string{"/", "/nope", "/healthz"}[i]
		req, err := http.NewRequest(m, d.baseURL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	body, families := scrape(t, d.metricsURL)
	for _, name := range []string{"tapdesk_http_requests_total", "tapdesk_http_request_duration_seconds"} {
		for _, m := range made {
			if _, found := sample(families, name, map[string]string{"method": m}); found {
				t.Errorf("%s has a series for method %q", name, m)
			}
		}
		if v, _ := sample(families, name, map[string]string{"method": "other"}); v < float64(len(made)) {
			t.Errorf("%s{method=other} = %v, want at least %d", name, v, len(made))
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", body)
	}
}
