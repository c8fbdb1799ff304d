package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	_ "modernc.org/sqlite"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/entra"
	"github.com/tapdesk/tapdesk/entra/fakegraph"
	"github.com/tapdesk/tapdesk/internal/freeport"
	"github.com/tapdesk/tapdesk/mail"
	"github.com/tapdesk/tapdesk/signin"
	"github.com/tapdesk/tapdesk/signin/demoidp"
)

// crashChildEnv makes this test binary act as the tapdesk command, so the
// crash test can run `tapdesk serve` as a child process and kill it.
const crashChildEnv = "TAPDESK_TEST_RUN_AS_TAPDESK"

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const (
	crashAuditKey   = "crash-test-audit-key-0123456789abcdef"
	crashSessionKey = "crash-test-session-key-0123456789abcdef"
	crashKillsWant  = 50
)

// crashTargets are ordinary members of the sample tenant, each used by one
// flow worker at a time (Entra keeps one pass per user, so two requests for
// one user at once would replace each other's pass).
var crashTargets = [][]string{
	{"nina.newhire@contoso.example", "marco.rossi@contoso.example"},
	{"chen.wei@contoso.example", "fatima.zahra@contoso.example"},
	{"lukas.becker@contoso.example", "sofia.garcia@contoso.example"},
}

// crashRig is `tapdesk serve` as a child process, with the parts it talks
// to (fake Graph, identity provider, SMTP capture) in the test process, so
// they outlive every kill.
type crashRig struct {
	t       *testing.T
	fake    *fakegraph.Server
	capture *mail.Capture
	idp     *demoidp.Provider
	idpURL  string
	secret  string
	addr    string
	base    string
	dbPath  string
	env     []string
	logs    *syncBuffer

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	kills   int
	claimed int // kills that landed after Graph created a pass, before tapdesk recorded it
}

func newCrashRig(t *testing.T) *crashRig {
	t.Helper()
	r := &crashRig{t: t, logs: &syncBuffer{}}
	dir := t.TempDir()
	r.dbPath = filepath.Join(dir, "tapdesk.db")

	// The portal's port stays the same across restarts: the identity
	// provider knows its redirect URL.
	r.addr = freeport.MustAddr(t)
	r.base = "http://" + r.addr
	e := startChildEdges(t, fakegraph.SampleTenant(), dir, r.base)
	r.fake, r.capture, r.idp, r.idpURL, r.secret = e.fake, e.capture, e.idp, e.idpURL, e.secret
	r.env = e.env(r.dbPath, r.base, map[string]string{
		"TAPDESK_ADDR":        r.addr,
		"TAPDESK_SESSION_KEY": crashSessionKey, "TAPDESK_AUDIT_KEY": crashAuditKey,
	})
	t.Cleanup(func() { r.stop(syscall.SIGKILL) })
	return r
}

// start runs the child and waits until it answers /healthz.
func (r *crashRig) start() {
	r.t.Helper()
	if err := startServeChild("tapdesk", r.env, r.logs, r.base, func(cmd *exec.Cmd, exited chan struct{}) {
		r.mu.Lock()
		r.cmd, r.exited = cmd, exited
		r.mu.Unlock()
	}); err != nil {
		r.t.Fatal(err)
	}
}

// startServeChild runs `tapdesk serve` (this test binary as a child) with
// env, its output into logs. started hears of the process as soon as it
// runs, so a kill can reach it; startServeChild returns once base answers
// /healthz, or says why it did not.
func startServeChild(name string, env []string, logs *syncBuffer, base string, started func(*exec.Cmd, chan struct{})) error {
	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	started(cmd, exited)
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("%s exited at start (%v):\n%s", name, cmd.ProcessState, tail(logs.String(), 4000))
		default:
		}
		if res, err := client.Get(base + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s did not become healthy:\n%s", name, tail(logs.String(), 4000))
}

// stop ends the child with sig and waits for it.
func (r *crashRig) stop(sig syscall.Signal) {
	r.mu.Lock()
	cmd, exited := r.cmd, r.exited
	r.cmd = nil
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
		// It died on its own: only a kill may stop it.
		r.t.Errorf("tapdesk exited by itself (%v):\n%s", cmd.ProcessState, tail(r.logs.String(), 4000))
		return
	default:
	}
	cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-exited
		r.t.Errorf("tapdesk did not stop on %v", sig)
	}
	if sig == syscall.SIGTERM && !cmd.ProcessState.Success() {
		r.t.Errorf("tapdesk stopped with %v after SIGTERM:\n%s", cmd.ProcessState, tail(r.logs.String(), 4000))
	}
}

