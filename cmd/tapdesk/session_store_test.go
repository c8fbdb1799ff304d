package main

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk/internal/pgtest"
	"github.com/tapdesk/tapdesk/store"
)

const demoSessionCookie = "tapdesk_session" // SecureCookies is off in the demo

// sessionCookie is the session token in b's cookie jar ("" if none).
func sessionCookie(t *testing.T, b *browser) string {
	t.Helper()
	u, _ := url.Parse(b.base)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == demoSessionCookie {
			return c.Value
		}
	}
	return ""
}

// browserWithCookie is a fresh browser (no provider session either) that
// presents token as its tapdesk session cookie.
func browserWithCookie(t *testing.T, d *testDemo, token string) *browser {
	t.Helper()
	b := d.browser(t)
	u, _ := url.Parse(d.baseURL)
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: demoSessionCookie, Value: token, Path: "/"}})
	return b
}

// mustBeAnonymous checks that b, opening the home page, is sent to sign in
// (no 500, nobody's name on the page).
func mustBeAnonymous(t *testing.T, b *browser, what string) {
	t.Helper()
	b.get("/")
	if b.last.StatusCode != http.StatusOK || !strings.Contains(b.path(), "/demo/idp/authorize") {
		t.Errorf("%s: the home page answered %d at %s, not the sign-in page", what, b.last.StatusCode, b.last.Request.URL)
	}
	if who := b.text(`[data-testid="whoami"]`); who != "" {
		t.Errorf("%s: signed in as %q", what, who)
	}
}

