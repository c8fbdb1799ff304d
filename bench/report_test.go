package main

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk/entra/fakegraph"
)

func TestParseServerTiming(t *testing.T) {
	tests := map[string]struct {
		in   []string
		want serverTiming
	}{
		"both":                 {[]string{"graph;dur=3.5, app;dur=12"}, serverTiming{app: 12, graph: 3.5, hasApp: true, hasGraph: true}},
		"two headers":          {[]string{"app;dur=7", "graph;dur=2"}, serverTiming{app: 7, graph: 2, hasApp: true, hasGraph: true}},
		"app only":             {[]string{"app;dur=4.25"}, serverTiming{app: 4.25, hasApp: true}},
		"desc with comma":      {[]string{`graph;desc="calls, 2";dur=1, app;dur=9`}, serverTiming{app: 9, graph: 1, hasApp: true, hasGraph: true}},
		"case and spaces":      {[]string{" APP ; DUR = 5 "}, serverTiming{app: 5, hasApp: true}},
		"unknown metrics":      {[]string{"db;dur=3, cache;desc=hit"}, serverTiming{}},
		"malformed and absent": {[]string{"app;dur=abc, graph;dur=-1, app", ""}, serverTiming{}},
		"none":                 {nil, serverTiming{}},
		"counts": {[]string{"app;dur=9.5, graph;dur=2.000, graph-calls;desc=6, db-writes;desc=2"},
			serverTiming{app: 9.5, graph: 2, hasApp: true, hasGraph: true, graphCalls: 6, writes: 2, hasCounts: true}},
		"bad counts": {[]string{"graph-calls;desc=x, db-writes;dur=2"}, serverTiming{}},
	}
	for name, tt := range tests {
		if got := parseServerTiming(tt.in); got != tt.want {
			t.Errorf("%s: parseServerTiming(%q) = %+v, want %+v", name, tt.in, got, tt.want)
		}
	}
}

func TestSummarise(t *testing.T) {
	var server, client []page
	for i := 1; i <= 100; i++ {
		server = append(server, page{took: time.Second, timing: serverTiming{app: float64(i) + 10, graph: 10, hasApp: true, hasGraph: true}})
		client = append(client, page{took: time.Duration(i) * time.Millisecond})
	}
	if s := summarise(server); !s.Server || s.N != 100 || s.P50 != 50*time.Millisecond || s.P99 != 99*time.Millisecond {
		t.Errorf("server timing: %+v, want app − graph: p50 50ms, p99 99ms", s)
	}
	if s := summarise(server); s.WithGraphP50 != 60*time.Millisecond || s.WithGraphP99 != 109*time.Millisecond {
		t.Errorf("server timing with Graph: %+v, want the app figure whole: p50 60ms, p99 109ms", s)
	}
	// One response without the header: the whole step falls back to the
	// client's clock rather than mixing the two.
	mixed := append([]page{{took: 2 * time.Second}}, server[1:]...)
	if s := summarise(mixed); s.Server || s.P50 != time.Second {
		t.Errorf("mixed: %+v, want client-observed", s)
	}
	if s := summarise(client); s.Server || s.P50 != 50*time.Millisecond || s.P99 != 99*time.Millisecond {
		t.Errorf("client: %+v", s)
	}
	if s := summarise(server); s.Counts {
		t.Errorf("no counts sent, but summarised as counted: %+v", s)
	}
	counted := []page{
		{timing: serverTiming{app: 5, hasApp: true, graphCalls: 6, writes: 2, hasCounts: true}},
		{timing: serverTiming{app: 5, hasApp: true, graphCalls: 6, writes: 3, hasCounts: true}},
	}
	if s := summarise(counted); !s.Counts || s.GraphCalls != 6 || s.Writes != 2.5 {
		t.Errorf("counts: %+v, want 6 Graph calls and 2.5 write turns on average", s)
	}
	if s := summarise(nil); s.N != 0 {
		t.Errorf("empty: %+v", s)
	}
}

func TestParseWrk(t *testing.T) {
	out := `Running 10s test @ http://127.0.0.1:8080/
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.23ms  456.00us  12.00ms   78.90%
    Req/Sec    20.12k     1.02k   22.00k    70.00%
  400321 requests in 10.00s, 50.00MB read
  Non-2xx or 3xx responses: 12
Requests/sec:  40032.10
Transfer/sec:      5.00MB
`
	r, err := parseWrk(out)
	if err != nil || r.RPS != 40032.10 || r.Requests != 400321 || r.Non2xx != 12 || r.Errors != "" || r.Bytes != 5<<20 {
		t.Errorf("parseWrk = %+v, %v", r, err)
	}
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused"); err == nil {
		t.Error("no figures, no error")
	}
}