// kill is the crash: SIGKILL, then a restart.
func (r *crashRig) kill() {
	r.stop(syscall.SIGKILL)
	r.mu.Lock()
	r.kills++
	r.mu.Unlock()
	r.start()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// errDown means the portal was not there (killed mid-request); the step is
// retried once it is back.
var errDown = errors.New("portal down")

// crashBrowser is one person's browser against the child. Its cookie jar
// ignores Secure (serve sets __Host- cookies, the test talks plain http on
// loopback) and keeps cookies per host.
type crashBrowser struct {
	base    string // where paths are sent: the child, or a proxy before several
	idpURL  string // the identity provider, whose picker means "sign in again"
	persona string
	client  *http.Client
	body    string
	status  int
	url     *url.URL
}

type looseJar struct {
	mu      sync.Mutex
	cookies map[string]map[string]*http.Cookie
}

func (j *looseJar) SetCookies(u *url.URL, cs []*http.Cookie) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.cookies[u.Host] == nil {
		j.cookies[u.Host] = map[string]*http.Cookie{}
	}
	for _, c := range cs {
		if c.MaxAge < 0 {
			delete(j.cookies[u.Host], c.Name)
			continue
		}
		j.cookies[u.Host][c.Name] = &http.Cookie{Name: c.Name, Value: c.Value}
	}
}

func (j *looseJar) Cookies(u *url.URL) []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []*http.Cookie
	for _, c := range j.cookies[u.Host] {
		out = append(out, c)
	}
	return out
}

func (r *crashRig) browser(persona string) *crashBrowser {
	return newCrashBrowser(r.base, r.idpURL, persona)
}

func newCrashBrowser(base, idpURL, persona string) *crashBrowser {
	return &crashBrowser{base: base, idpURL: idpURL, persona: persona, client: &http.Client{
		Jar: &looseJar{cookies: map[string]map[string]*http.Cookie{}}, Timeout: 90 * time.Second}}
}

func (b *crashBrowser) do(method, path string, form url.Values) error {
	target := path
	if !strings.HasPrefix(path, "http") {
		target = b.base + path
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := b.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s %s: %v", errDown, method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("%w: %s %s: reading: %v", errDown, method, path, err)
	}
	b.body, b.status, b.url = string(raw), res.StatusCode, res.Request.URL
	if b.status >= 500 {
		return fmt.Errorf("%s %s: %d:\n%s", method, path, b.status, b.body)
	}
	// A session lost with a killed process sends the person to sign in.
	if strings.HasPrefix(b.url.String(), b.idpURL) {
		return b.pickPersona()
	}
	return nil
}

func (b *crashBrowser) pickPersona() error {
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(b.body))
	if err != nil {
		return err
	}
	form := doc.Find(`[data-testid="persona-` + b.persona + `"]`).Closest("form")
	if form.Length() == 0 {
		return fmt.Errorf("no persona %s on the picker at %s", b.persona, b.url)
	}
	vals := url.Values{}
	form.Find("input").Each(func(_ int, s *goquery.Selection) { vals.Set(s.AttrOr("name", ""), s.AttrOr("value", "")) })
	action, _ := url.Parse(form.AttrOr("action", "/authorize"))
	return b.do(http.MethodPost, b.url.ResolveReference(action).String(), vals)
}

// submit posts the form matched by selector on the current page with its
// hidden fields and values.
func (b *crashBrowser) submit(selector string, values url.Values) error {
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(b.body))
	if err != nil {
		return err
	}
	form := doc.Find(selector).First()
	if form.Length() == 0 {
		return fmt.Errorf("no form %q on %s (%d)", selector, b.url, b.status)
	}
	vals := url.Values{}
	form.Find("input[type=hidden]").Each(func(_ int, s *goquery.Selection) { vals.Set(s.AttrOr("name", ""), s.AttrOr("value", "")) })
	for k, v := range values {
		vals[k] = v
	}
	return b.do(http.MethodPost, form.AttrOr("action", b.url.Path), vals)
}

func (b *crashBrowser) find(selector string) *goquery.Selection {
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(b.body))
	if err != nil {
		return &goquery.Selection{}
	}
	return doc.Find(selector)
}

