package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// Steps of the full flow, in the order of the table. "request page" is
// every load of a request's page between the actions (after filing, before
// approving, after approving, before revealing).
const (
	stepSearch  = "search page"
	stepCard    = "user card"
	stepForm    = "request form"
	stepFile    = "file (POST)"
	stepPage    = "request page"
	stepApprove = "approve (POST)"
	stepReveal  = "issue and reveal (POST)"
)

var flowSteps = []string{stepSearch, stepCard, stepForm, stepFile, stepPage, stepApprove, stepReveal}

// recorder collects each step's pages from concurrent flows.
type recorder struct {
	mu    sync.Mutex
	pages map[string][]page
	fails map[string]int
	first []string // the first few failures, to print
}

func newRecorder() *recorder {
	return &recorder{pages: map[string][]page{}, fails: map[string]int{}}
}

func (r *recorder) add(step string, p page) {
	r.mu.Lock()
	r.pages[step] = append(r.pages[step], p)
	r.mu.Unlock()
}

func (r *recorder) fail(step string, err error) {
	r.mu.Lock()
	r.fails[step]++
	if len(r.first) < 5 {
		r.first = append(r.first, step+": "+err.Error())
	}
	r.mu.Unlock()
}

// pace is a person's think time before each step: a pause drawn
// uniformly from [min, max] by a seeded generator of their own, so a run
// is repeatable. The zero pace does not pause (the closed loop).
type pace struct {
	rng      *rand.Rand
	min, max time.Duration
}

// next draws the next think time.
func (p *pace) next() time.Duration {
	return p.min + time.Duration(p.rng.Int64N(int64(p.max-p.min)+1))
}

