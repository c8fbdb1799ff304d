package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
)

const auditUsage = `Usage:
  tapdesk audit verify --db DB [--head SEQ:MAC] [--checkpoints FILE --public-key KEY]
                                                walk the hash chain and replay every request; exit 0 if all holds,
                                                1 naming the first bad event or each request its events do not explain;
                                                with --checkpoints, also every signed checkpoint in FILE (events cut off the end)
  tapdesk audit export --db DB --format csv|jsonl [--from T] [--to T] [--activity A]
                       [--actor UPN|ID] [--target UPN|ID] [--result success|failure] [--request ID] [-o FILE]
  tapdesk audit prune  --db DB --before DATE    remove older events, keeping a checkpoint the chain verifies from
  tapdesk audit seed   --db DB --events N       append N synthetic events (marked) for benchmarks and demos
  tapdesk audit public-key                       print the public key of TAPDESK_AUDIT_SIGNING_KEY, for auditors to keep
  tapdesk audit evidence REQUEST_ID [--out FILE] a request's signed evidence pack, to attach to its ticket
  tapdesk audit check-evidence FILE --public-key KEY
                                                check a pack offline (no database, no audit key); exit 1 naming what was changed

Every audit command reads the chain's key from TAPDESK_AUDIT_KEY (or
TAPDESK_AUDIT_KEY_FILE), and the keys before a rotation from
TAPDESK_AUDIT_OLD_KEYS (or _FILE, comma-separated), as serve does. Times are UTC: 2026-11-23 or
2026-11-23T14:30 or RFC 3339. DB is a SQLite file or a postgres:// URL.
`

// exitError ends the process with a chosen code (audit verify exits 1 when
// the chain does not hold, 2 when it could not run).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func runAudit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, auditUsage)
		return errors.New("tapdesk audit: name a command: verify, export, prune, seed, public-key, evidence or check-evidence")
	}
	switch args[0] {
	case "verify":
		return auditVerify(ctx, args[1:], getenv, stdout, stderr)
	case "export":
		return auditExport(ctx, args[1:], getenv, stdout, stderr)
	case "prune":
		return auditPrune(ctx, args[1:], getenv, stdout, stderr)
	case "seed":
		return auditSeed(ctx, args[1:], getenv, stdout, stderr)
	case "public-key":
		return auditPublicKey(args[1:], getenv, stdout, stderr)
	case "evidence":
		return auditEvidence(ctx, args[1:], getenv, stdout, stderr)
	case "check-evidence":
		return auditCheckEvidence(args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, auditUsage)
		return nil
	}
	fmt.Fprint(stderr, auditUsage)
	return fmt.Errorf("tapdesk audit: unknown command %q", args[0])
}

// auditSettings are the settings every audit command shares.
func auditSettings(name string, stderr io.Writer) *settings {
	s := newSettings("audit " + name)
	s.fs.SetOutput(stderr)
	s.database()
	s.secret("audit-key", "at least 32 characters; the key the audit trail's hash chain was written with", true)
	s.secret("audit-old-keys", "comma-separated audit keys used before a rotation, to verify the events they signed", false)
	return s
}

// openAudit parses the settings and opens the database with the key.
func openAudit(ctx context.Context, s *settings, args []string, getenv func(string) string, check func(*[]string)) (*store.DB, error) {
	problems, err := s.load(args, getenv)
	if err != nil {
		return nil, err
	}
	if k := s.get("audit-key"); k != "" && len(k) < store.MinAuditKeyLength {
		problems = append(problems, fmt.Sprintf("TAPDESK_AUDIT_KEY: must be at least %d characters", store.MinAuditKeyLength))
	}
	problems = append(problems, oldAuditKeyProblems(s)...)
	if check != nil {
		check(&problems)
	}
	if len(problems) > 0 {
		return nil, &configError{problems}
	}
	path := s.get("db")
	if err := store.CheckDSN(path); err != nil {
		return nil, fmt.Errorf("tapdesk audit: %w", err)
	}
	// An audit command reads an installation's trail: a SQLite file that is
	// not there is a mistyped path, not a new database to create.
	if !store.IsPostgresURL(path) {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("tapdesk audit: no database at %s (use --db)", store.DisplayDSN(path))
		}
	}
	db, err := store.Open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("tapdesk audit: %w", err)
	}
	for _, f := range db.FilesTightened() {
		fmt.Fprintln(s.fs.Output(), "tapdesk audit:", f)
	}
	if err := db.SetAuditKey(s.get("audit-key"), s.listOf("audit-old-keys")...); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// cliActor names the operator in events the CLI writes.