// sessionRows reads the sessions table as someone holding a copy of the
// database file would.
func sessionRows(t *testing.T, raw *sql.DB) map[string][]byte {
	t.Helper()
	rows, err := raw.Query(`SELECT token, data FROM sessions`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var token string
		var data []byte
		if err := rows.Scan(&token, &data); err != nil {
			t.Fatal(err)
		}
		out[token] = data
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// What the database holds of a session cannot be presented as one: the
// stored key is not the cookie, and replaying it (or its data) gives an
// anonymous visitor.
func TestStoredSessionIsNoCookie(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	if who := agent.text(`[data-testid="whoami"]`); who != "Alex Agent" {
		t.Fatalf("signed in as %q", who)
	}
	cookie := sessionCookie(t, agent)
	if cookie == "" {
		t.Fatal("no session cookie after sign-in")
	}

	// The attacker's copy: every file of the database, read with another handle.
	copyDir := t.TempDir()
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(d.dbPath + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(cookie)) {
			t.Errorf("the session token is in the database file %s", filepath.Base(d.dbPath+suffix))
		}
		if err := os.WriteFile(filepath.Join(copyDir, "copy.db"+suffix), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(copyDir, "copy.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rows := sessionRows(t, raw)
	if len(rows) == 0 {
		t.Fatal("the copy holds no sessions: the attack below proves nothing")
	}
	tried := 0
	for key, data := range rows {
		if key == cookie {
			t.Error("a session is stored under its cookie token")
		}
		for _, forged := range []string{key, string(data)} {
			if forged == "" || strings.ContainsAny(forged, "\x00;,\" \\\x7f") || !isPrintable(forged) {
				continue // no browser can send it as a cookie value
			}
			mustBeAnonymous(t, browserWithCookie(t, d, forged), "a stored session row as the cookie")
			tried++
		}
	}
	if tried == 0 {
		t.Fatal("no stored value could be tried as a cookie")
	}
	t.Logf("%d stored values presented as the session cookie", tried)
	// The real cookie still works: the refusal is not the cookie jar's doing.
	agent.get("/").status(http.StatusOK)
	if who := agent.text(`[data-testid="whoami"]`); who != "Alex Agent" {
		t.Errorf("the agent's own session no longer works: %q", who)
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func isPrintable(s string) bool {
	for _, r := range s {
		if r < 0x21 || r > 0x7e {
			return false
		}
	}
	return true
}

// Sealed data swapped between two people's rows opens for neither: the
// agent does not become the approver, nor the approver the agent.
func TestSwappedSessionRowsOpenForNobody(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.signIn("/", "agent")
	approver := d.browser(t)
	approver.signIn("/", "approver")
	if a, b := agent.text(`[data-testid="whoami"]`), approver.text(`[data-testid="whoami"]`); a != "Alex Agent" || b != "Avery Approver" {
		t.Fatalf("signed in as %q and %q", a, b)
	}
	raw := attacker(t, d)
	rows := sessionRows(t, raw)
	if len(rows) != 2 {
		t.Fatalf("%d session rows, want the two signed-in people's", len(rows))
	}
	var keys []string
	for k := range rows {
		keys = append(keys, k)
	}
	write(t, raw, `UPDATE sessions SET data = ? WHERE token = ?`, rows[keys[1]], keys[0])
	write(t, raw, `UPDATE sessions SET data = ? WHERE token = ?`, rows[keys[0]], keys[1])
	// Sessions kept read (handlers' sessionRowCache) would not even look
	// at the altered rows; note the change, as for any write made past
	// tapdesk, so they are read.
	d.app.db.NoteExternalChange()

	mustBeAnonymous(t, agent, "the agent after the swap")
	mustBeAnonymous(t, approver, "the approver after the swap")

	// Moving one row's data onto the other (both rows then hold it) opens
	// under neither token: the data is bound to its own token.
	agent2 := d.browser(t)
	agent2.signIn("/", "agent")
	approver2 := d.browser(t)
	approver2.signIn("/", "approver")
	agentKey, approverKey := storedKey(t, raw, sessionCookie(t, agent2)), storedKey(t, raw, sessionCookie(t, approver2))
	write(t, raw, `UPDATE sessions SET data = (SELECT data FROM sessions WHERE token = ?) WHERE token = ?`, approverKey, agentKey)
	d.app.db.NoteExternalChange()
	mustBeAnonymous(t, agent2, "the agent holding the approver's data")
	approver2.get("/").status(http.StatusOK)
	if who := approver2.text(`[data-testid="whoami"]`); who != "Avery Approver" {
		t.Errorf("the approver's own row no longer opens: %q", who)
	}

	// Honest sign-in works again afterwards.
	agent.signIn("/", "agent")
	if who := agent.text(`[data-testid="whoami"]`); who != "Alex Agent" {
		t.Errorf("signing in again gives %q", who)
	}
}

// storedKey finds the row of a session cookie: the row whose key is the
// token's SHA-256, or the token itself (older tapdesk).
func storedKey(t *testing.T, raw *sql.DB, token string) string {
	t.Helper()
	for key := range sessionRows(t, raw) {
		if key == token || key == sha256Hex(token) {
			return key
		}
	}
	t.Fatalf("no row for the session")
	return ""
}

// The honest path: sign-in gives a new token (the one before it, which held
// the sign-in in progress, no longer works: no fixation), browsing keeps
// the session, and sign-out ends it for good.
func TestSessionTokenRenewedAndEnded(t *testing.T) {
	pgtest.Backends(t, testSessionTokenRenewedAndEnded)
}

func testSessionTokenRenewedAndEnded(t *testing.T) {
	d := startTestDemo(t)
	agent := d.browser(t)
	agent.get("/") // starts sign-in: a session holds the PKCE verifier
	before := sessionCookie(t, agent)
	if before == "" {
		t.Fatal("no session cookie while signing in")
	}
	agent.signIn("/", "agent")
	after := sessionCookie(t, agent)
	if after == "" || after == before {
		t.Fatalf("the session token was not renewed at sign-in (%q then %q)", before, after)
	}
	mustBeAnonymous(t, browserWithCookie(t, d, before), "the token from before sign-in")
	for _, page := range []string{"/", "/users?q=nina"} {
		agent.get(page).status(http.StatusOK)
		if who := agent.text(`[data-testid="whoami"]`); who != "Alex Agent" {
			t.Fatalf("%s: signed in as %q", page, who)
		}
	}
	raw := attacker(t, d)
	key := storedKey(t, raw, after)
	if key != sha256Hex(after) {
		t.Errorf("the session is stored under %q, not its token's hash", key)
	}
	agent.submit(`form[action="/auth/logout"]`, nil)
	if _, ok := sessionRows(t, raw)[key]; ok {
		t.Error("the session's row outlived sign-out")
	}
	mustBeAnonymous(t, browserWithCookie(t, d, after), "the token after sign-out")
}

// Every database file is readable by its owner only, whatever the umask:
// the database, its -wal and -shm, after a start and some writes. A
// database left readable by others is tightened at start, and the operator
// told.
func TestDatabaseFilesOwnerOnly(t *testing.T) {
	old := syscall.Umask(0) // the most permissive umask: modes must not rely on it
	t.Cleanup(func() { syscall.Umask(old) })

	files := func(path string) []string { return []string{path, path + "-wal", path + "-shm"} }
	mustBeOwnerOnly := func(t *testing.T, path string) {
		t.Helper()
		for _, f := range files(path) {
			fi, err := os.Stat(f)
			if err != nil {
				t.Errorf("%s: %v", filepath.Base(f), err)
				continue
			}
			t.Logf("%s: %04o", filepath.Base(f), fi.Mode().Perm())
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s has mode %04o, want 0600", filepath.Base(f), fi.Mode().Perm())
			}
		}
	}

	t.Run("new database", func(t *testing.T) {
		d := startTestDemo(t)
		agent := d.browser(t)
		agent.signIn("/", "agent")
		fileRequestFor(t, agent, "nina.newhire@contoso.example", "New starter, first day, no methods yet")
		mustBeOwnerOnly(t, d.dbPath)
	})

	t.Run("existing database left readable by others", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "tapdesk.db")
		db, err := store.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		d := startTestDemoWith(t, func(o *demoOptions) { o.DBPath = path })
		d.browser(t).signIn("/", "agent")
		mustBeOwnerOnly(t, path)
		if logs := d.logs.String(); !strings.Contains(logs, "restricted to its owner") || !strings.Contains(logs, "was=0644") {
			t.Errorf("the tightening was not logged:\n%s", logs)
		}
	})

	t.Run("the demo's own folder", func(t *testing.T) {
		var dir string
		t.Cleanup(func() {
			if dir != "" {
				os.RemoveAll(dir)
			}
		})
		d := startTestDemoWith(t, func(o *demoOptions) { o.DBPath = "" })
		dir = filepath.Dir(d.dbPath)
		d.browser(t).signIn("/", "agent")
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("the demo's folder has mode %04o, want 0700", fi.Mode().Perm())
		}
		mustBeOwnerOnly(t, d.dbPath)
	})

	t.Run("audit export file", func(t *testing.T) {
		d := startTestDemo(t)
		d.browser(t).signIn("/", "agent")
		fresh := filepath.Join(t.TempDir(), "trail.jsonl")
		// An export over an existing world-readable file (truncation keeps the mode).
		existing := filepath.Join(t.TempDir(), "old-trail.csv")
		if err := os.WriteFile(existing, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, out := range []string{fresh, existing} {
			if _, _, err := runCLI(t, map[string]string{"TAPDESK_AUDIT_KEY": demoAuditKey}, "audit", "export", "--db", d.dbPath, "-o", out); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("the export %s has mode %04o, want 0600", filepath.Base(out), fi.Mode().Perm())
			}
		}
	})
}

// Sessions live in the database, so a person's requests may land on any
// instance behind a load balancer: a session begun on one instance is
// honoured by another on the same database (sharing the session key),
// what is done there shows on the first, and signing out on either ends
// it on both. An instance on another database does not know the session.
func TestSessionsSharedAcrossInstances(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		dsn := pgtest.DSN(t, filepath.Join(t.TempDir(), "tapdesk.db"))
		key := strings.Repeat("k", 32)
		shared := func(o *demoOptions) { o.DBPath, o.SessionKey = dsn, key }
		first := startTestDemoWith(t, shared)
		second := startTestDemoWith(t, shared)

		agent := first.browser(t)
		agent.signIn("/", "agent")
		token := sessionCookie(t, agent)
		if token == "" {
			t.Fatal("no session cookie after sign-in")
		}

		// The same browser's next request lands on the second instance.
		there := browserWithCookie(t, second, token)
		there.get("/").status(http.StatusOK)
		if who := there.text(`[data-testid="whoami"]`); who != "Alex Agent" {
			t.Fatalf("the second instance does not know the session (signed in as %q, at %s)", who, there.path())
		}
		reqPath := fileRequestFor(t, there, "nina.newhire@contoso.example", "New starter, first day, no methods yet")
		agent.get(reqPath).status(http.StatusOK)
		if got := agent.text(`[data-testid="state"]`); got != "Pending" {
			t.Errorf("the request filed on the second instance is %q on the first", got)
		}

		// An instance on another database with the same key: a stranger.
		elsewhere := startTestDemoWith(t, func(o *demoOptions) {
			o.SessionKey = key
			o.DBPath = filepath.Join(t.TempDir(), "other.db")
			if pgtest.OnPostgres(t) {
				o.DBPath = pgtest.URL(t)
			}
		})
		mustBeAnonymous(t, browserWithCookie(t, elsewhere, token), "the session on another database")

		// Signing out on the second ends the session on the first too, as
		// soon as the first hears of it (its session cache is keyed by the
		// database's change count, which the change feed moves within
		// milliseconds). On SQLite, one instance per file: the caches trust
		// their own process's count, so the check is on the instance that
		// signed out.
		there.get("/").submit(`form[action="/auth/logout"]`, nil)
		if !pgtest.OnPostgres(t) {
			mustBeAnonymous(t, browserWithCookie(t, second, token), "the session signed out")
			return
		}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			b := browserWithCookie(t, first, token)
			b.get("/")
			if b.text(`[data-testid="whoami"]`) == "" || time.Now().After(deadline) {
				break
			}
		}
		mustBeAnonymous(t, browserWithCookie(t, first, token), "the session signed out on the other instance")
	})
}