func TestTableAndDoc(t *testing.T) {
	r := result{Label: "after (abc1234)", Concurrent: 50, Flows: 200, FlowWall: 3 * time.Second, Listed: 20, Idle: 10 * time.Second,
		Echo: wrkResult{RPS: 60000, Requests: 600000, CPU: 6 * time.Second}, Dashboard: wrkResult{RPS: 31000, Bytes: 31000 * 3100, Requests: 310000, CPU: 9300 * time.Millisecond},
		DashboardPlain: wrkResult{RPS: 15000, Bytes: 15000 * 11800}, EchoPage: wrkResult{RPS: 40000, Requests: 400000, CPU: 7200 * time.Millisecond},
		EchoAsked: wrkResult{RPS: 50000, Requests: 500000, CPU: 6500 * time.Millisecond}, CSS: wrkResult{RPS: 23000}, CSSCookie: wrkResult{RPS: 1300, Non2xx: 4},
		Hlz: wrkResult{RPS: 20000, Errors: "  Socket errors: connect 0, read 2, write 0, timeout 48"},
		Steps: map[string]stepStat{stepReveal: {N: 200, P50: 5 * time.Millisecond, P99: 25 * time.Millisecond, Server: true,
			WithGraphP50: 55 * time.Millisecond, WithGraphP99: 80 * time.Millisecond}},
		RSSIdle: 40 << 20, RSSIdleAnon: 6 << 20, RSSIdleFile: 34 << 20, HWM: 130 << 20, WALMax: 10 << 20,
		Paced: 100, PacedWall: 80 * time.Second, PacedCPU: 9 * time.Second, MinThink: 500 * time.Millisecond, MaxThink: 3 * time.Second,
		SatCPU: 10 * time.Second, SatAll: stepStat{N: 1800, P50: 30 * time.Millisecond, P99: 400 * time.Millisecond, Server: true},
		SatWorst: stepStat{N: 200, P99: 900 * time.Millisecond, Server: true}, SatWorstStep: stepFile}
	tab := table([]result{r, {Label: "before", Err: "boom"}})
	for _, want := range []string{
		"| figure | goal | after (abc1234) | before |",
		"| dashboard ÷ echo | ≥ 0.5 | **0.516** ✔ | — |",
		"31,000/s, 20 listed, 3.1 kB an answer",
		"| echo sending the dashboard's answer (same header and body); dashboard ÷ that |  | 40,000/s; 0.775 | — |",
		"| echo \"hello\" asked with the dashboard's request headers (its cookie, a browser's); dashboard ÷ that |  | 50,000/s, 13.0 µs a request; 0.620 | — |",
		"| server processor time a request, µs: echo \"hello\"; dashboard; echo sending its answer |  | 10.0; 30.0; 18.0 | — |",
		"| agent dashboard: session cookie only (plain wrk); ÷ echo |  | 15,000/s, 11.8 kB an answer; 0.250 | — |",
		"1,300/s (4 non-2xx)",
		"| `/healthz` |  | 20,000/s (socket errors: read 2, timeout 48) | — |",
		"| paced: issue and reveal (POST) p50 / p99 ms | p99 ≤ 20 ms | 5.0 / **25.0** (server − Graph; with Graph 55.0 / 80.0, n=200) ✗ | — |",
		"100, 50 in progress at once, think 500ms–3s, in 80.0 s",
		"| paced: server processor time per flow |  | 90.0 ms | — |",
		"200 flows at 50 concurrent: **66.7 flows/s**; 30.0 / 400.0 (server − Graph); file (POST) 900.0",
		"| saturation: server processor time per flow |  | 50.0 ms | — |",
		"**40.0 MB** ✔ (anonymous 6.0 MB, file-backed 34.0 MB)", "**130.0 MB** ✗",
		"| WAL idle after the load | truncated | 0.0 MB (after 10s) ✔ | — |",
	} {
		if !strings.Contains(tab, want) {
			t.Errorf("table lacks %q:\n%s", want, tab)
		}
	}

	// A ratio just short of the goal does not read as met.
	short := table([]result{{Label: "short", Echo: wrkResult{RPS: 100000}, Dashboard: wrkResult{RPS: 49970}}})
	if !strings.Contains(short, "| dashboard ÷ echo | ≥ 0.5 | **0.499** ✗ |") {
		t.Errorf("0.4997 shown as:\n%s", short)
	}

	// Runs in turn are judged on the median of their pairs, not on the
	// means: here the means give 0.5, the median 0.48.
	paired := table([]result{{Label: "paired", Echo: wrkResult{RPS: 100000}, Dashboard: wrkResult{RPS: 50000}, Ratios: []float64{0.48, 0.6, 0.47}}})
	if !strings.Contains(paired, "| dashboard ÷ echo | ≥ 0.5 | **0.480** ✗ (median of 3 runs in turn: 0.480, 0.600, 0.470) |") {
		t.Errorf("paired runs shown as:\n%s", paired)
	}
	if m := median([]float64{0.4, 0.6, 0.5, 0.3}); m != 0.45 {
		t.Errorf("median of four = %v, want 0.45", m)
	}
	runs := mergeRuns([]wrkResult{{RPS: 100, Requests: 1000, CPU: time.Second}, {RPS: 300, Requests: 3000, CPU: 2 * time.Second, Errors: "Socket errors: 1"}})
	if runs.RPS != 200 || runs.Requests != 4000 || runs.CPU != 3*time.Second || runs.Errors != "Socket errors: 1" {
		t.Errorf("merged runs: %+v", runs)
	}

	doc := "# Benchmarks\n\n## Audit trail\n\nkept\n"
	once := updateDoc(doc, "intro", "run one\n")
	twice := updateDoc(once+"\n## Later section\n\nalso kept\n", "intro", "run two\n")
	if !strings.Contains(once, "## Audit trail\n\nkept") || !strings.Contains(once, heading+"\n\nintro\n\n"+markBegin+"\nrun one\n"+markEnd) {
		t.Errorf("first write:\n%s", once)
	}
	if strings.Contains(twice, "run one") || !strings.Contains(twice, "run two") || strings.Count(twice, heading) != 1 ||
		!strings.Contains(twice, "also kept") || !strings.Contains(twice, "kept\n") {
		t.Errorf("second write:\n%s", twice)
	}
}

