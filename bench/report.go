package main

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// serverTiming is the server's account of one response: total time in
// the app and the part of it spent waiting on Graph, in milliseconds.
type serverTiming struct {
	app, graph       float64
	hasApp, hasGraph bool
	// graphCalls and writes are the Graph calls and database write
	// turns the server counted (graph-calls, db-writes), when it did.
	graphCalls, writes int
	hasCounts          bool
}

// parseServerTiming reads Server-Timing header values
// ("graph;dur=3.1, app;dur=5.2"). Unknown metrics, descriptions and
// malformed entries are skipped: the header is informative, not a contract.
func parseServerTiming(values []string) serverTiming {
	var st serverTiming
	for _, v := range values {
		for _, entry := range splitOutsideQuotes(v, ',') {
			params := splitOutsideQuotes(entry, ';')
			name := strings.ToLower(strings.TrimSpace(params[0]))
			if name == "graph-calls" || name == "db-writes" {
				for _, p := range params[1:] {
					k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
					n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(val), `"`))
					if !ok || !strings.EqualFold(strings.TrimSpace(k), "desc") || err != nil || n < 0 {
						continue
					}
					if name == "graph-calls" {
						st.graphCalls = n
					} else {
						st.writes = n
					}
					st.hasCounts = true
				}
				continue
			}
			for _, p := range params[1:] {
				k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(k), "dur") {
					continue
				}
				d, err := strconv.ParseFloat(strings.Trim(strings.TrimSpace(val), `"`), 64)
				if err != nil || d < 0 || math.IsNaN(d) || math.IsInf(d, 0) {
					continue
				}
				switch name {
				case "app":
					st.app, st.hasApp = d, true
				case "graph":
					st.graph, st.hasGraph = d, true
				}
			}
		}
	}
	return st
}

// splitOutsideQuotes splits s at sep where sep is not inside "…".
func splitOutsideQuotes(s string, sep byte) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && quoted:
			i++
		case s[i] == '"':
			quoted = !quoted
		case s[i] == sep && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// stepStat summarises one step's responses.
type stepStat struct {
	N        int
	P50, P99 time.Duration
	// Server is true when every response carried Server-Timing: the
	// figures are then app minus graph; otherwise client-observed latency.
	Server bool
	// Counts is true when every response counted its Graph calls and
	// write turns; GraphCalls and Writes are then their means.
	Counts             bool
	GraphCalls, Writes float64
	// WithGraphP50 and WithGraphP99 are the server's whole time, Graph's
	// included: what the person waits, but for the network (when Server).
	WithGraphP50, WithGraphP99 time.Duration
}

func summarise(pages []page) stepStat {
	if len(pages) == 0 {
		return stepStat{}
	}
	server, counts := true, true
	var calls, writes int
	for _, p := range pages {
		server = server && p.timing.hasApp
		counts = counts && p.timing.hasCounts
		calls += p.timing.graphCalls
		writes += p.timing.writes
	}
	ds, whole := make([]time.Duration, len(pages)), make([]time.Duration, len(pages))
	for i, p := range pages {
		if server {
			ms := p.timing.app
			whole[i] = time.Duration(max(ms, 0) * float64(time.Millisecond))
			if p.timing.hasGraph {
				ms -= p.timing.graph
			}
			ds[i] = time.Duration(max(ms, 0) * float64(time.Millisecond))
		} else {
			ds[i] = p.took
		}
	}
	slices.Sort(ds)
	st := stepStat{N: len(ds), P50: percentile(ds, 50), P99: percentile(ds, 99), Server: server, Counts: counts}
	if server {
		slices.Sort(whole)
		st.WithGraphP50, st.WithGraphP99 = percentile(whole, 50), percentile(whole, 99)
	}
	if counts {
		st.GraphCalls, st.Writes = float64(calls)/float64(len(pages)), float64(writes)/float64(len(pages))
	}
	return st
}

