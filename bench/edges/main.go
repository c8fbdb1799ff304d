// Command edges runs what `tapdesk serve` talks to, in a process of its
// own, for the benchmark: the fake Graph (HTTPS, its certificate written to
// a file for SSL_CERT_FILE), the demo identity provider with tapdesk
// registered as a client, and the SMTP capture. Measured apart, the
// server's RSS and CPU are tapdesk's own. It prints the serve environment
// as one JSON object on stdout, then runs until SIGTERM or SIGINT. The
// same edges as cmd/tapdesk's crash and two-instance rigs (childEdges).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tapdesk/tapdesk/entra/fakegraph"
	"github.com/tapdesk/tapdesk/mail"
	"github.com/tapdesk/tapdesk/signin/demoidp"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "edges:", err)
		os.Exit(1)
	}
}

func run() error {
	tenantPath := flag.String("tenant", "", "the fake Graph's tenant (JSON, as demo --tenant); empty: the sample tenant")
	base := flag.String("base", "", "where tapdesk serve listens (http://127.0.0.1:PORT): its sign-in callback is registered there")
	dir := flag.String("dir", "", "folder for the fake Graph's certificate")
	graphDelay := flag.Duration("graph-delay", 0, "hold back each of the fake Graph's answers this long (sign-in tokens excepted), as a real Graph's round trip would")
	flag.Parse()
	if *base == "" || *dir == "" {
		return fmt.Errorf("give --base and --dir")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	tenant := fakegraph.SampleTenant()
	if *tenantPath != "" {
		var err error
		if tenant, err = fakegraph.LoadTenantFile(*tenantPath, time.Now()); err != nil {
			return err
		}
	}
	fake, err := fakegraph.NewServer(tenant)
	if err != nil {
		return err
	}
	defer fake.Close()
	if *graphDelay > 0 {
		fake.SetFault("/v1.0/**", fakegraph.Fault{Delay: *graphDelay})
	}
	ca := filepath.Join(*dir, "fakegraph-ca.pem")
	if err := os.WriteFile(ca, fake.CertificatePEM(), 0o600); err != nil {
		return err
	}
	capture, err := mail.StartCapture()
	if err != nil {
		return err
	}
	defer capture.Close()

	idpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	idpURL := "http://" + idpLn.Addr().String()
	personas := demoidp.DefaultPersonas()
	idp, err := demoidp.New(idpURL, personas)
	if err != nil {
		return err
	}
	raw := make([]byte, 16)
	_, _ = rand.Read(raw)
	secret := hex.EncodeToString(raw)
	idp.RegisterClient(fakegraph.SampleSignInClientID, secret, *base+"/auth/callback")
	idpSrv := &http.Server{Handler: idp.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go idpSrv.Serve(idpLn)
	defer idpSrv.Close()

	var approvers []string
	for _, p := range personas {
		for _, r := range p.Roles {
			if r == "Tap.Approver" {
				approvers = append(approvers, p.Email)
			}
		}
	}
	env := map[string]string{
		"SSL_CERT_FILE":       ca,
		"TAPDESK_OIDC_ISSUER": idpURL, "TAPDESK_OIDC_CLIENT_ID": fakegraph.SampleSignInClientID,
		"TAPDESK_OIDC_CLIENT_SECRET": secret, "TAPDESK_OIDC_REDIRECT_URL": *base + "/auth/callback",
		"TAPDESK_GRAPH_TENANT_ID": tenant.ID, "TAPDESK_GRAPH_CLIENT_ID": tenant.ClientID,
		"TAPDESK_GRAPH_CLIENT_SECRET": tenant.ClientSecret,
		"TAPDESK_GRAPH_BASE_URL":      fake.URL(), "TAPDESK_AUTHORITY_HOST": fake.URL(),
		"TAPDESK_SMTP_HOST": capture.Host(), "TAPDESK_SMTP_PORT": fmt.Sprint(capture.Port()),
		"TAPDESK_SMTP_TLS": "none", "TAPDESK_SMTP_FROM": "tapdesk@contoso.example",
		"TAPDESK_APPROVER_EMAILS": strings.Join(approvers, ","),
	}
	if err := json.NewEncoder(os.Stdout).Encode(env); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}
