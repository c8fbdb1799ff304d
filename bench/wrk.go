package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what one wrk run measured.
type wrkResult struct {
	RPS      float64 // requests per second
	Bytes    float64 // bytes read per second (header and body)
	Requests int64
	Non2xx   int64 // "Non-2xx or 3xx responses"
	Errors   string
	// CPU is the server's processor time (user and system) during the
	// run: unlike requests/s, it does not depend on how much of the two
	// cores wrk took, nor on what else the machine was doing.
	CPU time.Duration
}

var (
	wrkRPS      = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	wrkRequests = regexp.MustCompile(`(?m)^\s*([0-9]+) requests in`)
	wrkNon2xx   = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses:\s+([0-9]+)`)
	wrkErrors   = regexp.MustCompile(`(?m)^\s*Socket errors:.*$`)
	wrkBytes    = regexp.MustCompile(`(?m)^Transfer/sec:\s+([0-9.]+)([KMG]?B)`)
)

// wrkUnits are the units wrk prints sizes in (powers of 1024).
var wrkUnits = map[string]float64{"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}

// parseWrk reads wrk's text output.
func parseWrk(out string) (wrkResult, error) {
	m := wrkRPS.FindStringSubmatch(out)
	if m == nil {
		return wrkResult{}, fmt.Errorf("wrk printed no Requests/sec:\n%s", out)
	}
	var r wrkResult
	r.RPS, _ = strconv.ParseFloat(m[1], 64)
	if m := wrkRequests.FindStringSubmatch(out); m != nil {
		r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		r.Non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := wrkBytes.FindStringSubmatch(out); m != nil {
		n, _ := strconv.ParseFloat(m[1], 64)
		r.Bytes = n * wrkUnits[m[2]]
	}
	r.Errors = wrkErrors.FindString(out)
	return r, nil
}

// mergeRuns is runs of equal length taken as one: requests, processor
// time and refusals add up, requests/s and bytes/s are the runs' mean.
func mergeRuns(runs []wrkResult) wrkResult {
	var m wrkResult
	var errs []string
	for _, r := range runs {
		m.RPS += r.RPS / float64(len(runs))
		m.Bytes += r.Bytes / float64(len(runs))
		m.Requests += r.Requests
		m.Non2xx += r.Non2xx
		m.CPU += r.CPU
		if r.Errors != "" {
			errs = append(errs, strings.TrimSpace(r.Errors))
		}
	}
	m.Errors = strings.Join(errs, "; ")
	return m
}

// pairRatios is a's requests/s over b's, run by run.
func pairRatios(a, b []wrkResult) []float64 {
	var rs []float64
	for i := range min(len(a), len(b)) {
		if b[i].RPS > 0 {
			rs = append(rs, a[i].RPS/b[i].RPS)
		}
	}
	return rs
}

// median of rs (the mean of the middle two for an even count); 0 for none.
func median(rs []float64) float64 {
	if len(rs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(rs))
	n := len(s)
	if n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[n/2]
}

// perRequest is the bytes of one answer, header and body, on average.
func (r wrkResult) perRequest() float64 {
	if r.RPS == 0 {
		return 0
	}
	return r.Bytes / r.RPS
}

// cpuPerRequest is the server's processor time per request, in µs.
func (r wrkResult) cpuPerRequest() float64 {
	if r.Requests == 0 || r.CPU == 0 {
		return 0
	}
	return float64(r.CPU) / float64(time.Microsecond) / float64(r.Requests)
}

// runWrk runs `wrk -t2 -c50` against url for d, with these headers
// ("Name: value"), and reads the processor time the server pid used
// meanwhile.
func runWrk(ctx context.Context, pid int, wrk, url string, headers []string, d time.Duration) (wrkResult, error) {
	args := []string{"-t2", "-c50", "-d" + strconv.Itoa(int(d.Seconds())) + "s"}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	args = append(args, url)
	cpu0, err := cpuTime(pid)
	if err != nil {
		return wrkResult{}, err
	}
	out, err := exec.CommandContext(ctx, wrk, args...).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %v: %w\n%s", args, err, out)
	}
	cpu1, err := cpuTime(pid)
	if err != nil {
		return wrkResult{}, err
	}
	r, err := parseWrk(string(out))
	r.CPU = cpu1 - cpu0
	return r, err
}
