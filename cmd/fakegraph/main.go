// Command fakegraph runs tapdesk's fake Microsoft Graph (entra/fakegraph) as
// a server of its own, for local development and for anyone testing against
// tapdesk's Graph integration:
//
//	go run ./cmd/fakegraph --addr 127.0.0.1:9090 [--tenant FILE.json]
//
// It serves the Graph endpoints tapdesk uses under /v1.0, the Entra token
// endpoint for client-credential requests, and the /_fake/ control
// endpoints (faults, received requests, sent mail), over HTTPS with a fresh
// self-signed certificate that it writes to --ca-out. On start it prints
// how to point tapdesk at it. Wiring only: the fake lives in entra/fakegraph.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tapdesk/tapdesk/entra/fakegraph"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "fakegraph:", err)
		}
		os.Exit(2)
	}
}

// run serves until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return serve(ctx, args, stdout, stderr, nil)
}

// serve is run; ready, when set, receives the server once it listens (for
// tests, which listen on port 0).
func serve(ctx context.Context, args []string, stdout, stderr io.Writer, ready func(*fakegraph.Server)) error {
	fs := flag.NewFlagSet("fakegraph", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9090", "address to listen on (HTTPS)")
	tenantFile := fs.String("tenant", "", "tenant JSON in the format of entra/fakegraph/sample_tenant.json (default: the built-in sample tenant, contoso.example)")
	caOut := fs.String("ca-out", filepath.Join(os.TempDir(), "fakegraph-ca.pem"), "file to write the server's self-signed CA certificate to")
	verbose := fs.Bool("v", false, "log every request")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (flags: --addr, --tenant, --ca-out, -v)", fs.Args())
	}

	tenant := fakegraph.SampleTenant()
	if *tenantFile != "" {
		var err error
		if tenant, err = fakegraph.LoadTenantFile(*tenantFile, time.Now()); err != nil {
			return err
		}
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	srv, err := fakegraph.NewServer(tenant, fakegraph.WithAddr(*addr), fakegraph.WithLogger(log))
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := os.WriteFile(*caOut, srv.CertificatePEM(), 0o644); err != nil {
		return fmt.Errorf("writing the CA certificate: %w", err)
	}
	printWelcome(stdout, srv, *caOut)
	if ready != nil {
		ready(srv)
	}
	<-ctx.Done()
	return nil
}

func printWelcome(w io.Writer, srv *fakegraph.Server, caFile string) {
	tn := srv.Tenant()
	u := srv.URL()
	fmt.Fprintf(w, "fake Microsoft Graph for tenant %s (%s) at %s\n\n", tn.Domain, tn.ID, u)
	fmt.Fprintf(w, "  Graph:            %s/v1.0\n", u)
	fmt.Fprintf(w, "  token authority:  %s/%s/oauth2/v2.0/token\n", u, tn.ID)
	fmt.Fprintf(w, "  CA certificate:   %s (fresh for this run)\n\n", caFile)
	fmt.Fprintln(w, "Point tapdesk serve at it:")
	fmt.Fprintf(w, "  export SSL_CERT_FILE=%s   # trust only this CA (the process then trusts no public CA)\n", caFile)
	fmt.Fprintf(w, "  export TAPDESK_GRAPH_BASE_URL=%s\n", u)
	fmt.Fprintf(w, "  export TAPDESK_AUTHORITY_HOST=%s\n", u)
	fmt.Fprintf(w, "  export TAPDESK_GRAPH_TENANT_ID=%s\n", tn.ID)
	fmt.Fprintf(w, "  export TAPDESK_GRAPH_CLIENT_ID=%s\n", tn.ClientID)
	fmt.Fprintf(w, "  export TAPDESK_GRAPH_CLIENT_SECRET=%s\n", tn.ClientSecret)
	if len(tn.Users) > 0 {
		// Any user of the tenant can be the sender; mail lands in /_fake/mail.
		fmt.Fprintf(w, "  # mail through Graph: TAPDESK_MAIL_TRANSPORT=graph TAPDESK_MAIL_FROM=%s\n", tn.Users[0].UserPrincipalName)
	}
	for _, sp := range tn.ServicePrincipals {
		// tapdesk reads who holds its roles from its sign-in app.
		fmt.Fprintf(w, "  # sign-in app %q defining app roles: TAPDESK_OIDC_CLIENT_ID=%s\n", sp.DisplayName, sp.AppID)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Inject faults, read what arrived:")
	fmt.Fprintf(w, "  curl --cacert %s %s/_fake/faults -d '{\"pattern\":\"POST /v1.0/users/*/authentication/temporaryAccessPassMethods\",\"status\":429,\"retryAfter\":\"2\",\"times\":1}'\n", caFile, u)
	fmt.Fprintf(w, "  curl --cacert %s %s/_fake/requests      # also /_fake/mail; DELETE clears\n\n", caFile, u)
	fmt.Fprintln(w, "Press Ctrl+C to stop.")
}
