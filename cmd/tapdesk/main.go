// Command tapdesk runs the portal (serve), the whole product on embedded
// defaults (demo), schema migrations (migrate) and prints its version.
// This file and its siblings are wiring only; the end-to-end tests reuse it.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/entra/fakegraph"
	"github.com/tapdesk/tapdesk/store"
)

const usage = `tapdesk hands out Microsoft Entra ID Temporary Access Passes with a
verified requester, a recorded caller check, a second person's approval and
an audit trail.

Usage:
  tapdesk demo    [--addr 127.0.0.1:8080] [--db DB]     the whole product on a sample tenant
  tapdesk serve   [flags]                               production (tapdesk serve --help)
  tapdesk migrate --db DB                               apply schema migrations and exit
  tapdesk audit   verify|export|prune|seed [flags]      the audit trail (tapdesk audit help)
  tapdesk db      backup --to FILE [--db PATH]          a checked copy of the live SQLite database (tapdesk db help)
  tapdesk db      copy --from FILE --to URL             move a SQLite installation into an empty PostgreSQL database
  tapdesk healthcheck [--addr :8080 | --url URL]        exit 0 when the running tapdesk answers /healthz (for HEALTHCHECK)
  tapdesk version                                       version, commit, build date and Go version

DB (--db, TAPDESK_DB) is a SQLite file (tapdesk.db, the default) or a PostgreSQL
URL: postgres://user:password@host:5432/tapdesk?sslmode=verify-full.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && (os.Args[1] == "serve" || os.Args[1] == "demo") {
		applyGCPolicy(os.Getenv)
	}
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, err)
		}
		var exit *exitError
		if errors.As(err, &exit) {
			os.Exit(exit.code)
		}
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("tapdesk: name a command")
	}
	switch args[0] {
	case "demo":
		return runDemo(ctx, args[1:], getenv, stdout, stderr)
	case "serve":
		return runServe(ctx, args[1:], getenv, stderr)
	case "audit":
		return runAudit(ctx, args[1:], getenv, stdout, stderr)
	case "db":
		return runDB(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, args[1:], getenv, stdout, stderr)
	case "config-reference":
		return runConfigReference(args[1:], stdout, stderr)
	case "healthcheck":
		return runHealthcheck(ctx, args[1:], getenv, stdout, stderr)
	case "version", "--version":
		fmt.Fprint(stdout, currentBuild())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("tapdesk: unknown command %q", args[0])
}

func runDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	db := fs.String("db", "", "the database to keep data in: a SQLite file or a postgres:// URL (default: a fresh SQLite file in a temp folder)")
	tenantFile := fs.String("tenant", "", "tenant JSON for the fake Graph in the format of entra/fakegraph/sample_tenant.json (default: the built-in sample tenant); the personas' users must be in it")
	verbose := fs.Bool("v", false, "log every request")
	proxyList := fs.String("trusted-proxies", getenv("TAPDESK_TRUSTED_PROXIES"), "address ranges of reverse proxies in front of the demo, as for serve (env TAPDESK_TRUSTED_PROXIES)")
	ipHeader := fs.String("client-ip-header", getenv("TAPDESK_CLIENT_IP_HEADER"), "the header the trusted proxies name the client in, X-Forwarded-For (default) or X-Real-IP, as for serve (env TAPDESK_CLIENT_IP_HEADER)")
	rateLimits := fs.String("rate-limits", getenv("TAPDESK_RATE_LIMITS"), "changes to the default rate limits, as for serve (env TAPDESK_RATE_LIMITS)")
	metricsAddr := fs.String("metrics-addr", cmp.Or(getenv("TAPDESK_METRICS_ADDR"), defaultDemoMetricsAddr), "address to serve Prometheus /metrics on, or off (env TAPDESK_METRICS_ADDR)")
	logFormat := fs.String("log-format", getenv("TAPDESK_LOG_FORMAT"), "text (default) or json (env TAPDESK_LOG_FORMAT)")
	sweepEvery := fs.String("sweep-interval", getenv("TAPDESK_SWEEP_INTERVAL"), "how often the background jobs run, as for serve (env TAPDESK_SWEEP_INTERVAL, default 1m)")
	graceText := fs.String("shutdown-grace", getenv("TAPDESK_SHUTDOWN_GRACE"), "how long requests in flight may finish on Ctrl+C or SIGTERM, as for serve (env TAPDESK_SHUTDOWN_GRACE, default 30s)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var tenant *fakegraph.Tenant
	if *tenantFile != "" {
		var err error
		if tenant, err = fakegraph.LoadTenantFile(*tenantFile, time.Now()); err != nil {
			return err
		}
	}
	var proxies []string
	for _, p := range strings.Split(*proxyList, ",") {
		if p = strings.TrimSpace(p); p != "" {
			proxies = append(proxies, p)
		}
	}
	trusted, header, limits, problems := networkSettings(proxies, *ipHeader, *rateLimits)
	grace, sweep, opsProblems := opsSettings(*graceText, *sweepEvery)
	problems = append(problems, opsProblems...)
	format, err := tapdesk.ParseLogFormat(*logFormat, tapdesk.LogFormatText)
	if err != nil {
		problems = append(problems, "TAPDESK_LOG_FORMAT: "+tapdesk.ErrorMessage(err))
	}
	if len(problems) > 0 {
		return &configError{problems}
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := newLogger(stderr, format, level)
	d, err := startDemo(ctx, demoOptions{Addr: *addr, DBPath: *db, Logger: log, TrustedProxies: trusted, ClientIPHeader: header, RateLimits: limits,
		MetricsAddr: *metricsAddr, Tenant: tenant, SweepInterval: sweep, ShutdownGrace: grace})
	if err != nil {
		return err
	}
	d.printWelcome(stdout)
	return d.run(ctx)
}

// defaultDemoMetricsAddr is the demo's metrics address: loopback, on the
// port commonly used for an application's own exporter.
const defaultDemoMetricsAddr = "127.0.0.1:9464"

func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	s := newSettings("migrate")
	s.fs.SetOutput(stderr)
	s.database()
	if err := s.parse(args, getenv); err != nil {
		return err
	}
	db, err := store.Open(ctx, s.get("db"))
	if err != nil {
		return fmt.Errorf("tapdesk migrate: %w", err)
	}
	defer db.Close()
	for _, f := range db.FilesTightened() {
		fmt.Fprintln(stdout, f)
	}
	cur, known, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s database %s is at schema version %d (this tapdesk knows up to %d)\n", db.Backend(), store.DisplayDSN(s.get("db")), cur, known)
	return nil
}