func cliActor(command string) tapdesk.Actor {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return tapdesk.Actor{Name: fmt.Sprintf("tapdesk audit %s (CLI, %s@%s)", command, name, host)}
}

func auditVerify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	s := auditSettings("verify", stderr)
	headFlag := s.fs.String("head", "", "a head an earlier verify printed (SEQ:MAC), kept elsewhere: the trail must still reach it")
	cpFlag := s.fs.String("checkpoints", "", "a file of signed checkpoints (TAPDESK_AUDIT_HEAD_FILE): each must check out and the trail must reach the last")
	keyFlag := s.fs.String("public-key", "", "with --checkpoints: the public key tapdesk audit public-key printed (a file holding it, or the PEM)")
	var recorded []store.Head
	var cps *checkpointFile
	db, err := openAudit(ctx, s, args, getenv, func(problems *[]string) {
		cps = checkpointsFlag(*cpFlag, *keyFlag, problems)
		if *headFlag == "" {
			return
		}
		h, err := store.ParseHead(*headFlag)
		if err != nil {
			*problems = append(*problems, "--head: "+err.Error())
		}
		recorded = append(recorded, h)
	})
	if err != nil {
		return err
	}
	defer db.Close()
	recorded = cps.furthest(recorded)
	start := time.Now()
	rep, err := db.VerifyChain(ctx, recorded...)
	if err != nil {
		return err
	}

	took := time.Since(start)
	rate := float64(rep.Checked) / max(took.Seconds(), 1e-9)
	if rep.Break == nil {
		if err := cps.report(ctx, db, rep, stdout); err != nil {
			return err
		}
	}
	if rep.Break != nil {
		fmt.Fprintf(stdout, "The audit trail does NOT check out at event %d: %s.\n  %s\n", rep.Break.Seq, rep.Break.Kind, rep.Break.Detail)
		if rep.Checked > 0 {
			fmt.Fprintf(stdout, "  Events %d–%d check out.\n", rep.FirstSeq, rep.LastSeq)
		}
		_ = cps.report(ctx, db, rep, stdout) // forged checkpoints too, if any
		return &exitError{code: 1, msg: fmt.Sprintf("audit verify: event %d %s", rep.Break.Seq, rep.Break.Kind)}
	}
	if rep.Checked == 0 {
		fmt.Fprintln(stdout, "The audit trail is empty: nothing to verify.")
		return nil
	}
	from := ""
	if rep.CheckpointSeq > 0 {
		from = fmt.Sprintf(", starting from the prune checkpoint (event %d)", rep.CheckpointSeq)
	}
	fmt.Fprintf(stdout, "The audit trail holds: %d events checked, %d–%d%s.\n", rep.Checked, rep.FirstSeq, rep.LastSeq, from)
	for _, n := range rep.Notes {
		fmt.Fprintf(stdout, "  Note: %s.\n", n)
	}
	fmt.Fprintf(stdout, "  Head: %d:%s\n", rep.LastSeq, rep.HeadMAC)
	fmt.Fprintln(stdout, "  Keep the head somewhere else and pass it to a later verify (--head): it then also shows that no events were cut off the end.")
	fmt.Fprintf(stderr, "verified in %s (%.0f events/s)\n", took.Round(time.Millisecond), rate)
	if n := len(rep.Unexplained); n > 0 {
		fmt.Fprintf(stdout, "But the database does NOT match the trail: %d finding(s) where a request is not what its events say (changed outside tapdesk):\n", n)
		for _, f := range rep.Unexplained {
			fmt.Fprintf(stdout, "  - %s\n", f.Detail)
		}
		return &exitError{code: 1, msg: fmt.Sprintf("audit verify: %d finding(s) on requests, the first on request %s", n, rep.Unexplained[0].RequestID)}
	}
	return nil
}