// retry runs step until it gets through without the portal going away.
func retry(ctx context.Context, step func() error) error {
	for {
		err := step()
		if !errors.Is(err, errDown) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// flowLog counts what the flows saw.
type flowLog struct {
	mu       sync.Mutex
	filed    map[string]string // request id -> target upn
	revealed map[string]string // request id -> pass
	stranded map[string]bool   // requests whose issue was interrupted and still claimed
	outcomes map[string]int
	passes   []string
}

func (l *flowLog) count(k string) {
	l.mu.Lock()
	l.outcomes[k]++
	l.mu.Unlock()
}

// runFlow walks one request from filing to reveal, through kills. It gives
// up on a request it cannot take further (its issue was interrupted and is
// claimed until the lease runs out, or it ended otherwise).
func runFlow(ctx context.Context, r *crashRig, l *flowLog, agent, approver *crashBrowser, upn string) error {
	// File. A kill can land after the commit but before the answer: the
	// request then exists without the flow knowing it, and expires later.
	var id string
	followed := false
	// A target has at most one open request: one whose filing answer a
	// kill swallowed, or one an interrupted issue still holds. The form
	// page then links to it instead, and the flow follows it, as an agent
	// would.
	openRequest := func() bool {
		href, ok := agent.find(`[data-testid="open-request-link"]`).Attr("href")
		if ok && agent.status == http.StatusConflict {
			id, followed = strings.TrimPrefix(href, "/requests/"), true
		}
		return ok
	}
	err := retry(ctx, func() error {
		if err := agent.do(http.MethodGet, "/requests/new?user="+url.QueryEscape(upn), nil); err != nil {
			return err
		}
		if openRequest() {
			return nil
		}
		if err := agent.submit(`form[action="/requests"]`, url.Values{
			"ticket_ref": {"INC-CRASH"}, "justification": {"Crash test flow"},
			"verification": {"callback"}, "verification_note": {"Called back the number on file"},
			"lifetime": {"60"}, "usable_once": {"on"},
		}); err != nil {
			return err
		}
		if openRequest() {
			return nil
		}
		if !strings.HasPrefix(agent.url.Path, "/requests/") || agent.status != http.StatusOK {
			return fmt.Errorf("filing for %s landed on %s (%d):\n%s", upn, agent.url, agent.status, agent.body)
		}
		id = strings.TrimPrefix(agent.url.Path, "/requests/")
		return nil
	})
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.filed[id] = upn
	stranded := l.stranded[id]
	l.mu.Unlock()
	if followed {
		l.count("followed the open request")
	}
	if stranded {
		// Held by an interrupted issue until its lease runs out: nothing
		// to do for this target yet.
		time.Sleep(100 * time.Millisecond)
		return nil
	}

	for range 20 {
		var state string
		if err := retry(ctx, func() error {
			if err := agent.do(http.MethodGet, "/requests/"+id, nil); err != nil {
				return err
			}
			state = strings.TrimSpace(agent.find(`[data-testid="state"]`).First().Text())
			return nil
		}); err != nil {
			return err
		}
		switch state {
		case "Pending":
			if err := retry(ctx, func() error {
				if err := approver.do(http.MethodGet, "/requests/"+id, nil); err != nil {
					return err
				}
				if approver.find(`form[action$="/approve"]`).Length() == 0 {
					return nil // decided meanwhile (a kill after the commit)
				}
				return approver.submit(`form[action$="/approve"]`, nil)
			}); err != nil {
				return err
			}
		case "Approved":
			if agent.find(`form[action$="/reveal"]`).Length() == 0 {
				return fmt.Errorf("approved request %s offers no reveal:\n%s", id, agent.body)
			}
			err := agent.submit(`form[action$="/reveal"]`, nil)
			if errors.Is(err, errDown) {
				l.count("reveal interrupted")
				if err := retry(ctx, func() error { return agent.do(http.MethodGet, "/healthz", nil) }); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			if pass, ok := shownPass(agent.find(`[data-testid="pass"]`)); ok && agent.status == http.StatusOK {
				l.mu.Lock()
				l.revealed[id] = pass
				l.passes = append(l.passes, pass)
				l.mu.Unlock()
				l.count("revealed")
				return nil
			}
			if agent.status == http.StatusConflict && strings.Contains(agent.body, "being issued") {
				// An issue interrupted by a kill: claimed until its lease runs out.
				l.mu.Lock()
				l.stranded[id] = true
				l.mu.Unlock()
				l.count("claimed by an interrupted issue")
				return nil
			}
			l.count(fmt.Sprintf("reveal answered %d", agent.status))
			if agent.status != http.StatusConflict {
				msg := agent.find(`main`).Text()
				return fmt.Errorf("reveal of %s answered %d: %s", id, agent.status, strings.Join(strings.Fields(msg), " "))
			}
		default:
			l.count("ended " + state)
			return nil
		}
	}
	return fmt.Errorf("request %s made no progress", id)
}

// TestCrashRecovery kills `tapdesk serve` with SIGKILL at random points
// while agents and approvers run flows, restarts it each time, and then
// checks that nothing was lost, doubled or left half done.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a child tapdesk 50 times")
	}
	r := newCrashRig(t)
	// Every create is written at once and answered late, so kills land
	// between Graph's write and tapdesk's record of it.
	r.fake.SetFault(createTAP, fakegraph.Fault{HoldAfterWrite: 250 * time.Millisecond})
	preexisting := createdPasses(r)
	r.start()

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	l := &flowLog{filed: map[string]string{}, revealed: map[string]string{}, stranded: map[string]bool{}, outcomes: map[string]int{}}

	var stopFlows atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, len(crashTargets))
	approvers := []string{"approver", "approver2"}
	for w, targets := range crashTargets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			agent := r.browser([]string{"agent", "agent2"}[w%2])
			approver := r.browser(approvers[w%2])
			for i := 0; !stopFlows.Load(); i++ {
				if err := runFlow(ctx, r, l, agent, approver, targets[i%len(targets)]); err != nil {
					errs <- fmt.Errorf("worker %d: %w", w, err)
					return
				}
			}
		}()
	}

	// The killer: half the kills wait for Graph to create a pass and strike
	// before tapdesk hears of it; the rest strike at random.
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("kill timing seed %d", seed)
	for r.kills < crashKillsWant && ctx.Err() == nil {
		if rng.IntN(2) == 0 {
			seen := createdPasses(r)
			deadline := time.Now().Add(3 * time.Second)
			for time.Now().Before(deadline) && !hasNew(createdPasses(r), seen) {
				time.Sleep(2 * time.Millisecond)
			}
			if hasNew(createdPasses(r), seen) {
				r.claimed++
			}
		} else {
			time.Sleep(time.Duration(20+rng.IntN(400)) * time.Millisecond)
		}
		r.kill()
	}
	stopFlows.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d kills, %d of them while Graph held a created pass's answer; flows: %v", r.kills, r.claimed, l.outcomes)
	if r.kills < crashKillsWant {
		t.Fatalf("only %d kills before the deadline", r.kills)
	}
	r.stop(syscall.SIGTERM)

	checkAfterCrashes(t, r, l, preexisting)
}

