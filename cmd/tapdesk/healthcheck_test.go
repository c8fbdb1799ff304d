package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tapdesk/tapdesk/internal/freeport"
)

// The container's HEALTHCHECK: 0 against a running tapdesk, 1 with a
// sentence when nothing answers or the answer is not 200.
func TestHealthcheck(t *testing.T) {
	d := startTestDemo(t)
	addr := strings.TrimPrefix(d.baseURL, "http://")
	_, port, _ := net.SplitHostPort(addr)
	// Asked the way the image asks: TAPDESK_ADDR names every interface.
	out, _, err := runCLI(t, map[string]string{"TAPDESK_ADDR": ":" + port}, "healthcheck")
	if err != nil || !strings.Contains(out, "200 OK") {
		t.Fatalf("healthcheck against the demo: %q %v", out, err)
	}

	closed := freeport.MustAddr(t)
	if _, _, err := runCLI(t, nil, "healthcheck", "--addr", closed); exitCode(err) != 1 || !strings.Contains(err.Error(), "did not answer") {
		t.Fatalf("healthcheck with nothing listening: %v", err)
	}

	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer failing.Close()
	if _, _, err := runCLI(t, nil, "healthcheck", "--url", failing.URL+"/healthz"); exitCode(err) != 1 || !strings.Contains(err.Error(), "503") {
		t.Fatalf("healthcheck against a 503: %v", err)
	}
}

func TestHealthzURL(t *testing.T) {
	for addr, want := range map[string]string{
		":8080":          "http://127.0.0.1:8080/healthz",
		"0.0.0.0:9000":   "http://127.0.0.1:9000/healthz",
		"[::]:8080":      "http://[::1]:8080/healthz",
		"10.1.2.3:8080":  "http://10.1.2.3:8080/healthz",
		"localhost:8080": "http://localhost:8080/healthz",
	} {
		if got, err := healthzURL(addr); err != nil || got != want {
			t.Errorf("healthzURL(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
	if _, err := healthzURL("8080"); err == nil {
		t.Error("an address without a port was accepted")
	}
}