// parseCLITime reads a UTC date or date-time.
func parseCLITime(name, v string, problems *[]string) time.Time {
	if v == "" {
		return time.Time{}
	}
	for _, layout := range []string{"2006-01-02", "2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339Nano} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t.UTC()
		}
	}
	*problems = append(*problems, fmt.Sprintf("--%s: %q is not a date like 2026-11-23 or 2026-11-23T14:30 (UTC)", name, v))
	return time.Time{}
}

func auditExport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	s := auditSettings("export", stderr)
	format := s.fs.String("format", "csv", "csv (UTF-8 with BOM, for Excel) or jsonl (JSON Lines, for a SIEM)")
	out := s.fs.String("o", "", "write to this file instead of standard output")
	from := s.fs.String("from", "", "events at or after this time (UTC)")
	to := s.fs.String("to", "", "events before this time (UTC)")
	var f store.EventFilter
	s.fs.StringVar(&f.Activity, "activity", "", `activity name, exact (e.g. "Approve request")`)
	s.fs.StringVar(&f.Actor, "actor", "", "initiated by: UPN or object id, exact")
	s.fs.StringVar(&f.Target, "target", "", "target user: UPN or object id, exact")
	s.fs.StringVar(&f.Result, "result", "", "success or failure")
	s.fs.StringVar(&f.RequestID, "request", "", "request id")
	db, err := openAudit(ctx, s, args, getenv, func(problems *[]string) {
		if *format != store.FormatCSV && *format != store.FormatJSONL {
			*problems = append(*problems, fmt.Sprintf("--format: %q is not csv or jsonl", *format))
		}
		if f.Result != "" && f.Result != "success" && f.Result != "failure" {
			*problems = append(*problems, "--result: use success or failure")
		}
		f.From = parseCLITime("from", *from, problems)
		f.To = parseCLITime("to", *to, problems)
	})
	if err != nil {
		return err
	}
	defer db.Close()

	// The export is audited first, so it appears in what it exports.
	if err := db.AppendEvent(ctx, tapdesk.Event{Activity: tapdesk.ActExport, Category: tapdesk.CatAudit,
		Actor: cliActor("export"), Details: map[string]string{"format": *format, "filter": strings.Join(args, " "), "via": "cli"}}); err != nil {
		return err
	}
	start := time.Now()
	var n int64
	if *out == "" {
		n, err = db.ExportEvents(ctx, stdout, *format, f)
	} else {
		n, err = exportToFile(ctx, db, *out, *format, f)
	}
	if err != nil {
		return fmt.Errorf("tapdesk audit export: after %d events: %w", n, err)
	}
	fmt.Fprintf(stderr, "exported %d events as %s in %s\n", n, *format, time.Since(start).Round(time.Millisecond))
	return nil
}

// exportToFile writes the export to path (created or truncated, owner-only:
// it is the audit trail).
func exportToFile(ctx context.Context, db *store.DB, path, format string, f store.EventFilter) (int64, error) {
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	// An existing file keeps its mode on truncation: restrict it before
	// writing (not a device or pipe such as /dev/stdout).
	if fi, err := file.Stat(); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm() != 0o600 {
		if err := file.Chmod(0o600); err != nil {
			file.Close()
			return 0, fmt.Errorf("%s is readable by other users and cannot be restricted: %w", path, err)
		}
	}
	n, err := db.ExportEvents(ctx, file, format, f)
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	return n, err
}

