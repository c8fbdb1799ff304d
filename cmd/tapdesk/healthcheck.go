package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// runHealthcheck asks a running tapdesk for /healthz and exits 0 when it
// answers 200, 1 otherwise. It is the container's HEALTHCHECK: the
// distroless image has no shell, curl or wget.
func runHealthcheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	s := newSettings("healthcheck")
	s.fs.SetOutput(stderr)
	s.str("addr", ":8080", "the address tapdesk serve listens on; the check asks it on loopback")
	target := s.fs.String("url", "", "the URL to ask instead (default: /healthz at --addr on loopback)")
	timeout := s.fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if err := s.parse(args, getenv); err != nil {
		return err
	}
	u := *target
	if u == "" {
		var err error
		if u, err = healthzURL(s.get("addr")); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("tapdesk healthcheck: %q is not a URL: %w", u, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("tapdesk healthcheck: %s did not answer: %v", u, err)}
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &exitError{code: 1, msg: fmt.Sprintf("tapdesk healthcheck: %s answered %s", u, resp.Status)}
	}
	fmt.Fprintf(stdout, "%s: %s\n", u, resp.Status)
	return nil
}

// healthzURL is /healthz at the listen address, asked on loopback when the
// address names every interface (":8080", "0.0.0.0:8080", "[::]:8080").
func healthzURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("tapdesk healthcheck: TAPDESK_ADDR %q is not host:port: %w", addr, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return (&url.URL{Scheme: "http", Host: net.JoinHostPort(host, port), Path: "/healthz"}).String(), nil
}