func TestWriteTenant(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tenant.json")
	users := benchUsers(3)
	if err := writeTenant(path, users); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tn, err := fakegraph.LoadTenant(f, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sample := fakegraph.SampleTenant()
	if len(tn.Users) != len(sample.Users)+3 {
		t.Fatalf("%d users, want the sample's %d and 3 more", len(tn.Users), len(sample.Users))
	}
	found := 0
	for _, u := range tn.Users {
		if u.UserPrincipalName == users[2].UPN && u.ID == users[2].ID && u.DisplayName == users[2].Name && u.AccountEnabled {
			found++
		}
	}
	if found != 1 {
		t.Errorf("generated user %s not in the tenant as made", users[2].UPN)
	}
}

// A paced actor's think times stay within their bounds and repeat with
// the seed, so two runs (or two builds) see the same pauses.
func TestPaceIsSeededAndBounded(t *testing.T) {
	draw := func(seed uint64) []time.Duration {
		p := &pace{rng: rand.New(rand.NewPCG(seed, 3)), min: 500 * time.Millisecond, max: 3 * time.Second}
		var out []time.Duration
		for range 50 {
			out = append(out, p.next())
		}
		return out
	}
	a, b, c := draw(1), draw(1), draw(2)
	if !slices.Equal(a, b) || slices.Equal(a, c) {
		t.Error("think times do not follow the seed")
	}
	for _, d := range a {
		if d < 500*time.Millisecond || d > 3*time.Second {
			t.Errorf("think time %s out of 0.5–3 s", d)
		}
	}
	start := time.Now()
	(&pace{rng: rand.New(rand.NewPCG(1, 1)), min: 20 * time.Millisecond, max: 30 * time.Millisecond}).think(context.Background())
	if took := time.Since(start); took < 20*time.Millisecond {
		t.Errorf("think returned after %s, before its least", took)
	}
	(*pace)(nil).think(context.Background()) // the closed loop: no pause, no panic
}

func TestCPUTimeOfThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	before, err := cpuTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Spin until the count moves (it is in 10 ms ticks; a busy machine
	// gives this process few of them).
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); {
		after, err := cpuTime(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if after > before {
			return
		}
	}
	t.Errorf("processor time stayed at %s through 20 s of spinning", before)
}

func TestProbeMemory(t *testing.T) {
	p := probeMemory(time.Millisecond, 3, 3)
	if p.Warm <= 0 || p.Cold <= 0 || p.Pages != memoryProbeBytes/4096 || p.Pause != time.Millisecond {
		t.Fatalf("probe: %+v", p)
	}
	if got := (memoryProbe{Warm: time.Millisecond, Cold: 1025 * time.Millisecond, Pages: 1024}).perPage(); got != time.Millisecond {
		t.Errorf("perPage = %s, want 1ms", got)
	}
	if got := (memoryProbe{Warm: 2 * time.Millisecond, Cold: time.Millisecond, Pages: 1024}).perPage(); got != 0 {
		t.Errorf("perPage of a cold read quicker than the warm one = %s, want 0", got)
	}
}
