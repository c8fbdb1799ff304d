package main

import (
	"os"
	"path/filepath"
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
	// One response without the header: the whole step falls back to the
	// client's clock rather than mixing the two.
	mixed := append([]page{{took: 2 * time.Second}}, server[1:]...)
	if s := summarise(mixed); s.Server || s.P50 != time.Second {
		t.Errorf("mixed: %+v, want client-observed", s)
	}
	if s := summarise(client); s.Server || s.P50 != 50*time.Millisecond || s.P99 != 99*time.Millisecond {
		t.Errorf("client: %+v", s)
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
	if err != nil || r.RPS != 40032.10 || r.Requests != 400321 || r.Non2xx != 12 || r.Errors != "" {
		t.Errorf("parseWrk = %+v, %v", r, err)
	}
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused"); err == nil {
		t.Error("no figures, no error")
	}
}

func TestTableAndDoc(t *testing.T) {
	r := result{Label: "after (abc1234)", Concurrent: 50, Flows: 200, FlowWall: 3 * time.Second, Listed: 20, Idle: 10 * time.Second,
		Echo: wrkResult{RPS: 60000}, Dashboard: wrkResult{RPS: 31000}, CSS: wrkResult{RPS: 23000}, CSSCookie: wrkResult{RPS: 1300, Non2xx: 4},
		Hlz:     wrkResult{RPS: 20000, Errors: "  Socket errors: connect 0, read 2, write 0, timeout 48"},
		Steps:   map[string]stepStat{stepReveal: {N: 200, P50: 5 * time.Millisecond, P99: 25 * time.Millisecond, Server: true}},
		RSSIdle: 40 << 20, HWM: 130 << 20, WALMax: 10 << 20}
	tab := table([]result{r, {Label: "before", Err: "boom"}})
	for _, want := range []string{
		"| figure | goal | after (abc1234) | before |",
		"| dashboard ÷ echo | ≥ 0.5 | **0.517** ✔ | — |",
		"1,300/s (4 non-2xx)",
		"| `/healthz` |  | 20,000/s (socket errors: read 2, timeout 48) | — |",
		"| issue and reveal (POST) p50 / p99 ms | p99 ≤ 20 ms | 5.0 / **25.0** (server − Graph, n=200) ✗ | — |",
		"**40.0 MB** ✔", "**130.0 MB** ✗",
		"| WAL idle after the load | truncated | 0.0 MB (after 10s) ✔ | — |",
	} {
		if !strings.Contains(tab, want) {
			t.Errorf("table lacks %q:\n%s", want, tab)
		}
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
