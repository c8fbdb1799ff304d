// Command bench measures tapdesk under load on loopback, as issue 10 asks:
// the agent's dashboard against a bare echo handler with wrk, static files
// and /healthz, concurrent full flows (file → approve → issue and reveal)
// timed per step, the server's memory from /proc and its SQLite WAL size.
// It starts every server itself as a child process and stops them; it is
// run by scripts/bench, which builds the binaries. Figures are reported,
// never asserted.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	_ "github.com/jackc/pgx/v5/stdlib"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/tapdesk/tapdesk/entra/fakegraph"
	"github.com/tapdesk/tapdesk/internal/freeport"
)

// benchLimits turns off the rate limits the load would run into: the
// benchmark measures speed, not the limiter's refusals.
const benchLimits = "sign-in=off,callback=off,search=off,user-card=off,file=off,link=off,reveal=off"

type config struct {
	bins       []target
	echo, wrk  string
	edges      string
	graphDelay time.Duration
	duration   time.Duration
	rounds     int // paired runs of echo and the dashboard (the ratio is their median)
	concurrent int
	flows      int // closed-loop flows (saturation)
	paced      int // flows paced like people
	minThink   time.Duration
	maxThink   time.Duration
	seed       uint64
	listed     int
	idle       time.Duration
	settle     time.Duration
	doc        string
	command    string
	notes      []string
	postgres   string // admin URL; empty: SQLite only
	keepDBs    bool   // leave each build's PostgreSQL database on the server
}