func auditPrune(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	s := auditSettings("prune", stderr)
	beforeFlag := s.fs.String("before", "", "remove events before this date (UTC) [required]")
	var before time.Time
	db, err := openAudit(ctx, s, args, getenv, func(problems *[]string) {
		if *beforeFlag == "" {
			*problems = append(*problems, "--before is not set: prune removes events before a date, e.g. --before 2025-01-01")
			return
		}
		before = parseCLITime("before", *beforeFlag, problems)
		if before.After(time.Now()) {
			*problems = append(*problems, "--before: the date is in the future; prune keeps at least the events up to now")
		}
	})
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := db.PruneEvents(ctx, before, cliActor("prune"))
	if err != nil {
		return err
	}
	if res.Removed == 0 {
		fmt.Fprintf(stdout, "No events before %s: nothing pruned.\n", before.Format(time.RFC3339))
		return nil
	}
	fmt.Fprintf(stdout, "Removed %d events (through event %d). Checkpoint event %d carries the last removed mac, so verify works from there.\n",
		res.Removed, res.ThroughSeq, res.CheckpointSeq)
	return nil
}

func auditSeed(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	s := auditSettings("seed", stderr)
	events := s.fs.String("events", "", "how many synthetic events to append [required]")
	var n int
	db, err := openAudit(ctx, s, args, getenv, func(problems *[]string) {
		var err error
		if n, err = strconv.Atoi(strings.ReplaceAll(*events, "_", "")); err != nil || n < 1 {
			*problems = append(*problems, "--events: give a positive number of events, e.g. --events 1000000")
		}
	})
	if err != nil {
		return err
	}
	defer db.Close()
	start := time.Now()
	base := start.Add(-time.Duration(n) * time.Second).UTC()
	if err := db.AppendEvents(ctx, n, 10_000, func(i int) tapdesk.Event {
		return syntheticEvent(i, base.Add(time.Duration(i)*time.Second))
	}); err != nil {
		return err
	}
	took := time.Since(start)
	fmt.Fprintf(stdout, "Appended %d synthetic events in %s (%.0f events/s, chained, 10,000 per transaction).\n",
		n, took.Round(time.Millisecond), float64(n)/took.Seconds())
	return nil
}

// syntheticEvent is a plausible event for benchmarks and demos. Every one
// says it is synthetic, in its details and its actor, so nobody mistakes
// seeded data for a real trail.
func syntheticEvent(i int, at time.Time) tapdesk.Event {
	acts := []struct {
		a tapdesk.Activity
		c tapdesk.Category
	}{
		{tapdesk.ActSignIn, tapdesk.CatSignIn}, {tapdesk.ActUserLookup, tapdesk.CatRequest},
		{tapdesk.ActRequestFiled, tapdesk.CatRequest}, {tapdesk.ActMailQueued, tapdesk.CatMail},
		{tapdesk.ActApprove, tapdesk.CatApproval}, {tapdesk.ActIssueAttempt, tapdesk.CatMethod},
		{tapdesk.ActReveal, tapdesk.CatMethod}, {tapdesk.ActDeny, tapdesk.CatApproval},
	}
	a := acts[i%len(acts)]
	req := fmt.Sprintf("SYNTHETIC%017d", i/len(acts))
	ev := tapdesk.Event{Time: at, Activity: a.a, Category: a.c,
		Actor: tapdesk.Actor{TenantID: "00000000-0000-0000-0000-000000000000", ObjectID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i%50),
			UPN: fmt.Sprintf("synthetic.agent%02d@example.invalid", i%50), Name: fmt.Sprintf("Synthetic Agent %02d", i%50)},
		ActorIP: fmt.Sprintf("198.51.100.%d", i%254+1), ActorAgent: "tapdesk-audit-seed",
		TargetID: fmt.Sprintf("00000000-0000-4000-9000-%012d", (i/len(acts))%5000), TargetUPN: fmt.Sprintf("synthetic.user%04d@example.invalid", (i/len(acts))%5000),
		RequestID: req, CorrelationID: "corr-" + req,
		Details: map[string]string{"synthetic": "true"}}
	if a.a == tapdesk.ActDeny {
		ev.Result, ev.Reason = tapdesk.ResultFailure, "synthetic denial"
	}
	return ev
}
