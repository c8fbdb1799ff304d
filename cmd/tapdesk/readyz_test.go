package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/tapdesk/tapdesk/entra/fakegraph"
	"github.com/tapdesk/tapdesk/internal/pgtest"
)

// tokenRequests is the fake authority's token endpoint, as its request
// log names it.
const tokenRequests = "POST /*/oauth2/v2.0/token"

// readyz asks the demo for its readiness, as text or JSON, with the given
// headers (name, value pairs).
func readyz(t *testing.T, d *testDemo, accept string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, d.baseURL+"/readyz", nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// fakeControl calls the fake Graph's control endpoints over HTTP, as an
// operator running it alone would.
func fakeControl(t *testing.T, d *testDemo, method, path string, body any) []byte {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = strings.NewReader(string(raw))
	}
	req, _ := http.NewRequest(method, d.fake.URL()+path, rd)
	res, err := d.fake.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, out)
	}
	return out
}

// countTokenRequests counts the token requests the fake received, from
// its /_fake/requests log.
func countTokenRequests(t *testing.T, d *testDemo) int {
	t.Helper()
	var reqs []fakegraph.RecordedRequest
	if err := json.Unmarshal(fakeControl(t, d, http.MethodGet, "/_fake/requests", nil), &reqs); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range reqs {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/oauth2/v2.0/token") {
			n++
		}
	}
	return n
}

// /readyz names each dependency and its state, says which one fails, and
// spares the dependencies a storm of probes.
func TestReadyz(t *testing.T) { pgtest.Backends(t, testReadyz) }