// target is one build to measure, on SQLite or, with postgres set (an
// admin URL), on a fresh PostgreSQL database.
type target struct{ label, bin, postgres string }

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ", ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var bins, notes listFlag
	c := config{}
	fs.Var(&bins, "bin", "LABEL=PATH of a tapdesk binary to measure (repeat to compare builds in one run)")
	fs.StringVar(&c.echo, "echo", "", "the bare echo reference binary (bench/echoref)")
	fs.StringVar(&c.wrk, "wrk", "wrk", "wrk binary")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "length of each wrk run")
	fs.IntVar(&c.rounds, "rounds", 3, "runs of echo \"hello\" and the dashboard, one after the other in turn; the ratio is the median of each pair's")
	fs.StringVar(&c.edges, "edges", "", "the bench/edges binary (fake Graph, identity provider, SMTP capture in a process of their own)")
	fs.DurationVar(&c.graphDelay, "graph-delay", 0, "hold back each of the fake Graph's answers this long, as a real Graph's round trip would (0: answer at once)")
	fs.IntVar(&c.concurrent, "concurrent", 50, "full flows in progress at once (paced and saturation runs)")
	fs.IntVar(&c.paced, "paced-flows", 200, "full flows paced like people, each step after a think time")
	fs.DurationVar(&c.minThink, "think-min", 500*time.Millisecond, "shortest think time before a step of a paced flow")
	fs.DurationVar(&c.maxThink, "think-max", 3*time.Second, "longest think time before a step of a paced flow")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the think times")
	fs.IntVar(&c.flows, "flows", 200, "full flows closed-loop, no think time (saturation)")
	fs.IntVar(&c.listed, "listed", 20, "requests on the agent's dashboard during the wrk runs")
	fs.DurationVar(&c.idle, "idle", 10*time.Second, "idle time after the load before memory and WAL are read again")
	fs.DurationVar(&c.settle, "settle", 2*time.Second, "wait after start before idle memory is read")
	fs.StringVar(&c.doc, "doc", "", "markdown file to write the table into (docs/BENCHMARKS.md); empty: print only")
	fs.StringVar(&c.command, "command", "scripts/bench", "the command shown with the table")
	fs.StringVar(&c.postgres, "postgres", "", "admin URL of a PostgreSQL server: each build is also measured on a fresh database there (scripts/bench --postgres starts one)")
	fs.BoolVar(&c.keepDBs, "keep-databases", false, "leave each build's PostgreSQL database on the server after its run (to look into its plans); dropped otherwise")
	fs.Var(&notes, "note", "a line printed under the table (repeatable)")
	quick := fs.Bool("quick", false, "tiny counts and 1 s runs, to check the harness itself")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *quick {
		c.duration, c.concurrent, c.flows, c.listed, c.idle, c.settle = time.Second, 4, 8, 3, time.Second, 500*time.Millisecond
		c.rounds = 1
		c.paced, c.minThink, c.maxThink = 8, 10*time.Millisecond, 50*time.Millisecond
	}
	c.notes = notes
	for _, b := range bins {
		label, path, ok := strings.Cut(b, "=")
		if !ok || label == "" || path == "" {
			return fmt.Errorf("--bin %q: want LABEL=PATH", b)
		}
		c.bins = append(c.bins, target{label, path, ""})
	}
	if len(c.bins) == 0 || c.echo == "" || c.edges == "" {
		return errors.New("give --bin LABEL=PATH (one or more), --echo PATH and --edges PATH")
	}
	if c.minThink < 0 || c.maxThink < c.minThink {
		return errors.New("--think-min must be at most --think-max, and neither negative")
	}
	if c.duration < time.Second {
		return errors.New("--duration is at least 1s (wrk counts whole seconds)")
	}
	if c.rounds < 1 {
		return errors.New("--rounds is at least 1")
	}
	if _, err := exec.LookPath(c.wrk); err != nil {
		return fmt.Errorf("wrk not found (%v); scripts/bench installs it", err)
	}

	work, err := os.MkdirTemp("", "tapdesk-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	users := benchUsers(c.listed + c.paced + c.flows)
	tenantPath := filepath.Join(work, "tenant.json")
	if err := writeTenant(tenantPath, users); err != nil {
		return err
	}

	m := describeMachine()
	var rs []result
	failed := false
	var runs []target
	for _, t := range c.bins {
		if c.postgres == "" {
			runs = append(runs, t)
			continue
		}
		runs = append(runs, target{t.label + " on SQLite", t.bin, ""})
		// A build from before PostgreSQL support runs on SQLite only.
		if help, _ := exec.CommandContext(ctx, t.bin, "serve", "--help").CombinedOutput(); strings.Contains(string(help), "postgres") {
			runs = append(runs, target{t.label + " on PostgreSQL", t.bin, c.postgres})
		}
	}
	for i, t := range runs {
		fmt.Fprintf(os.Stderr, "== %s (%s)\n", t.label, t.bin)
		dir := filepath.Join(work, strconv.Itoa(i))
		if err := os.Mkdir(dir, 0o700); err != nil {
			return err
		}
		r := measure(ctx, c, t, dir, tenantPath, users)
		if r.Err != "" || r.FlowsFailed > 0 {
			failed = true
		}
		rs = append(rs, r)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if c.graphDelay > 0 {
		c.notes = append(c.notes, fmt.Sprintf("The fake Graph held back each answer %s, as a real Graph's round trip would: the paced steps' \"with Graph\" figures are what a person waits, the others are tapdesk's own time as always.", c.graphDelay))
	}
	body := section(m, c.command, rs, c.notes)
	fmt.Println(body)
	if failed {
		return errors.New("some measurements did not complete (see above); docs not updated")
	}
	if c.doc != "" {
		if err := writeDoc(c.doc, docIntro, body); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "wrote", c.doc)
	}
	return nil
}

