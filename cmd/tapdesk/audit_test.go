package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
)

const cliKey = "cli-test-audit-key-0123456789abcdef"

// runCLI runs tapdesk with args and the audit key in its environment.
func runCLI(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut)
	return out.String(), errOut.String(), err
}

func exitCode(err error) int {
	var e *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &e):
		return e.code
	}
	return 2
}

func TestAuditCLI(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "tapdesk.db")
	env := map[string]string{"TAPDESK_AUDIT_KEY": cliKey}

	// The key is required, and must be long enough.
	if _, _, err := runCLI(t, map[string]string{}, "audit", "verify", "--db", db); err == nil || !strings.Contains(err.Error(), "TAPDESK_AUDIT_KEY") {
		t.Fatalf("verify without a key: %v", err)
	}
	if _, _, err := runCLI(t, map[string]string{"TAPDESK_AUDIT_KEY": "short"}, "audit", "verify", "--db", db); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Fatalf("short key: %v", err)
	}
	if _, _, err := runCLI(t, env, "audit", "verify", "--db", db); err == nil || !strings.Contains(err.Error(), "no database") {
		t.Fatalf("verify on a missing file: %v", err)
	}
	if _, err := runMigrateFor(t, db); err != nil {
		t.Fatal(err)
	}

	out, _, err := runCLI(t, env, "audit", "seed", "--db", db, "--events", "1_000")
	if err != nil || !strings.Contains(out, "Appended 1000 synthetic events") {
		t.Fatalf("seed: %q %v", out, err)
	}
	out, _, err = runCLI(t, env, "audit", "verify", "--db", db)
	if exitCode(err) != 0 || !strings.Contains(out, "holds: 1000 events checked, 1–1000") {
		t.Fatalf("verify: %q %v", out, err)
	}
	head := regexp.MustCompile(`Head: (1000:[0-9a-f]{64})`).FindStringSubmatch(out)
	if head == nil {
		t.Fatalf("verify printed no head: %q", out)
	}
	if out, _, err := runCLI(t, env, "audit", "verify", "--db", db, "--head", head[1]); exitCode(err) != 0 {
		t.Fatalf("verify with its own head: %q %v", out, err)
	}
	if _, _, err := runCLI(t, env, "audit", "verify", "--db", db, "--head", "nonsense"); err == nil || !strings.Contains(err.Error(), "SEQ:MAC") {
		t.Fatalf("a bad --head: %v", err)
	}

	// Exports: to a file, each format, with a filter.
	csvPath := filepath.Join(dir, "out.csv")
	if _, errOut, err := runCLI(t, env, "audit", "export", "--db", db, "--format", "csv", "--activity", "Deny request", "-o", csvPath); err != nil {
		t.Fatalf("export csv: %v %s", err, errOut)
	}
	b, err := os.ReadFile(csvPath)
	if err != nil || !bytes.HasPrefix(b, []byte("\ufeff")) {
		t.Fatalf("csv file: %v", err)
	}
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\ufeff")))).ReadAll()
	if err != nil || len(rows) != 1+125 {
		t.Fatalf("csv: %d rows, %v", len(rows), err)
	}
	for _, r := range rows[1:] {
		if r[2] != "Deny request" || r[4] != "failure" || !strings.Contains(r[17], `"synthetic":"true"`) {
			t.Fatalf("filtered row %v", r)
		}
	}
	out, _, err = runCLI(t, env, "audit", "export", "--db", db, "--format", "jsonl", "--actor", "synthetic.agent07@example.invalid")
	if err != nil {
		t.Fatal(err)
	}
	lines := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var ev struct {
			InitiatedBy struct {
				User struct{ UserPrincipalName string }
			}
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || ev.InitiatedBy.User.UserPrincipalName != "synthetic.agent07@example.invalid" {
			t.Fatalf("jsonl line %q: %v", sc.Text(), err)
		}
		lines++
	}
	if lines != 20 {
		t.Fatalf("jsonl: %d lines, want 20", lines)
	}
	for _, bad := range [][]string{{"--format", "xml"}, {"--from", "yesterday"}, {"--result", "maybe"}} {
		if _, _, err := runCLI(t, env, append([]string{"audit", "export", "--db", db}, bad...)...); err == nil {
			t.Errorf("export %v was accepted", bad)
		}
	}

	// Prune keeps a checkpoint that verify starts from.
	if _, _, err := runCLI(t, env, "audit", "prune", "--db", db); err == nil || !strings.Contains(err.Error(), "--before") {
		t.Fatalf("prune without --before: %v", err)
	}
	out, _, err = runCLI(t, env, "audit", "prune", "--db", db, "--before", "2000-01-01")
	if err != nil || !strings.Contains(out, "nothing pruned") {
		t.Fatalf("prune nothing: %q %v", out, err)
	}

	// Tampering: verify exits 1 and names the event.
	raw, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE audit_events SET record = json_set(record, '$[7]', 'mallory@example.com') WHERE seq = 500`); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCLI(t, env, "audit", "verify", "--db", db)
	if exitCode(err) != 1 || !strings.Contains(out, "does NOT check out at event 500: changed") || !strings.Contains(out, "Events 1–499 check out") {
		t.Fatalf("tampered verify: code %d %q", exitCode(err), out)
	}
	// And with another key nothing checks out.
	out, _, err = runCLI(t, map[string]string{"TAPDESK_AUDIT_KEY": strings.Repeat("k", 40)}, "audit", "verify", "--db", db)
	if exitCode(err) != 1 || !strings.Contains(out, "event 1: unknown key") || !strings.Contains(out, "key id "+store.AuditKeyID(cliKey)+", which is not configured") {
		t.Fatalf("wrong key: code %d %q", exitCode(err), out)
	}
	// Prune refuses to wash the tampering away.
	if _, _, err := runCLI(t, env, "audit", "prune", "--db", db, "--before", "2026-01-01T00:00:00Z"); err == nil || !strings.Contains(err.Error(), "does not check out at event 500") {
		t.Fatalf("prune over tampering: %v", err)
	}
}

func runMigrateFor(t *testing.T, db string) (string, error) {
	t.Helper()
	out, _, err := runCLI(t, nil, "migrate", "--db", db)
	return out, err
}

// The auditor's portal export: JSON Lines with filters, audited, and a clear
// refusal for a format it does not know.
func TestPortalAuditExport(t *testing.T) {
	d := startTestDemo(t)
	ctx := context.Background()
	for i := range 30 {
		ev := syntheticEvent(i, time.Date(2026, 11, 1, 9, 0, i, 0, time.UTC))
		if err := d.app.db.AppendEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	auditor := d.browser(t)
	auditor.signIn("/audit", "auditor").contains(`data-testid="export-jsonl"`)

	auditor.get("/audit/export?format=jsonl&activity=Deny+request&from=2026-11-01T09:00&to=2026-11-01T09:00:20").status(http.StatusOK)
	if ct := auditor.last.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-ndjson") {
		t.Errorf("content type %q", ct)
	}
	if cd := auditor.last.Header.Get("Content-Disposition"); !strings.Contains(cd, ".jsonl") {
		t.Errorf("content disposition %q", cd)
	}
	var seqs []int64
	sc := bufio.NewScanner(strings.NewReader(auditor.body))
	for sc.Scan() {
		var ev struct {
			Seq                 int64
			ActivityDisplayName string
			Result              string
			ActivityDateTime    string
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if ev.ActivityDisplayName != "Deny request" || ev.Result != "failure" || ev.ActivityDateTime >= "2026-11-01T09:00:20" {
			t.Errorf("filtered export holds %+v", ev)
		}
		seqs = append(seqs, ev.Seq)
	}
	// Synthetic events 7, 15 (Deny every 8th, i%8 == 7) fall before :20.
	if len(seqs) != 2 {
		t.Fatalf("export has %d events, want 2:\n%s", len(seqs), auditor.body)
	}

	auditor.get("/audit/export?format=xml").status(http.StatusUnprocessableEntity).contains("jsonl")
	auditor.get("/audit/export?format=csv&from=yesterday").status(http.StatusUnprocessableEntity)

	evs, err := d.app.db.Events(ctx, store.EventFilter{Activity: string(tapdesk.ActExport)})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Details["format"] != "jsonl" || !strings.Contains(evs[0].Details["filter"], "activity=Deny+request") || evs[0].Actor.UPN == "" {
		t.Fatalf("export events %+v", evs)
	}
}

// The auditor checks the chain from the browser; tampering shows, with the
// event and why.
func TestPortalAuditVerify(t *testing.T) {
	d := startTestDemo(t)
	auditor := d.browser(t)
	auditor.signIn("/audit/verify", "auditor").status(http.StatusOK).contains(`data-testid="chain-holds"`)
	if mac := auditor.text(`[data-testid="head-mac"]`); len(mac) != 64 {
		t.Errorf("head mac %q", mac)
	}
	agent := d.browser(t)
	agent.signIn("/", "agent")
	agent.get("/audit/verify").status(http.StatusForbidden)

	if _, err := d.app.db.SQL().Exec(`UPDATE audit_events SET record = json_set(record, '$[7]', 'mallory@example.com') WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	auditor.get("/audit/verify").status(http.StatusOK).contains(`data-testid="chain-broken"`).contains("event 2: changed")
	if !auditHas(t, d, string(tapdesk.ActAuditVerified), "failure", "event 2: changed") {
		t.Error("the failed check is not audited")
	}
}
