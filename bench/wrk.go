package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"time"
)

// wrkResult is what one wrk run measured.
type wrkResult struct {
	RPS      float64 // requests per second
	Requests int64
	Non2xx   int64 // "Non-2xx or 3xx responses"
	Errors   string
}

var (
	wrkRPS      = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	wrkRequests = regexp.MustCompile(`(?m)^\s*([0-9]+) requests in`)
	wrkNon2xx   = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses:\s+([0-9]+)`)
	wrkErrors   = regexp.MustCompile(`(?m)^\s*Socket errors:.*$`)
)

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
	r.Errors = wrkErrors.FindString(out)
	return r, nil
}

// runWrk runs `wrk -t2 -c50` against url for d, with a Cookie header when
// cookie is set.
func runWrk(ctx context.Context, wrk, url, cookie string, d time.Duration) (wrkResult, error) {
	args := []string{"-t2", "-c50", "-d" + strconv.Itoa(int(d.Seconds())) + "s"}
	if cookie != "" {
		args = append(args, "-H", "Cookie: "+cookie)
	}
	args = append(args, url)
	out, err := exec.CommandContext(ctx, wrk, args...).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %v: %w\n%s", args, err, out)
	}
	return parseWrk(string(out))
}