func testReadyz(t *testing.T) {
	t.Run("all fine: each dependency listed, as text and JSON", func(t *testing.T) {
		d := startTestDemo(t)
		status, body := readyz(t, d, "")
		if status != http.StatusOK || !strings.HasPrefix(body, "ready\n") {
			t.Fatalf("%d:\n%s", status, body)
		}
		for _, line := range []string{"database: ok (schema ", "graph token: ok\n", "smtp: ok\n", "entra audit log: ok (read at "} {
			if !strings.Contains(body, line) {
				t.Errorf("no %q in:\n%s", line, body)
			}
		}
		status, body = readyz(t, d, "application/json")
		var r struct {
			Ready  bool
			Checks []struct {
				Name   string
				OK     bool
				Detail string
			}
		}
		if err := json.Unmarshal([]byte(body), &r); err != nil || status != http.StatusOK || !r.Ready || len(r.Checks) != 4 || r.Checks[0].Name != "database" {
			t.Fatalf("%d %v:\n%s", status, err, body)
		}
	})

	// Answers are kept longer than a subtest runs, so counting token
	// requests does not depend on the machine's speed.
	keep := func(o *demoOptions) { o.ReadyCacheOK, o.ReadyCacheFailed = time.Minute, time.Minute }

	t.Run("graph token refused: said so, and a burst of probes makes one token request", func(t *testing.T) {
		d := startTestDemoWith(t, keep)
		fakeControl(t, d, http.MethodPost, "/_fake/faults", map[string]any{"pattern": tokenRequests, "status": 401,
			"body": `{"error":"invalid_client","error_description":"AADSTS7000222: The provided client secret keys are expired.","error_codes":[7000222]}`})
		fakeControl(t, d, http.MethodDelete, "/_fake/requests", nil)
		const probes = 12
		var wg sync.WaitGroup
		bodies := make([]string, probes)
		statuses := make([]int, probes)
		for i := range probes {
			wg.Add(1)
			go func() { defer wg.Done(); statuses[i], bodies[i] = readyz(t, d, "") }()
		}
		wg.Wait()
		for i := range probes {
			if statuses[i] != http.StatusServiceUnavailable || !strings.Contains(bodies[i], "graph token: failing: ") ||
				!strings.Contains(bodies[i], "database: ok") || !strings.Contains(bodies[i], "smtp: ok") {
				t.Fatalf("probe %d: %d\n%s", i, statuses[i], bodies[i])
			}
		}
		t.Logf("readyz:\n%s", bodies[0])
		if !strings.Contains(bodies[0], "401") || strings.Contains(bodies[0], d.fake.Tenant().ClientSecret) {
			t.Errorf("reason: %s", bodies[0])
		}
		// One more, just after: the answer is still the kept one.
		readyz(t, d, "")
		if n := countTokenRequests(t, d); n != 1 {
			t.Errorf("%d probes made %d token requests, want 1", probes+1, n)
		}
		// Through a proxy (a forwarding header), even from this machine:
		// names and states only, not Entra's refusal.
		for _, h := range []string{"X-Forwarded-For", "X-Real-IP", "Forwarded"} {
			status, body := readyz(t, d, "", h, "203.0.113.9")
			if status != http.StatusServiceUnavailable || !strings.Contains(body, "graph token: failing\n") || !strings.Contains(body, "database: ok\n") {
				t.Errorf("proxied (%s): %d\n%s", h, status, body)
			}
			for _, secret := range []string{"invalid_client", "AADSTS", "401", "schema"} {
				if strings.Contains(body, secret) {
					t.Errorf("proxied (%s) probe reads %q:\n%s", h, secret, body)
				}
			}
			_, js := readyz(t, d, "application/json", h, "203.0.113.9")
			if strings.Contains(js, "AADSTS") || strings.Contains(js, "invalid_client") || strings.Contains(js, "detail") {
				t.Errorf("proxied (%s) JSON has details:\n%s", h, js)
			}
		}
		// The log has the reason, once for the one failing check, not once
		// a probe.
		var warned []string
		for _, line := range strings.Split(d.logs.String(), "\n") {
			if strings.Contains(line, "level=WARN") && strings.Contains(line, "not ready") && strings.Contains(line, "graph token") {
				warned = append(warned, line)
			}
		}
		if len(warned) != 1 || !strings.Contains(warned[0], "AADSTS7000222") {
			t.Errorf("the log warns %d times of the failing token (want once, with the reason):\n%s", len(warned), strings.Join(warned, "\n"))
		}
	})

	t.Run("mail relay down: said so", func(t *testing.T) {
		d := startTestDemoWith(t, keep)
		d.capture.Close()
		status, body := readyz(t, d, "")
		if status != http.StatusServiceUnavailable || !strings.Contains(body, "smtp: failing: connect to ") || !strings.Contains(body, "graph token: ok") {
			t.Fatalf("%d:\n%s", status, body)
		}
		port := strconv.Itoa(d.capture.Port())
		status, body = readyz(t, d, "", "X-Forwarded-For", "203.0.113.9")
		if status != http.StatusServiceUnavailable || !strings.Contains(body, "smtp: failing\n") || strings.Contains(body, port) || strings.Contains(body, d.capture.Host()) {
			t.Fatalf("proxied: %d (the relay is %s:%s):\n%s", status, d.capture.Host(), port, body)
		}
	})

	t.Run("database behind the binary's schema: said so", func(t *testing.T) {
		d := startTestDemo(t)
		// attacker's connection waits for the demo's own writes at start
		// (a plain one failed with SQLITE_BUSY on a busy machine).
		write(t, attacker(t, d), `DELETE FROM goose_db_version WHERE version_id = (SELECT MAX(version_id) FROM goose_db_version)`)
		status, body := readyz(t, d, "")
		if status != http.StatusServiceUnavailable || !strings.Contains(body, "database: failing: schema ") || !strings.Contains(body, "but this tapdesk runs on schema") {
			t.Fatalf("%d:\n%s", status, body)
		}
	})

	t.Run("database closed: said so; liveness unaffected", func(t *testing.T) {
		d := startTestDemo(t)
		d.app.db.Close()
		status, body := readyz(t, d, "")
		t.Logf("readyz:\n%s", body)
		if status != http.StatusServiceUnavailable || !strings.Contains(body, "database: failing: ") {
			t.Fatalf("%d:\n%s", status, body)
		}
		res, err := http.Get(d.baseURL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("healthz %d with the database closed", res.StatusCode)
		}
	})
}