const docIntro = `` + "`" + `scripts/bench` + "`" + ` builds tapdesk as it ships (` + "`" + `scripts/build` + "`" + `: static, no
cgo, trimmed and stripped, what the Dockerfile and the systemd unit run),
a bare labstack/echo server answering "hello" (` + "`" + `bench/echoref` + "`" + `, built with
the same flags) and the edges tapdesk talks to (` + "`" + `bench/edges` + "`" + `: the fake
Graph over HTTPS, the demo identity provider, the SMTP capture), starts
each as a child process on loopback, and measures in one run:

- requests/s with ` + "`" + `wrk -t2 -c50` + "`" + `: the echo reference, the agent's dashboard
  listing 20 requests (filed through the UI first) with the agent's session
  cookie and the headers Chromium sends with a page (Fetch Metadata and
  ` + "`" + `Accept-Encoding` + "`" + `, which make it gzip-compressed), the same with the cookie
  alone (plain wrk, as no browser asks), the stylesheet with and without
  that cookie, ` + "`" + `/healthz` + "`" + `; with the bytes of an answer, header included;
  and, as this page's ceiling, the echo reference sending the dashboard's
  own answer (its header and body recorded from tapdesk) to the same
  requests: the ratio of the two is the share of the time that is
  tapdesk's own work rather than HTTP and the loopback;
- **paced flows**, the figure the goal "p99 server time ≤ 20 ms per step at
  50 concurrent flows" means: 200 full flows, 50 in progress at once, each
  filed (search, card, form, POST), approved by one of three approvers and
  issued and revealed by the agent who filed it, every actor pausing a
  think time before each step, drawn uniformly from 0.5–3 s by a seeded
  generator (` + "`" + `--think-min` + "`" + `, ` + "`" + `--think-max` + "`" + `, ` + "`" + `--seed` + "`" + `), as people do; each
  step's p50 and p99 are tapdesk's own time: the ` + "`" + `Server-Timing` + "`" + ` header's
  app time minus its Graph time (` + "`" + `TAPDESK_SERVER_TIMING=true` + "`" + `, off by
  default in serve), and next to it the app time whole ("with Graph"):
  what the person waits, but for the network. The fake Graph answers in
  about a millisecond; ` + "`" + `--graph-delay 50ms` + "`" + ` holds each of its answers back
  that long, as a real Graph's round trip would, so the "with Graph"
  figures count the Graph round trips a step makes one after another;
- **saturation**, the closed loop kept for what it is: 200 flows at 50
  concurrent with no think time, reported as flows/s and the p99 of every
  step. With zero think time on 2 cores shared by the load generator, the
  edges and the server, the per-step latency there is by Little's law
  concurrency ÷ throughput: it measures throughput, not what a step costs;
- the server's processor time per flow in both runs, and per request in
  the wrk runs (` + "`" + `/proc/PID/stat` + "`" + `, in ticks of 10 ms): requests/s depend on
  the share of the two cores wrk takes and on the machine's neighbours,
  processor time per request much less so;
- the bare echo reference paced the same way, right after them: its
  "hello" asked twice as many times as there are paced flows, by as many
  actors at once, each request after a think time drawn the same way;
  its p50 and p99 over the window tapdesk's app time covers (from the
  first middleware to the answer's header, in its own Server-Timing) and
  as the client saw them;
- the machine itself, right after each build's paced flows: how long
  reading 4 MiB again at random takes back to back and after a second
  untouched (medians, in the bench's own process). On the shared machines
  these figures come from, memory untouched for a second has cost 6–44 µs
  a 4 KiB page to touch again, and a paced step runs code and
  touches data last used up to seconds before: that row says how much of
  a column's paced p99 is the machine;
- the server's VmRSS after start (split into anonymous memory and
  file-backed pages, mostly the binary's), sampled under load and VmHWM,
  and again after a quiet spell; the ` + "`" + `-wal` + "`" + ` file's size sampled every 50 ms
  under load and after the quiet spell.

tapdesk runs as ` + "`" + `tapdesk serve` + "`" + ` (SQLite, or with ` + "`" + `--postgres` + "`" + ` a fresh
PostgreSQL database), configured as in production except for the rate
limits (off: the load would run into them) and ` + "`" + `TAPDESK_SERVER_TIMING` + "`" + `.
The edges run in a process of their own, so the memory and processor time
measured are tapdesk's alone. Each build is run from an installed copy
whose pages are dropped from the page cache first (` + "`" + `posix_fadvise
DONTNEED` + "`" + ` on that file only), as after a deployment: how much of the
130 MB binary a process maps depends on how the file sits in the page
cache, and a binary the linker has just written (through mmap) maps
10–20 MB more than the same bytes written plainly, which made idle RSS
vary from run to run.

` + "`" + `scripts/bench --base COMMIT` + "`" + ` measures that commit's build too, in the same
run (a base without ` + "`" + `TAPDESK_SERVER_TIMING` + "`" + ` gets that setting alone patched
in, so its step times are its own too). The machine is shared and noisy:
read the figures as ratios within one run. All flows share five sessions
(two agents, three approvers). With ` + "`" + `--postgres` + "`" + ` each build is measured a
second time on a fresh PostgreSQL database (a throwaway cluster from
` + "`" + `scripts/pg-dev` + "`" + ` on a Unix socket, fsync off; the server's own memory is
not counted in the RSS rows, and there is no ` + "`" + `-wal` + "`" + ` file to sample).`

