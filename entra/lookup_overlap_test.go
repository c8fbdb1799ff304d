package entra_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/entra"
)

// barrier holds each Graph read a lookup makes until all of them have been
// sent, or until a time only a failing run waits out (20 s: reads sent at
// once arrive within moments, even on a machine stalled for seconds).
type barrier struct {
	next  http.RoundTripper
	reads []string // path ends, one per read that must be going at once

	mu      sync.Mutex
	on      bool
	arrived map[string]bool
	all     chan struct{}
	late    bool
}

func (b *barrier) RoundTrip(req *http.Request) (*http.Response, error) {
	b.mu.Lock()
	on := b.on
	b.mu.Unlock()
	for _, r := range b.reads {
		if !on {
			break
		}
		if !strings.HasSuffix(strings.ToLower(req.URL.Path), strings.ToLower(r)) {
			continue
		}
		b.mu.Lock()
		if !b.arrived[r] {
			b.arrived[r] = true
			if len(b.arrived) == len(b.reads) {
				close(b.all)
			}
		}
		b.mu.Unlock()
		select {
		case <-b.all:
		case <-time.After(20 * time.Second):
			b.mu.Lock()
			b.late = true
			b.mu.Unlock()
		}
		break
	}
	return b.next.RoundTrip(req)
}

// warmClientThrough is a client reading the sample sign-in app's roles
// whose requests go through the transport wrap makes of the fake's, after
// one lookup that read and kept the sign-in app's role definitions.
func warmClientThrough(t *testing.T, e *env, wrap func(http.RoundTripper) http.RoundTripper) *entra.Client {
	t.Helper()
	c := e.newClientWith(t, func(cfg *entra.Config) {
		withSignInApp(cfg)
		client := *cfg.HTTPClient
		client.Transport = wrap(client.Transport)
		cfg.HTTPClient = &client
	})
	if _, err := c.User(ctx(t), sam); err != nil {
		t.Fatal(err)
	}
	return c
}

// A lookup reads the user, their memberships, the sign-in app's role
// assignments and the TAP policy at once: the person waits for about one
// answer from Graph, not four in turn. Here each read is held until all
// four have been sent, which a lookup reading them in turn never does.
func TestUserReadsAtOnce(t *testing.T) {
	e := setup(t)
	b := &barrier{reads: []string{"/users/" + blake, "/transitiveMemberOf", "/appRoleAssignedTo", "/temporaryAccessPass"},
		arrived: map[string]bool{}, all: make(chan struct{})}
	c := warmClientThrough(t, e, func(next http.RoundTripper) http.RoundTripper { b.next = next; return b })
	b.mu.Lock()
	b.on = true
	b.mu.Unlock()
	u, err := c.User(ctx(t), blake)
	if err != nil || len(u.TapdeskRoles) != 1 || u.TapdeskRoles[0] != "Tap.Approver" || u.InTAPScope == nil {
		t.Fatalf("lookup gave %+v, %v", u, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.late {
		t.Errorf("the lookup's reads were not all going at once: one waited 20 s for the others (%v sent by then)", b.arrived)
	}
}

// hangReads holds every read but the user's until it is given up, and says
// which were given up.
type hangReads struct {
	next http.RoundTripper

	mu      sync.Mutex
	on      bool
	endedBy []error
}

func (h *hangReads) RoundTrip(req *http.Request) (*http.Response, error) {
	h.mu.Lock()
	on := h.on
	h.mu.Unlock()
	user := strings.Contains(req.URL.Path, "/users/") && !strings.HasSuffix(req.URL.Path, "/transitiveMemberOf")
	if !on || user {
		return h.next.RoundTrip(req)
	}
	<-req.Context().Done()
	h.mu.Lock()
	h.endedBy = append(h.endedBy, context.Cause(req.Context()))
	h.mu.Unlock()
	return nil, req.Context().Err()
}

// When the user cannot be read, that is the lookup's error, whatever the
// reads made beside it are doing; they are given up (as such, not as
// failures) and have ended when User returns.
func TestUserNotFoundGivesUpTheOtherReads(t *testing.T) {
	e := setup(t)
	h := &hangReads{}
	c := warmClientThrough(t, e, func(next http.RoundTripper) http.RoundTripper { h.next = next; return h })
	h.mu.Lock()
	h.on = true
	h.mu.Unlock()
	_, err := c.User(ctx(t), "11111111-1111-4111-8111-0000000000ff")
	if tapdesk.ErrorCode(err) != tapdesk.ENOTFOUND {
		t.Fatalf("lookup of nobody gave %v, want not found", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.endedBy) != 3 {
		t.Fatalf("%d reads had ended when User returned, want the 3 made beside the user's", len(h.endedBy))
	}
	for _, cause := range h.endedBy {
		if !errors.Is(cause, tapdesk.ErrReadAbandoned) {
			t.Errorf("a read ended with %v, want it given up", cause)
		}
	}
	if logs := e.logs.String(); strings.Contains(logs, "graph call failed") {
		t.Errorf("reads given up were logged as failures:\n%s", logs)
	}
}
