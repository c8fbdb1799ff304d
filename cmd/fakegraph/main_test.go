package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk/entra/fakegraph"
)

// clientFor trusts only the CA file the command wrote.
func clientFor(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", caFile)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// token gets an app-only token as tapdesk would, with the printed settings.
func token(t *testing.T, c *http.Client, base, tenant, clientID, secret string) string {
	t.Helper()
	resp, err := c.PostForm(base+"/"+tenant+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {clientID}, "client_secret": {secret}, "scope": {"https://graph.microsoft.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %d %v", resp.StatusCode, err)
	}
	return tok.AccessToken
}

func TestRunServesATenantFile(t *testing.T) {
	dir := t.TempDir()
	tenant := fakegraph.SampleTenant()
	tenant.Domain = "fabrikam.example"
	raw, _ := json.Marshal(tenant)
	tenantFile := filepath.Join(dir, "tenant.json")
	if err := os.WriteFile(tenantFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out strings.Builder
	started := make(chan *fakegraph.Server, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, []string{"--addr", "127.0.0.1:0", "--tenant", tenantFile, "--ca-out", caFile}, &out, io.Discard,
			func(s *fakegraph.Server) { started <- s })
	}()
	var srv *fakegraph.Server
	select {
	case srv = <-started:
	case err := <-done:
		t.Fatalf("run ended: %v", err)
	}
	for _, want := range []string{"tenant fabrikam.example", "SSL_CERT_FILE=" + caFile, "TAPDESK_GRAPH_BASE_URL=" + srv.URL(),
		"TAPDESK_AUTHORITY_HOST=" + srv.URL(), "TAPDESK_GRAPH_TENANT_ID=" + tenant.ID, "TAPDESK_GRAPH_CLIENT_SECRET=" + tenant.ClientSecret} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("welcome lacks %q:\n%s", want, out.String())
		}
	}
	c := clientFor(t, caFile)
	tok := token(t, c, srv.URL(), tenant.ID, tenant.ClientID, tenant.ClientSecret)
	req, _ := http.NewRequest("GET", srv.URL()+"/v1.0/users/grace.global@contoso.example", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("user: %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}

func TestRunRefusesBadInput(t *testing.T) {
	for _, args := range [][]string{{"--tenant", "/nonexistent.json"}, {"extra"}, {"--addr", "256.0.0.1:1"}} {
		if err := run(context.Background(), append(args, "--ca-out", filepath.Join(t.TempDir(), "ca.pem")), io.Discard, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// TestBinary builds the command and runs it briefly, as a developer would.
// The fake does not import the Graph SDK, so the build takes seconds.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "fakegraph")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	caFile := filepath.Join(dir, "ca.pem")
	cmd := exec.Command(bin, "--addr", "127.0.0.1:0", "--ca-out", caFile)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil {
			t.Errorf("fakegraph did not stop cleanly on interrupt: %v", err)
		}
	}()
	base := ""
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "export TAPDESK_GRAPH_BASE_URL="); ok {
			base = v
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	if base == "" {
		t.Fatal("no base URL printed")
	}
	c := clientFor(t, caFile)
	token(t, c, base, fakegraph.SampleTenantID, fakegraph.SampleClientID, fakegraph.SampleClientSecret)
	resp, err := c.Post(base+"/_fake/faults", "application/json", strings.NewReader(`{"pattern":"*","status":503,"times":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Errorf("fault: %d", resp.StatusCode)
	}
}