// percentile is the nearest-rank percentile of sorted ds.
func percentile(sorted []time.Duration, pct float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(pct / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// result is one build's run.
type result struct {
	Label                                string
	Echo, Dashboard, CSS, CSSCookie, Hlz wrkResult
	// Ratios are the dashboard's requests/s over echo's, pair by pair
	// (the runs took turns); the goal is judged on their median.
	Ratios                          []float64
	DashboardPlain                  wrkResult           // without a browser's headers
	EchoPage                        wrkResult           // echo sending the dashboard's recorded answer
	EchoAsked                       wrkResult           // echo's "hello" asked with the dashboard's request headers
	Listed                          int                 // requests on the agent's dashboard
	Steps                           map[string]stepStat // paced flows, per step
	Paced                           int                 // paced flows run
	PacedWall, PacedCPU             time.Duration       // their wall time and the server's processor time
	MinThink, MaxThink              time.Duration
	Memory                          memoryProbe // the machine, right after the paced flows
	EchoPaced, EchoPacedClient      stepStat    // echo's "hello" paced as the flows' steps: its Server-Timing, and as the client saw it
	Flows, FlowsFailed              int         // Flows: closed-loop (saturation) flows; FlowsFailed: of both runs
	Concurrent                      int
	FlowWall, SatCPU                time.Duration // the saturation run's wall and server processor time
	SatAll, SatWorst                stepStat      // every response of the saturation run; its worst step
	SatWorstStep                    string
	Failures                        []string
	RSSIdle, RSSLoad, HWM, RSSAfter int64
	RSSIdleAnon, RSSIdleFile        int64
	WALMax, WALAfter                int64
	Idle                            time.Duration
	Err                             string // the run stopped early
}

type machine struct {
	Date, CPU, Kernel, Go, Load string
	Cores                       int
	MemGB                       float64
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

// msFine is ms with two decimals, for the probe's warm reads (a tenth of
// a millisecond).
func msFine(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

// size is a byte count in kB (1,000 bytes), as wrk's averages are read.
func size(b float64) string {
	if b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f kB", b/1000)
}

func rps(w wrkResult) string {
	if w.RPS == 0 {
		return "—"
	}
	s := fmt.Sprintf("%s/s", thousands(w.RPS))
	if w.Non2xx > 0 {
		s += fmt.Sprintf(" (%d non-2xx)", w.Non2xx)
	}
	if e := socketErrors(w.Errors); e != "" {
		s += " (" + e + ")"
	}
	return s
}

// socketErrors shortens wrk's "Socket errors: connect 0, read 0, write 0,
// timeout 48" to the kinds that happened: "timeout 48".
func socketErrors(line string) string {
	_, rest, ok := strings.Cut(line, ":")
	if !ok {
		return ""
	}
	var seen []string
	for _, part := range strings.Split(rest, ",") {
		f := strings.Fields(part)
		if len(f) == 2 && f[1] != "0" {
			seen = append(seen, f[0]+" "+f[1])
		}
	}
	if len(seen) == 0 {
		return ""
	}
	return "socket errors: " + strings.Join(seen, ", ")
}

func thousands(f float64) string {
	s := strconv.FormatInt(int64(math.Round(f)), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func mark(ok bool) string {
	if ok {
		return " ✔"
	}
	return " ✗"
}

// table renders the results side by side in markdown, one column each.
func table(rs []result) string {
	var b strings.Builder
	b.WriteString("| figure | goal |")
	for _, r := range rs {
		b.WriteString(" " + r.Label + " |")
	}
	b.WriteString("\n|---|---|")
	for range rs {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	row := func(name, goal string, cell func(r result) string) {
		b.WriteString("| " + name + " | " + goal + " |")
		for _, r := range rs {
			b.WriteString(" " + cell(r) + " |")
		}
		b.WriteString("\n")
	}
	row("bare echo \"hello\" (`wrk -t2 -c50`; the mean of its runs)", "—", func(r result) string { return rps(r.Echo) })
	row("agent dashboard: session cookie, a browser's headers", "", func(r result) string {
		if r.Dashboard.RPS == 0 {
			return "—"
		}
		return fmt.Sprintf("%s, %d listed, %s an answer", rps(r.Dashboard), r.Listed, size(r.Dashboard.perRequest()))
	})
	row("dashboard ÷ echo", "≥ 0.5", func(r result) string {
		if r.Echo.RPS == 0 || r.Dashboard.RPS == 0 {
			return "—"
		}
		// Cut, not rounded, to the digits shown: 0.4997 reads 0.499 ✗,
		// never 0.500 ✗.
		cut := func(x float64) string { return fmt.Sprintf("%.3f", math.Floor(x*1000)/1000) }
		if len(r.Ratios) < 2 {
			ratio := r.Dashboard.RPS / r.Echo.RPS
			return fmt.Sprintf("**%s**%s", cut(ratio), mark(ratio >= 0.5))
		}
		ratio := median(r.Ratios)
		pairs := make([]string, len(r.Ratios))
		for i, x := range r.Ratios {
			pairs[i] = cut(x)
		}
		return fmt.Sprintf("**%s**%s (median of %d runs in turn: %s)", cut(ratio), mark(ratio >= 0.5), len(r.Ratios), strings.Join(pairs, ", "))
	})
	row("echo \"hello\" asked with the dashboard's request headers (its cookie, a browser's); dashboard ÷ that", "", func(r result) string {
		if r.EchoAsked.RPS == 0 || r.Dashboard.RPS == 0 {
			return "—"
		}
		return fmt.Sprintf("%s, %.1f µs a request; %.3f", rps(r.EchoAsked), r.EchoAsked.cpuPerRequest(), r.Dashboard.RPS/r.EchoAsked.RPS)
	})
	row("echo sending the dashboard's answer (same header and body); dashboard ÷ that", "", func(r result) string {
		if r.EchoPage.RPS == 0 || r.Dashboard.RPS == 0 {
			return "—"
		}
		return fmt.Sprintf("%s; %.3f", rps(r.EchoPage), r.Dashboard.RPS/r.EchoPage.RPS)
	})
	row("server processor time a request, µs: echo \"hello\"; dashboard; echo sending its answer", "", func(r result) string {
		if r.Echo.cpuPerRequest() == 0 || r.Dashboard.cpuPerRequest() == 0 {
			return "—"
		}
		s := fmt.Sprintf("%.1f; %.1f", r.Echo.cpuPerRequest(), r.Dashboard.cpuPerRequest())
		if r.EchoPage.cpuPerRequest() > 0 {
			s += fmt.Sprintf("; %.1f", r.EchoPage.cpuPerRequest())
		}
		return s
	})
	row("agent dashboard: session cookie only (plain wrk); ÷ echo", "", func(r result) string {
		if r.DashboardPlain.RPS == 0 || r.Echo.RPS == 0 {
			return "—"
		}
		return fmt.Sprintf("%s, %s an answer; %.3f", rps(r.DashboardPlain), size(r.DashboardPlain.perRequest()), r.DashboardPlain.RPS/r.Echo.RPS)
	})
	row("static CSS, no cookie", "", func(r result) string { return rps(r.CSS) })
	row("static CSS, session cookie", "", func(r result) string { return rps(r.CSSCookie) })
	row("`/healthz`", "", func(r result) string { return rps(r.Hlz) })
	row("paced flows (file → approve → issue and reveal), each step after a think time", "", func(r result) string {
		if r.Paced == 0 {
			return "—"
		}
		s := fmt.Sprintf("%d, %d in progress at once, think %s–%s, in %.1f s", r.Paced, r.Concurrent, r.MinThink, r.MaxThink, r.PacedWall.Seconds())
		if r.FlowsFailed > 0 {
			s += fmt.Sprintf(", **%d failed** (both runs)", r.FlowsFailed)
		}
		return s
	})
	for _, step := range flowSteps {
		goal := "p99 ≤ 20 ms"
		row("paced: "+step+" p50 / p99 ms", goal, func(r result) string {
			st, ok := r.Steps[step]
			if !ok || st.N == 0 {
				return "—"
			}
			src := "client, Graph included"
			if st.Server {
				src = "server − Graph"
			}
			if st.Counts {
				// Means per response: a step's writes vary with what it
				// meets (a session's activity, a refusal's tally).
				src += fmt.Sprintf("; %.1f Graph calls, %.1f write turns", st.GraphCalls, st.Writes)
			}
			if st.Server {
				src += fmt.Sprintf("; with Graph %s / %s", ms(st.WithGraphP50), ms(st.WithGraphP99))
			}
			return fmt.Sprintf("%s / **%s** (%s, n=%d)%s", ms(st.P50), ms(st.P99), src, st.N, mark(st.P99 <= 20*time.Millisecond))
		})
	}
	row("bare echo \"hello\" paced the same way (each request after a think time, as many at once) p50 / p99 ms", "", func(r result) string {
		st, cl := r.EchoPaced, r.EchoPacedClient
		if st.N == 0 {
			return "—"
		}
		src := "its own time, over the window tapdesk's covers"
		if !st.Server {
			src = "as the client saw it: the answers had no Server-Timing"
		}
		return fmt.Sprintf("%s / **%s** (%s; as the client saw it %s / %s, n=%d)", msFine(st.P50), ms(st.P99), src, ms(cl.P50), ms(cl.P99), st.N)
	})
	row("paced: server processor time per flow", "", func(r result) string {
		if r.Paced == 0 {
			return "—"
		}
		return fmt.Sprintf("%.1f ms", float64(r.PacedCPU)/float64(time.Millisecond)/float64(r.Paced))
	})
	row("machine: 4 MiB read again at random after a second untouched (back to back), right after the paced flows", "", func(r result) string {
		p := r.Memory
		if p.Cold == 0 {
			return "—"
		}
		return fmt.Sprintf("%s ms (%s ms): %.1f µs more a 4 KiB page", msFine(p.Cold), msFine(p.Warm), float64(p.perPage())/float64(time.Microsecond))
	})
	row("saturation (closed loop, no think time): flows/s; p50 / p99 of every step ms; worst step's p99", "", func(r result) string {
		if r.Flows == 0 || r.FlowWall == 0 {
			return "—"
		}
		src := "client, Graph included"
		if r.SatAll.Server {
			src = "server − Graph"
		}
		return fmt.Sprintf("%d flows at %d concurrent: **%.1f flows/s**; %s / %s (%s); %s %s",
			r.Flows, r.Concurrent, float64(r.Flows)/r.FlowWall.Seconds(), ms(r.SatAll.P50), ms(r.SatAll.P99), src, r.SatWorstStep, ms(r.SatWorst.P99))
	})
	row("saturation: server processor time per flow", "", func(r result) string {
		if r.Flows == 0 {
			return "—"
		}
		return fmt.Sprintf("%.1f ms", float64(r.SatCPU)/float64(time.Millisecond)/float64(r.Flows))
	})
	row("RSS idle after start (VmRSS)", "≤ 48 MB", func(r result) string {
		if r.RSSIdle == 0 {
			return "—"
		}
		return "**" + mb(r.RSSIdle) + "**" + mark(r.RSSIdle <= 48<<20) + fmt.Sprintf(" (anonymous %s, file-backed %s)", mb(r.RSSIdleAnon), mb(r.RSSIdleFile))
	})
	row("RSS under load: max VmRSS sampled / VmHWM", "≤ 120 MB", func(r result) string {
		if r.HWM == 0 {
			return "—"
		}
		return mb(r.RSSLoad) + " / **" + mb(r.HWM) + "**" + mark(max(r.HWM, r.RSSLoad) <= 120<<20)
	})
	row("RSS idle after the load", "", func(r result) string {
		if r.RSSAfter == 0 {
			return "—"
		}
		return fmt.Sprintf("%s (after %s)", mb(r.RSSAfter), r.Idle)
	})
	row("WAL max sampled under load", "≤ 64 MB", func(r result) string {
		if r.HWM == 0 {
			return "—"
		}
		return "**" + mb(r.WALMax) + "**" + mark(r.WALMax <= 64<<20)
	})
	row("WAL idle after the load", "truncated", func(r result) string {
		if r.HWM == 0 {
			return "—"
		}
		return fmt.Sprintf("%s (after %s)%s", mb(r.WALAfter), r.Idle, mark(r.WALAfter == 0))
	})
	return b.String()
}

// section is the dated block written into docs/BENCHMARKS.md.
func section(m machine, command string, rs []result, notes []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run of %s on %d cores (%s), %.0f GB, Linux %s, %s; load average at start %s.\n\n",
		m.Date, m.Cores, m.CPU, m.MemGB, m.Kernel, m.Go, m.Load)
	fmt.Fprintf(&b, "```sh\n%s\n```\n\n", command)
	b.WriteString(table(rs))
	for _, r := range rs {
		if r.Err != "" {
			fmt.Fprintf(&b, "\n%s stopped early: %s\n", r.Label, r.Err)
		}
		if len(r.Failures) > 0 {
			fmt.Fprintf(&b, "\n%s, first failures:\n", r.Label)
			for _, f := range r.Failures {
				fmt.Fprintf(&b, "- %s\n", f)
			}
		}
	}
	if len(notes) > 0 {
		b.WriteString("\n")
		for _, n := range notes {
			b.WriteString(n + "\n")
		}
	}
	return b.String()
}

const (
	markBegin = "<!-- scripts/bench: begin (generated, replaced by each run) -->"
	markEnd   = "<!-- scripts/bench: end -->"
	heading   = "## Load: pages, full flow, memory and WAL (`scripts/bench`)"
)

// updateDoc puts body between the markers of the benchmark section of doc,
// adding the section at the end the first time; the rest is kept as it is.
func updateDoc(doc, intro, body string) string {
	block := markBegin + "\n" + body + markEnd
	i, j := strings.Index(doc, markBegin), strings.Index(doc, markEnd)
	if i >= 0 && j > i {
		return doc[:i] + block + doc[j+len(markEnd):]
	}
	doc = strings.TrimRight(doc, "\n")
	return doc + "\n\n" + heading + "\n\n" + intro + "\n\n" + block + "\n"
}

func writeDoc(path, intro, body string) error {
	raw, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return os.WriteFile(path, []byte(updateDoc(string(raw), intro, body)), 0o644)
}
