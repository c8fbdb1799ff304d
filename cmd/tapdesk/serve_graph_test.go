package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startServe runs `tapdesk serve` with env until the test ends and returns
// its address and its "tapdesk serving" log line.
func startServe(t *testing.T, env map[string]string) (addr string, line map[string]any) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, envFrom(env), io.Discard, pw); pw.Close() }()
	sc := bufio.NewScanner(pr)
	logs := &strings.Builder{}
	for sc.Scan() {
		logs.WriteString(sc.Text() + "\n")
		if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == "tapdesk serving" {
			addr, _ = line["addr"].(string)
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if addr == "" {
		cancel()
		t.Fatalf("serve did not start: %v\n%s", <-done, logs)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve stopped with: %v", err)
		}
	})
	return addr, line
}

func TestServeMailThroughGraph(t *testing.T) {
	env := validServeEnv(t)
	delete(env, "TAPDESK_SMTP_HOST")
	delete(env, "TAPDESK_SMTP_FROM")
	env["TAPDESK_MAIL_TRANSPORT"] = "graph"

	t.Run("needs the sender mailbox", func(t *testing.T) {
		err := run(context.Background(), []string{"serve"}, envFrom(env), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "TAPDESK_MAIL_FROM") {
			t.Fatalf("started without TAPDESK_MAIL_FROM: %v", err)
		}
		if strings.Contains(err.Error(), "TAPDESK_SMTP_HOST") || strings.Contains(err.Error(), "TAPDESK_SMTP_FROM") {
			t.Errorf("SMTP settings demanded for the graph transport:\n%v", err)
		}
	})

	env["TAPDESK_MAIL_FROM"] = "tapdesk@contoso.example"
	env["TAPDESK_AUTHORITY_HOST"] = "https://127.0.0.1:1" // nothing answers: readiness must not reach out
	addr, line := startServe(t, env)
	if line["mail_transport"] != "graph" || line["graph"] != "https://graph.microsoft.com" {
		t.Errorf("start line %v", line)
	}
	// Mail through Graph has no relay of its own to check: the token
	// check covers it (and fails here, with no tenant behind the settings).
	res, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "mail: ok (through Graph sendMail: see graph token)") ||
		!strings.Contains(string(body), "graph token: failing: ") || strings.Contains(string(body), "smtp") {
		t.Errorf("readyz %d\n%s", res.StatusCode, body)
	}
}

func TestServeCloudAndTransportSettings(t *testing.T) {
	t.Run("unknown cloud and transport", func(t *testing.T) {
		env := validServeEnv(t)
		env["TAPDESK_GRAPH_CLOUD"] = "germany"
		env["TAPDESK_MAIL_TRANSPORT"] = "pigeon"
		err := run(context.Background(), []string{"serve"}, envFrom(env), io.Discard, io.Discard)
		if err == nil {
			t.Fatal("serve started")
		}
		for _, want := range []string{`TAPDESK_GRAPH_CLOUD: unknown cloud "germany"; use one of global, usgov, usgov-dod, china`,
			`TAPDESK_MAIL_TRANSPORT: "pigeon" is not smtp or graph`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("refusal lacks %q:\n%v", want, err)
			}
		}
	})
	t.Run("a preset sets both roots", func(t *testing.T) {
		env := validServeEnv(t)
		env["TAPDESK_GRAPH_CLOUD"] = "usgov-dod"
		if _, line := startServe(t, env); line["graph"] != "https://dod-graph.microsoft.us" {
			t.Errorf("start line %v", line)
		}
	})
	t.Run("an explicit base URL overrides the preset", func(t *testing.T) {
		env := validServeEnv(t)
		env["TAPDESK_GRAPH_CLOUD"] = "china"
		env["TAPDESK_GRAPH_BASE_URL"] = "https://graph-proxy.contoso.example/"
		if _, line := startServe(t, env); line["graph"] != "https://graph-proxy.contoso.example" {
			t.Errorf("start line %v", line)
		}
	})
	t.Run("smtp accepts TAPDESK_MAIL_FROM", func(t *testing.T) {
		env := validServeEnv(t)
		delete(env, "TAPDESK_SMTP_FROM")
		env["TAPDESK_MAIL_FROM"] = "tapdesk@contoso.example"
		startServe(t, env)
	})
}