// browserPage and browserStyle are the headers Chromium sends with a page
// it navigates to from another of the site's pages, and with the page's
// stylesheet, that change what tapdesk answers: Fetch Metadata (with it,
// forms carry no CSRF token and no token cookie is set) and the encodings
// it takes (tapdesk.CompressPage).
var (
	browserPage  = []string{"Accept-Encoding: gzip, deflate, br, zstd", "Sec-Fetch-Site: same-origin", "Sec-Fetch-Mode: navigate", "Sec-Fetch-Dest: document"}
	browserStyle = []string{"Accept-Encoding: gzip, deflate, br, zstd", "Sec-Fetch-Site: same-origin", "Sec-Fetch-Mode: no-cors", "Sec-Fetch-Dest: style"}
)

// echoSendingAnswer records the dashboard's answer to a request with these
// headers, has the echo reference send it (echoref --page), and runs wrk
// on that with the same headers.
func echoSendingAnswer(ctx context.Context, c config, agent *browser, dir string, headers []string) (wrkResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, agent.abs("/"), nil)
	if err != nil {
		return wrkResult{}, err
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	// Sent by hand, so Go's client does not decompress what it did not ask for.
	res, err := agent.client.Transport.RoundTrip(req)
	if err != nil {
		return wrkResult{}, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK {
		return wrkResult{}, fmt.Errorf("recording the dashboard: %d %v", res.StatusCode, err)
	}
	var rec bytes.Buffer
	for k, vs := range res.Header {
		if k == "Date" { // echo's server writes its own
			continue
		}
		for _, v := range vs {
			fmt.Fprintf(&rec, "%s: %s\r\n", k, v)
		}
	}
	rec.WriteString("\r\n")
	rec.Write(body)
	path := filepath.Join(dir, "dashboard-answer")
	if err := os.WriteFile(path, rec.Bytes(), 0o600); err != nil {
		return wrkResult{}, err
	}
	addr, err := freeport.Addr()
	if err != nil {
		return wrkResult{}, err
	}
	echo, err := startChild(ctx, "echo reference sending the dashboard", addr, "/", c.echo, "--addr", addr, "--page", path)
	if err != nil {
		return wrkResult{}, err
	}
	defer echo.stop()
	return runWrk(ctx, echo.pid(), c.wrk, echo.base+"/page", headers, c.duration)
}

// measure runs everything against one tapdesk build. A failure stops that
// build's run and is reported in its column.
func measure(ctx context.Context, c config, t target, dir, tenantPath string, users []benchUser) (r result) {
	r = result{Label: t.label, Concurrent: c.concurrent, Idle: c.idle, Steps: map[string]stepStat{}, MinThink: c.minThink, MaxThink: c.maxThink}
	fail := func(err error) result {
		r.Err = err.Error()
		fmt.Fprintln(os.Stderr, "  failed:", err)
		return r
	}
	logf := func(format string, a ...any) { fmt.Fprintf(os.Stderr, "  "+format+"\n", a...) }

	addr, err := freeport.Addr()
	if err != nil {
		return fail(err)
	}
	// The echo reference waits, idle, for its runs, which take turns with
	// the dashboard's (below).
	echo, err := startChild(ctx, "echo reference", addr, "/", c.echo, "--addr", addr)
	if err != nil {
		return fail(err)
	}
	defer echo.stop()

	if addr, err = freeport.Addr(); err != nil {
		return fail(err)
	}
	db := filepath.Join(dir, "tapdesk.db")
	dsn := db
	if t.postgres != "" {
		name := fmt.Sprintf("tapdesk_bench_%d_%d", os.Getpid(), time.Now().UnixNano())
		if dsn, err = freshDatabase(ctx, t.postgres, name); err != nil {
			return fail(err)
		}
		// Deferred before the server's stop, so run after it.
		defer func() {
			if c.keepDBs {
				logf("kept database %s", name)
			} else if err := dropDatabase(t.postgres, name); err != nil {
				logf("could not drop database %s: %v", name, err)
			}
		}()
	}
	// Run an installed copy, its pages dropped from the page cache, as after
	// a deployment: how much of a binary a process maps at start depends
	// on how the file sits in the page cache, and a file the linker has
	// just written through mmap maps 10-20 MB more than one written
	// plainly. Each build then starts from the same state.
	bin := filepath.Join(dir, "tapdesk")
	if err := installCold(t.bin, bin); err != nil {
		return fail(err)
	}
	// The edges run in a process of their own, so what is measured below
	// (memory, processor time) is tapdesk serve's alone.
	edge, err := startEdges(ctx, c.edges, tenantPath, "http://"+addr, dir, c.graphDelay)
	if err != nil {
		return fail(err)
	}
	defer edge.stop()
	// tapdesk runs as in production for the wrk runs, and again, on the
	// same database with the same keys, with Server-Timing on for the
	// flows, which read their step times from it (startServe): that
	// setting costs each answer its own work and header, and the pages
	// reloaded all day are measured without it.
	env := map[string]string{
		"TAPDESK_ADDR": addr, "TAPDESK_DB": dsn, "TAPDESK_BASE_URL": "https://tapdesk.contoso.example",
		"TAPDESK_SESSION_KEY": randomKey(), "TAPDESK_AUDIT_KEY": randomKey(),
		"TAPDESK_RATE_LIMITS": benchLimits,
	}
	startServe := func(timing bool) (*child, error) {
		e := maps.Clone(env)
		if timing {
			e["TAPDESK_SERVER_TIMING"] = "true"
		}
		return startChildEnv(ctx, "tapdesk serve", addr, "/healthz", serveEnv(edge.env, e), bin, "serve")
	}
	srv, err := startServe(false)
	if err != nil {
		return fail(err)
	}
	defer func() { srv.stop() }() // the one running then
	time.Sleep(c.settle)
	idle, err := readMemory(srv.pid())
	if err != nil {
		return fail(err)
	}
	r.RSSIdle, r.RSSIdleAnon, r.RSSIdleFile = idle.rss, idle.anon, idle.file
	logf("idle RSS %s (anonymous %s, file-backed %s)", mb(r.RSSIdle), mb(idle.anon), mb(idle.file))
	samples := startSampler(srv.pid(), db+"-wal", 50*time.Millisecond)
	finished := false
	defer func() {
		if !finished {
			samples.finish()
		}
	}()

	transport := &http.Transport{MaxIdleConns: 200, MaxIdleConnsPerHost: 200, IdleConnTimeout: time.Minute}
	defer transport.CloseIdleConnections()
	agent := newBrowser(srv.base, transport)
	if err := agent.signIn(ctx, "agent"); err != nil {
		return fail(err)
	}
	for _, u := range users[:c.listed] {
		if _, err := fileRequest(ctx, nil, agent, u); err != nil {
			return fail(fmt.Errorf("seeding the dashboard: %w", err))
		}
	}
	dash, err := agent.get(ctx, "/")
	if err != nil || dash.status != http.StatusOK {
		return fail(fmt.Errorf("dashboard: %d %v", dash.status, err))
	}
	for _, u := range users[:c.listed] {
		if strings.Contains(dash.body, u.Name) {
			r.Listed++
		}
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(dash.body))
	if err != nil {
		return fail(err)
	}
	css, ok := doc.Find(`link[rel="stylesheet"]`).Attr("href")
	if !ok {
		return fail(errors.New("the dashboard links no stylesheet"))
	}
	cookie := "Cookie: " + agent.cookieHeader()
	// The dashboard as a browser asks for it: the session cookie and a
	// browser's headers (its answer comes compressed).
	pageHeaders := append([]string{cookie}, browserPage...)
	// Echo and the dashboard in turn, so a change in what else the
	// machine does (it is shared) weighs on both sides of each ratio
	// alike; the ratio judged is the median of the pairs'.
	var echoRuns, dashRuns []wrkResult
	for i := range c.rounds {
		e, err := runWrk(ctx, echo.pid(), c.wrk, echo.base+"/", nil, c.duration)
		if err != nil {
			return fail(err)
		}
		d, err := runWrk(ctx, srv.pid(), c.wrk, agent.abs("/"), pageHeaders, c.duration)
		if err != nil {
			return fail(err)
		}
		echoRuns, dashRuns = append(echoRuns, e), append(dashRuns, d)
		logf("round %d: echo %.0f/s, %.1f µs of processor time a request; dashboard %.0f/s, %d non-2xx, %.1f µs", i+1,
			e.RPS, e.cpuPerRequest(), d.RPS, d.Non2xx, d.cpuPerRequest())
	}
	r.Echo, r.Dashboard, r.Ratios = mergeRuns(echoRuns), mergeRuns(dashRuns), pairRatios(dashRuns, echoRuns)
	for _, w := range []struct {
		name, path string
		headers    []string
		into       *wrkResult
	}{
		{"dashboard, plain wrk", "/", []string{cookie}, &r.DashboardPlain},
		{"css", css, browserStyle, &r.CSS},
		{"css+cookie", css, append([]string{cookie}, browserStyle...), &r.CSSCookie},
		{"healthz", "/healthz", nil, &r.Hlz},
	} {
		if *w.into, err = runWrk(ctx, srv.pid(), c.wrk, agent.abs(w.path), w.headers, c.duration); err != nil {
			return fail(err)
		}
		logf("%s: %.0f/s, %d non-2xx, %.1f µs of processor time a request", w.name, w.into.RPS, w.into.Non2xx, w.into.cpuPerRequest())
	}
	// How much of the gap is the request itself: echo's "hello" asked
	// for with the dashboard's own request headers (its cookie and a
	// browser's headers), which net/http reads and echo matches the same.
	if r.EchoAsked, err = runWrk(ctx, echo.pid(), c.wrk, echo.base+"/", pageHeaders, c.duration); err != nil {
		return fail(err)
	}
	logf("echo asked as the dashboard is: %.0f/s, %.1f µs of processor time a request", r.EchoAsked.RPS, r.EchoAsked.cpuPerRequest())
	// The ceiling for this page: echo sending the dashboard's own answer,
	// header and body as tapdesk sent them, with nothing to work out.
	if r.EchoPage, err = echoSendingAnswer(ctx, c, agent, dir, pageHeaders); err != nil {
		return fail(err)
	}
	logf("echo sending the dashboard's answer: %.0f/s, %.1f µs of processor time a request", r.EchoPage.RPS, r.EchoPage.cpuPerRequest())

	// Again with Server-Timing, for the flows: memory and WAL are the
	// most either run reached.
	wrkRSS, wrkWAL, _ := samples.finish()
	wrkPeak, err := readMemory(srv.pid())
	if err != nil {
		return fail(err)
	}
	srv.stop()
	if srv, err = startServe(true); err != nil {
		return fail(err)
	}
	samples = startSampler(srv.pid(), db+"-wal", 50*time.Millisecond)

	agents := []*browser{agent, newBrowser(srv.base, transport)}
	approvers := []*browser{newBrowser(srv.base, transport), newBrowser(srv.base, transport), newBrowser(srv.base, transport)}
	for i, b := range []*browser{agents[1], approvers[0], approvers[1], approvers[2]} {
		if err := b.signIn(ctx, []string{"agent2", "approver", "approver2", "approver3"}[i]); err != nil {
			return fail(err)
		}
	}
	// People first: the paced flows, each step after a think time.
	paced := users[c.listed : c.listed+c.paced]
	cpu0, _ := cpuTime(srv.pid())
	start := time.Now()
	rec := runFlows(ctx, c.concurrent, agents, approvers, paced, c.minThink, c.maxThink, c.seed)
	r.PacedWall = time.Since(start)
	cpu1, _ := cpuTime(srv.pid())
	r.Paced, r.PacedCPU = c.paced, cpu1-cpu0
	r.FlowsFailed = c.paced - len(rec.pages[stepReveal])
	r.Failures = rec.first
	for _, step := range flowSteps {
		r.Steps[step] = summarise(rec.pages[step])
	}
	logf("%d paced flows in %s, %d failed, server CPU %s", r.Paced, r.PacedWall.Round(time.Millisecond), r.FlowsFailed, r.PacedCPU)

	// Right after them, the bare reference for the paced steps: echo's
	// "hello" asked the same way, each request after a think time, as
	// many at once; then what the machine does to memory left untouched
	// (machine.go). After the flows rather than before, so tapdesk's
	// flows start as soon as its actors have signed in, as they did
	// before these were measured. A failure here loses only its row.
	if r.EchoPaced, r.EchoPacedClient, err = pacedEcho(ctx, echo.base, c.concurrent, 2*c.paced, c.minThink, c.maxThink, c.seed); err != nil {
		logf("echo paced: %v", err)
		r.EchoPaced, r.EchoPacedClient = stepStat{}, stepStat{}
	} else {
		logf("echo paced: p50 / p99 %s / %s ms (its own time), %s / %s ms (client)", msFine(r.EchoPaced.P50), ms(r.EchoPaced.P99), ms(r.EchoPacedClient.P50), ms(r.EchoPacedClient.P99))
	}
	r.Memory = probeMemory(time.Second, 10, 5)
	logf("memory probe: %s ms after a second untouched, %s ms back to back (%s a page)", msFine(r.Memory.Cold), msFine(r.Memory.Warm), r.Memory.perPage())
	cpu1, _ = cpuTime(srv.pid()) // the saturation run's processor time starts here

	// Then saturation: closed loop, every actor's next step as soon as the
	// last answered. Per-step latency is then concurrency ÷ throughput.
	start = time.Now()
	rec = runFlows(ctx, c.concurrent, agents, approvers, users[c.listed+c.paced:c.listed+c.paced+c.flows], 0, 0, 0)
	r.FlowWall = time.Since(start)
	cpu2, _ := cpuTime(srv.pid())
	r.Flows, r.SatCPU = c.flows, cpu2-cpu1
	failed := c.flows - len(rec.pages[stepReveal])
	r.FlowsFailed += failed
	r.Failures = append(r.Failures, rec.first...)
	var all []page
	for _, step := range flowSteps {
		st := summarise(rec.pages[step])
		all = append(all, rec.pages[step]...)
		if st.P99 > r.SatWorst.P99 {
			r.SatWorst, r.SatWorstStep = st, step
		}
	}
	r.SatAll = summarise(all)
	logf("saturation: %d flows in %s (%.1f flows/s), %d failed, p99 %s ms, server CPU %s", r.Flows, r.FlowWall.Round(time.Millisecond),
		float64(r.Flows)/r.FlowWall.Seconds(), failed, ms(r.SatAll.P99), r.SatCPU)

	r.RSSLoad, r.WALMax, _ = samples.finish()
	finished = true
	peak, err := readMemory(srv.pid())
	if err != nil {
		return fail(err)
	}
	r.RSSLoad, r.WALMax, r.HWM = max(r.RSSLoad, wrkRSS), max(r.WALMax, wrkWAL), max(peak.hwm, wrkPeak.hwm)
	select {
	case <-time.After(c.idle):
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	after, err := readMemory(srv.pid())
	if err != nil {
		return fail(err)
	}
	r.RSSAfter, r.WALAfter = after.rss, fileSize(db+"-wal")
	logf("RSS peak %s, after idle %s; WAL max %s, after idle %s", mb(r.HWM), mb(r.RSSAfter), mb(r.WALMax), mb(r.WALAfter))
	return r
}

// benchUser is one of the generated ordinary users requested for.
type benchUser struct {
	ID, Local, UPN, Name string
}

// serveEnv is this process's environment without TAPDESK_ and SSL_CERT_
// variables, then the edges' settings, then extra.
func serveEnv(edge, extra map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TAPDESK_") && !strings.HasPrefix(kv, "SSL_CERT_") {
			env = append(env, kv)
		}
	}
	for _, m := range []map[string]string{edge, extra} {
		for k, v := range m {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func randomKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func benchUsers(n int) []benchUser {
	us := make([]benchUser, n)
	for i := range us {
		local := fmt.Sprintf("bench%04d", i)
		us[i] = benchUser{
			ID:    fmt.Sprintf("b3c00000-0000-4000-8000-%012d", i),
			Local: local, UPN: local + "@contoso.example", Name: fmt.Sprintf("Bench User %04d", i),
		}
	}
	return us
}

// writeTenant writes the built-in sample tenant plus users, each an
// ordinary member in the pass policy's scope shaped like the sample's
// Priya Patel (a password, a phone and the Authenticator app).
func writeTenant(path string, users []benchUser) error {
	raw, err := json.Marshal(fakegraph.SampleTenant())
	if err != nil {
		return err
	}
	var t map[string]any
	if err := json.Unmarshal(raw, &t); err != nil {
		return err
	}
	list, _ := t["users"].([]any)
	var model map[string]any
	for _, u := range list {
		if um, ok := u.(map[string]any); ok && um["userPrincipalName"] == "priya.patel@contoso.example" {
			model = um
		}
	}
	if model == nil {
		return errors.New("the sample tenant has no priya.patel@contoso.example to model users on")
	}
	for i, u := range users {
		var nu map[string]any
		b, _ := json.Marshal(model)
		_ = json.Unmarshal(b, &nu)
		nu["id"], nu["userPrincipalName"], nu["mail"], nu["displayName"] = u.ID, u.UPN, u.UPN, u.Name
		nu["givenName"], nu["surname"] = "Bench", fmt.Sprintf("User %04d", i)
		methods, _ := nu["methods"].([]any)
		for j, m := range methods {
			if mm, ok := m.(map[string]any); ok && mm["kind"] != "password" {
				mm["id"] = fmt.Sprintf("b3c1%04d-0000-4000-8000-%012d", j, i)
			}
		}
		list = append(list, nu)
	}
	t["users"] = list
	out, err := json.Marshal(t)
	if err != nil {
		return err
	}
	if _, err := fakegraph.LoadTenant(strings.NewReader(string(out)), time.Now()); err != nil {
		return fmt.Errorf("generated tenant: %w", err)
	}
	return os.WriteFile(path, out, 0o600)
}

func describeMachine() machine {
	m := machine{Date: time.Now().UTC().Format("2006-01-02 15:04 UTC"), Cores: runtime.NumCPU(), Go: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				m.MemGB = kb / (1 << 20)
			}
		}
	}
	if raw, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(raw))
	}
	if raw, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(raw)); len(f) >= 3 {
			m.Load = strings.Join(f[:3], " ")
		}
	}
	return m
}

// freshDatabase creates the empty database name on the PostgreSQL server at
// admin and returns its URL.
func freshDatabase(ctx context.Context, admin, name string) (string, error) {
	u, err := url.Parse(admin)
	if err != nil {
		return "", fmt.Errorf("--postgres: %w", err)
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		return "", err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create the benchmark's database: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// dropDatabase drops the database name (freshDatabase's) from the server at
// admin, ending any session still in it.
func dropDatabase(admin, name string) error {
	db, err := sql.Open("pgx", admin)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	return err
}
