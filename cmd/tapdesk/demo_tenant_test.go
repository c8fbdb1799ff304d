package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk/entra/fakegraph"
)

// `tapdesk demo --tenant FILE` runs on the given directory: a user only the
// file has is found by the portal's search (the benchmark gives a tenant of
// many users this way), and a file that is not a tenant stops the demo with
// its name. It also checks the demo's metrics are on by default.
func TestDemoTenantFlag(t *testing.T) {
	tenant := fakegraph.SampleTenant()
	var extra fakegraph.User
	for _, u := range tenant.Users {
		if u.UserPrincipalName == "priya.patel@contoso.example" {
			extra = *u
		}
	}
	extra.ID, extra.DisplayName, extra.UserPrincipalName, extra.Mail =
		"b3c00000-0000-4000-8000-000000000001", "Quinn Onlyinfile", "quinn.onlyinfile@contoso.example", "quinn.onlyinfile@contoso.example"
	extra.Methods = nil
	tenant.Users = append(tenant.Users, &extra)
	raw, err := json.Marshal(tenant)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "tenant.json")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	var ended error
	go func() {
		done <- run(ctx, []string{"demo", "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "t.db"), "--tenant", file},
			func(string) string { return "" }, out, io.Discard)
	}()
	stopped := false
	t.Cleanup(func() {
		cancel()
		if !stopped {
			<-done
		}
	})
	running := regexp.MustCompile(`running at (http://127\.0\.0\.1:[0-9]+)`)
	base := ""
	for deadline := time.Now().Add(60 * time.Second); base == ""; time.Sleep(20 * time.Millisecond) {
		if m := running.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
		}
		select {
		case ended = <-done:
			stopped = true
			t.Fatalf("demo --tenant ended: %v\n%s", ended, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo --tenant did not start:\n%s", out.String())
		}
	}
	jar, _ := cookiejar.New(nil)
	agent := &browser{t: t, base: base, client: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	agent.signIn("/", "agent")
	agent.get("/users?q=quinn").status(http.StatusOK).contains("quinn.onlyinfile@contoso.example")

	// Given no metrics address, the demo serves Prometheus metrics on
	// loopback (serve's are off unless TAPDESK_METRICS_ADDR is set:
	// TestServeMetricsListener), and says where.
	metricsURL := "http://" + defaultDemoMetricsAddr + "/metrics"
	if !strings.Contains(out.String(), "metrics:       "+metricsURL+" (Prometheus)") {
		t.Errorf("the demo's welcome does not name %s:\n%s", metricsURL, out.String())
	}
	res, err := http.Get(metricsURL)
	if err != nil {
		t.Fatalf("the demo's metrics by default: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "tapdesk_build_info") {
		t.Errorf("GET %s: %d, want 200 with tapdesk's metrics:\n%.300s", metricsURL, res.StatusCode, body)
	}

	if err := os.WriteFile(file, []byte(`{"users": "no"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), []string{"demo", "--addr", "127.0.0.1:0", "--tenant", file}, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("demo with a broken tenant file: %v, want an error naming %s", err, file)
	}
}