func hasNew(now, before map[string]bool) bool {
	for id := range now {
		if !before[id] {
			return true
		}
	}
	return false
}

// createdPasses lists the passes the fake holds for the crash targets.
func createdPasses(r *crashRig) map[string]bool {
	ids := map[string]bool{}
	for _, ts := range crashTargets {
		for _, upn := range ts {
			u, _ := r.fake.Tenant().LookupUser(upn)
			if tap := r.fake.Tenant().CurrentTAP(u.ID); tap != nil {
				ids[tap.ID] = true
			}
		}
	}
	return ids
}

// checkAfterCrashes runs tapdesk once more, later than every lease (as an
// instance restarted after the crashes would), lets its sweeps and mail
// worker finish, and checks the invariants.
func checkAfterCrashes(t *testing.T, r *crashRig, l *flowLog, preexisting map[string]bool) {
	ctx := context.Background()
	later := func() time.Time { return time.Now().Add(10 * time.Minute) }
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	tenant := r.fake.Tenant()
	dir, err := entra.New(entra.Config{TenantID: tenant.ID, ClientID: tenant.ClientID, ClientSecret: tenant.ClientSecret,
		GraphBaseURL: r.fake.URL(), AuthorityHost: r.fake.URL(), HTTPClient: r.fake.Client(), Logger: log,
		SignInClientID: fakegraph.SampleSignInClientID})
	if err != nil {
		t.Fatal(err)
	}
	sender, err := mail.NewSMTPSender(mail.SMTPConfig{Host: r.capture.Host(), Port: r.capture.Port(),
		From: "tapdesk@contoso.example", TLS: "none"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(ctx, appConfig{
		BaseURL: "https://tapdesk.contoso.example", DBPath: r.dbPath, SecureCookies: true,
		OIDC:           signin.Config{Issuer: r.idpURL, TenantID: tenant.ID, ClientID: fakegraph.SampleSignInClientID, ClientSecret: r.secret, RedirectURL: r.base + "/auth/callback"},
		ApproverEmails: []string{"avery.approver@contoso.example", "blake.backup@contoso.example"},
		DecisionTTL:    24 * time.Hour, LinkTTL: 24 * time.Hour, ApproverMaxAge: 15 * time.Minute, ApproverMFA: true,
		SessionKey: crashSessionKey, AuditKey: crashAuditKey, MailInterval: 50 * time.Millisecond,
		Logger: log, Now: later,
	}, dir, sender)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	workerDone := make(chan struct{})
	go func() { defer close(workerDone); a.worker.Run(runCtx) }()
	a.sweepOnce(ctx, a.cfg.ApproverEmails)
	a.worker.Kick()

	sqldb, err := sql.Open("sqlite", "file:"+r.dbPath+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer sqldb.Close()
	// Every queued mail goes out.
	deadline := time.Now().Add(30 * time.Second)
	var unsent int
	for time.Now().Before(deadline) {
		if err := sqldb.QueryRow(`SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL`).Scan(&unsent); err != nil {
			t.Fatal(err)
		}
		if unsent == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	<-workerDone
	if unsent > 0 {
		t.Errorf("%d queued mails were never sent", unsent)
	}

	t.Run("the audit chain holds and explains every request", func(t *testing.T) {
		rep, err := a.db.VerifyChain(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Break != nil || rep.Checked == 0 {
			t.Errorf("verify after %d kills: checked %d, break %+v", r.kills, rep.Checked, rep.Break)
		}
		for _, f := range rep.Unexplained {
			t.Errorf("after %d kills: %s", r.kills, f.Detail)
		}
		var settled int
		if err := sqldb.QueryRow(`SELECT COUNT(*) FROM audit_events WHERE activity = ?`, string(tapdesk.ActIssueSettled)).Scan(&settled); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d events checked; %d interrupted issues settled", rep.Checked, settled)
		if len(l.stranded) > 0 && settled == 0 {
			t.Errorf("%d issues were interrupted and none was settled", len(l.stranded))
		}
	})
	t.Run("no request stays claimed past its lease", func(t *testing.T) {
		var n int
		if err := sqldb.QueryRow(`SELECT COUNT(*) FROM requests WHERE issue_claimed_at IS NOT NULL AND state = 'approved'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			t.Errorf("%d requests are still claimed by an issue that died (%d flows saw one)", n, len(l.stranded))
		}
	})
	t.Run("Graph saw at most one create per claim, and no unknown pass is left", func(t *testing.T) {
		var begun int
		if err := sqldb.QueryRow(`SELECT COUNT(*) FROM audit_events WHERE activity = ?`, string(tapdesk.ActIssueStart)).Scan(&begun); err != nil {
			t.Fatal(err)
		}
		creates := r.fake.CountRequests(createTAP)
		if creates > begun {
			t.Errorf("Graph saw %d creates for %d audited issue starts", creates, begun)
		}
		// Every pass left on an account is one tapdesk recorded as issued.
		for _, ts := range crashTargets {
			for _, upn := range ts {
				u, _ := r.fake.Tenant().LookupUser(upn)
				tap := r.fake.Tenant().CurrentTAP(u.ID)
				if tap == nil || preexisting[tap.ID] {
					continue
				}
				var state string
				err := sqldb.QueryRow(`SELECT state FROM requests WHERE tap_method_id = ?`, tap.ID).Scan(&state)
				if err != nil {
					t.Errorf("%s holds pass %s that no request records (%v)", upn, tap.ID, err)
				}
			}
		}
		var issued int
		if err := sqldb.QueryRow(`SELECT COUNT(*) FROM requests WHERE state IN ('issued','revoked')`).Scan(&issued); err != nil {
			t.Fatal(err)
		}
		if issued < len(l.revealed) {
			t.Errorf("%d passes were shown but only %d requests are issued", len(l.revealed), issued)
		}
	})
	t.Run("each mail went out under one Message-ID", func(t *testing.T) {
		var queued int
		if err := sqldb.QueryRow(`SELECT COUNT(*) FROM outbox`).Scan(&queued); err != nil {
			t.Fatal(err)
		}
		ids := map[string]int{}
		for _, m := range r.capture.Messages() {
			ids[messageIDOf(m.Raw)]++
		}
		dups := 0
		for _, n := range ids {
			dups += n - 1
		}
		if len(ids) != queued {
			t.Errorf("%d mails queued, %d distinct Message-IDs delivered", queued, len(ids))
		}
		t.Logf("%d mails queued, %d deliveries, %d repeated after a kill between the relay's acceptance and tapdesk's record (same Message-ID)",
			queued, len(r.capture.Messages()), dups)
	})
	t.Run("no pass in the database, logs or mail", func(t *testing.T) {
		files, _ := filepath.Glob(r.dbPath + "*")
		for _, pass := range l.passes {
			for _, f := range files {
				raw, _ := os.ReadFile(f)
				if strings.Contains(string(raw), pass) {
					t.Errorf("a pass is in %s", filepath.Base(f))
				}
			}
			if strings.Contains(r.logs.String(), pass) || strings.Contains(logs.String(), pass) {
				t.Error("a pass is in the logs")
			}
			for _, m := range r.capture.Messages() {
				if strings.Contains(string(m.Raw), pass) {
					t.Errorf("a pass is in mail %q", m.Subject)
				}
			}
		}
	})
	a.close()
}

func messageIDOf(raw []byte) string {
	for line := range strings.SplitSeq(string(raw), "\r\n") {
		if v, ok := strings.CutPrefix(line, "Message-ID: "); ok {
			return v
		}
	}
	return ""
}

// childEdges are what a `tapdesk serve` child talks to in these tests: the
// fake Graph (its certificate in a file for SSL_CERT_FILE), the SMTP
// capture and the demo identity provider, with tapdesk registered as a
// client whose callback is on base.
type childEdges struct {
	tenant         *fakegraph.Tenant
	fake           *fakegraph.Server
	capture        *mail.Capture
	idp            *demoidp.Provider
	idpURL, secret string
	ca             string
}

func startChildEdges(t *testing.T, tenant *fakegraph.Tenant, dir, base string) *childEdges {
	t.Helper()
	e := &childEdges{tenant: tenant}
	var err error
	if e.fake, err = fakegraph.NewServer(tenant); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.fake.Close)
	e.ca = filepath.Join(dir, "fakegraph-ca.pem")
	if err := os.WriteFile(e.ca, e.fake.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if e.capture, err = mail.StartCapture(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.capture.Close() })
	idpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.idpURL = "http://" + idpLn.Addr().String()
	if e.idp, err = demoidp.New(e.idpURL, demoidp.DefaultPersonas()); err != nil {
		t.Fatal(err)
	}
	e.secret = randomHex(16)
	e.idp.RegisterClient(fakegraph.SampleSignInClientID, e.secret, base+"/auth/callback")
	idpSrv := &http.Server{Handler: e.idp.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go idpSrv.Serve(idpLn)
	t.Cleanup(func() { idpSrv.Close() })
	return e
}

// env is a serve child's environment on these edges, with its database
// and the base people reach it at: this process's environment without its
// TAPDESK_ and SSL_CERT_ variables, the settings every child needs, then
// extra (which wins).
func (e *childEdges) env(db, base string, extra map[string]string) []string {
	vars := map[string]string{
		crashChildEnv: "1", "SSL_CERT_FILE": e.ca,
		"TAPDESK_DB": db, "TAPDESK_BASE_URL": "https://tapdesk.contoso.example",
		"TAPDESK_OIDC_ISSUER": e.idpURL, "TAPDESK_OIDC_CLIENT_ID": fakegraph.SampleSignInClientID,
		"TAPDESK_OIDC_CLIENT_SECRET": e.secret, "TAPDESK_OIDC_REDIRECT_URL": base + "/auth/callback",
		"TAPDESK_GRAPH_TENANT_ID": e.tenant.ID, "TAPDESK_GRAPH_CLIENT_ID": e.tenant.ClientID,
		"TAPDESK_GRAPH_CLIENT_SECRET": e.tenant.ClientSecret,
		"TAPDESK_GRAPH_BASE_URL":      e.fake.URL(), "TAPDESK_AUTHORITY_HOST": e.fake.URL(),
		"TAPDESK_SMTP_HOST": e.capture.Host(), "TAPDESK_SMTP_PORT": fmt.Sprint(e.capture.Port()),
		"TAPDESK_SMTP_TLS": "none", "TAPDESK_SMTP_FROM": "tapdesk@contoso.example",
		"TAPDESK_APPROVER_EMAILS": "avery.approver@contoso.example, blake.backup@contoso.example",
		"TAPDESK_LOG_LEVEL":       "info",
	}
	maps.Copy(vars, extra)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TAPDESK_") && !strings.HasPrefix(kv, "SSL_CERT_") {
			env = append(env, kv)
		}
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}