func (p *pace) think(ctx context.Context) {
	if p == nil || p.max <= 0 {
		return
	}
	d := p.next()
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// flowRun is one actor's context in a run: where the steps are recorded
// (nil: untimed seeding) and how long they think before each.
type flowRun struct {
	rec  *recorder
	pace *pace
}

// timed runs one request of a step, after the actor's think time, records
// it, and checks its status.
func timed(ctx context.Context, fr *flowRun, b *browser, step, method, path string, form url.Values, want int) (page, error) {
	var rec *recorder
	if fr != nil {
		rec = fr.rec
		fr.pace.think(ctx)
	}
	p, err := b.do(ctx, method, path, form)
	if err == nil && p.status != want {
		err = fmt.Errorf("%s %s: status %d, want %d: %s", method, path, p.status, want, snippet(p.body))
	}
	if err != nil {
		if rec != nil {
			rec.fail(step, err)
		}
		return p, err
	}
	if rec != nil {
		rec.add(step, p)
	}
	return p, nil
}

// fileRequest walks search → card → form → file as an agent does and
// returns the request page's URL. rec may be nil (seeding, untimed).
func fileRequest(ctx context.Context, fr *flowRun, agent *browser, u benchUser) (string, error) {
	var rec *recorder
	if fr != nil {
		rec = fr.rec
	}
	p, err := timed(ctx, fr, agent, stepSearch, http.MethodGet, "/users?q="+url.QueryEscape(u.Local), nil, http.StatusOK)
	if err != nil {
		return "", err
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(p.body))
	if err != nil {
		return "", err
	}
	card := ""
	doc.Find(`[data-testid="results"] li`).Each(func(_ int, s *goquery.Selection) {
		if strings.Contains(s.Text(), u.UPN) {
			card, _ = s.Find("a").Attr("href")
		}
	})
	if card == "" {
		err := fmt.Errorf("search for %s did not list them: %s", u.Local, snippet(p.body))
		if rec != nil {
			rec.fail(stepSearch, err)
		}
		return "", err
	}
	if p, err = timed(ctx, fr, agent, stepCard, http.MethodGet, card, nil, http.StatusOK); err != nil {
		return "", err
	}
	doc, err = goquery.NewDocumentFromReader(strings.NewReader(p.body))
	if err != nil {
		return "", err
	}
	newHref, ok := doc.Find(`[data-testid="new-request"]`).Attr("href")
	if !ok {
		err := fmt.Errorf("the card of %s offers no request: %s", u.UPN, snippet(p.body))
		if rec != nil {
			rec.fail(stepCard, err)
		}
		return "", err
	}
	if p, err = timed(ctx, fr, agent, stepForm, http.MethodGet, newHref, nil, http.StatusOK); err != nil {
		return "", err
	}
	action, vals, err := formValues(p.body, `form[action="/requests"]`)
	if err != nil {
		return "", err
	}
	vals.Set("ticket_ref", "INC-"+u.Local)
	vals.Set("justification", "Benchmark: locked out after a phone change")
	vals.Set("verification", "callback")
	vals.Set("verification_note", "Called back on the number in the HR record")
	vals.Set("lifetime", "60")
	vals.Set("usable_once", "on")
	if p, err = timed(ctx, fr, agent, stepFile, http.MethodPost, action, vals, http.StatusSeeOther); err != nil {
		return "", err
	}
	if !strings.Contains(p.location, "/requests/") {
		return "", fmt.Errorf("filing for %s went to %q", u.UPN, p.location)
	}
	if _, err = timed(ctx, fr, agent, stepPage, http.MethodGet, p.location, nil, http.StatusOK); err != nil {
		return "", err
	}
	return p.location, nil
}

// fullFlow files a request for u as agent, approves it as approver, and
// issues and reveals the pass as agent, timing every response.
func fullFlow(ctx context.Context, fr *flowRun, agent, approver *browser, u benchUser) error {
	rec := fr.rec
	reqURL, err := fileRequest(ctx, fr, agent, u)
	if err != nil {
		return err
	}
	p, err := timed(ctx, fr, approver, stepPage, http.MethodGet, reqURL, nil, http.StatusOK)
	if err != nil {
		return err
	}
	action, vals, err := formValues(p.body, `form[action$="/approve"]`)
	if err != nil {
		rec.fail(stepApprove, err)
		return err
	}
	if p, err = timed(ctx, fr, approver, stepApprove, http.MethodPost, action, vals, http.StatusSeeOther); err != nil {
		return err
	}
	if _, err = timed(ctx, fr, approver, stepPage, http.MethodGet, p.location, nil, http.StatusOK); err != nil {
		return err
	}
	if p, err = timed(ctx, fr, agent, stepPage, http.MethodGet, reqURL, nil, http.StatusOK); err != nil {
		return err
	}
	action, vals, err = formValues(p.body, `form[action$="/reveal"]`)
	if err != nil {
		rec.fail(stepReveal, err)
		return err
	}
	if p, err = timed(ctx, fr, agent, stepReveal, http.MethodPost, action, vals, http.StatusOK); err != nil {
		return err
	}
	if !strings.Contains(p.body, `data-testid="pass"`) {
		err := fmt.Errorf("reveal for %s shows no pass: %s", u.UPN, snippet(p.body))
		rec.fail(stepReveal, err)
		return err
	}
	return nil
}

// runFlows runs len(users) full flows, `concurrent` at a time. Requests
// alternate between the agents (a request is revealed by whoever filed
// it) and between the approvers. With think > 0 each of the concurrent
// actors pauses a seeded-random time in [minThink, maxThink] before every
// step, the first one included (so they do not start in step); with
// think zero they run closed-loop, each step as soon as the last answered.
func runFlows(ctx context.Context, concurrent int, agents, approvers []*browser, users []benchUser, minThink, maxThink time.Duration, seed uint64) *recorder {
	rec := newRecorder()
	work := make(chan int)
	var wg sync.WaitGroup
	for w := range concurrent {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fr := &flowRun{rec: rec}
			if maxThink > 0 {
				fr.pace = &pace{rng: rand.New(rand.NewPCG(seed, uint64(w))), min: minThink, max: maxThink}
			}
			for i := range work {
				_ = fullFlow(ctx, fr, agents[i%len(agents)], approvers[i%len(approvers)], users[i])
			}
		}()
	}
	for i := range users {
		work <- i
	}
	close(work)
	wg.Wait()
	return rec
}

// pacedEcho asks the echo reference's /timed n times from concurrent
// actors, each request after a think time drawn as the paced flows' are:
// the bare reference for the paced steps. server is its Server-Timing
// (the window tapdesk's app time covers), client what the actor saw.
func pacedEcho(ctx context.Context, base string, concurrent, n int, minThink, maxThink time.Duration, seed uint64) (server, client stepStat, err error) {
	transport := &http.Transport{MaxIdleConns: concurrent, MaxIdleConnsPerHost: concurrent, IdleConnTimeout: time.Minute}
	defer transport.CloseIdleConnections()
	var (
		mu    sync.Mutex
		pages []page
		first error
	)
	work := make(chan struct{})
	var wg sync.WaitGroup
	for w := range concurrent {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := newBrowser(base, transport)
			p := &pace{rng: rand.New(rand.NewPCG(seed, uint64(w))), min: minThink, max: maxThink}
			for range work {
				p.think(ctx)
				pg, err := b.get(ctx, "/timed")
				mu.Lock()
				if err == nil && pg.status != http.StatusOK {
					err = fmt.Errorf("GET /timed: %d", pg.status)
				}
				if err != nil && first == nil {
					first = err
				}
				if err == nil {
					pages = append(pages, pg)
				}
				mu.Unlock()
			}
		}()
	}
	for range n {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	if first != nil {
		return stepStat{}, stepStat{}, first
	}
	server = summarise(pages)
	for i := range pages {
		pages[i].timing = serverTiming{}
	}
	return server, summarise(pages), nil
}
